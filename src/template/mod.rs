//! The template catalog (every version of every template, embedded, plus an optional folder), manifests and rendering: no I/O but reading a catalog folder.

mod manifest;
mod render;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

pub use manifest::{
    FileRule, Manifest, Migration, Question, QuestionKind, TemplateInfo, Variable, Wiring,
};
pub use render::{
    RenderError, RenderInput, RuntimeSource, evaluate_condition, render, render_paths,
};

/// `templates/<id>/<version>/{template.toml, files/}`: every released version stays embedded,
/// so a project generated years ago can still be re-rendered offline as an upgrade's merge base.
static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// One version of a template: its manifest and its files.
#[derive(Debug, Clone)]
pub struct Template {
    /// The parsed `template.toml`.
    pub manifest: Manifest,
    /// Every file under `files/`, sorted by path.
    files: Vec<TemplateFile>,
}

/// A file of a template, with its path relative to `files/` (`/`-separated).
#[derive(Debug, Clone)]
pub(crate) struct TemplateFile {
    pub(crate) path: String,
    pub(crate) contents: Cow<'static, [u8]>,
}

/// A template could not be found or its manifest is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// No template has this id.
    #[error("unknown template {id:?} (available: {available})")]
    Unknown {
        /// The id asked for.
        id: String,
        /// The ids there are.
        available: String,
    },
    /// The template exists, this version of it does not.
    #[error("template {id} has no version {version} (known: {known})")]
    UnknownVersion {
        /// The template id.
        id: String,
        /// The version asked for.
        version: String,
        /// The versions there are.
        known: String,
    },
    /// A manifest does not parse or does not match its folder.
    #[error("{folder}/template.toml: {message}")]
    Manifest {
        /// The version folder (`<id>/<version>`).
        folder: String,
        /// The parse error.
        message: String,
    },
    /// A catalog folder could not be read.
    #[error("catalog {path}: {message}")]
    Folder {
        /// The path.
        path: PathBuf,
        /// The error.
        message: String,
    },
}

impl Template {
    /// Every file of the template, with paths relative to `files/`, sorted.
    pub(crate) fn files(&self) -> &[TemplateFile] {
        &self.files
    }

    /// The template's id.
    pub fn id(&self) -> &str {
        &self.manifest.template.id
    }

    /// The template's version.
    pub fn version(&self) -> &semver::Version {
        &self.manifest.template.version
    }

    fn new(
        folder: &str,
        manifest_text: Option<&str>,
        mut files: Vec<TemplateFile>,
    ) -> Result<Self, CatalogError> {
        let broken = |message: String| CatalogError::Manifest {
            folder: folder.to_owned(),
            message,
        };
        let text = manifest_text.ok_or_else(|| broken("missing or not UTF-8".into()))?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| broken(e.to_string()))?;
        let expected = format!("{}/{}", manifest.template.id, manifest.template.version);
        if folder != expected {
            return Err(broken(format!(
                "id and version say {expected}, the folder is {folder}"
            )));
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { manifest, files })
    }
}

/// Every version of every template, embedded or read from a catalog folder.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Versions of each template, oldest first.
    templates: BTreeMap<String, Vec<Template>>,
}

impl Catalog {
    /// The templates built into this binary.
    pub fn embedded() -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        for id_dir in TEMPLATES.dirs() {
            for version_dir in id_dir.dirs() {
                let folder = version_dir.path().to_string_lossy().replace('\\', "/");
                let manifest = version_dir
                    .get_file(version_dir.path().join("template.toml"))
                    .and_then(|f| f.contents_utf8());
                let files_dir = version_dir
                    .get_dir(version_dir.path().join("files"))
                    .ok_or_else(|| CatalogError::Manifest {
                        folder: folder.clone(),
                        message: "missing files/ folder".into(),
                    })?;
                let mut files = Vec::new();
                collect_embedded(files_dir, files_dir.path(), &mut files);
                catalog.insert(Template::new(&folder, manifest, files)?);
            }
        }
        catalog.sort();
        Ok(catalog)
    }

    /// The embedded templates, with the templates of `folder` (same layout: `<id>/<version>/`) in
    /// place of embedded ones of the same id. For template authors and tests.
    pub fn with_folder(folder: Option<&Path>) -> Result<Self, CatalogError> {
        let mut catalog = Self::embedded()?;
        let Some(root) = folder else {
            return Ok(catalog);
        };
        let read_error = |path: &Path, e: std::io::Error| CatalogError::Folder {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let mut local = Self::default();
        for id_dir in sorted_dirs(root).map_err(|e| read_error(root, e))? {
            for version_dir in sorted_dirs(&id_dir).map_err(|e| read_error(&id_dir, e))? {
                let folder = format!("{}/{}", file_name(&id_dir), file_name(&version_dir));
                let manifest = std::fs::read_to_string(version_dir.join("template.toml")).ok();
                let mut files = Vec::new();
                let files_dir = version_dir.join("files");
                collect_disk(&files_dir, &files_dir, &mut files)
                    .map_err(|e| read_error(&files_dir, e))?;
                local.insert(Template::new(&folder, manifest.as_deref(), files)?);
            }
        }
        catalog.templates.extend(local.templates);
        catalog.sort();
        Ok(catalog)
    }

    fn insert(&mut self, template: Template) {
        self.templates
            .entry(template.id().to_owned())
            .or_default()
            .push(template);
    }

    fn sort(&mut self) {
        for versions in self.templates.values_mut() {
            versions.sort_by(|a, b| a.version().cmp(b.version()));
        }
    }

    /// The newest version of every template, sorted by id.
    pub fn newest_all(&self) -> Vec<&Template> {
        self.templates.values().filter_map(|v| v.last()).collect()
    }

    /// Every version of template `id`, oldest first.
    pub fn versions(&self, id: &str) -> Result<&[Template], CatalogError> {
        self.templates
            .get(id)
            .map(Vec::as_slice)
            .ok_or_else(|| CatalogError::Unknown {
                id: id.to_owned(),
                available: self
                    .templates
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The newest version of template `id`.
    pub fn newest(&self, id: &str) -> Result<&Template, CatalogError> {
        Ok(self
            .versions(id)?
            .last()
            .expect("a template id has at least one version"))
    }

    /// Version `version` of template `id`.
    pub fn version(&self, id: &str, version: &semver::Version) -> Result<&Template, CatalogError> {
        let versions = self.versions(id)?;
        versions
            .iter()
            .find(|t| t.version() == version)
            .ok_or_else(|| CatalogError::UnknownVersion {
                id: id.to_owned(),
                version: version.to_string(),
                known: versions
                    .iter()
                    .map(|t| t.version().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

fn collect_embedded(dir: &'static Dir<'static>, root: &Path, out: &mut Vec<TemplateFile>) {
    for file in dir.files() {
        let path = file
            .path()
            .strip_prefix(root)
            .expect("template files live under files/");
        out.push(TemplateFile {
            path: path.to_string_lossy().replace('\\', "/"),
            contents: Cow::Borrowed(file.contents()),
        });
    }
    for sub in dir.dirs() {
        collect_embedded(sub, root, out);
    }
}

fn collect_disk(dir: &Path, root: &Path, out: &mut Vec<TemplateFile>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_disk(&path, root, out)?;
        } else {
            let relative = path.strip_prefix(root).expect("walked from root");
            out.push(TemplateFile {
                path: relative.to_string_lossy().replace('\\', "/"),
                contents: Cow::Owned(std::fs::read(&path)?),
            });
        }
    }
    Ok(())
}

fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

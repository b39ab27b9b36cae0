//! The catalog: every version of every template, read from the embedded `templates/` folder or a catalog folder, in either layout.
//!
//! The layout of this repository is one editable tree per template (`<id>/template.toml`,
//! `<id>/files/`: the newest version, released or not) and its frozen releases
//! (`<id>/releases/<version>.toml`, whose files live once each in `objects/<sha256>`). A folder
//! catalog may also use the older layout of one folder per version (`<id>/<version>/template.toml`,
//! `<id>/<version>/files/`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, include_dir};

use super::release::{self, OBJECTS, RELEASES, ReleaseManifest};
use super::{CatalogError, Template, TemplateFile};

/// Embedded once: the editable trees, the release manifests and the objects they name, so a
/// project generated years ago can still be re-rendered offline as an upgrade's merge base.
static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Every file of a catalog, by its `/`-separated path under the catalog's root.
type Tree = BTreeMap<String, Cow<'static, [u8]>>;

/// Every version of every template, embedded or read from a catalog folder.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Versions of each template, oldest first: the releases, and the editable tree when its
    /// version is not released yet.
    templates: BTreeMap<String, Vec<Template>>,
    /// The editable tree of each template that has one, whatever its version.
    working: BTreeMap<String, Template>,
}

impl Catalog {
    /// The templates built into this binary.
    pub fn embedded() -> Result<Self, CatalogError> {
        let mut tree = Tree::new();
        collect_embedded(&TEMPLATES, &mut tree);
        Self::from_tree(&tree)
    }

    /// The embedded templates, with the templates of `folder` in place of embedded ones of the
    /// same id. For template authors and tests.
    pub fn with_folder(folder: Option<&Path>) -> Result<Self, CatalogError> {
        let mut catalog = Self::embedded()?;
        let Some(root) = folder else {
            return Ok(catalog);
        };
        let mut tree = Tree::new();
        collect_disk(root, root, &mut tree).map_err(|(path, e)| CatalogError::Folder {
            path,
            message: e.to_string(),
        })?;
        let local = Self::from_tree(&tree)?;
        catalog.templates.extend(local.templates);
        for id in local.working.keys() {
            catalog.working.remove(id);
        }
        catalog.working.extend(local.working);
        Ok(catalog)
    }

    fn from_tree(tree: &Tree) -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        let ids: std::collections::BTreeSet<&str> = tree
            .keys()
            .filter_map(|path| path.split_once('/').map(|(id, _)| id))
            .filter(|id| *id != OBJECTS)
            .collect();
        for id in ids {
            let manifest = text(tree, &format!("{id}/template.toml"));
            if manifest.is_some() {
                catalog.load_releases(tree, id)?;
                let place = format!("{id}/template.toml");
                let working = Template::new(
                    &place,
                    manifest,
                    id,
                    None,
                    files_under(tree, &format!("{id}/files/")),
                )?;
                let released = catalog.templates.get(id).is_some_and(|versions| {
                    versions.iter().any(|t| t.version() == working.version())
                });
                if !released {
                    catalog.insert(working.clone());
                }
                catalog.working.insert(id.to_owned(), working);
            } else {
                catalog.load_version_folders(tree, id)?;
            }
        }
        for versions in catalog.templates.values_mut() {
            versions.sort_by(|a, b| a.version().cmp(b.version()));
        }
        Ok(catalog)
    }

    /// `<id>/releases/<version>.toml`, each file read from `objects/`.
    fn load_releases(&mut self, tree: &Tree, id: &str) -> Result<(), CatalogError> {
        let prefix = format!("{id}/{RELEASES}/");
        for (path, bytes) in tree.range(prefix.clone()..) {
            let Some(name) = path.strip_prefix(&prefix) else {
                break;
            };
            let Some(version) = name.strip_suffix(".toml").filter(|v| !v.contains('/')) else {
                continue;
            };
            let broken = |message: String| CatalogError::Manifest {
                folder: path.clone(),
                message,
            };
            let text = std::str::from_utf8(bytes).map_err(|_| broken("not UTF-8".into()))?;
            let frozen = ReleaseManifest::parse(text).map_err(broken)?;
            let mut files = Vec::with_capacity(frozen.files.len());
            for (file, object) in &frozen.files {
                let contents = release::is_object_id(object)
                    .then(|| tree.get(&format!("{OBJECTS}/{object}")))
                    .flatten()
                    .ok_or_else(|| broken(format!("{file}: object {object} is missing")))?;
                if release::object_id(contents) != *object {
                    return Err(broken(format!(
                        "{file}: object {object} does not match its digest"
                    )));
                }
                files.push(TemplateFile {
                    path: file.clone(),
                    contents: contents.clone(),
                });
            }
            self.insert(Template::new(
                path,
                Some(&frozen.template),
                id,
                Some(version),
                files,
            )?);
        }
        Ok(())
    }

    /// The older layout: `<id>/<version>/template.toml` and `<id>/<version>/files/`.
    fn load_version_folders(&mut self, tree: &Tree, id: &str) -> Result<(), CatalogError> {
        let prefix = format!("{id}/");
        let versions: std::collections::BTreeSet<&str> = tree
            .range(prefix.clone()..)
            .map_while(|(path, _)| path.strip_prefix(&prefix))
            .filter_map(|rest| rest.split_once('/').map(|(version, _)| version))
            .collect();
        for version in versions {
            let place = format!("{id}/{version}/template.toml");
            let files = files_under(tree, &format!("{id}/{version}/files/"));
            let template = Template::new(&place, text(tree, &place), id, Some(version), files)?;
            self.insert(template);
        }
        Ok(())
    }

    fn insert(&mut self, template: Template) {
        self.templates
            .entry(template.id().to_owned())
            .or_default()
            .push(template);
    }

    /// The editable tree of template `id` (`templates/<id>/files/`), whatever its version: the
    /// newest released version, or the next one in progress. `None` for a folder catalog in the
    /// one-folder-per-version layout.
    pub fn working_tree(&self, id: &str) -> Option<&Template> {
        self.working.get(id)
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

fn text<'a>(tree: &'a Tree, path: &str) -> Option<&'a str> {
    tree.get(path)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
}

/// The files under `prefix`, with paths relative to it.
fn files_under(tree: &Tree, prefix: &str) -> Vec<TemplateFile> {
    tree.range(prefix.to_owned()..)
        .map_while(|(path, bytes)| {
            path.strip_prefix(prefix).map(|relative| TemplateFile {
                path: relative.to_owned(),
                contents: bytes.clone(),
            })
        })
        .collect()
}

fn collect_embedded(dir: &'static Dir<'static>, out: &mut Tree) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().replace('\\', "/");
        out.insert(path, Cow::Borrowed(file.contents()));
    }
    for sub in dir.dirs() {
        collect_embedded(sub, out);
    }
}

fn fail(path: &Path) -> impl FnOnce(std::io::Error) -> (std::path::PathBuf, std::io::Error) + '_ {
    move |e| (path.to_owned(), e)
}

fn collect_disk(
    dir: &Path,
    root: &Path,
    out: &mut Tree,
) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    for entry in std::fs::read_dir(dir).map_err(fail(dir))? {
        let path = entry.map_err(fail(dir))?.path();
        if path.is_dir() {
            collect_disk(&path, root, out)?;
        } else {
            let relative = path.strip_prefix(root).expect("walked from root");
            let bytes = std::fs::read(&path).map_err(fail(&path))?;
            out.insert(
                relative.to_string_lossy().replace('\\', "/"),
                Cow::Owned(bytes),
            );
        }
    }
    Ok(())
}

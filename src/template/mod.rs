//! The embedded template catalog, manifests and rendering: pure functions, no I/O.

mod manifest;
mod render;

use include_dir::{Dir, include_dir};

pub use manifest::{FileRule, Manifest, Question, QuestionKind, TemplateInfo, Variable};
pub use render::{RenderError, RenderInput, RuntimeSource, evaluate_condition, render};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// A template: its manifest and its embedded `files/` folder.
#[derive(Debug, Clone)]
pub struct Template {
    /// The parsed `template.toml`.
    pub manifest: Manifest,
    files: &'static Dir<'static>,
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
    /// A manifest does not parse.
    #[error("templates/{id}/template.toml: {message}")]
    Manifest {
        /// The template folder.
        id: String,
        /// The parse error.
        message: String,
    },
}

impl Template {
    /// Every file of the template, with paths relative to `files/`, sorted.
    pub(crate) fn files(&self) -> Vec<&'static include_dir::File<'static>> {
        let mut out = Vec::new();
        collect(self.files, &mut out);
        out.sort_by(|a, b| a.path().cmp(b.path()));
        out
    }

    /// The prefix of embedded paths (`<id>/files`).
    pub(crate) fn root(&self) -> &'static std::path::Path {
        self.files.path()
    }
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<&'static include_dir::File<'static>>) {
    out.extend(dir.files());
    for sub in dir.dirs() {
        collect(sub, out);
    }
}

/// Every embedded template, sorted by id.
pub fn catalog() -> Result<Vec<Template>, CatalogError> {
    let mut templates: Vec<Template> = TEMPLATES
        .dirs()
        .map(|dir| {
            let id = dir.path().display().to_string();
            let text = dir
                .get_file(dir.path().join("template.toml"))
                .and_then(|f| f.contents_utf8())
                .ok_or_else(|| CatalogError::Manifest {
                    id: id.clone(),
                    message: "missing or not UTF-8".into(),
                })?;
            let manifest: Manifest = toml::from_str(text).map_err(|e| CatalogError::Manifest {
                id: id.clone(),
                message: e.to_string(),
            })?;
            if manifest.template.id != id {
                return Err(CatalogError::Manifest {
                    id: id.clone(),
                    message: format!("id {:?} differs from the folder name", manifest.template.id),
                });
            }
            let files =
                dir.get_dir(dir.path().join("files"))
                    .ok_or_else(|| CatalogError::Manifest {
                        id: id.clone(),
                        message: "missing files/ folder".into(),
                    })?;
            Ok(Template { manifest, files })
        })
        .collect::<Result<_, _>>()?;
    templates.sort_by(|a, b| a.manifest.template.id.cmp(&b.manifest.template.id));
    Ok(templates)
}

/// The template with `id`.
pub fn find(id: &str) -> Result<Template, CatalogError> {
    let all = catalog()?;
    let available = all
        .iter()
        .map(|t| t.manifest.template.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.into_iter()
        .find(|t| t.manifest.template.id == id)
        .ok_or(CatalogError::Unknown {
            id: id.to_owned(),
            available,
        })
}

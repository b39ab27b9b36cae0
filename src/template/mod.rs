//! Templates: one version's manifest and files, and the catalog of every version (`catalog.rs`), frozen releases (`release.rs`), manifests and rendering; no I/O but reading a catalog folder.

mod catalog;
mod manifest;
pub mod release;
mod render;

use std::borrow::Cow;
use std::path::PathBuf;

pub use catalog::Catalog;
pub use manifest::{
    FileRule, Manifest, Migration, Question, QuestionKind, TemplateInfo, Variable, Wiring,
};
pub use render::{
    RenderError, RenderInput, RuntimeSource, evaluate_condition, render, render_paths,
};

/// One version of a template: its manifest and its files.
#[derive(Debug, Clone)]
pub struct Template {
    /// The parsed `template.toml`.
    pub manifest: Manifest,
    /// The `template.toml` text, byte for byte (what a release freezes).
    manifest_text: String,
    /// Every file under `files/`, sorted by path.
    files: Vec<TemplateFile>,
}

/// A file of a template, with its path relative to `files/` (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    /// The path under `files/`.
    pub path: String,
    /// The raw bytes.
    pub contents: Cow<'static, [u8]>,
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
    /// A manifest does not parse or does not match its place in the catalog.
    #[error("{folder}: {message}")]
    Manifest {
        /// Where the version lives (`<id>/template.toml`, `<id>/releases/<version>.toml`, `<id>/<version>/template.toml`).
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
    pub fn files(&self) -> &[TemplateFile] {
        &self.files
    }

    /// The `template.toml` text.
    pub fn manifest_text(&self) -> &str {
        &self.manifest_text
    }

    /// The template's id.
    pub fn id(&self) -> &str {
        &self.manifest.template.id
    }

    /// The template's version.
    pub fn version(&self) -> &semver::Version {
        &self.manifest.template.version
    }

    /// Parses `manifest_text` (found at `place`) and checks that it names `id` and, when given, `version`.
    fn new(
        place: &str,
        manifest_text: Option<&str>,
        id: &str,
        version: Option<&str>,
        mut files: Vec<TemplateFile>,
    ) -> Result<Self, CatalogError> {
        let broken = |message: String| CatalogError::Manifest {
            folder: place.to_owned(),
            message,
        };
        let text = manifest_text.ok_or_else(|| broken("missing or not UTF-8".into()))?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| broken(e.to_string()))?;
        if manifest.template.id != id {
            return Err(broken(format!(
                "the manifest says template {}, it is filed under {id}",
                manifest.template.id
            )));
        }
        if let Some(version) = version
            && manifest.template.version.to_string() != version
        {
            return Err(broken(format!(
                "the manifest says version {}, it is filed as {version}",
                manifest.template.version
            )));
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self {
            manifest,
            manifest_text: text.to_owned(),
            files,
        })
    }
}

//! The generated project's record of how it was made: `[package.metadata.palisade]` in its `Cargo.toml`.

use serde::{Deserialize, Serialize};

use crate::answers::{Answers, Value};
use crate::template::RuntimeSource;

/// What `palisade upgrade` needs to re-render the project: template, versions, runtime source and answers (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectMetadata {
    /// The template id.
    pub template: String,
    /// The template version rendered.
    pub template_version: semver::Version,
    /// The generator that rendered it.
    pub generator_version: String,
    /// Where `palisade-runtime` comes from.
    pub runtime: RuntimeSource,
    /// The answers, as validated.
    pub answers: Answers,
}

/// Writes `metadata` into a rendered `Cargo.toml` under `[package.metadata.palisade]`, keeping the rest as it is.
pub fn record(
    cargo_toml: &str,
    metadata: &ProjectMetadata,
) -> Result<String, toml_edit::TomlError> {
    let mut doc: toml_edit::DocumentMut = cargo_toml.parse()?;
    let mut table = toml_edit::Table::new();
    table.set_implicit(false);
    table["template"] = toml_edit::value(&metadata.template);
    table["template-version"] = toml_edit::value(metadata.template_version.to_string());
    table["generator-version"] = toml_edit::value(&metadata.generator_version);
    let mut runtime = toml_edit::InlineTable::new();
    match &metadata.runtime {
        RuntimeSource::Path(p) => {
            runtime.insert("path", p.as_str().into());
        }
        RuntimeSource::Git { url, rev } => {
            runtime.insert("git", url.as_str().into());
            if let Some(rev) = rev {
                runtime.insert("rev", rev.as_str().into());
            }
        }
        RuntimeSource::Version(v) => {
            runtime.insert("version", v.as_str().into());
        }
    }
    table["runtime"] = toml_edit::value(runtime);
    let mut answers = toml_edit::Table::new();
    for (name, value) in &metadata.answers {
        answers[name.as_str()] = match value {
            Value::Bool(b) => toml_edit::value(*b),
            Value::String(s) => toml_edit::value(s.as_str()),
        };
    }
    table["answers"] = toml_edit::Item::Table(answers);
    let package = doc["package"].or_insert(toml_edit::table());
    let meta = package["metadata"].or_insert({
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    meta["palisade"] = toml_edit::Item::Table(table);
    Ok(doc.to_string())
}

/// A generated project as `cargo metadata` sees it: its package name and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The package name (the name it was generated with, unless renamed since).
    pub name: String,
    /// `[package.metadata.palisade]`.
    pub metadata: ProjectMetadata,
    /// The names of the package's normal dependencies (not dev- or build-dependencies).
    pub dependencies: Vec<String>,
}

/// The project record could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// There is no `Cargo.toml` in the folder.
    #[error("{0} has no Cargo.toml: run this in a project made by `palisade new`")]
    NoManifest(std::path::PathBuf),
    /// `cargo metadata` refused the manifest.
    #[error("cargo metadata failed on {path}: {message}")]
    Cargo {
        /// The manifest.
        path: std::path::PathBuf,
        /// Cargo's message.
        message: String,
    },
    /// The package has no `[package.metadata.palisade]` table.
    #[error(
        "{0} has no [package.metadata.palisade] table: the project was not made by `palisade new`, or the record was removed"
    )]
    Missing(std::path::PathBuf),
    /// The table is there but does not hold a valid record.
    #[error("{path}: [package.metadata.palisade] is unreadable: {message}")]
    Invalid {
        /// The manifest.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The record as written by [`record`] (kebab-case keys, the runtime as an inline table).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Recorded {
    template: String,
    template_version: semver::Version,
    generator_version: String,
    runtime: RecordedRuntime,
    #[serde(default)]
    answers: std::collections::BTreeMap<String, RecordedValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedRuntime {
    path: Option<String>,
    git: Option<String>,
    rev: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RecordedValue {
    Bool(bool),
    String(String),
}

/// Reads the project in `dir` through `cargo metadata --no-deps --offline` (the manifest as cargo
/// understands it, workspace inheritance included).
pub fn read(dir: &std::path::Path) -> Result<Project, MetadataError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(MetadataError::NoManifest(dir.to_owned()));
    }
    let cargo_error = |message: String| MetadataError::Cargo {
        path: manifest.clone(),
        message,
    };
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .other_options(vec!["--offline".to_owned()])
        .exec()
        .map_err(|e| match e {
            cargo_metadata::Error::CargoMetadata { stderr } => {
                cargo_error(stderr.trim().to_owned())
            }
            other => cargo_error(other.to_string()),
        })?;
    let canonical = manifest.canonicalize().unwrap_or_else(|_| manifest.clone());
    let package = metadata
        .packages
        .iter()
        .find(|p| p.manifest_path.as_std_path() == canonical)
        .ok_or_else(|| MetadataError::Missing(manifest.clone()))?;
    let table = package
        .metadata
        .get("palisade")
        .ok_or_else(|| MetadataError::Missing(manifest.clone()))?;
    let recorded: Recorded =
        serde_json::from_value(table.clone()).map_err(|e| MetadataError::Invalid {
            path: manifest.clone(),
            message: e.to_string(),
        })?;
    let runtime = match recorded.runtime {
        RecordedRuntime {
            path: Some(p),
            git: None,
            rev: None,
            version: None,
        } => RuntimeSource::Path(p),
        RecordedRuntime {
            path: None,
            git: Some(url),
            rev,
            version: None,
        } => RuntimeSource::Git { url, rev },
        RecordedRuntime {
            path: None,
            git: None,
            rev: None,
            version: Some(v),
        } => RuntimeSource::Version(v),
        _ => {
            return Err(MetadataError::Invalid {
                path: manifest,
                message:
                    "runtime must hold exactly one of path, git (with an optional rev) or version"
                        .into(),
            });
        }
    };
    let answers = recorded
        .answers
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                RecordedValue::Bool(b) => Value::Bool(b),
                RecordedValue::String(s) => Value::String(s),
            };
            (k, value)
        })
        .collect();
    let dependencies = package
        .dependencies
        .iter()
        .filter(|d| d.kind == cargo_metadata::DependencyKind::Normal)
        .map(|d| d.name.clone())
        .collect();
    Ok(Project {
        name: package.name.to_string(),
        dependencies,
        metadata: ProjectMetadata {
            template: recorded.template,
            template_version: recorded.template_version,
            generator_version: recorded.generator_version,
            runtime,
            answers,
        },
    })
}

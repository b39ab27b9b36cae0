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

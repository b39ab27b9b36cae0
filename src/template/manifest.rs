//! `template.toml`: a template's id, version, questions, derived variables and conditional files.

use serde::Deserialize;

/// A parsed template manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Identity and description.
    pub template: TemplateInfo,
    /// What the user is asked, in order.
    #[serde(default)]
    pub questions: Vec<Question>,
    /// Variables computed from the answers with Tera expressions, in order.
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// Files or folders that exist only under some answers.
    #[serde(default)]
    pub files: Vec<FileRule>,
    /// Structural moves between versions, applied by `palisade upgrade` in version order.
    #[serde(default)]
    pub migrations: Vec<Migration>,
    /// The security wiring `palisade check` requires in a generated project.
    #[serde(default)]
    pub wiring: Vec<Wiring>,
}

/// The `[template]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateInfo {
    /// The template's id (its folder name).
    pub id: String,
    /// Semantic version of the template.
    pub version: semver::Version,
    /// One line shown by `palisade templates`.
    pub description: String,
}

/// One question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The answer's name, as used in templates and `--define`.
    pub name: String,
    /// The answer's type.
    #[serde(rename = "type")]
    pub kind: QuestionKind,
    /// The prompt shown on a terminal.
    pub prompt: String,
    /// The default answer; a question without one is required.
    pub default: Option<toml::Value>,
    /// For `choice`: the allowed values.
    #[serde(default)]
    pub choices: Vec<String>,
    /// For `string`: a regular expression the whole answer must match.
    pub validation: Option<String>,
    /// For `string`: answers that pass `validation` but are still refused (they would collide with the template's own names).
    #[serde(default)]
    pub reserved: Vec<String>,
    /// Explains the validation in error messages.
    pub validation_message: Option<String>,
    /// A Tera expression over earlier answers; the question is asked only when it is true.
    pub condition: Option<String>,
}

/// The type of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    /// Free text, optionally validated by a regular expression.
    String,
    /// `true` or `false`.
    Bool,
    /// One of `choices`.
    Choice,
}

/// A derived variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The variable's name.
    pub name: String,
    /// A Tera template producing its value.
    pub value: String,
}

/// A rule that keeps a file or folder only when a condition holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    /// A path under `files/` (before rendering); a folder applies to everything below it.
    pub path: String,
    /// A Tera expression over the answers.
    pub condition: String,
}

/// A file or folder that moved in a version: `palisade upgrade` carries the user's copy (and edits) to the new path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    /// The version that made the move.
    pub version: semver::Version,
    /// The old rendered path (Tera, over the answers); a folder moves everything below it.
    pub from: String,
    /// The new rendered path.
    pub to: String,
}

/// A piece of security wiring: a normal dependency of the package (as `cargo metadata` reads it),
/// or some file at or below `path` that matches `pattern`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wiring {
    /// What it is, as `palisade check` reports it ("the canonical security stack").
    pub name: String,
    /// A crate the package must depend on (a normal dependency, not a dev- or build-dependency).
    #[serde(default)]
    pub dependency: String,
    /// A rendered file or folder (Tera, over the answers), searched recursively.
    #[serde(default)]
    pub path: String,
    /// A regular expression one of those files must match.
    #[serde(default)]
    pub pattern: String,
    /// Only files whose name ends with this count (".cedar").
    #[serde(default)]
    pub suffix: String,
}

//! What an upgrade did (the report `--json` prints) and why one failed (with its exit code).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cargo_toml;
use crate::{answers, project, template};

/// What happened to each file the template knows, by category (paths relative to the project).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The template id.
    pub template: String,
    /// The recorded version.
    pub from: String,
    /// The target version.
    pub to: String,
    /// Whether anything was written (false for `--dry-run` and for an upgrade with nothing to do).
    pub applied: bool,
    /// Changed by the template only: the new version was taken.
    pub taken: Vec<String>,
    /// Changed by the user only: the user's version was kept.
    pub kept: Vec<String>,
    /// Changed by both, merged without overlap.
    pub merged: Vec<String>,
    /// Changed by both in the same place: conflict markers in the file, unmerged in the index.
    pub conflicted: Vec<String>,
    /// New in the template version.
    pub added: Vec<String>,
    /// Removed by the template and never changed by the user.
    pub removed: Vec<String>,
    /// Moved by a migration of the template (`from -> to`).
    pub renamed: Vec<String>,
    /// Things that need a look but were left as the user had them.
    pub notices: Vec<String>,
    /// Set when `cargo metadata` no longer accepts the upgraded manifest: its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_error: Option<String>,
    /// Unified diff of every change (only with `--dry-run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Report {
    /// The exit code: 1 when conflicts were left (or would be, with `--dry-run`) or the manifest
    /// no longer loads, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.conflicted.is_empty() || self.manifest_error.is_some())
    }
}

/// Why an upgrade failed. Every variant but [`UpgradeError::Partial`] happens before the first
/// write: nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The project record could not be read.
    #[error(transparent)]
    Metadata(#[from] project::MetadataError),
    /// The recorded template or version is not in the catalog, or the target is unknown.
    #[error(transparent)]
    Catalog(#[from] template::CatalogError),
    /// The target version is older than the recorded one.
    #[error("the project is at {template} {from}; {to} is older and downgrades are not supported")]
    Downgrade {
        /// The template id.
        template: String,
        /// The recorded version.
        from: String,
        /// The target.
        to: String,
    },
    /// The answers (recorded and `--define`) do not fit the target version.
    #[error("answers: {0}")]
    Answers(#[from] answers::AnswerError),
    /// Not a git working tree.
    #[error(transparent)]
    Worktree(#[from] crate::git::WorktreeError),
    /// Uncommitted changes.
    #[error(
        "the working tree has uncommitted changes ({}); commit or stash them, or pass --allow-dirty",
        .0.join(", ")
    )]
    Dirty(Vec<String>),
    /// A render failed (a template bug).
    #[error(transparent)]
    Render(#[from] template::RenderError),
    /// A project file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Staging or writing a file failed.
    #[error(transparent)]
    Write(#[from] crate::fs_txn::TxnError),
    /// git failed.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    /// The user's Cargo.toml does not parse.
    #[error(transparent)]
    Manifest(#[from] cargo_toml::ParseError),
    /// Writing failed after some files were replaced: the tree is part-way upgraded.
    #[error(
        "the upgrade stopped after replacing {written} of {total} files ({error}); the tree was clean before, so `git restore --staged --worktree . && git clean -fd` undoes it"
    )]
    Partial {
        /// How many files were already replaced.
        written: usize,
        /// How many there were to write.
        total: usize,
        /// What failed.
        error: Box<UpgradeError>,
    },
}

impl UpgradeError {
    /// The exit code: 1 when the tree was changed part-way (like a conflict, it needs a look
    /// before anything is committed), 2 when nothing was changed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Partial { .. } => 1,
            _ => 2,
        }
    }
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpgradeError + '_ {
    move |error| UpgradeError::Io {
        path: path.to_owned(),
        error,
    }
}

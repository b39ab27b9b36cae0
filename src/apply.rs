//! Applying a plan: the only step that writes. Files go to a staging folder beside the target, git is set up there, then one rename moves it into place.

use std::fs;
use std::path::{Path, PathBuf};

use crate::plan::Plan;

/// How to set up git in the new project.
#[derive(Debug, Clone)]
pub struct GitOptions {
    /// The first commit's message.
    pub message: String,
}

/// Why a plan could not be applied. Nothing is left behind in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The target exists and is not an empty folder.
    #[error("{0} already exists and is not empty")]
    NotEmpty(PathBuf),
    /// The target's parent folder does not exist.
    #[error("parent folder of {0} does not exist")]
    NoParent(PathBuf),
    /// The target's parent folder does not accept new entries (permissions, read-only, special file system).
    #[error("cannot write into {parent}: {error}")]
    Unwritable {
        /// The parent folder.
        parent: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Writing failed (permissions, disk).
    #[error("cannot write {path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// git set-up failed.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
    move |error| ApplyError::Io {
        path: path.to_owned(),
        error,
    }
}

/// Checks that `target` can be created: it is absent or an empty folder, and its parent exists.
pub fn check_target(target: &Path) -> Result<(), ApplyError> {
    match fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ApplyError::NotEmpty(target.to_owned()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(ApplyError::NotEmpty(target.to_owned()));
        }
        Err(error) => {
            return Err(ApplyError::Io {
                path: target.to_owned(),
                error,
            });
        }
    }
    let parent = parent_of(target);
    if !parent.is_dir() {
        return Err(ApplyError::NoParent(target.to_owned()));
    }
    Ok(())
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Writes the plan into `target`, with a first git commit unless `git` is `None`.
pub fn apply(plan: &Plan, target: &Path, git: Option<&GitOptions>) -> Result<(), ApplyError> {
    check_target(target)?;
    let parent = parent_of(target);
    let name = target
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
    let staging = parent.join(format!(".{name}.palisade-{}", std::process::id()));
    let result = stage(plan, &staging, git).and_then(|()| {
        // An empty target folder is replaced; rename cannot overwrite a folder.
        if target.is_dir() {
            fs::remove_dir(target).map_err(io(target))?;
        }
        fs::rename(&staging, target).map_err(io(target))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn stage(plan: &Plan, staging: &Path, git: Option<&GitOptions>) -> Result<(), ApplyError> {
    fs::create_dir(staging).map_err(|error| ApplyError::Unwritable {
        parent: parent_of(staging),
        error,
    })?;
    for file in &plan.files {
        let path = staging.join(&file.path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        fs::write(&path, &file.contents).map_err(io(&path))?;
    }
    if let Some(git) = git {
        crate::git::init_repository(staging, &git.message)?;
    }
    Ok(())
}

//! `cargo xtask release <template>`: freezes the editable tree of a template as a release (its manifest, objects and digest).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use palisade::template::release::{self, Lock, LockedRelease, OBJECTS, RELEASES, ReleaseManifest};
use palisade::template::{Catalog, CatalogError, Template};

/// What a release wrote.
#[derive(Debug)]
pub(crate) struct Released {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) files: usize,
    pub(crate) new_objects: usize,
    pub(crate) answer_sets: usize,
    pub(crate) digest: String,
}

/// Why a release was refused or failed; nothing is written in either case but objects, which are
/// content-addressed and harmless.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReleaseError {
    #[error("the catalog does not load: {0}")]
    Catalog(#[from] CatalogError),
    #[error("template {0} has no editable tree (templates/{0}/template.toml)")]
    NoWorkingTree(String),
    #[error(
        "template {id} {version} is already released ({path}); bump the version in templates/{id}/template.toml"
    )]
    AlreadyReleased {
        id: String,
        version: String,
        path: String,
    },
    #[error(
        "templates/{id} has uncommitted changes; commit them so the release matches a commit:\n{status}"
    )]
    Dirty { id: String, status: String },
    #[error("git status: {0}")]
    Git(String),
    #[error("{path}: {message}")]
    Lock { path: String, message: String },
    #[error("{0}")]
    Digest(#[from] release::DigestError),
    #[error(
        "templates/{id}/released.toml records {version} as {recorded}, the tree renders {actual}: \
         restore the released files or bump the version"
    )]
    DigestMismatch {
        id: String,
        version: String,
        recorded: String,
        actual: String,
    },
    #[error("cannot write {path}: {error}")]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
}

impl ReleaseError {
    /// 2 for a refusal (the input is wrong), 1 for a failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Io { .. } | Self::Git(_) => 1,
            _ => 2,
        }
    }
}

/// Releases the editable tree of template `id` under the workspace `root`.
pub(crate) fn run(root: &Path, id: &str) -> Result<Released, ReleaseError> {
    let templates = root.join("templates");
    // The folder catalog reads the tree as it is on disk, not as this binary embedded it.
    let catalog = Catalog::with_folder(Some(&templates))?;
    let working = catalog
        .working_tree(id)
        .ok_or_else(|| ReleaseError::NoWorkingTree(id.to_owned()))?;
    let version = working.version().to_string();
    let manifest_path = templates
        .join(id)
        .join(RELEASES)
        .join(format!("{version}.toml"));
    if manifest_path.exists() {
        return Err(ReleaseError::AlreadyReleased {
            id: id.to_owned(),
            version,
            path: display(root, &manifest_path),
        });
    }
    clean(root, id)?;

    let lock_path = templates.join(id).join("released.toml");
    let lock_text = match fs::read_to_string(&lock_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(ReleaseError::Io {
                path: lock_path,
                error,
            });
        }
    };
    let lock: Lock = toml::from_str(&lock_text).map_err(|e| ReleaseError::Lock {
        path: display(root, &lock_path),
        message: e.to_string(),
    })?;
    let (digest, answer_sets) = release::digest(working)?;
    let recorded = lock
        .release
        .iter()
        .find(|r| r.version == *working.version());
    if let Some(recorded) = recorded
        && recorded.digest != digest
    {
        return Err(ReleaseError::DigestMismatch {
            id: id.to_owned(),
            version,
            recorded: recorded.digest.clone(),
            actual: digest,
        });
    }

    let objects = templates.join(OBJECTS);
    let new_objects = write_objects(&objects, working)?;
    let frozen = ReleaseManifest {
        template: working.manifest_text().to_owned(),
        files: working
            .files()
            .iter()
            .map(|f| (f.path.clone(), release::object_id(&f.contents)))
            .collect::<BTreeMap<_, _>>(),
    };
    write_new(&manifest_path, frozen.to_text().as_bytes())?;
    if recorded.is_none() {
        let mut text = lock_text;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let entry = toml::to_string(&Lock {
            release: vec![LockedRelease {
                version: working.version().clone(),
                digest: digest.clone(),
            }],
        })
        .expect("a lock entry serializes");
        text.push('\n');
        text.push_str(&entry);
        write_new(&lock_path, text.as_bytes())?;
    }
    Ok(Released {
        id: id.to_owned(),
        version,
        files: frozen.files.len(),
        new_objects,
        answer_sets,
        digest,
    })
}

/// Refuses uncommitted changes (tracked or not) under `templates/<id>/`.
fn clean(root: &Path, id: &str) -> Result<(), ReleaseError> {
    let output = Command::new("git")
        .current_dir(root)
        .args(["status", "--porcelain", "--untracked-files=all", "--"])
        .arg(format!("templates/{id}"))
        .output()
        .map_err(|e| ReleaseError::Git(e.to_string()))?;
    if !output.status.success() {
        return Err(ReleaseError::Git(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let status = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    if status.is_empty() {
        Ok(())
    } else {
        Err(ReleaseError::Dirty {
            id: id.to_owned(),
            status,
        })
    }
}

/// Stores each file of the template once under its SHA-256; returns how many were new.
fn write_objects(objects: &Path, template: &Template) -> Result<usize, ReleaseError> {
    fs::create_dir_all(objects).map_err(|error| ReleaseError::Io {
        path: objects.to_owned(),
        error,
    })?;
    let mut new = 0;
    for file in template.files() {
        let path = objects.join(release::object_id(&file.contents));
        if !path.exists() {
            write_new(&path, &file.contents)?;
            new += 1;
        }
    }
    Ok(new)
}

/// Writes through a temporary file and a rename, so an interrupted release leaves no half file.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    let io = |error| ReleaseError::Io {
        path: path.to_owned(),
        error,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let temporary = path.with_extension("partial");
    fs::write(&temporary, bytes).map_err(io)?;
    fs::rename(&temporary, path).map_err(io)
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

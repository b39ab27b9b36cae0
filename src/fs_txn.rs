//! The one writer: every file the CLI writes is staged beside its target, then renamed into place; a failure part-way says how far it got. `new` stages a whole folder, `upgrade` a set of files.

use std::fs;
use std::path::{Path, PathBuf};

/// Why a write was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
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
        #[source]
        error: std::io::Error,
    },
    /// Writing failed (permissions, disk).
    #[error("cannot write {path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        error: std::io::Error,
    },
}

impl TxnError {
    /// Whether the error is about the target the user named (bad input), not a failure while writing.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::NotEmpty(_) | Self::NoParent(_) | Self::Unwritable { .. }
        )
    }
}

/// Renames stopped part-way: `done` of `total` changes are in place.
#[derive(Debug, thiserror::Error)]
#[error("stopped after {done} of {total} changes: {error}")]
pub struct Partial {
    /// How many renames or removals were done.
    pub done: usize,
    /// How many there were.
    pub total: usize,
    /// What failed.
    #[source]
    pub error: TxnError,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TxnError + '_ {
    move |error| TxnError::Io {
        path: path.to_owned(),
        error,
    }
}

/// Checks that `target` can be created: it is absent or an empty folder, and its parent exists.
pub fn check_new_folder(target: &Path) -> Result<(), TxnError> {
    match fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(TxnError::NotEmpty(target.to_owned()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(TxnError::NotEmpty(target.to_owned()));
        }
        Err(error) => {
            return Err(TxnError::Io {
                path: target.to_owned(),
                error,
            });
        }
    }
    if !parent_of(target).is_dir() {
        return Err(TxnError::NoParent(target.to_owned()));
    }
    Ok(())
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A new folder being built beside its target (`.NAME.palisade-PID`), moved into place by one
/// rename in [`NewFolder::commit`]; dropped uncommitted, it is removed.
#[derive(Debug)]
pub struct NewFolder {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl NewFolder {
    /// Checks the target and creates the staging folder beside it.
    pub fn create(target: &Path) -> Result<Self, TxnError> {
        check_new_folder(target)?;
        let parent = parent_of(target);
        let name = target
            .file_name()
            .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
        let staging = parent.join(format!(".{name}.palisade-{}", std::process::id()));
        fs::create_dir(&staging).map_err(|error| TxnError::Unwritable { parent, error })?;
        Ok(Self {
            staging,
            target: target.to_owned(),
            committed: false,
        })
    }

    /// The staging folder, for steps that fill it in place (git set-up).
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Writes `bytes` at `relative` inside the staging folder.
    pub fn write(&self, relative: &Path, bytes: &[u8]) -> Result<(), TxnError> {
        let path = self.staging.join(relative);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        fs::write(&path, bytes).map_err(io(&path))
    }

    /// Writes an executable file (a git hook) at `relative` inside the staging folder.
    pub fn write_executable(&self, relative: &Path, bytes: &[u8]) -> Result<(), TxnError> {
        self.write(relative, bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = self.staging.join(relative);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).map_err(io(&path))?;
        }
        Ok(())
    }

    /// Moves the folder into place.
    pub fn commit(mut self) -> Result<(), TxnError> {
        // An empty target folder is replaced; rename cannot overwrite a folder.
        if self.target.is_dir() {
            fs::remove_dir(&self.target).map_err(io(&self.target))?;
        }
        fs::rename(&self.staging, &self.target).map_err(io(&self.target))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for NewFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Changes to files of an existing folder: new contents staged as temporaries beside their
/// targets (with the targets' permissions), then renamed, then removals. Dropped uncommitted,
/// the temporaries are removed and the folder is as it was.
#[derive(Debug)]
pub struct FileChanges {
    root: PathBuf,
    staged: Vec<(PathBuf, PathBuf)>,
    removals: Vec<PathBuf>,
    renamed: usize,
}

impl FileChanges {
    /// Stages every write (paths relative to `root`) and records the removals; nothing is
    /// changed yet. A path both written and removed is written.
    pub fn stage<'a>(
        root: &Path,
        writes: impl IntoIterator<Item = (&'a Path, &'a [u8])>,
        removals: impl IntoIterator<Item = &'a Path>,
    ) -> Result<Self, TxnError> {
        let mut changes = Self {
            root: root.to_owned(),
            staged: Vec::new(),
            removals: Vec::new(),
            renamed: 0,
        };
        for (path, bytes) in writes {
            let target = root.join(path);
            let temporary = stage_file(&target, bytes)?;
            changes.staged.push((temporary, target));
        }
        for path in removals {
            let full = root.join(path);
            if !changes.staged.iter().any(|(_, target)| *target == full) {
                changes.removals.push(full);
            }
        }
        Ok(changes)
    }

    /// How many changes there are.
    pub fn len(&self) -> usize {
        self.staged.len() + self.removals.len()
    }

    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renames every staged file into place, then removes what goes (and folders left empty).
    pub fn commit(mut self) -> Result<(), Partial> {
        let total = self.len();
        let fail = |done, error| Partial { done, total, error };
        while self.renamed < self.staged.len() {
            let (temporary, target) = &self.staged[self.renamed];
            fs::rename(temporary, target).map_err(|e| fail(self.renamed, io(target)(e)))?;
            self.renamed += 1;
        }
        for (i, full) in self.removals.iter().enumerate() {
            fs::remove_file(full).map_err(|e| fail(self.renamed + i, io(full)(e)))?;
            remove_empty_parents(&self.root, full);
        }
        Ok(())
    }
}

impl Drop for FileChanges {
    fn drop(&mut self) {
        for (temporary, _) in &self.staged[self.renamed..] {
            let _ = fs::remove_file(temporary);
        }
    }
}

/// Writes `bytes` to a temporary file beside `target` (with the target's permissions).
fn stage_file(target: &Path, bytes: &[u8]) -> Result<PathBuf, TxnError> {
    let dir = target.parent().expect("a project file has a parent");
    fs::create_dir_all(dir).map_err(io(dir))?;
    let name = target
        .file_name()
        .expect("a project file has a name")
        .to_string_lossy();
    let temporary = dir.join(format!(".{name}.palisade-{}", std::process::id()));
    fs::write(&temporary, bytes).map_err(io(&temporary))?;
    if let Ok(meta) = fs::metadata(target)
        && let Err(error) = fs::set_permissions(&temporary, meta.permissions())
    {
        let _ = fs::remove_file(&temporary);
        return Err(io(&temporary)(error));
    }
    Ok(temporary)
}

fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

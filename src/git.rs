//! Everything git (the only user of git2): repository set-up for new projects, line-based 3-way merges and diffs in memory, the working tree's cleanliness and unmerged index entries.

use std::path::{Path, PathBuf};

/// The identity used for the first commit when the user's git configuration has none.
pub const FALLBACK_AUTHOR: (&str, &str) = ("Palisade", "palisade@localhost");

/// Initializes a repository in `dir` on branch `main` and commits every file in it.
pub fn init_repository(dir: &Path, message: &str) -> Result<(), git2::Error> {
    let mut options = git2::RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = git2::Repository::init_opts(dir, &options)?;
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now(FALLBACK_AUTHOR.0, FALLBACK_AUTHOR.1))?;
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &[])?;
    Ok(())
}

/// The result of a line-based 3-way merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMerge {
    /// The merged bytes; where the sides overlap, both are kept between conflict markers.
    pub contents: Vec<u8>,
    /// Whether any region conflicted.
    pub conflicted: bool,
}

/// The names written on conflict markers (`<<<<<<< ours`, `>>>>>>> theirs`).
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    /// The common ancestor.
    pub base: &'a str,
    /// The working tree.
    pub ours: &'a str,
    /// The incoming side.
    pub theirs: &'a str,
}

/// Appended to every side of a merge and removed from the result (see [`Merger::merge`]).
const END: &[u8] = b"\n\x01palisade end of file\n";

/// Merges files line by line with libgit2's merge (the algorithm of `git merge-file`) in an
/// in-memory object database: nothing touches the disk.
pub struct Merger {
    repo: git2::Repository,
}

impl std::fmt::Debug for Merger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Merger")
    }
}

impl Merger {
    /// A merger with its own in-memory object database.
    pub fn new() -> Result<Self, git2::Error> {
        let odb = git2::Odb::new()?;
        odb.add_new_mempack_backend(1000)?;
        Ok(Self {
            repo: git2::Repository::from_odb(odb)?,
        })
    }

    /// Merges `ours` and `theirs`, both derived from `base`. An absent base (both sides added the
    /// file) is the empty file.
    pub fn merge(
        &self,
        path: &Path,
        base: &[u8],
        ours: &[u8],
        theirs: &[u8],
        labels: Labels<'_>,
    ) -> Result<TextMerge, git2::Error> {
        // git2's `MergeFileResult::content` builds a slice from a null pointer when the merge is
        // empty; a common last line the merge keeps as it is avoids that, and is cut off after.
        let entry = |bytes: &[u8]| -> Result<git2::IndexEntry, git2::Error> {
            let with_end = [bytes, END].concat();
            Ok(index_entry(
                path,
                self.repo.blob(&with_end)?,
                with_end.len(),
                0,
            ))
        };
        let mut options = git2::MergeFileOptions::new();
        options
            .ancestor_label(labels.base)
            .our_label(labels.ours)
            .their_label(labels.theirs)
            .style_standard(true);
        let result = self.repo.merge_file_from_index(
            &entry(base)?,
            &entry(ours)?,
            &entry(theirs)?,
            Some(&mut options),
        )?;
        let contents = result
            .content()
            .strip_suffix(END)
            .ok_or_else(|| git2::Error::from_str("the merge lost its end-of-file marker"))?
            .to_vec();
        Ok(TextMerge {
            contents,
            conflicted: !result.is_automergeable(),
        })
    }
}

/// A unified diff of `old` to `new` for `path` (`/dev/null` for an absent side), as `git diff` prints it.
pub fn unified_diff(
    path: &Path,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<String, git2::Error> {
    let mut options = git2::DiffOptions::new();
    options.context_lines(3);
    let mut patch = git2::Patch::from_buffers(
        old.unwrap_or_default(),
        old.map(|_| path),
        new.unwrap_or_default(),
        new.map(|_| path),
        Some(&mut options),
    )?;
    let buf = patch.to_buf()?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn index_entry(path: &Path, id: git2::Oid, size: usize, stage: u16) -> git2::IndexEntry {
    let path = path.to_string_lossy().replace('\\', "/").into_bytes();
    let flags = (stage << 12) | u16::try_from(path.len()).unwrap_or(0xfff).min(0xfff);
    git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100_644,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(size).unwrap_or(u32::MAX),
        id,
        flags,
        flags_extended: 0,
        path,
    }
}

/// Why a folder cannot be upgraded in place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorktreeError {
    /// The folder is not inside a git working tree.
    #[error(
        "{0} is not in a git repository: `palisade upgrade` needs git to tell a clean tree and to record conflicts (run `git init && git add -A && git commit` first)"
    )]
    NotARepository(PathBuf),
    /// The repository has no working tree.
    #[error("{0} is a bare git repository")]
    Bare(PathBuf),
    /// git failed.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// One side of an unmerged index entry.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The path, relative to the project folder.
    pub path: PathBuf,
    /// Stage 1: the common ancestor, if any.
    pub base: Option<Vec<u8>>,
    /// Stage 2: the working tree's version, if any.
    pub ours: Option<Vec<u8>>,
    /// Stage 3: the incoming version, if any.
    pub theirs: Option<Vec<u8>>,
}

/// The git working tree that holds a project folder (the folder may be a subfolder of it).
pub struct Worktree {
    repo: git2::Repository,
    /// The project folder relative to the working tree's root ("" at the root).
    prefix: PathBuf,
}

impl std::fmt::Debug for Worktree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worktree")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Worktree {
    /// Opens the repository that contains `dir` (searching upwards, as git does).
    pub fn open(dir: &Path) -> Result<Self, WorktreeError> {
        let dir = dir
            .canonicalize()
            .map_err(|_| WorktreeError::NotARepository(dir.to_owned()))?;
        let repo = git2::Repository::discover(&dir).map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => WorktreeError::NotARepository(dir.clone()),
            _ => WorktreeError::Git(e),
        })?;
        let root = repo
            .workdir()
            .ok_or_else(|| WorktreeError::Bare(dir.clone()))?
            .canonicalize()
            .map_err(|_| WorktreeError::NotARepository(dir.clone()))?;
        let prefix = dir
            .strip_prefix(&root)
            .map_err(|_| WorktreeError::NotARepository(dir.clone()))?
            .to_owned();
        Ok(Self { repo, prefix })
    }

    /// Paths under the project folder that differ from `HEAD` or are untracked (ignored files
    /// do not count), as `git status --porcelain` would list them.
    pub fn dirty(&self) -> Result<Vec<String>, git2::Error> {
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        if !self.prefix.as_os_str().is_empty() {
            options.pathspec(self.prefix.to_string_lossy().replace('\\', "/"));
        }
        let statuses = self.repo.statuses(Some(&mut options))?;
        Ok(statuses
            .iter()
            .filter(|s| s.status() != git2::Status::CURRENT)
            .filter_map(|s| s.path().map(str::to_owned))
            .collect())
    }

    /// Writes each conflict's sides into the object database (objects nothing refers to yet), as
    /// index entries to register with [`Worktree::record_conflicts`].
    pub fn prepare_conflicts(
        &self,
        conflicts: &[Conflict],
    ) -> Result<PreparedConflicts, git2::Error> {
        let mut entries = Vec::new();
        for conflict in conflicts {
            let path = self.prefix.join(&conflict.path);
            let mut stages = Vec::new();
            for (stage, side) in [
                (1, &conflict.base),
                (2, &conflict.ours),
                (3, &conflict.theirs),
            ] {
                if let Some(bytes) = side {
                    let id = self.repo.blob(bytes)?;
                    stages.push(index_entry(&path, id, bytes.len(), stage));
                }
            }
            entries.push((path, stages));
        }
        Ok(PreparedConflicts(entries))
    }

    /// Registers each conflict as an unmerged index entry (stages 1, 2 and 3; a side that does not
    /// exist has no stage), as `git merge` leaves it, so `git status` lists it ("both modified",
    /// "deleted by us") and a commit is refused until it is resolved.
    pub fn record_conflicts(&self, prepared: PreparedConflicts) -> Result<(), git2::Error> {
        if prepared.0.is_empty() {
            return Ok(());
        }
        let mut index = self.repo.index()?;
        for (path, stages) in prepared.0 {
            let _ = index.remove_path(&path);
            for entry in &stages {
                index.add(entry)?;
            }
        }
        index.write()
    }
}

/// Conflicts whose blobs are written, ready to enter the index.
pub struct PreparedConflicts(Vec<(PathBuf, Vec<git2::IndexEntry>)>);

impl std::fmt::Debug for PreparedConflicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(p, _)| p))
            .finish()
    }
}

/// What `git commit` would record in the repository holding `dir`: every path in the index with
/// its staged contents (not the working tree's), paths relative to the repository's root.
pub fn staged_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, git2::Error> {
    let repo = git2::Repository::discover(dir)?;
    let index = repo.index()?;
    let mut files = Vec::new();
    for entry in index.iter() {
        // Stage 0 only: conflict stages are not what a commit records.
        if (entry.flags >> 12) & 0x3 != 0 {
            continue;
        }
        let blob = repo.find_blob(entry.id)?;
        files.push((
            String::from_utf8_lossy(&entry.path).into_owned(),
            blob.content().to_vec(),
        ));
    }
    Ok(files)
}

/// Calls `visit` once for every distinct blob of every commit reachable from HEAD in the
/// repository holding `dir` (newest commits first), with the path it was first met at and that
/// commit's short id: a blob shared by many commits is read and handed over once.
pub fn for_each_history_blob(
    dir: &Path,
    mut visit: impl FnMut(&str, &str, &[u8]),
) -> Result<(), git2::Error> {
    let repo = git2::Repository::discover(dir)?;
    let mut walk = repo.revwalk()?;
    walk.push_head()?;
    let mut seen = std::collections::HashSet::new();
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        let short = commit.id().to_string()[..12].to_owned();
        let mut failure = None;
        commit
            .tree()?
            .walk(git2::TreeWalkMode::PreOrder, |root, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob) && seen.insert(entry.id()) {
                    match repo.find_blob(entry.id()) {
                        Ok(blob) => {
                            let path = format!("{root}{}", entry.name().unwrap_or("?"));
                            visit(&path, &short, blob.content());
                        }
                        Err(error) => {
                            failure = Some(error);
                            return git2::TreeWalkResult::Abort;
                        }
                    }
                }
                git2::TreeWalkResult::Ok
            })?;
        if let Some(error) = failure {
            return Err(error);
        }
    }
    Ok(())
}

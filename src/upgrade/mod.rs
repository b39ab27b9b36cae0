//! The upgrade engine (orchestration; the rule table is `rules.rs`, the Cargo.toml merge `cargo_toml.rs`, the report `report.rs`, writing `crate::fs_txn`): re-render the recorded template version (base) and the target (theirs), merge both into the working tree (ours) file by file in memory, then write. Knows nothing of the command line.

pub mod cargo_toml;
mod report;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::answers::{self, AnswerSources, Answers};
use crate::fs_txn::FileChanges;
use crate::git::{Conflict, Labels, Merger, Worktree};
use crate::plan::Plan;
use crate::project::{self, ProjectMetadata};
use crate::template::{self, Catalog, RenderInput, Template};

use report::io;
pub use report::{Report, UpgradeError};
use rules::Outcome;

/// What to upgrade, and how: the resolved form of `palisade upgrade`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The project folder.
    pub dir: PathBuf,
    /// The target version (default: the newest).
    pub to: Option<semver::Version>,
    /// Answers to change, as `--define` pairs.
    pub defines: Vec<String>,
    /// Proceed on a dirty working tree.
    pub allow_dirty: bool,
}

/// A file an upgrade would write: its path, its new contents, and what it holds now.
pub type PlannedWrite<'a> = (&'a Path, &'a [u8], Option<Vec<u8>>);

/// A computed upgrade: the writes, removals and conflicts, and the report. Nothing written yet.
#[derive(Debug)]
pub struct Upgrade {
    dir: PathBuf,
    worktree: Worktree,
    writes: BTreeMap<PathBuf, Vec<u8>>,
    removals: BTreeSet<PathBuf>,
    conflicts: Vec<Conflict>,
    /// What the upgrade does.
    pub report: Report,
}

/// Reads the project, renders base and theirs, and merges every file in memory.
pub fn prepare(request: &Request, catalog: &Catalog) -> Result<Upgrade, UpgradeError> {
    let dir = request.dir.clone();
    let worktree = Worktree::open(&dir)?;
    let project = project::read(&dir)?;
    let recorded = &project.metadata;
    let old = catalog.version(&recorded.template, &recorded.template_version)?;
    let new = match &request.to {
        Some(version) => catalog.version(&recorded.template, version)?,
        None => catalog.newest(&recorded.template)?,
    };
    if new.version() < old.version() {
        return Err(UpgradeError::Downgrade {
            template: recorded.template.clone(),
            from: old.version().to_string(),
            to: new.version().to_string(),
        });
    }
    let sources = AnswerSources {
        defines: AnswerSources::parse_defines(&request.defines)?,
        recorded: recorded.answers.clone(),
        ..AnswerSources::default()
    };
    let answers = answers::resolve(&new.manifest, &sources, None)?;
    if !request.allow_dirty {
        let dirty = worktree.dirty()?;
        if !dirty.is_empty() {
            let more = dirty.len().saturating_sub(10);
            let mut shown: Vec<String> = dirty.into_iter().take(10).collect();
            if more > 0 {
                shown.push(format!("and {more} more"));
            }
            return Err(UpgradeError::Dirty(shown));
        }
    }

    // The generator version is part of the record: it moves only when the project does.
    let moves = new.version() != old.version() || answers != recorded.answers;
    let generator_version = if moves {
        env!("CARGO_PKG_VERSION")
    } else {
        recorded.generator_version.as_str()
    };
    let base = render_with(
        old,
        &project.name,
        recorded,
        &recorded.answers,
        &recorded.generator_version,
    )?;
    let theirs = render_with(new, &project.name, recorded, &answers, generator_version)?;
    let renames = migrations(catalog, new, old, &project.name, recorded, &answers)?;

    let mut upgrade = Upgrade {
        dir,
        worktree,
        writes: BTreeMap::new(),
        removals: BTreeSet::new(),
        conflicts: Vec::new(),
        report: Report {
            template: recorded.template.clone(),
            from: old.version().to_string(),
            to: new.version().to_string(),
            ..Report::default()
        },
    };
    let labels = Labels {
        base: &format!("template {} {}", old.id(), old.version()),
        ours: "yours",
        theirs: &format!("template {} {}", new.id(), new.version()),
    };
    upgrade.merge_all(&base, &theirs, &renames, labels)?;
    Ok(upgrade)
}

fn render_with(
    template: &Template,
    name: &str,
    recorded: &ProjectMetadata,
    answers: &Answers,
    generator_version: &str,
) -> Result<Plan, UpgradeError> {
    Ok(template::render(&RenderInput {
        template,
        name,
        answers,
        runtime: &recorded.runtime,
        generator_version,
    })?)
}

/// The migrations of every version after the recorded one up to the target (each declared in the
/// version that made it, or repeated in later ones), in version order, rendered to paths.
fn migrations(
    catalog: &Catalog,
    new: &Template,
    old: &Template,
    name: &str,
    recorded: &ProjectMetadata,
    answers: &Answers,
) -> Result<Vec<(PathBuf, PathBuf)>, UpgradeError> {
    let mut due: Vec<&template::Migration> = Vec::new();
    for version in catalog.versions(new.id())? {
        for migration in &version.manifest.migrations {
            let in_range =
                migration.version > *old.version() && migration.version <= *new.version();
            let seen = due.iter().any(|m| {
                m.version == migration.version && m.from == migration.from && m.to == migration.to
            });
            if in_range && !seen {
                due.push(migration);
            }
        }
    }
    due.sort_by(|a, b| a.version.cmp(&b.version));
    let input = RenderInput {
        template: new,
        name,
        answers,
        runtime: &recorded.runtime,
        generator_version: env!("CARGO_PKG_VERSION"),
    };
    let paths: Vec<&str> = due
        .iter()
        .flat_map(|m| [m.from.as_str(), m.to.as_str()])
        .collect();
    let rendered = template::render_paths(&input, &paths)?;
    Ok(rendered
        .chunks(2)
        .map(|pair| (PathBuf::from(&pair[0]), PathBuf::from(&pair[1])))
        .collect())
}

/// Where `path` ends up after the migrations.
fn moved(path: &Path, renames: &[(PathBuf, PathBuf)]) -> PathBuf {
    let mut current = path.to_owned();
    for (from, to) in renames {
        if let Ok(rest) = current.strip_prefix(from) {
            current = if rest.as_os_str().is_empty() {
                to.clone()
            } else {
                to.join(rest)
            };
        }
    }
    current
}

fn show(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

impl Upgrade {
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, UpgradeError> {
        let full = self.dir.join(path);
        match fs::read(&full) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&full)(e)),
        }
    }

    fn merge_all(
        &mut self,
        base: &Plan,
        theirs: &Plan,
        renames: &[(PathBuf, PathBuf)],
        labels: Labels<'_>,
    ) -> Result<(), UpgradeError> {
        // Base files under their post-migration paths, remembering where the user has them now.
        let mut base_files: BTreeMap<PathBuf, (&[u8], PathBuf)> = BTreeMap::new();
        for file in &base.files {
            base_files.insert(
                moved(&file.path, renames),
                (&file.contents, file.path.clone()),
            );
        }
        let theirs_files: BTreeMap<PathBuf, &[u8]> = theirs
            .files
            .iter()
            .map(|f| (f.path.clone(), f.contents.as_slice()))
            .collect();
        let paths: BTreeSet<PathBuf> = base_files
            .keys()
            .chain(theirs_files.keys())
            .cloned()
            .collect();
        let merger = Merger::new()?;

        for path in paths {
            let (b, origin) = match base_files.get(&path) {
                Some((bytes, origin)) => (Some(*bytes), origin.clone()),
                None => (None, path.clone()),
            };
            let t = theirs_files.get(&path).copied();
            // The user's copy: at its old path when a migration moves it, else at the new one.
            // When both paths hold a file, neither is moved or overwritten.
            let at_new = self.read(&path)?;
            let (o, at) = match (origin != path, at_new) {
                (false, at_new) => (at_new, path.clone()),
                (true, None) => match self.read(&origin)? {
                    Some(bytes) => (Some(bytes), origin.clone()),
                    None => (None, path.clone()),
                },
                (true, Some(bytes)) => {
                    if self.dir.join(&origin).exists() {
                        self.report.notices.push(format!(
                            "{}: not moved to {}, which exists; both stay",
                            show(&origin),
                            show(&path)
                        ));
                    }
                    (Some(bytes), path.clone())
                }
            };
            if at != path && o.is_some() {
                self.removals.insert(at.clone());
                self.report
                    .renamed
                    .push(format!("{} -> {}", show(&at), show(&path)));
            }
            let name = show(&path);
            let o = o.as_deref();
            let result: Option<Vec<u8>> = match rules::decide(b, o, t) {
                Outcome::Keep { edited } => {
                    if edited {
                        self.report.kept.push(name);
                    }
                    o.map(<[u8]>::to_vec)
                }
                Outcome::Absent => None,
                Outcome::Add => {
                    self.report.added.push(name);
                    t.map(<[u8]>::to_vec)
                }
                Outcome::ModifyDelete => {
                    // A modify/delete conflict, as git records it ("deleted by us"): the new
                    // version is in the tree for review, and `git rm` keeps the file deleted.
                    self.report.notices.push(format!(
                        "{name}: you deleted it and the template changed it; the new version is back for review (`git rm {name}` keeps it deleted)"
                    ));
                    self.report.conflicted.push(name);
                    self.conflicts.push(Conflict {
                        path: path.clone(),
                        base: b.map(<[u8]>::to_vec),
                        ours: None,
                        theirs: t.map(<[u8]>::to_vec),
                    });
                    t.map(<[u8]>::to_vec)
                }
                Outcome::Remove => {
                    self.report.removed.push(name);
                    None
                }
                Outcome::KeepRemovedEdited => {
                    self.report.notices.push(format!(
                        "{name}: the template removed it and you changed it; your copy stays"
                    ));
                    o.map(<[u8]>::to_vec)
                }
                Outcome::UserFile | Outcome::Same => o.map(<[u8]>::to_vec),
                Outcome::Take => {
                    self.report.taken.push(name);
                    t.map(<[u8]>::to_vec)
                }
                Outcome::Merge => {
                    let (o, t) = (o.unwrap_or_default(), t.unwrap_or_default());
                    Some(self.merge_file(&merger, &path, b, o, t, labels)?)
                }
            };
            match result {
                Some(bytes) => {
                    if o != Some(bytes.as_slice()) || at != path {
                        self.writes.insert(path.clone(), bytes);
                    }
                }
                None => {
                    if o.is_some() {
                        self.removals.insert(at.clone());
                    }
                }
            }
        }
        self.carry_user_files(renames, &base_files)?;
        Ok(())
    }

    /// Moves the user's own files under a migrated folder along with it.
    fn carry_user_files(
        &mut self,
        renames: &[(PathBuf, PathBuf)],
        base_files: &BTreeMap<PathBuf, (&[u8], PathBuf)>,
    ) -> Result<(), UpgradeError> {
        let known: BTreeSet<&PathBuf> = base_files.values().map(|(_, origin)| origin).collect();
        for (from, _) in renames {
            let folder = self.dir.join(from);
            if !folder.is_dir() {
                continue;
            }
            let mut found = Vec::new();
            walk(&folder, &mut found).map_err(io(&folder))?;
            for file in found {
                let relative = file
                    .strip_prefix(&self.dir)
                    .expect("walked inside the project")
                    .to_owned();
                if known.contains(&relative) || self.removals.contains(&relative) {
                    continue;
                }
                let target = moved(&relative, renames);
                if self.dir.join(&target).exists() || self.writes.contains_key(&target) {
                    self.report.notices.push(format!(
                        "{}: not moved to {}, which exists",
                        show(&relative),
                        show(&target)
                    ));
                    continue;
                }
                let bytes = fs::read(&file).map_err(io(&file))?;
                self.report
                    .renamed
                    .push(format!("{} -> {}", show(&relative), show(&target)));
                self.writes.insert(target, bytes);
                self.removals.insert(relative);
            }
        }
        Ok(())
    }

    fn merge_file(
        &mut self,
        merger: &Merger,
        path: &Path,
        base: Option<&[u8]>,
        ours: &[u8],
        theirs: &[u8],
        labels: Labels<'_>,
    ) -> Result<Vec<u8>, UpgradeError> {
        let name = show(path);
        if path == Path::new("Cargo.toml") {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let merged =
                cargo_toml::merge(&text(base.unwrap_or_default()), &text(ours), &text(theirs))?;
            if merged.conflicts.is_empty() {
                self.report.merged.push(name);
                return Ok(merged.text.into_bytes());
            }
            self.report.notices.push(format!(
                "Cargo.toml: you and the template both changed {}",
                merged.conflicts.join(", ")
            ));
        }
        let merged = merger.merge(path, base.unwrap_or_default(), ours, theirs, labels)?;
        if merged.conflicted {
            self.report.conflicted.push(name);
            self.conflicts.push(Conflict {
                path: path.to_owned(),
                base: base.map(<[u8]>::to_vec),
                ours: Some(ours.to_vec()),
                theirs: Some(theirs.to_vec()),
            });
        } else {
            self.report.merged.push(name);
        }
        Ok(merged.contents)
    }

    /// The unified diff of every write and removal against the working tree.
    pub fn diff(&self) -> Result<String, UpgradeError> {
        let mut out = String::new();
        let mut paths: BTreeSet<&PathBuf> = self.writes.keys().collect();
        paths.extend(self.removals.iter());
        for path in paths {
            let old = self.read(path)?;
            let new = self.writes.get(path).map(Vec::as_slice);
            if old.as_deref() != new {
                out.push_str(&crate::git::unified_diff(path, old.as_deref(), new)?);
            }
        }
        Ok(out)
    }

    /// Every file the upgrade would write, with what it holds now (`None`: a new file).
    pub fn writes(&self) -> Result<Vec<PlannedWrite<'_>>, UpgradeError> {
        self.writes
            .iter()
            .map(|(path, new)| Ok((path.as_path(), new.as_slice(), self.read(path)?)))
            .collect()
    }

    /// The report of a dry run: the diff, and whether the merged `Cargo.toml` would still parse.
    pub fn dry_run(self) -> Result<Report, UpgradeError> {
        let mut report = self.report.clone();
        report.diff = Some(self.diff()?);
        if let Some(bytes) = self.writes.get(Path::new("Cargo.toml"))
            && let Err(error) = toml::from_str::<toml::Table>(&String::from_utf8_lossy(bytes))
        {
            report.manifest_error = Some(format!("Cargo.toml would not parse: {error}"));
        }
        Ok(report)
    }

    /// Writes every file and removes what goes through the one writer (`fs_txn`), then registers
    /// conflicts in the index. Everything that can fail without touching the tree (staging the
    /// new contents, writing the conflicts' blobs) happens before the first rename.
    pub fn apply(self) -> Result<Report, UpgradeError> {
        let mut report = self.report;
        if self.writes.is_empty() && self.removals.is_empty() {
            return Ok(report);
        }
        let changes = FileChanges::stage(
            &self.dir,
            self.writes.iter().map(|(p, b)| (p.as_path(), b.as_slice())),
            self.removals.iter().map(PathBuf::as_path),
        )?;
        // Dropping `changes` on an error here removes the staged files: nothing was changed.
        let conflicts = self.worktree.prepare_conflicts(&self.conflicts)?;
        let total = changes.len();
        changes.commit().map_err(|partial| UpgradeError::Partial {
            written: partial.done,
            total: partial.total,
            error: Box::new(UpgradeError::Write(partial.error)),
        })?;
        self.worktree
            .record_conflicts(conflicts)
            .map_err(|error| UpgradeError::Partial {
                written: total,
                total,
                error: Box::new(error.into()),
            })?;
        report.applied = true;
        if let Err(error) = project::read(&self.dir) {
            report.manifest_error = Some(error.to_string());
        }
        Ok(report)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

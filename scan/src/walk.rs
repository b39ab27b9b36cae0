//! Scanning a tree: every file `ignore` walks (`.gitignore` respected, hidden files included, `.git` never), in parallel, each read once; binary and oversized files skipped and counted.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::engine::Scanner;
use crate::finding::{Finding, Suppressed};

/// Files larger than this are skipped (and counted): generated data, not source.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// What a tree scan found and what it passed over.
#[derive(Debug, Default)]
pub struct TreeReport {
    /// Findings, by path, line and column.
    pub findings: Vec<Finding>,
    /// Findings suppressed inline.
    pub suppressed: Vec<Suppressed>,
    /// Files scanned.
    pub files: usize,
    /// Files skipped as binary (a NUL byte in the first 8 KiB); archives are among them and are
    /// not opened.
    pub binary: usize,
    /// Files skipped for size.
    pub oversized: usize,
    /// Files that could not be read, with why.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Files not scanned because a global path allowlist names them, with the pattern: a
    /// suppression, so it is reported.
    pub allowlisted: Vec<AllowlistedPath>,
}

/// A file a global `[[allowlists]] paths` pattern keeps out of the scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AllowlistedPath {
    /// The file.
    pub path: String,
    /// The pattern that names it.
    pub pattern: String,
}

impl TreeReport {
    /// Adds one in-memory file (a staged or historical blob) to the report: skipped when binary
    /// or path-allowlisted, else scanned.
    pub fn add_blob(&mut self, scanner: &Scanner, path: &str, contents: &[u8]) {
        if contents[..contents.len().min(8192)].contains(&0) {
            self.binary += 1;
        } else if let Some(pattern) = scanner.allowlisted_path(path) {
            self.allowlisted.push(AllowlistedPath {
                path: path.to_owned(),
                pattern: pattern.to_owned(),
            });
        } else {
            let found = scanner.scan_text(path, &String::from_utf8_lossy(contents));
            self.files += 1;
            self.findings.extend(found.findings);
            self.suppressed.extend(found.suppressed);
        }
    }
}

/// Scans every file under `root`; paths in findings are relative to it.
pub fn scan_tree(scanner: &Scanner, root: &Path) -> TreeReport {
    let report = Mutex::new(TreeReport::default());
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .build_parallel()
        .run(|| {
            Box::new(|entry| {
                let Ok(entry) = entry else {
                    return ignore::WalkState::Continue;
                };
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    return ignore::WalkState::Continue;
                }
                let path = entry.path();
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(path)
                    .to_string_lossy()
                    .into_owned();
                let outcome = match scanner.allowlisted_path(&name) {
                    Some(pattern) => FileOutcome::Allowlisted(pattern.to_owned()),
                    None => scan_file(scanner, path, &name),
                };
                let mut report = report.lock().expect("no scan thread panics");
                match outcome {
                    FileOutcome::Scanned(text) => {
                        report.files += 1;
                        report.findings.extend(text.findings);
                        report.suppressed.extend(text.suppressed);
                    }
                    FileOutcome::Binary => report.binary += 1,
                    FileOutcome::Oversized => report.oversized += 1,
                    FileOutcome::Unreadable(why) => report.unreadable.push((path.to_owned(), why)),
                    FileOutcome::Allowlisted(pattern) => report.allowlisted.push(AllowlistedPath {
                        path: name,
                        pattern,
                    }),
                }
                ignore::WalkState::Continue
            })
        });
    let mut report = report.into_inner().expect("no scan thread panics");
    report
        .findings
        .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    report
        .suppressed
        .sort_by(|a, b| (&a.finding.path, a.finding.line).cmp(&(&b.finding.path, b.finding.line)));
    report.unreadable.sort();
    report.allowlisted.sort_by(|a, b| a.path.cmp(&b.path));
    report
}

enum FileOutcome {
    Scanned(crate::engine::TextReport),
    Binary,
    Oversized,
    Unreadable(String),
    Allowlisted(String),
}

fn scan_file(scanner: &Scanner, path: &Path, name: &str) -> FileOutcome {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => return FileOutcome::Oversized,
        Ok(_) => {}
        Err(e) => return FileOutcome::Unreadable(e.to_string()),
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return FileOutcome::Unreadable(e.to_string()),
    };
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return FileOutcome::Binary;
    }
    let text = String::from_utf8_lossy(&bytes);
    FileOutcome::Scanned(scanner.scan_text(name, &text))
}

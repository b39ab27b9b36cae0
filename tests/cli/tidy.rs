//! The repository's own habits, checked: every Rust file opens with a `//!` line saying what it owns, no logic file grows past 600 lines, and every module directory is in `docs/architecture.md`'s code map.

use std::path::{Path, PathBuf};

use crate::support::workspace;

/// Past this, a logic file is a sign to split (docs/architecture.md, STYLE.md 2).
const MAX_LINES: usize = 600;

/// The folders whose Rust files are checked.
const ROOTS: [&str; 4] = ["src", "runtime/src", "scan/src", "xtask"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in ROOTS {
        rust_files(&workspace().join(root), &mut out);
    }
    out.sort();
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn every_rust_file_opens_with_a_doc_line_saying_what_it_owns() {
    let missing: Vec<String> = files()
        .into_iter()
        .filter(|p| !std::fs::read_to_string(p).unwrap().starts_with("//! "))
        .map(|p| relative(&p))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line: {missing:?}"
    );
}

#[test]
fn no_logic_file_is_longer_than_600_lines() {
    let long: Vec<String> = files()
        .into_iter()
        .filter_map(|p| {
            let lines = std::fs::read_to_string(&p).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", relative(&p)))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn every_module_directory_is_in_the_code_map() {
    let map = std::fs::read_to_string(workspace().join("docs/architecture.md")).unwrap();
    let mut dirs = Vec::new();
    for root in ROOTS {
        let mut stack = vec![workspace().join(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path.clone());
                    dirs.push(format!("`{}/`", relative(&path)));
                }
            }
        }
    }
    dirs.sort();
    let missing: Vec<&String> = dirs
        .iter()
        .filter(|d| {
            !map.lines()
                .any(|line| line.starts_with("### ") && line.contains(d.as_str()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "module directories without a `### ` heading in docs/architecture.md: {missing:?}"
    );
}

/// Issue 9, item 6: the server's SQL lives behind its store; handlers never name `sqlx`.
#[test]
fn only_the_server_store_uses_sqlx() {
    let store = workspace().join("runtime/src/server/store");
    let offenders: Vec<String> = files()
        .into_iter()
        .filter(|p| p.starts_with(workspace().join("runtime/src/server")) && !p.starts_with(&store))
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("sqlx"))
        .map(|p| relative(&p))
        .collect();
    assert!(
        offenders.is_empty(),
        "server files that use sqlx outside server/store/: {offenders:?}"
    );
}

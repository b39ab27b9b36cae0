//! `palisade upgrade` and `palisade check` on the two-version fixture template: every merge rule, the index, the report, the exit codes and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{scratch, tree, workspace};

/// The fixture catalog: `fixture` 0.1.0 and 0.2.0.
pub(crate) fn catalog() -> PathBuf {
    workspace().join("tests/fixtures/catalog")
}

/// Runs `palisade` with the fixture catalog.
pub(crate) fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .current_dir(cwd)
        .env("CI", "true")
        .env("PALISADE_CATALOG", catalog())
        .output()
        .expect("run palisade")
}

/// Runs real git in `dir` with a fixed identity; panics on failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@localhost"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fixture project at `version`, committed.
fn generate(name: &str, version: &str, extra: &[&str]) -> PathBuf {
    let parent = scratch(name);
    let dir = parent.join("demo");
    let mut args = vec![
        "new",
        "demo",
        "--template",
        "fixture",
        "--template-version",
        version,
        "--yes",
        "--output",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&parent, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// The user's edits of the fixture project, one per rule, committed.
fn edit_like_a_user(dir: &Path) {
    edit(
        dir,
        "src/user_edited.rs",
        "LIMIT: u32 = 10",
        "LIMIT: u32 = 99",
    );
    edit(
        dir,
        "src/both_clean.rs",
        "clean line 10\n",
        "clean line 10, mine\n",
    );
    edit(
        dir,
        "src/both_conflict.rs",
        "conflict line 3\n",
        "conflict line 3, mine\n",
    );
    edit(
        dir,
        "src/removed_edited.rs",
        "edited by the user",
        "edited by the user: yes",
    );
    edit(
        dir,
        "src/old_name.rs",
        "renamed line 7\n",
        "renamed line 7, mine\n",
    );
    std::fs::remove_file(dir.join("docs/deleted.md")).unwrap();
    std::fs::remove_file(dir.join("docs/deleted_unchanged.md")).unwrap();
    edit(
        dir,
        "Cargo.toml",
        "serde = \"1.0\"\n",
        "# serde: keep in step with the API crate\nserde = \"1.0\"\nanyhow = \"1\" # ours\n",
    );
    std::fs::write(dir.join("src/own.rs"), "// the user's own file\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "user edits"]);
}

#[test]
fn upgrade_applies_every_rule_and_leaves_conflicts_unmerged_in_the_index() {
    let dir = generate("rules", "0.1.0", &[]);
    edit_like_a_user(&dir);

    let out = run(&dir, &["upgrade", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {report}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(report["from"], "0.1.0");
    assert_eq!(report["to"], "0.2.0");
    assert_eq!(report["applied"], true);
    assert_eq!(list("taken"), ["src/untouched.rs"]);
    assert_eq!(list("kept"), ["src/user_edited.rs"]);
    assert_eq!(
        list("merged"),
        ["Cargo.toml", "src/both_clean.rs", "src/new_name.rs"]
    );
    assert_eq!(
        list("conflicted"),
        ["docs/deleted.md", "src/both_conflict.rs"]
    );
    assert_eq!(list("added"), ["src/added.rs"]);
    assert_eq!(list("removed"), ["src/removed_untouched.rs"]);
    assert_eq!(list("renamed"), ["src/old_name.rs -> src/new_name.rs"]);
    let notices = list("notices").join("\n");
    assert!(
        notices.contains("docs/deleted.md: you deleted it and the template changed it; the new version is back for review"),
        "{notices}"
    );
    assert!(
        notices.contains("src/removed_edited.rs: the template removed it and you changed it"),
        "{notices}"
    );

    // A line changed in a file the user never touched.
    assert!(read(&dir, "src/untouched.rs").contains("\"hola\""));
    // The user's edit, the template untouched.
    assert!(read(&dir, "src/user_edited.rs").contains("LIMIT: u32 = 99"));
    // Both, in different places.
    let clean = read(&dir, "src/both_clean.rs");
    assert!(
        clean.contains("clean line 2 changed by the template\n")
            && clean.contains("clean line 10, mine\n"),
        "{clean}"
    );
    // Both, in the same place: markers with both sides.
    let conflict = read(&dir, "src/both_conflict.rs");
    assert!(conflict.contains("<<<<<<< yours\nconflict line 3, mine\n=======\nconflict line 3 as the template has it\n>>>>>>> template fixture 0.2.0\n"), "{conflict}");
    // New, removed (untouched), kept (edited), renamed with both edits, deleted stays deleted.
    assert_eq!(read(&dir, "src/added.rs"), "//! New in 0.2.0.\n");
    assert!(!dir.join("src/removed_untouched.rs").exists());
    assert!(read(&dir, "src/removed_edited.rs").contains("edited by the user: yes"));
    assert!(!dir.join("src/old_name.rs").exists());
    let renamed = read(&dir, "src/new_name.rs");
    assert!(
        renamed.contains("renamed line 2 changed by the template\n")
            && renamed.contains("renamed line 7, mine\n"),
        "{renamed}"
    );
    // Deleted by the user, changed by the template: a modify/delete conflict with the new version
    // in the tree; unchanged by the template: stays deleted.
    assert!(read(&dir, "docs/deleted.md").contains("version two"));
    assert!(!dir.join("docs/deleted_unchanged.md").exists());
    assert_eq!(read(&dir, "src/own.rs"), "// the user's own file\n");
    // Cargo.toml: the template's bump beside the user's dependency and comments; the record moved.
    let manifest = read(&dir, "Cargo.toml");
    assert!(
        manifest.contains(
            "# serde: keep in step with the API crate\nserde = \"1.0.200\"\nanyhow = \"1\" # ours\n"
        ),
        "{manifest}"
    );
    assert!(
        manifest.contains("template-version = \"0.2.0\""),
        "{manifest}"
    );

    // git sees the conflict: unmerged, stages 1, 2 and 3 holding base, ours and theirs.
    let status = git(&dir, &["status", "--porcelain"]);
    assert!(
        status.lines().any(|l| l == "UU src/both_conflict.rs"),
        "{status}"
    );
    assert!(
        status.lines().any(|l| l == "DU docs/deleted.md"),
        "{status}"
    );
    let stages = git(&dir, &["ls-files", "--unmerged", "src/both_conflict.rs"]);
    let stage_numbers: Vec<&str> = stages
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(stage_numbers, ["1", "2", "3"], "{stages}");
    assert_eq!(
        git(&dir, &["show", ":1:src/both_conflict.rs"])
            .lines()
            .nth(2),
        Some("conflict line 3")
    );
    assert_eq!(
        git(&dir, &["show", ":2:src/both_conflict.rs"])
            .lines()
            .nth(2),
        Some("conflict line 3, mine")
    );
    assert_eq!(
        git(&dir, &["show", ":3:src/both_conflict.rs"])
            .lines()
            .nth(2),
        Some("conflict line 3 as the template has it")
    );
    // Nothing left behind.
    let leftovers: Vec<_> = tree(&dir)
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().contains(".palisade-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Resolved and committed, the project is current and passes check.
    std::fs::write(dir.join("src/both_conflict.rs"), "resolved\n").unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "upgrade to fixture 0.2.0"]);
    let check = run(&dir, &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    let dir = generate("dry", "0.1.0", &[]);
    edit_like_a_user(&dir);
    let before = tree(&dir);
    let index_before = std::fs::read(dir.join(".git/index")).unwrap();
    let out = run(&dir, &["upgrade", "--dry-run"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a conflict would be left: {}",
        stderr(&out)
    );
    let diff = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        diff.contains("-const GREETING: &str = \"hello\";\n+const GREETING: &str = \"hola\";"),
        "{diff}"
    );
    assert!(diff.contains("+<<<<<<< yours"), "{diff}");
    assert!(stderr(&out).contains("Dry run"), "{}", stderr(&out));
    assert_eq!(tree(&dir), before);
    assert_eq!(std::fs::read(dir.join(".git/index")).unwrap(), index_before);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}

#[test]
fn a_clean_upgrade_exits_zero_and_an_upgrade_to_the_same_version_changes_nothing() {
    let dir = generate("clean", "0.1.0", &[]);
    edit(&dir, "src/user_edited.rs", "10", "11");
    git(&dir, &["commit", "-qam", "edit"]);
    let before = tree(&dir);
    let same = run(&dir, &["upgrade", "--to", "0.1.0"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(tree(&dir), before);

    let out = run(&dir, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(read(&dir, "src/user_edited.rs").contains("LIMIT: u32 = 11"));
    assert!(read(&dir, "src/untouched.rs").contains("hola"));
    assert!(git(&dir, &["ls-files", "--unmerged"]).is_empty());
}

#[test]
fn a_define_switches_an_answer_through_the_upgrade() {
    let dir = generate("define", "0.1.0", &[]);
    let out = run(&dir, &["upgrade", "--define", "flavour=fancy", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        read(&dir, "src/fancy.rs"),
        "//! Only with flavour = fancy.\n"
    );
    assert!(read(&dir, "Cargo.toml").contains("flavour = \"fancy\""));
    let bad = run(
        &dir,
        &["upgrade", "--allow-dirty", "--define", "flavour=gaudy"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("gaudy"), "{}", stderr(&bad));
}

#[test]
fn bad_input_is_refused_with_exit_2_and_nothing_changed() {
    // A dirty tree, then the same with --allow-dirty.
    let dir = generate("dirty", "0.1.0", &[]);
    edit(
        &dir,
        "src/user_edited.rs",
        "LIMIT: u32 = 10",
        "LIMIT: u32 = 12",
    );
    let before = tree(&dir);
    let out = run(&dir, &["upgrade"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("uncommitted changes (src/user_edited.rs)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(&dir), before);
    let allowed = run(&dir, &["upgrade", "--allow-dirty", "--json"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert!(read(&dir, "src/user_edited.rs").contains("LIMIT: u32 = 12"));
    assert!(read(&dir, "src/untouched.rs").contains("hola"));

    // A recorded version that never existed.
    let dir = generate("unknown-version", "0.1.0", &[]);
    edit(
        &dir,
        "Cargo.toml",
        "template-version = \"0.1.0\"",
        "template-version = \"0.0.7\"",
    );
    git(&dir, &["commit", "-qam", "tamper"]);
    let before = tree(&dir);
    let out = run(&dir, &["upgrade"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("template fixture has no version 0.0.7 (known: 0.1.0, 0.2.0)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(&dir), before);

    // A downgrade.
    let dir = generate("downgrade", "0.2.0", &[]);
    let out = run(&dir, &["upgrade", "--to", "0.1.0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("downgrades are not supported"),
        "{}",
        stderr(&out)
    );

    // No record at all.
    let dir = generate("no-metadata", "0.1.0", &[]);
    let manifest = read(&dir, "Cargo.toml");
    let start = manifest.find("[package.metadata.palisade]").unwrap();
    let end = manifest.find("[dependencies]").unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("{}{}", &manifest[..start], &manifest[end..]),
    )
    .unwrap();
    git(&dir, &["commit", "-qam", "drop the record"]);
    let before = tree(&dir);
    let out = run(&dir, &["upgrade"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has no [package.metadata.palisade] table"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(&dir), before);

    // Not a git repository.
    let dir = generate("no-git", "0.1.0", &["--no-git"]);
    let before = tree(&dir);
    let out = run(&dir, &["upgrade"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not in a git repository"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(&dir), before);

    // Not a project.
    let empty = scratch("empty");
    git(&empty, &["init", "-q"]);
    let out = run(&empty, &["upgrade"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has no Cargo.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_reports_drift_missing_wiring_and_a_missing_record() {
    let dir = generate("check", "0.1.0", &[]);
    let out = run(&dir, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["template"], "fixture 0.1.0");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["findings"][0]["kind"], "drift");

    let current = generate("check-current", "0.2.0", &[]);
    let out = run(&current, &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    edit(
        &current,
        "src/lib.rs",
        "SecurityStack::new(",
        "Router::new(",
    );
    std::fs::remove_file(current.join("policies/app.cedar")).unwrap();
    let out = run(&current, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("wiring: the security stack is missing: no file at src matches"),
        "{text}"
    );
    assert!(
        text.contains("wiring: a Cedar policy is missing: no file at policies ending in .cedar"),
        "{text}"
    );

    std::fs::write(
        current.join("Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n",
    )
    .unwrap();
    let out = run(&current, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("metadata: ")
            && stderr(&out).contains("no [package.metadata.palisade] table"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_cargo_toml_key_changed_by_both_is_a_conflict_and_the_manifest_is_reported() {
    let dir = generate("cargo-conflict", "0.1.0", &[]);
    edit(&dir, "Cargo.toml", "serde = \"1.0\"", "serde = \"1.0.150\"");
    git(&dir, &["commit", "-qam", "pin serde"]);
    let out = run(&dir, &["upgrade", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["conflicted"],
        serde_json::json!(["Cargo.toml"]),
        "{report}"
    );
    assert!(
        report["notices"][0]
            .as_str()
            .unwrap()
            .contains("both changed dependencies.serde"),
        "{report}"
    );
    assert!(
        report["manifest_error"]
            .as_str()
            .unwrap()
            .contains("cargo metadata failed"),
        "{report}"
    );
    let manifest = read(&dir, "Cargo.toml");
    assert!(
        manifest.contains("<<<<<<< yours\nserde = \"1.0.150\"\n=======\nserde = \"1.0.200\"\n>>>>>>> template fixture 0.2.0\n"),
        "{manifest}"
    );
    assert!(git(&dir, &["status", "--porcelain"]).contains("UU Cargo.toml"));
}

/// A migration never overwrites a file the user already has at the new path.
#[test]
fn a_rename_onto_an_existing_user_file_moves_nothing() {
    let dir = generate("rename-collision", "0.1.0", &[]);
    std::fs::write(
        dir.join("src/new_name.rs"),
        "// the user's own new_name.rs\n",
    )
    .unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "own file"]);
    let out = run(&dir, &["upgrade", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["notices"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("src/old_name.rs: not moved to src/new_name.rs, which exists")),
        "{report}"
    );
    assert_eq!(read(&dir, "src/old_name.rs"), read(&dir, "src/old_name.rs"));
    assert!(dir.join("src/old_name.rs").exists());
    let new_name = read(&dir, "src/new_name.rs");
    assert!(
        new_name.contains("// the user's own new_name.rs"),
        "{new_name}"
    );
}

/// `check` on the real `service` template: its own wiring declarations find a fresh project whole,
/// and each removal is named.
#[test]
fn check_finds_removed_wiring_in_a_service_project() {
    let parent = scratch("check-service");
    let out = crate::support::palisade(&parent, &["new", "svc", "--runtime-version", "0.1.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = parent.join("svc");
    let ok = crate::support::palisade(&dir, &["check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));

    let manifest = read(&dir, "Cargo.toml");
    let start =
        manifest.find("[dependencies]\npalisade-runtime").unwrap() + "[dependencies]\n".len();
    let end = start + manifest[start..].find('\n').unwrap() + 1;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("{}{}", &manifest[..start], &manifest[end..]),
    )
    .unwrap();
    edit(
        &dir,
        "src/app.rs",
        "let stack = SecurityStack::new(",
        "// let stack = SecurityStack::new(",
    );
    std::fs::remove_file(dir.join("policies/schema.cedarschema")).unwrap();
    let out = crate::support::palisade(&dir, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["kind"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(findings.len(), 3, "{findings:#?}");
    assert!(
        findings[0].starts_with("wiring: the palisade-runtime dependency is missing"),
        "{findings:#?}"
    );
    assert!(
        findings[1].starts_with("wiring: the canonical security stack in the router is missing"),
        "{findings:#?}"
    );
    assert!(
        findings[2].starts_with("wiring: the Cedar policy schema is missing"),
        "{findings:#?}"
    );
}

/// Every released version of every embedded template, generated and left unedited, upgrades to
/// the newest version cleanly, and the result is byte for byte what `palisade new` makes at the
/// newest version (so no earlier release is stranded).
#[test]
fn every_released_version_upgrades_cleanly_to_the_newest() {
    let catalog = palisade::template::Catalog::embedded().unwrap();
    let runtime = workspace().join("runtime");
    let runtime = runtime.to_str().unwrap();
    let mut failures = Vec::new();
    for newest in catalog.newest_all() {
        let id = newest.id();
        let fresh_dir = crate::support::scratch(&format!("upgrade-all-{id}-newest"));
        let out = crate::support::palisade(
            &fresh_dir,
            &[
                "new",
                "svc",
                "--template",
                id,
                "--runtime-path",
                runtime,
                "--yes",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let fresh = files_of(&fresh_dir.join("svc"));
        for template in catalog.versions(id).unwrap() {
            let version = template.version().to_string();
            if template.version() == newest.version() {
                continue;
            }
            let dir = crate::support::scratch(&format!("upgrade-all-{id}-{version}"));
            let out = crate::support::palisade(
                &dir,
                &[
                    "new",
                    "svc",
                    "--template",
                    id,
                    "--template-version",
                    &version,
                    "--runtime-path",
                    runtime,
                    "--yes",
                ],
            );
            assert!(out.status.success(), "{}", stderr(&out));
            let project = dir.join("svc");
            let out = crate::support::palisade(&project, &["upgrade", "--json"]);
            if out.status.code() != Some(0) {
                failures.push(format!(
                    "{id} {version}: exit {:?}: {}",
                    out.status.code(),
                    stderr(&out)
                ));
                continue;
            }
            let upgraded = files_of(&project);
            if upgraded != fresh {
                let differ: Vec<&String> = upgraded
                    .keys()
                    .chain(fresh.keys())
                    .filter(|p| upgraded.get(*p) != fresh.get(*p))
                    .collect();
                failures.push(format!(
                    "{id} {version}: differs from a new project in {differ:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every file of a project but git's own and `Cargo.lock` (cargo's, not the template's: `new`
/// generates it for the first commit, `upgrade` leaves it to cargo), by path.
fn files_of(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|n| n == ".git" || n == "Cargo.lock")
            {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

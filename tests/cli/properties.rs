//! Property tests of the upgrade merge: for random user edits and random template changes, no user edit is lost (it is in the result or inside a conflict region), and an upgrade to the same version changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use palisade::git::{Labels, Merger};
use proptest::prelude::*;

use crate::support::{scratch, tree};
use crate::upgrade::git;

/// What one side does to one base line.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Keep,
    Replace,
    Delete,
    InsertAfter,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => Just(Edit::Keep),
        2 => Just(Edit::Replace),
        1 => Just(Edit::Delete),
        2 => Just(Edit::InsertAfter),
    ]
}

/// A base file and two edit scripts over it.
fn case() -> impl Strategy<Value = (usize, Vec<Edit>, Vec<Edit>)> {
    (1usize..30).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec(edit(), n),
            prop::collection::vec(edit(), n),
        )
    })
}

fn base_lines(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("base {i}")).collect()
}

/// Applies `edits` to the base; returns the lines and the lines this side introduced and removed.
fn apply(side: &str, n: usize, edits: &[Edit]) -> (String, Vec<String>, Vec<String>) {
    let mut out = String::new();
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    for (i, (line, e)) in base_lines(n).into_iter().zip(edits).enumerate() {
        match e {
            Edit::Keep => out.push_str(&format!("{line}\n")),
            Edit::Replace => {
                let new = format!("{side} replaced {i}");
                out.push_str(&format!("{new}\n"));
                added.push(new);
                removed.push(line);
            }
            Edit::Delete => removed.push(line),
            Edit::InsertAfter => {
                let new = format!("{side} inserted {i}");
                out.push_str(&format!("{line}\n{new}\n"));
                added.push(new);
            }
        }
    }
    (out, added, removed)
}

/// The lines of `merged` outside and inside conflict regions.
fn regions(merged: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut outside, mut inside) = (Vec::new(), Vec::new());
    let mut in_conflict = false;
    for line in merged.lines() {
        if line.starts_with("<<<<<<< ") {
            in_conflict = true;
        } else if line.starts_with(">>>>>>> ") {
            in_conflict = false;
        } else if line == "=======" {
        } else if in_conflict {
            inside.push(line);
        } else {
            outside.push(line);
        }
    }
    (outside, inside)
}

/// The property itself: every line the user added is in the result; every base line the user
/// removed is gone outside conflict regions; the same holds for the template's side.
fn assert_nothing_lost(
    merged: &str,
    ours: &(String, Vec<String>, Vec<String>),
    theirs: &(String, Vec<String>, Vec<String>),
) -> Result<(), TestCaseError> {
    let (outside, inside) = regions(merged);
    for (name, side) in [("user", ours), ("template", theirs)] {
        for line in &side.1 {
            prop_assert!(
                outside.contains(&line.as_str()) || inside.contains(&line.as_str()),
                "{name} line {line:?} lost:\n{merged}"
            );
        }
        for line in &side.2 {
            prop_assert!(
                !outside.contains(&line.as_str()),
                "{name} removed {line:?}, and it is back outside any conflict:\n{merged}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_line_merge_never_loses_an_edit((n, user, template) in case()) {
        let base = apply("base", n, &vec![Edit::Keep; n]).0;
        let ours = apply("user", n, &user);
        let theirs = apply("template", n, &template);
        let merger = Merger::new().unwrap();
        let labels = Labels { base: "base", ours: "yours", theirs: "template" };
        let merged = merger
            .merge(Path::new("f.txt"), base.as_bytes(), ours.0.as_bytes(), theirs.0.as_bytes(), labels)
            .unwrap();
        let text = String::from_utf8(merged.contents).unwrap();
        assert_nothing_lost(&text, &ours, &theirs)?;
        prop_assert_eq!(merged.conflicted, text.contains("<<<<<<< yours\n"));
    }
}

/// A catalog with template `prop` in two versions whose `src/file.txt` holds `v1` and `v2`.
fn catalog(v1: &str, v2: &str) -> PathBuf {
    let root = scratch("prop-catalog");
    for (version, text) in [("0.1.0", v1), ("0.2.0", v2)] {
        let dir = root.join("prop").join(version);
        std::fs::create_dir_all(dir.join("files/src")).unwrap();
        std::fs::write(
            dir.join("template.toml"),
            format!("[template]\nid = \"prop\"\nversion = \"{version}\"\ndescription = \"property test\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("files/Cargo.toml.tera"),
            "[package]\nname = \"{{ name }}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(dir.join("files/src/lib.rs"), "//! Property test.\n").unwrap();
        std::fs::write(dir.join("files/src/file.txt"), text).unwrap();
    }
    root
}

fn palisade(catalog: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .current_dir(cwd)
        .env("CI", "true")
        .env("PALISADE_CATALOG", catalog)
        .output()
        .unwrap()
}

proptest! {
    // Each case generates a project, commits, edits and upgrades it with the real binary and git.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn an_upgrade_never_loses_an_edit_and_the_same_version_changes_nothing((n, user, template) in case()) {
        let base = apply("base", n, &vec![Edit::Keep; n]).0;
        let ours = apply("user", n, &user);
        let theirs = apply("template", n, &template);
        let catalog = catalog(&base, &theirs.0);
        let parent = scratch("prop-project");
        let out = palisade(&catalog, &parent, &["new", "demo", "-t", "prop", "--template-version", "0.1.0", "--yes"]);
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let dir = parent.join("demo");
        std::fs::write(dir.join("src/file.txt"), &ours.0).unwrap();
        git(&dir, &["commit", "--allow-empty", "-qam", "user edits"]);

        let before = tree(&dir);
        let same = palisade(&catalog, &dir, &["upgrade", "--to", "0.1.0"]);
        prop_assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stderr));
        prop_assert!(tree(&dir) == before, "an upgrade to the recorded version changed the tree");

        let out = palisade(&catalog, &dir, &["upgrade"]);
        let merged = std::fs::read_to_string(dir.join("src/file.txt")).unwrap();
        let conflicted = merged.contains("<<<<<<< yours\n");
        prop_assert_eq!(out.status.code(), Some(u8::from(conflicted).into()), "{}", String::from_utf8_lossy(&out.stderr));
        assert_nothing_lost(&merged, &ours, &theirs)?;
    }
}

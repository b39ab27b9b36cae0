//! The same template version and answers give the same bytes, wherever and whenever they are rendered.

use crate::support::{palisade, scratch, tree};

#[test]
fn two_renders_in_different_folders_are_byte_identical() {
    let args = [
        "new",
        "billing",
        "--no-git",
        "--runtime-version",
        "0.1.0",
        "--define",
        "database=postgres",
        "--define",
        "resource=invoices",
    ];
    let a = scratch("det-a");
    let b = scratch("det-b").join("nested");
    std::fs::create_dir_all(&b).unwrap();
    assert!(palisade(&a, &args).status.success());
    assert!(palisade(&b, &args).status.success());
    let (ta, tb) = (tree(&a.join("billing")), tree(&b.join("billing")));
    assert!(ta.len() > 15);
    assert_eq!(ta, tb);
    assert!(
        ta.iter().any(|(p, _)| p.ends_with("src/invoices.rs")),
        "paths are templated"
    );
}

#[test]
fn the_first_commit_holds_every_file() {
    let dir = scratch("git");
    let runtime = crate::support::workspace().join("runtime");
    let runtime = runtime.to_str().unwrap();
    let out = palisade(&dir, &["new", "ledger", "--runtime-path", runtime]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::process::Command::new("git")
        .args(["log", "--format=%s", "--name-only"])
        .current_dir(dir.join("ledger"))
        .output()
        .unwrap();
    let log = String::from_utf8(log.stdout).unwrap();
    let newest = palisade::template::Catalog::embedded().unwrap();
    let newest = newest.newest("service").unwrap().version().clone();
    assert!(
        log.starts_with(&format!(
            "Generate ledger from palisade template service {newest}"
        )),
        "{log}"
    );
    for file in tree(&dir.join("ledger")) {
        assert!(
            log.contains(&file.0.display().to_string()),
            "{} is committed",
            file.0.display()
        );
    }
    assert!(
        log.lines().any(|l| l == "Cargo.lock"),
        "Cargo.lock is in the first commit, so CI can build with --locked: {log}"
    );
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(dir.join("ledger"))
        .output()
        .unwrap();
    assert!(
        status.stdout.is_empty(),
        "the tree is clean after the first commit"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cd ledger") && stderr.contains("cargo test"),
        "the next two commands are shown: {stderr}"
    );
}

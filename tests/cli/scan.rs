//! `palisade scan` over real trees, and the scan `palisade new` runs over its rendered plan before writing: exit codes, redaction, nothing written when a secret is rendered.

use crate::support::{palisade, scratch, workspace};

const SECRET: &str = "ghp_R8tY2uI5oP9aS3dF7gH1jK4lZ6xC0vB2nM8q";

#[test]
fn scan_exits_1_on_a_finding_0_on_a_clean_tree_and_never_prints_the_secret() {
    let dir = scratch("scan-tree");
    std::fs::create_dir_all(dir.join("clean")).unwrap();
    std::fs::write(dir.join("clean/lib.rs"), "pub fn f() {}\n").unwrap();
    std::fs::create_dir_all(dir.join("leaky/.github")).unwrap();
    std::fs::write(
        dir.join("leaky/.github/deploy.yml"),
        format!("env:\n  GITHUB_TOKEN: {SECRET}\n"),
    )
    .unwrap();

    let clean = palisade(&dir, &["scan", "clean"]);
    assert_eq!(clean.status.code(), Some(0), "{clean:?}");
    let leaky = palisade(&dir, &["scan", "leaky"]);
    assert_eq!(leaky.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&leaky.stdout);
    assert!(
        stdout.contains(".github/deploy.yml:2:17: github-token: ghp_"),
        "{stdout}"
    );
    let json = palisade(&dir, &["scan", "leaky", "--json"]);
    let text = String::from_utf8_lossy(&json.stdout);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["findings"][0]["rule"], "github-token");
    for output in [&leaky, &json] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!all.contains(SECRET), "the secret was printed: {all}");
    }
    let missing = palisade(&dir, &["scan", "no-such-folder"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-folder"));
}

#[test]
fn new_with_a_secret_as_an_answer_writes_nothing_and_exits_2() {
    let dir = scratch("scan-new");
    let out = palisade(
        &dir,
        &[
            "new",
            "platform",
            "--template",
            "control-plane",
            "--yes",
            "--no-git",
            "--define",
            &format!("description=Deploys with {SECRET}"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("github-token") && stderr.contains("README.md"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(!dir.join("platform").exists(), "nothing was written");
}

#[test]
fn every_template_in_the_repository_is_free_of_secrets() {
    let out = palisade(&workspace(), &["scan", "templates"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A template version that would bring a secret in stops the upgrade before it writes anything;
/// `palisade check` reports a secret already in the project.
#[test]
fn upgrade_refuses_a_version_that_renders_a_secret_and_check_reports_secrets() {
    let dir = scratch("scan-upgrade");
    let catalog = dir.join("catalog");
    copy_tree(&workspace().join("tests/fixtures/catalog"), &catalog);
    std::fs::write(
        catalog.join("fixture/0.2.0/files/docs/deploy.md"),
        format!("Deploy with `GITHUB_TOKEN={SECRET}`.\n"),
    )
    .unwrap();
    let run = |cwd: &std::path::Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(args)
            .current_dir(cwd)
            .env("PALISADE_CATALOG", &catalog)
            .env("CI", "true")
            .output()
            .unwrap()
    };
    let project = dir.join("demo");
    let out = run(
        &dir,
        &[
            "new",
            "demo",
            "--template",
            "fixture",
            "--template-version",
            "0.1.0",
            "--yes",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = crate::support::tree(&project);
    let out = run(&project, &["upgrade"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("docs/deploy.md") && stderr.contains("github-token"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET));
    assert_eq!(crate::support::tree(&project), before, "nothing changed");

    std::fs::write(project.join("notes.txt"), format!("token {SECRET}\n")).unwrap();
    let out = run(&project, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secrets: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "secret")
        .collect();
    assert_eq!(secrets.len(), 1, "{report}");
    assert!(
        secrets[0]["message"]
            .as_str()
            .unwrap()
            .contains("notes.txt:1:7: github-token")
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The paths of the findings of a `scan --json` run.
fn finding_paths(out: &std::process::Output) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

/// `--staged` sees what `git commit` would record: a secret staged and then removed from the
/// working tree is found; one only in the working tree is not.
#[test]
fn staged_scans_the_index_not_the_working_tree() {
    let dir = scratch("scan-staged");
    git(&dir, &["init", "-q"]);
    std::fs::write(dir.join("staged.env"), format!("TOKEN={SECRET}\n")).unwrap();
    git(&dir, &["add", "staged.env"]);
    std::fs::write(dir.join("staged.env"), "TOKEN=env://TOKEN\n").unwrap();
    std::fs::write(dir.join("unstaged.yml"), format!("token: {SECRET}\n")).unwrap();
    let out = palisade(&dir, &["scan", "--staged", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(finding_paths(&out), ["staged.env"]);
    // The working tree scan sees the unstaged file and not the staged contents.
    let out = palisade(&dir, &["scan", "--json"]);
    assert_eq!(finding_paths(&out), ["unstaged.yml"]);
    let outside = palisade(&scratch("scan-no-repo"), &["scan", "--staged"]);
    assert_eq!(outside.status.code(), Some(2), "outside a repository");
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log_without_the_secret() {
    let dir = scratch("scan-sarif");
    std::fs::write(dir.join("deploy.sh"), format!("export GH={SECRET}\n")).unwrap();
    let out = palisade(&dir, &["scan", "--sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(SECRET));
    let log: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "github-token");
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "github-token");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "deploy.sh"
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    assert_eq!(
        result["partialFingerprints"]["palisadeSecret/v1"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

/// `--history` finds a secret that was committed and removed in a later commit; the working tree
/// no longer holds it.
#[test]
fn history_finds_a_secret_added_and_removed_in_an_earlier_commit() {
    let dir = scratch("scan-history");
    git(&dir, &["init", "-q"]);
    std::fs::write(dir.join("deploy.yml"), format!("token: {SECRET}\n")).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "add deploy"]);
    std::fs::write(dir.join("deploy.yml"), "token: env://DEPLOY_TOKEN\n").unwrap();
    git(&dir, &["commit", "-q", "-am", "use a reference"]);
    let now = palisade(&dir, &["scan"]);
    assert_eq!(now.status.code(), Some(0), "the working tree is clean");
    let out = palisade(&dir, &["scan", "--history", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    let path = findings[0]["path"].as_str().unwrap();
    assert!(
        path.ends_with(":deploy.yml") && path.len() == 12 + 1 + 10,
        "{path}"
    );
    assert_eq!(report["files"], 2, "each distinct blob once");
}

#[test]
fn a_baseline_accepts_known_findings_and_new_ones_still_fail() {
    let dir = scratch("scan-baseline");
    std::fs::create_dir_all(dir.join("repo")).unwrap();
    std::fs::write(dir.join("repo/old.env"), format!("GITHUB_TOKEN={SECRET}\n")).unwrap();
    let baseline = dir.join("baseline.json");
    let baseline = baseline.to_str().unwrap();

    let written = palisade(&dir, &["scan", "repo", "--write-baseline", baseline]);
    assert_eq!(written.status.code(), Some(0), "{written:?}");
    let text = std::fs::read_to_string(dir.join("baseline.json")).unwrap();
    assert!(
        text.contains("\"rule\": \"github-token\"") && !text.contains(SECRET),
        "{text}"
    );

    let known = palisade(&dir, &["scan", "repo", "--baseline", baseline, "--json"]);
    assert_eq!(known.status.code(), Some(0), "{known:?}");
    let report: serde_json::Value = serde_json::from_slice(&known.stdout).unwrap();
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(
        report["suppressed"][0]["reason"], "in the baseline",
        "{report}"
    );

    // The same secret in another file, and another secret, are new.
    let other = "aws_access_key_id = AKIAQ3EGRTY5JKLMN2OP";
    std::fs::write(
        dir.join("repo/new.env"),
        format!("GITHUB_TOKEN={SECRET}\n{other}\n"),
    )
    .unwrap();
    let new = palisade(&dir, &["scan", "repo", "--baseline", baseline, "--json"]);
    assert_eq!(new.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&new.stdout).unwrap();
    let paths: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["new.env", "new.env"], "{report}");

    std::fs::write(
        dir.join("baseline.json"),
        "{\"version\": 7, \"findings\": []}",
    )
    .unwrap();
    let refused = palisade(&dir, &["scan", "repo", "--baseline", baseline]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("baseline.json") && stderr.contains("version 7"),
        "{stderr}"
    );
}

/// The repository's own secrets are the scanner's synthetic examples and test fixtures, each
/// reviewed and listed in `scan-baseline.json`; anything else fails here.
#[test]
fn the_repository_holds_no_secret_but_its_baselined_examples() {
    let root = workspace();
    let out = palisade(&root, &["scan", ".", "--baseline", "scan-baseline.json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a new secret in the repository: remove it, or review it and run \
         `cargo run -- scan . --write-baseline scan-baseline.json`:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Runs git in `dir`; its output, whatever the exit status.
fn git_output(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap()
}

/// The git hook `palisade new` installs runs `palisade scan --staged` under a real `git commit`:
/// a commit that adds a secret is refused (and names the rule, never the value); one that adds a
/// reference instead goes through. The generated repository carries the same check for
/// pre-commit and CI.
#[test]
fn the_pre_commit_hook_blocks_a_commit_that_adds_a_secret() {
    let dir = scratch("scan-hook");
    let out = palisade(
        &dir,
        &["new", "platform", "--template", "control-plane", "--yes"],
    );
    assert!(out.status.success(), "{out:?}");
    let project = dir.join("platform");
    let hook = project.join(".git/hooks/pre-commit");
    assert!(hook.is_file(), "the hook is installed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&hook).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "the hook is executable");
    }
    let pre_commit = std::fs::read_to_string(project.join(".pre-commit-config.yaml")).unwrap();
    assert!(pre_commit.contains("entry: palisade scan --staged"));
    let ci = std::fs::read_to_string(project.join(".github/workflows/ci.yml")).unwrap();
    assert!(ci.contains("palisade scan --refuse-inline-allows --sarif-file palisade-scan.sarif"));
    assert!(ci.contains("github/codeql-action/upload-sarif@"));

    std::fs::write(project.join("deploy.env"), format!("GH_TOKEN={SECRET}\n")).unwrap();
    git(&project, &["add", "deploy.env"]);
    let refused = git_output(&project, &["commit", "-q", "-m", "Add deployment settings"]);
    assert!(!refused.status.success(), "the hook refused the commit");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(said.contains("deploy.env:1:10: github-token"), "{said}");
    assert!(!said.contains(SECRET), "{said}");
    let log = git_output(&project, &["log", "--oneline"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout).lines().count(), 1);

    std::fs::write(project.join("deploy.env"), "GH_TOKEN=env://GH_TOKEN\n").unwrap();
    git(&project, &["add", "deploy.env"]);
    let accepted = git_output(&project, &["commit", "-q", "-m", "Add deployment settings"]);
    assert!(accepted.status.success(), "{accepted:?}");
}

/// `--refuse-inline-allows` (what generated CI passes) counts a finding that a `palisade:allow`
/// comment suppresses as a finding; without it the comment suppresses, and `--json` lists it with
/// its kind and reason.
#[test]
fn refuse_inline_allows_counts_inline_allows_as_findings() {
    let dir = scratch("scan-inline");
    std::fs::write(
        dir.join("fixture.yml"),
        format!("token: {SECRET} # palisade:allow revoked in 2025, kept for the parser test\n"),
    )
    .unwrap();
    let allowed = palisade(&dir, &["scan", "--json"]);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    let report: serde_json::Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(report["suppressed"][0]["kind"], "inline");
    assert_eq!(
        report["suppressed"][0]["reason"],
        "revoked in 2025, kept for the parser test"
    );
    let refused = palisade(&dir, &["scan", "--json", "--refuse-inline-allows"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(finding_paths(&refused), ["fixture.yml"]);
}

/// `.palisade-scan.toml` at the scanned root: its path allowlist keeps files out of the scan and
/// the report lists each of them; its rules add to the built-in ones; it cannot switch the
/// built-in rules off (exit 2, naming the file).
#[test]
fn a_repository_config_adds_rules_and_allowlists_paths_and_reports_them() {
    let dir = scratch("scan-config");
    std::fs::create_dir_all(dir.join("tests/recorded")).unwrap();
    std::fs::write(
        dir.join("tests/recorded/github.http"),
        format!("Authorization: token {SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("deploy.yml"),
        format!("token: {SECRET}\ninternal: acme_live_Q2w8E4r6T1y3U5i7\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join(".palisade-scan.toml"),
        "[[rules]]\nid = \"acme-key\"\nregex = '''acme_live_[A-Za-z0-9]{16}'''\nkeywords = [\"acme_live_\"]\n\n\
         [[allowlists]]\ndescription = \"recorded fixtures\"\npaths = ['''^tests/recorded/''']\n",
    )
    .unwrap();
    let out = palisade(&dir, &["scan", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["github-token", "acme-key"],
        "built-in and own rules"
    );
    assert_eq!(finding_paths(&out), ["deploy.yml", "deploy.yml"]);
    assert_eq!(
        report["allowlisted"][0]["path"],
        "tests/recorded/github.http"
    );
    assert_eq!(report["allowlisted"][0]["pattern"], "^tests/recorded/");
    let human = palisade(&dir, &["scan"]);
    assert!(
        String::from_utf8_lossy(&human.stderr)
            .contains("not scanned tests/recorded/github.http: path allowlist ^tests/recorded/")
    );

    std::fs::write(
        dir.join(".palisade-scan.toml"),
        "[extend]\nuseDefault = false\n",
    )
    .unwrap();
    let refused = palisade(&dir, &["scan"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(".palisade-scan.toml") && stderr.contains("useDefault"),
        "{stderr}"
    );
}

/// `--sarif-file` writes the SARIF log for an upload step and still prints the findings.
#[test]
fn sarif_file_writes_the_log_and_the_report_still_prints() {
    let dir = scratch("scan-sarif-file");
    std::fs::write(dir.join("deploy.sh"), format!("export GH={SECRET}\n")).unwrap();
    let out = palisade(&dir, &["scan", "--sarif-file", "deploy.sh/scan.sarif"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unwritable place is an error"
    );
    let out = palisade(&dir, &["scan", "--sarif-file", "out/scan.sarif"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deploy.sh:1:11: github-token"));
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/scan.sarif")).unwrap())
            .unwrap();
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "github-token");
}

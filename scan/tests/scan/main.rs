//! The scanner through its public API: every built-in rule against its own true and false examples, references and placeholders, inline suppression, gitleaks rule files, tree walks.

use std::io::Write as _;

use palisade_scan::{RuleSet, Scanner, scan_tree};

fn builtin() -> Scanner {
    Scanner::builtin()
}

/// Every built-in rule finds each of its true examples and none of its false ones; all failing
/// rows are reported at once.
#[test]
fn every_builtin_rule_finds_its_true_examples_and_not_its_false_ones() {
    let scanner = builtin();
    let mut wrong = Vec::new();
    for id in scanner.rules().ids() {
        let examples = scanner.rules().examples(id).unwrap();
        // Rules limited to some paths are tried on a path they apply to.
        let path = if id == "generic-env-assignment" {
            ".env"
        } else {
            "example.txt"
        };
        if examples.found.is_empty() || examples.not_found.is_empty() {
            wrong.push(format!("{id}: needs true and false examples"));
        }
        for text in &examples.found {
            let report = scanner.scan_text(path, text);
            if !report.findings.iter().any(|f| f.rule == id) {
                wrong.push(format!(
                    "{id}: missed {text:?} (found {:?})",
                    report.findings
                ));
            }
        }
        for text in &examples.not_found {
            let report = scanner.scan_text(path, text);
            if let Some(f) = report.findings.iter().find(|f| f.rule == id) {
                wrong.push(format!("{id}: false positive in {text:?}: {f:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong rows:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn secret_references_and_placeholders_are_never_findings() {
    let scanner = builtin();
    let texts = [
        "password = \"keyvault://prod-vault/db-password\"",
        "client_secret = \"@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/s/)\"",
        "token = \"env://API_TOKEN\"",
        "api_key = \"file:///run/secrets/api-key\"",
        "password = \"${DATABASE_PASSWORD}\"",
        "secret = \"{{ secret_value }}\"",
        "password = \"<your password>\"",
        "api_key = \"xxxxxxxxxxxxxxxxxxxx\"",
        "password = \"changeme-please-now\"",
    ];
    let found: Vec<_> = texts
        .iter()
        .flat_map(|t| scanner.scan_text("config.toml", t).findings)
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_finding_names_file_line_column_and_rule_never_the_secret() {
    let secret = "plsd_cs_Q2x9vR7tLm4pZ8kW1nB6yH3cJ5fD0sA2eG7uT9iO4qX";
    let text = format!("[client]\nid = \"acme\"\n  secret = \"{secret}\"\n");
    let report = builtin().scan_text("config/default.toml", &text);
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == "palisade-client-secret")
        .expect("found");
    assert_eq!(
        (finding.path.as_str(), finding.line, finding.column),
        ("config/default.toml", 3, 13)
    );
    assert_eq!(finding.redacted, "plsd… (51 characters)");
    let json = serde_json::to_string(&report.findings).unwrap();
    assert!(!json.contains(secret), "{json}");
    assert_eq!(finding.fingerprint.len(), 64);
}

#[test]
fn an_inline_allow_needs_a_reason() {
    let scanner = builtin();
    let with_reason = "token = \"plsd_at_M4nB8vC2xZ6lK0jH5gF9dS3aP7oI1uY4tR8eW2qQ6mN\" # palisade:allow revoked test token";
    let report = scanner.scan_text("a.toml", with_reason);
    assert!(report.findings.is_empty(), "{report:?}");
    assert_eq!(report.suppressed.len(), 1);
    assert_eq!(report.suppressed[0].reason, "revoked test token");
    let without =
        "token = \"plsd_at_M4nB8vC2xZ6lK0jH5gF9dS3aP7oI1uY4tR8eW2qQ6mN\" # palisade:allow";
    let report = scanner.scan_text("a.toml", without);
    assert!(
        !report.findings.is_empty() && report.suppressed.is_empty(),
        "an allow without a reason suppresses nothing: {report:?}"
    );
}

#[test]
fn gitleaks_rule_files_load_beside_the_builtin_rules() {
    let custom = r#"
title = "acme rules"
[extend]
useDefault = true

[[rules]]
id = "acme-internal-key"
description = "Acme's internal service keys"
regex = '''\b(acme_key_[a-z0-9]{24})\b'''
keywords = ["acme_key_"]
[[rules.allowlists]]
regexes = ['''acme_key_0{24}''']

[[allowlists]]
paths = ['''(^|/)fixtures/''']
"#;
    let scanner = Scanner::new(RuleSet::parse("acme.toml", custom).unwrap());
    assert!(
        scanner.rules().ids().contains(&"palisade-api-token"),
        "builtin rules kept"
    );
    let key = "acme_key_k3j9x7q2m5n8p1w4z6r0t2y5";
    assert_eq!(
        scanner.scan_text("src/a.rs", key).findings[0].rule,
        "acme-internal-key"
    );
    assert!(
        scanner
            .scan_text("src/a.rs", "acme_key_000000000000000000000000")
            .findings
            .is_empty()
    );
    assert!(
        scanner
            .scan_text("tests/fixtures/a.rs", key)
            .findings
            .is_empty()
    );

    let broken = "[[rules]]\nid = \"bad\"\nregex = '''(unclosed'''\n";
    let error = RuleSet::parse("broken.toml", broken)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("broken.toml") && error.contains("bad"),
        "{error}"
    );
    let twice = "[[rules]]\nid = \"a\"\nregex = 'x'\n[[rules]]\nid = \"a\"\nregex = 'y'\n";
    assert!(RuleSet::parse("twice.toml", twice).is_err());
}

#[test]
fn a_tree_scan_respects_gitignore_and_skips_binary_and_oversized_files() {
    let dir = std::env::temp_dir().join(format!("palisade-scan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("target")).unwrap();
    let secret = "GITHUB_TOKEN=ghp_R8tY2uI5oP9aS3dF7gH1jK4lZ6xC0vB2nM8q\n";
    std::fs::write(dir.join(".gitignore"), "target/\n").unwrap();
    std::fs::write(dir.join("src/ci.env"), secret).unwrap();
    std::fs::write(dir.join(".env"), secret).unwrap();
    std::fs::write(dir.join("target/cache.env"), secret).unwrap();
    std::fs::write(
        dir.join("image.bin"),
        [b"ghp_".as_slice(), &[0u8; 16], secret.as_bytes()].concat(),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub fn clean() {}\n").unwrap();
    // A text file just over the size limit (a dump, a bundle): skipped and counted, not read.
    let padding = "x".repeat(palisade_scan::MAX_FILE_BYTES as usize);
    std::fs::write(dir.join("dump.sql"), format!("{secret}{padding}")).unwrap();
    let report = scan_tree(&Scanner::builtin(), &dir);
    let paths: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [".env", "src/ci.env"],
        "ignored and binary files are not reported"
    );
    assert_eq!(report.binary, 1);
    assert_eq!(report.oversized, 1, "{report:?}");
    assert!(report.files >= 4, "{report:?}");
}

mod corpus;

/// The labelled corpus: real crate sources with planted secrets of every kind (plain, base64,
/// over several lines, in Rust, TOML, YAML, JSON, Markdown, `.env`, shell and Python) and planted
/// look-alikes. Goals: recall at least 0.97, at most 1 % of look-alikes flagged, and few findings
/// in the untouched real code.
#[test]
fn the_labelled_corpus_meets_the_recall_and_lookalike_goals() {
    let Some(root) = corpus::registry_sources() else {
        panic!("no cargo registry sources to build the corpus from ($CARGO_HOME/registry/src)");
    };
    let corpus = corpus::build(&root, 6 << 20, 6 * 1024, 7);
    let scanner = builtin();
    let chunks: Vec<&[corpus::CorpusFile]> = corpus
        .files
        .chunks(corpus.files.len().div_ceil(4))
        .collect();
    let findings: Vec<(String, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let scanner = &scanner;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|f| {
                            scanner
                                .scan_text(&f.path, &f.text)
                                .findings
                                .into_iter()
                                .map(|finding| (finding.path, finding.line))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let score = corpus::score(&corpus, &findings);
    // Written to the real stderr, so the figures reach the CI log when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "corpus: {} files, {} KiB real source; {} secrets, {} found (recall {:.3}); {} look-alikes, {} flagged ({:.3}); {} findings in real code",
        corpus.files.len(),
        corpus.real_bytes / 1024,
        score.secrets,
        score.found,
        score.recall(),
        score.lookalikes,
        score.lookalikes_flagged,
        score.lookalike_rate(),
        score.real_code_findings
    );
    let planted: std::collections::BTreeSet<&str> = corpus
        .labels
        .iter()
        .filter(|l| l.secret)
        .map(|l| l.kind.as_str())
        .collect();
    assert_eq!(
        planted.len(),
        corpus::secret_kinds().len(),
        "every kind is planted"
    );
    for form in ["plain", "base64", "multiline"] {
        assert!(
            corpus.labels.iter().any(|l| l.secret && l.form == form),
            "{form}"
        );
    }
    assert!(score.secrets >= 300 && score.lookalikes >= 300, "{score:?}");
    assert!(
        score.recall() >= 0.97,
        "recall {:.3}, missed {:?}",
        score.recall(),
        score.missed
    );
    assert!(
        score.lookalike_rate() <= 0.01,
        "look-alikes flagged {:.3}: {:?}: {:#?}",
        score.lookalike_rate(),
        score.flagged,
        score.wrong_examples
    );
    assert!(
        score.real_code_findings <= 5,
        "findings in the real code: {:?}",
        score.real_code
    );
}

#[test]
fn disabled_rules_leave_builtin_rules_out_and_unsupported_gitleaks_keys_are_errors() {
    let disabled = "[extend]\nuseDefault = true\ndisabledRules = [\"palisade-api-token\"]\n";
    let rules = RuleSet::parse("team.toml", disabled).unwrap();
    assert!(!rules.ids().contains(&"palisade-api-token"));
    assert!(
        rules.ids().contains(&"aws-access-key-id"),
        "the others stay"
    );
    let unknown = "[extend]\nuseDefault = true\ndisabledRules = [\"no-such-rule\"]\n";
    let error = RuleSet::parse("team.toml", unknown)
        .unwrap_err()
        .to_string();
    assert!(error.contains("no-such-rule"), "{error}");
    // What would change a file's meaning if dropped is refused, naming the key.
    let rule = "[[rules]]\nid = \"r\"\nregex = '''r_[a-z]{8}'''\n";
    for (text, named) in [
        ("[extend]\npath = \"base.toml\"\n", "path"),
        (
            "[[allowlists]]\ncondition = \"AND\"\npaths = ['''x''']\n",
            "condition",
        ),
        (
            "[[allowlists]]\nregexTarget = \"everything\"\nregexes = ['''x''']\n",
            "regexTarget",
        ),
        ("[[allowlists]]\ncommits = [\"abc123\"]\n", "commits"),
        (
            "[[rules]]\nid = \"r\"\nregex = '''x'''\n[[rules.required]]\nid = \"y\"\n",
            "required",
        ),
        (
            &format!("{rule}[[rules.allowlists]]\ncondition = \"AND\"\n"),
            "condition",
        ),
    ] {
        let error = RuleSet::parse("team.toml", text).unwrap_err().to_string();
        assert!(error.contains(named), "{text}: {error}");
    }
    // What gitleaks files carry and means nothing for matching is accepted.
    let labelled = format!(
        "title = \"t\"\n{rule}tags = [\"a\"]\n[[rules.allowlists]]\ndescription = \"d\"\n\
         condition = \"OR\"\nregexTarget = \"secret\"\nregexes = ['''r_0{{8}}''']\n"
    );
    RuleSet::parse("team.toml", &labelled).unwrap();
}

#[test]
fn allowlist_regexes_test_the_secret_the_match_or_the_line_as_regex_target_says() {
    let rules = |allowlist: &str| {
        let text = format!(
            "[[rules]]\nid = \"acme\"\nregex = '''acme_key=(acme_[a-z0-9]{{24}})'''\n\
             keywords = [\"acme_\"]\n{allowlist}"
        );
        Scanner::new(RuleSet::parse("team.toml", &text).unwrap())
    };
    let line = "let k = \"acme_key=acme_k3j9x7q2m5n8p1w4z6r0t2y5\"; // fixture";
    let found = |scanner: &Scanner| scanner.scan_text("src/a.rs", line).findings.len();
    assert_eq!(found(&rules("")), 1);
    // The secret does not hold `acme_key=`, the match does; only the line says `fixture`.
    let by = |target: &str, regex: &str| {
        format!("[[rules.allowlists]]\nregexTarget = \"{target}\"\nregexes = ['''{regex}''']\n")
    };
    assert_eq!(found(&rules(&by("secret", "^acme_key="))), 1);
    assert_eq!(found(&rules(&by("match", "^acme_key="))), 0);
    assert_eq!(found(&rules(&by("match", "fixture"))), 1);
    assert_eq!(found(&rules(&by("line", "// fixture$"))), 0);
    // gitleaks before 8.21: one `[rules.allowlist]` per rule.
    let legacy = "[rules.allowlist]\nregexTarget = \"line\"\nregexes = ['''fixture''']\n";
    assert_eq!(found(&rules(legacy)), 0);
}

//! `palisade scan [PATH]`: the secret scanner over a tree (`.gitignore` respected), with the built-in rules or a team's gitleaks-style rule file; and the scan of a rendered plan that `palisade new` runs before it writes anything.

use std::path::{Path, PathBuf};

use clap::Args;
use palisade_scan::{
    Baseline, Finding, REPOSITORY_CONFIG, RuleSet, Scanner, SuppressionKind, TreeReport,
};

use crate::CliError;
use crate::plan::Plan;

/// Arguments of `palisade scan`.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// The folder (or file's folder) to scan.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// A gitleaks-style rule file; with `[extend] useDefault = true` it adds to the built-in rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long, conflicts_with = "sarif")]
    pub json: bool,
    /// Print the findings as SARIF 2.1.0 on stdout (for code-scanning uploads).
    #[arg(long)]
    pub sarif: bool,
    /// Scan what `git commit` would record (the index), not the working tree: the pre-commit check.
    #[arg(long, conflicts_with = "history")]
    pub staged: bool,
    /// Scan every blob of every commit reachable from HEAD, each once: secrets committed and later
    /// removed are still in the history. Findings are named `<commit>:<path>`.
    #[arg(long)]
    pub history: bool,
    /// Findings whose fingerprints this baseline file lists are reported as suppressed ("in the
    /// baseline") and do not fail the scan; new ones do.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write every finding of this scan to a baseline file (fingerprints, rules and paths, never
    /// the secrets), replacing it; the scan then exits 0.
    #[arg(long, value_name = "FILE", conflicts_with = "baseline")]
    pub write_baseline: Option<PathBuf>,
    /// Count findings that a `palisade:allow` comment suppresses as findings (for CI: only the
    /// baseline and the repository's path allowlists, reviewed in one place, may suppress).
    #[arg(long)]
    pub refuse_inline_allows: bool,
    /// Also write the findings as SARIF 2.1.0 to this file (the human report still goes to the
    /// terminal): what a CI step uploads to code scanning.
    #[arg(long, value_name = "FILE", conflicts_with = "sarif")]
    pub sarif_file: Option<PathBuf>,
}

/// What `palisade scan` found, and its SARIF log when asked for.
#[derive(Debug)]
pub struct Scanned {
    /// The findings and what was skipped.
    pub report: TreeReport,
    /// The SARIF 2.1.0 log, with `--sarif`.
    pub sarif: Option<serde_json::Value>,
}

/// Secrets found in what `palisade new` or `palisade upgrade` was about to write: nothing was
/// written.
#[derive(Debug, thiserror::Error)]
#[error(
    "the rendered project holds {} secret(s), so nothing was written: {}",
    findings.len(),
    findings.iter().map(|f| format!("{}:{}: {}", f.path, f.line, f.rule)).collect::<Vec<_>>().join(", ")
)]
pub struct SecretsInPlan {
    /// Where, and which rule; never the value.
    pub findings: Vec<Finding>,
}

/// The scanner for a scan of `root`: the rule file given, else the built-in rules with the
/// repository's [`REPOSITORY_CONFIG`] at `root` on top when there is one.
pub(crate) fn scanner_for(root: &Path, rules: Option<&Path>) -> Result<Scanner, CliError> {
    let read = |file: &Path| {
        std::fs::read_to_string(file).map_err(|source| CliError::ScanInput {
            path: file.to_owned(),
            source,
        })
    };
    Ok(match rules {
        Some(file) => Scanner::new(RuleSet::parse(&file.display().to_string(), &read(file)?)?),
        None => {
            let config = root.join(REPOSITORY_CONFIG);
            if config.is_file() {
                Scanner::new(RuleSet::repository(
                    &config.display().to_string(),
                    &read(&config)?,
                )?)
            } else {
                Scanner::builtin()
            }
        }
    })
}

/// Scans the tree at `args.path`, or with `--staged` the index of the repository holding it.
pub fn run(args: &ScanArgs) -> Result<Scanned, CliError> {
    if let Err(source) = std::fs::metadata(&args.path) {
        return Err(CliError::ScanInput {
            path: args.path.clone(),
            source,
        });
    }
    let scanner = scanner_for(&args.path, args.rules.as_deref())?;
    let mut report = if args.history {
        let mut report = TreeReport::default();
        crate::git::for_each_history_blob(&args.path, |path, commit, contents| {
            // Path allowlists see the path; findings are named after the commit too.
            if let Some(pattern) = scanner.allowlisted_path(path) {
                report.allowlisted.push(palisade_scan::AllowlistedPath {
                    path: format!("{commit}:{path}"),
                    pattern: pattern.to_owned(),
                });
            } else {
                report.add_blob(&scanner, &format!("{commit}:{path}"), contents);
            }
        })
        .map_err(CliError::ScanStaged)?;
        report
    } else if args.staged {
        let mut report = TreeReport::default();
        for (path, contents) in
            crate::git::staged_files(&args.path).map_err(CliError::ScanStaged)?
        {
            report.add_blob(&scanner, &path, &contents);
        }
        report
    } else {
        palisade_scan::scan_tree(&scanner, &args.path)
    };
    if args.refuse_inline_allows {
        let (inline, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut report.suppressed)
            .into_iter()
            .partition(|s| s.kind == SuppressionKind::Inline);
        report.suppressed = kept;
        report
            .findings
            .extend(inline.into_iter().map(|s| s.finding));
        report
            .findings
            .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    }
    if let Some(file) = &args.baseline {
        read_baseline(file)?.apply(&mut report);
    }
    if let Some(file) = &args.write_baseline {
        let baseline = Baseline::of(&report.findings);
        write_file(file, baseline.to_text().as_bytes())?;
        baseline.apply(&mut report);
    }
    let sarif = (args.sarif || args.sarif_file.is_some())
        .then(|| palisade_scan::sarif(&report.findings, scanner.rules()));
    if let (Some(file), Some(log)) = (&args.sarif_file, &sarif) {
        let text = serde_json::to_string_pretty(log).expect("a SARIF log serializes");
        write_file(file, text.as_bytes())?;
        return Ok(Scanned {
            report,
            sarif: None,
        });
    }
    Ok(Scanned { report, sarif })
}

/// Reads and parses a baseline file.
fn read_baseline(file: &std::path::Path) -> Result<Baseline, CliError> {
    let text = std::fs::read_to_string(file).map_err(|source| CliError::ScanInput {
        path: file.to_owned(),
        source,
    })?;
    Baseline::parse(&text).map_err(|source| CliError::ScanBaseline {
        path: file.to_owned(),
        source,
    })
}

/// Writes a report file (a baseline, a SARIF log) through the one writer (a temporary beside it,
/// then a rename), so a failure leaves the old file as it was.
fn write_file(file: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = folder.unwrap_or_else(|| std::path::Path::new("."));
    let name = std::path::Path::new(file.file_name().unwrap_or(file.as_os_str()));
    let failed = |source| CliError::ScanOutput {
        path: file.to_owned(),
        source,
    };
    let changes = crate::fs_txn::FileChanges::stage(folder, [(name, bytes)], []).map_err(failed)?;
    changes.commit().map_err(|partial| failed(partial.error))
}

/// Scans what an upgrade would write, in memory: a finding the file does not already hold stops it.
pub(crate) fn scan_upgrade(upgrade: &crate::upgrade::Upgrade) -> Result<(), CliError> {
    let scanner = Scanner::builtin();
    let mut findings = Vec::new();
    for (path, new, old) in upgrade.writes()? {
        if new.contains(&0) {
            continue;
        }
        let name = path.display().to_string();
        let before: Vec<String> = old
            .map(|old| {
                scanner
                    .scan_text(&name, &String::from_utf8_lossy(&old))
                    .findings
                    .into_iter()
                    .map(|f| f.fingerprint)
                    .collect()
            })
            .unwrap_or_default();
        findings.extend(
            scanner
                .scan_text(&name, &String::from_utf8_lossy(new))
                .findings
                .into_iter()
                .filter(|f| !before.contains(&f.fingerprint)),
        );
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(SecretsInPlan { findings }.into())
    }
}

/// Scans every text file of a rendered plan, in memory, with the built-in rules.
pub(crate) fn scan_plan(plan: &Plan) -> Result<(), SecretsInPlan> {
    let scanner = Scanner::builtin();
    let findings: Vec<Finding> = plan
        .files
        .iter()
        .filter(|file| !file.contents.contains(&0))
        .flat_map(|file| {
            let text = String::from_utf8_lossy(&file.contents);
            scanner
                .scan_text(&file.path.display().to_string(), &text)
                .findings
        })
        .collect();
    if findings.is_empty() {
        Ok(())
    } else {
        Err(SecretsInPlan { findings })
    }
}

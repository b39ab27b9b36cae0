//! `palisade scan [PATH]`: the secret scanner over a tree (`.gitignore` respected), with the built-in rules or a team's gitleaks-style rule file; and the scan of a rendered plan that `palisade new` runs before it writes anything.

use std::path::PathBuf;

use clap::Args;
use palisade_scan::{Baseline, Finding, RuleSet, Scanner, TreeReport};

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

/// Scans the tree at `args.path`, or with `--staged` the index of the repository holding it.
pub fn run(args: &ScanArgs) -> Result<Scanned, CliError> {
    let scanner = match &args.rules {
        None => Scanner::builtin(),
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|source| CliError::ScanInput {
                path: file.clone(),
                source,
            })?;
            Scanner::new(RuleSet::parse(&file.display().to_string(), &text)?)
        }
    };
    if let Err(source) = std::fs::metadata(&args.path) {
        return Err(CliError::ScanInput {
            path: args.path.clone(),
            source,
        });
    }
    let report = if args.history {
        let mut report = TreeReport::default();
        crate::git::for_each_history_blob(&args.path, |path, commit, contents| {
            if contents.contains(&0) {
                report.binary += 1;
                return;
            }
            let name = format!("{commit}:{path}");
            let found = scanner.scan_text(&name, &String::from_utf8_lossy(contents));
            report.files += 1;
            report.findings.extend(found.findings);
            report.suppressed.extend(found.suppressed);
        })
        .map_err(CliError::ScanStaged)?;
        report
    } else if args.staged {
        let mut report = TreeReport::default();
        for (path, contents) in
            crate::git::staged_files(&args.path).map_err(CliError::ScanStaged)?
        {
            if contents.contains(&0) {
                report.binary += 1;
                continue;
            }
            let found = scanner.scan_text(&path, &String::from_utf8_lossy(&contents));
            report.files += 1;
            report.findings.extend(found.findings);
            report.suppressed.extend(found.suppressed);
        }
        report
    } else {
        palisade_scan::scan_tree(&scanner, &args.path)
    };
    let mut report = report;
    if let Some(file) = &args.baseline {
        read_baseline(file)?.apply(&mut report);
    }
    if let Some(file) = &args.write_baseline {
        let baseline = Baseline::of(&report.findings);
        write_baseline(file, baseline.to_text().as_bytes())?;
        baseline.apply(&mut report);
    }
    let sarif = args
        .sarif
        .then(|| palisade_scan::sarif(&report.findings, scanner.rules()));
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

/// Writes the baseline through the one writer (a temporary beside it, then a rename), so a
/// failure leaves the old file as it was.
fn write_baseline(file: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = folder.unwrap_or_else(|| std::path::Path::new("."));
    let name = std::path::Path::new(file.file_name().unwrap_or(file.as_os_str()));
    let changes = crate::fs_txn::FileChanges::stage(folder, [(name, bytes)], [])?;
    changes
        .commit()
        .map_err(|partial| CliError::Write(partial.error))
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

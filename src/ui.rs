//! The only module that writes to the terminal: status and errors on stderr, data on stdout, prompts through dialoguer.

#![allow(clippy::print_stderr, clippy::print_stdout)]

use crate::answers::{Prompter, Value};
use crate::commands::check::CheckReport;
use crate::commands::new::Created;
use crate::template::{Question, QuestionKind, Template};
use crate::upgrade::Report;

/// Reports a command's failure on stderr.
pub fn error(error: &dyn std::error::Error) {
    eprintln!("error: {error}");
    // Causes that the message does not already include, outermost first.
    let mut shown = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let text = source.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
            shown = text;
        }
        cause = source.source();
    }
}

/// Reports a created project and the next two commands.
pub fn created(created: &Created) {
    let dir = created.dir.display();
    eprintln!(
        "Created {dir} from template {} ({} files{}).",
        created.template,
        created.files,
        match (created.git, created.lockfile) {
            (true, Some(true)) => ", Cargo.lock generated, first commit made",
            (true, _) => ", first commit made",
            (false, _) => "",
        }
    );
    if created.lockfile == Some(false) {
        eprintln!(
            "warning: `cargo generate-lockfile` failed (offline?): run it in the project and commit \
             Cargo.lock, which CI and the Dockerfile build with --locked"
        );
    }
    eprintln!();
    eprintln!("Next:");
    eprintln!("  cd {dir}");
    eprintln!("  cargo test");
}

/// How a report is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for people: data on stdout, the summary on stderr.
    Human,
    /// One JSON document on stdout (`--json`).
    Json,
}

impl Format {
    /// `Json` when `--json` was given.
    pub fn from_flag(json: bool) -> Self {
        if json { Self::Json } else { Self::Human }
    }
}

/// Reports an upgrade: the JSON report, or the diff (dry run) on stdout and a summary on stderr.
pub fn upgraded(report: &Report, format: Format) {
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("a report serializes")
        );
        return;
    }
    if let Some(diff) = &report.diff {
        print!("{diff}");
    }
    let verb = if report.applied {
        "Upgraded"
    } else if report.diff.is_some() {
        "Dry run: would upgrade"
    } else {
        "Nothing to change:"
    };
    eprintln!(
        "{verb} {} {} -> {}",
        report.template, report.from, report.to
    );
    for (label, paths) in [
        ("taken from the template", &report.taken),
        ("kept (your changes)", &report.kept),
        ("merged", &report.merged),
        ("CONFLICTED", &report.conflicted),
        ("added", &report.added),
        ("removed", &report.removed),
        ("renamed", &report.renamed),
    ] {
        for path in paths {
            eprintln!("  {label:<24} {path}");
        }
    }
    for notice in &report.notices {
        eprintln!("  note: {notice}");
    }
    if let Some(error) = &report.manifest_error {
        eprintln!("  Cargo.toml no longer loads: {error}");
    }
    if !report.conflicted.is_empty() && !report.applied {
        eprintln!();
        eprintln!(
            "{} file(s) would be left with conflict markers.",
            report.conflicted.len()
        );
    } else if !report.conflicted.is_empty() {
        eprintln!();
        eprintln!(
            "{} file(s) have conflict markers and are unmerged in the git index: resolve them, then `git add` them.",
            report.conflicted.len()
        );
    }
}

/// Reports `palisade check`: the JSON report, or one line per finding on stderr.
pub fn checked(report: &CheckReport, format: Format) {
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("a report serializes")
        );
        return;
    }
    let subject = report.template.as_deref().unwrap_or("project");
    if report.findings.is_empty() {
        eprintln!("{subject}: ok");
    }
    for finding in &report.findings {
        let kind = serde_json::to_value(finding.kind).expect("a kind serializes");
        eprintln!(
            "{subject}: {}: {}",
            kind.as_str().unwrap_or("finding"),
            finding.message
        );
    }
}

/// Lists templates (newest version, all versions) and their questions on stdout.
pub fn templates(templates: &[&[Template]]) {
    for versions in templates {
        let Some(t) = versions.last() else { continue };
        let info = &t.manifest.template;
        let all: Vec<String> = versions.iter().map(|v| v.version().to_string()).collect();
        println!(
            "{} {}: {} (versions: {})",
            info.id,
            info.version,
            info.description,
            all.join(", ")
        );
        for q in &t.manifest.questions {
            let kind = match q.kind {
                QuestionKind::String => "string".to_owned(),
                QuestionKind::Bool => "bool".to_owned(),
                QuestionKind::Choice => format!("one of {}", q.choices.join("|")),
            };
            let default = q
                .default
                .as_ref()
                .map_or_else(|| "required".to_owned(), |d| format!("default {d}"));
            let condition = q
                .condition
                .as_ref()
                .map_or_else(String::new, |c| format!(", when {c}"));
            println!(
                "  --define {}=<{kind}>  {} ({default}{condition})",
                q.name, q.prompt
            );
        }
    }
}

/// Asks questions on the terminal with dialoguer.
pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn ask(&mut self, question: &Question, default: Option<&Value>) -> Option<Value> {
        let theme = dialoguer::theme::SimpleTheme;
        match question.kind {
            QuestionKind::Bool => {
                let mut c = dialoguer::Confirm::with_theme(&theme).with_prompt(&question.prompt);
                if let Some(Value::Bool(b)) = default {
                    c = c.default(*b);
                }
                c.interact_opt().ok().flatten().map(Value::Bool)
            }
            QuestionKind::Choice => {
                let position = default
                    .and_then(|d| question.choices.iter().position(|c| *c == d.to_string()))
                    .unwrap_or(0);
                dialoguer::Select::with_theme(&theme)
                    .with_prompt(&question.prompt)
                    .items(&question.choices)
                    .default(position)
                    .interact_opt()
                    .ok()
                    .flatten()
                    .map(|i| Value::String(question.choices[i].clone()))
            }
            QuestionKind::String => {
                let mut input =
                    dialoguer::Input::<String>::with_theme(&theme).with_prompt(&question.prompt);
                if let Some(d) = default {
                    input = input.default(d.to_string());
                }
                input.interact_text().ok().map(Value::String)
            }
        }
    }
}

/// Reports `palisade scan`: findings on stdout (JSON, or `path:line:column: rule: redacted`), a
/// summary on stderr. Never the secret itself.
pub fn scanned(scanned: &crate::commands::scan::Scanned, format: Format) {
    let report = &scanned.report;
    if let Some(sarif) = &scanned.sarif {
        println!(
            "{}",
            serde_json::to_string_pretty(sarif).expect("a SARIF log serializes")
        );
        return;
    }
    if format == Format::Json {
        let body = serde_json::json!({
            "findings": report.findings,
            "suppressed": report.suppressed,
            "files": report.files,
            "skipped_binary": report.binary,
            "skipped_oversized": report.oversized,
            "allowlisted": report.allowlisted,
            "unreadable": report.unreadable.iter().map(|(p, why)| serde_json::json!({ "path": p, "error": why })).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).expect("a report serializes")
        );
        return;
    }
    for f in &report.findings {
        println!(
            "{}:{}:{}: {}: {}",
            f.path, f.line, f.column, f.rule, f.redacted
        );
    }
    for s in &report.suppressed {
        eprintln!(
            "suppressed {}:{}: {} ({})",
            s.finding.path, s.finding.line, s.finding.rule, s.reason
        );
    }
    for a in &report.allowlisted {
        eprintln!("not scanned {}: path allowlist {}", a.path, a.pattern);
    }
    eprintln!(
        "{} finding(s) in {} file(s); skipped {} binary (archives are not opened) and {} oversized; {} unreadable",
        report.findings.len(),
        report.files,
        report.binary,
        report.oversized,
        report.unreadable.len()
    );
}

/// Reports `palisade audit verify`: what was verified, or the first place the export is not the
/// signed log.
pub fn audit_verified(
    outcome: &Result<palisade_audit::ExportReport, palisade_audit::VerifyError>,
    format: Format,
) {
    match (outcome, format) {
        (Ok(r), Format::Json) => println!(
            "{}",
            serde_json::json!({
                "verified": true,
                "tenant": r.tenant,
                "first_seq": r.first_seq,
                "last_seq": r.last_seq,
                "entries": r.entries,
                "checkpoints": r.checkpoints,
                "trusted_checkpoints": r.trusted,
                "opened_values": r.opened,
            })
        ),
        (Ok(r), Format::Human) => println!(
            "verified: tenant {}, entries {} to {} ({}), {} signed checkpoint(s), {} kept checkpoint(s) agree{}",
            r.tenant,
            r.first_seq,
            r.last_seq,
            r.entries,
            r.checkpoints,
            r.trusted,
            if r.opened > 0 {
                format!(", {} sealed value(s) match their seals", r.opened)
            } else {
                String::new()
            }
        ),
        (Err(e), Format::Json) => println!(
            "{}",
            serde_json::json!({ "verified": false, "error": e.to_string() })
        ),
        (Err(e), Format::Human) => eprintln!("NOT verified: {e}"),
    }
}

/// The report of `palisade policy diff`: each difference with its counterexample request.
pub fn policy_diff(report: &palisade_policy::DiffReport, format: Format) {
    use palisade_policy::Change;
    let name = |change: Change| match change {
        Change::Widening => "widening",
        Change::Narrowing => "narrowing",
        Change::CrossTenant => "cross-tenant",
        _ => "change",
    };
    match format {
        Format::Json => {
            let findings: Vec<_> = report
                .findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "change": name(f.change),
                        "principal": f.principal,
                        "action": f.action,
                        "resource": f.resource,
                        "counterexample": f.counterexample,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "widens": report.widens(),
                    "shapes_checked": report.shapes,
                    "findings": findings,
                })
            );
        }
        Format::Human => {
            for f in &report.findings {
                println!(
                    "{}: {} {} {}\n  counterexample: {}",
                    name(f.change),
                    f.principal,
                    f.action,
                    f.resource,
                    f.counterexample.replace('\n', "\n  ")
                );
            }
            let verdict = if report.widens() {
                "the new policy set WIDENS access"
            } else if report.findings.is_empty() {
                "no change in what is permitted"
            } else {
                "no widening (narrowing only)"
            };
            println!(
                "{verdict}: {} request shape(s) checked symbolically, {} difference(s)",
                report.shapes,
                report.findings.len()
            );
        }
    }
}

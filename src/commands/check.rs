//! `palisade check`: in CI, one finding per problem: the project record, template drift, removed security wiring, secrets in the project's files.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use crate::project;
use crate::template::{self, Catalog, RenderInput};

/// Arguments of `palisade check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The project folder.
    #[arg(long, short = 'C', value_name = "DIR", default_value = ".")]
    pub path: PathBuf,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `[package.metadata.palisade]` is missing, unreadable, or names an unknown template version.
    Metadata,
    /// A newer template version exists.
    Drift,
    /// A piece of the generated security wiring is gone.
    Wiring,
    /// The template's own wiring declaration is broken (a bad pattern): a template bug.
    Template,
    /// A secret in the project's files (`palisade scan` names the same).
    Secret,
}

/// One reason `check` fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Its kind.
    pub kind: Kind,
    /// What is wrong and what to do.
    pub message: String,
}

/// The result of `palisade check`: no findings means the project passes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The template and version recorded, when readable (`service 0.1.0`).
    pub template: Option<String>,
    /// The findings, in the order checked.
    pub findings: Vec<Finding>,
}

/// Runs every check on the project in `args.path`.
pub fn run(args: &CheckArgs, catalog: &Catalog) -> CheckReport {
    let mut report = CheckReport::default();
    let finding = |report: &mut CheckReport, kind, message: String| {
        report.findings.push(Finding { kind, message });
    };
    let project = match project::read(&args.path) {
        Ok(p) => p,
        Err(error) => {
            finding(&mut report, Kind::Metadata, error.to_string());
            return report;
        }
    };
    let recorded = &project.metadata;
    let template = match catalog.version(&recorded.template, &recorded.template_version) {
        Ok(t) => t,
        Err(error) => {
            finding(
                &mut report,
                Kind::Metadata,
                format!("the recorded template cannot be rendered: {error}"),
            );
            return report;
        }
    };
    report.template = Some(format!("{} {}", template.id(), template.version()));
    if let Ok(newest) = catalog.newest(template.id())
        && newest.version() > template.version()
    {
        finding(
            &mut report,
            Kind::Drift,
            format!(
                "template {} {} is available, the project is at {}: run `palisade upgrade`",
                template.id(),
                newest.version(),
                template.version()
            ),
        );
    }
    let input = RenderInput {
        template,
        name: &project.name,
        answers: &recorded.answers,
        runtime: &recorded.runtime,
        generator_version: &recorded.generator_version,
    };
    let wiring = &template.manifest.wiring;
    let paths: Vec<&str> = wiring.iter().map(|w| w.path.as_str()).collect();
    let rendered = match template::render_paths(&input, &paths) {
        Ok(r) => r,
        Err(error) => {
            finding(&mut report, Kind::Metadata, error.to_string());
            return report;
        }
    };
    for (item, path) in wiring.iter().zip(rendered) {
        if !item.dependency.is_empty() {
            if !project.dependencies.contains(&item.dependency) {
                finding(
                    &mut report,
                    Kind::Wiring,
                    format!(
                        "{} is missing: {} is not a dependency in Cargo.toml",
                        item.name, item.dependency
                    ),
                );
            }
            continue;
        }
        let pattern = match regex::Regex::new(&item.pattern) {
            Ok(p) => p,
            Err(e) => {
                finding(
                    &mut report,
                    Kind::Template,
                    format!("template {}: wiring {:?}: {e}", template.id(), item.name),
                );
                continue;
            }
        };
        if !matches_under(&args.path.join(&path), &item.suffix, &pattern) {
            let suffix = if item.suffix.is_empty() {
                String::new()
            } else {
                format!(" ending in {}", item.suffix)
            };
            finding(
                &mut report,
                Kind::Wiring,
                format!(
                    "{} is missing: no file at {path}{suffix} matches /{}/",
                    item.name, item.pattern
                ),
            );
        }
    }
    // Secrets in the project's files (what git would commit: `.gitignore` respected), with the
    // repository's scan configuration on top of the built-in rules, as `palisade scan` runs.
    let scanner = match crate::commands::scan::scanner_for(&args.path, None) {
        Ok(scanner) => scanner,
        Err(error) => {
            finding(&mut report, Kind::Secret, error.to_string());
            return report;
        }
    };
    let scan = palisade_scan::scan_tree(&scanner, &args.path);
    for f in scan.findings {
        finding(
            &mut report,
            Kind::Secret,
            format!(
                "{}:{}:{}: {} ({}): remove it, rotate it, and keep a reference instead",
                f.path, f.line, f.column, f.rule, f.redacted
            ),
        );
    }
    report
}

/// Whether some file at or below `path` (with the suffix) matches `pattern`.
fn matches_under(path: &Path, suffix: &str, pattern: &regex::Regex) -> bool {
    if path.is_file() {
        return path.to_string_lossy().ends_with(suffix)
            && std::fs::read_to_string(path).is_ok_and(|text| pattern.is_match(&text));
    }
    std::fs::read_dir(path).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| matches_under(&entry.path(), suffix, pattern))
    })
}

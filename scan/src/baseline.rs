//! Baselines: the fingerprints of findings a team has looked at and accepted, kept in a file, so that known findings do not fail a scan and new ones do. The file holds rule, path and fingerprint, never the secret.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Suppressed, SuppressionKind};
use crate::walk::TreeReport;

/// The reason a baselined finding is reported under.
pub const BASELINE_REASON: &str = "in the baseline";

/// The baseline file's format version.
const VERSION: u32 = 1;

/// A baseline file (`palisade scan --write-baseline FILE` writes one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The format version, 1.
    pub version: u32,
    /// The accepted findings, by path and rule.
    pub findings: Vec<BaselineEntry>,
}

/// One accepted finding. Rule and path are for the reader; the fingerprint (of rule, path and
/// secret) is what matches, so the same secret in another file is a new finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    /// The file.
    pub path: String,
    /// The rule that found it.
    pub rule: String,
    /// The finding's fingerprint.
    pub fingerprint: String,
}

/// A baseline file does not parse.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Not the JSON of a baseline.
    #[error("not a palisade scan baseline: {0}")]
    Format(#[from] serde_json::Error),
    /// A version this scanner does not know.
    #[error("baseline version {0} is not supported (this scanner writes version 1)")]
    Version(u32),
}

impl Baseline {
    /// The baseline accepting `findings`, sorted by path, rule and fingerprint.
    pub fn of(findings: &[Finding]) -> Self {
        let entries: BTreeSet<BaselineEntry> = findings
            .iter()
            .map(|f| BaselineEntry {
                path: f.path.clone(),
                rule: f.rule.clone(),
                fingerprint: f.fingerprint.clone(),
            })
            .collect();
        Self {
            version: VERSION,
            findings: entries.into_iter().collect(),
        }
    }

    /// Parses a baseline file's text.
    pub fn parse(text: &str) -> Result<Self, BaselineError> {
        let baseline: Self = serde_json::from_str(text)?;
        if baseline.version != VERSION {
            return Err(BaselineError::Version(baseline.version));
        }
        Ok(baseline)
    }

    /// The file's text: pretty JSON with a final newline, so diffs of it read well.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a baseline serializes");
        text.push('\n');
        text
    }

    /// Moves the findings the baseline accepts from `report.findings` to `report.suppressed`,
    /// with [`BASELINE_REASON`]; the rest stay findings.
    pub fn apply(&self, report: &mut TreeReport) {
        let known: BTreeSet<&str> = self
            .findings
            .iter()
            .map(|e| e.fingerprint.as_str())
            .collect();
        let (accepted, new): (Vec<Finding>, Vec<Finding>) = std::mem::take(&mut report.findings)
            .into_iter()
            .partition(|f| known.contains(f.fingerprint.as_str()));
        report.findings = new;
        report
            .suppressed
            .extend(accepted.into_iter().map(|finding| Suppressed {
                finding,
                kind: SuppressionKind::Baseline,
                reason: BASELINE_REASON.to_owned(),
            }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scanner;

    fn report(text: &str) -> TreeReport {
        let scanned = Scanner::builtin().scan_text("config.env", text);
        TreeReport {
            findings: scanned.findings,
            ..TreeReport::default()
        }
    }

    #[test]
    fn known_findings_are_suppressed_and_new_ones_stay() {
        let known = "aws_access_key_id = AKIAQ3EGRTY5JKLMN2OP\n";
        let baseline = Baseline::of(&report(known).findings);
        assert_eq!(baseline.findings.len(), 1);
        let parsed = Baseline::parse(&baseline.to_text()).unwrap();
        assert_eq!(parsed, baseline);
        let mut later = report(&format!(
            "{known}GITHUB_TOKEN=ghp_R8tY2uI5oP9aS3dF7gH1jK4lZ6xC0vB2nM8q\n"
        ));
        assert_eq!(later.findings.len(), 2);
        parsed.apply(&mut later);
        assert_eq!(later.findings.len(), 1, "the new secret still fails");
        assert_eq!(later.suppressed.len(), 1);
        assert_eq!(later.suppressed[0].reason, BASELINE_REASON);
        assert!(
            !baseline.to_text().contains("AKIAQ3EGRTY5JKLMN2OP"),
            "never the secret"
        );
    }

    #[test]
    fn other_versions_and_shapes_are_refused() {
        let other = r#"{"version": 2, "findings": []}"#;
        assert!(matches!(
            Baseline::parse(other),
            Err(BaselineError::Version(2))
        ));
        assert!(Baseline::parse(r#"{"findings": []}"#).is_err());
        assert!(Baseline::parse("[]").is_err());
    }
}

//! What a scan reports: where a secret is and which rule found it, with the secret redacted (its first four characters and its length) and a fingerprint for baselines; suppressed findings are reported too, with their reason.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A secret found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule that found it.
    pub rule: String,
    /// The file (as given to the scanner).
    pub path: String,
    /// 1-based line of the secret's first character.
    pub line: usize,
    /// 1-based column (in characters) of the secret's first character.
    pub column: usize,
    /// The secret's first four characters, then its length: never the secret.
    pub redacted: String,
    /// SHA-256 of rule, path and secret, hex: stable across line moves, for baselines.
    pub fingerprint: String,
    /// The encodings the secret was found under (`base64`, `hex`, `percent`; outermost last),
    /// when it was not in the text as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

/// A finding that does not fail the scan, and why: every suppression is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// The finding.
    pub finding: Finding,
    /// How it was suppressed.
    pub kind: SuppressionKind,
    /// The reason: the inline comment's text, or which baseline accepted it.
    pub reason: String,
}

/// How a finding was suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SuppressionKind {
    /// A `palisade:allow <reason>` comment on its line (CI can refuse these).
    Inline,
    /// Its fingerprint is in the baseline file.
    Baseline,
}

impl Suppressed {
    pub(crate) fn inline(finding: Finding, reason: String) -> Self {
        Self {
            finding,
            kind: SuppressionKind::Inline,
            reason,
        }
    }
}

impl Finding {
    pub(crate) fn new(rule: &str, path: &str, text: &str, start: usize, secret: &str) -> Self {
        let (line, column) = position(text, start);
        let shown: String = secret.chars().take(4).collect();
        let fingerprint = hex::encode(Sha256::digest(format!("{rule}\n{path}\n{secret}")));
        Self {
            rule: rule.to_owned(),
            path: path.to_owned(),
            line,
            column,
            redacted: format!("{shown}… ({} characters)", secret.chars().count()),
            fingerprint,
            encoding: None,
        }
    }

    /// This finding of decoded text, placed where its encoded run starts in `text`.
    pub(crate) fn found_in(mut self, text: &str, start: usize, encoding: &str) -> Self {
        (self.line, self.column) = position(text, start);
        self.encoding = Some(match self.encoding {
            Some(inner) => format!("{inner} in {encoding}"),
            None => encoding.to_owned(),
        });
        self
    }
}

/// The 1-based line and column (in characters) of byte `at` of `text`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..at].chars().count() + 1)
}

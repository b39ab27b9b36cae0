//! Encoded content: runs of base64 (standard or URL-safe), hex and percent-encoding are decoded, to a bounded depth, and what decodes to text is scanned too, so a secret hidden in an encoded blob is found (and reported where the blob starts).

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use regex::Regex;

/// How many encodings deep a secret is looked for: base64 of hex of a secret is depth 2.
pub(crate) const MAX_DEPTH: usize = 2;

/// Base64 runs of at least 24 characters (18 bytes): shorter ones hold no secret worth a rule.
static BASE64: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/_-]{24,}={0,2}").expect("a valid pattern"));
/// Hex runs of at least 32 digits (16 bytes).
static HEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(?:[0-9a-fA-F]{2}){16,}(?-u:\b)").expect("a valid pattern")
});
/// Runs holding at least three percent-escapes.
static PERCENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[A-Za-z0-9._~+:/=&?-]*%[0-9A-Fa-f]{2}){3,}[A-Za-z0-9._~+:/=&?-]*")
        .expect("a valid pattern")
});

/// An encoded run of a text and the text it decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Where the run starts in the text, in bytes.
    pub start: usize,
    /// The decoded text.
    pub text: String,
    /// `base64`, `hex` or `percent`.
    pub encoding: &'static str,
}

/// The encoded runs of `text` that decode to text (UTF-8, almost all printable).
pub(crate) fn decoded_runs(text: &str) -> Vec<Decoded> {
    let mut runs = Vec::new();
    for run in BASE64.find_iter(text) {
        let trimmed = run.as_str().trim_end_matches('=');
        let bytes = STANDARD_NO_PAD
            .decode(trimmed)
            .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed));
        push(&mut runs, run.start(), bytes.ok(), "base64");
    }
    for run in HEX.find_iter(text) {
        push(
            &mut runs,
            run.start(),
            hex::decode(run.as_str()).ok(),
            "hex",
        );
    }
    for run in PERCENT.find_iter(text) {
        push(
            &mut runs,
            run.start(),
            Some(percent_decode(run.as_str())),
            "percent",
        );
    }
    runs
}

fn push(runs: &mut Vec<Decoded>, start: usize, bytes: Option<Vec<u8>>, encoding: &'static str) {
    let Some(text) = bytes.and_then(|b| String::from_utf8(b).ok()) else {
        return;
    };
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .count();
    if !text.is_empty() && printable * 10 >= text.chars().count() * 9 {
        runs.push(Decoded {
            start,
            text,
            encoding,
        });
    }
}

/// `%XX` escapes replaced by their bytes (`+` stays: it is a space only in form bodies).
fn percent_decode(run: &str) -> Vec<u8> {
    let bytes = run.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| run.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escape {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_encoding_decodes_and_binary_does_not() {
        let secret = "ghp_R8tY2uI5oP9aS3dF7gH1jK4lZ6xC0vB2nM8q";
        let b64 = STANDARD_NO_PAD.encode(format!("token={secret}"));
        let hexed = hex::encode(secret);
        let text = format!("a: {b64}\nb: {hexed}\nc: %67%68%70%5F{}\n", &secret[4..]);
        let runs = decoded_runs(&text);
        let texts: Vec<(&str, &str)> = runs.iter().map(|r| (r.encoding, r.text.as_str())).collect();
        assert!(
            texts.contains(&("base64", format!("token={secret}").as_str())),
            "{texts:?}"
        );
        assert!(texts.contains(&("hex", secret)), "{texts:?}");
        assert!(texts.contains(&("percent", secret)), "{texts:?}");
        let binary = STANDARD_NO_PAD.encode([
            0u8, 159, 146, 150, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        ]);
        assert!(
            decoded_runs(&binary).is_empty(),
            "bytes that are not text are not scanned"
        );
    }

    #[test]
    fn a_secret_under_one_or_two_encodings_is_found_where_the_run_starts() {
        let scanner = crate::Scanner::builtin();
        let secret = "ghp_R8tY2uI5oP9aS3dF7gH1jK4lZ6xC0vB2nM8q";
        let once = STANDARD_NO_PAD.encode(format!("GITHUB_TOKEN={secret}"));
        let twice = STANDARD_NO_PAD.encode(hex::encode(format!("GITHUB_TOKEN={secret}")));
        let text = format!("first: {once}\nsecond: {twice}\n");
        let found = scanner.scan_text("values.yaml", &text).findings;
        let summary: Vec<(usize, usize, Option<&str>)> = found
            .iter()
            .map(|f| (f.line, f.column, f.encoding.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [(1, 8, Some("base64")), (2, 9, Some("hex in base64"))],
            "{found:?}"
        );
        assert!(found.iter().all(|f| f.rule == "github-token"));
        let direct = scanner.scan_text("values.yaml", &format!("GITHUB_TOKEN={secret}\n"));
        assert_eq!(
            found[0].fingerprint, direct.findings[0].fingerprint,
            "one secret, one fingerprint"
        );
        let noise = STANDARD_NO_PAD.encode("an ordinary sentence about nothing secret at all");
        assert!(scanner.scan_text("notes.md", &noise).findings.is_empty());
    }
}

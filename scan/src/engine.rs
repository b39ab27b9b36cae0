//! The scanner: one Aho-Corasick pass finds which rules' keywords a text holds, then each candidate rule's regex runs (linear time), its secret is checked for entropy, placeholders, secret references and allowlists, and an inline `palisade:allow <reason>` on its line suppresses it.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::finding::{Finding, Suppressed};
use crate::rules::{Candidate, RuleSet};

/// The marker of an inline suppression; a reason must follow it on the same line.
const ALLOW_MARKER: &str = "palisade:allow";

/// Values that are references to a secret, never a secret (palisade's and Azure's syntaxes).
const REFERENCES: [&str; 5] = [
    "keyvault://",
    "env://",
    "file://",
    "@microsoft.keyvault(",
    "vaultname=",
];

/// Words of values that stand in for a secret in examples and templates, and the marks of a
/// published test vector; they count anywhere from the value to the end of its line.
const PLACEHOLDERS: [&str; 17] = [
    "test vector",
    "test-vector",
    "test_vector",
    "changeme",
    "change-me",
    "change_me",
    "example",
    "placeholder",
    "dummy",
    "redacted",
    "your-",
    "your_",
    "xxxx",
    "****",
    "${",
    "{{",
    "<",
];

/// Compiled rules and the keyword automaton over all of them.
#[derive(Debug)]
pub struct Scanner {
    rules: RuleSet,
    keywords: AhoCorasick,
    /// For each keyword of the automaton, the rules it selects.
    keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords: they always run.
    always: Vec<usize>,
}

/// What scanning one text found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TextReport {
    /// Findings.
    pub findings: Vec<Finding>,
    /// Findings suppressed inline, with their reasons.
    pub suppressed: Vec<Suppressed>,
}

impl Scanner {
    /// A scanner over `rules`.
    pub fn new(rules: RuleSet) -> Self {
        let mut words: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (index, rule) in rules.rules.iter().enumerate() {
            if rule.keywords.is_empty() {
                always.push(index);
            }
            for keyword in &rule.keywords {
                match words.iter().position(|w| w == keyword) {
                    Some(at) => keyword_rules[at].push(index),
                    None => {
                        words.push(keyword.clone());
                        keyword_rules.push(vec![index]);
                    }
                }
            }
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&words)
            .expect("keywords build an automaton");
        Self {
            rules,
            keywords,
            keyword_rules,
            always,
        }
    }

    /// The built-in rules.
    pub fn builtin() -> Self {
        Self::new(RuleSet::builtin())
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The global path-allowlist pattern that keeps `path` out of scans, if one does.
    pub fn allowlisted_path(&self, path: &str) -> Option<&str> {
        self.rules
            .allowlist
            .paths
            .iter()
            .find(|p| p.is_match(path))
            .map(regex::Regex::as_str)
    }

    /// Scans `text`, named `path` in findings (and matched against rules' path patterns), and
    /// what its encoded runs (base64, hex, percent) decode to, up to two encodings deep.
    pub fn scan_text(&self, path: &str, text: &str) -> TextReport {
        self.scan_at_depth(path, text, 0)
    }

    fn scan_at_depth(&self, path: &str, text: &str, depth: usize) -> TextReport {
        let mut candidates = vec![false; self.rules.rules.len()];
        for index in &self.always {
            candidates[*index] = true;
        }
        for found in self.keywords.find_overlapping_iter(text) {
            for index in &self.keyword_rules[found.pattern().as_usize()] {
                candidates[*index] = true;
            }
        }
        let mut report = TextReport::default();
        for (rule, _) in self
            .rules
            .rules
            .iter()
            .zip(&candidates)
            .filter(|(_, candidate)| **candidate)
        {
            if rule.path.as_ref().is_some_and(|p| !p.is_match(path)) {
                continue;
            }
            for captures in rule.regex().captures_iter(text) {
                let group = rule
                    .secret_group
                    .unwrap_or(if captures.len() > 1 { 1 } else { 0 });
                let Some(secret) = captures.get(group).or_else(|| captures.get(0)) else {
                    continue;
                };
                let value = secret.as_str();
                // A reference may hold characters a rule's secret does not (`(`, `=`): judge it
                // by the rest of its line.
                let line_end = text[secret.start()..]
                    .find('\n')
                    .map_or(text.len(), |i| secret.start() + i);
                let line_start = text[..secret.start()].rfind('\n').map_or(0, |i| i + 1);
                let candidate = Candidate {
                    path,
                    secret: value,
                    matched: captures.get(0).map_or(value, |m| m.as_str()),
                    line: &text[line_start..line_end],
                };
                if rule.entropy.is_some_and(|min| entropy(value) < min)
                    || has_sequence(value)
                    || is_reference_or_placeholder(&text[secret.start()..line_end])
                    || rule.allowlist.allows(candidate)
                    || self.rules.allowlist.allows(candidate)
                {
                    continue;
                }
                let finding = Finding::new(&rule.id, path, text, secret.start(), value);
                match allow_reason(text, secret.start()) {
                    Some(reason) => report.suppressed.push(Suppressed::inline(finding, reason)),
                    None => report.findings.push(finding),
                }
            }
        }
        if depth < crate::decode::MAX_DEPTH {
            for run in crate::decode::decoded_runs(text) {
                // The decoded text is scanned after what precedes its run on the line, so a rule
                // that needs context (`password:`, a file about Twilio) sees it; findings that
                // start in that context are the plain text's own and are left out.
                let line_start = text[..run.start].rfind('\n').map_or(0, |i| i + 1);
                let context = &text[line_start..run.start];
                let context_chars = context.chars().count();
                let inner = self.scan_at_depth(path, &format!("{context}{}", run.text), depth + 1);
                for finding in inner
                    .findings
                    .into_iter()
                    .filter(|f| f.line > 1 || f.column > context_chars)
                {
                    let finding = finding.found_in(text, run.start, run.encoding);
                    match allow_reason(text, run.start) {
                        Some(reason) => report.suppressed.push(Suppressed::inline(finding, reason)),
                        None => report.findings.push(finding),
                    }
                }
            }
        }
        // One secret, one finding: where several rules match at the same place, the first rule
        // (the more specific; generic rules come last in a file) names it.
        report.findings.sort_by_key(|f| (f.line, f.column));
        report
            .findings
            .dedup_by(|a, b| a.line == b.line && a.column == b.column);
        report
            .suppressed
            .sort_by_key(|s| (s.finding.line, s.finding.column));
        report.suppressed.dedup_by(|a, b| {
            a.finding.line == b.finding.line && a.finding.column == b.finding.column
        });
        report
    }
}

/// Shannon entropy in bits per character.
pub(crate) fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::BTreeMap::new();
    for c in value.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let length = value.chars().count() as f64;
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / length;
            -p * p.log2()
        })
        .sum()
}

/// Whether `value` holds six characters in a row that each follow the one before (`abcdef`,
/// `ABCDEF`, `123456`): alphabets and sequences written out, never a generated secret.
fn has_sequence(value: &str) -> bool {
    let mut run = 1;
    let mut previous: Option<char> = None;
    for c in value.chars() {
        run = match previous {
            Some(p) if c.is_ascii_alphanumeric() && u32::from(c) == u32::from(p) + 1 => run + 1,
            _ => 1,
        };
        if run >= 6 {
            return true;
        }
        previous = Some(c);
    }
    false
}

fn is_reference_or_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    REFERENCES.iter().any(|r| lower.contains(r)) || PLACEHOLDERS.iter().any(|p| lower.contains(p))
}

/// The reason of a `palisade:allow <reason>` comment on the line holding `at`; `None` without
/// one, or without a reason (an allow must say why).
fn allow_reason(text: &str, at: usize) -> Option<String> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[start..end];
    let after = &line[line.find(ALLOW_MARKER)? + ALLOW_MARKER.len()..];
    let reason = after
        .trim_start_matches([':', ' ', '('])
        .trim_end_matches([')', ' ', '*', '/', '-', '>', '#'])
        .trim();
    reason
        .chars()
        .any(char::is_alphanumeric)
        .then(|| reason.to_owned())
}

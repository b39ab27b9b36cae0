//! `palisade-scan`: finds leaked secrets in text before it reaches a repository. Rules in a gitleaks-style TOML format (a built-in set, and a team's own files), a keyword prefilter over every rule at once, the rule's linear-time regex, entropy, placeholders and secret references never reported, inline `palisade:allow <reason>` suppressions.
//!
//! Invariant: this crate knows text and files, not the command line or the server; it never
//! prints, and a finding never carries the secret itself, only a redacted form and a fingerprint.

#![warn(missing_docs)]

mod baseline;
mod decode;
mod engine;
mod finding;
mod rules;
mod sarif;
mod walk;

pub use baseline::{BASELINE_REASON, Baseline, BaselineEntry, BaselineError};
pub use engine::{Scanner, TextReport};
pub use finding::{Finding, Suppressed, SuppressionKind};
pub use rules::{Examples, REPOSITORY_CONFIG, RuleError, RuleSet};
pub use sarif::sarif;
pub use walk::{AllowlistedPath, MAX_FILE_BYTES, TreeReport, scan_tree};

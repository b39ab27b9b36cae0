//! Findings as SARIF 2.1.0 (what GitHub code scanning and other tools read): one run, the rules that fired with their descriptions, one result per finding with its location and fingerprint, never the secret.

use serde_json::{Value, json};

use crate::finding::Finding;
use crate::rules::RuleSet;

/// A SARIF 2.1.0 log of `findings`, found with `rules`.
pub fn sarif(findings: &[Finding], rules: &RuleSet) -> Value {
    let mut fired: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    fired.sort_unstable();
    fired.dedup();
    let descriptors: Vec<Value> = fired
        .iter()
        .map(|id| {
            let text = rules
                .description(id)
                .filter(|d| !d.is_empty())
                .unwrap_or(id);
            json!({ "id": id, "shortDescription": { "text": text } })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "level": "error",
                "message": { "text": format!("{} found: {}", f.rule, f.redacted) },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": f.path.replace('\\', "/") },
                    "region": { "startLine": f.line, "startColumn": f.column },
                } }],
                "partialFingerprints": { "palisadeSecret/v1": f.fingerprint },
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "palisade-scan",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": descriptors,
            } },
            "results": results,
        }],
    })
}

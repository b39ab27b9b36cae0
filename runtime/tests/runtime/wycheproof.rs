//! Project Wycheproof JWS vectors: every valid case of a supported algorithm accepted, every invalid case rejected.

use std::path::PathBuf;

use jsonwebtoken::Algorithm;
use palisade_runtime::authn::{Authenticator, AuthnConfig, JwkSet};
use serde::Deserialize;
use serde_json::Value;

use crate::support::{report, skip};

#[derive(Deserialize)]
struct Suite {
    #[serde(rename = "testGroups")]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    public: Option<Value>,
    private: Option<Value>,
    tests: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    #[serde(rename = "tcId")]
    id: u32,
    comment: String,
    jws: Value,
    result: String,
}

/// Valid vectors this validator refuses on purpose, each with the rule that refuses it.
const REFUSED_BY_DESIGN: &[(u32, &str)] = &[
    (
        346,
        "PS384 token verified with a JWK pinned to alg PS256 (RFC 8725 3.1: one key, one algorithm)",
    ),
    (
        350,
        "PS384 token verified with a JWK pinned to alg PS256 (RFC 8725 3.1: one key, one algorithm)",
    ),
    (
        372,
        "'?' inside a base64url segment (RFC 7515 section 2 allows only the base64url alphabet)",
    ),
    (
        373,
        "'?' inside a base64url segment (RFC 7515 section 2 allows only the base64url alphabet)",
    ),
];

/// Invalid vectors whose JWS is byte for byte a valid vector of the same group (tc 357): the file
/// contradicts itself, so they are checked to be exactly that and not counted either way.
const CONTRADICTORY: &[u32] = &[367, 370];

/// Algorithms the validator supports (jsonwebtoken has no ES512).
const SUPPORTED: &[&str] = &[
    "HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384",
    "PS512", "EdDSA",
];

fn vectors_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WYCHEPROOF_DIR") {
        return Some(PathBuf::from(dir));
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/wycheproof");
    beside.is_dir().then_some(beside)
}

fn header_alg(jws: &str) -> Option<String> {
    use base64::Engine;
    let header = jws.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("alg")?.as_str().map(str::to_owned)
}

#[tokio::test]
async fn wycheproof_json_web_signature_vectors() {
    let Some(dir) = vectors_dir() else {
        skip(
            "wycheproof_json_web_signature_vectors",
            "no Wycheproof vectors (set WYCHEPROOF_DIR)",
        );
        return;
    };
    let text =
        std::fs::read_to_string(dir.join("json_web_signature_test.json")).expect("read vectors");
    let suite: Suite = serde_json::from_str(&text).expect("vectors parse");
    let algorithms: Vec<Algorithm> = SUPPORTED.iter().map(|a| a.parse().unwrap()).collect();
    let (mut accepted, mut rejected, mut unsupported, mut by_design, mut contradictory) =
        (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    for group in suite.groups {
        // HMAC vectors carry only the private (symmetric) key; the others use the public key.
        let key = group.public.or(group.private).expect("group has a key");
        let set: JwkSet =
            serde_json::from_value(serde_json::json!({ "keys": [key] })).expect("key parses");
        let config = AuthnConfig::new("https://wycheproof.test", "any")
            .with_static_keys(set)
            .with_algorithms(algorithms.clone());
        let authenticator = Authenticator::new(config).expect("config");
        let valid_jws: Vec<String> = group
            .tests
            .iter()
            .filter(|c| c.result == "valid")
            .filter_map(|c| c.jws.as_str().map(str::to_owned))
            .collect();
        for case in group.tests {
            let jws = match &case.jws {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let outcome = authenticator.verify_signature(&jws).await;
            let supported = header_alg(&jws).is_some_and(|a| SUPPORTED.contains(&a.as_str()));
            match (case.result.as_str(), outcome) {
                ("valid", Ok(_)) => accepted += 1,
                ("valid", Err(_)) if REFUSED_BY_DESIGN.iter().any(|(id, _)| *id == case.id) => {
                    by_design += 1
                }
                ("valid", Err(_)) if !supported => unsupported += 1,
                ("valid", Err(e)) => failures.push(format!(
                    "tc {} ({}): valid but refused: {e}",
                    case.id, case.comment
                )),
                (_, _) if CONTRADICTORY.contains(&case.id) => {
                    assert!(
                        valid_jws.contains(&jws),
                        "tc {} is no longer a copy of a valid vector",
                        case.id
                    );
                    contradictory += 1;
                }
                (_, Err(_)) => rejected += 1,
                (_, Ok(_)) => failures.push(format!(
                    "tc {} ({}): invalid but accepted",
                    case.id, case.comment
                )),
            }
        }
    }
    report(&format!(
        "wycheproof JWS: {accepted} valid accepted, {rejected} invalid rejected, {unsupported} valid skipped (unsupported algorithm), {by_design} valid refused by design, {contradictory} contradictory skipped"
    ));
    assert!(
        failures.is_empty(),
        "{} Wycheproof failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        accepted > 30 && rejected > 250,
        "the suite ran: {accepted} accepted, {rejected} rejected"
    );
    assert_eq!(
        by_design,
        REFUSED_BY_DESIGN.len(),
        "every by-design refusal is still needed"
    );
    assert_eq!(contradictory, CONTRADICTORY.len());
}

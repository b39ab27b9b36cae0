//! The authorization server checks its own access tokens with the runtime's one verifier: tokens signed with its real key but malformed in ways `authn` refuses are refused here too.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, header};

use super::endpoints::{bearer, live_access_token};
use super::keys::KeyRing;
use super::{AuthorizationServer, KeyEncryptionKey, ServerConfig, Store, SystemClock};
use crate::audit::{AuditEmitter, EmitterConfig, MemorySink};

const ISSUER: &str = "https://issuer.test";

async fn server() -> AuthorizationServer {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let kek = KeyEncryptionKey::from_secret(&KeyEncryptionKey::generate()).unwrap();
    let audit = AuditEmitter::spawn(
        "urn:test",
        Arc::new(MemorySink::new()),
        EmitterConfig::default(),
    );
    let server = AuthorizationServer::open(
        ServerConfig::new(ISSUER),
        store,
        kek,
        audit,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    // Tokens name a live client: the server refuses those of a disabled or unknown one.
    let ids = server.identities();
    ids.create_tenant("acme", "Acme").await.unwrap();
    let client = ids
        .create_client(super::ClientSpec {
            tenant: "acme".into(),
            name: "svc".into(),
            grant_types: vec!["client_credentials".into()],
            audiences: vec!["api".into()],
            ..super::ClientSpec::default()
        })
        .await
        .unwrap();
    *CLIENT.lock().unwrap() = client.client_id;
    server
}

/// The client the test tokens name.
static CLIENT: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Signs `header` and `claims`, given as raw JSON text so they can hold what a JSON encoder
/// would never write (duplicate members), with the server's active key.
async fn sign_raw(server: &AuthorizationServer, header: &str, claims: &str) -> String {
    let now = server.now();
    let set = server.inner.keys.current(now).await.unwrap();
    let key = set.active().unwrap();
    let header = header
        .replace("$ALG", &format!("{:?}", KeyRing::jose(key.algorithm)))
        .replace("$KID", &key.kid);
    let claims = claims
        .replace("$EXP", &(now + 300).to_string())
        .replace("$CLIENT", &CLIENT.lock().unwrap());
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        key.encoding.as_ref().unwrap(),
        KeyRing::jose(key.algorithm),
    )
    .unwrap();
    format!("{input}.{signature}")
}

const CLAIMS: &str = r#"{"iss":"https://issuer.test","sub":"svc","exp":$EXP,"jti":"j1","tenant_id":"acme","client_id":"$CLIENT"}"#;

#[tokio::test]
async fn the_server_verifies_its_own_access_tokens_through_the_runtime_verifier() {
    let server = server().await;
    let good_header = r#"{"alg":"$ALG","typ":"at+jwt","kid":"$KID"}"#;
    let good = sign_raw(&server, good_header, CLAIMS).await;
    assert!(
        live_access_token(&server, &good).await.unwrap().is_some(),
        "the well-formed token is accepted (the control case)"
    );
    let cases = [
        (
            "a duplicate header member",
            r#"{"alg":"$ALG","typ":"at+jwt","kid":"$KID","typ":"at+jwt"}"#,
            CLAIMS.to_owned(),
        ),
        (
            "a critical extension",
            r#"{"alg":"$ALG","typ":"at+jwt","kid":"$KID","crit":["exp"],"exp":1}"#,
            CLAIMS.to_owned(),
        ),
        (
            "a key named by the token",
            r#"{"alg":"$ALG","typ":"at+jwt","kid":"$KID","jku":"https://evil.test/jwks"}"#,
            CLAIMS.to_owned(),
        ),
        (
            "an unsafe kid",
            r#"{"alg":"$ALG","typ":"at+jwt","kid":"../$KID"}"#,
            CLAIMS.to_owned(),
        ),
        (
            "a duplicate claim",
            good_header,
            CLAIMS.replace(r#""sub":"svc""#, r#""sub":"svc","sub":"admin""#),
        ),
        (
            "another issuer",
            good_header,
            CLAIMS.replace("issuer.test", "evil.test"),
        ),
        (
            "an ID token's typ",
            r#"{"alg":"$ALG","typ":"JWT","kid":"$KID"}"#,
            CLAIMS.to_owned(),
        ),
    ];
    let mut accepted = Vec::new();
    for (case, header, claims) in &cases {
        let token = sign_raw(&server, header, claims).await;
        if live_access_token(&server, &token).await.unwrap().is_some() {
            accepted.push(*case);
        }
    }
    // Padding is not base64url (RFC 7515 section 2): the same good token with '=' appended to a segment.
    let (head, rest) = good.split_once('.').unwrap();
    if live_access_token(&server, &format!("{head}=.{rest}"))
        .await
        .unwrap()
        .is_some()
    {
        accepted.push("a padded segment");
    }
    assert!(accepted.is_empty(), "accepted despite {accepted:?}");
}

#[test]
fn the_server_reads_bearer_headers_with_the_runtime_parser() {
    let headers = |values: &[&str]| {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        map
    };
    assert_eq!(bearer(&headers(&["Bearer abc"])), Some("abc"));
    assert_eq!(
        bearer(&headers(&["bearer abc"])),
        Some("abc"),
        "the scheme is case-insensitive"
    );
    assert_eq!(
        bearer(&headers(&["Bearer abc", "Bearer def"])),
        None,
        "two headers are refused"
    );
    assert_eq!(bearer(&headers(&["Basic abc"])), None);
    assert_eq!(bearer(&HeaderMap::new()), None);
}

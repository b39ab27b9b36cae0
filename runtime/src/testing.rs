//! An in-process token authority for tests: it mints tokens with chosen claims and serves its JWKS and discovery document.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

use crate::authn::AuthnConfig;
use crate::pem::pem;

/// The `kid` of the authority's ES256 key.
pub const ES256_KID: &str = "test-es256";
/// The `kid` of the authority's RS256 key.
pub const RS256_KID: &str = "test-rs256";

/// A token issuer for tests, with an ES256 and an RS256 key generated at construction.
pub struct TestAuthority {
    issuer: String,
    audience: String,
    es256: EncodingKey,
    rs256: EncodingKey,
    jwks: Value,
    rsa_public_pem: String,
}

impl TestAuthority {
    /// A new authority for `issuer` whose tokens name `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let ec =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generation");
        let ec_pkcs8 = ec.to_pkcs8v1().expect("P-256 key export");
        let point = ec.public_key().as_ref();
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let rsa_pkcs8 = rsa.as_der().expect("RSA key export");
        let rsa_spki = rsa.public_key().as_der().expect("RSA public key export");
        let n = rsa.public_key().modulus().big_endian_without_leading_zero();
        let e = rsa
            .public_key()
            .exponent()
            .big_endian_without_leading_zero();
        let jwks = json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": ES256_KID,
              "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]) },
            { "kty": "RSA", "use": "sig", "alg": "RS256", "kid": RS256_KID,
              "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e) },
        ]});
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            es256: EncodingKey::from_ec_der(ec_pkcs8.as_ref()),
            rs256: EncodingKey::from_rsa_pem(pem("PRIVATE KEY", rsa_pkcs8.as_ref()).as_bytes())
                .expect("RSA key import"),
            jwks,
            rsa_public_pem: pem("PUBLIC KEY", rsa_spki.as_ref()),
        }
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience its tokens name.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The public key set.
    pub fn jwks(&self) -> JwkSet {
        serde_json::from_value(self.jwks.clone()).expect("generated key set parses")
    }

    /// The key set as JSON, as served at the JWKS endpoint.
    pub fn jwks_json(&self) -> &Value {
        &self.jwks
    }

    /// The RSA public key as PEM: what an attacker would use as an HMAC secret.
    pub fn rsa_public_pem(&self) -> &str {
        &self.rsa_public_pem
    }

    /// A strict validation configuration trusting this authority's keys directly.
    pub fn authn_config(&self) -> AuthnConfig {
        AuthnConfig::new(&self.issuer, &self.audience).with_static_keys(self.jwks())
    }

    /// Starts a token for `subject` in `tenant`, valid for five minutes, with `typ: at+jwt`.
    pub fn token(&self, tenant: &str, subject: &str) -> TokenBuilder<'_> {
        let now = now_secs();
        let claims = json!({
            "iss": self.issuer, "aud": self.audience, "sub": subject, "tenant_id": tenant,
            "iat": now, "nbf": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": "test-client", "scope": "", "roles": [],
        });
        let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": ES256_KID });
        TokenBuilder {
            authority: self,
            header: header.as_object().cloned().unwrap_or_default(),
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    /// Signs `header.claims` exactly as given with the key matching `alg` (ES256 or RS256 keys,
    /// or `secret` for HMAC), for tests that need tokens no honest issuer would produce.
    pub fn sign_raw(
        &self,
        header: &Value,
        claims: &Value,
        alg: Algorithm,
        secret: Option<&[u8]>,
    ) -> String {
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("header serializes"));
        let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        self.sign_segments(&h, &c, alg, secret)
    }

    /// Signs pre-encoded segments (for duplicate-member and encoding tests).
    pub fn sign_segments(
        &self,
        header_b64: &str,
        claims_b64: &str,
        alg: Algorithm,
        secret: Option<&[u8]>,
    ) -> String {
        let input = format!("{header_b64}.{claims_b64}");
        let hmac;
        let key = match (alg, secret) {
            (_, Some(secret)) => {
                hmac = EncodingKey::from_secret(secret).expect("non-empty HMAC secret");
                &hmac
            }
            (Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256, None) => {
                &self.rs256
            }
            _ => &self.es256,
        };
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("signing works");
        format!("{input}.{signature}")
    }

    /// An axum router serving `/.well-known/openid-configuration` and `/jwks`, for discovery tests.
    pub fn router(&self) -> axum::Router {
        let discovery = json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks", self.issuer.trim_end_matches('/')),
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        });
        let jwks = self.jwks.clone();
        axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || async move { axum::Json(jwks) }),
            )
    }
}

/// A token being built: change claims and header, then [`sign`](Self::sign).
pub struct TokenBuilder<'a> {
    authority: &'a TestAuthority,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl TokenBuilder<'_> {
    /// Sets the roles.
    pub fn roles(mut self, roles: &[&str]) -> Self {
        self.claims.insert("roles".into(), json!(roles));
        self
    }

    /// Sets the space-separated scope.
    pub fn scope(mut self, scope: &str) -> Self {
        self.claims.insert("scope".into(), json!(scope));
        self
    }

    /// Sets any claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets any header member.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    /// Removes a header member.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Shifts `exp` to `seconds` from now (negative for the past).
    pub fn expires_in(self, seconds: i64) -> Self {
        let exp = now_secs() + seconds;
        self.claim("exp", json!(exp))
    }

    /// Signs with the RS256 key instead of the ES256 one.
    pub fn rs256(self) -> Self {
        self.header("alg", json!("RS256"))
            .header("kid", json!(RS256_KID))
    }

    /// The compact token.
    pub fn sign(self) -> String {
        let alg: Algorithm = self
            .header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .unwrap_or(Algorithm::ES256);
        self.authority.sign_raw(
            &Value::Object(self.header),
            &Value::Object(self.claims),
            alg,
            None,
        )
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

//! A service's client-credentials access token from the control plane, for one scope and audience, cached until a minute before it expires: what a service uses to ship its audit entries and to fetch its policy bundle.

use std::time::{Duration, Instant};

use crate::secrets::Secret;

/// Fetches and caches one kind of token.
pub(crate) struct TokenCache {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: &'static str,
    audience: &'static str,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl TokenCache {
    /// Tokens from `{issuer}/token` for `client_id`, with `scope` and `audience`.
    pub(crate) fn new(
        http: reqwest::Client,
        issuer: &str,
        client_id: &str,
        client_secret: Secret,
        scope: &'static str,
        audience: &'static str,
    ) -> Self {
        Self {
            http,
            token_url: format!("{}/token", issuer.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            client_secret,
            scope,
            audience,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A live token: the cached one, or a new one. The error says what went wrong, without the
    /// secret.
    pub(crate) async fn get(&self) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", self.scope),
                ("audience", self.audience),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            // A wrong secret or a client without the scope: retrying slowly lets an operator fix it.
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                format!("token: HTTP {status}")
            } else {
                format!("token refused: HTTP {status}")
            });
        }
        let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        let token = body["access_token"]
            .as_str()
            .ok_or("no access_token")?
            .to_owned();
        let lifetime = body["expires_in"]
            .as_u64()
            .unwrap_or(300)
            .saturating_sub(60)
            .max(1);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        ));
        Ok(token)
    }

    /// Drops the cached token (the server refused it: 401).
    pub(crate) async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}

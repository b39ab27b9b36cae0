//! The Azure Key Vault provider, with the official SDK's real clients, against a local HTTPS server that
//! speaks the Key Vault secrets and managed-identity (IMDS) token protocols. The real cloud is out of
//! reach here: a transport redirects the SDK's requests (to `*.vault.azure.net` and to the IMDS
//! address) to the local server, keeping everything else real: TLS with a test CA, the IMDS token
//! request, Key Vault's 401 challenge, the bearer retry and the secret's JSON.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use azure_core::http::{
    AsyncRawResponse, ClientOptions, HttpClient, Request, RetryOptions, Transport,
};
use http::{HeaderMap, StatusCode};
use palisade_runtime::secrets::keyvault::{AzureCredentialSource, KeyVaultProvider};
use palisade_runtime::secrets::{CachePolicy, ProviderError, SecretRef, SecretResolver};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::json;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const TOKEN: &str = "mi-access-token";

#[derive(Default)]
struct Vault {
    secrets: HashMap<String, (String, String)>,
    token_requests: usize,
    unauthenticated: usize,
}

type Shared = Arc<Mutex<Vault>>;

async fn imds(
    State(vault): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(
        headers.get("metadata").map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "IMDS requires Metadata: true"
    );
    assert_eq!(headers["x-original-host"], "169.254.169.254");
    assert!(q.contains_key("api-version"));
    assert_eq!(
        q.get("resource").map(String::as_str),
        Some("https://vault.azure.net")
    );
    vault.lock().unwrap().token_requests += 1;
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    axum::Json(json!({
        "access_token": TOKEN, "expires_on": expires.to_string(),
        "token_type": "Bearer", "resource": "https://vault.azure.net",
    }))
    .into_response()
}

async fn secret(
    State(vault): State<Shared>,
    headers: HeaderMap,
    Path(path): Path<Vec<String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(headers["x-original-host"], "contoso.vault.azure.net");
    assert!(q.contains_key("api-version"));
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {TOKEN}").as_str());
    if !authorized {
        vault.lock().unwrap().unauthenticated += 1;
        let challenge = r#"Bearer authorization="https://login.microsoftonline.com/tenant-id", resource="https://vault.azure.net""#;
        return (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)]).into_response();
    }
    let (name, version) = (&path[0], path.get(1).filter(|v| !v.is_empty()));
    if name == "forbidden" {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": {"code": "Forbidden", "message": "denied"}})),
        )
            .into_response();
    }
    let vault = vault.lock().unwrap();
    match vault.secrets.get(name.as_str()) {
        Some((v, value)) if version.is_none_or(|want| want == v) => axum::Json(json!({
            "value": value, "id": format!("https://contoso.vault.azure.net/secrets/{name}/{v}"),
            "attributes": { "enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000 },
        }))
        .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": "SecretNotFound", "message": "not found"}})),
        )
            .into_response(),
    }
}

/// Starts the HTTPS server and returns its address and the PEM of the CA that signed its certificate.
async fn start(vault: Shared) -> (SocketAddr, String) {
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let router = Router::new()
        .route("/metadata/identity/oauth2/token", get(imds))
        .route(
            "/secrets/{*path}",
            get(|s, h, Path(p): Path<String>, q| {
                secret(s, h, Path(p.split('/').map(str::to_owned).collect()), q)
            }),
        )
        .with_state(vault);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    (addr, ca.pem())
}

/// Sends every SDK request to the local server over HTTPS, recording the host it was meant for.
#[derive(Debug)]
struct Redirect {
    client: reqwest::Client,
    target: SocketAddr,
}

#[async_trait::async_trait]
impl HttpClient for Redirect {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut request = request.clone();
        let original = request.url().host_str().unwrap_or_default().to_owned();
        let url = request.url_mut();
        url.set_scheme("https").unwrap();
        url.set_host(Some("localhost")).unwrap();
        url.set_port(Some(self.target.port())).unwrap();
        request.insert_header("x-original-host", original);
        self.client.execute_request(&request).await
    }
}

async fn provider(vault: &Shared) -> KeyVaultProvider {
    let (addr, ca_pem) = start(vault.clone()).await;
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let options = ClientOptions {
        transport: Some(Transport::new(Arc::new(Redirect {
            client,
            target: addr,
        }))),
        retry: RetryOptions::none(),
        ..ClientOptions::default()
    };
    KeyVaultProvider::new(AzureCredentialSource::ManagedIdentity, options)
        .expect("managed identity credential")
}

#[tokio::test]
async fn key_vault_secrets_through_managed_identity() {
    let vault: Shared = Arc::default();
    let v1 = "0123456789abcdef0123456789abcdef";
    vault
        .lock()
        .unwrap()
        .secrets
        .insert("db-password".into(), (v1.into(), "first-value".into()));
    let policy = CachePolicy {
        ttl: Duration::from_millis(300),
        refresh_ahead: Duration::ZERO,
    };
    let resolver = SecretResolver::new(policy).with_key_vault(Arc::new(provider(&vault).await));

    let latest = SecretRef::parse("keyvault://contoso/db-password").unwrap();
    assert_eq!(
        resolver.resolve(&latest).await.unwrap().expose(),
        "first-value"
    );
    let pinned = SecretRef::parse(&format!(
        "@Microsoft.KeyVault(SecretUri=https://contoso.vault.azure.net/secrets/db-password/{v1})"
    ))
    .unwrap();
    assert_eq!(
        resolver.resolve(&pinned).await.unwrap().expose(),
        "first-value"
    );
    {
        let v = vault.lock().unwrap();
        assert_eq!(
            v.unauthenticated, 1,
            "the SDK answered Key Vault's challenge once, then sent its token up front"
        );
        assert_eq!(v.token_requests, 1, "the managed-identity token is cached");
    }

    // Rotation: a new version becomes the latest; after the TTL the resolver serves it.
    vault.lock().unwrap().secrets.insert(
        "db-password".into(),
        (
            "fedcba9876543210fedcba9876543210".into(),
            "second-value".into(),
        ),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        resolver.resolve(&latest).await.unwrap().expose(),
        "second-value"
    );

    let missing = SecretRef::parse("keyvault://contoso/nope").unwrap();
    let error = resolver.resolve(&missing).await.unwrap_err();
    assert!(matches!(error.source, ProviderError::NotFound), "{error}");
    assert_eq!(
        error.to_string(),
        "secret keyvault://contoso/nope: not found"
    );
    let forbidden = SecretRef::parse("keyvault://contoso/forbidden").unwrap();
    let error = resolver.resolve(&forbidden).await.unwrap_err();
    assert!(matches!(error.source, ProviderError::Denied(_)), "{error}");
}

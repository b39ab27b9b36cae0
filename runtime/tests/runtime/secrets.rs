//! Secret references: every syntax, hostile look-alikes, redaction, start-up resolution and rotation through the cache.

use std::time::Duration;

use palisade_runtime::secrets::{
    CachePolicy, SecretRef, SecretRefError, SecretResolver, VaultHostPolicy,
};

fn check(input: &str, expected: Result<&str, fn(&SecretRefError) -> bool>) {
    let parsed = SecretRef::parse(input);
    match (parsed, expected) {
        (Ok(r), Ok(canonical)) => {
            assert_eq!(r.to_string(), canonical, "input {input:?}");
            assert_eq!(
                SecretRef::parse(canonical).unwrap(),
                r,
                "canonical form of {input:?} parses back"
            );
        }
        (Err(e), Err(matches)) => assert!(matches(&e), "input {input:?}: unexpected error {e:?}"),
        (got, _) => panic!("input {input:?}: got {got:?}"),
    }
}

#[test]
fn reference_syntaxes() {
    let v = "0123456789abcdef0123456789abcdef";
    check(
        "keyvault://contoso/db-password",
        Ok("keyvault://contoso/db-password"),
    );
    check(
        &format!("keyvault://contoso/db-password/{v}"),
        Ok(&format!("keyvault://contoso/db-password/{v}")),
    );
    check(
        "keyvault://contoso.vault.azure.cn/db",
        Ok("keyvault://contoso.vault.azure.cn/db"),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=https://contoso.vault.azure.net/secrets/db/)",
        Ok("keyvault://contoso/db"),
    );
    check(
        &format!("@Microsoft.KeyVault(SecretUri=https://contoso.vault.azure.net/secrets/db/{v})"),
        Ok(&format!("keyvault://contoso/db/{v}")),
    );
    check(
        "@Microsoft.KeyVault(VaultName=contoso;SecretName=db)",
        Ok("keyvault://contoso/db"),
    );
    check(
        &format!("@Microsoft.KeyVault(VaultName=contoso;SecretName=db;SecretVersion={v})"),
        Ok(&format!("keyvault://contoso/db/{v}")),
    );
    check("env://DATABASE_URL", Ok("env://DATABASE_URL"));
    check("file:///run/secrets/db", Ok("file:///run/secrets/db"));

    check(
        "@Microsoft.KeyVault(SecretUri=https://contoso.vault.azure.net.evil.com/secrets/db)",
        Err(|e| matches!(e, SecretRefError::UntrustedHost(_))),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=https://vault.azure.net.evil.com/secrets/db)",
        Err(|e| matches!(e, SecretRefError::UntrustedHost(_))),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=https://evilvault.azure.net/secrets/db)",
        Err(|e| matches!(e, SecretRefError::UntrustedHost(_))),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=https://user@contoso.vault.azure.net/secrets/db)",
        Err(|e| matches!(e, SecretRefError::InvalidPath(_))),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=http://contoso.vault.azure.net/secrets/db)",
        Err(|e| matches!(e, SecretRefError::NotHttps(_))),
    );
    check(
        "keyvault://contoso.vault.azure.net.evil.com/db",
        Err(|e| matches!(e, SecretRefError::UntrustedHost(_))),
    );
    check(
        "keyvault://contoso/../db",
        Err(|e| matches!(e, SecretRefError::InvalidSecretName(_))),
    );
    check(
        "keyvault://contoso/db/../../x",
        Err(|e| {
            matches!(
                e,
                SecretRefError::InvalidVersion(_) | SecretRefError::InvalidPath(_)
            )
        }),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=https://contoso.vault.azure.net/secrets/..%2Fkeys)",
        Err(|e| matches!(e, SecretRefError::InvalidSecretName(_))),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=https://contoso.vault.azure.net/secrets/a/../b)",
        Err(|e| matches!(e, SecretRefError::InvalidPath(_))),
    );
    check(
        "@Microsoft.KeyVault(SecretUri=https://contoso.vault.azure.net/keys/db)",
        Err(|e| matches!(e, SecretRefError::InvalidPath(_))),
    );
    check(
        "keyvault://contoso/db/notaversion",
        Err(|e| matches!(e, SecretRefError::InvalidVersion(_))),
    );
    check(
        "keyvault://x/db",
        Err(|e| matches!(e, SecretRefError::InvalidVaultName(_))),
    );
    check(
        "@Microsoft.KeyVault(VaultName=contoso)",
        Err(|e| matches!(e, SecretRefError::MalformedAppServiceReference(_))),
    );
    check(
        "@Microsoft.KeyVault(VaultName=contoso;SecretName=a;SecretName=b)",
        Err(|e| matches!(e, SecretRefError::MalformedAppServiceReference(_))),
    );
    check(
        "env://1BAD",
        Err(|e| matches!(e, SecretRefError::InvalidEnvName(_))),
    );
    check(
        "env://A-B",
        Err(|e| matches!(e, SecretRefError::InvalidEnvName(_))),
    );
    check(
        "file://relative/path",
        Err(|e| matches!(e, SecretRefError::InvalidFilePath(_))),
    );
    check(
        "file:///run/../etc/shadow",
        Err(|e| matches!(e, SecretRefError::InvalidFilePath(_))),
    );
    check(
        "hunter2",
        Err(|e| matches!(e, SecretRefError::UnknownSyntax)),
    );
}

#[test]
fn a_test_host_must_be_allowed_explicitly() {
    let uri = "@Microsoft.KeyVault(SecretUri=https://127.0.0.1:8443/secrets/db)";
    assert!(matches!(
        SecretRef::parse(uri),
        Err(SecretRefError::UntrustedHost(_))
    ));
    let policy = VaultHostPolicy::default().allow_host("127.0.0.1:8443");
    assert_eq!(
        SecretRef::parse_with(uri, &policy).unwrap().to_string(),
        "keyvault://127.0.0.1:8443/db"
    );
}

#[tokio::test]
async fn resolution_names_the_reference_never_the_value() {
    let dir = tempdir();
    let path = dir.join("db");
    std::fs::write(&path, "s3cr3t-value\n").unwrap();
    let resolver = SecretResolver::new(CachePolicy::default());
    let good = SecretRef::parse(&format!("file://{}", path.display())).unwrap();
    let value = resolver.resolve(&good).await.unwrap();
    assert_eq!(value.expose(), "s3cr3t-value");
    assert!(!format!("{value:?}").contains("s3cr3t"));
    let env = resolver
        .resolve(&SecretRef::parse("env://PATH").unwrap())
        .await
        .unwrap();
    assert!(!env.expose().is_empty());

    let missing = SecretRef::parse("env://PALISADE_TEST_SURELY_UNSET_VARIABLE").unwrap();
    let vault = SecretRef::parse("keyvault://contoso/db").unwrap();
    let errors = resolver
        .resolve_all([&good, &missing, &vault])
        .await
        .unwrap_err();
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "secret env://PALISADE_TEST_SURELY_UNSET_VARIABLE: not found",
            "secret keyvault://contoso/db: no provider is configured for this kind of reference",
        ]
    );
    assert!(messages.iter().all(|m| !m.contains("s3cr3t")));
}

#[tokio::test(start_paused = true)]
async fn a_rotated_secret_is_picked_up_after_the_ttl() {
    let dir = tempdir();
    let path = dir.join("api-key");
    std::fs::write(&path, "v1").unwrap();
    let policy = CachePolicy {
        ttl: Duration::from_secs(60),
        refresh_ahead: Duration::from_secs(10),
    };
    let resolver = SecretResolver::new(policy);
    let r = SecretRef::parse(&format!("file://{}", path.display())).unwrap();
    assert_eq!(resolver.resolve(&r).await.unwrap().expose(), "v1");

    std::fs::write(&path, "v2").unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        resolver.resolve(&r).await.unwrap().expose(),
        "v1",
        "fresh cache entries are served"
    );

    // Inside the refresh-ahead window the old value is served while a background refresh runs.
    tokio::time::advance(Duration::from_secs(25)).await;
    assert_eq!(resolver.resolve(&r).await.unwrap().expose(), "v1");
    for _ in 0..50 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        resolver.resolve(&r).await.unwrap().expose(),
        "v2",
        "the refresh picked up the rotation"
    );

    std::fs::write(&path, "v3").unwrap();
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        resolver.resolve(&r).await.unwrap().expose(),
        "v3",
        "an expired entry is fetched again"
    );
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-secrets-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

//! What every generated service used to write itself and now takes from the runtime: a policy folder loaded in one call, and configuration enums that deserialize by name (an unknown value names the accepted ones).

use palisade_runtime::authn::TokenType;
use palisade_runtime::authz::{LoadError, PolicyEngine};
use palisade_runtime::secrets::keyvault::AzureCredentialSource;

use crate::support::{POLICIES, SCHEMA};

fn folder(files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-policies-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

#[test]
fn a_policy_folder_loads_in_one_call_and_its_errors_name_the_file() {
    let good = folder(&[
        ("schema.cedarschema", SCHEMA),
        ("b.cedar", POLICIES),
        (
            "a.cedar",
            r#"@id("a") permit(principal, action == App::Action::"delete", resource);"#,
        ),
        ("notes.txt", "not a policy"),
    ]);
    PolicyEngine::from_dir("App", &good).unwrap();

    let bad = folder(&[("schema.cedarschema", SCHEMA), ("broken.cedar", "permit(")]);
    let error = PolicyEngine::from_dir("App", &bad)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("broken.cedar"), "{error}");

    let no_schema = folder(&[("a.cedar", "")]);
    let error = PolicyEngine::from_dir("App", &no_schema).err().unwrap();
    assert!(
        matches!(&error, LoadError::Read { file, .. } if file.ends_with("schema.cedarschema")),
        "{error}"
    );
    let missing = good.join("nope");
    assert!(matches!(
        PolicyEngine::from_dir("App", &missing),
        Err(LoadError::Read { .. })
    ));
}

#[derive(serde::Deserialize)]
struct Settings {
    token_type: TokenType,
    azure_credential: AzureCredentialSource,
}

#[test]
fn configuration_enums_deserialize_by_name() {
    let settings: Settings = serde_json::from_str(
        r#"{"token_type": "at+jwt", "azure_credential": "workload_identity"}"#,
    )
    .unwrap();
    assert_eq!(settings.token_type, TokenType::AccessTokenJwt);
    assert_eq!(
        settings.azure_credential,
        AzureCredentialSource::WorkloadIdentity
    );
    let settings: Settings = serde_json::from_str(
        r#"{"token_type": "JWT", "azure_credential": {"user_assigned_identity": "abc"}}"#,
    )
    .unwrap();
    assert_eq!(settings.token_type, TokenType::Jwt);
    assert_eq!(
        settings.azure_credential,
        AzureCredentialSource::UserAssignedIdentity("abc".into())
    );
    let error = serde_json::from_str::<Settings>(
        r#"{"token_type": "jwt", "azure_credential": "managed_identity"}"#,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("at+jwt") && error.contains("JWT"), "{error}");
}

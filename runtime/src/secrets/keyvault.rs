//! The Azure Key Vault provider: the official SDK's `SecretClient` with managed identity, workload identity or developer-tools credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, StatusCode};
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures_util::future::BoxFuture;

use super::provider::{ProviderError, SecretProvider};
use super::{Secret, SecretRef};

/// Which Azure identity the service uses to reach Key Vault. In configuration:
/// `"managed_identity"`, `{ user_assigned_identity = "<client id>" }`, `"workload_identity"` or
/// `"developer_tools"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AzureCredentialSource {
    /// The managed identity of the host (App Service, VM, Container Apps); system-assigned by default.
    #[default]
    ManagedIdentity,
    /// A user-assigned managed identity, by client id.
    UserAssignedIdentity(String),
    /// Kubernetes workload identity (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity,
    /// The developer's `az` or `azd` login, for running a service locally against a real vault.
    DeveloperTools,
}

/// Resolves `keyvault://` references through the Azure SDK. One `SecretClient` per vault host.
pub struct KeyVaultProvider {
    credential: Arc<dyn TokenCredential>,
    client_options: ClientOptions,
    clients: Mutex<HashMap<String, Arc<SecretClient>>>,
}

impl KeyVaultProvider {
    /// A provider authenticating with `source`. `client_options` carries retry, transport and
    /// cloud settings; [`ClientOptions::default`] is right for production.
    pub fn new(
        source: AzureCredentialSource,
        client_options: ClientOptions,
    ) -> Result<Self, ProviderError> {
        let unavailable =
            |e: azure_core::Error| ProviderError::Unavailable(format!("azure credential: {e}"));
        let credential: Arc<dyn TokenCredential> = match source {
            AzureCredentialSource::ManagedIdentity
            | AzureCredentialSource::UserAssignedIdentity(_) => {
                let user_assigned_id = match source {
                    AzureCredentialSource::UserAssignedIdentity(id) => {
                        Some(UserAssignedId::ClientId(id))
                    }
                    _ => None,
                };
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id,
                    client_options: client_options.clone(),
                }))
                .map_err(unavailable)?
            }
            AzureCredentialSource::WorkloadIdentity => {
                let mut options = WorkloadIdentityCredentialOptions::default();
                options.credential_options.client_options = client_options.clone();
                WorkloadIdentityCredential::new(Some(options)).map_err(unavailable)?
            }
            AzureCredentialSource::DeveloperTools => {
                DeveloperToolsCredential::new(None).map_err(unavailable)?
            }
        };
        Ok(Self::with_credential(credential, client_options))
    }

    /// A provider with an explicit credential.
    pub fn with_credential(
        credential: Arc<dyn TokenCredential>,
        client_options: ClientOptions,
    ) -> Self {
        Self {
            credential,
            client_options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, host: &str) -> Result<Arc<SecretClient>, ProviderError> {
        let mut clients = self.clients.lock().expect("key vault client lock poisoned");
        if let Some(client) = clients.get(host) {
            return Ok(client.clone());
        }
        let options = SecretClientOptions {
            client_options: self.client_options.clone(),
            ..Default::default()
        };
        let client = SecretClient::new(
            &format!("https://{host}"),
            self.credential.clone(),
            Some(options),
        )
        .map_err(|e| ProviderError::Unavailable(format!("key vault client: {e}")))?;
        let client = Arc::new(client);
        clients.insert(host.to_owned(), client.clone());
        Ok(client)
    }
}

impl SecretProvider for KeyVaultProvider {
    fn fetch<'a>(
        &'a self,
        reference: &'a SecretRef,
    ) -> BoxFuture<'a, Result<Secret, ProviderError>> {
        Box::pin(async move {
            let SecretRef::KeyVault {
                host,
                name,
                version,
            } = reference
            else {
                return Err(ProviderError::Unsupported);
            };
            let client = self.client(host)?;
            let options = SecretClientGetSecretOptions {
                secret_version: version.clone(),
                ..Default::default()
            };
            let response = client
                .get_secret(name, Some(options))
                .await
                .map_err(map_error)?;
            let secret = response
                .into_model()
                .map_err(|e| ProviderError::Unavailable(format!("key vault answer: {e}")))?;
            secret.value.map(Secret::new).ok_or(ProviderError::NotFound)
        })
    }
}

fn map_error(error: azure_core::Error) -> ProviderError {
    match error.http_status() {
        Some(StatusCode::NotFound) => ProviderError::NotFound,
        Some(status @ (StatusCode::Unauthorized | StatusCode::Forbidden)) => {
            ProviderError::Denied(format!("key vault answered {status}"))
        }
        _ => ProviderError::Unavailable(error.to_string()),
    }
}

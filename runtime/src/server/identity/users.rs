//! Users: creation with an argon2id hash, password checks that take as long for unknown names, disabling and password resets that end the user's grants and sessions.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::{Identities, NewUser, User};
use crate::principal::TenantId;
use crate::secrets::Secret;
use crate::server::ServerError;
use crate::server::store::{StoreError, UserRow};

/// The longest user name looked at; longer ones never verify.
pub const MAX_USERNAME: usize = 200;
/// The longest password looked at; longer ones never verify.
pub const MAX_PASSWORD: usize = 1024;

/// A fixed argon2id hash that unknown users are verified against, so both answers take as long.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cGFsaXNhZGVkdW1teQ$9e2mLMLS2O6m4i7F3VqxUw6jI3I2yWc9k6V7o0dQ1dY";

impl Identities {
    /// Creates a user with an argon2id password hash.
    pub async fn create_user(&self, user: NewUser) -> Result<String, ServerError> {
        let tenant = self.existing_tenant(&user.tenant).await?;
        if user.username.is_empty() || user.username.len() > MAX_USERNAME {
            return Err(ServerError::Invalid(
                "username must be 1 to 200 characters".into(),
            ));
        }
        super::no_secret("username", [&user.username])?;
        super::no_secret("role", &user.roles)?;
        let hash = password_hash(&user.password)?;
        let row = UserRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant,
            username: user.username,
            roles: user.roles,
            disabled: false,
        };
        match self
            .store()
            .insert_user(&row, &hash, self.server.now())
            .await
        {
            Err(StoreError::Duplicate) => {
                return Err(ServerError::Invalid(format!(
                    "user {} already exists in tenant {}",
                    row.username, row.tenant_id
                )));
            }
            other => other?,
        }
        self.audit(
            "user.create",
            Some(&row.tenant_id),
            &format!("user/{}", row.id),
        )
        .await;
        Ok(row.id)
    }

    /// Checks a password. Unknown users are verified against a fixed hash, so the answer takes
    /// the same time; a disabled user never verifies.
    pub(crate) async fn verify_user(
        &self,
        tenant: &TenantId,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, ServerError> {
        if username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
            return Ok(None);
        }
        let found = self.store().user_by_name(tenant, username).await?;
        let stored = found
            .as_ref()
            .map_or_else(|| DUMMY_HASH.to_owned(), |(_, hash)| hash.clone());
        // argon2 takes memory and a core for a while: off the async threads, a few at a time.
        // Unknown names queue for their own permit, so a flood of them cannot starve the
        // sign-ins of real users (under such a flood, unknown names answer more slowly: the
        // price of keeping real users served).
        let permits = if found.is_some() {
            &self.server.inner.password_checks
        } else {
            &self.server.inner.unknown_user_checks
        };
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| ServerError::PasswordHash)?;
        let password = zeroize::Zeroizing::new(password.to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .map_err(|_| ServerError::PasswordHash)?;
        Ok(found
            .map(|(user, _)| user)
            .filter(|user| ok && !user.disabled))
    }

    /// A user that exists and is not disabled.
    pub(crate) async fn user(&self, id: &str) -> Result<Option<User>, ServerError> {
        Ok(self.store().user(id).await?.filter(|u| !u.disabled))
    }

    /// A user of `tenant` as stored, disabled or not: what an administrator acts on.
    pub(crate) async fn tenant_user(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<User>, ServerError> {
        Ok(self
            .store()
            .user(id)
            .await?
            .filter(|u| u.tenant_id.as_str() == tenant))
    }

    /// Disables or re-enables a user. Disabling cuts the user off at once: its grants are revoked
    /// (refresh tokens and the access tokens issued from them stop working) and its browser
    /// sessions end.
    pub async fn set_user_disabled(
        &self,
        user_id: &str,
        disabled: bool,
    ) -> Result<(), ServerError> {
        let user = self.stored_user(user_id).await?;
        self.store().set_user_disabled(user_id, disabled).await?;
        if disabled {
            self.store()
                .revoke_user_grants(user_id, self.server.now())
                .await?;
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        self.audit(action, Some(&user.tenant_id), &format!("user/{user_id}"))
            .await;
        Ok(())
    }

    /// Sets a new password (at least 12 characters) and revokes the user's grants and sessions,
    /// so whoever knew the old one is signed out everywhere.
    pub async fn reset_password(
        &self,
        user_id: &str,
        password: &Secret,
    ) -> Result<(), ServerError> {
        let user = self.stored_user(user_id).await?;
        let hash = password_hash(password)?;
        self.store().set_user_password_hash(user_id, &hash).await?;
        self.store()
            .revoke_user_grants(user_id, self.server.now())
            .await?;
        self.audit(
            "user.reset_password",
            Some(&user.tenant_id),
            &format!("user/{user_id}"),
        )
        .await;
        Ok(())
    }

    /// A user by id, disabled or not; an unknown id is "not found".
    async fn stored_user(&self, user_id: &str) -> Result<User, ServerError> {
        self.store()
            .user(user_id)
            .await?
            .ok_or_else(|| ServerError::NotFound(format!("user {user_id}")))
    }
}

/// An argon2id hash of a password of 12 to 1,024 characters.
fn password_hash(password: &Secret) -> Result<String, ServerError> {
    let length = password.expose().chars().count();
    if length < 12 || password.expose().len() > MAX_PASSWORD {
        return Err(ServerError::Invalid(
            "password must have 12 to 1024 characters".into(),
        ));
    }
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map_err(|_| ServerError::PasswordHash)?
        .to_string())
}

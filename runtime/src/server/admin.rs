//! The admin API under `/admin`: tenants, users, clients and API tokens, protected by this server's own access tokens for the `palisade-admin` audience. Role `admin` manages its own tenant; `platform-admin`, honoured only in the configured platform tenant, manages every tenant, creates tenants and rotates keys.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::endpoints::audience_token;
use super::identity::{ApiTokenSpec, ClientSpec, NewUser};
use super::{AuthorizationServer, ServerError};
use crate::problem::Problem;
use crate::secrets::Secret;

/// The audience admin tokens must name.
pub const ADMIN_AUDIENCE: &str = "palisade-admin";
/// The role that manages its own tenant.
pub const TENANT_ADMIN_ROLE: &str = "admin";
/// The role that manages every tenant, creates tenants and rotates keys.
pub const PLATFORM_ADMIN_ROLE: &str = "platform-admin";

pub(crate) fn routes() -> Router<AuthorizationServer> {
    Router::new()
        .route("/admin/tenants", post(create_tenant))
        .route("/admin/keys/rotate", post(rotate_keys))
        .route("/admin/keys/{kid}/revoke", post(revoke_key))
        .route("/admin/tenants/{tenant}/users", post(create_user))
        .route(
            "/admin/tenants/{tenant}/users/{user}/disable",
            post(disable_user),
        )
        .route(
            "/admin/tenants/{tenant}/users/{user}/password",
            post(reset_password),
        )
        .route("/admin/tenants/{tenant}/clients", post(create_client))
        .route(
            "/admin/tenants/{tenant}/clients/{client}/secret",
            post(rotate_secret),
        )
        .route(
            "/admin/tenants/{tenant}/clients/{client}/disable",
            post(disable_client),
        )
        .route(
            "/admin/tenants/{tenant}/api-tokens",
            post(create_api_token).get(list_api_tokens),
        )
        .route(
            "/admin/tenants/{tenant}/api-tokens/{id}",
            delete(revoke_api_token),
        )
}

/// The caller: a valid, unrevoked admin token.
struct Caller {
    tenant: String,
    platform: bool,
    subject: String,
    client_id: Option<String>,
}

/// What a valid, unrevoked access token for the admin audience says of its bearer (the admin
/// API and the audit API both start here).
pub(super) struct AdminClaims {
    /// `tenant_id`.
    pub(super) tenant: String,
    /// `roles`.
    pub(super) roles: Vec<String>,
    /// `sub`.
    pub(super) subject: String,
    /// `client_id`.
    pub(super) client_id: Option<String>,
}

impl AdminClaims {
    /// Whether the token carries `role`.
    pub(super) fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the token was issued in the configured platform tenant.
    pub(super) fn in_platform(&self, server: &AuthorizationServer) -> bool {
        server.config().platform_tenant.as_deref() == Some(self.tenant.as_str())
    }
}

/// The bearer's claims: 401 without a live token of this server for [`ADMIN_AUDIENCE`].
pub(super) async fn admin_claims(
    server: &AuthorizationServer,
    headers: &HeaderMap,
) -> Result<AdminClaims, Problem> {
    let claims = audience_token(server, headers, ADMIN_AUDIENCE).await?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let roles = (claims.get("roles").and_then(Value::as_array))
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(AdminClaims {
        tenant: text("tenant_id").unwrap_or_default(),
        roles,
        subject: text("sub").unwrap_or_default(),
        client_id: text("client_id"),
    })
}

async fn caller(server: &AuthorizationServer, headers: &HeaderMap) -> Result<Caller, Problem> {
    let claims = admin_claims(server, headers).await?;
    // The platform role counts only in the platform tenant: a tenant's own admin could otherwise
    // mint it for a client of its tenant.
    let platform = claims.has(PLATFORM_ADMIN_ROLE) && claims.in_platform(server);
    if !platform && !claims.has(TENANT_ADMIN_ROLE) {
        return Err(Problem::forbidden());
    }
    Ok(Caller {
        tenant: claims.tenant,
        platform,
        subject: claims.subject,
        client_id: claims.client_id,
    })
}

impl Caller {
    /// The identity operations, audited as this caller.
    fn identities(&self, server: &AuthorizationServer) -> super::Identities {
        server
            .identities()
            .acting_as(&self.subject, self.client_id.as_deref())
    }

    fn may_manage(&self, tenant: &str) -> Result<(), Problem> {
        if self.platform || self.tenant == tenant {
            Ok(())
        } else {
            Err(Problem::forbidden())
        }
    }

    /// Only a platform admin may hand out the platform role or the admin audience.
    fn may_grant(&self, roles: &[String], audiences: &[String]) -> Result<(), Problem> {
        let privileged = roles.iter().any(|r| r == PLATFORM_ADMIN_ROLE)
            || audiences.iter().any(|a| a == ADMIN_AUDIENCE);
        if privileged && !self.platform {
            return Err(Problem::forbidden().with_detail(format!(
                "only a platform admin grants the {PLATFORM_ADMIN_ROLE} role or the {ADMIN_AUDIENCE} audience"
            )));
        }
        Ok(())
    }

    fn platform(&self) -> Result<(), Problem> {
        if self.platform {
            Ok(())
        } else {
            Err(Problem::forbidden())
        }
    }
}

fn problem(error: ServerError) -> Problem {
    match error {
        ServerError::Invalid(message) => {
            Problem::new(StatusCode::BAD_REQUEST, "invalid request").with_detail(message)
        }
        ServerError::NotFound(what) => Problem::new(StatusCode::NOT_FOUND, "not found")
            .with_detail(format!("{what} not found")),
        other => {
            tracing::error!(error = %other, "admin API failure");
            Problem::unavailable()
        }
    }
}

fn created(body: Value) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantBody {
    id: String,
    name: String,
}

async fn create_tenant(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Json(body): Json<TenantBody>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.platform()?;
    caller
        .identities(&server)
        .create_tenant(&body.id, &body.name)
        .await
        .map_err(problem)?;
    Ok(created(json!({ "id": body.id, "name": body.name })))
}

async fn rotate_keys(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.platform()?;
    caller
        .identities(&server)
        .rotate_keys()
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_key(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(kid): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.platform()?;
    caller
        .identities(&server)
        .revoke_key(&kid)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    username: String,
    password: String,
    #[serde(default)]
    roles: Vec<String>,
}

async fn create_user(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Json(body): Json<UserBody>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.may_manage(&tenant)?;
    caller.may_grant(&body.roles, &[])?;
    let id = caller
        .identities(&server)
        .create_user(NewUser {
            tenant: tenant.clone(),
            username: body.username.clone(),
            password: Secret::new(body.password),
            roles: body.roles,
        })
        .await
        .map_err(problem)?;
    Ok(created(
        json!({ "id": id, "tenant": tenant, "username": body.username }),
    ))
}

/// The user, if it belongs to `tenant` and the caller could have granted its roles (disabling a
/// user or setting its password takes it over as surely as a client's secret does).
async fn manageable_user(
    server: &AuthorizationServer,
    caller: &Caller,
    tenant: &str,
    user: &str,
) -> Result<(), Problem> {
    caller.may_manage(tenant)?;
    match server
        .identities()
        .tenant_user(tenant, user)
        .await
        .map_err(problem)?
    {
        Some(u) => caller.may_grant(&u.roles, &[]),
        None => Err(problem(ServerError::NotFound(format!(
            "user {user} in tenant {tenant}"
        )))),
    }
}

async fn disable_user(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    manageable_user(&server, &caller, &tenant, &user).await?;
    caller
        .identities(&server)
        .set_user_disabled(&user, true)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

async fn reset_password(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((tenant, user)): Path<(String, String)>,
    Json(body): Json<PasswordBody>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    manageable_user(&server, &caller, &tenant, &user).await?;
    caller
        .identities(&server)
        .reset_password(&user, &Secret::new(body.password))
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    name: String,
    grant_types: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    audiences: Vec<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    public: bool,
    jwks: Option<Value>,
    /// A resource server that may introspect tokens of its tenant and audiences.
    #[serde(default)]
    introspection: bool,
}

async fn create_client(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Json(body): Json<ClientBody>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.may_manage(&tenant)?;
    caller.may_grant(&body.roles, &body.audiences)?;
    let client = caller
        .identities(&server)
        .create_client(ClientSpec {
            tenant,
            name: body.name,
            grant_types: body.grant_types,
            scopes: body.scopes,
            roles: body.roles,
            audiences: body.audiences,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            public: body.public,
            jwks: body.jwks,
            introspection: body.introspection,
        })
        .await
        .map_err(problem)?;
    Ok(created(json!({
        "client_id": client.client_id,
        "client_secret": client.client_secret.as_ref().map(Secret::expose),
    })))
}

/// The client, if it belongs to `tenant` (another tenant's client is "not found") and the caller
/// could have granted everything it holds: whoever takes over a client (a new secret, or cutting
/// it off) gets or removes its roles and audiences, so that is a grant too.
async fn manageable_client(
    server: &AuthorizationServer,
    caller: &Caller,
    tenant: &str,
    client: &str,
) -> Result<(), Problem> {
    caller.may_manage(tenant)?;
    match server.identities().client(client).await.map_err(problem)? {
        Some(c) if c.tenant_id.as_str() == tenant => caller.may_grant(&c.roles, &c.audiences),
        _ => Err(problem(ServerError::NotFound(format!(
            "client {client} in tenant {tenant}"
        )))),
    }
}

async fn rotate_secret(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((tenant, client)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    manageable_client(&server, &caller, &tenant, &client).await?;
    let secret = caller
        .identities(&server)
        .rotate_client_secret(&client)
        .await
        .map_err(problem)?;
    Ok(created(
        json!({ "client_id": client, "client_secret": secret.expose() }),
    ))
}

async fn disable_client(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((tenant, client)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    manageable_client(&server, &caller, &tenant, &client).await?;
    caller
        .identities(&server)
        .set_client_disabled(&client, true)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiTokenBody {
    name: String,
    /// The resource servers it is for.
    audiences: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    /// Lifetime in seconds.
    ttl: i64,
}

async fn create_api_token(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Json(body): Json<ApiTokenBody>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.may_manage(&tenant)?;
    caller.may_grant(&body.roles, &body.audiences)?;
    let token = caller
        .identities(&server)
        .create_api_token(ApiTokenSpec {
            tenant: tenant.clone(),
            name: body.name,
            audiences: body.audiences,
            scopes: body.scopes,
            roles: body.roles,
            ttl: body.ttl,
        })
        .await
        .map_err(problem)?;
    Ok(created(
        json!({ "id": token.id, "token": token.token.expose(), "expires_at": token.expires_at }),
    ))
}

async fn list_api_tokens(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.may_manage(&tenant)?;
    let tokens = caller
        .identities(&server)
        .api_tokens(&tenant)
        .await
        .map_err(problem)?;
    Ok(Json(json!({ "api_tokens": tokens })).into_response())
}

async fn revoke_api_token(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let caller = caller(&server, &headers).await?;
    caller.may_manage(&tenant)?;
    caller
        .identities(&server)
        .revoke_api_token(&tenant, &id)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

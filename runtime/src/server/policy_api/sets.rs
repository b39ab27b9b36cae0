//! The policy service's routes for schemas and sets: each checks the admin token's rights and `If-Match`, then calls [`PolicyAdmin`]; reads answer with the set's `ETag`.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SchemaBody {
    schema: String,
}

/// `GET /policies`: the services with policies; a tenant admin sees only its own tenant's sets.
pub(super) async fn list(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    service(&server)?;
    let (admin, platform) = editor(&server, &headers, None, false).await?;
    let claims_tenant = (!platform).then(|| admin_tenant(&admin));
    let services = admin.list(claims_tenant.as_deref()).await?;
    Ok(Json(json!({ "services": services })).into_response())
}

fn admin_tenant(admin: &PolicyAdmin) -> String {
    admin.tenant().to_owned()
}

pub(super) async fn put_schema(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<SchemaBody>,
) -> Result<Response, Problem> {
    service(&server)?;
    let (admin, _) = editor(&server, &headers, None, true).await?;
    let version = admin.put_schema(&name, &body.schema).await?;
    Ok((StatusCode::CREATED, Json(json!({ "version": version }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetBody {
    files: Vec<BundleFile>,
    #[serde(default = "active")]
    mode: PolicyMode,
}

fn active() -> PolicyMode {
    PolicyMode::Active
}

pub(super) async fn put_base(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<SetBody>,
) -> Result<Response, Problem> {
    put_set(&server, &headers, &name, PolicySet::Base, body).await
}

pub(super) async fn put_tenant(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((name, tenant)): Path<(String, String)>,
    Json(body): Json<SetBody>,
) -> Result<Response, Problem> {
    let set = tenant_set(&tenant)?;
    put_set(&server, &headers, &name, set, body).await
}

/// The version `If-Match` names: `"v<N>"` (`"v0"` for a set without versions yet).
fn if_match(headers: &HeaderMap) -> Result<i64, Problem> {
    let value = headers
        .get(header::IF_MATCH)
        .ok_or_else(|| {
            bad(
                StatusCode::PRECONDITION_REQUIRED,
                "If-Match is required: the set's ETag (\"v0\" for a new set)",
            )
        })?
        .to_str()
        .unwrap_or_default();
    value
        .trim()
        .trim_matches('"')
        .strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            bad(
                StatusCode::BAD_REQUEST,
                format!("If-Match {value:?} is not \"v<N>\""),
            )
        })
}

async fn put_set(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    name: &str,
    set: PolicySet,
    body: SetBody,
) -> Result<Response, Problem> {
    service(server)?;
    let (admin, _) = editor(server, headers, Some(&set), true).await?;
    let expected = match if_match(headers) {
        Ok(expected) => expected,
        Err(problem) => {
            admin.refused(name, &set, body.mode, &problem).await;
            return Err(problem);
        }
    };
    let put = admin
        .put(name, &set, body.files, body.mode, Some(expected))
        .await?;
    created(put)
}

fn created(put: PutOutcome) -> Result<Response, Problem> {
    Ok((
        StatusCode::CREATED,
        [(header::ETAG, etag(put.version))],
        Json(json!(put)),
    )
        .into_response())
}

pub(super) async fn get_base(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    get_set(&server, &headers, &name, PolicySet::Base).await
}

pub(super) async fn get_tenant(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((name, tenant)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let set = tenant_set(&tenant)?;
    get_set(&server, &headers, &name, set).await
}

/// The set's active version and a newer shadow one, with the newest version as its `ETag`.
async fn get_set(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    name: &str,
    set: PolicySet,
) -> Result<Response, Problem> {
    service(server)?;
    let (admin, _) = editor(server, headers, Some(&set), false).await?;
    let state = admin.get(name, &set).await?;
    Ok(([(header::ETAG, etag(state.newest))], Json(json!(state))).into_response())
}

pub(super) async fn base_history(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    history(&server, &headers, &name, PolicySet::Base).await
}

pub(super) async fn tenant_history(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((name, tenant)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let set = tenant_set(&tenant)?;
    history(&server, &headers, &name, set).await
}

async fn history(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    name: &str,
    set: PolicySet,
) -> Result<Response, Problem> {
    service(server)?;
    let (admin, _) = editor(server, headers, Some(&set), false).await?;
    let versions = admin.history(name, &set).await?;
    Ok(Json(json!({ "set": set.name(), "versions": versions })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RollbackBody {
    version: i64,
}

/// Puts an earlier version's files in force again, as a new active version (history only grows).
pub(super) async fn rollback(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((name, tenant)): Path<(String, String)>,
    Json(body): Json<RollbackBody>,
) -> Result<Response, Problem> {
    let set = tenant_set(&tenant)?;
    service(&server)?;
    let (admin, _) = editor(&server, &headers, Some(&set), true).await?;
    let expected = match if_match(&headers) {
        Ok(expected) => expected,
        Err(problem) => {
            admin
                .refused(&name, &set, PolicyMode::Active, &problem)
                .await;
            return Err(problem);
        }
    };
    let put = admin
        .rollback(&name, &set, body.version, Some(expected))
        .await?;
    created(put)
}

/// `POST /policies/{service}/tenants/{tenant}/diff`: a proposed set for the tenant checked
/// against the active one (symbolic, and a replay of its recorded decisions); changes nothing.
pub(super) async fn diff_tenant(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path((name, tenant)): Path<(String, String)>,
    Json(proposal): Json<Proposal>,
) -> Result<Response, Problem> {
    let set = tenant_set(&tenant)?;
    service(&server)?;
    // Proposing is reading: the tenant's admin (or a platform admin) may check a change.
    let (admin, _) = editor(&server, &headers, Some(&set), false).await?;
    let PolicySet::Tenant(tenant) = set else {
        return Err(bad(StatusCode::BAD_REQUEST, "a tenant's set"));
    };
    let diff = admin.diff(&name, &tenant, proposal).await?;
    Ok(Json(json!(diff)).into_response())
}

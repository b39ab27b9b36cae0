//! The policy service's changes and reads: a service's schema, its base set and each tenant's, put with `If-Match` after strict validation of every set they would change, read with their `ETag`, their history, and rollbacks as new versions.

use super::*;

/// Checks a service's policies as they would be after a change (`bundle`, the current bundle
/// with the change applied), exactly as a service loads them (`Bundle::sets`): the base set and
/// every tenant's, active and shadow. 422 names the set, the file, line and column.
fn validate(bundle: &Bundle) -> Result<(), Problem> {
    match bundle.sets() {
        Ok(_) => Ok(()),
        Err(BundleError::Invalid { set, source }) => Err(bad(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{set}: {source}"),
        )),
        Err(error) => Err(failed(error)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SchemaBody {
    schema: String,
}

pub(super) async fn put_schema(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<SchemaBody>,
) -> Result<Response, Problem> {
    service(&server)?;
    let editor = editor(&server, &headers, None, true).await?;
    known(&server, &name).await?;
    let store = &server.inner.store;
    let existing = store
        .service_policies(&name)
        .await
        .map_err(failed)?
        .unwrap_or_else(|| ServicePolicies {
            version: 0,
            schema: String::new(),
            sets: Default::default(),
        });
    let mut changed = bundle_of(&name, &existing)?;
    changed.schema.text.clone_from(&body.schema);
    validate(&changed)?;
    let validated = existing.version;
    let version = store
        .put_policy_schema(
            &name,
            &body.schema,
            &editor.subject,
            server.now(),
            validated,
        )
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            bad(
                StatusCode::PRECONDITION_FAILED,
                "the service's policies changed while the schema was checked: send it again",
            )
        })?;
    editor
        .audit(
            &server,
            "policy.schema.put",
            &format!("policy:{name} schema v{version}"),
            None,
        )
        .await;
    Ok((StatusCode::CREATED, Json(json!({ "version": version }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetBody {
    files: Vec<BundleFile>,
    #[serde(default = "active")]
    mode: String,
}

fn active() -> String {
    "active".to_owned()
}

pub(super) async fn put_base(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<SetBody>,
) -> Result<Response, Problem> {
    put_set(&server, &headers, &name, Set::Base, body).await
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
    set: Set,
    body: SetBody,
) -> Result<Response, Problem> {
    service(server)?;
    let editor = editor(server, headers, Some(&set), true).await?;
    let mode = body.mode.clone();
    let result = change_set(server, headers, &editor, name, &set, body).await;
    if let Err(problem) = &result {
        // A refused change (a bad request, a lost update, policies that do not load) is
        // recorded in the set's tenant's chain too.
        let reason = format!(
            "{} {}",
            problem.status.as_u16(),
            problem.detail.as_deref().unwrap_or(problem.title)
        );
        editor
            .record(
                server,
                &format!("policy.{mode}.put"),
                &format!("policy:{name} {}", set.name()),
                Some(&set),
                Outcome::Denied,
                Some(&reason),
            )
            .await;
    }
    result
}

async fn change_set(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    editor: &Editor,
    name: &str,
    set: &Set,
    body: SetBody,
) -> Result<Response, Problem> {
    let expected = if_match(headers)?;
    if !matches!(body.mode.as_str(), "active" | "shadow") {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "mode is \"active\" or \"shadow\"",
        ));
    }
    if matches!(set, Set::Base) && body.mode == "shadow" {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "the base set has no shadow mode",
        ));
    }
    if body.files.len() > MAX_FILES || body.files.iter().any(|f| f.name.trim().is_empty()) {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            format!("1 to {MAX_FILES} files, each with a name"),
        ));
    }
    let current = current(server, name).await?;
    // The precondition before the work: a set changed meanwhile is 412 whatever the body says
    // (the store checks it again, atomically, when it writes).
    if newest_version(&current, set) != expected {
        return Err(changed(set, expected));
    }
    let mut changed_bundle = bundle_of(name, &current)?;
    match set {
        Set::Base => changed_bundle.base.clone_from(&body.files),
        Set::Tenant(tenant) => {
            let policies = changed_bundle
                .tenants
                .entry(tenant.as_str().to_owned())
                .or_default();
            if body.mode == "active" {
                policies.active.clone_from(&body.files);
            } else {
                policies.shadow = Some(body.files.clone());
            }
        }
    }
    validate(&changed_bundle)?;
    let files = serde_json::to_string(&body.files).map_err(failed)?;
    let hash = hex::encode(Sha256::digest(files.as_bytes()));
    let version = server
        .inner
        .store
        .put_policy_set(NewPolicySet {
            service: name,
            tenant: set.key(),
            expected,
            mode: &body.mode,
            files: &files,
            hash: &hash,
            author: &editor.subject,
            now: server.now(),
            validated: current.version,
        })
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            bad(
                StatusCode::PRECONDITION_FAILED,
                format!(
                    "the {} set, or another set or the schema it is combined with, changed while \
                     it was checked (If-Match version {expected}): read it and send it again",
                    set.name()
                ),
            )
        })?;
    editor
        .audit(
            server,
            &format!("policy.{}.put", body.mode),
            &format!("policy:{name} {} v{version}", set.name()),
            Some(set),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        [(header::ETAG, etag(version))],
        Json(json!({ "version": version, "mode": body.mode, "hash": hash })),
    )
        .into_response())
}

/// A set's newest version, active or shadow (0 for none): what its `ETag` and `If-Match` name.
fn newest_version(current: &ServicePolicies, set: &Set) -> i64 {
    current.sets.get(set.key()).map_or(0, |(active, shadow)| {
        let version = |row: &Option<PolicySetRow>| row.as_ref().map_or(0, |r| r.version);
        version(active).max(version(shadow))
    })
}

fn changed(set: &Set, expected: i64) -> Problem {
    bad(
        StatusCode::PRECONDITION_FAILED,
        format!(
            "the {} set is no longer at version {expected}: read it again",
            set.name()
        ),
    )
}

fn row_json(row: &PolicySetRow, files: bool) -> Value {
    let mut value = json!({
        "version": row.version, "mode": row.mode, "hash": row.hash,
        "author": row.author, "created_at": row.created_at,
    });
    if files {
        value["files"] = serde_json::from_str(&row.files).unwrap_or(Value::Null);
    }
    value
}

pub(super) async fn get_base(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    get_set(&server, &headers, &name, Set::Base).await
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
    set: Set,
) -> Result<Response, Problem> {
    service(server)?;
    editor(server, headers, Some(&set), false).await?;
    let current = current(server, name).await?;
    let newest = newest_version(&current, &set);
    let (active, shadow) = current.sets.get(set.key()).cloned().unwrap_or_default();
    Ok((
        [(header::ETAG, etag(newest))],
        Json(json!({
            "set": set.name(),
            "active": active.as_ref().map(|r| row_json(r, true)),
            "shadow": shadow.as_ref().map(|r| row_json(r, true)),
        })),
    )
        .into_response())
}

pub(super) async fn base_history(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    history(&server, &headers, &name, Set::Base).await
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
    set: Set,
) -> Result<Response, Problem> {
    service(server)?;
    editor(server, headers, Some(&set), false).await?;
    let rows = server
        .inner
        .store
        .policy_history(name, set.key())
        .await
        .map_err(failed)?;
    let items: Vec<Value> = rows.iter().map(|r| row_json(r, false)).collect();
    Ok(Json(json!({ "set": set.name(), "versions": items })).into_response())
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
    editor(&server, &headers, Some(&set), true).await?;
    let history = server
        .inner
        .store
        .policy_history(&name, set.key())
        .await
        .map_err(failed)?;
    let row = history
        .iter()
        .find(|r| r.version == body.version)
        .ok_or_else(|| {
            Problem::new(StatusCode::NOT_FOUND, "not found").with_detail(format!(
                "the {} set has no version {}",
                set.name(),
                body.version
            ))
        })?;
    let files = files_of(Some(row))?;
    put_set(
        &server,
        &headers,
        &name,
        set,
        SetBody {
            files,
            mode: active(),
        },
    )
    .await
}

//! The policy service's changes and reads: a service's schema, its base set and each tenant's, put with `If-Match` after strict validation of every set they would change, read with their `ETag`, their history, and rollbacks as new versions.

use super::*;

/// Checks the service's policies as they would be with `schema` and the set `changed` replaced
/// by `files`: the base set and every tenant's (active and shadow) must load. 422 names the set,
/// the file, line and column.
fn validate(
    current: &ServicePolicies,
    schema: &str,
    changed: Option<(&Set, &[BundleFile])>,
) -> Result<(), Problem> {
    let sources = |files: &[BundleFile]| -> Vec<PolicySource> {
        files
            .iter()
            .map(|f| PolicySource::new(&f.name, &f.text))
            .collect()
    };
    let replaced = |set: &str| changed.filter(|(s, _)| s.key() == set).map(|(_, f)| f);
    let base = match replaced("") {
        Some(files) => files.to_vec(),
        None => files_of(current.sets.get("").and_then(|(a, _)| a.as_ref()))?,
    };
    let schema = PolicySource::new("schema.cedarschema", schema);
    let check = |name: &str, extra: &[BundleFile]| {
        let mut all = sources(&base);
        all.extend(sources(extra));
        load(&schema, &all)
            .map(|_| ())
            .map_err(|e| bad(StatusCode::UNPROCESSABLE_ENTITY, format!("{name}: {e}")))
    };
    check("base", &[])?;
    let mut tenants: Vec<&str> = current.sets.keys().map(String::as_str).collect();
    if let Some((Set::Tenant(t), _)) = changed {
        tenants.push(t.as_str());
    }
    for tenant in tenants.into_iter().filter(|t| !t.is_empty()) {
        match replaced(tenant) {
            Some(files) => check(&format!("tenant {tenant}"), files)?,
            None => {
                let (active, shadow) = current.sets.get(tenant).cloned().unwrap_or_default();
                check(&format!("tenant {tenant}"), &files_of(active.as_ref())?)?;
                if shadow.is_some() {
                    check(
                        &format!("shadow of tenant {tenant}"),
                        &files_of(shadow.as_ref())?,
                    )?;
                }
            }
        }
    }
    Ok(())
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
    let existing = store.service_policies(&name).await.map_err(failed)?;
    let empty = ServicePolicies {
        version: 0,
        schema: String::new(),
        sets: Default::default(),
    };
    validate(existing.as_ref().unwrap_or(&empty), &body.schema, None)?;
    let validated = existing.as_ref().map_or(0, |e| e.version);
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
    let newest = server
        .inner
        .store
        .policy_history(name, set.key())
        .await
        .map_err(failed)?
        .first()
        .map_or(0, |r| r.version);
    if newest != expected {
        return Err(changed(set, expected));
    }
    if body.mode == "active" {
        validate(&current, &current.schema, Some((set, &body.files)))?;
    } else {
        // A shadow set is checked as the set it would replace.
        let mut shadowed = ServicePolicies {
            version: current.version,
            schema: current.schema.clone(),
            sets: current.sets.clone(),
        };
        shadowed.sets.remove(set.key());
        validate(&shadowed, &current.schema, Some((set, &body.files)))?;
    }
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
    let history = server
        .inner
        .store
        .policy_history(name, set.key())
        .await
        .map_err(failed)?;
    let current = current(server, name).await?;
    let (active, shadow) = current.sets.get(set.key()).cloned().unwrap_or_default();
    let newest = history.first().map_or(0, |r| r.version);
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

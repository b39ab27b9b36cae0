//! `GET/PUT /audit/retention`, `GET/POST /audit/holds` and `POST /audit/holds/{id}/release`: a tenant's retention within its compliance class's minimum, and legal holds.

use super::*;

impl AuditLog {
    fn minimum(&self, class: &str) -> Option<i64> {
        self.retention.minimums.get(class).copied()
    }
}

pub(super) async fn get_retention(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(query): Query<TenantQuery>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let reader = reader(
        &server,
        &headers,
        query.tenant.as_deref(),
        "audit.retention.read",
    )
    .await?;
    let set = log
        .store
        .retention(reader.tenant.as_str())
        .await
        .map_err(failed)?;
    let (days, class) = match set {
        Some(r) => (r.days, r.class),
        None => (
            log.retention.default_days,
            log.retention.default_class.clone(),
        ),
    };
    Ok(Json(json!({
        "tenant": reader.tenant.as_str(),
        "days": days,
        "class": class,
        "minimum": log.minimum(&class),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionBody {
    days: i64,
    class: Option<String>,
}

pub(super) async fn put_retention(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(query): Query<TenantQuery>,
    Json(body): Json<RetentionBody>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let manager = access(
        &server,
        &headers,
        query.tenant.as_deref(),
        "audit.retention.set",
        true,
    )
    .await?;
    let class = body
        .class
        .unwrap_or_else(|| log.retention.default_class.clone());
    let refusal = match log.minimum(&class) {
        None => Some(format!("unknown compliance class {class:?}")),
        Some(minimum) if body.days < minimum => Some(format!(
            "{} days is below the {minimum}-day minimum of class {class:?}",
            body.days
        )),
        Some(_) => None,
    };
    let resource = format!("audit:retention {} days, class {class}", body.days);
    let outcome = if refusal.is_some() {
        Outcome::Denied
    } else {
        Outcome::Success
    };
    let mut entry = server
        .entry(event_type::ADMIN_CHANGE, "audit.retention.set", outcome)
        .tenant(&manager.tenant)
        .resource(&resource)
        .actor(
            &manager.subject,
            kind(&manager.subject, manager.client_id.as_deref()),
            manager.client_id.as_deref(),
        );
    if let Some(refusal) = &refusal {
        entry = entry.reason(refusal);
        server.audit(entry).await;
        return Err(bad(refusal.clone()));
    }
    log.store
        .set_retention(
            manager.tenant.as_str(),
            &crate::audit::Retention {
                days: body.days,
                class: class.clone(),
            },
            &manager.subject,
            now(&server),
        )
        .await
        .map_err(failed)?;
    server.audit(entry).await;
    Ok(
        Json(json!({ "tenant": manager.tenant.as_str(), "days": body.days, "class": class }))
            .into_response(),
    )
}

pub(super) async fn list_holds(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(query): Query<TenantQuery>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let reader = reader(
        &server,
        &headers,
        query.tenant.as_deref(),
        "audit.holds.read",
    )
    .await?;
    let holds = log
        .store
        .holds(reader.tenant.as_str(), true)
        .await
        .map_err(failed)?;
    let items: Vec<Value> = holds
        .into_iter()
        .map(|h| {
            json!({
                "id": h.id,
                "filter": serde_json::from_str::<Value>(&h.filter).unwrap_or(Value::Null),
                "reason": h.reason,
                "created_by": h.created_by,
                "created_at": h.created_at,
                "released_at": h.released_at,
            })
        })
        .collect();
    Ok(Json(json!({ "tenant": reader.tenant.as_str(), "holds": items })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HoldBody {
    reason: String,
    #[serde(default)]
    filter: FilterSpec,
}

pub(super) async fn add_hold(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(query): Query<TenantQuery>,
    Json(body): Json<HoldBody>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let manager = access(
        &server,
        &headers,
        query.tenant.as_deref(),
        "audit.hold.set",
        true,
    )
    .await?;
    if body.reason.trim().is_empty() {
        return Err(bad("a hold needs a reason"));
    }
    AuditQuery::from_spec(&body.filter)?;
    let filter = serde_json::to_string(&body.filter).map_err(|_| Problem::unavailable())?;
    let id = log
        .store
        .add_hold(
            manager.tenant.as_str(),
            &filter,
            &body.reason,
            &manager.subject,
            now(&server),
        )
        .await
        .map_err(failed)?;
    let entry = server
        .entry(event_type::ADMIN_CHANGE, "audit.hold.set", Outcome::Success)
        .tenant(&manager.tenant)
        .resource(&format!("audit:hold {id} {filter}"))
        .reason(&body.reason)
        .actor(
            &manager.subject,
            kind(&manager.subject, manager.client_id.as_deref()),
            manager.client_id.as_deref(),
        );
    server.audit(entry).await;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

pub(super) async fn release_hold(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(query): Query<TenantQuery>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let manager = access(
        &server,
        &headers,
        query.tenant.as_deref(),
        "audit.hold.release",
        true,
    )
    .await?;
    let released = log
        .store
        .release_hold(manager.tenant.as_str(), &id, &manager.subject, now(&server))
        .await
        .map_err(failed)?;
    if !released {
        return Err(Problem::new(StatusCode::NOT_FOUND, "not found")
            .with_detail(format!("no active hold {id}")));
    }
    let entry = server
        .entry(
            event_type::ADMIN_CHANGE,
            "audit.hold.release",
            Outcome::Success,
        )
        .tenant(&manager.tenant)
        .resource(&format!("audit:hold {id}"))
        .actor(
            &manager.subject,
            kind(&manager.subject, manager.client_id.as_deref()),
            manager.client_id.as_deref(),
        );
    server.audit(entry).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! `POST /audit/ingest`: services ship batches of entries to their tenants' chains.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IngestBody {
    entries: Vec<crate::audit::AuditEntry>,
}

/// `POST /audit/ingest`: a service (a client granted `audit:write` for the `palisade-audit`
/// audience) ships a batch. Entries of an unknown tenant, without one, or (for a client outside
/// the platform tenant) of another tenant are refused one by one and listed; the rest are
/// appended to their tenants' chains, idempotently by id, with the client recorded as sender.
pub(super) async fn ingest(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Json(body): Json<IngestBody>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let claims = scoped_token(&server, &headers, AUDIT_AUDIENCE, AUDIT_WRITE_SCOPE).await?;
    if body.entries.len() > MAX_INGEST_ENTRIES {
        return Err(bad(format!(
            "at most {MAX_INGEST_ENTRIES} entries a request"
        )));
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    let sender = match claims.get("client_id").and_then(Value::as_str) {
        Some(client) => client.to_owned(),
        None => text("sub").to_owned(),
    };
    let own = text("tenant_id");
    let platform = server.config().platform_tenant.as_deref() == Some(own);
    let mut known: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    let mut accepted = Vec::with_capacity(body.entries.len());
    let mut refused = Vec::new();
    for entry in body.entries {
        let tenant = entry.data.tenant.clone().or_else(|| entry.tenantid.clone());
        let reason = match &tenant {
            None => Some("an entry without a tenant"),
            Some(t) if !platform && t.as_str() != own => Some("a tenant other than the sender's"),
            Some(t) => {
                let exists = match known.get(t.as_str()) {
                    Some(exists) => *exists,
                    None => {
                        let exists = server
                            .inner
                            .store
                            .tenant_exists(t)
                            .await
                            .map_err(|_| Problem::unavailable())?;
                        known.insert(t.as_str().to_owned(), exists);
                        exists
                    }
                };
                (!exists).then_some("an unknown tenant")
            }
        };
        match reason {
            Some(reason) => refused.push(json!({ "id": entry.id, "reason": reason })),
            None => accepted.push(entry),
        }
    }
    let stored = log
        .store
        .ingest(&accepted, &sender, now(&server))
        .await
        .map_err(failed)?;
    if !refused.is_empty() {
        let mut entry = server
            .entry(event_type::AUDIT_INGEST, "audit.ingest", Outcome::Denied)
            .resource(&format!("audit:ingest {} refused", refused.len()))
            .reason("entries of an unknown or foreign tenant, or without one")
            .actor(&sender, PrincipalKind::Service, Some(sender.as_str()));
        if let Ok(own) = TenantId::new(own) {
            entry = entry.tenant(&own);
        }
        server.audit(entry).await;
    }
    Ok(Json(json!({
        "accepted": stored.accepted,
        "duplicates": stored.duplicates,
        "refused": refused,
    }))
    .into_response())
}

//! `GET /audit`: the query parameters and filters (also a legal hold's), the authenticated cursor, and the handler that pages a tenant's chain in sequence order through the store's indexed filter columns.

use super::*;

/// `GET /audit`'s parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueryParams {
    tenant: Option<String>,
    /// Entries at or after this time (RFC 3339).
    since: Option<String>,
    /// Entries before this time (RFC 3339).
    until: Option<String>,
    /// The actor's subject or client id.
    actor: Option<String>,
    /// The action, exactly, or a prefix ending in `*` (`admin.*`).
    action: Option<String>,
    resource: Option<String>,
    outcome: Option<Outcome>,
    event_type: Option<String>,
    trace_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The filters of a query or a hold, as given.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilterSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
}

/// The filters of a query, parsed.
impl AuditQuery {
    pub(super) fn from_spec(q: &FilterSpec) -> Result<Self, Problem> {
        Self::parse(&QueryParams {
            tenant: None,
            since: q.since.clone(),
            until: q.until.clone(),
            actor: q.actor.clone(),
            action: q.action.clone(),
            resource: q.resource.clone(),
            outcome: q.outcome,
            event_type: q.event_type.clone(),
            trace_id: q.trace_id.clone(),
            limit: None,
            cursor: None,
        })
    }

    fn parse(q: &QueryParams) -> Result<Self, Problem> {
        let time = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| bad(format!("{name} must be an RFC 3339 time")))
                })
                .transpose()
        };
        Ok(Self {
            since: time("since", &q.since)?,
            until: time("until", &q.until)?,
            actor: q.actor.clone(),
            action: q.action.clone(),
            resource: q.resource.clone(),
            outcome: q.outcome,
            event_type: q.event_type.clone(),
            trace_id: q.trace_id.clone(),
        })
    }

    /// The filters as one canonical text: a cursor is bound to it.
    fn canonical(&self, tenant: &TenantId) -> String {
        let time =
            |t: &Option<time::OffsetDateTime>| t.map(|t| t.unix_timestamp_nanos().to_string());
        serde_json::json!([
            tenant.as_str(),
            time(&self.since),
            time(&self.until),
            self.actor,
            self.action,
            self.resource,
            self.outcome,
            self.event_type,
            self.trace_id,
        ])
        .to_string()
    }
}

impl AuditLog {
    /// A cursor to go on after `seq`: the position and a MAC over it, the tenant and the filters.
    fn cursor(&self, canonical: &str, seq: i64) -> String {
        use base64::Engine as _;
        let tag = aws_lc_rs::hmac::sign(&self.cursor_key, format!("{seq}\n{canonical}").as_bytes());
        format!(
            "{seq}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The position a cursor names, if it was made for this tenant and these filters.
    fn position(&self, canonical: &str, cursor: &str) -> Result<i64, Problem> {
        use base64::Engine as _;
        let refused = || {
            bad(
                "the cursor is not one this query issued (altered, or from another tenant or filters)",
            )
        };
        let (seq, tag) = cursor.split_once('.').ok_or_else(refused)?;
        let seq: i64 = seq.parse().map_err(|_| refused())?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| refused())?;
        aws_lc_rs::hmac::verify(
            &self.cursor_key,
            format!("{seq}\n{canonical}").as_bytes(),
            &tag,
        )
        .map_err(|_| refused())?;
        Ok(seq)
    }
}

pub(super) async fn query(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(params): Query<QueryParams>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let reader = reader(&server, &headers, params.tenant.as_deref(), "audit.query").await?;
    let filter = AuditQuery::parse(&params)?;
    let limit = params.limit.unwrap_or(DEFAULT_QUERY_LIMIT);
    if limit == 0 || limit > MAX_QUERY_LIMIT {
        return Err(bad(format!("limit is 1 to {MAX_QUERY_LIMIT}")));
    }
    let canonical = filter.canonical(&reader.tenant);
    let mut after = match &params.cursor {
        Some(cursor) => log.position(&canonical, cursor)?,
        None => 0,
    };
    // Chain order (the sequence), never time: an entry that arrives late gets a later sequence,
    // so a reader paging on never skips it. The store filters through its indexes, to the
    // second for times; the exact bounds are checked here, so a page can come back short of
    // `limit` with `more` set (rarely: only entries in the bounds' own seconds are dropped).
    let limit = limit as usize;
    let mut items = Vec::new();
    let mut more = false;
    let mut scanned = 0;
    while items.len() < limit && scanned < SCAN_BUDGET {
        let want = limit - items.len();
        let page = (log.store)
            .query(reader.tenant.as_str(), &filter, after, want as i64 + 1)
            .await
            .map_err(failed)?;
        more = page.len() > want;
        for stored in page.into_iter().take(want) {
            scanned += 1;
            after = stored.seq;
            if filter.matches(&stored.entry) {
                items.push(json!({ "seq": stored.seq, "entry": stored.entry }));
            }
        }
        if !more {
            break;
        }
    }
    reader
        .audited(
            &server,
            "audit.query",
            &format!("audit:query {}", canonical),
        )
        .await;
    // A cursor always comes back, also at the end: polling with it returns only what arrived
    // since. `more` says whether entries were left unread.
    Ok(Json(json!({
        "tenant": reader.tenant.as_str(),
        "items": items,
        "more": more,
        "next_cursor": log.cursor(&canonical, after),
    }))
    .into_response())
}

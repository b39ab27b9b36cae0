//! `SqlAuditStore::query`: the entries of one chain that match a filter, in sequence order, found through the indexed filter columns rather than by reading every entry.

use time::OffsetDateTime;

use super::store::{SqlAuditStore, StoredEntry};
use super::{AuditEntry, AuditError, Outcome};

/// What `GET /audit` filters on. Every field narrows; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Entries at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Entries before this time.
    pub until: Option<OffsetDateTime>,
    /// The actor's subject or client id.
    pub actor: Option<String>,
    /// The action exactly, or a prefix ending in `*`.
    pub action: Option<String>,
    /// The resource.
    pub resource: Option<String>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// The event type.
    pub event_type: Option<String>,
    /// The trace id (32 hex digits of the `traceparent`).
    pub trace_id: Option<String>,
}

/// The text of an outcome as the filter column holds it.
pub(crate) fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Denied => "denied",
        Outcome::Failure => "failure",
    }
}

/// The time column's text: RFC 3339 in UTC (as given when it cannot be said in UTC: a time at
/// the edge of the representable range).
pub(crate) fn time_text(time: OffsetDateTime) -> String {
    let utc = time.checked_to_offset(time::UtcOffset::UTC).unwrap_or(time);
    utc.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The whole seconds of `time` in UTC as `YYYY-MM-DDTHH:MM:SS`: a prefix of the column text of
/// every entry in that second, and greater than that of every entry of an earlier second. `None`
/// for a time that cannot be said in UTC.
fn second_text(time: OffsetDateTime) -> Option<String> {
    let utc = time.checked_to_offset(time::UtcOffset::UTC)?;
    let whole = utc.replace_nanosecond(0).ok()?;
    let text = whole
        .format(&time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(text.trim_end_matches('Z').to_owned())
}

/// The trace id of a `traceparent`: its 32 characters after the version (`00-<trace id>-...`),
/// as the filter column holds it (SQL's `substr(traceparent, 4, 32)`).
pub(crate) fn trace_id(traceparent: &str) -> String {
    traceparent.chars().skip(3).take(32).collect()
}

/// The smallest text greater than every text that starts with `prefix` (in byte order), or
/// `None` when there is none.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The conditions of a query after `chain = $1 AND seq > $2`, and their values.
#[derive(Default)]
struct Conditions {
    sql: String,
    binds: Vec<String>,
}

impl Conditions {
    /// `AND condition`, each `?` in it the parameter that takes `value`.
    fn and(&mut self, condition: &str, value: String) {
        self.binds.push(value);
        let parameter = format!("${}", self.binds.len() + 2);
        self.sql.push_str(" AND ");
        self.sql.push_str(&condition.replace('?', &parameter));
    }
}

impl AuditQuery {
    /// Whether `e` matches, exactly (times to the nanosecond).
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let data = &e.data;
        self.since.is_none_or(|t| e.time >= t)
            && self.until.is_none_or(|t| e.time < t)
            && self.actor.as_deref().is_none_or(|a| {
                data.actor.as_ref().is_some_and(|actor| {
                    actor.subject == a || actor.client_id.as_deref() == Some(a)
                })
            })
            && self
                .action
                .as_deref()
                .is_none_or(|a| match a.strip_suffix('*') {
                    Some(prefix) => data.action.starts_with(prefix),
                    None => data.action == a,
                })
            && self
                .resource
                .as_deref()
                .is_none_or(|r| data.resource.as_deref() == Some(r))
            && self.outcome.is_none_or(|o| data.outcome == o)
            && self.event_type.as_deref().is_none_or(|t| e.event_type == t)
            && (self.trace_id.as_deref())
                .is_none_or(|t| e.traceparent.as_deref().map(trace_id).as_deref() == Some(t))
    }
}

impl SqlAuditStore {
    /// The entries of `chain` after position `after` that match `query`, oldest first, at most
    /// `limit`. Each filter is a condition on an indexed column, so a page costs about what it
    /// returns, however long the chain. Times are compared to the second here: callers that need
    /// sub-second bounds check [`AuditQuery::since`] and `until` on the entries returned.
    pub async fn query(
        &self,
        chain: &str,
        query: &AuditQuery,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEntry>, AuditError> {
        let mut filter = Conditions::default();
        // A bound that cannot be written in UTC (the ends of the time range) leaves its
        // condition out: the exact check on the entries returned still applies it.
        if let Some(since) = query.since.and_then(second_text) {
            filter.and("time >= ?", since);
        }
        // Entries of `until`'s own second compare greater than its second's text; the caller
        // drops those at or after `until` itself.
        let until = (query.until).and_then(|t| t.checked_add(time::Duration::SECOND));
        if let Some(until) = until.and_then(second_text) {
            filter.and("time < ?", until);
        }
        if let Some(actor) = &query.actor {
            filter.and("(actor = ? OR client_id = ?)", actor.clone());
        }
        match query.action.as_deref().map(|a| (a, a.strip_suffix('*'))) {
            Some((_, Some(prefix))) => {
                filter.and("action >= ?", prefix.to_owned());
                if let Some(end) = prefix_end(prefix) {
                    filter.and("action < ?", end);
                }
            }
            Some((exact, None)) => filter.and("action = ?", exact.to_owned()),
            None => {}
        }
        if let Some(resource) = &query.resource {
            filter.and("resource = ?", resource.clone());
        }
        if let Some(outcome) = query.outcome {
            filter.and("outcome = ?", outcome_text(outcome).to_owned());
        }
        if let Some(event_type) = &query.event_type {
            filter.and("event_type = ?", event_type.clone());
        }
        if let Some(trace_id) = &query.trace_id {
            filter.and("trace_id = ?", trace_id.clone());
        }
        let Conditions { sql, binds } = filter;
        let n = binds.len() + 3;
        // The positions first, from the filter's index alone (it ends in the sequence), then
        // the entries of just those: sorting a wide match (an action prefix) by sequence then
        // touches only index entries, not every matching row.
        let sql = format!(
            "SELECT seq, entry, openings FROM palisade_audit_log WHERE chain = $1 AND seq IN \
             (SELECT seq FROM palisade_audit_log WHERE chain = $1 AND seq > $2{sql} \
             ORDER BY seq LIMIT ${n}) ORDER BY seq"
        );
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(chain)
            .bind(after);
        for value in binds {
            statement = statement.bind(value);
        }
        let rows = statement.bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(super::store::stored_entry).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_before_the_next_text_that_does_not_start_with_it() {
        assert_eq!(prefix_end("admin.").as_deref(), Some("admin/"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }

    #[test]
    fn a_seconds_text_orders_between_the_seconds_of_column_texts() {
        let t = time::macros::datetime!(2026-12-03 15:52:06.5 UTC);
        let second = second_text(t).unwrap();
        assert_eq!(second, "2026-12-03T15:52:06");
        assert!(time_text(t).as_str() >= second.as_str());
        let whole = time::macros::datetime!(2026-12-03 15:52:06 UTC);
        assert!(time_text(whole).as_str() >= second.as_str());
        let before = time::macros::datetime!(2026-12-03 15:52:05.999 UTC);
        assert!(time_text(before).as_str() < second.as_str());
        let offset = time::macros::datetime!(2026-12-03 16:52:06 +01:00);
        assert_eq!(second_text(offset), Some(second));
        // The ends of the range: no panic, no bound.
        let edge = time::macros::datetime!(9999-12-31 23:30:00 -01:00);
        assert_eq!(second_text(edge), None);
        assert!(time_text(edge).starts_with("9999-12-31T23:30:00"));
    }
}

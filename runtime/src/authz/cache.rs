//! The decision cache: decisions kept by an unambiguous encoding of their whole request (principal with roles and scopes, action, resource with tenant and attributes, context), so a hit returns what evaluating would.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};

use super::Decision;
use super::engine::{AttrValue, Resource};
use crate::principal::Principal;

/// Decisions kept by default.
pub(super) const DEFAULT_CAPACITY: usize = 65_536;
/// Decisions kept by a tenant's own engine (or its shadow): a service may hold one per tenant.
pub(super) const TENANT_CAPACITY: usize = 4_096;
/// Requests with a longer key (large attributes or contexts) are decided and not kept, so the
/// cache's memory stays bounded by its capacity times this.
const MAX_KEY_LEN: usize = 2_048;

/// A bounded map from request keys to decisions; full, it starts over (the working set of a
/// service is its users' requests, which refill it at once).
pub(super) struct DecisionCache {
    capacity: usize,
    map: Mutex<HashMap<String, Decision>>,
}

impl DecisionCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    pub(super) fn get(&self, key: &str) -> Option<Decision> {
        self.map.lock().ok()?.get(key).cloned()
    }

    pub(super) fn insert(&self, key: String, decision: &Decision) {
        if key.len() > MAX_KEY_LEN {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, decision.clone());
        }
    }
}

/// The request as the engine turns it into Cedar: roles and scopes as sets, the resource's
/// attributes as the map it builds (a later attribute of one name replaces an earlier one, and
/// `tenant` is always the resource's tenant), the context as JSON. Written as JSON, so two keys
/// are equal only when every part is.
pub(super) fn key(
    principal: &Principal,
    action: &str,
    resource: &Resource,
    context: &Value,
) -> String {
    let mut attrs: BTreeMap<&str, Value> = BTreeMap::new();
    for (name, value) in resource.attrs() {
        if name != "tenant" {
            attrs.insert(name, attr(value));
        }
    }
    json!([
        principal.tenant.as_str(),
        principal.subject,
        principal.kind.as_str(),
        set(&principal.roles),
        set(&principal.scopes),
        principal.client_id,
        action,
        resource.entity_type(),
        resource.id(),
        resource.tenant().as_str(),
        attrs,
        context,
    ])
    .to_string()
}

/// A list as the set Cedar makes of it: sorted, without repeats.
fn set(items: &[String]) -> Vec<&str> {
    let mut items: Vec<&str> = items.iter().map(String::as_str).collect();
    items.sort_unstable();
    items.dedup();
    items
}

fn attr(value: &AttrValue) -> Value {
    match value {
        AttrValue::String(s) => json!({ "s": s }),
        AttrValue::Long(n) => json!({ "l": n }),
        AttrValue::Bool(b) => json!({ "b": b }),
        AttrValue::Set(items) => json!({ "S": set(items) }),
    }
}

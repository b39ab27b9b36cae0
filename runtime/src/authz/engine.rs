//! `PolicyEngine`: loads and strictly validates the Cedar schema and policies, adds tenant isolation, and decides requests.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use std::sync::{Arc, Mutex};

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, PrincipalConstraint, RestrictedExpression, Schema,
};
use palisade_policy::PolicySetWithSchema;
pub use palisade_policy::{LoadError, PolicySource, TENANT_ISOLATION_POLICY_ID};

use super::decision::{Decision, Query};
use crate::principal::{Principal, TenantId};

const PRINCIPAL_TYPE: &str = "Palisade::Principal";
const ROLE_TYPE: &str = "Palisade::Role";

/// A request could not be evaluated (a bad action name or context): a programming error, answered 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthzError {
    /// The action, principal, resource or context does not fit the schema.
    #[error("authorization request does not fit the schema: {0}")]
    Request(String),
    /// The entities do not fit the schema.
    #[error("authorization entities do not fit the schema: {0}")]
    Entities(String),
}

/// An attribute value of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttrValue {
    /// A string.
    String(String),
    /// A 64-bit integer.
    Long(i64),
    /// A boolean.
    Bool(bool),
    /// A set of strings.
    Set(Vec<String>),
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        Self::String(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        Self::Long(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// The resource of a decision: its Cedar entity type, id, tenant and attributes.
#[derive(Clone, Debug)]
pub struct Resource {
    entity_type: String,
    id: String,
    tenant: TenantId,
    attrs: Vec<(String, AttrValue)>,
}

impl Resource {
    /// A resource of `entity_type` (as declared in the schema, e.g. `App::Note`) owned by `tenant`.
    pub fn new(entity_type: impl Into<String>, id: impl Into<String>, tenant: &TenantId) -> Self {
        Self {
            entity_type: entity_type.into(),
            id: id.into(),
            tenant: tenant.clone(),
            attrs: Vec::new(),
        }
    }

    /// Adds an attribute for ABAC conditions.
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.attrs.push((name.into(), value.into()));
        self
    }

    /// `Type::"id"`, as audit entries name it.
    pub fn display_name(&self) -> String {
        format!("{}::{:?}", self.entity_type, self.id)
    }

    /// The tenant owning the resource.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Its entity type, as declared in the schema.
    pub fn entity_type(&self) -> &str {
        &self.entity_type
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its attributes, in the order they were added.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &AttrValue)> {
        self.attrs
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }
}

/// The loaded, validated policy set and its schema.
pub struct PolicyEngine {
    schema: Schema,
    /// Every loaded policy, the tenant-isolation policy included; decisions evaluate a slice of it.
    pub(super) policies: PolicySet,
    authorizer: Authorizer,
    /// Parsed once at load: parsing a type name runs Cedar's parser, too slow for every request.
    types: HashMap<String, EntityTypeName>,
    principal_type: EntityTypeName,
    role_type: EntityTypeName,
    action_type: EntityTypeName,
    /// The schema's action entities when it has action groups, computed once and cloned into
    /// each request's entity set.
    actions: Option<Entities>,
    /// Policy sets sliced by (action, roles); see [`PolicyEngine::slice`].
    slices: Mutex<HashMap<SliceKey, Arc<PolicySet>>>,
    /// Decisions by their whole canonical request; see [`PolicyEngine::decision_cache`].
    decisions: super::cache::DecisionCache,
}

/// An action and a role list, sorted and without duplicates.
type SliceKey = (String, Vec<String>);

/// How many sliced policy sets are kept before the cache starts over.
const MAX_SLICES: usize = 4096;

impl PolicyEngine {
    /// Loads a policy folder the way every generated service keeps one: `schema.cedarschema` and
    /// every `*.cedar` file of `dir`, in file-name order, validated strictly by [`Self::load`].
    /// A missing folder or schema is a [`LoadError::Read`] naming the path.
    pub fn from_dir(namespace: &str, dir: &std::path::Path) -> Result<Self, LoadError> {
        let (schema, policies) = palisade_policy::read_dir(dir)?;
        Self::load(namespace, &schema, &policies)
    }

    /// Loads the application's schema and policies and validates them strictly; the
    /// tenant-isolation policy is added and the runtime's `Palisade` schema fragment is merged in.
    /// `namespace` is the application's Cedar namespace for actions (`App` gives `App::Action::"read"`).
    pub fn load(
        namespace: &str,
        schema: &PolicySource,
        policies: &[PolicySource],
    ) -> Result<Self, LoadError> {
        let loaded = palisade_policy::load(schema, policies)?;
        Self::from_loaded(namespace, loaded)
    }

    /// An engine over a set [`palisade_policy::load`] validated.
    pub fn from_loaded(namespace: &str, loaded: PolicySetWithSchema) -> Result<Self, LoadError> {
        let PolicySetWithSchema {
            schema,
            policies: set,
        } = loaded;
        let parse_type = |name: &str| {
            EntityTypeName::from_str(name).map_err(|e| LoadError::Schema(format!("{name}: {e}")))
        };
        let types = schema
            .entity_types()
            .map(|t| (t.to_string(), t.clone()))
            .collect();
        let actions = schema
            .action_entities()
            .map_err(|e| LoadError::Schema(e.to_string()))?;
        // Action entities only matter for `action in <group>`; without groups they are left out.
        let grouped = schema.actions().any(|a| {
            actions
                .ancestors(a)
                .is_some_and(|mut it| it.next().is_some())
        });
        let actions = grouped.then_some(actions);
        Ok(Self {
            principal_type: parse_type(PRINCIPAL_TYPE)?,
            role_type: parse_type(ROLE_TYPE)?,
            action_type: parse_type(&format!("{namespace}::Action"))?,
            types,
            actions,
            schema,
            policies: set,
            authorizer: Authorizer::new(),
            slices: Mutex::new(HashMap::new()),
            decisions: super::cache::DecisionCache::new(super::cache::DEFAULT_CAPACITY),
        })
    }

    /// Keeps up to `capacity` decisions (by default 65,536; 0 keeps none). A decision depends only
    /// on the request, the entities built from it and the policies, which an engine never
    /// changes, so the key is all of the request (principal with its roles and scopes, action,
    /// resource with its tenant and attributes, context) and a cached decision is the decision.
    pub fn decision_cache(mut self, capacity: usize) -> Self {
        self.decisions = super::cache::DecisionCache::new(capacity);
        self
    }

    /// Decides whether `principal` may do `action` on `resource` in `context` (a JSON object, or `null`).
    pub fn authorize(
        &self,
        principal: &Principal,
        action: &str,
        resource: &Resource,
        context: &serde_json::Value,
    ) -> Result<Decision, AuthzError> {
        let key = self
            .decisions
            .enabled()
            .then(|| super::cache::key(principal, action, resource, context));
        if let Some(decision) = key.as_deref().and_then(|k| self.decisions.get(k)) {
            return Ok(decision);
        }
        let query = self.query(principal, action, resource, context)?;
        let policies = self.slice(&query.action, action, sorted_roles(principal))?;
        let decision = query.evaluate(&self.authorizer, &policies);
        if let Some(key) = key {
            self.decisions.insert(key, &decision);
        }
        Ok(decision)
    }

    /// Decides `action` on each of `resources` for one principal and context (filtering search
    /// or retrieval results): the policy slice and the principal's entities are built once.
    /// The decisions are those of [`Self::authorize`], in the order of `resources`.
    pub fn authorize_batch(
        &self,
        principal: &Principal,
        action: &str,
        resources: &[Resource],
        context: &serde_json::Value,
    ) -> Result<Vec<Decision>, AuthzError> {
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let (principal_uid, entities) = self.principal_entities(principal)?;
        let action_uid = self.uid(&self.action_type, action);
        let policies = self.slice(&action_uid, action, sorted_roles(principal))?;
        let cedar_context = self.context(context, &action_uid)?;
        // The principal, its roles (and the schema's actions) built once; each decision sees
        // them and its own resource only, as `authorize` does: a policy naming another entity
        // must not find it because it happens to be another candidate of the batch.
        let shared = self.entities(entities)?;
        resources
            .iter()
            .map(|resource| {
                let (uid, entity) = self.resource_entity(resource)?;
                let entities = shared
                    .clone()
                    .add_entities([entity], None)
                    .map_err(|e| AuthzError::Entities(e.to_string()))?;
                let request = self.request(
                    principal_uid.clone(),
                    action_uid.clone(),
                    uid,
                    cedar_context.clone(),
                )?;
                Ok(super::decision::decide(
                    &self.authorizer,
                    action,
                    &request,
                    &entities,
                    &policies,
                ))
            })
            .collect()
    }

    /// The Cedar request and entities of a decision, independent of which policies it evaluates.
    pub(super) fn query(
        &self,
        principal: &Principal,
        action: &str,
        resource: &Resource,
        context: &serde_json::Value,
    ) -> Result<Query, AuthzError> {
        let (principal_uid, mut entities) = self.principal_entities(principal)?;
        let action_uid = self.uid(&self.action_type, action);
        let (resource_uid, resource_entity) = self.resource_entity(resource)?;
        entities.push(resource_entity);
        let entities = self.entities(entities)?;
        let context = self.context(context, &action_uid)?;
        let request = self.request(principal_uid, action_uid.clone(), resource_uid, context)?;
        Ok(Query {
            name: action.to_owned(),
            action: action_uid,
            request,
            entities,
        })
    }

    fn uid(&self, ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    /// The principal's entity (`<tenant>/<subject>`, with its attributes) and its roles'.
    fn principal_entities(
        &self,
        principal: &Principal,
    ) -> Result<(EntityUid, Vec<Entity>), AuthzError> {
        let principal_uid = self.uid(
            &self.principal_type,
            &format!("{}/{}", principal.tenant, principal.subject),
        );
        let mut entities = Vec::with_capacity(principal.roles.len() + 2);
        let mut parents = HashSet::with_capacity(principal.roles.len());
        for role in &principal.roles {
            let role_uid = self.uid(&self.role_type, role);
            // A repeated role is one entity, not two with the same id.
            if parents.insert(role_uid.clone()) {
                entities.push(Entity::new_no_attrs(role_uid, HashSet::new()));
            }
        }
        let mut attrs = HashMap::from([
            (
                "tenant".to_owned(),
                RestrictedExpression::new_string(principal.tenant.to_string()),
            ),
            (
                "subject".to_owned(),
                RestrictedExpression::new_string(principal.subject.clone()),
            ),
            (
                "kind".to_owned(),
                RestrictedExpression::new_string(principal.kind.as_str().to_owned()),
            ),
            (
                "scopes".to_owned(),
                RestrictedExpression::new_set(
                    principal
                        .scopes
                        .iter()
                        .map(|s| RestrictedExpression::new_string(s.clone())),
                ),
            ),
        ]);
        if let Some(client) = &principal.client_id {
            attrs.insert(
                "client_id".to_owned(),
                RestrictedExpression::new_string(client.clone()),
            );
        }
        entities.push(
            Entity::new(principal_uid.clone(), attrs, parents)
                .map_err(|e| AuthzError::Entities(e.to_string()))?,
        );
        Ok((principal_uid, entities))
    }

    /// The resource's entity: its attributes, and its owning tenant as `tenant`.
    fn resource_entity(&self, resource: &Resource) -> Result<(EntityUid, Entity), AuthzError> {
        let resource_type = self.types.get(&resource.entity_type).ok_or_else(|| {
            AuthzError::Request(format!(
                "entity type {} is not in the schema",
                resource.entity_type
            ))
        })?;
        let resource_uid = self.uid(resource_type, &resource.id);
        let mut resource_attrs = HashMap::with_capacity(resource.attrs.len() + 1);
        for (name, value) in &resource.attrs {
            resource_attrs.insert(name.clone(), restricted(value));
        }
        // Inserted last, so an attribute named `tenant` can never replace the owning tenant.
        resource_attrs.insert(
            "tenant".to_owned(),
            RestrictedExpression::new_string(resource.tenant.to_string()),
        );
        let entity = Entity::new(resource_uid.clone(), resource_attrs, HashSet::new())
            .map_err(|e| AuthzError::Entities(e.to_string()))?;
        Ok((resource_uid, entity))
    }

    /// The entity set of a decision, with the schema's actions when it groups them.
    fn entities(&self, entities: Vec<Entity>) -> Result<Entities, AuthzError> {
        // Entities are not validated against the schema on this hot path (it costs more than the
        // decision). The principal is built from the runtime's own schema fragment; a resource
        // attribute the application forgot or mistyped makes a policy fail to evaluate, and any
        // evaluation error denies below, so a skipped forbid can never turn into an allow.
        match &self.actions {
            Some(actions) => actions.clone().add_entities(entities, None),
            None => Entities::from_entities(entities, None),
        }
        .map_err(|e| AuthzError::Entities(e.to_string()))
    }

    fn context(
        &self,
        context: &serde_json::Value,
        action_uid: &EntityUid,
    ) -> Result<Context, AuthzError> {
        match context {
            serde_json::Value::Null => Ok(Context::empty()),
            value => Context::from_json_value(value.clone(), Some((&self.schema, action_uid)))
                .map_err(|e| AuthzError::Request(e.to_string())),
        }
    }

    fn request(
        &self,
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
        context: Context,
    ) -> Result<cedar_policy::Request, AuthzError> {
        cedar_policy::Request::new(principal, action, resource, context, Some(&self.schema))
            .map_err(|e| AuthzError::Request(e.to_string()))
    }

    /// The policies that can possibly apply to `action` for a principal with these roles
    /// (sorted and without duplicates).
    ///
    /// A policy whose scope cannot match is never satisfied, so leaving it out changes no
    /// decision; it only saves evaluating it. A policy is left out only when its action scope
    /// excludes `action` (through the schema's action groups) or its principal scope requires
    /// a role the principal does not have. Everything else is kept. Slices are cached, since
    /// the combinations of actions and role sets are few.
    fn slice(
        &self,
        action_uid: &EntityUid,
        action: &str,
        roles: Vec<String>,
    ) -> Result<Arc<PolicySet>, AuthzError> {
        let key = (action.to_owned(), roles);
        let mut slices = self
            .slices
            .lock()
            .map_err(|_| AuthzError::Request("policy slice cache poisoned".into()))?;
        if let Some(set) = slices.get(&key) {
            return Ok(set.clone());
        }
        let action_ancestors: Vec<&EntityUid> = self
            .actions
            .as_ref()
            .and_then(|a| a.ancestors(action_uid))
            .map(Iterator::collect)
            .unwrap_or_default();
        let action_matches = |constraint: ActionConstraint| match constraint {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(a) => &a == action_uid,
            ActionConstraint::In(list) => list
                .iter()
                .any(|a| a == action_uid || action_ancestors.contains(&a)),
        };
        let role_matches = |uid: &EntityUid| {
            let (_, roles) = &key;
            uid.type_name() != &self.role_type
                || roles
                    .binary_search_by(|r| r.as_str().cmp(uid.id().unescaped()))
                    .is_ok()
        };
        let principal_matches = |constraint: PrincipalConstraint| match constraint {
            PrincipalConstraint::In(uid) | PrincipalConstraint::IsIn(_, uid) => role_matches(&uid),
            PrincipalConstraint::Any | PrincipalConstraint::Eq(_) | PrincipalConstraint::Is(_) => {
                true
            }
        };
        let kept = self
            .policies
            .policies()
            .filter(|p| {
                action_matches(p.action_constraint()) && principal_matches(p.principal_constraint())
            })
            .cloned();
        let set = Arc::new(
            PolicySet::from_policies(kept).map_err(|e| AuthzError::Request(e.to_string()))?,
        );
        if slices.len() >= MAX_SLICES {
            slices.clear();
        }
        slices.insert(key, set.clone());
        Ok(set)
    }

    /// How many policies are loaded, the tenant-isolation policy included.
    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }
}

/// The principal's roles as a sorted set: `Principal` has public fields, so a hand-built one may
/// hold them unsorted or repeated, and slicing searches and caches by role.
fn sorted_roles(principal: &Principal) -> Vec<String> {
    let mut roles = principal.roles.clone();
    roles.sort_unstable();
    roles.dedup();
    roles
}

fn restricted(value: &AttrValue) -> RestrictedExpression {
    match value {
        AttrValue::String(s) => RestrictedExpression::new_string(s.clone()),
        AttrValue::Long(n) => RestrictedExpression::new_long(*n),
        AttrValue::Bool(b) => RestrictedExpression::new_bool(*b),
        AttrValue::Set(items) => RestrictedExpression::new_set(
            items
                .iter()
                .map(|s| RestrictedExpression::new_string(s.clone())),
        ),
    }
}

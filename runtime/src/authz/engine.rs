//! `PolicyEngine`: loads and strictly validates the Cedar schema and policies, adds tenant isolation, and decides requests.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, RestrictedExpression, Schema, SchemaFragment, ValidationMode, Validator,
};
use miette::Diagnostic;

use crate::principal::{Principal, TenantId};

/// The id of the tenant-isolation policy that every engine carries.
pub const TENANT_ISOLATION_POLICY_ID: &str = "palisade::tenant-isolation";

const PALISADE_SCHEMA: &str = include_str!("palisade.cedarschema");
const TENANT_ISOLATION: &str = include_str!("tenant_isolation.cedar");
const PRINCIPAL_TYPE: &str = "Palisade::Principal";
const ROLE_TYPE: &str = "Palisade::Role";

/// A named piece of Cedar text (a file's path and its content), so errors can point at it.
#[derive(Clone, Debug)]
pub struct PolicySource {
    /// Where the text came from, used in error messages and default policy ids.
    pub name: String,
    /// The Cedar text.
    pub text: String,
}

impl PolicySource {
    /// A source from a name and its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Reads a file.
    pub fn read(path: &std::path::Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
            file: path.display().to_string(),
            error: e.to_string(),
        })?;
        Ok(Self::new(path.display().to_string(), text))
    }
}

/// Why a schema or policy set was refused at start-up. Each names the file, line and column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be read.
    #[error("{file}: {error}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        error: String,
    },
    /// Cedar text did not parse.
    #[error("{location}: {message}")]
    Parse {
        /// `file:line:column`.
        location: String,
        /// What the parser said.
        message: String,
    },
    /// A policy does not validate against the schema (strict mode).
    #[error("{location}: policy {policy}: {message}")]
    Invalid {
        /// `file:line:column`.
        location: String,
        /// The policy's id.
        policy: String,
        /// What the validator said.
        message: String,
    },
    /// The schema fragments do not combine.
    #[error("schema: {0}")]
    Schema(String),
    /// A loaded policy reuses an id, including the reserved tenant-isolation id.
    #[error("{file}: duplicate policy id {id:?}")]
    DuplicateId {
        /// The file.
        file: String,
        /// The id.
        id: String,
    },
    /// A policy file holds a template (`?principal`/`?resource`), which is not supported.
    #[error("{file}: policy templates are not supported")]
    Template {
        /// The file.
        file: String,
    },
}

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
}

/// The outcome of a decision with the policies that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The ids of the satisfied permits (when allowed) or forbids (when denied); empty for a default deny.
    pub policies: Vec<String>,
    /// Policies that failed to evaluate (they count as not satisfied).
    pub errors: Vec<String>,
}

/// The loaded, validated policy set and its schema.
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    authorizer: Authorizer,
    namespace: String,
}

impl PolicyEngine {
    /// Loads the application's schema and policies and validates them strictly; the
    /// tenant-isolation policy is added and the runtime's `Palisade` schema fragment is merged in.
    /// `namespace` is the application's Cedar namespace for actions (`App` gives `App::Action::"read"`).
    pub fn load(
        namespace: &str,
        schema: &PolicySource,
        policies: &[PolicySource],
    ) -> Result<Self, LoadError> {
        let palisade = parse_fragment(&PolicySource::new("palisade.cedarschema", PALISADE_SCHEMA))?;
        let app = parse_fragment(schema)?;
        let schema = Schema::from_schema_fragments([palisade, app])
            .map_err(|e| LoadError::Schema(e.to_string()))?;

        let isolation = PolicySource::new("palisade::tenant_isolation.cedar", TENANT_ISOLATION);
        let mut set = PolicySet::new();
        let mut texts: HashMap<String, &PolicySource> = HashMap::new();
        for source in std::iter::once(&isolation).chain(policies) {
            let parsed = PolicySet::from_str(&source.text).map_err(|errors| {
                let first = errors.iter().next();
                LoadError::Parse {
                    location: location(
                        &source.name,
                        &source.text,
                        first.map(|e| e as &dyn Diagnostic),
                    ),
                    message: first.map_or_else(|| errors.to_string(), ToString::to_string),
                }
            })?;
            if parsed.templates().next().is_some() {
                return Err(LoadError::Template {
                    file: source.name.clone(),
                });
            }
            for (index, policy) in parsed.policies().enumerate() {
                let id = match policy.annotation("id") {
                    Some(id) if !id.is_empty() => id.to_owned(),
                    _ => format!("{}#{index}", source.name),
                };
                let policy = policy.new_id(PolicyId::new(&id));
                set.add(policy).map_err(|_| LoadError::DuplicateId {
                    file: source.name.clone(),
                    id: id.clone(),
                })?;
                texts.insert(id, source);
            }
        }

        let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        if let Some(error) = result.validation_errors().next() {
            let id = error.policy_id().to_string();
            let source = texts.get(&id);
            return Err(LoadError::Invalid {
                location: source
                    .map_or_else(|| id.clone(), |s| location(&s.name, &s.text, Some(error))),
                policy: id,
                message: error.to_string(),
            });
        }
        Ok(Self {
            schema,
            policies: set,
            authorizer: Authorizer::new(),
            namespace: namespace.to_owned(),
        })
    }

    /// Decides whether `principal` may do `action` on `resource` in `context` (a JSON object, or `null`).
    pub fn authorize(
        &self,
        principal: &Principal,
        action: &str,
        resource: &Resource,
        context: &serde_json::Value,
    ) -> Result<Decision, AuthzError> {
        let principal_uid = uid(
            PRINCIPAL_TYPE,
            &format!("{}/{}", principal.tenant, principal.subject),
        )?;
        let action_uid = uid(&format!("{}::Action", self.namespace), action)?;
        let resource_uid = uid(&resource.entity_type, &resource.id)?;

        let mut entities = Vec::with_capacity(principal.roles.len() + 2);
        let mut parents = HashSet::with_capacity(principal.roles.len());
        for role in &principal.roles {
            let role_uid = uid(ROLE_TYPE, role)?;
            entities.push(Entity::new_no_attrs(role_uid.clone(), HashSet::new()));
            parents.insert(role_uid);
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

        let mut resource_attrs = HashMap::with_capacity(resource.attrs.len() + 1);
        resource_attrs.insert(
            "tenant".to_owned(),
            RestrictedExpression::new_string(resource.tenant.to_string()),
        );
        for (name, value) in &resource.attrs {
            resource_attrs.insert(name.clone(), restricted(value));
        }
        entities.push(
            Entity::new(resource_uid.clone(), resource_attrs, HashSet::new())
                .map_err(|e| AuthzError::Entities(e.to_string()))?,
        );
        let entities = Entities::from_entities(entities, Some(&self.schema))
            .map_err(|e| AuthzError::Entities(e.to_string()))?;

        let context = match context {
            serde_json::Value::Null => Context::empty(),
            value => Context::from_json_value(value.clone(), Some((&self.schema, &action_uid)))
                .map_err(|e| AuthzError::Request(e.to_string()))?,
        };
        let request = cedar_policy::Request::new(
            principal_uid,
            action_uid,
            resource_uid,
            context,
            Some(&self.schema),
        )
        .map_err(|e| AuthzError::Request(e.to_string()))?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let mut policies: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        policies.sort();
        Ok(Decision {
            allowed: response.decision() == cedar_policy::Decision::Allow,
            policies,
            errors: response
                .diagnostics()
                .errors()
                .map(ToString::to_string)
                .collect(),
        })
    }

    /// How many policies are loaded, the tenant-isolation policy included.
    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }
}

fn parse_fragment(source: &PolicySource) -> Result<SchemaFragment, LoadError> {
    SchemaFragment::from_cedarschema_str(&source.text)
        .map(|(f, _warnings)| f)
        .map_err(|e| LoadError::Parse {
            location: location(&source.name, &source.text, Some(&e)),
            message: e.to_string(),
        })
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, AuthzError> {
    let ty = EntityTypeName::from_str(type_name).map_err(|e| AuthzError::Request(e.to_string()))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
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

/// `file:line:column` of a diagnostic's first label, or the file alone.
fn location(file: &str, text: &str, diagnostic: Option<&dyn Diagnostic>) -> String {
    let offset = diagnostic
        .and_then(|d| d.labels())
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset());
    let Some(offset) = offset else {
        return file.to_owned();
    };
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    format!("{file}:{line}:{column}")
}

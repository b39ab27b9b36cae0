//! Loading a service's Cedar policies: its schema merged with Palisade's own fragment, its policy files parsed and given ids, the fixed tenant-isolation `forbid` added, and the whole validated strictly; every refusal names the file, line and column.

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{PolicyId, PolicySet, Schema, SchemaFragment, ValidationMode, Validator};
use miette::Diagnostic;

/// The id of the tenant-isolation policy that every set carries.
pub const TENANT_ISOLATION_POLICY_ID: &str = "palisade::tenant-isolation";

/// Palisade's part of every service's schema (`Palisade::Principal`, `Palisade::Role`).
pub const PALISADE_SCHEMA: &str = include_str!("palisade.cedarschema");
/// The tenant-isolation `forbid`.
pub const TENANT_ISOLATION: &str = include_str!("tenant_isolation.cedar");

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

/// A service's schema and policies, validated, the tenant-isolation policy among them.
#[derive(Clone, Debug)]
pub struct PolicySetWithSchema {
    /// The merged schema (Palisade's fragment and the service's).
    pub schema: Schema,
    /// Every policy, each with its id (its `@id` annotation, or `<file>#<index>`).
    pub policies: PolicySet,
}

/// Reads a policy folder the way every generated service keeps one: `schema.cedarschema` and
/// every `*.cedar` file, in file-name order. A missing folder or schema is a [`LoadError::Read`].
pub fn read_dir(dir: &std::path::Path) -> Result<(PolicySource, Vec<PolicySource>), LoadError> {
    let schema = PolicySource::read(&dir.join("schema.cedarschema"))?;
    let unreadable = |e: std::io::Error| LoadError::Read {
        file: dir.display().to_string(),
        error: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|ext| ext == "cedar") {
            files.push(path);
        }
    }
    files.sort();
    let policies = files
        .iter()
        .map(|p| PolicySource::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, policies))
}

/// Loads a schema and policies and validates them strictly; the tenant-isolation policy is added
/// and Palisade's schema fragment merged in.
pub fn load(
    schema: &PolicySource,
    policies: &[PolicySource],
) -> Result<PolicySetWithSchema, LoadError> {
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
    Ok(PolicySetWithSchema {
        schema,
        policies: set,
    })
}

fn parse_fragment(source: &PolicySource) -> Result<SchemaFragment, LoadError> {
    SchemaFragment::from_cedarschema_str(&source.text)
        .map(|(f, _warnings)| f)
        .map_err(|e| LoadError::Parse {
            location: location(&source.name, &source.text, Some(&e)),
            message: e.to_string(),
        })
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

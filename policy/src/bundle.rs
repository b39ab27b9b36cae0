//! The policy bundle a control plane serves a service: its schema, its base policies, and each tenant's active and shadow sets, versioned; and the policy sets a service builds from it (base plus one tenant's set, so a tenant's policies only ever decide its own principals' requests).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{LoadError, PolicySetWithSchema, PolicySource, load};

/// The bundle format's version.
pub const BUNDLE_FORMAT: u32 = 1;

/// A named Cedar text in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// A file name, used in error locations and default policy ids.
    pub name: String,
    /// The Cedar text.
    pub text: String,
}

/// A tenant's policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPolicies {
    /// The version of the tenant's active set.
    pub version: u64,
    /// Enforced, beside the base policies.
    pub active: Vec<BundleFile>,
    /// Evaluated beside the active set and never enforced: a difference is audited as a flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Vec<BundleFile>>,
}

/// Everything a service needs to decide: what the control plane signs and serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: u32,
    /// The service (its client id).
    pub service: String,
    /// Monotonic: a service never swaps to a lower version than the one it holds.
    pub version: u64,
    /// The service's Cedar schema.
    pub schema: BundleFile,
    /// The service's own policies (its repository's `policies/`), for every tenant.
    pub base: Vec<BundleFile>,
    /// Each tenant's policies, by tenant id.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantPolicies>,
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not a bundle (bad JSON, an unknown field, another format).
    #[error("not a policy bundle: {0}")]
    Format(String),
    /// A set does not load: which one, and where.
    #[error("policy bundle, {set}: {source}")]
    Invalid {
        /// `base`, or `tenant <id>` (`shadow of tenant <id>`).
        set: String,
        /// Why, with file, line and column.
        #[source]
        source: LoadError,
    },
}

/// The validated sets of a bundle: the base set, and for each tenant with policies of its own
/// the base with them (and, in shadow, with its shadow set instead).
#[derive(Debug, Clone)]
pub struct BundleSets {
    /// The bundle's version.
    pub version: u64,
    /// Base policies only: tenants without policies of their own.
    pub base: PolicySetWithSchema,
    /// Base plus the tenant's active set.
    pub tenants: BTreeMap<String, PolicySetWithSchema>,
    /// Base plus the tenant's shadow set.
    pub shadows: BTreeMap<String, PolicySetWithSchema>,
}

impl Bundle {
    /// Parses a bundle's JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let bundle: Self =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Format(e.to_string()))?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(BundleError::Format(format!(
                "format {}, this runtime reads {BUNDLE_FORMAT}",
                bundle.format
            )));
        }
        Ok(bundle)
    }

    /// Loads and validates every set; the first that does not load refuses the whole bundle.
    pub fn sets(&self) -> Result<BundleSets, BundleError> {
        let schema = PolicySource::new(&self.schema.name, &self.schema.text);
        let sources = |files: &[BundleFile]| -> Vec<PolicySource> {
            files
                .iter()
                .map(|f| PolicySource::new(&f.name, &f.text))
                .collect()
        };
        let base = sources(&self.base);
        let with = |set: String, extra: &[BundleFile]| {
            let mut all = base.clone();
            all.extend(sources(extra));
            load(&schema, &all).map_err(|source| BundleError::Invalid { set, source })
        };
        let mut sets = BundleSets {
            version: self.version,
            base: with("base".to_owned(), &[])?,
            tenants: BTreeMap::new(),
            shadows: BTreeMap::new(),
        };
        for (tenant, policies) in &self.tenants {
            sets.tenants.insert(
                tenant.clone(),
                with(format!("tenant {tenant}"), &policies.active)?,
            );
            if let Some(shadow) = &policies.shadow {
                sets.shadows.insert(
                    tenant.clone(),
                    with(format!("shadow of tenant {tenant}"), shadow)?,
                );
            }
        }
        Ok(sets)
    }
}

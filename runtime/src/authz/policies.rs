//! `Policies`: the engines a service decides with (the base policies, and each tenant's own with them, active and shadow), held behind one atomic pointer so a new bundle replaces them whole: a request takes one snapshot and never sees half of two bundles.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use palisade_policy::BundleSets;

use super::engine::{LoadError, PolicyEngine};
use crate::principal::TenantId;

/// One bundle's engines.
pub struct Engines {
    version: u64,
    base: Arc<PolicyEngine>,
    tenants: HashMap<String, Arc<PolicyEngine>>,
    shadows: HashMap<String, Arc<PolicyEngine>>,
}

impl Engines {
    /// One engine for everyone: policies from files, no tenant sets, version 0.
    pub fn fixed(engine: Arc<PolicyEngine>) -> Self {
        Self {
            version: 0,
            base: engine,
            tenants: HashMap::new(),
            shadows: HashMap::new(),
        }
    }

    /// The engines of a bundle's validated sets (`namespace` as in [`PolicyEngine::load`]).
    pub fn from_sets(namespace: &str, sets: BundleSets) -> Result<Self, LoadError> {
        let engine = |set| PolicyEngine::from_loaded(namespace, set);
        // A tenant's engine keeps fewer decisions: a service may hold one per tenant.
        let tenant =
            |set| engine(set).map(|e| Arc::new(e.decision_cache(super::cache::TENANT_CAPACITY)));
        let mut tenants = HashMap::new();
        for (id, set) in sets.tenants {
            tenants.insert(id, tenant(set)?);
        }
        let mut shadows = HashMap::new();
        for (id, set) in sets.shadows {
            shadows.insert(id, tenant(set)?);
        }
        Ok(Self {
            version: sets.version,
            base: Arc::new(engine(sets.base)?),
            tenants,
            shadows,
        })
    }

    /// The bundle's version (0 for policies from files).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The engine that decides for principals of `tenant`: the base policies with the tenant's
    /// own, or the base alone. A tenant's policies never decide another tenant's principals.
    pub fn for_tenant(&self, tenant: &TenantId) -> &Arc<PolicyEngine> {
        self.tenants.get(tenant.as_str()).unwrap_or(&self.base)
    }

    /// The tenant's shadow engine, when a shadow set is deployed for it.
    pub fn shadow_for(&self, tenant: &TenantId) -> Option<&Arc<PolicyEngine>> {
        self.shadows.get(tenant.as_str())
    }
}

/// The current engines, replaced whole by [`Policies::swap`].
#[derive(Clone)]
pub struct Policies {
    current: Arc<ArcSwap<Engines>>,
}

impl Policies {
    /// Starts from `engines`.
    pub fn new(engines: Engines) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(engines)),
        }
    }

    /// A snapshot: the engines of one bundle, whatever is swapped in meanwhile.
    pub fn engines(&self) -> Arc<Engines> {
        self.current.load_full()
    }

    /// Replaces the engines for every request that starts after it.
    pub fn swap(&self, engines: Engines) {
        self.current.store(Arc::new(engines));
    }
}

impl From<Arc<PolicyEngine>> for Policies {
    fn from(engine: Arc<PolicyEngine>) -> Self {
        Self::new(Engines::fixed(engine))
    }
}

//! The policy service's operations apart from HTTP: [`PolicyAdmin`] puts a service's schema and sets (validated as the services will load them, stored only over the version they were checked against), reads them, their history and rollbacks, each change audited with its actor; the routes and the control plane's command line both call it.

use super::*;

/// Who acts: the subject and client of an admin token, or a local operator.
#[derive(Clone, Debug)]
pub(super) struct Editor {
    pub(super) subject: String,
    pub(super) client_id: Option<String>,
    /// The editor's own tenant (empty for a local operator).
    pub(super) tenant: String,
}

impl Editor {
    /// Records a change in the chain of the tenant whose set it is (the editor's own for the
    /// base set and the schema), with the editor as actor.
    pub(super) async fn record(
        &self,
        server: &AuthorizationServer,
        action: &str,
        resource: &str,
        set: Option<&PolicySet>,
        outcome: Outcome,
        reason: Option<&str>,
    ) {
        let kind = if self.client_id.as_deref() == Some(self.subject.as_str()) {
            PrincipalKind::Service
        } else {
            PrincipalKind::User
        };
        let mut entry = server
            .entry(event_type::ADMIN_CHANGE, action, outcome)
            .resource(resource)
            .actor(&self.subject, kind, self.client_id.as_deref());
        if let Some(reason) = reason {
            entry = entry.reason(reason);
        }
        let tenant = match set {
            Some(PolicySet::Tenant(t)) => Some(t.clone()),
            _ => TenantId::new(self.tenant.as_str()).ok(),
        };
        if let Some(tenant) = tenant {
            entry = entry.tenant(&tenant);
        }
        server.audit(entry).await;
    }
}

/// The policy service's operations, made by one actor: from an admin token through the routes
/// (which check the token's rights first), or as the local operator through
/// [`AuthorizationServer::policy_admin`] (a command line working on the store, with the rights
/// of a platform admin). Every change is audited, refusals included.
#[derive(Clone, Debug)]
pub struct PolicyAdmin {
    server: AuthorizationServer,
    editor: Editor,
}

impl AuthorizationServer {
    /// The policy operations, acting as the operating-system user and host
    /// (`operator:alice@host`), as the control plane's command line does.
    pub fn policy_admin(&self) -> PolicyAdmin {
        PolicyAdmin::new(
            self.clone(),
            Editor {
                subject: crate::server::identity::local_operator(),
                client_id: None,
                tenant: String::new(),
            },
        )
    }
}

impl PolicyAdmin {
    pub(super) fn new(server: AuthorizationServer, editor: Editor) -> Self {
        Self { server, editor }
    }

    pub(super) fn server(&self) -> &AuthorizationServer {
        &self.server
    }

    /// The actor's own tenant.
    pub(super) fn tenant(&self) -> &str {
        &self.editor.tenant
    }

    /// Records a change refused before it reached [`PolicyAdmin::put`] (no `If-Match`).
    pub(super) async fn refused(
        &self,
        service: &str,
        set: &PolicySet,
        mode: PolicyMode,
        problem: &Problem,
    ) {
        let reason = format!(
            "{} {}",
            problem.status.as_u16(),
            problem.detail.as_deref().unwrap_or(problem.title)
        );
        self.deny(service, set, mode, &reason).await;
    }

    async fn deny(&self, service: &str, set: &PolicySet, mode: PolicyMode, reason: &str) {
        let action = format!("policy.{}.put", mode.as_str());
        let resource = format!("policy:{service} {}", set.name());
        self.editor
            .record(
                &self.server,
                &action,
                &resource,
                Some(set),
                Outcome::Denied,
                Some(reason),
            )
            .await;
    }

    fn served(&self) -> Result<(), PolicyError> {
        self.server
            .inner
            .policies
            .get()
            .map(|_| ())
            .ok_or(PolicyError::NotServed)
    }

    /// A known service: a client of this server.
    async fn known(&self, service: &str) -> Result<(), PolicyError> {
        match (self.server.inner.store.client(service).await).map_err(store_failed)? {
            Some(_) => Ok(()),
            None => Err(PolicyError::NotFound(format!(
                "service {service} is not a client of this server"
            ))),
        }
    }

    /// The services with a schema, newest version and the tenants with a set of their own
    /// (only `tenant` when given: what a tenant admin sees).
    pub async fn list(&self, tenant: Option<&str>) -> Result<Vec<ServiceSummary>, PolicyError> {
        self.served()?;
        let store = &self.server.inner.store;
        let mut summaries = Vec::new();
        for service in store.policy_services().await.map_err(store_failed)? {
            let Some(current) = store
                .service_policies(&service)
                .await
                .map_err(store_failed)?
            else {
                continue;
            };
            let tenants = (current.sets.keys())
                .filter(|t| !t.is_empty() && tenant.is_none_or(|own| own == t.as_str()))
                .cloned()
                .collect();
            summaries.push(ServiceSummary {
                service,
                version: current.version,
                tenants,
            });
        }
        Ok(summaries)
    }

    /// A new schema version for `service`, refused when the base set or any tenant's set would
    /// no longer load with it.
    pub async fn put_schema(&self, service: &str, schema: &str) -> Result<i64, PolicyError> {
        self.served()?;
        let result = self.change_schema(service, schema).await;
        match &result {
            Ok(version) => {
                self.editor
                    .record(
                        &self.server,
                        "policy.schema.put",
                        &format!("policy:{service} schema v{version}"),
                        None,
                        Outcome::Success,
                        None,
                    )
                    .await;
            }
            Err(error) => {
                let reason = format!("{} {error}", error.status().as_u16());
                self.editor
                    .record(
                        &self.server,
                        "policy.schema.put",
                        &format!("policy:{service} schema"),
                        None,
                        Outcome::Denied,
                        Some(&reason),
                    )
                    .await;
            }
        }
        result
    }

    async fn change_schema(&self, service: &str, schema: &str) -> Result<i64, PolicyError> {
        self.known(service).await?;
        let store = &self.server.inner.store;
        let existing = (store.service_policies(service).await)
            .map_err(store_failed)?
            .unwrap_or_else(|| ServicePolicies {
                version: 0,
                schema: String::new(),
                sets: Default::default(),
            });
        let mut changed = bundle_of(service, &existing)?;
        schema.clone_into(&mut changed.schema.text);
        validate(&changed)?;
        store
            .put_policy_schema(
                service,
                schema,
                &self.editor.subject,
                self.server.now(),
                existing.version,
            )
            .await
            .map_err(store_failed)?
            .ok_or_else(|| {
                PolicyError::Stale(
                    "the service's policies changed while the schema was checked: send it again"
                        .to_owned(),
                )
            })
    }

    /// A new version of a set, stored only over version `expected` of it (`None`: over the one
    /// read now, which a person at a command line has just looked at; the routes always name
    /// one) and only if every set of the service still loads with it.
    pub async fn put(
        &self,
        service: &str,
        set: &PolicySet,
        files: Vec<BundleFile>,
        mode: PolicyMode,
        expected: Option<i64>,
    ) -> Result<PutOutcome, PolicyError> {
        self.served()?;
        let result = self.change_set(service, set, files, mode, expected).await;
        let action = format!("policy.{}.put", mode.as_str());
        match &result {
            Ok(put) => {
                let resource = format!("policy:{service} {} v{}", set.name(), put.version);
                self.editor
                    .record(
                        &self.server,
                        &action,
                        &resource,
                        Some(set),
                        Outcome::Success,
                        None,
                    )
                    .await;
            }
            Err(error) => {
                // A refused change (a bad request, a lost update, policies that do not load)
                // is recorded in the set's tenant's chain too.
                let reason = format!("{} {error}", error.status().as_u16());
                self.deny(service, set, mode, &reason).await;
            }
        }
        result
    }

    async fn change_set(
        &self,
        service: &str,
        set: &PolicySet,
        files: Vec<BundleFile>,
        mode: PolicyMode,
        expected: Option<i64>,
    ) -> Result<PutOutcome, PolicyError> {
        if matches!(set, PolicySet::Base) && mode == PolicyMode::Shadow {
            return Err(PolicyError::BadRequest(
                "the base set has no shadow mode".to_owned(),
            ));
        }
        if files.len() > MAX_FILES || files.iter().any(|f| f.name.trim().is_empty()) {
            return Err(PolicyError::BadRequest(format!(
                "at most {MAX_FILES} files, each with a name"
            )));
        }
        let current = self.current(service).await?;
        let newest = newest_version(&current, set);
        let expected = expected.unwrap_or(newest);
        // The precondition before the work: a set changed meanwhile is 412 whatever the body
        // says (the store checks it again, atomically, when it writes).
        if newest != expected {
            return Err(PolicyError::Stale(format!(
                "the {} set is no longer at version {expected}: read it again",
                set.name()
            )));
        }
        let mut changed = bundle_of(service, &current)?;
        match set {
            PolicySet::Base => changed.base.clone_from(&files),
            PolicySet::Tenant(tenant) => {
                let policies = changed
                    .tenants
                    .entry(tenant.as_str().to_owned())
                    .or_default();
                match mode {
                    PolicyMode::Active => policies.active.clone_from(&files),
                    PolicyMode::Shadow => policies.shadow = Some(files.clone()),
                }
            }
        }
        validate(&changed)?;
        let text = serde_json::to_string(&files).map_err(store_failed)?;
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let version = (self.server.inner.store)
            .put_policy_set(NewPolicySet {
                service,
                tenant: set.key(),
                expected,
                mode: mode.as_str(),
                files: &text,
                hash: &hash,
                author: &self.editor.subject,
                now: self.server.now(),
                validated: current.version,
            })
            .await
            .map_err(store_failed)?
            .ok_or_else(|| {
                PolicyError::Stale(format!(
                    "the {} set, or another set or the schema it is combined with, changed while \
                     it was checked (version {expected}): read it and send it again",
                    set.name()
                ))
            })?;
        Ok(PutOutcome {
            version,
            mode,
            hash,
        })
    }

    /// The service's policies as stored; 404 when it has no schema yet.
    pub(super) async fn current(&self, service: &str) -> Result<ServicePolicies, PolicyError> {
        (self.server.inner.store.service_policies(service).await)
            .map_err(store_failed)?
            .ok_or_else(|| {
                PolicyError::NotFound(format!(
                    "service {service} has no schema: PUT /policies/{service}/schema first"
                ))
            })
    }

    /// The set's active version and a newer shadow one, with their files.
    pub async fn get(&self, service: &str, set: &PolicySet) -> Result<SetState, PolicyError> {
        self.served()?;
        let current = self.current(service).await?;
        let newest = newest_version(&current, set);
        let (active, shadow) = current.sets.get(set.key()).cloned().unwrap_or_default();
        let version = |row: Option<PolicySetRow>| {
            row.as_ref().map(|r| PolicyVersion::of(r, true)).transpose()
        };
        Ok(SetState {
            set: set.name(),
            newest,
            active: version(active)?,
            shadow: version(shadow)?,
        })
    }

    /// Every version of the set, newest first, without files.
    pub async fn history(
        &self,
        service: &str,
        set: &PolicySet,
    ) -> Result<Vec<PolicyVersion>, PolicyError> {
        self.served()?;
        let rows = (self.server.inner.store)
            .policy_history(service, set.key())
            .await
            .map_err(store_failed)?;
        rows.iter().map(|r| PolicyVersion::of(r, false)).collect()
    }

    /// Puts an earlier version's files in force again as a new active version (history only
    /// grows), over version `expected` of the set as [`PolicyAdmin::put`].
    pub async fn rollback(
        &self,
        service: &str,
        set: &PolicySet,
        version: i64,
        expected: Option<i64>,
    ) -> Result<PutOutcome, PolicyError> {
        self.served()?;
        let history = (self.server.inner.store)
            .policy_history(service, set.key())
            .await
            .map_err(store_failed)?;
        let row = history
            .iter()
            .find(|r| r.version == version)
            .ok_or_else(|| {
                PolicyError::NotFound(format!("the {} set has no version {version}", set.name()))
            })?;
        let files = files_of(Some(row))?;
        self.put(service, set, files, PolicyMode::Active, expected)
            .await
    }
}

/// Checks a service's policies as they would be after a change (`bundle`, the current bundle
/// with the change applied), exactly as a service loads them (`Bundle::sets`): the base set and
/// every tenant's, active and shadow.
fn validate(bundle: &Bundle) -> Result<(), PolicyError> {
    match bundle.sets() {
        Ok(_) => Ok(()),
        Err(BundleError::Invalid { set, source }) => {
            Err(PolicyError::Invalid(format!("{set}: {source}")))
        }
        Err(error) => Err(store_failed(error)),
    }
}

/// A set's newest version, active or shadow (0 for none): what its `ETag` and `If-Match` name.
fn newest_version(current: &ServicePolicies, set: &PolicySet) -> i64 {
    current.sets.get(set.key()).map_or(0, |(active, shadow)| {
        let version = |row: &Option<PolicySetRow>| row.as_ref().map_or(0, |r| r.version);
        version(active).max(version(shadow))
    })
}

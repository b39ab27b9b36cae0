//! The `policy` commands: a service's schema and policy sets in the policy service (put from a folder, read, history, rollback) and the change-safety check of a tenant's proposed set, worked on the store directly as the local operator.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use palisade_runtime::TenantId;
use palisade_runtime::server::{
    AuthorizationServer, BundleFile, PolicyMode, PolicySet, policy_api::Proposal,
};
use serde_json::{Value, json};

use crate::app::StartupError;

/// `policy ...`: `SERVICE` is the service's client id in this control plane.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List the services with policies and the tenants with a set of their own.
    List,
    /// Put a service's schema (its repository's `policies/schema.cedarschema`).
    Schema {
        /// The service.
        service: String,
        /// The schema file.
        file: PathBuf,
    },
    /// Put a set from a folder's `*.cedar` files: the service's base set (its repository's
    /// `policies/`), or with `--tenant` a tenant's.
    Put {
        /// The service.
        service: String,
        /// The folder.
        dir: PathBuf,
        /// The tenant whose set it is (without: the base set).
        #[arg(long)]
        tenant: Option<String>,
        /// Put it in shadow mode: decided beside the active set, flips audited, never enforced.
        #[arg(long)]
        shadow: bool,
        /// The set's version this change is made over (refused if it changed since); without
        /// it, the version read now.
        #[arg(long = "if-match")]
        if_match: Option<i64>,
    },
    /// Show a set's active version (and a newer shadow one) with its files.
    Get {
        /// The service.
        service: String,
        /// The tenant (without: the base set).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Every version of a set, newest first.
    History {
        /// The service.
        service: String,
        /// The tenant (without: the base set).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Put an earlier version of a tenant's set in force again, as a new version.
    Rollback {
        /// The service.
        service: String,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The version to go back to.
        version: i64,
    },
    /// Check a tenant's proposed set (a folder's `*.cedar` files) against its active one:
    /// symbolically (cvc5) and by replaying its recorded decisions. Exit 0: no widening; 1: a
    /// widening; 2: an error, or neither check could run.
    Diff {
        /// The service.
        service: String,
        /// The folder of the proposed set.
        dir: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Days of recorded decisions to replay.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Replay only the decisions of this audit source (the service's CloudEvents source).
        #[arg(long)]
        source: Option<String>,
    },
}

/// What a command printed and how the process exits: 0, or 1 for a widening a diff found.
pub struct Done {
    /// The JSON output.
    pub output: Value,
    /// A diff found a widening.
    pub widens: bool,
}

/// Runs `command` as the local operator (with a platform admin's rights), audited.
pub async fn run(
    server: &AuthorizationServer,
    command: PolicyCommand,
) -> Result<Done, StartupError> {
    let admin = server.policy_admin();
    let done = |output: Value| Done {
        output,
        widens: false,
    };
    Ok(match command {
        PolicyCommand::List => done(json!({ "services": admin.list(None).await? })),
        PolicyCommand::Schema { service, file } => {
            let schema = read(&file)?;
            done(json!({ "version": admin.put_schema(&service, &schema).await? }))
        }
        PolicyCommand::Put {
            service,
            dir,
            tenant,
            shadow,
            if_match,
        } => {
            let mode = if shadow {
                PolicyMode::Shadow
            } else {
                PolicyMode::Active
            };
            let set = set(tenant.as_deref())?;
            let put = admin
                .put(&service, &set, files(&dir)?, mode, if_match)
                .await?;
            done(json!(put))
        }
        PolicyCommand::Get { service, tenant } => {
            done(json!(admin.get(&service, &set(tenant.as_deref())?).await?))
        }
        PolicyCommand::History { service, tenant } => {
            let set = set(tenant.as_deref())?;
            done(json!({ "set": set.name(), "versions": admin.history(&service, &set).await? }))
        }
        PolicyCommand::Rollback {
            service,
            tenant,
            version,
        } => {
            let set = set(Some(&tenant))?;
            done(json!(admin.rollback(&service, &set, version, None).await?))
        }
        PolicyCommand::Diff {
            service,
            dir,
            tenant,
            days,
            source,
        } => {
            let tenant = TenantId::new(&tenant)
                .map_err(|e| StartupError::Setting(format!("--tenant: {e}")))?;
            let proposal = Proposal {
                files: files(&dir)?,
                days,
                namespace: "App".to_owned(),
                source,
            };
            let diff = admin.diff(&service, &tenant, proposal).await?;
            let Some(widens) = diff.widens else {
                return Err(StartupError::Setting(format!(
                    "policy diff: neither check could run: {}",
                    json!(diff)
                )));
            };
            Done {
                output: json!(diff),
                widens,
            }
        }
    })
}

fn set(tenant: Option<&str>) -> Result<PolicySet, StartupError> {
    match tenant {
        None => Ok(PolicySet::Base),
        Some(t) => TenantId::new(t)
            .map(PolicySet::Tenant)
            .map_err(|e| StartupError::Setting(format!("--tenant: {e}"))),
    }
}

fn read(path: &Path) -> Result<String, StartupError> {
    std::fs::read_to_string(path).map_err(|error| StartupError::File {
        path: path.display().to_string(),
        error,
    })
}

/// The folder's `*.cedar` files, by name.
fn files(dir: &Path) -> Result<Vec<BundleFile>, StartupError> {
    let error = |error| StartupError::File {
        path: dir.display().to_string(),
        error,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cedar"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            Ok(BundleFile {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                text: read(path)?,
            })
        })
        .collect()
}

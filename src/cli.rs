//! The clap definitions of the `palisade` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::audit::AuditArgs;
use crate::commands::check::CheckArgs;
use crate::commands::new::NewArgs;
use crate::commands::policy::PolicyArgs;
use crate::commands::scan::ScanArgs;
use crate::commands::templates::TemplatesArgs;
use crate::commands::upgrade::UpgradeArgs;

/// Scaffold secure multi-tenant Rust SaaS services and keep them current.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about, long_about = None, arg_required_else_help = true)]
pub struct Cli {
    /// A folder of templates (`<id>/<version>/template.toml` and `files/`) used in place of the
    /// embedded templates of the same id: for template authors.
    #[arg(long, global = true, value_name = "DIR", env = "PALISADE_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project from a template.
    New(Box<NewArgs>),
    /// Bring a generated project to a newer template version by a 3-way merge.
    Upgrade(UpgradeArgs),
    /// CI check of a generated project: template drift, project record, security wiring.
    Check(CheckArgs),
    /// List the templates, their versions and questions.
    Templates(TemplatesArgs),
    /// Find leaked secrets in a tree (exit 1 when there are findings).
    Scan(ScanArgs),
    /// Audit log tools: verify a tenant's export offline.
    Audit(AuditArgs),
    /// Policy tools: does a policy change widen access (symbolic check)?
    Policy(PolicyArgs),
}

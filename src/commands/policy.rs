//! `palisade policy diff --old DIR --new DIR`: whether a proposed policy set widens the active one, checked symbolically (`palisade-policy` with cedar-policy-symcc and a cvc5 solver), with a counterexample request for each difference.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use palisade_policy::DiffReport;

use crate::CliError;

/// Arguments of `palisade policy`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `palisade policy` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Compare a proposed policy folder with the active one: exit 0 no widening (narrowings are
    /// listed), 1 a widening or a request across tenants found, 2 an error (a set that does not
    /// load, or no solver: "symbolic check unavailable").
    Diff(DiffArgs),
}

/// Arguments of `palisade policy diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The active policy folder (`schema.cedarschema` and `*.cedar`).
    #[arg(long, value_name = "DIR")]
    pub old: PathBuf,
    /// The proposed policy folder; its schema is the one both sets are checked against.
    #[arg(long, value_name = "DIR")]
    pub new: PathBuf,
    /// The cvc5 executable.
    #[arg(long, value_name = "PATH", env = "CVC5", default_value = "cvc5")]
    pub solver: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `palisade policy diff`: loads both folders (strictly validated, tenant isolation added)
/// and compares them.
pub fn diff(args: &DiffArgs) -> Result<DiffReport, CliError> {
    let load = |dir: &PathBuf| {
        palisade_policy::read_dir(dir)
            .and_then(|(schema, policies)| palisade_policy::load(&schema, &policies))
            .map_err(|source| CliError::Policy {
                path: dir.clone(),
                source,
            })
    };
    let (old, new) = (load(&args.old)?, load(&args.new)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::PolicyRuntime)?;
    runtime
        .block_on(palisade_policy::diff(&old, &new, &args.solver))
        .map_err(CliError::PolicyDiff)
}

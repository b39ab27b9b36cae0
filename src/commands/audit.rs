//! `palisade audit verify EXPORT --key KEY`: checks a tenant's audit export offline (chain continuity, every entry's hash, every checkpoint's signature and head, nothing missing or uncovered, agreement with checkpoints kept from earlier) with `palisade-audit`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use palisade_audit::{ExportReport, VerifyError};

use crate::CliError;

/// Arguments of `palisade audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The `palisade audit` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Verify an export (`GET /audit/export`) offline: exit 0 verified, 1 tampered (the first
    /// bad entry named), 2 unreadable or not an export.
    Verify(VerifyArgs),
}

/// Arguments of `palisade audit verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The export file (JSON lines).
    pub export: PathBuf,
    /// The control plane's checkpoint verifier key (`<name>+<id>+<key>`, as served at
    /// `/.well-known/palisade-audit-key`).
    #[arg(long)]
    pub key: String,
    /// A checkpoint (signed note) kept from earlier: the export must agree with it, so a history
    /// rewritten and re-signed since is caught. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub trusted: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `palisade audit verify`: the report, or why the export is not the signed log.
pub fn verify(args: &VerifyArgs) -> Result<Result<ExportReport, VerifyError>, CliError> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|source| CliError::AuditInput {
            path: path.clone(),
            source,
        })
    };
    let trusted = args
        .trusted
        .iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()?;
    let file = std::fs::File::open(&args.export).map_err(|source| CliError::AuditInput {
        path: args.export.clone(),
        source,
    })?;
    match palisade_audit::verify_export(std::io::BufReader::new(file), &args.key, &trusted) {
        Err(VerifyError::Io(source)) => Err(CliError::AuditInput {
            path: args.export.clone(),
            source,
        }),
        Err(error @ VerifyError::Format { .. }) => Err(CliError::AuditFormat {
            path: args.export.clone(),
            source: error,
        }),
        other => Ok(other),
    }
}

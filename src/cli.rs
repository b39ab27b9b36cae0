//! The clap definitions of the `palisade` command line.

use clap::{Parser, Subcommand};

/// Scaffold secure multi-tenant Rust SaaS services and keep them current.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about, long_about = None, arg_required_else_help = true)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands. `new`, `upgrade`, `check` and `scan` arrive with their issues.
#[derive(Debug, Subcommand)]
pub enum Command {}

//! The clap definitions of the `palisade` command line.

use clap::{Parser, Subcommand};

use crate::commands::new::NewArgs;
use crate::commands::templates::TemplatesArgs;

/// Scaffold secure multi-tenant Rust SaaS services and keep them current.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about, long_about = None, arg_required_else_help = true)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project from a template.
    New(Box<NewArgs>),
    /// List the templates and their questions.
    Templates(TemplatesArgs),
}

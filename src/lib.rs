//! The Palisade generator CLI as a library: command-line definitions, dispatch and the error type that carries exit codes.

pub mod cli;
pub mod ui;

/// A command's failure, with the exit code it maps to (documented in `docs/cli.md`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The user asked for something invalid (exit code 2).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> Result<(), CliError> {
    match cli.command {
        None => Ok(()),
        Some(command) => match command {},
    }
}

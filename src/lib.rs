//! The Palisade generator: command-line definitions, commands, templates, answers, plans, and the error type that carries exit codes.

pub mod answers;
pub mod cli;
pub mod commands;
pub mod fs_txn;
pub mod git;
pub mod plan;
pub mod project;
pub mod template;
pub mod ui;
pub mod upgrade;

/// A command's failure, with the exit code it maps to (see `docs/cli.md`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    /// Bad input (name, target, answers, flags): exit code 2, nothing written.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// A failure with its own exit code (`upgrade`: 1 when the tree was changed).
    pub fn new(message: impl Into<String>, code: u8) -> Self {
        Self {
            message: message.into(),
            code,
        }
    }

    /// Anything else that went wrong (I/O, git, a template bug): exit code 1.
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    fn from_write(error: fs_txn::TxnError) -> Self {
        if error.is_refusal() {
            Self::usage(error.to_string())
        } else {
            Self::failure(error.to_string())
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

/// Runs a parsed command line; returns the exit code of a command that ran (see `docs/cli.md`).
pub fn run(cli: cli::Cli) -> Result<u8, CliError> {
    let catalog = template::Catalog::with_folder(cli.catalog.as_deref())
        .map_err(|e| CliError::usage(e.to_string()))?;
    match cli.command {
        cli::Command::New(args) => {
            let mut prompter = ui::TerminalPrompter;
            let created = commands::new::run(&args, &catalog, Some(&mut prompter))?;
            ui::created(&created);
            Ok(0)
        }
        cli::Command::Upgrade(args) => {
            let report = commands::upgrade::run(&args, &catalog)?;
            ui::upgraded(&report, ui::Format::from_flag(args.json));
            Ok(report.exit_code())
        }
        cli::Command::Check(args) => {
            let report = commands::check::run(&args, &catalog);
            ui::checked(&report, ui::Format::from_flag(args.json));
            Ok(u8::from(!report.findings.is_empty()))
        }
        cli::Command::Templates(args) => {
            ui::templates(&commands::templates::run(&args, &catalog)?);
            Ok(0)
        }
    }
}

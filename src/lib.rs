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

/// A command's failure: the typed error of the layer that failed, kept whole so its `source()`
/// chain reaches the one printer (`ui::error`), and the exit code it maps to (see `docs/cli.md`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The project name is not a valid crate name.
    #[error(transparent)]
    Name(#[from] commands::new::NameError),
    /// The template or version is unknown, or the catalog is broken.
    #[error(transparent)]
    Catalog(#[from] template::CatalogError),
    /// An answer is missing, unknown or invalid.
    #[error(transparent)]
    Answers(#[from] answers::AnswerError),
    /// The answers file could not be read.
    #[error("cannot read answers file {}: {source}", path.display())]
    AnswersFileUnreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The answers file is not valid TOML.
    #[error("answers file {}: {source}", path.display())]
    AnswersFileInvalid {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// Rendering failed (a template bug).
    #[error(transparent)]
    Render(#[from] template::RenderError),
    /// The target could not be written, or writing failed.
    #[error(transparent)]
    Write(#[from] fs_txn::TxnError),
    /// git set-up of a new project failed.
    #[error("git: {0}")]
    Git(#[source] git2::Error),
    /// The upgrade failed.
    #[error(transparent)]
    Upgrade(#[from] upgrade::UpgradeError),
    /// The rendered project holds a secret: nothing was written.
    #[error(transparent)]
    SecretsInPlan(#[from] commands::scan::SecretsInPlan),
    /// A scan's rule file does not load.
    #[error(transparent)]
    ScanRules(#[from] palisade_scan::RuleError),
    /// `--staged` or `--history` outside a git repository, or the repository cannot be read.
    #[error("scan of the git repository: {0}")]
    ScanStaged(#[source] git2::Error),
    /// A scan's baseline file does not parse.
    #[error("baseline {}: {source}", path.display())]
    ScanBaseline {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: palisade_scan::BaselineError,
    },
    /// A scan's path, rule file or baseline cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ScanInput {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An audit export or a kept checkpoint cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    AuditInput {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an audit export (or a kept checkpoint is not a checkpoint).
    #[error("{}: not an audit export: {source}", path.display())]
    AuditFormat {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: palisade_audit::VerifyError,
    },
    /// A policy folder does not load (unreadable, or refused with file, line and column).
    #[error("{}: {source}", path.display())]
    Policy {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: palisade_policy::LoadError,
    },
    /// The policy diff could not be made (no solver, a set that does not fit the new schema).
    #[error(transparent)]
    PolicyDiff(palisade_policy::DiffError),
    /// The diff's async runtime could not start.
    #[error("starting the policy diff: {0}")]
    PolicyRuntime(#[source] std::io::Error),
    /// A scan's report file (a baseline, a SARIF log) cannot be written; the old one, if any, is
    /// as it was.
    #[error("cannot write {}: {source}", path.display())]
    ScanOutput {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: fs_txn::TxnError,
    },
}

impl CliError {
    /// The process exit code: the one place that maps failures to codes. 2 = bad input and
    /// nothing written; 1 = a failure (a template bug, I/O, git, or a tree changed part-way).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Name(_)
            | Self::Catalog(_)
            | Self::Answers(_)
            | Self::AnswersFileUnreadable { .. }
            | Self::AnswersFileInvalid { .. }
            | Self::SecretsInPlan(_)
            | Self::ScanRules(_)
            | Self::ScanInput { .. }
            | Self::ScanBaseline { .. }
            | Self::ScanOutput { .. }
            | Self::AuditInput { .. }
            | Self::AuditFormat { .. }
            | Self::Policy { .. }
            | Self::PolicyDiff(_)
            | Self::PolicyRuntime(_)
            | Self::ScanStaged(_) => 2,
            Self::Write(error) if error.is_refusal() => 2,
            Self::Upgrade(error) => error.exit_code(),
            Self::Render(_) | Self::Write(_) | Self::Git(_) => 1,
        }
    }
}

/// Runs a parsed command line; returns the exit code of a command that ran (see `docs/cli.md`).
pub fn run(cli: cli::Cli) -> Result<u8, CliError> {
    if let cli::Command::Audit(args) = &cli.command {
        let commands::audit::AuditCommand::Verify(verify) = &args.command;
        let outcome = commands::audit::verify(verify)?;
        ui::audit_verified(&outcome, ui::Format::from_flag(verify.json));
        return Ok(u8::from(outcome.is_err()));
    }
    if let cli::Command::Policy(args) = &cli.command {
        let commands::policy::PolicyCommand::Diff(diff) = &args.command;
        let report = commands::policy::diff(diff)?;
        ui::policy_diff(&report, ui::Format::from_flag(diff.json));
        return Ok(u8::from(report.widens()));
    }
    // `scan` needs no templates: it runs before (and without) loading the catalog, so a
    // pre-commit hook pays only for the scan.
    if let cli::Command::Scan(args) = &cli.command {
        let scanned = commands::scan::run(args)?;
        ui::scanned(&scanned, ui::Format::from_flag(args.json));
        return Ok(u8::from(!scanned.report.findings.is_empty()));
    }
    let catalog = template::Catalog::with_folder(cli.catalog.as_deref())?;
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
        cli::Command::Scan(_) | cli::Command::Audit(_) | cli::Command::Policy(_) => {
            unreachable!("ran above")
        }
        cli::Command::Templates(args) => {
            ui::templates(&commands::templates::run(&args, &catalog)?);
            Ok(0)
        }
    }
}

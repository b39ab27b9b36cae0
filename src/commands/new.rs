//! `palisade new`: validate the name and target, settle answers, render, then write the project and its first commit.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::CliError;
use crate::answers::{self, AnswerSources, Prompter};
use crate::fs_txn::{self, NewFolder};
use crate::template::{self, Catalog, RenderInput, RuntimeSource};

/// Arguments of `palisade new`.
#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    /// The project's name: a crate name (lowercase letters, digits, '-' and '_', starting with a letter).
    pub name: String,
    /// The template to render.
    #[arg(long, short, default_value = "service")]
    pub template: String,
    /// The template version (default: the newest).
    #[arg(long, value_name = "VERSION")]
    pub template_version: Option<semver::Version>,
    /// The folder to create (default: ./<NAME>). It must not exist or be empty.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Answer a question: --define database=postgres. Highest priority; repeatable.
    #[arg(long = "define", short = 'd', value_name = "KEY=VALUE")]
    pub defines: Vec<String>,
    /// A TOML file of answers.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Never prompt: take defaults for unanswered questions.
    #[arg(long, short)]
    pub yes: bool,
    /// Do not initialize a git repository.
    #[arg(long)]
    pub no_git: bool,
    /// Use palisade-runtime from this local path.
    #[arg(long, value_name = "P", conflicts_with_all = ["runtime_git", "runtime_version"])]
    pub runtime_path: Option<String>,
    /// Use palisade-runtime from this git repository.
    #[arg(long, value_name = "URL", conflicts_with = "runtime_version")]
    pub runtime_git: Option<String>,
    /// The git revision for --runtime-git.
    #[arg(long, value_name = "R", requires = "runtime_git")]
    pub rev: Option<String>,
    /// Use this published version of palisade-runtime.
    #[arg(long, value_name = "V")]
    pub runtime_version: Option<String>,
}

/// Names a generated crate may not take.
const RESERVED: &[&str] = &[
    "self",
    "super",
    "crate",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "proc-macro",
    "test",
    "build",
    "main",
    "palisade",
    "palisade-runtime",
    "palisade_runtime",
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "static",
    "struct",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "con",
    "nul",
    "aux",
    "prn",
];

/// Why a project name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("project name is empty")]
    Empty,
    /// The name holds a character other than a-z, 0-9, '-' and '_' (path separators, spaces, non-ASCII).
    #[error("project name {0:?} may only hold lowercase a-z, 0-9, '-' and '_'")]
    InvalidCharacter(String),
    /// The name does not start with a letter.
    #[error("project name {0:?} must start with a letter")]
    BadStart(String),
    /// The name is longer than 64 characters.
    #[error("project name {0:?} is longer than 64 characters")]
    TooLong(String),
    /// The name is a Rust keyword, a standard crate or otherwise reserved.
    #[error("project name {0:?} is reserved")]
    Reserved(String),
}

/// Checks a project (crate) name, without I/O.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let first = name.chars().next().ok_or(NameError::Empty)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(NameError::InvalidCharacter(name.to_owned()));
    }
    if !first.is_ascii_lowercase() {
        return Err(NameError::BadStart(name.to_owned()));
    }
    if name.len() > 64 {
        return Err(NameError::TooLong(name.to_owned()));
    }
    if RESERVED.contains(&name) {
        return Err(NameError::Reserved(name.to_owned()));
    }
    Ok(())
}

impl NewArgs {
    fn runtime(&self) -> RuntimeSource {
        if let Some(p) = &self.runtime_path {
            return RuntimeSource::Path(p.clone());
        }
        if let Some(url) = &self.runtime_git {
            return RuntimeSource::Git {
                url: url.clone(),
                rev: self.rev.clone(),
            };
        }
        if let Some(v) = &self.runtime_version {
            return RuntimeSource::Version(v.clone());
        }
        // Running from a checkout of this repository (the binary lives under its target folder):
        // use its runtime, so a generated project builds against the runtime this generator
        // was tested with. An installed generator uses the runtime release of its own version.
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
        let from_checkout =
            std::env::current_exe().is_ok_and(|exe| exe.starts_with(checkout.join("target")));
        let checkout = checkout.join("runtime");
        if from_checkout && checkout.join("Cargo.toml").is_file() {
            RuntimeSource::Path(checkout.display().to_string())
        } else {
            RuntimeSource::Version(env!("CARGO_PKG_VERSION").to_owned())
        }
    }
}

/// What `new` created, for the user interface to report.
#[derive(Debug, Clone)]
pub struct Created {
    /// The project folder.
    pub dir: PathBuf,
    /// The template id and version.
    pub template: String,
    /// How many files were written.
    pub files: usize,
    /// Whether a git repository was made.
    pub git: bool,
    /// Whether a Rust project's `Cargo.lock` was generated for the first commit: `None` when
    /// none was attempted (no git, or no `Cargo.toml`), `Some(false)` when cargo could not.
    pub lockfile: Option<bool>,
}

/// Runs `palisade new`.
pub fn run(
    args: &NewArgs,
    catalog: &Catalog,
    prompter: Option<&mut dyn Prompter>,
) -> Result<Created, CliError> {
    validate_name(&args.name)?;
    let target = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    fs_txn::check_new_folder(&target)?;
    let template = match &args.template_version {
        Some(version) => catalog.version(&args.template, version),
        None => catalog.newest(&args.template),
    }?;

    let mut sources = AnswerSources {
        defines: AnswerSources::parse_defines(&args.defines)?,
        env: AnswerSources::env_from(std::env::vars()),
        ..AnswerSources::default()
    };
    if let Some(file) = &args.answers {
        let text =
            std::fs::read_to_string(file).map_err(|source| CliError::AnswersFileUnreadable {
                path: file.clone(),
                source,
            })?;
        sources.file = toml::from_str(&text).map_err(|source| CliError::AnswersFileInvalid {
            path: file.clone(),
            source,
        })?;
    }
    let interactive =
        !args.yes && std::env::var_os("CI").is_none() && std::io::stdin().is_terminal();
    let prompter = if interactive { prompter } else { None };
    let answers = answers::resolve(&template.manifest, &sources, prompter)?;

    let runtime = args.runtime();
    let input = RenderInput {
        template,
        name: &args.name,
        answers: &answers,
        runtime: &runtime,
        generator_version: env!("CARGO_PKG_VERSION"),
    };
    let plan = template::render(&input)?;
    // A secret given as an answer, or a template that renders one, stops here: nothing written.
    crate::commands::scan::scan_plan(&plan)?;

    let info = &template.manifest.template;
    let folder = NewFolder::create(&target)?;
    for file in &plan.files {
        folder.write(&file.path, &file.contents)?;
    }
    let git = !args.no_git;
    // The first commit pins dependencies, so CI and the image can build with --locked.
    let lockfile = (git && plan.files.iter().any(|f| f.path == Path::new("Cargo.toml")))
        .then(|| generate_lockfile(folder.path()));
    if git {
        let message = format!(
            "Generate {} from palisade template {} {}",
            args.name, info.id, info.version
        );
        crate::git::init_repository(folder.path(), &message).map_err(CliError::Git)?;
        folder.write_executable(
            Path::new(".git/hooks/pre-commit"),
            pre_commit_hook().as_bytes(),
        )?;
    }
    folder.commit()?;
    Ok(Created {
        dir: target,
        template: format!("{} {}", info.id, info.version),
        files: plan.files.len(),
        git,
        lockfile,
    })
}

/// The git pre-commit hook `new` installs: `palisade scan --staged` refuses a commit that adds a
/// secret. It runs the palisade that made the project (its path when `new` ran), else the one on
/// `PATH`; without either it refuses the commit and says how to proceed.
fn pre_commit_hook() -> String {
    let this = std::env::current_exe()
        .map(|p| p.display().to_string().replace('\'', "'\\''"))
        .unwrap_or_default();
    format!(
        "#!/bin/sh\n\
         # Installed by `palisade new`: refuses a commit whose staged files hold a secret.\n\
         # One commit without it: git commit --no-verify. For good: delete this file.\n\
         if [ -x '{this}' ]; then exec '{this}' scan --staged; fi\n\
         if command -v palisade >/dev/null 2>&1; then exec palisade scan --staged; fi\n\
         echo 'pre-commit: palisade is not installed, so the staged files were not scanned for secrets' >&2\n\
         echo 'pre-commit: install it (cargo install palisade) or commit with --no-verify' >&2\n\
         exit 1\n"
    )
}

/// Runs `cargo generate-lockfile` in `dir` (it needs the registry); whether it succeeded.
fn generate_lockfile(dir: &Path) -> bool {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    std::process::Command::new(cargo)
        .arg("generate-lockfile")
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

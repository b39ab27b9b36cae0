//! `palisade upgrade`: its arguments, and the run that computes every merge and then writes (unless `--dry-run`).

use std::path::PathBuf;

use clap::Args;

use crate::CliError;
use crate::template::Catalog;
use crate::upgrade::{self, Report};

/// Arguments of `palisade upgrade`.
#[derive(Debug, Clone, Args)]
pub struct UpgradeArgs {
    /// The template version to upgrade to (default: the newest).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<semver::Version>,
    /// Change an answer on the way: --define database=postgres. Repeatable.
    #[arg(long = "define", short = 'd', value_name = "KEY=VALUE")]
    pub defines: Vec<String>,
    /// Print the diff that would be applied; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Upgrade even though the working tree has uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Print a machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
    /// The project folder.
    #[arg(long, short = 'C', value_name = "DIR", default_value = ".")]
    pub path: PathBuf,
}

impl UpgradeArgs {
    fn request(&self) -> upgrade::Request {
        upgrade::Request {
            dir: self.path.clone(),
            to: self.to.clone(),
            defines: self.defines.clone(),
            allow_dirty: self.allow_dirty,
        }
    }
}

/// Runs `palisade upgrade`: computes every merge, then writes (unless `--dry-run`).
pub fn run(args: &UpgradeArgs, catalog: &Catalog) -> Result<Report, CliError> {
    let upgrade = upgrade::prepare(&args.request(), catalog)?;
    // A secret the new template version would bring in stops the upgrade before anything is
    // written (one already in the project is `palisade check`'s to report, not a reason to block).
    crate::commands::scan::scan_upgrade(&upgrade)?;
    if args.dry_run {
        return Ok(upgrade.dry_run()?);
    }
    Ok(upgrade.apply()?)
}

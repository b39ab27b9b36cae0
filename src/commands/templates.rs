//! `palisade templates`: the embedded templates and their questions.

use clap::Args;

use crate::CliError;
use crate::template::{self, Template};

/// Arguments of `palisade templates`.
#[derive(Debug, Clone, Args)]
pub struct TemplatesArgs {}

/// Lists the embedded templates.
pub fn run(_args: &TemplatesArgs) -> Result<Vec<Template>, CliError> {
    template::catalog().map_err(|e| CliError::failure(e.to_string()))
}

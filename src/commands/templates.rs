//! `palisade templates`: every template, its versions and the newest version's questions.

use clap::Args;

use crate::CliError;
use crate::template::{Catalog, Template};

/// Arguments of `palisade templates`.
#[derive(Debug, Clone, Args)]
pub struct TemplatesArgs {}

/// Every template's versions, oldest first, templates sorted by id.
pub fn run<'c>(
    _args: &TemplatesArgs,
    catalog: &'c Catalog,
) -> Result<Vec<&'c [Template]>, CliError> {
    catalog
        .newest_all()
        .into_iter()
        .map(|t| catalog.versions(t.id()))
        .collect::<Result<_, _>>()
        .map_err(CliError::from)
}

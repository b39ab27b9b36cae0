//! One module per subcommand: its clap arguments and its `run`.

pub mod audit;
pub mod check;
pub mod new;
pub mod policy;
pub mod scan;
pub mod templates;
pub mod upgrade;

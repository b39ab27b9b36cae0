//! One module per subcommand: its clap `Args` and its `run`.

pub mod new;
pub mod templates;

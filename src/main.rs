//! The `palisade` binary: parses the command line, runs the command, and maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = palisade::cli::Cli::parse();
    match palisade::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            palisade::ui::error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}

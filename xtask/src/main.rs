//! `cargo xtask`: developer commands that are not part of the shipped CLI; today `release <template>`.

mod release;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask release <template>";

#[allow(
    clippy::print_stderr,
    reason = "the developer command's one place that prints"
)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned();
    let result = match args.as_slice() {
        [command, id] if command == "release" => release::run(&root, id),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(done) => {
            eprintln!(
                "released {} {}: {} files ({} new objects), {} answer sets, {}",
                done.id, done.version, done.files, done.new_objects, done.answer_sets, done.digest
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

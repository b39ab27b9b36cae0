//! Shared helpers: running the binary, scratch folders, rendering variants, and external-resource gating.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use palisade::answers::{AnswerSources, resolve};
use palisade::plan::Plan;
use palisade::template::{self, RenderInput, RuntimeSource};

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty scratch folder.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "palisade-test-{}-{name}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `palisade` with `args` in `cwd`, never interactively.
pub(crate) fn palisade(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .current_dir(cwd)
        .env("CI", "true")
        .output()
        .expect("run palisade")
}

/// Renders the newest version of `id` with the given `--define`s and a fixed runtime version, in memory.
pub(crate) fn render_template(id: &str, name: &str, defines: &[(&str, &str)]) -> Plan {
    let catalog = template::Catalog::embedded().unwrap();
    let template = catalog.newest(id).unwrap();
    let sources = AnswerSources {
        defines: defines
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let answers = resolve(&template.manifest, &sources, None).unwrap();
    let runtime = RuntimeSource::Version("0.1.0".into());
    template::render(&RenderInput {
        template,
        name,
        answers: &answers,
        runtime: &runtime,
        generator_version: "0.0.0-test",
    })
    .unwrap()
}

/// Whether CI demands every external resource (set by `.ci/run`).
pub(crate) fn skip(test: &str, why: &str) {
    let required = std::env::var_os("PALISADE_REQUIRE_ALL").is_some_and(|v| v == "1");
    assert!(
        !required,
        "{test}: {why}, and PALISADE_REQUIRE_ALL=1 forbids skipping"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Prints a line that must reach the CI log even when the test passes.
pub(crate) fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Every file under `dir`, relative, sorted, with its bytes (skipping `.git`).
pub(crate) fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push((
                    path.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

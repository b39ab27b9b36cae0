//! Interactive prompts on a real terminal: `script` gives `palisade` a pseudo-terminal and types the answers.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{scratch, skip};

/// Runs `palisade <args>` on a pseudo-terminal in `dir`, typing `keys`; returns what the terminal showed.
fn on_terminal(dir: &std::path::Path, args: &str, keys: &[u8]) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        skip(
            "prompts_on_a_terminal",
            "util-linux `script` is not installed",
        );
        return None;
    }
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_palisade"));
    // `timeout` bounds the run: a prompt that never got its keys must fail the test, not hang it.
    let mut child = Command::new("timeout")
        .args(["60", "script", "-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(dir)
        .env_remove("CI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    child.stdin.take().unwrap().write_all(keys).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn prompts_on_a_terminal() {
    let dir = scratch("prompts");
    // Description typed; resource default; database: arrow down to postgres; audit sink and
    // issuer defaults; Dockerfile: n.
    let keys = b"billing-api\r\r\x1b[B\r\r\rn";
    let Some(screen) = on_terminal(&dir, "new asked --no-git --runtime-version 0.1.0", keys) else {
        return;
    };
    assert!(
        screen.contains("One line describing the service") && screen.contains("Persistence"),
        "{screen}"
    );
    let cargo = std::fs::read_to_string(dir.join("asked/Cargo.toml")).unwrap();
    for answer in [
        "description = \"billing-api\"",
        "database = \"postgres\"",
        "docker = false",
        "resource = \"notes\"",
    ] {
        assert!(cargo.contains(answer), "{answer} in {cargo}");
    }
    assert!(!dir.join("asked/Dockerfile").exists());
}

#[test]
fn yes_never_prompts_even_on_a_terminal() {
    let dir = scratch("prompts-yes");
    let Some(screen) = on_terminal(
        &dir,
        "new quiet --yes --no-git --runtime-version 0.1.0",
        b"",
    ) else {
        return;
    };
    assert!(!screen.contains("Persistence"), "{screen}");
    assert!(
        std::fs::read_to_string(dir.join("quiet/Cargo.toml"))
            .unwrap()
            .contains("database = \"sqlite\"")
    );
}

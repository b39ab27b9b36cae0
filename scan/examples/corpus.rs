//! The secret-scanning benchmark's corpus tool: `corpus write DIR LABELS [MIB]` writes the labelled corpus (the one the corpus test builds, at any size) to a folder and its labels to a file outside it; `corpus score LABELS TOOL REPORT` scores a scanner's report (palisade, kingfisher, detect-secrets or betterleaks) against the labels and prints the score as JSON.

#![expect(
    clippy::print_stdout,
    reason = "a command-line tool: its result goes to stdout"
)]

#[path = "../tests/scan/corpus.rs"]
mod corpus;

use std::path::Path;

use serde_json::Value;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["write", dir, labels, rest @ ..] => {
            let mib: usize = rest
                .first()
                .map_or(Ok(40), |m| m.parse())
                .map_err(|e| format!("MIB: {e}"))?;
            write(Path::new(dir), Path::new(labels), mib)
        }
        ["score", labels, tool, report] => score(Path::new(labels), tool, Path::new(report)),
        _ => {
            Err("usage: corpus write DIR LABELS [MIB] | corpus score LABELS TOOL REPORT".to_owned())
        }
    }
}

fn write(dir: &Path, labels: &Path, mib: usize) -> Result<(), String> {
    let root =
        corpus::registry_sources().ok_or("no cargo registry sources ($CARGO_HOME/registry/src)")?;
    let built = corpus::build(&root, mib << 20, 6 * 1024, 7);
    for file in &built.files {
        let path = dir.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap_or(dir))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(&path, &file.text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let text = serde_json::to_string(&built.labels).map_err(|e| e.to_string())?;
    std::fs::write(labels, text).map_err(|e| format!("{}: {e}", labels.display()))?;
    let bytes: usize = built.files.iter().map(|f| f.text.len()).sum();
    println!(
        "{} files, {:.1} MiB ({:.1} MiB of real source), {} secrets of {} kinds and {} look-alikes planted",
        built.files.len(),
        bytes as f64 / 1048576.0,
        built.real_bytes as f64 / 1048576.0,
        built.labels.iter().filter(|l| l.secret).count(),
        corpus::secret_kinds().len(),
        built.labels.iter().filter(|l| !l.secret).count()
    );
    Ok(())
}

/// The (path, line) of every finding in a tool's report.
fn findings(tool: &str, report: &Value) -> Result<Vec<(String, usize)>, String> {
    let clean = |p: &str| p.trim_start_matches("./").to_owned();
    let line = |v: &Value| v.as_u64().unwrap_or(0) as usize;
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    Ok(match tool {
        "palisade" => list(&report["findings"])
            .iter()
            .map(|f| (clean(f["path"].as_str().unwrap_or("")), line(&f["line"])))
            .collect(),
        "kingfisher" => list(&report["findings"])
            .iter()
            .map(|f| {
                let f = &f["finding"];
                (clean(f["path"].as_str().unwrap_or("")), line(&f["line"]))
            })
            .collect(),
        "detect-secrets" => report["results"]
            .as_object()
            .map(|files| {
                files
                    .iter()
                    .flat_map(|(path, list)| {
                        list.as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .map(move |f| {
                                (clean(path), f["line_number"].as_u64().unwrap_or(0) as usize)
                            })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "betterleaks" => list(&report["findings"])
            .iter()
            .map(|f| {
                let at = &f["location"];
                (
                    clean(at["path"].as_str().unwrap_or("")),
                    line(&at["start_line"]),
                )
            })
            .collect(),
        other => return Err(format!("unknown tool {other}")),
    })
}

fn score(labels: &Path, tool: &str, report: &Path) -> Result<(), String> {
    let labels: Vec<corpus::Label> = serde_json::from_str(
        &std::fs::read_to_string(labels).map_err(|e| format!("{}: {e}", labels.display()))?,
    )
    .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(report).map_err(|e| format!("{}: {e}", report.display()))?;
    // Kingfisher prints its report, then a summary object: take the first JSON value.
    let report: Value = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .next()
        .ok_or("an empty report")?
        .map_err(|e| e.to_string())?;
    let corpus = corpus::Corpus {
        labels,
        ..corpus::Corpus::default()
    };
    let mut score = corpus::score(&corpus, &findings(tool, &report)?);
    score.wrong_examples.clear();
    score.real_code.truncate(20);
    let out = serde_json::json!({
        "tool": tool,
        "recall": score.recall(),
        "lookalike_rate": score.lookalike_rate(),
        "score": score,
    });
    println!("{out}");
    Ok(())
}

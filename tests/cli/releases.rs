//! Released template versions are immutable: each one's rendering, over every combination of its choices, must match the digest in `templates/<id>/released.toml`.

use std::collections::BTreeMap;

use palisade::answers::{AnswerError, AnswerSources, Answers, resolve};
use palisade::template::{Catalog, QuestionKind, RenderInput, RuntimeSource, Template, render};
use sha2::{Digest, Sha256};

use crate::support::workspace;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Lock {
    #[serde(default)]
    release: Vec<Release>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    version: semver::Version,
    digest: String,
}

/// Every combination of the choice and bool answers (strings take their defaults), as `--define`s.
fn combinations(template: &Template) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for question in &template.manifest.questions {
        let values: Vec<String> = match question.kind {
            QuestionKind::Choice => question.choices.clone(),
            QuestionKind::Bool => vec!["true".into(), "false".into()],
            QuestionKind::String => continue,
        };
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |value| {
                    let mut next = combo.clone();
                    next.push((question.name.clone(), value.clone()));
                    next
                })
            })
            .collect();
    }
    combos
}

/// The distinct answer sets of `template`: every combination, with answers whose condition is
/// false for it dropped.
fn answer_sets(template: &Template) -> BTreeMap<String, Answers> {
    let mut sets = BTreeMap::new();
    for mut defines in combinations(template) {
        let answers = loop {
            let sources = AnswerSources {
                defines: defines.clone(),
                ..AnswerSources::default()
            };
            match resolve(&template.manifest, &sources, None) {
                Ok(answers) => break answers,
                Err(AnswerError::NotApplicable { name, .. }) => {
                    defines.retain(|(k, _)| *k != name);
                }
                Err(other) => panic!("{}: {other}", template.id()),
            }
        };
        sets.insert(format!("{answers:?}"), answers);
    }
    sets
}

/// SHA-256 over every file of every distinct answer set's rendering, and how many sets there were.
fn digest(template: &Template) -> (String, usize) {
    let sets = answer_sets(template);
    let runtimes = [
        RuntimeSource::Version("0.0.0".into()),
        RuntimeSource::Path("/src/palisade/runtime".into()),
        RuntimeSource::Git {
            url: "https://example.invalid/palisade.git".into(),
            rev: Some("v0.0.0".into()),
        },
        RuntimeSource::Git {
            url: "https://example.invalid/palisade.git".into(),
            rev: None,
        },
    ];
    let mut hasher = Sha256::new();
    for ((key, answers), runtime) in sets
        .iter()
        .flat_map(|set| runtimes.iter().map(move |r| (set, r)))
    {
        hasher.update(key.as_bytes());
        let plan = render(&RenderInput {
            template,
            name: "example",
            answers,
            runtime,
            generator_version: "0.0.0",
        })
        .unwrap_or_else(|e| panic!("{} {}: {e}", template.id(), template.version()));
        for file in &plan.files {
            hasher.update(file.path.to_string_lossy().as_bytes());
            hasher.update((file.contents.len() as u64).to_le_bytes());
            hasher.update(&file.contents);
        }
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (format!("sha256:{hex}"), sets.len())
}

#[test]
fn released_versions_render_exactly_as_when_they_were_released() {
    let catalog = Catalog::embedded().unwrap();
    for newest in catalog.newest_all() {
        let id = newest.id();
        let path = workspace().join(format!("templates/{id}/released.toml"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lock: Lock = toml::from_str(&text).unwrap();
        let versions = catalog.versions(id).unwrap();
        for template in versions {
            let version = template.version();
            let release = lock.release.iter().find(|r| r.version == *version);
            let (actual, renders) = digest(template);
            match release {
                Some(release) => assert_eq!(
                    release.digest, actual,
                    "template {id} {version} is released and renders differently now ({renders} answer sets). \
                     Projects record this version and `palisade upgrade` re-renders it as the merge base: \
                     put the change in a new version folder and restore this one."
                ),
                None => assert_eq!(
                    version,
                    newest.version(),
                    "template {id} {version} is older than the newest version but not in {}: \
                     record it there ({actual})",
                    path.display()
                ),
            }
        }
        for release in &lock.release {
            assert!(
                versions.iter().any(|t| *t.version() == release.version),
                "{}: released version {} is missing from templates/{id}/",
                path.display(),
                release.version
            );
        }
    }
}

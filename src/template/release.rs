//! Frozen releases: the `releases/<version>.toml` format (a version's `template.toml` and a path -> SHA-256 map) and the content address of an object.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{QuestionKind, RenderError, RenderInput, RuntimeSource, Template, render};
use crate::answers::{AnswerError, AnswerSources, Answers, resolve};

/// The folder, beside the templates, that holds every distinct file of every release once.
pub const OBJECTS: &str = "objects";

/// The folder of a template that holds its frozen releases.
pub const RELEASES: &str = "releases";

/// A frozen release: `templates/<id>/releases/<version>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    /// The version's `template.toml`, byte for byte.
    pub template: String,
    /// Every file of the version (its path under `files/`, `/`-separated) and the SHA-256 of its
    /// raw bytes, which names its object.
    pub files: BTreeMap<String, String>,
}

impl ReleaseManifest {
    /// Parses a release manifest.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The manifest as the release command writes it: deterministic, with a header saying not to edit it.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("a release manifest is plain strings");
        format!(
            "# A frozen release, written by `cargo xtask release`: never edit it (released versions never change).\n{body}"
        )
    }
}

/// The content address of a file: the lowercase hex SHA-256 of its raw bytes.
pub fn object_id(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Whether `id` looks like an object id (64 lowercase hex digits), so a manifest cannot name a path.
pub fn is_object_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A release lock: `templates/<id>/released.toml`, the digest of each released version's rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The released versions, oldest first.
    #[serde(default)]
    pub release: Vec<LockedRelease>,
}

/// One entry of [`Lock`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRelease {
    /// The version.
    pub version: semver::Version,
    /// `sha256:` and the hex digest computed by [`digest`].
    pub digest: String,
}

/// The digest of a version's rendering could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The defaults and choices do not resolve.
    #[error("template {id} {version}: {error}")]
    Answers {
        /// The template.
        id: String,
        /// Its version.
        version: String,
        /// Why.
        #[source]
        error: Box<AnswerError>,
    },
    /// A combination does not render.
    #[error("template {id} {version}: {error}")]
    Render {
        /// The template.
        id: String,
        /// Its version.
        version: String,
        /// Why.
        #[source]
        error: Box<RenderError>,
    },
}

/// SHA-256 over every file of the rendering of every distinct combination of the template's
/// choice and bool answers (strings take their defaults) under every kind of runtime source, and
/// how many answer sets there were. A released version's digest never changes: projects record
/// the version, and `palisade upgrade` re-renders it as the merge base.
pub fn digest(template: &Template) -> Result<(String, usize), DigestError> {
    let sets = answer_sets(template)?;
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
    for (key, answers) in &sets {
        for runtime in &runtimes {
            hasher.update(key.as_bytes());
            let plan = render(&RenderInput {
                template,
                name: "example",
                answers,
                runtime,
                generator_version: "0.0.0",
            })
            .map_err(|error| DigestError::Render {
                id: template.id().to_owned(),
                version: template.version().to_string(),
                error: Box::new(error),
            })?;
            for file in &plan.files {
                hasher.update(file.path.to_string_lossy().as_bytes());
                hasher.update((file.contents.len() as u64).to_le_bytes());
                hasher.update(&file.contents);
            }
        }
    }
    Ok((format!("sha256:{}", hex(&hasher.finalize())), sets.len()))
}

/// Every combination of the choice and bool answers, as `--define`s.
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

/// The distinct answer sets: every combination, with answers whose condition is false for it dropped.
fn answer_sets(template: &Template) -> Result<BTreeMap<String, Answers>, DigestError> {
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
                Err(error) => {
                    return Err(DigestError::Answers {
                        id: template.id().to_owned(),
                        version: template.version().to_string(),
                        error: Box::new(error),
                    });
                }
            }
        };
        sets.insert(format!("{answers:?}"), answers);
    }
    Ok(sets)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_through_its_text() {
        let manifest = ReleaseManifest {
            template: "[template]\nid = 'x'\nversion = \"1.0.0\"\n".into(),
            files: BTreeMap::from([("src/{{name}}.rs.tera".into(), object_id(b"fn main() {}"))]),
        };
        assert_eq!(
            ReleaseManifest::parse(&manifest.to_text()).unwrap(),
            manifest
        );
    }

    #[test]
    fn object_ids_are_sha256_hex() {
        assert_eq!(
            object_id(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_object_id(&object_id(b"x")));
        assert!(!is_object_id("../../etc/passwd"));
    }
}

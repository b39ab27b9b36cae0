//! Released template versions are immutable: each one's rendering, over every combination of its choices, must match the digest in `templates/<id>/released.toml`, and the editable tree may differ from a release only under a new version.

use palisade::template::Catalog;
use palisade::template::release::{self, Lock};

use crate::support::workspace;

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
            let recorded = lock.release.iter().find(|r| r.version == *version);
            let (actual, renders) = release::digest(template).unwrap();
            match recorded {
                Some(recorded) => assert_eq!(
                    recorded.digest, actual,
                    "template {id} {version} is released and renders differently now ({renders} answer sets). \
                     Projects record this version and `palisade upgrade` re-renders it as the merge base: \
                     restore it and put the change under a new version."
                ),
                None => assert_eq!(
                    version,
                    newest.version(),
                    "template {id} {version} is older than the newest version but not in {}: \
                     release it with `cargo xtask release {id}` ({actual})",
                    path.display()
                ),
            }
        }
        for recorded in &lock.release {
            assert!(
                versions.iter().any(|t| *t.version() == recorded.version),
                "{}: released version {} has no templates/{id}/releases/{}.toml",
                path.display(),
                recorded.version,
                recorded.version
            );
        }
    }
}

#[test]
fn the_editable_tree_changes_only_under_a_new_version() {
    let catalog = Catalog::embedded().unwrap();
    for newest in catalog.newest_all() {
        let id = newest.id();
        let working = catalog
            .working_tree(id)
            .unwrap_or_else(|| panic!("template {id} has no editable tree"));
        // An unreleased tree is its own newest version, so this holds for it trivially.
        let released = catalog.version(id, working.version()).unwrap();
        assert!(
            released.files() == working.files()
                && released.manifest_text() == working.manifest_text(),
            "templates/{id}/files or template.toml differ from released version {}: set a new version \
             in templates/{id}/template.toml",
            working.version()
        );
    }
}

#[test]
fn each_distinct_file_of_every_release_is_stored_once() {
    let objects = workspace().join("templates/objects");
    for entry in std::fs::read_dir(&objects).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            release::object_id(&bytes),
            name,
            "{} is not stored under its SHA-256",
            path.display()
        );
    }
    let legacy: Vec<_> = ["service", "control-plane"]
        .iter()
        .flat_map(|id| std::fs::read_dir(workspace().join("templates").join(id)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("template.toml").exists() && p.join("files").is_dir())
        .collect();
    assert!(
        legacy.is_empty(),
        "version folders left beside the editable tree: {legacy:?}"
    );
}

//! A 3-way merge of `Cargo.toml` by structure (toml_edit): the template's key changes land, the user's keys, comments and formatting stay.

use toml_edit::{DocumentMut, Item, TableLike};

/// A structural merge of three manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestMerge {
    /// The merged document: the user's file with the template's changes applied where the user
    /// left a key as the template had it.
    pub text: String,
    /// Dotted keys both sides changed differently (`dependencies.tokio.version`); the user's
    /// value is kept there.
    pub conflicts: Vec<String>,
}

/// One of the three documents does not parse.
#[derive(Debug, thiserror::Error)]
#[error("Cargo.toml ({side}) does not parse: {error}")]
pub struct ParseError {
    side: &'static str,
    error: toml_edit::TomlError,
}

/// Merges `base` → `theirs` into `ours`, key by key. Tables (standard and inline) are merged
/// recursively; any other value (strings, arrays, arrays of tables) is one unit.
pub fn merge(base: &str, ours: &str, theirs: &str) -> Result<ManifestMerge, ParseError> {
    let parse = |side, text: &str| {
        text.parse::<DocumentMut>()
            .map_err(|error| ParseError { side, error })
    };
    let base = parse("template, old version", base)?;
    let mut ours = parse("yours", ours)?;
    let theirs = parse("template, new version", theirs)?;
    let mut conflicts = Vec::new();
    merge_table(
        Some(base.as_table()),
        ours.as_table_mut(),
        theirs.as_table(),
        "",
        &mut conflicts,
    );
    Ok(ManifestMerge {
        text: ours.to_string(),
        conflicts,
    })
}

fn merge_table(
    base: Option<&dyn TableLike>,
    ours: &mut dyn TableLike,
    theirs: &dyn TableLike,
    prefix: &str,
    conflicts: &mut Vec<String>,
) {
    let mut keys: Vec<String> = ours.iter().map(|(k, _)| k.to_owned()).collect();
    for (key, _) in theirs.iter().chain(base.into_iter().flat_map(|b| b.iter())) {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
    }
    for key in keys {
        let b = base.and_then(|t| t.get(&key)).filter(|i| !i.is_none());
        let t = theirs.get(&key).filter(|i| !i.is_none());
        let o = ours.get(&key).filter(|i| !i.is_none());
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if same(b, t) || same(o, t) {
            continue; // the template did not change it, or the user already has the new value
        }
        // Where both sides hold a table, merge inside it, even when the user left its data as it
        // was: replacing the whole table would drop the user's comments and layout in it.
        let base_table = b.and_then(Item::as_table_like);
        let both_tables = (b.is_none() || base_table.is_some())
            && o.is_some_and(|i| i.as_table_like().is_some())
            && t.is_some_and(|i| i.as_table_like().is_some());
        if both_tables {
            let theirs_table = t.and_then(Item::as_table_like).expect("checked above");
            let ours_table = ours
                .get_mut(&key)
                .and_then(Item::as_table_like_mut)
                .expect("checked above");
            merge_table(base_table, ours_table, theirs_table, &path, conflicts);
            continue;
        }
        if same(o, b) {
            match t {
                None => {
                    ours.remove(&key);
                }
                Some(new) => replace(ours, &key, new),
            }
            continue;
        }
        conflicts.push(path);
    }
}

/// Puts the template's `new` under `key`, keeping the user's decoration (comments, spacing) of the
/// old value when both are plain values.
fn replace(ours: &mut dyn TableLike, key: &str, new: &Item) {
    let mut item = new.clone();
    if let (Some(old), Some(value)) = (ours.get(key).and_then(Item::as_value), item.as_value_mut())
    {
        *value.decor_mut() = old.decor().clone();
    }
    match ours.get_mut(key) {
        Some(slot) => *slot = item,
        None => {
            ours.insert(key, item);
        }
    }
}

/// Whether two items hold the same data, whatever their formatting. An item that cannot be read
/// as data is never the same as anything, so it is not overwritten.
fn same(a: Option<&Item>, b: Option<&Item>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => matches!((data(a), data(b)), (Some(x), Some(y)) if x == y),
        _ => false,
    }
}

fn data(item: &Item) -> Option<toml::Value> {
    let mut doc = DocumentMut::new();
    doc.insert("v", item.clone());
    let table: toml::Table = toml::from_str(&doc.to_string()).ok()?;
    table.get("v").cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"[package]
name = "demo"
version = "0.1.0"

[dependencies]
tokio = { version = "1", features = ["rt"] }
serde = "1"
old = "0.1"
"#;

    #[test]
    fn template_changes_land_beside_user_entries_and_comments() {
        let ours = r#"[package]
name = "demo"
version = "0.3.0" # released by us

[dependencies]
# the runtime
tokio = { version = "1", features = ["rt", "fs"] }
serde = "1"
old = "0.1"
anyhow = "1"
"#;
        let theirs = r#"[package]
name = "demo"
version = "0.1.0"

[dependencies]
tokio = { version = "1.47", features = ["rt"] }
serde = "1.0.200"
tracing = "0.1"

[features]
audit = []
"#;
        let merged = merge(BASE, ours, theirs).unwrap();
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        let text = merged.text;
        assert!(
            text.contains(r#"version = "0.3.0" # released by us"#),
            "{text}"
        );
        assert!(text.contains("# the runtime\n"), "{text}");
        assert!(
            text.contains(r#"tokio = { version = "1.47", features = ["rt", "fs"] }"#),
            "{text}"
        );
        assert!(text.contains(r#"serde = "1.0.200""#), "{text}");
        assert!(text.contains(r#"anyhow = "1""#), "{text}");
        assert!(text.contains(r#"tracing = "0.1""#), "{text}");
        assert!(!text.contains("old ="), "{text}");
        assert!(text.contains("[features]\naudit = []"), "{text}");
    }

    #[test]
    fn both_changing_one_key_differently_is_a_conflict_that_keeps_the_user_value() {
        let ours = BASE.replace(r#"serde = "1""#, r#"serde = "1.0.100""#);
        let theirs = BASE.replace(r#"serde = "1""#, r#"serde = "1.0.200""#);
        let merged = merge(BASE, &ours, &theirs).unwrap();
        assert_eq!(merged.conflicts, ["dependencies.serde"]);
        assert!(merged.text.contains(r#"serde = "1.0.100""#));
    }

    #[test]
    fn a_key_the_user_removed_and_the_template_changed_is_a_conflict() {
        let ours = BASE.replace("old = \"0.1\"\n", "");
        let theirs = BASE.replace(r#"old = "0.1""#, r#"old = "0.2""#);
        let merged = merge(BASE, &ours, &theirs).unwrap();
        assert_eq!(merged.conflicts, ["dependencies.old"]);
        assert!(!merged.text.contains("old ="));
    }

    #[test]
    fn formatting_alone_is_not_a_change() {
        let ours = BASE.replace(
            r#"tokio = { version = "1", features = ["rt"] }"#,
            r#"tokio = {version="1",features=["rt"]}"#,
        );
        let merged = merge(BASE, &ours, BASE).unwrap();
        assert_eq!(merged.text, ours);
    }

    #[test]
    fn comments_in_a_table_whose_data_the_user_kept_survive_a_template_change() {
        let ours = BASE.replace(
            "[dependencies]\n",
            "[dependencies]\n# pinned with the security team, see SEC-12\n",
        );
        let theirs = BASE.replace(r#"serde = "1""#, r#"serde = "1.0.200""#);
        let merged = merge(BASE, &ours, &theirs).unwrap();
        assert!(merged.conflicts.is_empty());
        assert_eq!(
            merged.text,
            ours.replace(r#"serde = "1""#, r#"serde = "1.0.200""#)
        );
    }

    #[test]
    fn unparsable_input_names_its_side() {
        let error = merge(BASE, "[dependencies\n", BASE).unwrap_err();
        assert!(error.to_string().contains("yours"), "{error}");
    }
}

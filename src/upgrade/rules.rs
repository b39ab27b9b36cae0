//! The per-file rule table of an upgrade (docs/upgrading.md): from base, ours and theirs, what becomes of one file. Pure: no I/O, no git, no report.

/// What becomes of a file, decided from its three versions (`None` = absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The template did not change it: the user's copy stays as it is (absent stays absent).
    /// `edited` when the user changed it.
    Keep {
        /// Whether the user's copy differs from the base.
        edited: bool,
    },
    /// Absent everywhere it matters: nothing to do.
    Absent,
    /// New in the template and absent in the tree: added.
    Add,
    /// Changed by the template, deleted by the user: the new version comes back for review as a
    /// modify/delete conflict.
    ModifyDelete,
    /// Removed by the template, unchanged by the user: removed.
    Remove,
    /// Removed by the template, changed by the user: the user's copy stays, with a notice.
    KeepRemovedEdited,
    /// Not in the template and the user has it (their own file): untouched.
    UserFile,
    /// Changed by the template only: the template's version.
    Take,
    /// Changed by both the same way: the user's copy, which already is the template's.
    Same,
    /// Changed by both (or added by both differently): a 3-way merge, which may conflict.
    Merge,
}

/// The rule table. Checked in order; the first matching row decides.
pub(crate) fn decide(base: Option<&[u8]>, ours: Option<&[u8]>, theirs: Option<&[u8]>) -> Outcome {
    match (base, ours, theirs) {
        (None, Some(_), None) => Outcome::UserFile,
        (b, o, t) if b == t => Outcome::Keep {
            edited: o.is_some() && o != b,
        },
        (_, None, None) => Outcome::Absent,
        (None, None, Some(_)) => Outcome::Add,
        (Some(_), None, Some(_)) => Outcome::ModifyDelete,
        (Some(b), Some(o), None) if o == b => Outcome::Remove,
        (Some(_), Some(_), None) => Outcome::KeepRemovedEdited,
        (b, Some(o), Some(_)) if Some(o) == b => Outcome::Take,
        (_, Some(o), Some(t)) if o == t => Outcome::Same,
        (_, Some(_), Some(_)) => Outcome::Merge,
    }
}

#[cfg(test)]
mod tests {
    use super::{Outcome, decide};

    const B: Option<&[u8]> = Some(b"base");
    const T: Option<&[u8]> = Some(b"theirs");
    const O: Option<&[u8]> = Some(b"ours");
    const NONE: Option<&[u8]> = None;

    /// A row: its name in docs/upgrading.md, base, ours, theirs, and the outcome.
    type Row = (
        &'static str,
        Option<&'static [u8]>,
        Option<&'static [u8]>,
        Option<&'static [u8]>,
        Outcome,
    );

    /// One row per line of docs/upgrading.md's rules table (and the cases it implies).
    #[test]
    fn every_row_of_the_rules_table() {
        let rows: &[Row] = &[
            (
                "unchanged by the template, unchanged by you",
                B,
                B,
                B,
                Outcome::Keep { edited: false },
            ),
            (
                "unchanged by the template, changed by you",
                B,
                O,
                B,
                Outcome::Keep { edited: true },
            ),
            (
                "unchanged by the template, deleted by you",
                B,
                NONE,
                B,
                Outcome::Keep { edited: false },
            ),
            (
                "changed by the template, unchanged by you",
                B,
                B,
                T,
                Outcome::Take,
            ),
            ("changed by both the same way", B, T, T, Outcome::Same),
            ("changed by both", B, O, T, Outcome::Merge),
            (
                "added by the template, absent in the tree",
                NONE,
                NONE,
                T,
                Outcome::Add,
            ),
            (
                "added by the template, a different file of yours there",
                NONE,
                O,
                T,
                Outcome::Merge,
            ),
            (
                "added by the template, the same file of yours there",
                NONE,
                T,
                T,
                Outcome::Same,
            ),
            (
                "removed by the template, unchanged by you",
                B,
                B,
                NONE,
                Outcome::Remove,
            ),
            (
                "removed by the template, changed by you",
                B,
                O,
                NONE,
                Outcome::KeepRemovedEdited,
            ),
            (
                "removed by the template, deleted by you",
                B,
                NONE,
                NONE,
                Outcome::Absent,
            ),
            (
                "changed by the template, deleted by you",
                B,
                NONE,
                T,
                Outcome::ModifyDelete,
            ),
            (
                "your own file, unknown to the template",
                NONE,
                O,
                NONE,
                Outcome::UserFile,
            ),
        ];
        let wrong: Vec<String> = rows
            .iter()
            .filter_map(|(row, b, o, t, expected)| {
                let actual = decide(*b, *o, *t);
                (actual != *expected).then(|| format!("{row}: {actual:?}, expected {expected:?}"))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "rows decided wrongly:\n{}",
            wrong.join("\n")
        );
    }
}

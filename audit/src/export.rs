//! A tenant's export (JSON lines: a header, the signed checkpoints that cover it, then every entry with its stored hash) and its offline verification: sequence continuity, each entry's hash, every checkpoint's signature and head, nothing a checkpoint covers missing, nothing after the last one uncovered, and agreement with checkpoints the tenant kept from earlier.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::chain::{GENESIS, chain_hash};
use crate::checkpoint::{Checkpoint, verify_checkpoint};
use crate::seal::Openings;

/// The export format's version, in its header.
pub const EXPORT_FORMAT: u32 = 1;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExportLine {
    /// The first line: whose chain, and where the export starts.
    Header {
        /// [`EXPORT_FORMAT`].
        format: u32,
        /// The chain's checkpoint origin.
        origin: String,
        /// The tenant.
        tenant: String,
        /// The first entry's sequence number: 1, or the first after a retention cut.
        first_seq: u64,
        /// The hash before the first entry: [`GENESIS`], or the head at the cut, which a
        /// checkpoint of size `first_seq - 1` signs.
        prev_hash: String,
    },
    /// A signed checkpoint (a C2SP signed note) of this chain.
    Checkpoint {
        /// The note.
        note: String,
    },
    /// An entry: its JSON exactly as hashed, and its stored hash.
    Entry {
        /// Its position in the chain.
        seq: u64,
        /// Its id.
        id: String,
        /// Its stored hash (hex).
        hash: String,
        /// The entry's JSON, as the chain hashed it.
        entry: String,
        /// In an unredacted export, the values of the entry's sealed fields with their salts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        openings: Option<Openings>,
    },
}

/// A verified export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The tenant.
    pub tenant: String,
    /// The first and last sequence numbers (equal minus one when empty).
    pub first_seq: u64,
    /// The last sequence number.
    pub last_seq: u64,
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints whose signature and head were checked.
    pub checkpoints: u64,
    /// Earlier checkpoints the tenant kept that the export agrees with.
    pub trusted: u64,
    /// Sealed values the export opened (an unredacted export), each checked against its seal.
    pub opened: u64,
}

/// How an export fails to be the log its checkpoints sign.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// Another entry (its number) is where entry `seq` should be: removed, inserted, reordered
    /// or repeated.
    OutOfSequence(u64),
    /// The entry's content does not match its stored hash: edited.
    Edited,
    /// The stored hashes were recomputed after a change: the chain at this checkpoint's size
    /// differs from the head the checkpoint signs.
    CheckpointMismatch,
    /// A checkpoint covers entries up to `seq` that the export does not hold.
    Truncated,
    /// Entries from `seq` on are covered by no checkpoint.
    Uncovered,
    /// The chain at `seq` differs from a checkpoint the tenant kept: history was rewritten
    /// (and perhaps re-signed).
    Rewritten,
    /// The value an unredacted export gives for this field (its dotted path) is not the one
    /// sealed in the entry: changed beside the chain.
    BadOpening(String),
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The export could not be read.
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not an export line, or the lines are not in the format's order.
    #[error("export line {line}: {problem}")]
    Format {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// A checkpoint's signature does not verify, or it is of another chain.
    #[error("export line {line}: checkpoint: {problem}")]
    Checkpoint {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The entries are not the signed log.
    #[error("entry {seq}{}: {}", id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default(), describe(tamper))]
    Tampered {
        /// Where.
        seq: u64,
        /// The entry's id, when there is one at that place.
        id: Option<String>,
        /// What.
        tamper: Tamper,
    },
}

fn describe(tamper: &Tamper) -> String {
    match tamper {
        Tamper::OutOfSequence(found) => format!(
            "expected here, found entry {found}: an entry was removed, inserted, reordered or repeated"
        ),
        Tamper::Edited => "its content does not match its hash: edited".to_owned(),
        Tamper::CheckpointMismatch => "the chain up to here differs from the signed checkpoint of this size: an earlier entry was changed, removed, inserted or reordered and the hashes recomputed".to_owned(),
        Tamper::Truncated => "a signed checkpoint covers entries up to here that the export does not hold".to_owned(),
        Tamper::Uncovered => "this entry and those after it are covered by no signed checkpoint".to_owned(),
        Tamper::Rewritten => "the chain up to here differs from the checkpoint you kept: history was rewritten".to_owned(),
        Tamper::BadOpening(field) => format!("the value given for {field} is not the one sealed in the entry: changed"),
    }
}

/// An export line with every field optional: parsed flat, without the buffering an internally
/// tagged enum needs (a third of the parse time of a large export), then checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flat {
    #[serde(rename = "type")]
    kind: String,
    format: Option<u32>,
    origin: Option<String>,
    tenant: Option<String>,
    first_seq: Option<u64>,
    prev_hash: Option<String>,
    note: Option<String>,
    seq: Option<u64>,
    id: Option<String>,
    hash: Option<String>,
    entry: Option<String>,
    openings: Option<Openings>,
}

/// Parses one line of an export.
fn parse_line(text: &str, number: u64) -> Result<ExportLine, VerifyError> {
    let Flat {
        kind,
        format,
        origin,
        tenant,
        first_seq,
        prev_hash,
        note,
        seq,
        id,
        hash,
        entry,
        openings,
    } = serde_json::from_str(text).map_err(|e| format_error(number, e.to_string()))?;
    fn need<T>(value: Option<T>, kind: &str, field: &str, number: u64) -> Result<T, VerifyError> {
        value.ok_or_else(|| format_error(number, format!("a {kind} line without {field}")))
    }
    Ok(match kind.as_str() {
        "entry" => ExportLine::Entry {
            seq: need(seq, &kind, "seq", number)?,
            id: need(id, &kind, "id", number)?,
            hash: need(hash, &kind, "hash", number)?,
            entry: need(entry, &kind, "entry", number)?,
            openings,
        },
        "checkpoint" => ExportLine::Checkpoint {
            note: need(note, &kind, "note", number)?,
        },
        "header" => ExportLine::Header {
            format: need(format, &kind, "format", number)?,
            origin: need(origin, &kind, "origin", number)?,
            tenant: need(tenant, &kind, "tenant", number)?,
            first_seq: need(first_seq, &kind, "first_seq", number)?,
            prev_hash: need(prev_hash, &kind, "prev_hash", number)?,
        },
        other => return Err(format_error(number, format!("unknown line type {other:?}"))),
    })
}

fn format_error(line: u64, problem: impl Into<String>) -> VerifyError {
    VerifyError::Format {
        line,
        problem: problem.into(),
    }
}

/// Verifies an export with the control plane's checkpoint verifier key and any checkpoints the
/// tenant kept (`trusted`, signed notes): every entry must follow the one before, match its hash
/// and lead to the head of each checkpoint at that size; the last checkpoint must cover the last
/// entry; a kept checkpoint must agree with the chain at its size.
pub fn verify_export(
    export: impl BufRead,
    verifier_key: &str,
    trusted: &[String],
) -> Result<ExportReport, VerifyError> {
    let mut export = export;
    let mut buffer = String::new();
    let mut number = 0u64;
    let mut next = || -> Result<Option<(u64, ExportLine)>, VerifyError> {
        buffer.clear();
        if export.read_line(&mut buffer)? == 0 {
            return Ok(None);
        }
        number += 1;
        parse_line(buffer.trim_end_matches(['\n', '\r']), number).map(|line| Some((number, line)))
    };
    let Some((
        _,
        ExportLine::Header {
            format,
            origin,
            tenant,
            first_seq,
            prev_hash,
        },
    )) = next()?
    else {
        return Err(format_error(1, "the first line must be the header"));
    };
    if format != EXPORT_FORMAT {
        return Err(format_error(
            1,
            format!("format {format}, this verifier reads {EXPORT_FORMAT}"),
        ));
    }
    if first_seq == 0 {
        return Err(format_error(1, "first_seq starts at 1"));
    }
    // Checkpoints: by size, each verified and of this chain. Kept ones join them, marked.
    let mut heads: BTreeMap<u64, (String, bool)> = BTreeMap::new();
    let mut checkpoints = 0u64;
    let mut pending = None;
    let check = |line: u64, note: &str| -> Result<Checkpoint, VerifyError> {
        let checkpoint =
            verify_checkpoint(note, verifier_key).map_err(|e| VerifyError::Checkpoint {
                line,
                problem: e.to_string(),
            })?;
        if checkpoint.origin != origin {
            return Err(VerifyError::Checkpoint {
                line,
                problem: format!("of chain {:?}, not {origin:?}", checkpoint.origin),
            });
        }
        Ok(checkpoint)
    };
    while let Some((line, item)) = next()? {
        match item {
            ExportLine::Checkpoint { note } => {
                let checkpoint = check(line, &note)?;
                checkpoints += 1;
                heads.insert(checkpoint.size, (checkpoint.head, false));
            }
            entry @ ExportLine::Entry { .. } => {
                pending = Some((line, entry));
                break;
            }
            ExportLine::Header { .. } => return Err(format_error(line, "a second header")),
        }
    }
    let mut kept = 0u64;
    for note in trusted {
        let checkpoint = check(0, note)?;
        if checkpoint.size + 1 >= first_seq {
            kept += 1;
            match heads.get(&checkpoint.size) {
                Some((head, _)) if *head != checkpoint.head => {
                    return Err(VerifyError::Tampered {
                        seq: checkpoint.size,
                        id: None,
                        tamper: Tamper::Rewritten,
                    });
                }
                _ => {
                    heads.insert(checkpoint.size, (checkpoint.head, true));
                }
            }
        }
    }
    // A retention cut: the hash before the first entry must be a signed head.
    if first_seq > 1 {
        match heads.get(&(first_seq - 1)) {
            Some((head, _)) if *head == prev_hash => {}
            Some(_) => {
                return Err(VerifyError::Tampered {
                    seq: first_seq - 1,
                    id: None,
                    tamper: Tamper::CheckpointMismatch,
                });
            }
            None => {
                return Err(format_error(
                    1,
                    format!(
                        "the export starts at entry {first_seq} but no checkpoint signs the head before it"
                    ),
                ));
            }
        }
    } else if prev_hash != GENESIS {
        return Err(format_error(
            1,
            "an export from entry 1 starts from the genesis hash",
        ));
    }
    let mut prev = prev_hash;
    let mut expected = first_seq;
    let mut entries = 0u64;
    let mut opened = 0u64;
    let mut item = pending;
    while let Some((line, current)) = item.take() {
        let ExportLine::Entry {
            seq,
            id,
            hash,
            entry,
            openings,
        } = current
        else {
            return Err(format_error(line, "checkpoints come before the entries"));
        };
        if seq != expected {
            return Err(VerifyError::Tampered {
                seq: expected,
                id: Some(id),
                tamper: Tamper::OutOfSequence(seq),
            });
        }
        let recomputed = chain_hash(&prev, &entry);
        if recomputed != hash {
            return Err(VerifyError::Tampered {
                seq,
                id: Some(id),
                tamper: Tamper::Edited,
            });
        }
        if let Some((head, trusted)) = heads.get(&seq)
            && *head != recomputed
        {
            return Err(VerifyError::Tampered {
                seq,
                id: Some(id),
                tamper: if *trusted {
                    Tamper::Rewritten
                } else {
                    Tamper::CheckpointMismatch
                },
            });
        }
        if let Some(openings) = &openings {
            if let Err(field) = check_openings(&entry, openings) {
                return Err(VerifyError::Tampered {
                    seq,
                    id: Some(id),
                    tamper: Tamper::BadOpening(field),
                });
            }
            opened += openings.len() as u64;
        }
        prev = recomputed;
        entries += 1;
        expected += 1;
        item = next()?;
    }
    let last_seq = expected - 1;
    if let Some((&size, _)) = heads.range(last_seq + 1..).next() {
        return Err(VerifyError::Tampered {
            seq: size,
            id: None,
            tamper: Tamper::Truncated,
        });
    }
    let covered = heads
        .iter()
        .filter(|(_, (_, trusted))| !trusted)
        .map(|(size, _)| *size)
        .next_back()
        .unwrap_or(first_seq - 1);
    if covered < last_seq {
        return Err(VerifyError::Tampered {
            seq: covered + 1,
            id: None,
            tamper: Tamper::Uncovered,
        });
    }
    Ok(ExportReport {
        tenant,
        first_seq,
        last_seq,
        entries,
        checkpoints,
        trusted: kept,
        opened,
    })
}

/// Checks that every opening opens the sealed text at its field of the entry; the error names
/// the first field that it does not.
fn check_openings(entry: &str, openings: &Openings) -> Result<(), String> {
    let json: serde_json::Value =
        serde_json::from_str(entry).map_err(|_| "the entry".to_owned())?;
    for (path, opening) in openings {
        let sealed = path
            .split('.')
            .try_fold(&json, |value, key| value.get(key))
            .and_then(serde_json::Value::as_str);
        if !sealed.is_some_and(|sealed| opening.opens(sealed)) {
            return Err(path.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckpointSigner;
    use time::OffsetDateTime;

    const ORIGIN: &str = "cp.example/audit/acme";

    /// A chain of `n` entries: (seq, id, json, hash).
    fn chain(n: u64) -> Vec<(u64, String, String, String)> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let id = format!("e{seq}");
                let json = format!(r#"{{"id":"{id}","action":"note.read","tenant":"acme"}}"#);
                let hash = chain_hash(&prev, &json);
                prev.clone_from(&hash);
                (seq, id, json, hash)
            })
            .collect()
    }

    fn note(signer: &CheckpointSigner, size: u64, head: &str) -> String {
        signer
            .sign(&Checkpoint {
                origin: ORIGIN.to_owned(),
                size,
                head: head.to_owned(),
                time: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            })
            .unwrap()
    }

    /// An export of `entries` from `first`, with checkpoints at `sizes` (heads from `entries`).
    fn export(
        signer: &CheckpointSigner,
        entries: &[(u64, String, String, String)],
        first: u64,
        prev: &str,
        sizes: &[u64],
    ) -> Vec<ExportLine> {
        let mut lines = vec![ExportLine::Header {
            format: EXPORT_FORMAT,
            origin: ORIGIN.to_owned(),
            tenant: "acme".to_owned(),
            first_seq: first,
            prev_hash: prev.to_owned(),
        }];
        for size in sizes {
            let head = &entries.iter().find(|e| e.0 == *size).unwrap().3;
            lines.push(ExportLine::Checkpoint {
                note: note(signer, *size, head),
            });
        }
        lines.extend(
            entries
                .iter()
                .filter(|e| e.0 >= first)
                .map(|(seq, id, entry, hash)| ExportLine::Entry {
                    seq: *seq,
                    id: id.clone(),
                    hash: hash.clone(),
                    entry: entry.clone(),
                    openings: None,
                }),
        );
        lines
    }

    fn text(lines: &[ExportLine]) -> Vec<u8> {
        lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect::<String>()
            .into_bytes()
    }

    fn verify(
        lines: &[ExportLine],
        signer: &CheckpointSigner,
        trusted: &[String],
    ) -> Result<ExportReport, VerifyError> {
        verify_export(&text(lines)[..], signer.verifier_key(), trusted)
    }

    fn tamper(result: Result<ExportReport, VerifyError>) -> (u64, Tamper) {
        match result {
            Err(VerifyError::Tampered { seq, tamper, .. }) => (seq, tamper),
            other => panic!("expected tampering, got {other:?}"),
        }
    }

    fn signer() -> CheckpointSigner {
        CheckpointSigner::generate("cp.example/audit").unwrap().0
    }

    #[test]
    fn an_untouched_export_verifies() {
        let signer = signer();
        let entries = chain(6);
        let report = verify(
            &export(&signer, &entries, 1, GENESIS, &[3, 6]),
            &signer,
            &[],
        )
        .unwrap();
        assert_eq!(
            (
                report.first_seq,
                report.last_seq,
                report.entries,
                report.checkpoints
            ),
            (1, 6, 6, 2)
        );
    }

    #[test]
    fn a_sealed_value_verifies_redacted_or_opened_and_a_changed_opening_is_named() {
        use crate::seal::{Opening, seal_value};
        let signer = signer();
        let opening = Opening {
            salt: "5a17".repeat(8),
            value: "alice@example.com".into(),
        };
        let sealed = seal_value(&opening.salt, &opening.value);
        let json = format!(r#"{{"id":"e1","data":{{"actor":{{"subject":"{sealed}"}}}}}}"#);
        let entries = vec![(1, "e1".to_owned(), json.clone(), chain_hash(GENESIS, &json))];
        let redacted = export(&signer, &entries, 1, GENESIS, &[1]);
        assert!(
            !String::from_utf8(text(&redacted))
                .unwrap()
                .contains("alice")
        );
        assert_eq!(verify(&redacted, &signer, &[]).unwrap().opened, 0);
        let with = |opening: Opening, path: &str| {
            let mut lines = redacted.clone();
            if let ExportLine::Entry { openings, .. } = &mut lines[2] {
                *openings = Some([(path.to_owned(), opening)].into());
            }
            verify(&lines, &signer, &[])
        };
        let report = with(opening.clone(), "data.actor.subject").unwrap();
        assert_eq!((report.entries, report.opened), (1, 1));
        let changed = Opening {
            value: "mallory@example.com".into(),
            ..opening.clone()
        };
        assert_eq!(
            tamper(with(changed, "data.actor.subject")),
            (1, Tamper::BadOpening("data.actor.subject".into()))
        );
        let error = with(opening, "data.reason").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("data.reason is not the one sealed"),
            "{error}"
        );
    }

    #[test]
    fn a_deleted_inserted_or_reordered_entry_is_caught_and_named() {
        let signer = signer();
        let good = export(&signer, &chain(6), 1, GENESIS, &[6]);
        // Lines: header, one checkpoint, then entries 1..6 at indexes 2..8.
        let mut deleted = good.clone();
        deleted.remove(4);
        assert_eq!(
            tamper(verify(&deleted, &signer, &[])),
            (3, Tamper::OutOfSequence(4))
        );
        let mut inserted = good.clone();
        inserted.insert(4, good[3].clone());
        assert_eq!(
            tamper(verify(&inserted, &signer, &[])),
            (3, Tamper::OutOfSequence(2))
        );
        let mut reordered = good.clone();
        reordered.swap(4, 5);
        assert_eq!(
            tamper(verify(&reordered, &signer, &[])),
            (3, Tamper::OutOfSequence(4))
        );
    }

    #[test]
    fn an_edited_entry_is_caught_and_so_is_one_whose_hashes_were_recomputed() {
        let signer = signer();
        let entries = chain(6);
        let mut edited = export(&signer, &entries, 1, GENESIS, &[6]);
        if let ExportLine::Entry { entry, .. } = &mut edited[4] {
            *entry = entry.replace("note.read", "note.delete");
        }
        let error = verify(&edited, &signer, &[]).unwrap_err();
        assert!(error.to_string().contains("entry 3 (id e3)"), "{error}");
        assert_eq!(tamper(Err(error)), (3, Tamper::Edited));
        // The same edit with every later hash recomputed: only the signed head catches it.
        let mut forged = entries.clone();
        forged[2].2 = forged[2].2.replace("note.read", "note.delete");
        let mut prev = GENESIS.to_owned();
        for e in &mut forged {
            e.3 = chain_hash(&prev, &e.2);
            prev.clone_from(&e.3);
        }
        let mut lines = export(&signer, &forged, 1, GENESIS, &[]);
        lines.insert(
            1,
            ExportLine::Checkpoint {
                note: note(&signer, 6, &entries[5].3),
            },
        );
        assert_eq!(
            tamper(verify(&lines, &signer, &[])),
            (6, Tamper::CheckpointMismatch)
        );
    }

    #[test]
    fn a_truncated_or_uncovered_tail_is_caught() {
        let signer = signer();
        let mut truncated = export(&signer, &chain(6), 1, GENESIS, &[6]);
        truncated.pop();
        assert_eq!(
            tamper(verify(&truncated, &signer, &[])),
            (6, Tamper::Truncated)
        );
        let uncovered = export(&signer, &chain(6), 1, GENESIS, &[4]);
        assert_eq!(
            tamper(verify(&uncovered, &signer, &[])),
            (5, Tamper::Uncovered)
        );
    }

    /// The operator rewrites entry 2, recomputes the chain and re-signs every checkpoint: the
    /// export is self-consistent, but the checkpoint the tenant kept from before catches it.
    #[test]
    fn a_rewritten_and_re_signed_history_fails_against_a_checkpoint_the_tenant_kept() {
        let signer = signer();
        let entries = chain(6);
        let kept = note(&signer, 4, &entries[3].3);
        let mut rewritten = entries.clone();
        rewritten[1].2 = rewritten[1].2.replace("note.read", "note.export");
        let mut prev = GENESIS.to_owned();
        for e in &mut rewritten {
            e.3 = chain_hash(&prev, &e.2);
            prev.clone_from(&e.3);
        }
        let resigned = export(&signer, &rewritten, 1, GENESIS, &[4, 6]);
        assert!(
            verify(&resigned, &signer, &[]).is_ok(),
            "self-consistent on its own"
        );
        assert_eq!(
            tamper(verify(&resigned, &signer, std::slice::from_ref(&kept))),
            (4, Tamper::Rewritten)
        );
        let honest = export(&signer, &entries, 1, GENESIS, &[6]);
        assert_eq!(verify(&honest, &signer, &[kept]).unwrap().trusted, 1);
    }

    /// After a retention cut the export starts after a signed checkpoint; an entry edited after
    /// the cut is still caught, and a start no checkpoint signs is refused.
    #[test]
    fn an_export_after_a_retention_cut_verifies_from_the_cut_checkpoint() {
        let signer = signer();
        let entries = chain(8);
        let cut = &entries[2].3;
        let good = export(&signer, &entries, 4, cut, &[3, 8]);
        let report = verify(&good, &signer, &[]).unwrap();
        assert_eq!((report.first_seq, report.entries), (4, 5));
        let mut edited = good.clone();
        if let ExportLine::Entry { entry, .. } = &mut edited[4] {
            *entry = entry.replace("acme", "other");
        }
        assert_eq!(tamper(verify(&edited, &signer, &[])), (5, Tamper::Edited));
        let unsigned = export(&signer, &entries, 4, cut, &[8]);
        assert!(matches!(
            verify(&unsigned, &signer, &[]),
            Err(VerifyError::Format { line: 1, .. })
        ));
    }

    #[test]
    fn another_chains_checkpoint_or_a_bad_signature_is_refused() {
        let signer = signer();
        let (other, _) = CheckpointSigner::generate("cp.example/audit").unwrap();
        let entries = chain(3);
        let mut lines = export(&signer, &entries, 1, GENESIS, &[]);
        lines.insert(
            1,
            ExportLine::Checkpoint {
                note: note(&other, 3, &entries[2].3),
            },
        );
        assert!(matches!(
            verify(&lines, &signer, &[]),
            Err(VerifyError::Checkpoint { line: 2, .. })
        ));
        let foreign = signer
            .sign(&Checkpoint {
                origin: "cp.example/audit/globex".to_owned(),
                size: 3,
                head: entries[2].3.clone(),
                time: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            })
            .unwrap();
        let mut lines = export(&signer, &entries, 1, GENESIS, &[]);
        lines.insert(1, ExportLine::Checkpoint { note: foreign });
        let error = verify(&lines, &signer, &[]).unwrap_err();
        assert!(error.to_string().contains("globex"), "{error}");
    }
}

//! `palisade audit verify` over export files: exit 0 for an untouched export, 1 naming the first tampered entry or a history that disagrees with a kept checkpoint, 2 for a file that is not an export.

use palisade_audit::{
    Checkpoint, CheckpointSigner, EXPORT_FORMAT, ExportLine, GENESIS, chain_hash,
};

use crate::support::{palisade, scratch};

const ORIGIN: &str = "cp.example/audit/acme";

/// An export of `n` entries with a checkpoint at each of `sizes`, as text; and the checkpoint
/// notes by size.
fn export(
    signer: &CheckpointSigner,
    n: u64,
    sizes: &[u64],
    edit: Option<u64>,
) -> (String, Vec<(u64, String)>) {
    let mut prev = GENESIS.to_owned();
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    for seq in 1..=n {
        let json = format!(r#"{{"id":"e{seq}","action":"note.read","tenant":"acme"}}"#);
        let hash = chain_hash(&prev, &json);
        prev.clone_from(&hash);
        if sizes.contains(&seq) {
            let note = signer
                .sign(&Checkpoint {
                    origin: ORIGIN.to_owned(),
                    size: seq,
                    head: hash.clone(),
                    time: time::OffsetDateTime::now_utc(),
                })
                .unwrap();
            notes.push((seq, note));
        }
        let entry = if edit == Some(seq) {
            json.replace("read", "delete")
        } else {
            json
        };
        entries.push(ExportLine::Entry {
            seq,
            id: format!("e{seq}"),
            hash,
            entry,
            openings: None,
        });
    }
    let mut lines = vec![ExportLine::Header {
        format: EXPORT_FORMAT,
        origin: ORIGIN.to_owned(),
        tenant: "acme".to_owned(),
        first_seq: 1,
        prev_hash: GENESIS.to_owned(),
    }];
    lines.extend(
        notes
            .iter()
            .map(|(_, note)| ExportLine::Checkpoint { note: note.clone() }),
    );
    lines.extend(entries);
    let text = lines
        .iter()
        .map(|l| serde_json::to_string(l).unwrap() + "\n")
        .collect();
    (text, notes)
}

#[test]
fn audit_verify_accepts_an_untouched_export_names_a_tampered_entry_and_refuses_a_non_export() {
    let dir = scratch("audit-verify");
    let (signer, _) = CheckpointSigner::generate("cp.example/audit").unwrap();
    let key = signer.verifier_key().to_owned();
    let (good, notes) = export(&signer, 50, &[20, 50], None);
    std::fs::write(dir.join("good.jsonl"), &good).unwrap();
    std::fs::write(dir.join("kept-20.note"), &notes[0].1).unwrap();
    let out = palisade(
        &dir,
        &[
            "audit",
            "verify",
            "good.jsonl",
            "--key",
            &key,
            "--trusted",
            "kept-20.note",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("entries 1 to 50 (50), 2 signed checkpoint(s), 1 kept"),
        "{stdout}"
    );

    let (edited, _) = export(&signer, 50, &[20, 50], Some(33));
    std::fs::write(dir.join("edited.jsonl"), edited).unwrap();
    let out = palisade(
        &dir,
        &["audit", "verify", "edited.jsonl", "--key", &key, "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], false);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("entry 33 (id e33)"),
        "{report}"
    );

    // Another key: the checkpoints do not verify.
    let (stranger, _) = CheckpointSigner::generate("cp.example/audit").unwrap();
    let out = palisade(
        &dir,
        &[
            "audit",
            "verify",
            "good.jsonl",
            "--key",
            stranger.verifier_key(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checkpoint"));

    std::fs::write(dir.join("notes.txt"), "not an export\n").unwrap();
    let out = palisade(&dir, &["audit", "verify", "notes.txt", "--key", &key]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an audit export"));
    let out = palisade(&dir, &["audit", "verify", "missing.jsonl", "--key", &key]);
    assert_eq!(out.status.code(), Some(2));
}

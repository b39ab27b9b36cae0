//! Writes a synthetic export for the verification benchmark: `export FILE ENTRIES` writes ENTRIES realistic entries (CloudEvents envelopes of about 600 bytes) with a signed checkpoint every 10,000, and prints the verifier key.

#![expect(
    clippy::print_stdout,
    reason = "a benchmark tool: the key goes to stdout"
)]

use std::io::Write as _;

use palisade_audit::{
    Checkpoint, CheckpointSigner, EXPORT_FORMAT, ExportLine, GENESIS, chain_hash,
};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, entries] = args.as_slice() else {
        return Err("usage: export FILE ENTRIES".to_owned());
    };
    let entries: u64 = entries.parse().map_err(|e| format!("ENTRIES: {e}"))?;
    let origin = "cp.bench.example/audit/acme";
    let (signer, _) =
        CheckpointSigner::generate("cp.bench.example/audit").map_err(|e| e.to_string())?;
    let now = time::OffsetDateTime::now_utc();
    let mut prev = GENESIS.to_owned();
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    for seq in 1..=entries {
        let json = format!(
            r#"{{"specversion":"1.0","id":"{seq:08x}-6a1f-4c2b-9d3e-{seq:012x}","source":"urn:palisade:service:billing","type":"palisade.authz.decision","time":"2026-12-03T15:00:00.{:06}Z","subject":"invoice:{}","datacontenttype":"application/json","traceparent":"00-{seq:032x}-{seq:016x}-01","tenantid":"acme","data":{{"tenant":"acme","actor":{{"subject":"user-{}","kind":"user","client_id":"billing-web"}},"action":"invoice.read","resource":"invoice:{}","outcome":"success","reason":null,"policies":["policy0"]}}}}"#,
            seq % 1_000_000,
            seq % 977,
            seq % 131,
            seq % 977
        );
        let hash = chain_hash(&prev, &json);
        if seq % 10_000 == 0 || seq == entries {
            let checkpoint = Checkpoint {
                origin: origin.to_owned(),
                size: seq,
                head: hash.clone(),
                time: now,
            };
            notes.push(signer.sign(&checkpoint).map_err(|e| e.to_string())?);
        }
        lines.push(ExportLine::Entry {
            seq,
            id: format!("{seq:08x}"),
            hash: hash.clone(),
            entry: json,
            openings: None,
        });
        prev = hash;
    }
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(file).map_err(|e| format!("{file}: {e}"))?);
    let header = ExportLine::Header {
        format: EXPORT_FORMAT,
        origin: origin.to_owned(),
        tenant: "acme".to_owned(),
        first_seq: 1,
        prev_hash: GENESIS.to_owned(),
    };
    let write =
        |out: &mut std::io::BufWriter<std::fs::File>, line: &ExportLine| -> Result<(), String> {
            serde_json::to_writer(&mut *out, line).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())
        };
    write(&mut out, &header)?;
    for note in notes {
        write(&mut out, &ExportLine::Checkpoint { note })?;
    }
    for line in &lines {
        write(&mut out, line)?;
    }
    out.flush().map_err(|e| e.to_string())?;
    println!("{}", signer.verifier_key());
    Ok(())
}

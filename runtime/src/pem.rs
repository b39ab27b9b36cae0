//! PEM armour for DER keys (jsonwebtoken imports RSA keys only as PEM).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `der` as a PEM block with `label` ("PRIVATE KEY", "PUBLIC KEY"), 64 characters a line.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

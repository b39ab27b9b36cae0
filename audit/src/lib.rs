//! `palisade-audit`: the audit log's portable formats, shared by the runtime (which writes them) and the `palisade` command line (which checks them offline): the per-tenant hash chain, signed checkpoints in the C2SP signed-note format, tenant exports, and their verification.
//!
//! Invariant: nothing here needs a server or a database. A tenant holding an export, the control
//! plane's public checkpoint key and, optionally, checkpoints it kept from earlier, can check on its
//! own that no entry was removed, inserted, reordered or changed.

#![warn(missing_docs)]

mod chain;
#[cfg(feature = "checkpoints")]
mod checkpoint;
#[cfg(feature = "checkpoints")]
mod export;
mod seal;

pub use chain::{GENESIS, chain_hash};
#[cfg(feature = "checkpoints")]
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointSigner, verify_checkpoint};
#[cfg(feature = "checkpoints")]
pub use export::{EXPORT_FORMAT, ExportLine, ExportReport, Tamper, VerifyError, verify_export};
pub use seal::{Opening, Openings, SEALED_PREFIX, seal_value};

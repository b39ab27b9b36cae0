//! Integration tests of the `palisade` CLI: one test binary, one module per area.

mod audit;
mod determinism;
mod e2e;
mod errors;
mod format;
mod policy;
mod prompts;
mod properties;
mod releases;
mod scan;
mod snapshots;
mod support;
mod tidy;
mod upgrade;

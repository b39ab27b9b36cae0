//! Structured logging: JSON lines on stderr, filtered by `RUST_LOG` (default `info`). Audit entries
//! go to their own sink, never to these logs.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Every request's lines carry its trace id (from the runtime's
/// trace layer).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_current_span(true)
        .init();
}

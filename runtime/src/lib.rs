//! `palisade-runtime`: the security core that every Palisade-generated service links.
//!
//! The request path is built by [`stack::SecurityStack`], always in this order:
//! trace → authentication → tenant guard → authorization → handler, with every refusal and every
//! sensitive decision audited. See `docs/runtime.md` for the threat each layer answers.

#![warn(missing_docs)]

pub mod access;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod check;
mod client_credentials;
pub mod limit;
#[cfg(any(feature = "testing", feature = "server"))]
mod pem;
pub mod principal;
pub mod problem;
pub mod secrets;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "sql")]
mod sql;
pub mod stack;
pub mod tenant;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;

pub use principal::{Principal, PrincipalKind, TenantId};
pub use problem::Problem;

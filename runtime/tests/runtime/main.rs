//! Integration tests of palisade-runtime through its public API: one test binary, one module per area.

mod audit;
mod audit_log;
mod authz;
mod bundles;
mod edge;
mod glue;
mod hardening;
mod keyvault;
mod migrations;
mod oidc;
mod openidconnect;
mod policy_diff;
mod policy_service;
mod postgres;
mod remote_keys;
mod replay;
mod replicas;
mod resilience;
mod retention;
mod secret_fields;
mod secrets;
mod server;
mod serving;
mod stack;
mod support;
mod wycheproof;

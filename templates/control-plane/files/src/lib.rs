//! The control plane: the Palisade authorization server with its configuration, start-up and command line.

pub mod app;
pub mod cli;
pub mod config;
pub mod policy;
pub mod telemetry;

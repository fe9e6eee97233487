//! `lab` runs, checks and grades the hands-on course "Monitoring an Anchore
//! deployment with Prometheus and Grafana". The binary is a thin layer over this
//! library; tests and benchmarks use the same modules.
//!
//! Layout, from the ground up (README "How it is built"): `model` (plain data, no
//! I/O), `error`, `loader` (the only YAML parser), `engine` (Docker and compose),
//! `client` (HTTP), `env` (a trainee's environment), `probe` (read-only questions),
//! `runner` (runs checks, emits events), `grade`/`smoke`/`trace` (results as data),
//! `report` (the only place that prints results), `action` (what changes an
//! environment), `cmd` (one file per subcommand).

pub mod action;
pub mod analyzer_log;
pub mod cli;
pub mod client;
pub mod cmd;
#[cfg(test)]
mod contract_tests;
pub mod engine;
pub mod env;
pub mod error;
pub mod files;
#[cfg(test)]
mod fuzz;
pub mod grade;
pub mod images;
pub mod loader;
pub mod model;
pub mod ports;
pub mod probe;
pub mod redact;
pub mod report;
pub mod runner;
pub mod session;
pub mod smoke;
pub mod text;
pub mod trace;
pub mod trace_signals;

#[cfg(test)]
#[path = "../tests/fixtures/reference.rs"]
pub(crate) mod reference;

//! `lab` runs, checks and grades the hands-on course "Monitoring an Anchore
//! deployment with Prometheus and Grafana". The binary is a thin layer over this
//! library; tests and benchmarks use the same modules.
//!
//! Layout: `model` (plain data, no I/O), `loader` (the only YAML parser), `probe`
//! (read-only questions to the environment), `runner` (runs checks, emits events),
//! `report` (the only place that prints results), `cmd` (one file per subcommand),
//! `compose` (drives docker compose and waits for the services to be ready), `smoke`
//! (judges lab material from check results).

pub mod action;
pub mod analyzer_log;
pub mod cli;
pub mod cmd;
pub mod compose;
#[cfg(test)]
mod contract_tests;
pub mod docker;
pub mod env;
pub mod error;
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
pub mod smoke;
pub mod text;
pub mod trace;
pub mod trace_signals;

#[cfg(test)]
#[path = "../tests/fixtures/reference.rs"]
pub(crate) mod reference;

//! A stand-in for Anchore Enterprise (its services, their API, logs and Prometheus metrics) and
//! for anchorectl, faithful to the facts in the course's reference material, for tests on
//! machines that cannot run the licensed product.

pub mod analysis;
pub mod analyzer;
pub mod apiext;
pub mod auth;
pub mod client;
pub mod clock;
pub mod config;
pub mod ctl;
pub mod extras;
pub mod healthcheck;
pub mod image;
pub mod logging;
pub mod metrics;
pub mod owner;
pub mod process;
pub mod server;
pub mod store;

//! A stand-in for Anchore Enterprise (its services, their API, logs and Prometheus metrics) and
//! for anchorectl, faithful to the facts in the course's reference material, for tests on
//! machines that cannot run the licensed product.

pub mod analysis;
pub mod auth;
pub mod clock;
pub mod config;
pub mod image;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod store;

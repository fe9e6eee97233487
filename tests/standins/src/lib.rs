//! Test stand-ins for the parts of the course that cannot run on build machines
//! (Anchore Enterprise, Grafana), and the bench that packs them into local images.

pub mod anchore;
pub mod bench;
pub mod grafana;
pub mod settle;

#[cfg(test)]
#[path = "../../fixtures/reference.rs"]
pub(crate) mod reference;

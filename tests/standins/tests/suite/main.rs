//! The stand-ins' integration tests, one test binary: its tests run side by side (the
//! Docker ones on free loopback ports, their own compose projects and container names),
//! where five binaries ran one after another, most of that time waiting on the engine.

mod anchore;
mod bench;
mod grafana;
mod registry;
mod watch;

//! One integration test binary that runs the built `lab` as a user would.

mod docker;
mod support;

//! One integration test binary that runs the built `lab` as a user would.

mod canary;
mod commands;
mod compose;
mod docker;
mod docker_gate;
mod envs;
mod grade;
mod init;
mod json;
#[path = "../fixtures/reference.rs"]
mod reference;
mod smoke;
mod support;
mod trace;
mod validate;
mod watch;

//! Placeholder: the grafana stand-in is being written.
fn main() {}

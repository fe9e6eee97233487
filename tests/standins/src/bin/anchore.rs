//! Placeholder: the anchore stand-in is being written.
fn main() {}

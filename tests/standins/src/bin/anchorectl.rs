//! Placeholder: the anchorectl stand-in is being written.
fn main() {}

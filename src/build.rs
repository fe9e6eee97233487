//! Rebuild when the course's labs change: they are embedded in the binary.
fn main() {
    println!("cargo:rerun-if-changed=labs");
}

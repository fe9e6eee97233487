//! Where `lab` keeps its own files inside an environment.

/// The folder inside an environment that `lab` owns.
pub const STATE_DIR: &str = ".lab";

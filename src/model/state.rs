//! Where `lab` keeps its own files inside an environment.

/// The folder inside an environment that `lab` owns.
pub const STATE_DIR: &str = ".lab";

/// The totals of the last `lab check` of one lab, kept in the environment's state
/// for `lab status`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LastResult {
    /// UTC, `20261124T164530Z`.
    pub at: String,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub pending: usize,
    pub points: i64,
    pub possible: i64,
}

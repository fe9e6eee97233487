//! `lab trace` over log files and support bundles: finds the inputs (files,
//! folders, compressed files, tar and zip bundles, standard input), reads them in
//! bounded blocks on every core, and hands each analysis to a sink as soon as it
//! ends (`scan`); filters and the figures of `--summary` (`summary`).

pub mod input;
pub mod order;
pub mod scan;
pub mod summary;

use crate::analyzer_log::{self, Analysis, Outcome};

/// Which analyses to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Seconds since the epoch; an analysis counts from its dequeue (or, when its
    /// dequeue is not in the logs, its last line).
    pub since: Option<f64>,
    pub until: Option<f64>,
    /// Tags or digests; any of them.
    pub images: Vec<String>,
    pub failed: bool,
    /// Seconds: only finished analyses that took longer.
    pub slower_than: Option<f64>,
}

impl Filter {
    pub fn keeps(&self, a: &Analysis) -> bool {
        let t = a.started.or(a.ended);
        if let (Some(s), Some(t)) = (self.since, t) {
            if t < s {
                return false;
            }
        }
        if let (Some(u), Some(t)) = (self.until, t) {
            if t > u {
                return false;
            }
        }
        if !self.images.is_empty() && !self.images.iter().any(|i| analyzer_log::is_of(a, i)) {
            return false;
        }
        if self.failed && a.outcome != Outcome::Failed {
            return false;
        }
        if let Some(min) = self.slower_than {
            if !a.duration.is_some_and(|d| d > min) {
                return false;
            }
        }
        true
    }
}

/// `2024-08-18T12:00:00+02:00`, `2024-08-18 12:00` or `2024-08-18` (UTC when no offset
/// is given) as seconds since the epoch.
pub fn parse_when(s: &str) -> Option<f64> {
    let s = s.trim();
    analyzer_log::parse_time(s)
        .or_else(|| analyzer_log::parse_time(&format!("{s}:00")))
        .or_else(|| analyzer_log::parse_time(&format!("{s}T00:00:00")))
}

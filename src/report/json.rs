//! JSON output of `lab check`. The schema is versioned (`schema_version`) and
//! documented in docs/json-schema.md; tests/json.rs pins it.

use crate::runner::{CheckResult, Summary};
use serde::Serialize;

/// Bump when a field changes meaning or disappears; adding a field does not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    pub schema_version: u32,
    pub lab: LabRef<'a>,
    pub duration_ms: u64,
    pub summary: Summary,
    pub checks: &'a [CheckResult],
}

#[derive(Debug, Serialize)]
pub struct LabRef<'a> {
    pub id: &'a str,
    pub title: &'a str,
}

pub fn render(report: &CheckReport) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize") + "\n"
}

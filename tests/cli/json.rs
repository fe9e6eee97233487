//! Pins the JSON schema of `lab check --format json` (schema_version 1, documented
//! in the README): real output is read into structs that deny unknown fields, so a
//! renamed, added or removed field fails here first.

use crate::commands::scratch_lab;
use crate::support::{lab, run};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    schema_version: u32,
    lab: Lab,
    duration_ms: u64,
    summary: Summary,
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lab {
    id: String,
    title: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Summary {
    passed: usize,
    failed: usize,
    errors: usize,
    skipped: usize,
    pending: usize,
    points: i64,
    possible: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    id: String,
    exercise: String,
    kind: String,
    description: String,
    status: String,
    expected: Option<String>,
    actual: Option<String>,
    message: Option<String>,
    hint: Option<String>,
    duration: u64,
    attempts: u32,
    points: i64,
    possible: i64,
}

#[test]
fn check_json_output_matches_schema_version_1() {
    let (d, labs) = scratch_lab();
    let work = d.path().join("work");
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "--format", "json", "--workdir"])
        .arg(&work));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report: Report =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}", r.stdout));
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.lab.id, "07-scratch");
    assert_eq!(report.lab.title, "Scratch lab");
    assert!(report.duration_ms < 60_000);
    assert_eq!(
        report.summary,
        Summary {
            passed: 1,
            failed: 1,
            errors: 0,
            skipped: 1,
            pending: 0,
            points: 1,
            possible: 4
        }
    );
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["notes-exist", "notes-say-hello", "shell-works"],
        "plan order, not finishing order"
    );
    let failed = &report.checks[0];
    assert_eq!(
        (
            failed.status.as_str(),
            failed.kind.as_str(),
            failed.exercise.as_str()
        ),
        ("failed", "file", "notes")
    );
    assert_eq!(failed.expected.as_deref(), Some("notes.txt exists"));
    assert_eq!(failed.actual.as_deref(), Some("no such file"));
    assert_eq!(
        failed.hint.as_deref(),
        Some("create notes.txt in the working folder")
    );
    assert_eq!((failed.points, failed.possible, failed.attempts), (0, 2, 1));
    assert_eq!(report.checks[1].status, "skipped");
    assert_eq!(
        report.checks[1].message.as_deref(),
        Some("needs `notes-exist`, which did not pass")
    );
    assert!(report.checks[2].duration < 10_000);
    assert_eq!(report.checks[2].description, "the shell answers");
    assert!(
        r.stderr.is_empty(),
        "JSON mode keeps stderr quiet: {}",
        r.stderr
    );
}

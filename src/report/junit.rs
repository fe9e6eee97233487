//! JUnit XML: a lab is a test suite, a check is a test case.

use crate::runner::{CheckResult, Status};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

pub fn render(lab_id: &str, results: &[CheckResult], elapsed: Duration) -> String {
    let mut report = Report::new("lab");
    let mut suite = TestSuite::new(lab_id);
    for r in results {
        let status = match r.status {
            Status::Passed | Status::Pending => TestCaseStatus::success(),
            Status::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "expected {}, got {}",
                    r.expected.as_deref().unwrap_or("-"),
                    r.actual.as_deref().unwrap_or("-")
                ));
                s.set_description(detail(r));
                s
            }
            Status::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(r.message.clone().unwrap_or_default());
                s.set_description(detail(r));
                s
            }
            Status::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(r.message.clone().unwrap_or_default());
                s
            }
        };
        let mut case = TestCase::new(format!("{}::{}", r.exercise, r.id), status);
        case.set_classname(format!("{lab_id}.{}", r.exercise));
        case.set_time(r.duration);
        suite.add_test_case(case);
    }
    suite.set_time(elapsed);
    report.add_test_suite(suite);
    report.set_time(elapsed);
    report.to_string().expect("JUnit reports serialize")
}

fn detail(r: &CheckResult) -> String {
    let mut lines = vec![r.description.clone()];
    if let Some(e) = &r.expected {
        lines.push(format!("expected: {e}"));
    }
    if let Some(a) = &r.actual {
        lines.push(format!("actual: {a}"));
    }
    if let Some(m) = &r.message {
        lines.push(format!("why: {m}"));
    }
    if let Some(h) = &r.hint {
        lines.push(format!("hint: {h}"));
    }
    lines.join("\n")
}

//! The class as Prometheus metrics (the text exposition format, version 0.0.4),
//! rendered once per round by `lab grade --serve` and served as is on `/metrics`.
//! Names start with `lab_`; every family has its HELP and TYPE; the labels are
//! `trainee`, `lab`, `exercise`, `check` (and `status`). `promtool check metrics`
//! accepts the output (tests/cli/watch.rs runs it).

use super::scrub::redact;
use crate::grade::watch::Snapshot;
use std::fmt::Write;
use std::time::SystemTime;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(&redact(v)));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Every series of one round.
pub fn render(s: &Snapshot) -> String {
    let mut o = Out(String::with_capacity(256 + s.book.trainees.len() * 4096));
    let book = &s.book;

    o.family(
        "lab_check_passing",
        "gauge",
        "1 when the trainee's check passes, else 0.",
    );
    for t in &book.trainees {
        for l in t.labs.iter().filter(|l| l.graded && !t.rejected) {
            for c in &l.checks {
                let labels = [
                    ("trainee", t.trainee.as_str()),
                    ("lab", l.lab.as_str()),
                    ("exercise", c.exercise.as_str()),
                    ("check", c.id.as_str()),
                ];
                o.sample(
                    "lab_check_passing",
                    &labels,
                    u8::from(c.status == crate::grade::Mark::Passed),
                );
            }
        }
    }

    o.family(
        "lab_check_status",
        "gauge",
        "1 for the check's status in the last round (passed, failed, error, skipped, pending, unreachable, not_checked).",
    );
    for t in &book.trainees {
        for l in t.labs.iter().filter(|l| l.graded && !t.rejected) {
            for c in &l.checks {
                let status = serde_json::to_value(c.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let labels = [
                    ("trainee", t.trainee.as_str()),
                    ("lab", l.lab.as_str()),
                    ("exercise", c.exercise.as_str()),
                    ("check", c.id.as_str()),
                    ("status", status.as_str()),
                ];
                o.sample("lab_check_status", &labels, 1);
            }
        }
    }

    o.family(
        "lab_points",
        "gauge",
        "Points the trainee has in the lab (the instructor's scores where given).",
    );
    for t in &book.trainees {
        for l in t.labs.iter().filter(|l| l.graded && !t.rejected) {
            o.sample(
                "lab_points",
                &[("trainee", &t.trainee), ("lab", &l.lab)],
                l.points(),
            );
        }
    }
    o.family(
        "lab_points_possible",
        "gauge",
        "Points the trainee can have in the lab.",
    );
    for t in &book.trainees {
        for info in &book.labs {
            o.sample(
                "lab_points_possible",
                &[("trainee", &t.trainee), ("lab", &info.id)],
                info.possible,
            );
        }
    }

    o.family(
        "lab_trainee_exercise",
        "gauge",
        "1 for the exercise the trainee is on: the first with a check not passing yet.",
    );
    for (t, r) in book.trainees.iter().zip(&s.rows) {
        if let Some(c) = &r.current {
            o.sample(
                "lab_trainee_exercise",
                &[
                    ("trainee", &t.trainee),
                    ("lab", &c.lab),
                    ("exercise", &c.exercise),
                ],
                1,
            );
        }
    }
    o.family(
        "lab_trainee_last_progress_timestamp_seconds",
        "gauge",
        "When the trainee's points or passed checks last changed (Unix time; the watch's first round until they do).",
    );
    for r in &s.rows {
        o.sample(
            "lab_trainee_last_progress_timestamp_seconds",
            &[("trainee", &r.trainee)],
            format_args!("{:.3}", seconds(r.last_progress)),
        );
    }
    o.family(
        "lab_trainee_stuck",
        "gauge",
        "1 when the trainee is on an exercise without progress for --stuck-after or longer.",
    );
    for r in &s.rows {
        o.sample(
            "lab_trainee_stuck",
            &[("trainee", &r.trainee)],
            u8::from(r.stuck),
        );
    }

    o.family(
        "lab_environment_up",
        "gauge",
        "1 when the trainee's environment answered in the last round, 0 when it did not (engine unreachable, deadline, no check could look).",
    );
    for r in &s.rows {
        o.sample(
            "lab_environment_up",
            &[("trainee", &r.trainee)],
            u8::from(r.down.is_none()),
        );
    }
    o.family(
        "lab_environment_errors_total",
        "counter",
        "Checks of the trainee's environment that could not look (errors, unreachable engine), over every round.",
    );
    for r in &s.rows {
        o.sample(
            "lab_environment_errors_total",
            &[("trainee", &r.trainee)],
            r.errors_total,
        );
    }

    o.family(
        "lab_grade_round_duration_seconds",
        "gauge",
        "How long the last grading round took.",
    );
    o.sample(
        "lab_grade_round_duration_seconds",
        &[],
        format_args!("{:.6}", s.took.as_secs_f64()),
    );
    o.family(
        "lab_grade_rounds_total",
        "counter",
        "Grading rounds finished since the watch started.",
    );
    o.sample("lab_grade_rounds_total", &[], s.round);
    o.family(
        "lab_grade_last_round_timestamp_seconds",
        "gauge",
        "When the last grading round finished (Unix time).",
    );
    if s.round > 0 {
        o.sample(
            "lab_grade_last_round_timestamp_seconds",
            &[],
            format_args!("{:.3}", seconds(s.at)),
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::watch::Tracker;
    use crate::grade::{Gradebook, GradedCheck, LabGrade, LabInfo, Mark, Origin, TraineeGrade};
    use std::time::Duration;

    fn check(id: &str, status: Mark, points: i64) -> GradedCheck {
        GradedCheck {
            id: id.into(),
            exercise: "scrape".into(),
            kind: "prometheus_query".into(),
            description: id.into(),
            status,
            expected: None,
            actual: None,
            message: None,
            hint: None,
            points,
            possible: 2,
            manual: None,
        }
    }

    fn snapshot() -> Snapshot {
        let book = Gradebook {
            labs: vec![LabInfo {
                id: "02-prometheus".into(),
                title: "Prometheus".into(),
                possible: 4,
                questions: Vec::new(),
            }],
            trainees: vec![
                TraineeGrade {
                    trainee: "alice".into(),
                    origin: Origin::Roster,
                    problems: Vec::new(),
                    rejected: false,
                    labs: vec![LabGrade {
                        lab: "02-prometheus".into(),
                        graded: true,
                        checks: vec![check("up", Mark::Passed, 2), check("job", Mark::Failed, 0)],
                    }],
                    answers: Default::default(),
                },
                TraineeGrade {
                    trainee: "b\"o\\b\nx".into(),
                    origin: Origin::Roster,
                    problems: vec!["Docker engine unreachable: refused".into()],
                    rejected: false,
                    labs: vec![LabGrade {
                        lab: "02-prometheus".into(),
                        graded: true,
                        checks: vec![
                            check("up", Mark::Unreachable, 0),
                            check("job", Mark::Unreachable, 0),
                        ],
                    }],
                    answers: Default::default(),
                },
            ],
        };
        let mut tr = Tracker::new(Duration::from_secs(15), Duration::from_secs(900));
        tr.observe(
            book,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            Duration::from_millis(1250),
        )
    }

    #[test]
    fn every_family_has_help_and_type_and_the_values_are_the_rounds() {
        let text = render(&snapshot());
        for fam in [
            "lab_check_passing gauge",
            "lab_check_status gauge",
            "lab_points gauge",
            "lab_points_possible gauge",
            "lab_trainee_exercise gauge",
            "lab_trainee_last_progress_timestamp_seconds gauge",
            "lab_trainee_stuck gauge",
            "lab_environment_up gauge",
            "lab_environment_errors_total counter",
            "lab_grade_round_duration_seconds gauge",
            "lab_grade_rounds_total counter",
        ] {
            assert!(
                text.contains(&format!("# TYPE {fam}\n")),
                "{fam} in\n{text}"
            );
        }
        for line in [
            r#"lab_check_passing{trainee="alice",lab="02-prometheus",exercise="scrape",check="up"} 1"#,
            r#"lab_check_passing{trainee="alice",lab="02-prometheus",exercise="scrape",check="job"} 0"#,
            r#"lab_check_status{trainee="alice",lab="02-prometheus",exercise="scrape",check="job",status="failed"} 1"#,
            r#"lab_points{trainee="alice",lab="02-prometheus"} 2"#,
            r#"lab_points_possible{trainee="alice",lab="02-prometheus"} 4"#,
            r#"lab_trainee_exercise{trainee="alice",lab="02-prometheus",exercise="scrape"} 1"#,
            r#"lab_trainee_last_progress_timestamp_seconds{trainee="alice"} 1700000000.000"#,
            r#"lab_environment_up{trainee="alice"} 1"#,
            r#"lab_environment_up{trainee="b\"o\\b\nx"} 0"#,
            r#"lab_environment_errors_total{trainee="b\"o\\b\nx"} 2"#,
            "lab_grade_round_duration_seconds 1.250000",
            "lab_grade_rounds_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped_and_never_carry_a_password() {
        assert_eq!(label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let mut s = snapshot();
        s.book.trainees[0].labs[0].checks[0].exercise = "see http://admin:s3cret@host:9090/".into();
        let text = render(&s);
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn before_the_first_round_only_the_round_count() {
        let s = Snapshot::empty(
            Gradebook {
                labs: Vec::new(),
                trainees: Vec::new(),
            },
            Duration::from_secs(15),
            Duration::from_secs(900),
        );
        let text = render(&s);
        assert!(text.contains("lab_grade_rounds_total 0\n"));
        assert!(!text
            .lines()
            .any(|l| l.starts_with("lab_grade_last_round_timestamp_seconds ")));
    }
}

//! The gradebook of `lab grade`: a terminal table (trainee x lab, totals), CSV,
//! JSON, JUnit and Markdown. The body holds no times, so grading unchanged
//! environments twice gives the same bytes.

use super::Ui;
use crate::grade::{Gradebook, GradedCheck, LabGrade, Mark, Origin, TraineeGrade};
use console::Style;
use serde::Serialize;
use std::fmt::Write;

/// Bump when a field changes meaning or disappears; adding a field does not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// What to show besides the totals.
#[derive(Debug, Clone, Copy, Default)]
pub struct Show {
    /// Every check: status, points, expected, actual, hint.
    pub detail: bool,
    /// Every question: the model answer beside each trainee's.
    pub answers: bool,
}

/// A lab's cell: `points/possible`, `-/possible` when not submitted, `rejected`.
fn cell(t: &TraineeGrade, g: &LabGrade, possible: i64) -> String {
    if t.rejected {
        "rejected".into()
    } else if !g.graded {
        format!("-/{possible}")
    } else {
        format!("{}/{possible}", g.points())
    }
}

fn origin(t: &TraineeGrade) -> String {
    match &t.origin {
        Origin::Roster => "environment".into(),
        Origin::Bundle { file } => format!("bundle {file}"),
    }
}

fn check_line(c: &GradedCheck) -> String {
    let mut s = format!(
        "{:<11} {} {}/{}",
        c.status.label(),
        c.id,
        c.score(),
        c.possible
    );
    if let Some(m) = &c.manual {
        let _ = write!(s, " (instructor: {} points", m.points);
        if let Some(cm) = &m.comment {
            let _ = write!(s, ", \"{cm}\"");
        }
        s.push(')');
    }
    s
}

fn check_details(c: &GradedCheck) -> Vec<(&'static str, &str)> {
    let mut v = Vec::new();
    if matches!(c.status, Mark::Passed) {
        return v;
    }
    for (k, x) in [
        ("expected", &c.expected),
        ("actual", &c.actual),
        ("why", &c.message),
        ("hint", &c.hint),
    ] {
        if let Some(x) = x {
            v.push((k, x.as_str()));
        }
    }
    v
}

pub fn human(book: &Gradebook, ui: &Ui, show: Show) -> String {
    let bold = ui.style(Style::new().bold());
    let red = ui.style(Style::new().red());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["TRAINEE".to_string()];
    head.extend(book.labs.iter().map(|l| l.id.clone()));
    head.push("TOTAL".into());
    rows.push(head);
    for t in &book.trainees {
        let mut r = vec![t.trainee.clone()];
        for (l, g) in book.labs.iter().zip(&t.labs) {
            r.push(cell(t, g, l.possible));
        }
        r.push(format!("{}/{}", t.points(), book.possible()));
        rows.push(r);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(line, "{c:<w$}");
            } else {
                let _ = write!(line, "  {c:>w$}");
            }
        }
        let line = line.trim_end().to_string();
        let _ = writeln!(
            out,
            "{}",
            if n == 0 {
                bold.apply_to(line).to_string()
            } else {
                line
            }
        );
    }
    let troubled: Vec<&TraineeGrade> = book
        .trainees
        .iter()
        .filter(|t| !t.problems.is_empty())
        .collect();
    if !troubled.is_empty() {
        let _ = writeln!(out, "\n{}", bold.apply_to("Problems"));
        for t in troubled {
            for p in &t.problems {
                let _ = writeln!(out, "  {}: {}", red.apply_to(&t.trainee), p);
            }
        }
    }
    if show.detail {
        for t in &book.trainees {
            let _ = writeln!(
                out,
                "\n{} ({}): {}/{}",
                bold.apply_to(&t.trainee),
                origin(t),
                t.points(),
                book.possible()
            );
            for (l, g) in book.labs.iter().zip(&t.labs) {
                let _ = writeln!(out, "  {} {}", l.id, cell(t, g, l.possible));
                for c in &g.checks {
                    let _ = writeln!(out, "    {}", check_line(c));
                    for (k, v) in check_details(c) {
                        let _ = writeln!(out, "      {k}: {v}");
                    }
                }
            }
        }
    }
    if show.answers {
        let w = book
            .trainees
            .iter()
            .map(|t| t.trainee.chars().count())
            .chain([12])
            .max()
            .unwrap_or(12);
        let _ = writeln!(out, "\n{}", bold.apply_to("Answers"));
        for l in &book.labs {
            for q in &l.questions {
                let _ = writeln!(out, "\n  {} {}: {}", l.id, bold.apply_to(&q.id), q.prompt);
                let _ = writeln!(
                    out,
                    "    {:<w$}  {}",
                    "model answer",
                    q.model_answer.as_deref().unwrap_or("(none given)")
                );
                for t in &book.trainees {
                    let answer = t
                        .answers
                        .get(&q.id)
                        .map(|a| a.trim())
                        .unwrap_or("(no answer)");
                    // Continuation lines under the answer's first, not under the names.
                    let answer =
                        answer
                            .lines()
                            .collect::<Vec<_>>()
                            .join(&format!("\n{:1$}", "", w + 6));
                    let _ = writeln!(out, "    {:<w$}  {answer}", t.trainee);
                }
            }
        }
    }
    out
}

/// RFC 4180: quote a field that holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
        + "\n"
}

/// One row per trainee (`trainee, <lab> points, <lab> possible, …, total,
/// possible, problems`); with `detail`, one row per check instead.
pub fn csv(book: &Gradebook, show: Show) -> String {
    let mut out = String::new();
    if show.detail {
        out.push_str(&csv_row(
            &[
                "trainee",
                "lab",
                "exercise",
                "check",
                "status",
                "points",
                "possible",
                "manual_comment",
                "expected",
                "actual",
                "message",
                "hint",
            ]
            .map(String::from),
        ));
        for t in &book.trainees {
            for g in &t.labs {
                for c in &g.checks {
                    out.push_str(&csv_row(&[
                        t.trainee.clone(),
                        g.lab.clone(),
                        c.exercise.clone(),
                        c.id.clone(),
                        serde_plain(&c.status),
                        c.score().to_string(),
                        c.possible.to_string(),
                        c.manual
                            .as_ref()
                            .and_then(|m| m.comment.clone())
                            .unwrap_or_default(),
                        c.expected.clone().unwrap_or_default(),
                        c.actual.clone().unwrap_or_default(),
                        c.message.clone().unwrap_or_default(),
                        c.hint.clone().unwrap_or_default(),
                    ]));
                }
            }
        }
        return out;
    }
    let mut head = vec!["trainee".to_string(), "source".to_string()];
    for l in &book.labs {
        head.push(format!("{} points", l.id));
        head.push(format!("{} possible", l.id));
    }
    head.extend(["total", "possible", "problems"].map(String::from));
    out.push_str(&csv_row(&head));
    for t in &book.trainees {
        let mut r = vec![t.trainee.clone(), origin(t)];
        for (l, g) in book.labs.iter().zip(&t.labs) {
            r.push(if g.graded {
                g.points().to_string()
            } else {
                String::new()
            });
            r.push(l.possible.to_string());
        }
        r.push(t.points().to_string());
        r.push(book.possible().to_string());
        r.push(t.problems.join("; "));
        out.push_str(&csv_row(&r));
    }
    out
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Serialize)]
struct JsonBook<'a> {
    schema_version: u32,
    possible: i64,
    labs: &'a [crate::grade::LabInfo],
    trainees: Vec<JsonTrainee<'a>>,
}

#[derive(Serialize)]
struct JsonTrainee<'a> {
    trainee: &'a str,
    origin: &'a Origin,
    points: i64,
    possible: i64,
    problems: &'a [String],
    rejected: bool,
    labs: Vec<JsonLab<'a>>,
    answers: &'a std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct JsonLab<'a> {
    id: &'a str,
    graded: bool,
    points: i64,
    possible: i64,
    checks: &'a [GradedCheck],
}

pub fn json(book: &Gradebook) -> String {
    let j = JsonBook {
        schema_version: SCHEMA_VERSION,
        possible: book.possible(),
        labs: &book.labs,
        trainees: book
            .trainees
            .iter()
            .map(|t| JsonTrainee {
                trainee: &t.trainee,
                origin: &t.origin,
                points: t.points(),
                possible: book.possible(),
                problems: &t.problems,
                rejected: t.rejected,
                labs: book
                    .labs
                    .iter()
                    .zip(&t.labs)
                    .map(|(l, g)| JsonLab {
                        id: &l.id,
                        graded: g.graded,
                        points: g.points(),
                        possible: l.possible,
                        checks: &g.checks,
                    })
                    .collect(),
                answers: &t.answers,
            })
            .collect(),
    };
    serde_json::to_string_pretty(&j).expect("gradebooks serialize") + "\n"
}

/// A test suite per trainee and lab (`alice/01-metrics`), a case per check; no
/// times, so the file is the same for the same grades.
pub fn junit(book: &Gradebook) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("lab grade");
    for t in &book.trainees {
        for g in &t.labs {
            let mut suite = TestSuite::new(format!("{}/{}", t.trainee, g.lab));
            if t.rejected || !g.graded {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(if t.rejected {
                    t.problems.join("; ")
                } else {
                    "not submitted".to_string()
                });
                suite.add_test_case(TestCase::new(format!("{}::submitted", g.lab), s));
            }
            for c in &g.checks {
                let status = match c.status {
                    Mark::Passed | Mark::Pending => TestCaseStatus::success(),
                    Mark::Failed => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(format!(
                            "expected {}, got {}",
                            c.expected.as_deref().unwrap_or("-"),
                            c.actual.as_deref().unwrap_or("-")
                        ));
                        s.set_description(description(c));
                        s
                    }
                    Mark::Error | Mark::Unreachable => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                        s.set_message(c.message.clone().unwrap_or_default());
                        s.set_description(description(c));
                        s
                    }
                    Mark::Skipped | Mark::NotChecked => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(c.message.clone().unwrap_or_default());
                        s
                    }
                };
                let mut case = TestCase::new(format!("{}::{}", c.exercise, c.id), status);
                case.set_classname(format!("{}.{}.{}", t.trainee, g.lab, c.exercise));
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
    }
    report.to_string().expect("JUnit reports serialize")
}

fn description(c: &GradedCheck) -> String {
    let mut lines = vec![c.description.clone()];
    for (k, v) in check_details(c) {
        lines.push(format!("{k}: {v}"));
    }
    lines.join("\n")
}

/// `|` would end a table cell; line breaks would end the row.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn markdown(book: &Gradebook, show: Show) -> String {
    let mut out = String::from("# Gradebook\n\n| Trainee |");
    for l in &book.labs {
        let _ = write!(out, " {} |", md(&l.id));
    }
    out.push_str(" Total |\n|---|");
    for _ in &book.labs {
        out.push_str("---:|");
    }
    out.push_str("---:|\n");
    for t in &book.trainees {
        let _ = write!(out, "| {} |", md(&t.trainee));
        for (l, g) in book.labs.iter().zip(&t.labs) {
            let _ = write!(out, " {} |", cell(t, g, l.possible));
        }
        let _ = writeln!(out, " {}/{} |", t.points(), book.possible());
    }
    let troubled: Vec<&TraineeGrade> = book
        .trainees
        .iter()
        .filter(|t| !t.problems.is_empty())
        .collect();
    if !troubled.is_empty() {
        out.push_str("\n## Problems\n\n");
        for t in troubled {
            for p in &t.problems {
                let _ = writeln!(out, "- **{}**: {}", md(&t.trainee), md(p));
            }
        }
    }
    if show.detail {
        out.push_str("\n## Checks\n");
        for t in &book.trainees {
            let _ = writeln!(
                out,
                "\n### {} ({})\n\n| Lab | Check | Status | Points | Expected | Actual | Hint |\n|---|---|---|---:|---|---|---|",
                md(&t.trainee),
                md(&origin(t))
            );
            for g in &t.labs {
                for c in &g.checks {
                    let actual = c.actual.as_ref().or(c.message.as_ref());
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {}/{} | {} | {} | {} |",
                        g.lab,
                        md(&c.id),
                        c.status.label(),
                        c.score(),
                        c.possible,
                        md(c.expected.as_deref().unwrap_or("")),
                        md(actual.map(String::as_str).unwrap_or("")),
                        md(c.hint.as_deref().unwrap_or(""))
                    );
                }
            }
        }
    }
    if show.answers {
        out.push_str("\n## Answers\n");
        for l in &book.labs {
            for q in &l.questions {
                let _ = writeln!(
                    out,
                    "\n### {} `{}`\n\n{}\n\n| Who | Answer |\n|---|---|\n| *model answer* | {} |",
                    l.id,
                    q.id,
                    md(&q.prompt),
                    md(q.model_answer.as_deref().unwrap_or("(none given)"))
                );
                for t in &book.trainees {
                    let _ = writeln!(
                        out,
                        "| {} | {} |",
                        md(&t.trainee),
                        md(t.answers
                            .get(&q.id)
                            .map(|a| a.trim())
                            .unwrap_or("(no answer)"))
                    );
                }
            }
        }
    }
    out
}

/// The gradebook in the chosen format.
pub fn render(book: &Gradebook, format: crate::cli::Format, ui: &Ui, show: Show) -> String {
    match format {
        crate::cli::Format::Human => human(book, ui, show),
        crate::cli::Format::Json => json(book),
        crate::cli::Format::Csv => csv(book, show),
        crate::cli::Format::Junit => junit(book),
        crate::cli::Format::Markdown => markdown(book, show),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::LabGrade;
    use crate::loader::{load, Source};
    use crate::model::roster::ManualScore;
    use std::collections::BTreeMap;

    fn check(id: &str, status: Mark, points: i64, possible: i64) -> GradedCheck {
        GradedCheck {
            id: id.into(),
            exercise: "ex".into(),
            kind: "container".into(),
            description: format!("{id} holds"),
            status,
            expected: (status == Mark::Failed).then(|| "METRICS=on".into()),
            actual: (status != Mark::Passed && status != Mark::Unreachable)
                .then(|| "METRICS=off, \"quoted\"".into()),
            message: (status == Mark::Unreachable).then(|| {
                "Docker engine unreachable: tcp://10.0.0.9:2376: no answer within 3s".into()
            }),
            hint: (status == Mark::Failed).then(|| "set METRICS=on | recreate".into()),
            points,
            possible,
            manual: None,
        }
    }

    fn book() -> Gradebook {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grade-labs");
        let loaded = load(&[Source::Path(dir)]);
        let labs: Vec<&crate::model::LoadedLab> = loaded.labs.iter().collect();
        let mut graph = check("graph-described", Mark::Pending, 0, 2);
        graph.manual = Some(ManualScore {
            points: 2,
            comment: Some("clear, right".into()),
        });
        let alice = TraineeGrade {
            trainee: "alice".into(),
            origin: Origin::Roster,
            problems: vec![],
            rejected: false,
            labs: vec![
                LabGrade {
                    lab: "01-metrics".into(),
                    graded: true,
                    checks: vec![
                        check("app-running", Mark::Passed, 1, 1),
                        check("metrics-on", Mark::Failed, 0, 2),
                    ],
                },
                LabGrade {
                    lab: "02-answers".into(),
                    graded: true,
                    checks: vec![graph],
                },
            ],
            answers: BTreeMap::from([("graph".into(), "a flat line\nat 1".into())]),
        };
        let bob = TraineeGrade {
            trainee: "bob".into(),
            origin: Origin::Roster,
            problems: vec![
                "Docker engine unreachable: tcp://10.0.0.9:2376: no answer within 3s".into(),
            ],
            rejected: false,
            labs: vec![
                LabGrade {
                    lab: "01-metrics".into(),
                    graded: true,
                    checks: vec![check("app-running", Mark::Unreachable, 0, 1)],
                },
                LabGrade {
                    lab: "02-answers".into(),
                    graded: false,
                    checks: vec![],
                },
            ],
            answers: BTreeMap::new(),
        };
        let mallory = TraineeGrade {
            trainee: "mallory".into(),
            origin: Origin::Bundle {
                file: "mallory.json".into(),
            },
            problems: vec!["bundle mallory.json rejected: its signature does not match".into()],
            rejected: true,
            labs: vec![
                LabGrade {
                    lab: "01-metrics".into(),
                    graded: false,
                    checks: vec![],
                },
                LabGrade {
                    lab: "02-answers".into(),
                    graded: false,
                    checks: vec![],
                },
            ],
            answers: BTreeMap::new(),
        };
        Gradebook::new(&labs, vec![alice, bob, mallory])
    }

    const ALL: Show = Show {
        detail: true,
        answers: true,
    };

    #[test]
    fn human_gradebook() {
        insta::assert_snapshot!(human(&book(), &Ui::plain(), ALL));
    }

    #[test]
    fn csv_gradebook_totals_and_detail() {
        let b = book();
        insta::assert_snapshot!(format!("{}\n{}", csv(&b, Show::default()), csv(&b, ALL)));
    }

    #[test]
    fn json_gradebook() {
        insta::assert_snapshot!(json(&book()));
    }

    #[test]
    fn junit_gradebook() {
        insta::assert_snapshot!(junit(&book()));
    }

    #[test]
    fn markdown_gradebook() {
        insta::assert_snapshot!(markdown(&book(), ALL));
    }
}

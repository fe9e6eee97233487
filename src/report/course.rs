//! The course as a trainee reads it: the list of labs, a lab's page, and what
//! `lab start` says once the lab is ready.

use crate::model::LoadedLab;
use crate::report::{markdown, Ui};
use console::Style;
use serde::Serialize;
use serde_json::json;

/// One lab in `lab list`.
#[derive(Serialize)]
pub struct Row<'a> {
    pub number: u32,
    pub slug: &'a str,
    pub title: &'a str,
    pub summary: &'a str,
    pub exercises: usize,
    pub checks: usize,
    pub points: i64,
}

impl<'a> Row<'a> {
    pub fn of(l: &'a LoadedLab) -> Row<'a> {
        Row {
            number: l.lab.number,
            slug: &l.lab.slug,
            title: &l.lab.title,
            summary: &l.lab.summary,
            exercises: l.lab.exercises.len(),
            checks: l.lab.checks().count(),
            points: l.lab.possible_points(),
        }
    }
}

/// `lab list`: JSON, or one line per lab.
pub fn list(rows: &[Row], ui: &Ui) -> String {
    if ui.json {
        return serde_json::to_string_pretty(&rows).expect("rows serialize") + "\n";
    }
    let bold = ui.style(Style::new().bold());
    let dim = ui.style(Style::new().dim());
    let slug_w = rows.iter().map(|r| r.slug.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        out.push_str(&format!(
            "{:>3}  {:<slug_w$}  {}  {}\n",
            bold.apply_to(format!("{:02}", r.number)),
            r.slug,
            r.title,
            dim.apply_to(format!(
                "({}, {} points)",
                crate::text::count(r.checks, "check"),
                r.points
            )),
        ));
    }
    out
}

/// The terminal's width, 80 when it is not a terminal.
pub fn width() -> usize {
    console::Term::stdout()
        .size_checked()
        .map(|(_, w)| w as usize)
        .unwrap_or(80)
}

/// `lab show`: JSON, or the lab's instructions for a terminal `width` wide, then
/// its exercises with their checks, points and questions.
pub fn page(l: &LoadedLab, width: usize, ui: &Ui) -> String {
    let lab = &l.lab;
    if ui.json {
        let doc = json!({
            "id": lab.id(),
            "number": lab.number,
            "slug": lab.slug,
            "title": lab.title,
            "summary": lab.summary,
            "instructions": l.instructions,
            "points": lab.possible_points(),
            "exercises": lab.exercises.iter().map(|e| json!({
                "id": e.id,
                "title": e.title,
                "hints": e.hints,
                "checks": e.checks.iter().map(|c| json!({
                    "id": c.id, "kind": c.spec.kind(), "description": c.description, "points": c.points,
                })).collect::<Vec<_>>(),
                "questions": e.questions.iter().map(|q| json!({
                    "id": q.id, "prompt": q.prompt, "answer_type": q.answer_type,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        return serde_json::to_string_pretty(&doc).expect("json") + "\n";
    }
    let bold = ui.style(Style::new().bold());
    let dim = ui.style(Style::new().dim());
    let mut out = String::new();
    out.push_str(&format!(
        "{}\n{}\n\n",
        bold.apply_to(format!("Lab {:02}: {}", lab.number, lab.title)),
        dim.apply_to(&lab.summary)
    ));
    if !l.instructions.trim().is_empty() {
        out.push_str(&markdown::render(&l.instructions, width, ui));
        out.push('\n');
    }
    out.push_str(&format!("{}\n", bold.apply_to("Exercises")));
    for e in &lab.exercises {
        let pts: i64 = e.checks.iter().map(|c| c.points).sum();
        out.push_str(&format!(
            "\n  {} {}  {}\n",
            bold.apply_to(&e.id),
            e.title,
            dim.apply_to(format!(
                "({})",
                crate::text::count(pts.max(0) as usize, "point")
            ))
        ));
        for c in &e.checks {
            out.push_str(&format!(
                "    - {} {}\n",
                c.description,
                dim.apply_to(format!(
                    "[{}, {}]",
                    c.id,
                    crate::text::count(c.points.max(0) as usize, "point")
                ))
            ));
        }
        for q in &e.questions {
            out.push_str(&format!(
                "    ? {} {}\n",
                q.prompt,
                dim.apply_to(format!(
                    "(answer with: lab answer {} {} VALUE)",
                    lab.number, q.id
                ))
            ));
        }
    }
    out.push_str(&format!(
        "\n{}\n",
        dim.apply_to(format!("Check your work with: lab check {}", lab.number))
    ));
    out
}

/// What `lab start` prints once the lab is ready: its title, its instructions, the
/// URLs the trainee uses (`urls`: name and URL) and how to check the work.
pub fn started(lab: &LoadedLab, urls: &[(&str, String)], width: usize, ui: &Ui) -> String {
    let bold = ui.style(Style::new().bold());
    let mut out = format!(
        "{}\n\n",
        bold.apply_to(format!("Lab {:02}: {}", lab.lab.number, lab.lab.title))
    );
    out.push_str(&markdown::render(&lab.instructions, width, ui));
    out.push('\n');
    for (name, url) in urls {
        out.push_str(&format!(
            "{} {}\n",
            bold.apply_to(format!("{name:>12}")),
            crate::redact::url(url)
        ));
    }
    out.push_str(&format!(
        "\nWhen you are done: lab check {}\n",
        lab.lab.number
    ));
    out
}

//! `lab show N`: a lab's instructions rendered for the terminal, then its exercises,
//! checks with their points, and questions.

use crate::error::{exit, Result};
use crate::loader::{self, Loaded};
use crate::report::{markdown, Ui};
use console::Style;
use serde_json::json;

pub fn run(labs: &Loaded, query: &str, ui: &Ui) -> Result<i32> {
    let l = loader::find(&labs.labs, query)?;
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
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return Ok(exit::OK);
    }
    let width = console::Term::stdout()
        .size_checked()
        .map(|(_, w)| w as usize)
        .unwrap_or(80);
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
    print!("{out}");
    Ok(exit::OK)
}

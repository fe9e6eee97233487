//! `lab list`: the labs, one line each.

use crate::error::{exit, Result};
use crate::loader::Loaded;
use crate::report::Ui;
use serde::Serialize;

#[derive(Serialize)]
struct Row<'a> {
    number: u32,
    slug: &'a str,
    title: &'a str,
    summary: &'a str,
    exercises: usize,
    checks: usize,
    points: i64,
}

pub fn run(labs: &Loaded, ui: &Ui) -> Result<i32> {
    let rows: Vec<Row> = labs
        .labs
        .iter()
        .map(|l| Row {
            number: l.lab.number,
            slug: &l.lab.slug,
            title: &l.lab.title,
            summary: &l.lab.summary,
            exercises: l.lab.exercises.len(),
            checks: l.lab.checks().count(),
            points: l.lab.possible_points(),
        })
        .collect();
    if ui.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        );
        return Ok(exit::OK);
    }
    let bold = ui.style(console::Style::new().bold());
    let dim = ui.style(console::Style::new().dim());
    let slug_w = rows.iter().map(|r| r.slug.len()).max().unwrap_or(0);
    for r in &rows {
        println!(
            "{:>3}  {:<slug_w$}  {}  {}",
            bold.apply_to(format!("{:02}", r.number)),
            r.slug,
            r.title,
            dim.apply_to(format!(
                "({}, {} points)",
                crate::text::count(r.checks, "check"),
                r.points
            )),
        );
    }
    Ok(exit::OK)
}

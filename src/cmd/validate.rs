//! `lab validate`: every problem in the named labs, not just the first.

use crate::cli::Global;
use crate::error::{exit, Result};
use crate::loader::{self, Source};
use crate::report::Ui;
use serde::Serialize;

#[derive(Serialize)]
struct Problem<'a> {
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    path: &'a str,
    message: &'a str,
}

pub fn run(g: &Global, paths: &[std::path::PathBuf], ui: &Ui) -> Result<i32> {
    let sources: Vec<Source> = if paths.is_empty() {
        vec![super::sources(g)]
    } else {
        paths.iter().cloned().map(Source::Path).collect()
    };
    let loaded = loader::load(&sources);
    if ui.json {
        let problems: Vec<Problem> = loaded
            .problems
            .iter()
            .map(|d| Problem {
                file: &d.file,
                line: d.line,
                column: d.column,
                path: &d.path,
                message: &d.message,
            })
            .collect();
        let doc = serde_json::json!({
            "labs": loaded.labs.iter().map(|l| l.lab.id()).collect::<Vec<_>>(),
            "problems": problems,
        });
        ui.out(&(serde_json::to_string_pretty(&doc).expect("json") + "\n"));
    } else {
        ui.out(&crate::report::human::problems(&loaded.problems, ui));
        let n = loaded.problems.len();
        if n == 0 {
            ui.status(
                "Valid",
                &format!(
                    "{} ({})",
                    crate::text::count(loaded.labs.len(), "lab"),
                    loaded
                        .labs
                        .iter()
                        .map(|l| l.lab.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        } else {
            ui.failure(&format!("{} found", crate::text::count(n, "problem")));
        }
    }
    Ok(if loaded.problems.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    })
}

//! `lab doctor`'s report: one line per item with its hint, then a summary; or the
//! versioned JSON document.

use super::Ui;
use crate::model::doctor::{Item, Status};
use console::Style;
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    items: &'a [Item],
    ok: bool,
}

/// The report as text (`ui.json`: the JSON document).
pub fn doctor(items: &[Item], ui: &Ui) -> String {
    if ui.json {
        let report = Report {
            schema_version: super::json::SCHEMA_VERSION,
            items,
            ok: !items.iter().any(|i| i.status == Status::Fail),
        };
        return serde_json::to_string_pretty(&report).expect("items serialize") + "\n";
    }
    render_human(items, ui)
}

/// One line per item (problems only under `--quiet`), hints on their own lines, a summary.
pub fn render_human(items: &[Item], ui: &Ui) -> String {
    let width = items
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    let mark_width = if ui.color { 1 } else { 4 };
    let cyan = ui.style(Style::new().cyan().bold());
    let mut out = String::new();
    for i in items {
        if ui.quiet && i.status == Status::Ok {
            continue;
        }
        let mark = match (ui.color, i.status) {
            (true, Status::Ok) => ui
                .style(Style::new().green().bold())
                .apply_to("✓")
                .to_string(),
            (true, Status::Warn) => ui
                .style(Style::new().yellow().bold())
                .apply_to("!")
                .to_string(),
            (true, Status::Fail) => ui
                .style(Style::new().red().bold())
                .apply_to("✗")
                .to_string(),
            (true, Status::Skip) => ui.style(Style::new().dim()).apply_to("-").to_string(),
            (false, Status::Ok) => "OK  ".into(),
            (false, Status::Warn) => "WARN".into(),
            (false, Status::Fail) => "FAIL".into(),
            (false, Status::Skip) => "SKIP".into(),
        };
        let _ = writeln!(out, "{mark} {:<width$}  {}", i.name, i.detail);
        if let Some(h) = &i.hint {
            let _ = writeln!(
                out,
                "{:indent$}{} {h}",
                "",
                cyan.apply_to("hint:"),
                indent = mark_width + 1 + width + 2
            );
        }
    }
    let n = |s: Status| items.iter().filter(|i| i.status == s).count();
    let mut summary = format!("{} ok", n(Status::Ok));
    if n(Status::Warn) > 0 {
        summary.push_str(&format!(
            ", {}",
            crate::text::count(n(Status::Warn), "warning")
        ));
    }
    if n(Status::Fail) > 0 {
        summary.push_str(&format!(", {} failed", n(Status::Fail)));
    }
    if n(Status::Skip) > 0 {
        summary.push_str(&format!(", {} skipped", n(Status::Skip)));
    }
    let _ = writeln!(out, "\ndoctor: {summary}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    const SKIPPED_DOCKER: &str = "skipped: Docker unreachable";

    #[test]
    fn human_report_aligns_names_and_puts_hints_on_their_own_line() {
        let items = vec![
            Item::ok(
                "docker",
                "Docker 20.10.24 (API 1.41) at unix:///var/run/docker.sock",
            ),
            Item::warn("login docker.io", "not logged in", "docker login docker.io"),
            Item::fail("port 9090", "in use by nginx (pid 7)", "stop nginx"),
            Item::skip("image a:1", SKIPPED_DOCKER),
        ];
        let text = render_human(&items, &Ui::plain());
        let want = "\
OK   docker           Docker 20.10.24 (API 1.41) at unix:///var/run/docker.sock
WARN login docker.io  not logged in
                      hint: docker login docker.io
FAIL port 9090        in use by nginx (pid 7)
                      hint: stop nginx
SKIP image a:1        skipped: Docker unreachable

doctor: 1 ok, 1 warning, 1 failed, 1 skipped
";
        assert_eq!(text, want);
        let mut quiet = Ui::plain();
        quiet.quiet = true;
        assert!(!render_human(&items, &quiet).contains("OK   docker"));
    }

    #[test]
    fn json_items_carry_lowercase_statuses() {
        let items = [Item::warn("memory", "low", "close programs")];
        let ui = Ui {
            json: true,
            ..Ui::plain()
        };
        let v: serde_json::Value = serde_json::from_str(&doctor(&items, &ui)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"schema_version":1,"ok":true,"items":[
                {"name":"memory","status":"warn","detail":"low","hint":"close programs"}]})
        );
    }
}

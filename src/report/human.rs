//! Human output: a line per check with status, time, expected vs actual and the hint;
//! spinners for running checks when stderr is a terminal.

use super::Ui;
use crate::model::format_duration;
use crate::runner::{CheckResult, Event, Plan, Status, Summary};
use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

/// Listens to the engine. On a terminal it shows a spinner per running check and
/// prints each result as it lands; elsewhere it stays silent and the caller prints
/// the results in plan order, so logs and CI output are stable.
pub struct Live {
    ui: Ui,
    bars: Option<MultiProgress>,
    spinners: HashMap<usize, ProgressBar>,
    descriptions: Vec<String>,
}

impl Live {
    pub fn new(ui: &Ui, plan: &Plan) -> Live {
        let bars = (ui.interactive && !ui.json)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Live {
            ui: ui.clone(),
            bars,
            spinners: HashMap::new(),
            descriptions: plan
                .checks
                .iter()
                .map(|p| p.check.description.clone())
                .collect(),
        }
    }

    /// Whether results were already printed as they came.
    pub fn printed_live(&self) -> bool {
        self.bars.is_some()
    }

    pub fn handle(&mut self, ev: &Event) {
        let Some(bars) = &self.bars else { return };
        match ev {
            Event::Started { index } => {
                let pb = bars.add(ProgressBar::new_spinner());
                pb.set_style(
                    ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                        .expect("static template"),
                );
                pb.set_message(self.descriptions[*index].clone());
                pb.enable_steady_tick(Duration::from_millis(100));
                self.spinners.insert(*index, pb);
            }
            Event::Retrying {
                index,
                attempt,
                last,
            } => {
                if let Some(pb) = self.spinners.get(index) {
                    pb.set_message(format!(
                        "{} (attempt {}: {})",
                        self.descriptions[*index],
                        attempt + 1,
                        crate::text::clip(last, 60)
                    ));
                }
            }
            Event::Finished { index, result } => {
                if let Some(pb) = self.spinners.remove(index) {
                    pb.finish_and_clear();
                    bars.remove(&pb);
                }
                if !(self.ui.quiet && result.status == Status::Passed) {
                    // Results are what the user asked for: stdout, above the spinners.
                    let text = render_check(result, &self.ui);
                    bars.suspend(|| crate::redact::print(&text));
                }
            }
        }
    }
}

/// One check as text, ending in a newline.
pub fn render_check(r: &CheckResult, ui: &Ui) -> String {
    let style = match r.status {
        Status::Passed => Style::new().green().bold(),
        Status::Failed | Status::Error => Style::new().red().bold(),
        Status::Skipped => Style::new().yellow(),
        Status::Pending => Style::new().cyan(),
    };
    let dim = ui.style(Style::new().dim());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} {}",
        ui.style(style).apply_to(format!("{:>7}", r.status.label())),
        r.description,
        dim.apply_to(format!("[{}] {}", r.id, format_duration(r.duration)))
    );
    let show_detail = r.status != Status::Passed || ui.verbose > 0;
    let label = |name: &str| {
        ui.style(Style::new().bold())
            .apply_to(format!("{name:>16}"))
            .to_string()
    };
    if show_detail {
        if let Some(e) = &r.expected {
            let _ = writeln!(out, "{} {e}", label("expected:"));
        }
        if let Some(a) = &r.actual {
            if r.status != Status::Passed || ui.verbose > 0 {
                let _ = writeln!(out, "{} {a}", label("actual:"));
            }
        }
        if let Some(m) = &r.message {
            let _ = writeln!(out, "{} {m}", label("why:"));
        }
        if r.attempts > 1 {
            let _ = writeln!(out, "{} {}", label("attempts:"), r.attempts);
        }
    }
    if let Some(h) = &r.hint {
        let _ = writeln!(
            out,
            "{} {h}",
            ui.style(Style::new().cyan().bold())
                .apply_to(format!("{:>16}", "hint:"))
        );
    }
    out
}

/// The closing line: counts, points and time.
pub fn render_summary(lab: &str, s: &Summary, elapsed: Duration, ui: &Ui) -> String {
    let mut parts = vec![format!("{} passed", s.passed)];
    if s.failed > 0 {
        parts.push(format!("{} failed", s.failed));
    }
    if s.errors > 0 {
        parts.push(crate::text::count(s.errors, "error"));
    }
    for (n, word) in [(s.skipped, "skipped"), (s.pending, "pending")] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let verdict = if s.ok() {
        ui.style(Style::new().green().bold()).apply_to("passed")
    } else {
        ui.style(Style::new().red().bold()).apply_to("not passed")
    };
    format!(
        "\nlab {lab} {verdict}: {}; {}/{} points in {}\n",
        parts.join(", "),
        s.points,
        s.possible,
        format_duration(elapsed)
    )
}

/// Everything at once, in plan order (for non-terminals and snapshots).
pub fn render_all(results: &[CheckResult], ui: &Ui) -> String {
    results
        .iter()
        .filter(|r| !(ui.quiet && r.status == Status::Passed))
        .map(|r| render_check(r, ui))
        .collect()
}

/// Problems found in lab files (`lab validate`), one `error: file:line:column …` each.
pub fn problems(found: &[crate::error::Diagnostic], ui: &Ui) -> String {
    let red = ui.style(Style::new().red().bold());
    found
        .iter()
        .map(|d| format!("{} {d}\n", red.apply_to("error:")))
        .collect()
}

//! `lab trace`'s output: an image's timeline, the list of analyses (human, JSON or
//! CSV, written as each analysis ends so memory stays flat), and the summary.

use crate::analyzer_log::{Analysis, Outcome, Step};
use crate::model::format_duration;
use crate::report::Ui;
use crate::trace::summary::{Report, Times};
use console::Style;
use std::io::{self, Write};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Csv,
}

fn label(step: Step) -> &'static str {
    match step {
        Step::Dequeued => "dequeued",
        Step::Performing => "performing",
        Step::Analyzing => "analyzing",
        Step::Pulling => "pulling",
        Step::AnalysisDone => "analysed",
        Step::Complete => "complete",
        Step::Failed => "FAILED",
        Step::Other => "",
    }
}

fn human(d: f64) -> String {
    if !d.is_finite() || d < 0.0 {
        return format!("{d:.3}s");
    }
    format_duration(Duration::from_secs_f64(d))
}

/// One image's analysis, line by line.
pub fn timeline(a: &Analysis, ui: &Ui) -> String {
    let bold = ui.style(Style::new().bold());
    let dim = ui.style(Style::new().dim());
    let mut out = format!(
        "{} {} {}\n",
        bold.apply_to("Analysis of"),
        a.tag
            .as_deref()
            .or(a.pull_string.as_deref())
            .unwrap_or("an unknown image"),
        dim.apply_to(format!(
            "({}, {} on {})",
            a.digest.as_deref().map(short_digest).unwrap_or_default(),
            a.thread,
            a.analyzer_name()
        ))
    );
    let start = a
        .started
        .or(a.events.first().map(|e| e.time))
        .unwrap_or(0.0);
    for e in a
        .events
        .iter()
        .filter(|e| e.step != Step::Other || e.message.contains("image"))
    {
        out.push_str(&format!(
            "  {}  {:>9}  {:<10} {}\n",
            clock(&e.stamp),
            format!("+{:.3}s", e.time - start),
            label(e.step),
            crate::text::clip(&e.message, 100)
        ));
    }
    match (a.outcome, a.duration) {
        (Outcome::Complete, Some(d)) => out.push_str(&format!(
            "  took {d:.3}s ({}) from dequeue to analysis complete\n\n",
            human(d)
        )),
        (Outcome::Complete, None) => out.push_str(
            "  complete; its dequeue is before these logs start, so its duration is unknown\n\n",
        ),
        (Outcome::Failed, Some(d)) => {
            out.push_str(&format!("  failed after {d:.3}s ({})\n\n", human(d)))
        }
        (Outcome::Failed, None) => out.push_str("  failed\n\n"),
        _ => out.push_str("  not finished: no `analysis complete` or failure line yet\n\n"),
    }
    out
}

/// `12:59:13.476` out of `2024-08-18T12:59:13.476831+00:00`.
fn clock(stamp: &str) -> &str {
    stamp.get(11..23).or(stamp.get(11..19)).unwrap_or(stamp)
}

fn short_digest(d: &str) -> String {
    d.get(..19).unwrap_or(d).to_string()
}

/// `analyzer-1.log` out of `support/logs/analyzer-1.log` or `b.tgz:logs/analyzer-1.log`,
/// with the container prefix when there is one.
pub fn short_analyzer(a: &Analysis) -> String {
    let file = a
        .source
        .rsplit(['/', ':', '\\'])
        .next()
        .filter(|f| !f.is_empty())
        .unwrap_or(&a.source);
    if a.analyzer.is_empty() {
        file.to_string()
    } else {
        format!("{file} {}", a.analyzer)
    }
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Complete => "complete",
        Outcome::Failed => "failed",
        Outcome::Unfinished => "running",
    }
}

/// As in JSON.
fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Unfinished => "unfinished",
        o => outcome(o),
    }
}

fn csv_field(s: &str) -> String {
    // Neutralise spreadsheet formulas and quote as RFC 4180 says.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Writes the list of analyses as they come.
pub struct List<W: Write> {
    out: W,
    format: Format,
    ui: Ui,
    count: u64,
}

impl<W: Write> List<W> {
    pub fn new(out: W, format: Format, ui: &Ui) -> List<W> {
        List {
            out,
            format,
            ui: ui.clone(),
            count: 0,
        }
    }

    pub fn add(&mut self, a: &Analysis) -> io::Result<()> {
        let mut row = Vec::new();
        self.render(a, &mut row)?;
        self.add_row(&row)
    }

    /// One analysis's row as [`List::add_row`] takes it (no header, no separator).
    pub fn render(&self, a: &Analysis, row: &mut Vec<u8>) -> io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut *row, a).map_err(io::Error::other)?;
            }
            Format::Csv => {
                writeln!(
                    row,
                    "{},{},{},{},{},{},{},{},{}",
                    csv_field(a.dequeued_at.as_deref().unwrap_or("")),
                    csv_field(&a.source),
                    csv_field(&a.analyzer),
                    csv_field(&a.thread),
                    csv_field(a.digest.as_deref().unwrap_or("")),
                    csv_field(a.image()),
                    outcome_word(a.outcome),
                    a.duration.map(|d| format!("{d:.6}")).unwrap_or_default(),
                    csv_field(a.error.as_deref().unwrap_or("")),
                )?;
            }
            Format::Human => {
                let dequeued = a
                    .dequeued_at
                    .as_deref()
                    .map(|s| s.get(..23).or(s.get(..19)).unwrap_or(s).replace('T', " "))
                    .unwrap_or_else(|| "(before the logs)".into());
                let mut line = format!(
                    "{:<23}  {:<16}  {:<12}  {:<8}  {:>8}  {}",
                    dequeued,
                    crate::text::clip(&short_analyzer(a), 16),
                    crate::text::clip(&a.thread, 12),
                    outcome(a.outcome),
                    a.duration.map(human).unwrap_or_else(|| "-".into()),
                    a.image()
                );
                if let Some(e) = &a.error {
                    line.push_str("  ");
                    line.push_str(&crate::text::clip(e, 100));
                }
                writeln!(row, "{}", line.trim_end())?;
            }
        }
        Ok(())
    }

    /// Writes a row made by [`List::render`], after the header or separator it needs.
    pub fn add_row(&mut self, row: &[u8]) -> io::Result<()> {
        let first = self.count == 0;
        self.count += 1;
        match self.format {
            Format::Json => {
                if first {
                    writeln!(
                        self.out,
                        "{{\"schema_version\":1,\"image\":null,\"analyses\":["
                    )?;
                } else {
                    writeln!(self.out, ",")?;
                }
            }
            Format::Csv => {
                if first {
                    writeln!(self.out, "dequeued_at,source,analyzer,thread,digest,image,outcome,duration_seconds,error")?;
                }
            }
            Format::Human => {
                if first {
                    let bold = self.ui.style(Style::new().bold());
                    writeln!(
                        self.out,
                        "{}",
                        bold.apply_to(format!(
                            "{:<23}  {:<16}  {:<12}  {:<8}  {:>8}  {}",
                            "dequeued", "analyzer", "thread", "outcome", "duration", "image"
                        ))
                    )?;
                }
            }
        }
        self.out.write_all(row)
    }

    /// Closes the list; `found` is how many analyses the logs held before filtering.
    pub fn end(mut self, found: u64) -> io::Result<()> {
        match self.format {
            Format::Json => {
                if self.count == 0 {
                    write!(
                        self.out,
                        "{{\"schema_version\":1,\"image\":null,\"analyses\":["
                    )?;
                }
                writeln!(self.out, "],\"found\":{found}}}")?;
            }
            Format::Csv if self.count == 0 => {
                writeln!(self.out, "dequeued_at,source,analyzer,thread,digest,image,outcome,duration_seconds,error")?;
            }
            Format::Human if self.count == 0 => {
                if found == 0 {
                    writeln!(self.out, "no analyses found")?;
                } else {
                    writeln!(self.out, "no analyses match the filters ({found} found)")?;
                }
            }
            _ => {}
        }
        self.out.flush()
    }
}

/// The analysis-time figures in the order both summaries show them.
fn time_rows(t: &Times) -> [(&'static str, f64); 6] {
    [
        ("min", t.min),
        ("p50", t.p50),
        ("p90", t.p90),
        ("p99", t.p99),
        ("max", t.max),
        ("mean", t.mean),
    ]
}

fn secs(d: f64) -> String {
    format!("{} ({d:.3}s)", human(d))
}

/// The summary as a person reads it; `tty` draws bars and sparklines with block
/// characters, plain ASCII otherwise.
pub fn summary_text(r: &Report, tty: bool, ui: &Ui) -> String {
    let bold = ui.style(Style::new().bold());
    let mut o = String::new();
    let head = |o: &mut String, t: &str| {
        o.push_str(&format!("\n{}\n", bold.apply_to(t)));
    };
    o.push_str(&format!(
        "{} {} ({} complete, {} failed, {} unfinished)\n",
        bold.apply_to("Analyses:"),
        r.analyses,
        r.complete,
        r.failed,
        r.unfinished
    ));
    if r.complete_without_dequeue > 0 {
        o.push_str(&format!(
            "  {} completed analyses have no duration: their dequeue is before the logs start\n",
            r.complete_without_dequeue
        ));
    }
    if let Some(t) = &r.analysis_time {
        head(
            &mut o,
            &format!(
                "Analysis time, dequeue to analysis complete ({} completed{}):",
                r.prometheus.success_count,
                if r.percentiles_exact {
                    ""
                } else {
                    "; percentiles within 0.1%"
                }
            ),
        );
        for (k, v) in time_rows(t) {
            o.push_str(&format!("  {k:<5} {}\n", secs(v)));
        }
    }
    let p = &r.prometheus;
    head(
        &mut o,
        "As Prometheus counts them (anchore_analysis_time_seconds, dequeue to end):",
    );
    o.push_str(&format!(
        "  status=\"success\"  _sum {:.3}  _count {}\n  status=\"fail\"     _sum {:.3}  _count {}\n",
        p.success_sum, p.success_count, p.fail_sum, p.fail_count
    ));
    if let Some(m) = p.mean {
        o.push_str(&format!(
            "  sum(anchore_analysis_time_seconds_sum) / sum(anchore_analysis_time_seconds_count) = {m:.3}s\n  (Prometheus counts from each analyzer's start; these logs may cover another span)\n"
        ));
    }
    if !r.slowest.is_empty() {
        head(&mut o, "Slowest images:");
        for s in &r.slowest {
            o.push_str(&format!(
                "  {:>8}  {}  ({} on {}, dequeued {})\n",
                human(s.seconds),
                s.image,
                s.thread,
                s.analyzer,
                s.dequeued_at.as_deref().unwrap_or("?")
            ));
        }
    }
    if !r.failures.is_empty() {
        head(&mut o, "Failures by message:");
        for f in &r.failures {
            let eg = if f.example_image.is_empty() {
                String::new()
            } else {
                format!("  (e.g. {})", f.example_image)
            };
            o.push_str(&format!("  {:>6}  {}{eg}\n", f.count, f.message));
        }
    }
    if !r.per_hour.is_empty() {
        head(&mut o, "Per hour (UTC, by dequeue):");
        o.push_str(&format!(
            "  {:<18} {:>9} {:>9} {:>7} {:>11}\n",
            "hour", "analyses", "complete", "failed", "unfinished"
        ));
        let rows = &r.per_hour;
        let shown: Vec<_> = if rows.len() > 48 {
            rows.iter()
                .take(24)
                .chain(rows.iter().skip(rows.len() - 24))
                .collect()
        } else {
            rows.iter().collect()
        };
        for (i, h) in shown.iter().enumerate() {
            if rows.len() > 48 && i == 24 {
                o.push_str(&format!(
                    "  … {} hours more (all of them in --format json|csv)\n",
                    rows.len() - 48
                ));
            }
            let c = h.counts;
            o.push_str(&format!(
                "  {:<18} {:>9} {:>9} {:>7} {:>11}\n",
                h.hour, c.analyses, c.complete, c.failed, c.unfinished
            ));
        }
    }
    if !r.per_analyzer.is_empty() {
        head(&mut o, "Per analyzer:");
        for a in &r.per_analyzer {
            let c = a.counts;
            o.push_str(&format!(
                "  {}\n    {} analyses, {} complete, {} failed, {} unfinished{}\n",
                a.analyzer,
                c.analyses,
                c.complete,
                c.failed,
                c.unfinished,
                a.mean_seconds
                    .map(|m| format!(", mean {}", human(m)))
                    .unwrap_or_default()
            ));
        }
    }
    if p.success_count > 0 {
        head(
            &mut o,
            "Analysis time histogram (completed analyses, anchore_analysis_time_seconds buckets):",
        );
        let max = r
            .histogram
            .iter()
            .map(|b| b.count)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut lower = 0.0;
        for b in &r.histogram {
            let range = match b.le {
                Some(le) => format!("{}-{}", human(lower), human(le)),
                None => format!("> {}", human(lower)),
            };
            let width = ((b.count as f64 / max as f64) * 40.0).round() as usize;
            let bar = if tty { "█" } else { "#" }.repeat(width);
            o.push_str(&format!("  {range:>12} | {bar:<40} {}\n", b.count));
            lower = b.le.unwrap_or(lower);
        }
    }
    if let Some(start) = r.timeline_start {
        let peak = r
            .per_analyzer
            .iter()
            .flat_map(|a| a.running.iter())
            .fold(0.0f64, |m, v| m.max(*v));
        let cols = r.per_analyzer.first().map_or(0, |a| a.running.len());
        head(
            &mut o,
            &format!(
                "Analyses running over time (mean per column of {}, from {} UTC; full scale = {:.1}):",
                human(r.timeline_step),
                stamp_utc(start),
                peak
            ),
        );
        let ramp: Vec<char> = if tty {
            " ▁▂▃▄▅▆▇█".chars().collect()
        } else {
            " .:-=+*#%@".chars().collect()
        };
        for a in &r.per_analyzer {
            let line: String = a
                .running
                .iter()
                .map(|v| {
                    if *v <= 0.0 || peak <= 0.0 {
                        ramp[0]
                    } else {
                        let i = ((v / peak) * (ramp.len() - 1) as f64).ceil() as usize;
                        ramp[i.clamp(1, ramp.len() - 1)]
                    }
                })
                .collect();
            let most = a.running.iter().fold(0.0f64, |m, v| m.max(*v));
            o.push_str(&format!(
                "  |{line}| max {most:.1}  {}\n",
                crate::text::clip(&a.analyzer, 60)
            ));
        }
        let _ = cols;
        o.push_str(&format!(
            "   to {} UTC\n",
            stamp_utc(start + r.timeline_step * cols as f64)
        ));
    }
    o
}

/// `2024-08-18 12:59` (UTC) for seconds since the epoch.
fn stamp_utc(t: f64) -> String {
    let h = (t / 3600.0).floor() as i64;
    let label = crate::trace::summary::hour_label(h);
    let minute = ((t - h as f64 * 3600.0) / 60.0).floor() as i64;
    format!("{} {}:{minute:02}", &label[..10], &label[11..13])
}

/// The summary as CSV rows: `section,name,analyses,complete,failed,unfinished,seconds`.
pub fn summary_csv(r: &Report) -> String {
    let mut o = String::from("section,name,analyses,complete,failed,unfinished,seconds\n");
    let mut row = |section: &str, name: &str, c: Option<(u64, u64, u64, u64)>, s: Option<f64>| {
        let (a, co, f, u) = c
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
            .unwrap_or_default();
        o.push_str(&format!(
            "{section},{},{a},{co},{f},{u},{}\n",
            csv_field(name),
            s.map(|s| format!("{s:.6}")).unwrap_or_default()
        ));
    };
    row(
        "total",
        "",
        Some((r.analyses, r.complete, r.failed, r.unfinished)),
        None,
    );
    if let Some(t) = &r.analysis_time {
        for (k, v) in time_rows(t) {
            row("analysis_time", k, None, Some(v));
        }
    }
    let p = &r.prometheus;
    row("prometheus", "success_sum", None, Some(p.success_sum));
    row(
        "prometheus",
        "success_count",
        Some((p.success_count, p.success_count, 0, 0)),
        None,
    );
    row("prometheus", "fail_sum", None, Some(p.fail_sum));
    row(
        "prometheus",
        "fail_count",
        Some((p.fail_count, 0, p.fail_count, 0)),
        None,
    );
    if let Some(m) = p.mean {
        row("prometheus", "sum_over_count", None, Some(m));
    }
    for s in &r.slowest {
        row("slowest", &s.image, None, Some(s.seconds));
    }
    for f in &r.failures {
        row("failure", &f.message, Some((f.count, 0, f.count, 0)), None);
    }
    for h in &r.per_hour {
        let c = h.counts;
        row(
            "hour",
            &h.hour,
            Some((c.analyses, c.complete, c.failed, c.unfinished)),
            None,
        );
    }
    for a in &r.per_analyzer {
        let c = a.counts;
        row(
            "analyzer",
            &a.analyzer,
            Some((c.analyses, c.complete, c.failed, c.unfinished)),
            a.mean_seconds,
        );
    }
    for b in &r.histogram {
        let name =
            b.le.map(|l| format!("le={l}"))
                .unwrap_or_else(|| "le=+Inf".into());
        row("histogram", &name, Some((b.count, b.count, 0, 0)), None);
    }
    o
}

//! `lab trace [IMAGE]`: follows analyses through the analyzer's logs (the
//! environment's containers, or files, folders and bundles from a support bundle):
//! an image's timeline, every analysis, or `--summary`'s figures.

use crate::analyzer_log::{self, Analysis};
use crate::cli::TraceArgs;
use crate::error::{exit, Error, Result};
use crate::report::trace::{self as out, Format};
use crate::report::Ui;
use crate::session::Session;
use crate::trace::scan::{self, Mode, Stats};
use crate::trace::summary::Summary;
use crate::trace::Filter;
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

/// Analyses of one image kept for its timeline.
const MAX_TIMELINES: usize = 1_000;

#[derive(Serialize)]
struct Timelines<'a> {
    schema_version: u32,
    image: Option<&'a str>,
    analyses: &'a [Analysis],
    /// `anchore_analysis_time_seconds_sum / _count` from Prometheus, when it answered.
    prometheus_mean_seconds: Option<f64>,
    /// With an image, read from the environment: the log lines, the image's events and what
    /// Prometheus recorded meanwhile, on one time axis, each entry with its source.
    #[serde(skip_serializing_if = "Option::is_none")]
    signals: Option<crate::trace_signals::Joined>,
}

pub async fn run(args: TraceArgs, csv: bool, ui: &Ui) -> Result<i32> {
    let filter = filter(&args)?;
    let format = if csv {
        Format::Csv
    } else if ui.json {
        Format::Json
    } else {
        Format::Human
    };
    if csv && args.image.is_some() {
        return Err(Error::Usage(
            "`--format csv` is for the list and the summary; for an image's timeline use `--format human` or `json`, or list it with `--image IMAGE`".into(),
        ));
    }
    // Built once: to read the containers' logs (then it must open) or to ask the
    // environment's servers (optional with log files).
    let session = match super::prelude::open(&args.target) {
        Ok(s) => Some(s),
        Err(e) if args.log.is_empty() => return Err(e),
        Err(_) => None,
    };
    let containers = match &session {
        Some(s) if args.log.is_empty() => Some(from_containers(&args, s).await?),
        _ => None,
    };
    let mode = if args.image.is_some() {
        Mode::Every
    } else {
        Mode::Key
    };
    // Every analysis found goes through `sink`, in the order the logs end them.
    let read = |sink: &mut dyn FnMut(Analysis)| -> Result<Stats> {
        match &containers {
            Some(lines) => {
                analyzer_log::analyses(lines.iter().map(|(s, l)| (s.as_str(), l.as_str())))
                    .into_iter()
                    .for_each(sink);
                Ok(Stats::default())
            }
            None => scan::run(&args.log, mode, sink),
        }
    };
    let mut found = 0u64;
    let stats;
    if let Some(img) = &args.image {
        let mut kept: Vec<Analysis> = Vec::new();
        stats = read(&mut |a| {
            found += 1;
            if kept.len() < MAX_TIMELINES && analyzer_log::is_of(&a, img) && filter.keeps(&a) {
                kept.push(a);
            }
        })?;
        warn(&stats, ui);
        if kept.is_empty() {
            let where_ = if containers.is_some() {
                "the analyzer containers' logs"
            } else {
                "the given logs"
            };
            return Err(Error::Usage(format!(
                "no analysis of {img} in {where_} ({found} analyses found); check the tag or digest, the filters, or that the image was added"
            )));
        }
        let mean = if containers.is_some() {
            prometheus_mean(session.as_ref()).await
        } else {
            None
        };
        // From the containers, the environment's API and Prometheus are there to ask; with
        // log files (a support bundle), only when an Anchore or Prometheus URL is given.
        let asked = args.target.anchore_url.is_some() || args.target.prometheus_url.is_some();
        let signals = if containers.is_some() || asked {
            let chosen: Vec<&Analysis> = kept.iter().collect();
            signals(session.as_ref(), img, &chosen).await
        } else {
            None
        };
        if format == Format::Json {
            let report = Timelines {
                schema_version: 1,
                image: Some(img),
                analyses: &kept,
                prometheus_mean_seconds: mean,
                signals,
            };
            ui.out(&(serde_json::to_string_pretty(&report).expect("trace serializes") + "\n"));
        } else {
            let mut text: String = kept.iter().map(|a| out::timeline(a, ui)).collect();
            if let Some(m) = mean {
                text.push_str(&format!(
                    "Prometheus: anchore_analysis_time_seconds_sum / _count = {m:.3}s (the mean of every analysis since the analyzer started)\n"
                ));
            }
            if let Some(j) = &signals {
                text.push_str(&format!("\n{}", crate::trace_signals::render(j)));
            }
            ui.out(&text);
        }
    } else if args.summary {
        let mut summary = Summary::new();
        stats = read(&mut |a| {
            found += 1;
            if filter.keeps(&a) {
                summary.add(&a);
            }
        })?;
        warn(&stats, ui);
        let tty = console::Term::stdout().is_term();
        let columns = if tty {
            (console::Term::stdout().size().1 as usize)
                .saturating_sub(30)
                .clamp(20, 120)
        } else {
            60
        };
        let report = summary.report(columns);
        ui.out(&match format {
            Format::Json => {
                serde_json::to_string_pretty(&serde_json::json!({
                    "schema_version": 1,
                    "found": found,
                    "summary": report,
                }))
                .expect("summary serializes")
                    + "\n"
            }
            Format::Csv => out::summary_csv(&report),
            Format::Human => out::summary_text(&report, tty, ui),
        });
        closing(&stats, found, ui);
    } else {
        let stdout = std::io::stdout();
        let mut list = out::List::new(std::io::BufWriter::new(stdout.lock()), format, ui);
        // Each log's analyses come in dequeue order of their own; the rows of all of
        // them are sorted by dequeue in bounded memory (a temporary file past 8 MB).
        let mut sorter = crate::trace::order::Sorter::default();
        let mut row = Vec::new();
        let mut failed: Option<std::io::Error> = None;
        stats = read(&mut |a| {
            found += 1;
            if failed.is_none() && filter.keeps(&a) {
                row.clear();
                failed = list
                    .render(&a, &mut row)
                    .and_then(|()| sorter.push(analyzer_log::order_key(&a), &row))
                    .err();
            }
        })?;
        warn(&stats, ui);
        if failed.is_none() {
            failed = sorter.drain(&mut |r| list.add_row(r)).err();
        }
        match failed {
            // A closed pipe (`lab trace --log x | head`) is not an error.
            Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
            Some(e) => return Err(Error::Usage(format!("cannot write the list: {e}"))),
            None => {}
        }
        match list.end(found) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(Error::Usage(format!("cannot write the list: {e}")))
            }
            _ => {}
        }
        closing(&stats, found, ui);
    }
    Ok(exit::OK)
}

fn filter(args: &TraceArgs) -> Result<Filter> {
    let when = |flag: &str, v: &Option<String>| -> Result<Option<f64>> {
        v.as_deref()
            .map(|s| {
                crate::trace::parse_when(s).ok_or_else(|| {
                    Error::Usage(format!(
                        "{flag} {s}: not a time; write it as 2024-08-18T12:00:00+02:00, 2024-08-18 12:00 or 2024-08-18 (UTC unless an offset is given)"
                    ))
                })
            })
            .transpose()
    };
    let slower_than = args
        .slower_than
        .as_deref()
        .map(|s| {
            crate::model::parse_duration(s)
                .map(|d| d.as_secs_f64())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--slower-than {s}: not a duration; write it as 90s, 2m or 1h30m"
                    ))
                })
        })
        .transpose()?;
    Ok(Filter {
        since: when("--since", &args.since)?,
        until: when("--until", &args.until)?,
        images: args.images.clone(),
        failed: args.failed,
        slower_than,
    })
}

/// Inputs that could not be read are said on stderr; what could be read is used.
fn warn(stats: &Stats, ui: &Ui) {
    for w in &stats.warnings {
        ui.warn(&crate::text::clip(w, 300));
    }
}

/// What was read, on stderr (stdout stays the list or the summary).
fn closing(stats: &Stats, found: u64, ui: &Ui) {
    if ui.quiet || stats.logs.is_empty() {
        return;
    }
    let _ = std::io::stdout().flush();
    ui.note(&read_note(stats, found));
    if found == 0 && stats.skipped > 0 {
        ui.note(
            "hint: a file is taken for an analyzer log when its first MB names the analyzer (`service:analyzer`, `process_analyzer_job`, `image dequeued for analysis`); name a log file itself with --log to read it whatever it holds"
        );
    }
}

/// `1350 analyses in 2 analyzer logs (1.8 MB); 1 file that is not an analyzer log skipped`.
fn read_note(stats: &Stats, found: u64) -> String {
    let skipped = match stats.skipped {
        0 => String::new(),
        1 => "; 1 file that is not an analyzer log skipped".to_string(),
        n => format!(
            "; {} that are not analyzer logs skipped",
            crate::text::count(n, "file")
        ),
    };
    format!(
        "{} in {} ({:.1} MB){skipped}",
        if found == 1 {
            "1 analysis".to_string()
        } else {
            format!("{found} analyses")
        },
        crate::text::count(stats.logs.len(), "analyzer log"),
        stats.bytes as f64 / 1e6
    )
}

async fn from_containers(args: &TraceArgs, session: &Session) -> Result<Vec<(String, String)>> {
    let target = session.target()?;
    let services = if args.service.is_empty() {
        let compose = std::fs::read_to_string(&target.compose_file)
            .ok()
            .and_then(|t| crate::loader::yaml_value(&t).ok())
            .unwrap_or_default();
        let found: Vec<String> = compose["services"]
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| k.contains("analyzer"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if found.is_empty() {
            vec!["analyzer".to_string()]
        } else {
            found
        }
    } else {
        args.service.clone()
    };
    session.docker().await?;
    let ctx = session.ctx(Duration::from_secs(60), true).await?;
    let mut lines = Vec::new();
    for s in &services {
        lines.extend(
            crate::probe::logs::service_logs(&ctx, s, None)
                .await
                .map_err(Error::Usage)?,
        );
    }
    Ok(lines)
}

/// The image's log lines joined with its events and Prometheus's record (each source that does
/// not answer within a few seconds is named, not fatal).
async fn signals(
    session: Option<&Session>,
    image: &str,
    chosen: &[&Analysis],
) -> Option<crate::trace_signals::Joined> {
    let ctx = session?.ctx(Duration::from_secs(5), false).await.ok()?;
    Some(crate::trace_signals::join(&ctx, image, chosen).await)
}

async fn prometheus_mean(session: Option<&Session>) -> Option<f64> {
    let ctx = session?.ctx(Duration::from_secs(3), false).await.ok()?;
    crate::probe::prometheus::first_value(
        &ctx,
        "sum(anchore_analysis_time_seconds_sum) / sum(anchore_analysis_time_seconds_count)",
    )
    .await
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(logs: usize, skipped: usize) -> Stats {
        Stats {
            logs: (0..logs).map(|i| format!("log-{i}")).collect(),
            skipped,
            bytes: 1_800_000,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_closing_note_agrees_in_number() {
        assert_eq!(
            read_note(&stats(2, 1), 1350),
            "1350 analyses in 2 analyzer logs (1.8 MB); 1 file that is not an analyzer log skipped"
        );
        assert_eq!(
            read_note(&stats(1, 3), 1),
            "1 analysis in 1 analyzer log (1.8 MB); 3 files that are not analyzer logs skipped"
        );
        assert_eq!(
            read_note(&stats(3, 0), 0),
            "0 analyses in 3 analyzer logs (1.8 MB)"
        );
    }
}

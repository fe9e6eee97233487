//! `lab trace [IMAGE]`: follows an image's analysis through the analyzer's logs
//! (the containers of the environment, or log files from a support bundle) and
//! prints its timeline and duration; with no image, lists every analysis.

use crate::analyzer_log::{self, Analysis, Outcome, Step};
use crate::cli::TraceArgs;
use crate::error::{exit, Error, Result};
use crate::model::format_duration;
use crate::probe::Ctx;
use crate::report::Ui;
use console::Style;
use serde::Serialize;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    image: Option<&'a str>,
    analyses: Vec<&'a Analysis>,
    /// `anchore_analysis_time_seconds_sum / _count` from Prometheus, when it answered.
    prometheus_mean_seconds: Option<f64>,
    /// With an image, read from the environment: the log lines, the image's events and what
    /// Prometheus recorded meanwhile, on one time axis, each entry with its source.
    #[serde(skip_serializing_if = "Option::is_none")]
    signals: Option<crate::trace_signals::Joined>,
}

pub async fn run(args: TraceArgs, ui: &Ui) -> Result<i32> {
    let lines = if args.log.is_empty() {
        from_containers(&args).await?
    } else {
        from_files(&args.log)?
    };
    let all = analyzer_log::analyses(lines.iter().map(|(s, l)| (s.as_str(), l.as_str())));
    let chosen: Vec<&Analysis> = match &args.image {
        Some(img) => all.iter().filter(|a| analyzer_log::is_of(a, img)).collect(),
        None => all.iter().collect(),
    };
    if let (Some(img), true) = (&args.image, chosen.is_empty()) {
        let where_ = if args.log.is_empty() {
            "the analyzer containers' logs"
        } else {
            "the given logs"
        };
        return Err(Error::Usage(format!(
            "no analysis of {img} in {where_} ({} analyses found); check the tag or digest, or that the image was added",
            all.len()
        )));
    }
    let mean = if args.image.is_some() && args.log.is_empty() {
        prometheus_mean(&args).await
    } else {
        None
    };
    // From the containers, the environment's API and Prometheus are there to ask; with log
    // files (a support bundle), only when an Anchore or Prometheus URL is given.
    let asked = args.target.anchore_url.is_some() || args.target.prometheus_url.is_some();
    let signals = match &args.image {
        Some(img) if args.log.is_empty() || asked => signals(&args, img, &chosen).await,
        _ => None,
    };
    if ui.json {
        let report = Report {
            schema_version: 1,
            image: args.image.as_deref(),
            analyses: chosen,
            prometheus_mean_seconds: mean,
            signals,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("trace serializes")
        );
    } else if args.image.is_some() {
        for a in &chosen {
            print!("{}", timeline(a, ui));
        }
        if let Some(m) = mean {
            println!(
                "Prometheus: anchore_analysis_time_seconds_sum / _count = {:.3}s (the mean of every analysis since the analyzer started)",
                m
            );
        }
        if let Some(j) = &signals {
            print!("\n{}", crate::trace_signals::render(j));
        }
    } else {
        print!("{}", table(&chosen, ui));
    }
    Ok(exit::OK)
}

async fn from_containers(args: &TraceArgs) -> Result<Vec<(String, String)>> {
    let target = super::check::target(&args.target)?;
    let docker = crate::docker::connect()
        .await
        .map_err(|reason| Error::DockerUnreachable {
            host: crate::docker::host(),
            reason,
        })?;
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
    let ctx = Ctx {
        target: Arc::new(target),
        http: crate::runner::http_client(),
        docker: Arc::new(Ok(docker)),
        deadline: Instant::now() + Duration::from_secs(60),
    };
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

fn from_files(paths: &[std::path::PathBuf]) -> Result<Vec<(String, String)>> {
    let mut lines = Vec::new();
    for p in paths {
        let (name, text) = if p.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|source| Error::Read {
                    path: "standard input".into(),
                    source,
                })?;
            ("stdin".to_string(), s)
        } else {
            let bytes = std::fs::read(p).map_err(|source| Error::Read {
                path: p.display().to_string(),
                source,
            })?;
            (
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        };
        lines.extend(text.lines().map(|l| (name.clone(), l.to_string())));
    }
    Ok(lines)
}

/// The image's log lines joined with its events and Prometheus's record (each source that does
/// not answer within a few seconds is named, not fatal).
async fn signals(
    args: &TraceArgs,
    image: &str,
    chosen: &[&Analysis],
) -> Option<crate::trace_signals::Joined> {
    let target = super::check::target(&args.target).ok()?;
    let ctx = Ctx {
        target: Arc::new(target),
        http: crate::runner::http_client(),
        docker: Arc::new(Err("not needed".into())),
        deadline: Instant::now() + Duration::from_secs(5),
    };
    Some(crate::trace_signals::join(&ctx, image, chosen).await)
}

async fn prometheus_mean(args: &TraceArgs) -> Option<f64> {
    let target = super::check::target(&args.target).ok()?;
    let ctx = Ctx {
        target: Arc::new(target),
        http: crate::runner::http_client(),
        docker: Arc::new(Err("not needed".into())),
        deadline: Instant::now() + Duration::from_secs(3),
    };
    crate::probe::prometheus::first_value(
        &ctx,
        "sum(anchore_analysis_time_seconds_sum) / sum(anchore_analysis_time_seconds_count)",
    )
    .await
    .ok()
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

fn timeline(a: &Analysis, ui: &Ui) -> String {
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
            a.source
        ))
    );
    let start = a.events.first().map(|e| e.time).unwrap_or(0.0);
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
            format_duration(Duration::from_secs_f64(d))
        )),
        (Outcome::Failed, Some(d)) => out.push_str(&format!(
            "  failed after {d:.3}s ({})\n\n",
            format_duration(Duration::from_secs_f64(d))
        )),
        _ => out.push_str("  not finished: no `analysis complete` or failure line yet\n\n"),
    }
    out
}

/// `12:59:13.476` out of `2024-08-18T12:59:13.476831+00:00`.
fn clock(stamp: &str) -> String {
    stamp.get(11..23).unwrap_or(stamp).to_string()
}

fn short_digest(d: &str) -> String {
    d.get(..19).unwrap_or(d).to_string()
}

fn table(all: &[&Analysis], ui: &Ui) -> String {
    if all.is_empty() {
        return "no analyses found\n".into();
    }
    let bold = ui.style(Style::new().bold());
    let mut out = format!(
        "{}\n",
        bold.apply_to(format!(
            "{:<23}  {:<12}  {:<10}  {:>10}  {}",
            "dequeued", "thread", "outcome", "duration", "image"
        ))
    );
    for a in all {
        let outcome = match a.outcome {
            Outcome::Complete => "complete",
            Outcome::Failed => "failed",
            Outcome::Unfinished => "running",
        };
        let duration = a
            .duration
            .map(|d| format_duration(Duration::from_secs_f64(d)))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<23}  {:<12}  {:<10}  {:>10}  {}\n",
            a.events
                .first()
                .map(|e| e.stamp.get(..23).unwrap_or(&e.stamp).replace('T', " "))
                .unwrap_or_default(),
            a.thread,
            outcome,
            duration,
            a.tag.as_deref().or(a.digest.as_deref()).unwrap_or("?")
        ));
    }
    out
}

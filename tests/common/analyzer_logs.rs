//! Generated analyzer logs with known answers, for `lab trace`'s tests and benchmark:
//! each analysis's digest, outcome and duration is known before `lab` reads the lines.
//! The line shapes are the course's (FACTS.md section 8): the Enterprise v5 format and
//! the open-source engine's, with the messages of a real analysis in between.
#![allow(dead_code)]

use std::fmt::Write as _;

/// One analysis as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub digest: String,
    pub tag: String,
    /// `complete`, `failed` or `unfinished`
    pub outcome: &'static str,
    /// Seconds, `None` while running.
    pub duration: Option<f64>,
}

/// How one analyzer writes.
#[derive(Debug, Clone)]
pub struct Analyzer {
    /// Mixes the digests and durations.
    pub seed: u64,
    /// `analyzer-1  | ` for `docker compose logs`, or empty.
    pub prefix: String,
    /// Minutes east of UTC in the stamps.
    pub offset_minutes: i64,
    /// The open-source engine's format (whole seconds) instead of Enterprise's.
    pub engine: bool,
    /// Seconds after `base` of the first dequeue on each thread.
    pub lag: f64,
    pub threads: usize,
    pub analyses: usize,
    /// Every tenth analysis fails (an analysis whose thread name another analyzer
    /// reuses in the same file can only fail when it is the newer one).
    pub failures: bool,
    /// The last analysis never finishes.
    pub last_unfinished: bool,
    /// Lines between the steps that no step reads (pulls, catalog, policy engine).
    pub noise: usize,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            seed: 1,
            prefix: String::new(),
            offset_minutes: 0,
            engine: false,
            lag: 0.0,
            threads: 3,
            analyses: 30,
            failures: false,
            last_unfinished: false,
            noise: 4,
        }
    }
}

/// 2024-08-18T12:00:00Z
pub const BASE: f64 = 1_723_982_400.0;
/// Seconds between two dequeues on one thread.
pub const SLOT: f64 = 200.0;

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

/// The stamp of `t` (seconds since the epoch) as this analyzer writes it.
pub fn stamp(a: &Analyzer, t: f64) -> String {
    let local = t + (a.offset_minutes * 60) as f64;
    let secs = local.floor() as i64;
    let micros = ((local - secs as f64) * 1e6).round() as i64;
    let (y, m, d) = lab::model::time::civil_from_days(secs.div_euclid(86400));
    let s = secs.rem_euclid(86400);
    let (h, mi, se) = (s / 3600, s / 60 % 60, s % 60);
    let off = a.offset_minutes.abs();
    let sign = if a.offset_minutes < 0 { '-' } else { '+' };
    if a.engine {
        format!(
            "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{se:02}{sign}{:02}{:02}",
            off / 60,
            off % 60
        )
    } else {
        format!(
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}.{micros:06}{sign}{:02}:{:02}",
            off / 60,
            off % 60
        )
    }
}

fn line(a: &Analyzer, t: f64, thread: &str, level: &str, func: &str, msg: &str) -> String {
    if a.engine {
        format!(
            "{}[service:analyzer] {} [-] [{thread}] [anchore_engine.services.analyzer.analysis/{func}()] [{level}] {msg}",
            a.prefix,
            stamp(a, t)
        )
    } else {
        format!(
            "{}[service:anchore-enterprise-analyzer] [{}] [MainProcess] [{thread}] [{level}] [anchore_enterprise.services.analyzer.analysis/{func}():415] | {msg}",
            a.prefix,
            stamp(a, t)
        )
    }
}

/// Appends the analyzer's lines, as (time, line), and what they hold.
pub fn analyzer(a: &Analyzer, base: f64, out: &mut Vec<(f64, String)>, expect: &mut Vec<Expected>) {
    for k in 0..a.analyses {
        let h = mix(a.seed * 1_000_003 + k as u64);
        let digest = format!(
            "sha256:{:016x}{:016x}{:016x}{:016x}",
            h,
            mix(h),
            mix(h + 1),
            mix(h + 2)
        );
        let tag = format!("docker.io/library/img-{}-{k}:{}", a.seed, h % 7);
        let thread = format!("Thread-{}", k % a.threads + 1);
        let mut start =
            base + a.lag + (k / a.threads) as f64 * SLOT + (k % a.threads) as f64 * 0.25;
        let mut dur = 40.0 + (h % 130_000) as f64 / 1000.0;
        if a.engine {
            start = start.round();
            dur = dur.round();
        }
        let failed = a.failures && h % 10 == 0;
        let unfinished = a.last_unfinished && k + 1 == a.analyses;
        let pull = format!("{}@{digest}", tag.rsplit_once(':').unwrap().0);
        let step = |dt: f64| {
            if a.engine {
                start + dt.round()
            } else {
                start + dt
            }
        };
        let mut lines = vec![
            (
                start,
                line(
                    a,
                    start,
                    &thread,
                    "INFO",
                    "process_analyzer_job",
                    &format!("image dequeued for analysis: admin : {digest}"),
                ),
            ),
            (
                step(0.1),
                line(
                    a,
                    step(0.1),
                    &thread,
                    "INFO",
                    "perform_analyze",
                    &format!("performing analysis on image: ['admin', '{pull}', '{tag}']"),
                ),
            ),
            (
                step(0.2),
                line(
                    a,
                    step(0.2),
                    &thread,
                    "INFO",
                    "perform_analyze",
                    &format!("analyzing image: {pull}"),
                ),
            ),
            (
                step(0.3),
                line(
                    a,
                    step(0.3),
                    &thread,
                    "INFO",
                    "pull_image",
                    &format!(
                        "Downloading image {pull} for analysis to /analysis_scratch/{h:x}/raw"
                    ),
                ),
            ),
        ];
        for i in 0..a.noise {
            let t = step(1.0 + i as f64 * (dur - 10.0) / a.noise.max(1) as f64);
            let msg = match i % 4 {
                0 => "image content hints status: disabled".to_string(),
                1 => format!("adding image analysis data to catalog: account=admin imageId={:x} imageDigest={digest}", mix(h + 9)),
                2 => "Saving raw analysis data to catalog object store — naïve façade ✓".to_string(),
                _ => format!("loading image into policy engine: account=admin image_id={:x} image_digest={digest}", mix(h + 9)),
            };
            let level = if i % 4 == 2 { "DEBUG" } else { "INFO" };
            lines.push((t, line(a, t, &thread, level, "process_analyzer_job", &msg)));
        }
        let end = step(dur);
        if unfinished {
            expect.push(Expected {
                digest,
                tag,
                outcome: "unfinished",
                duration: None,
            });
        } else if failed {
            lines.push((end, line(a, end, &thread, "ERROR", "process_analyzer_job", &format!("problem analyzing image - exception: failed to pull image {pull}: 404 not found"))));
            lines.push((end, "Traceback (most recent call last):".into()));
            lines.push((end, "  File \"/usr/lib/python3/anchore/analysis.py\", line 312, in process_analyzer_job".into()));
            expect.push(Expected {
                digest,
                tag,
                outcome: "failed",
                duration: Some(end - start),
            });
        } else {
            lines.push((
                end - 0.5,
                line(
                    a,
                    end - 0.5,
                    &thread,
                    "INFO",
                    "perform_analyze",
                    &format!("performing analysis on image complete: {pull}"),
                ),
            ));
            lines.push((
                end,
                line(
                    a,
                    end,
                    &thread,
                    "INFO",
                    "process_analyzer_job",
                    &format!("analysis complete: admin : {digest}"),
                ),
            ));
            expect.push(Expected {
                digest,
                tag,
                outcome: "complete",
                duration: Some(end - start),
            });
        }
        out.extend(lines);
    }
}

/// The lines of several analyzers interleaved by time, as one file holds them.
pub fn interleaved(analyzers: &[Analyzer], expect: &mut Vec<Expected>) -> String {
    let mut lines = Vec::new();
    for a in analyzers {
        analyzer(a, BASE, &mut lines, expect);
    }
    // A stable sort keeps each analysis's lines of one instant in order.
    lines.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut text = String::new();
    for (_, l) in lines {
        let _ = writeln!(text, "{l}");
    }
    text
}

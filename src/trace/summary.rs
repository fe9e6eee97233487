//! The figures of `lab trace --summary`, gathered one analysis at a time in
//! bounded memory: counts, analysis time (min, p50, p90, p99, max, mean), the
//! slowest images, failures by message, analyses per hour and per analyzer, a
//! histogram on Prometheus's buckets, and the number of analyses running over time.

use crate::analyzer_log::{Analysis, Outcome};
/// `2024-08-18T12:00Z` for an hour since the epoch.
pub use crate::model::time::utc_hour as hour_label;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// `anchore_analysis_time_seconds`'s buckets (FACTS.md section 5), so the
/// histogram reads like `histogram_quantile` over the same analyses.
pub const BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Durations kept exactly (for exact percentiles); past that, a log-scale
/// histogram with 0.1% resolution answers.
const EXACT: usize = 200_000;
const SLOWEST: usize = 10;
const MAX_MESSAGES: usize = 1_000;
const MAX_ANALYZERS: usize = 1_000;
/// Buckets of the concurrency timeline per analyzer before they are made coarser.
const MAX_SLOTS: usize = 4_096;

#[derive(Debug, Default)]
pub struct Summary {
    total: u64,
    complete: u64,
    failed: u64,
    unfinished: u64,
    /// Completed without their dequeue in the logs (no duration).
    no_start: u64,
    durations: Durations,
    fail_sum: f64,
    fail_count: u64,
    slowest: Vec<Slow>,
    failures: HashMap<String, Failure>,
    other_failures: u64,
    hours: BTreeMap<i64, Counts>,
    analyzers: BTreeMap<String, PerAnalyzer>,
    /// Width in seconds of a concurrency slot.
    slot: f64,
}

#[derive(Debug, Default)]
struct Durations {
    exact: Vec<f64>,
    /// log-scale bucket -> count, used once `exact` is full.
    log: BTreeMap<i32, u64>,
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    buckets: [u64; BUCKETS.len() + 1],
}

impl Durations {
    fn add(&mut self, d: f64) {
        if self.n == 0 {
            self.min = d;
            self.max = d;
        }
        self.n += 1;
        self.sum += d;
        self.min = self.min.min(d);
        self.max = self.max.max(d);
        let b = BUCKETS
            .iter()
            .position(|le| d <= *le)
            .unwrap_or(BUCKETS.len());
        self.buckets[b] += 1;
        if self.log.is_empty() && self.exact.len() < EXACT {
            self.exact.push(d);
            return;
        }
        for x in std::mem::take(&mut self.exact) {
            *self.log.entry(log_bucket(x)).or_default() += 1;
        }
        *self.log.entry(log_bucket(d)).or_default() += 1;
    }

    /// Nearest-rank percentile.
    fn quantile(&mut self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        if self.log.is_empty() {
            self.exact.sort_by(f64::total_cmp);
            return self.exact.get(rank as usize - 1).copied();
        }
        let mut seen = 0;
        for (b, c) in &self.log {
            seen += c;
            if seen >= rank {
                return Some(log_value(*b).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

const LOG_BASE: f64 = 1.001;

fn log_bucket(d: f64) -> i32 {
    if d <= 1e-6 {
        return i32::MIN;
    }
    (d.ln() / LOG_BASE.ln()).floor().clamp(-1e9, 1e9) as i32
}

fn log_value(b: i32) -> f64 {
    if b == i32::MIN {
        return 0.0;
    }
    LOG_BASE.powf(f64::from(b) + 0.5)
}

#[derive(Debug, Clone, Serialize)]
pub struct Slow {
    pub image: String,
    pub analyzer: String,
    pub thread: String,
    pub dequeued_at: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Default)]
struct Failure {
    count: u64,
    example: String,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub analyses: u64,
    pub complete: u64,
    pub failed: u64,
    pub unfinished: u64,
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        self.analyses += 1;
        match o {
            Outcome::Complete => self.complete += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Unfinished => self.unfinished += 1,
        }
    }
}

#[derive(Debug, Default)]
struct PerAnalyzer {
    counts: Counts,
    sum: f64,
    timed: u64,
    /// slot index -> seconds of analysis running in it (summed over analyses).
    busy: BTreeMap<i64, f64>,
}

/// The figures, ready to print or serialize.
#[derive(Debug, Serialize)]
pub struct Report {
    pub analyses: u64,
    pub complete: u64,
    pub failed: u64,
    pub unfinished: u64,
    /// Completed analyses whose dequeue is before the logs start (no duration).
    pub complete_without_dequeue: u64,
    /// Dequeue to `analysis complete`, over the completed analyses.
    pub analysis_time: Option<Times>,
    /// Whether the percentiles are exact or from a 0.1% log-scale histogram.
    pub percentiles_exact: bool,
    pub slowest: Vec<Slow>,
    pub failures: Vec<FailureGroup>,
    pub per_hour: Vec<Hour>,
    pub per_analyzer: Vec<AnalyzerRow>,
    /// Completed analyses per `anchore_analysis_time_seconds` bucket (not cumulative).
    pub histogram: Vec<Bucket>,
    /// The figures `anchore_analysis_time_seconds_sum` and `_count` give for these analyses.
    pub prometheus: Prometheus,
    /// Seconds per timeline column and its start (seconds since the epoch).
    pub timeline_start: Option<f64>,
    pub timeline_step: f64,
}

#[derive(Debug, Serialize)]
pub struct Times {
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub struct FailureGroup {
    pub message: String,
    pub count: u64,
    pub example_image: String,
}

#[derive(Debug, Serialize)]
pub struct Hour {
    /// `2024-08-18T12:00Z`
    pub hour: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Serialize)]
pub struct AnalyzerRow {
    pub analyzer: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub mean_seconds: Option<f64>,
    /// Mean number of analyses running in each timeline column.
    pub running: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    /// Upper bound in seconds; `None` for +Inf.
    pub le: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct Prometheus {
    pub success_sum: f64,
    pub success_count: u64,
    pub fail_sum: f64,
    pub fail_count: u64,
    /// `sum(anchore_analysis_time_seconds_sum) / sum(anchore_analysis_time_seconds_count)`.
    pub mean: Option<f64>,
}

/// Images, digests and ids in failure messages vary per analysis: grouped away,
/// so `failed to pull image docker.io/x@sha256:…` is one group for every image.
pub fn message_group(m: &str) -> String {
    let m = m
        .strip_prefix("problem analyzing image - exception:")
        .unwrap_or(m)
        .trim();
    let words: Vec<String> = m
        .split_whitespace()
        .take(40)
        .map(|w| {
            let core = w.trim_end_matches([':', ',', '.', ';', ')', '\'', '"']);
            let tail = &w[core.len()..];
            let core_l = core.trim_start_matches(['(', '\'', '"']);
            let lead = &core[..core.len() - core_l.len()];
            let image = core_l.contains("sha256:")
                || (core_l.contains('/') && (core_l.contains('@') || core_l.contains(':')));
            let hexish = core_l.len() >= 8
                && core_l.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                && core_l.chars().any(|c| c.is_ascii_digit());
            if image {
                format!("{lead}<image>{tail}")
            } else if hexish {
                format!("{lead}<id>{tail}")
            } else {
                w.to_string()
            }
        })
        .collect();
    crate::text::clip(&words.join(" "), 160)
}

impl Summary {
    pub fn new() -> Summary {
        Summary {
            slot: 60.0,
            ..Summary::default()
        }
    }

    pub fn add(&mut self, a: &Analysis) {
        self.total += 1;
        match a.outcome {
            Outcome::Complete => self.complete += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Unfinished => self.unfinished += 1,
        }
        match (a.outcome, a.duration) {
            (Outcome::Complete, Some(d)) => {
                self.durations.add(d);
                if self.slowest.len() < SLOWEST
                    || self.slowest.last().is_some_and(|s| s.seconds < d)
                {
                    self.slowest.push(Slow {
                        image: a.image().to_string(),
                        analyzer: a.analyzer_name(),
                        thread: a.thread.clone(),
                        dequeued_at: a.dequeued_at.clone(),
                        seconds: d,
                    });
                    self.slowest.sort_by(|x, y| y.seconds.total_cmp(&x.seconds));
                    self.slowest.truncate(SLOWEST);
                }
            }
            (Outcome::Complete, None) => self.no_start += 1,
            (Outcome::Failed, Some(d)) => {
                self.fail_sum += d;
                self.fail_count += 1;
            }
            _ => {}
        }
        if a.outcome == Outcome::Failed {
            let key = message_group(a.error.as_deref().unwrap_or("(no message)"));
            if self.failures.len() < MAX_MESSAGES || self.failures.contains_key(&key) {
                let f = self.failures.entry(key).or_default();
                f.count += 1;
                if f.example.is_empty() {
                    f.example = a.image().to_string();
                }
            } else {
                self.other_failures += 1;
            }
        }
        if let Some(t) = a.started.or(a.ended) {
            self.hours
                .entry((t / 3600.0).floor() as i64)
                .or_default()
                .add(a.outcome);
        }
        let name = a.analyzer_name();
        let name = if self.analyzers.len() >= MAX_ANALYZERS && !self.analyzers.contains_key(&name) {
            "(other analyzers)".to_string()
        } else {
            name
        };
        let slot = self.slot;
        let row = self.analyzers.entry(name).or_default();
        row.counts.add(a.outcome);
        if let (Outcome::Complete, Some(d)) = (a.outcome, a.duration) {
            row.sum += d;
            row.timed += 1;
        }
        if let (Some(s), Some(e)) = (a.started, a.ended) {
            if e >= s {
                let mut needs = ((e - s) / slot) as usize + 1;
                let mut width = slot;
                while needs > MAX_SLOTS {
                    width *= 2.0;
                    needs = ((e - s) / width) as usize + 1;
                }
                if width > slot {
                    self.coarsen(width);
                }
                let slot = self.slot;
                let row = self.analyzers.get_mut(&a.analyzer_name()).or(None);
                let row = match row {
                    Some(r) => r,
                    None => self
                        .analyzers
                        .get_mut("(other analyzers)")
                        .expect("the row was made above"),
                };
                add_busy(&mut row.busy, slot, s, e);
                if row.busy.len() > MAX_SLOTS {
                    let w = self.slot * 2.0;
                    self.coarsen(w);
                }
            }
        }
    }

    fn coarsen(&mut self, width: f64) {
        let factor = (width / self.slot).round().max(1.0) as i64;
        for row in self.analyzers.values_mut() {
            let mut merged: BTreeMap<i64, f64> = BTreeMap::new();
            for (k, v) in std::mem::take(&mut row.busy) {
                *merged.entry(k.div_euclid(factor)).or_default() += v;
            }
            row.busy = merged;
        }
        self.slot *= factor as f64;
    }

    /// The figures; `columns` is the width of the concurrency timeline.
    pub fn report(mut self, columns: usize) -> Report {
        let d = &mut self.durations;
        let analysis_time = (d.n > 0).then(|| Times {
            min: d.min,
            p50: d.quantile(0.5).unwrap_or(0.0),
            p90: d.quantile(0.9).unwrap_or(0.0),
            p99: d.quantile(0.99).unwrap_or(0.0),
            max: d.max,
            mean: d.sum / d.n as f64,
        });
        let mut failures: Vec<FailureGroup> = self
            .failures
            .into_iter()
            .map(|(message, f)| FailureGroup {
                message,
                count: f.count,
                example_image: f.example,
            })
            .collect();
        failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
        if self.other_failures > 0 {
            failures.push(FailureGroup {
                message: "(other messages)".into(),
                count: self.other_failures,
                example_image: String::new(),
            });
        }
        let per_hour = self
            .hours
            .iter()
            .map(|(h, c)| Hour {
                hour: hour_label(*h),
                counts: *c,
            })
            .collect();
        // The timeline's columns over the whole span of every analyzer.
        let slot = self.slot;
        let first = self
            .analyzers
            .values()
            .filter_map(|r| r.busy.keys().next())
            .min()
            .copied();
        let last = self
            .analyzers
            .values()
            .filter_map(|r| r.busy.keys().next_back())
            .max()
            .copied();
        let (start, step) = match (first, last) {
            (Some(f), Some(l)) => {
                let span = (l - f + 1) as f64 * slot;
                let cols = columns.max(1) as f64;
                (Some(f as f64 * slot), (span / cols).max(slot))
            }
            _ => (None, slot),
        };
        let per_analyzer = self
            .analyzers
            .into_iter()
            .map(|(analyzer, r)| {
                let mut running = Vec::new();
                if let Some(start) = start {
                    let cols = columns.max(1);
                    running = vec![0.0; cols];
                    for (k, busy) in &r.busy {
                        let mid = (*k as f64 + 0.5) * slot;
                        let c = (((mid - start) / step) as usize).min(cols - 1);
                        running[c] += busy / step;
                    }
                }
                AnalyzerRow {
                    analyzer,
                    counts: r.counts,
                    mean_seconds: (r.timed > 0).then(|| r.sum / r.timed as f64),
                    running,
                }
            })
            .collect();
        let histogram = d
            .buckets
            .iter()
            .enumerate()
            .map(|(i, c)| Bucket {
                le: BUCKETS.get(i).copied(),
                count: *c,
            })
            .collect();
        let all_count = d.n + self.fail_count;
        Report {
            analyses: self.total,
            complete: self.complete,
            failed: self.failed,
            unfinished: self.unfinished,
            complete_without_dequeue: self.no_start,
            analysis_time,
            percentiles_exact: d.log.is_empty(),
            slowest: self.slowest,
            failures,
            per_hour,
            per_analyzer,
            histogram,
            prometheus: Prometheus {
                success_sum: d.sum,
                success_count: d.n,
                fail_sum: self.fail_sum,
                fail_count: self.fail_count,
                mean: (all_count > 0).then(|| (d.sum + self.fail_sum) / all_count as f64),
            },
            timeline_start: start,
            timeline_step: step,
        }
    }
}

fn add_busy(busy: &mut BTreeMap<i64, f64>, slot: f64, s: f64, e: f64) {
    let first = (s / slot).floor() as i64;
    let last = (e / slot).floor() as i64;
    for k in first..=last {
        let lo = (k as f64 * slot).max(s);
        let hi = ((k + 1) as f64 * slot).min(e);
        if hi > lo {
            *busy.entry(k).or_default() += hi - lo;
        } else if first == last {
            // An instant analysis still shows in its slot.
            busy.entry(k).or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn an(analyzer: &str, start: f64, d: Option<f64>, o: Outcome, err: Option<&str>) -> Analysis {
        Analysis {
            source: analyzer.into(),
            thread: "Thread-1".into(),
            tag: Some(format!("img-{start}")),
            started: Some(start),
            ended: Some(start + d.unwrap_or(5.0)),
            duration: d,
            outcome: o,
            error: err.map(str::to_string),
            ..Analysis::default()
        }
    }

    #[test]
    fn counts_percentiles_and_prometheus_figures() {
        let mut s = Summary::new();
        for i in 1..=100 {
            s.add(&an(
                "a",
                f64::from(i) * 10.0,
                Some(f64::from(i)),
                Outcome::Complete,
                None,
            ));
        }
        s.add(&an(
            "b",
            0.0,
            Some(4.0),
            Outcome::Failed,
            Some("problem analyzing image - exception: pull sha256:abcdef0123 failed"),
        ));
        s.add(&an(
            "b",
            3600.0,
            Some(6.0),
            Outcome::Failed,
            Some("problem analyzing image - exception: pull sha256:99999999ff failed"),
        ));
        s.add(&an("b", 7200.0, None, Outcome::Unfinished, None));
        let r = s.report(20);
        assert_eq!(
            (r.analyses, r.complete, r.failed, r.unfinished),
            (103, 100, 2, 1)
        );
        let t = r.analysis_time.unwrap();
        assert_eq!(
            (t.min, t.p50, t.p90, t.p99, t.max, t.mean),
            (1.0, 50.0, 90.0, 99.0, 100.0, 50.5)
        );
        assert_eq!(r.slowest.len(), 10);
        assert_eq!(r.slowest[0].seconds, 100.0);
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert_eq!(r.failures[0].count, 2);
        assert_eq!(r.failures[0].message, "pull <image> failed");
        assert_eq!(r.prometheus.success_sum, 5050.0);
        assert_eq!(r.prometheus.fail_count, 2);
        assert_eq!(r.prometheus.mean, Some(5060.0 / 102.0));
        assert_eq!(r.per_hour[0].hour, "1970-01-01T00:00Z");
        assert_eq!(r.per_hour[0].counts.analyses, 101);
        assert_eq!(r.per_analyzer.len(), 2);
        // Bucket le=1 holds 1s, le=5 holds 2..5s, and so on.
        assert_eq!(r.histogram[0].count, 1);
        assert_eq!(r.histogram[1].count, 4);
        assert_eq!(r.histogram.iter().map(|b| b.count).sum::<u64>(), 100);
        assert_eq!(r.per_analyzer[0].running.len(), 20);
    }

    #[test]
    fn percentiles_past_the_exact_limit_stay_within_a_tenth_of_a_percent() {
        let mut d = Durations::default();
        for i in 0..(EXACT as u64 + 50_000) {
            d.add(1.0 + (i % 1000) as f64);
        }
        let p50 = d.quantile(0.5).unwrap();
        assert!((p50 - 500.0).abs() / 500.0 < 0.002, "{p50}");
    }

    #[test]
    fn concurrency_is_the_mean_number_running() {
        let mut s = Summary::new();
        // Two analyses of the same analyzer over the same 10 minutes.
        s.add(&an("a", 0.0, Some(600.0), Outcome::Complete, None));
        s.add(&an("a", 0.0, Some(600.0), Outcome::Complete, None));
        let r = s.report(10);
        let running = &r.per_analyzer[0].running;
        assert!(
            running.iter().all(|v| (v - 2.0).abs() < 1e-9),
            "{running:?}"
        );
    }

    #[test]
    fn a_year_long_analysis_keeps_the_timeline_bounded() {
        let mut s = Summary::new();
        s.add(&an("a", 0.0, Some(3.0e7), Outcome::Complete, None));
        s.add(&an("a", 100.0, Some(10.0), Outcome::Complete, None));
        assert!(s.analyzers["a"].busy.len() <= MAX_SLOTS);
        let _ = s.report(60);
    }

    #[test]
    fn hour_labels() {
        assert_eq!(hour_label(0), "1970-01-01T00:00Z");
        assert_eq!(
            hour_label((1_723_985_953 / 3600) as i64),
            "2024-08-18T12:00Z"
        );
    }
}

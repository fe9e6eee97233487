//! The three signals of one image's analysis on one time axis: the analyzer's log lines, the
//! events Anchore's event log holds about the image (when the API answers), and what Prometheus
//! recorded meanwhile (when it answers): `anchore_analysis_time_seconds` observations and the
//! analyzer status. Each entry says where it came from; a source that cannot be read is named
//! with the reason, and the others still show. Reads only; prints nothing.

use crate::analyzer_log::{self, Analysis, Step};
use crate::model::image::normalise;
/// `2024-08-18T12:59:13.476Z` for seconds since the epoch.
pub use crate::model::time::utc_millis as stamp;
use crate::probe::events::Event;
use crate::probe::Ctx;
use serde::Serialize;

/// Where an entry of the joined timeline came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Log,
    Events,
    Prometheus,
}

impl Source {
    pub fn tag(self) -> &'static str {
        match self {
            Source::Log => "log",
            Source::Events => "events",
            Source::Prometheus => "prometheus",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Seconds since the epoch.
    pub time: f64,
    /// The instant in UTC, `2024-08-18T12:59:13.476Z`.
    pub stamp: String,
    pub source: Source,
    pub what: String,
}

/// Whether a source answered, and why not when it did not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceState {
    pub source: Source,
    pub available: bool,
    pub entries: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Joined {
    pub timeline: Vec<Entry>,
    pub sources: Vec<SourceState>,
}

/// The log lines of the analyses, as entries.
pub fn log_entries(analyses: &[&Analysis]) -> Vec<Entry> {
    analyses
        .iter()
        .flat_map(|a| {
            a.events
                .iter()
                .filter(|e| e.step != Step::Other || e.message.contains("image"))
                .map(move |e| Entry {
                    time: e.time,
                    stamp: stamp(e.time),
                    source: Source::Log,
                    what: format!("{} {}", a.thread, crate::text::clip(&e.message, 120)),
                })
        })
        .collect()
}

/// Whether an event is about the image: its resource is the image's tag (as Docker resolves
/// names) or one of its analyses' digests.
pub fn is_about(e: &Event, image: &str, digests: &[&str]) -> bool {
    let r = e.resource_id.trim();
    if r.is_empty() {
        return false;
    }
    if r.starts_with("sha256:") {
        return digests.contains(&r) || (image.starts_with("sha256:") && r.starts_with(image));
    }
    !image.starts_with("sha256:") && normalise(r) == normalise(image)
}

/// The events about the image, as entries.
pub fn event_entries(events: &[Event], image: &str, digests: &[&str]) -> Vec<Entry> {
    events
        .iter()
        .filter(|e| is_about(e, image, digests))
        .filter_map(|e| {
            let time = analyzer_log::parse_time(&e.timestamp)?;
            Some(Entry {
                time,
                stamp: stamp(time),
                source: Source::Events,
                what: format!(
                    "{} {} ({} from {}, {})",
                    e.level, e.event_type, e.resource_type, e.source_service, e.id
                ),
            })
        })
        .collect()
}

/// The points where a series' value changes (and its first point), as entries.
pub fn status_entries(points: &[(f64, f64)], what: impl Fn(f64) -> String) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut last: Option<f64> = None;
    for &(t, v) in points {
        if last != Some(v) {
            out.push(Entry {
                time: t,
                stamp: stamp(t),
                source: Source::Prometheus,
                what: what(v),
            });
        }
        last = Some(v);
    }
    out
}

/// Where `_count` of a histogram grows, the observations between two points: how many, and
/// their mean from the growth of `_sum`.
pub fn observation_entries(status: &str, sum: &[(f64, f64)], count: &[(f64, f64)]) -> Vec<Entry> {
    let mut out = Vec::new();
    for w in count.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        let n = c1 - c0;
        if n < 0.5 {
            continue; // no new observation (or a counter reset)
        }
        let at = |t: f64| {
            sum.iter()
                .find(|(ts, _)| (*ts - t).abs() < 1e-6)
                .map(|p| p.1)
        };
        let mean = match (at(t0), at(t1)) {
            (Some(s0), Some(s1)) if s1 >= s0 => format!(", {:.3}s each on average", (s1 - s0) / n),
            _ => String::new(),
        };
        out.push(Entry {
            time: t1,
            stamp: stamp(t1),
            source: Source::Prometheus,
            what: format!(
                "anchore_analysis_time_seconds observed {} analysis{} (status={status}){mean}",
                n.round(),
                if n.round() == 1.0 { "" } else { "es" }
            ),
        });
    }
    out
}

fn state(source: Source, r: &Result<Vec<Entry>, String>) -> SourceState {
    SourceState {
        source,
        available: r.is_ok(),
        entries: r.as_ref().map_or(0, Vec::len),
        reason: r.as_ref().err().cloned(),
    }
}

/// Reads what Prometheus recorded from `start` to `end`.
async fn prometheus_entries(ctx: &Ctx, start: f64, end: f64) -> Result<Vec<Entry>, String> {
    use crate::probe::prometheus::range;
    let step = ((end - start) / 200.0).clamp(1.0, 60.0);
    let mut out = Vec::new();
    let status = range(
        ctx,
        r#"sum(anchore_analyzer_status{state="processing"})"#,
        start,
        end,
        step,
    )
    .await?;
    if let Some((_, points)) = status.first() {
        out.extend(status_entries(points, |v| {
            format!("anchore_analyzer_status: {v} analyzer(s) processing")
        }));
    }
    let sums = range(
        ctx,
        "sum by (status) (anchore_analysis_time_seconds_sum)",
        start,
        end,
        step,
    )
    .await?;
    let counts = range(
        ctx,
        "sum by (status) (anchore_analysis_time_seconds_count)",
        start,
        end,
        step,
    )
    .await?;
    for (labels, count) in &counts {
        let status = labels.get("status").map(String::as_str).unwrap_or("");
        let sum = sums
            .iter()
            .find(|(l, _)| l.get("status").map(String::as_str) == Some(status))
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&[]);
        out.extend(observation_entries(status, sum, count));
    }
    Ok(out)
}

/// Joins the analyses of `image` with its events and Prometheus's record of the same minutes.
/// `ctx` reaches the environment's Anchore API and Prometheus; a source that does not answer is
/// reported in `sources`, not as an error.
pub async fn join(ctx: &Ctx, image: &str, analyses: &[&Analysis]) -> Joined {
    let logs = log_entries(analyses);
    let digests: Vec<&str> = analyses
        .iter()
        .filter_map(|a| a.digest.as_deref())
        .collect();
    let events = crate::probe::events::read(ctx, &[])
        .await
        .map(|all| event_entries(&all, image, &digests));
    let times = logs
        .iter()
        .chain(events.as_ref().map_or(&[][..], |e| e.as_slice()))
        .map(|e| e.time);
    let (lo, hi) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
        (lo.min(t), hi.max(t))
    });
    let metrics = if lo.is_finite() {
        // A little before and after, so that a scrape on each side shows the change; at most
        // six hours.
        let start = lo - 30.0;
        let end = (hi + 30.0).min(start + 6.0 * 3600.0);
        prometheus_entries(ctx, start, end).await
    } else {
        Err("nothing in the logs or the event log to look around".to_string())
    };
    let sources = vec![
        SourceState {
            source: Source::Log,
            available: true,
            entries: logs.len(),
            reason: None,
        },
        state(Source::Events, &events),
        state(Source::Prometheus, &metrics),
    ];
    let mut timeline = logs;
    timeline.extend(events.unwrap_or_default());
    timeline.extend(metrics.unwrap_or_default());
    timeline.sort_by(|a, b| a.time.total_cmp(&b.time));
    Joined { timeline, sources }
}

/// The joined timeline in words, one line per entry, each tagged with its source.
pub fn render(j: &Joined) -> String {
    let mut out = String::from("Log, event log and Prometheus on one time axis:\n");
    let start = j.timeline.first().map(|e| e.time).unwrap_or(0.0);
    for e in &j.timeline {
        out.push_str(&format!(
            "  {}  {:>9}  [{:<10}] {}\n",
            e.stamp.get(11..23).unwrap_or(&e.stamp),
            format!("+{:.3}s", e.time - start),
            e.source.tag(),
            e.what
        ));
    }
    for s in &j.sources {
        if let Some(r) = &s.reason {
            out.push_str(&format!("  ({} not shown: {r})\n", s.source.tag()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(resource: &str, ts: &str) -> Event {
        Event {
            id: "e1".into(),
            event_type: "user.image.analysis.completed".into(),
            level: "INFO".into(),
            resource_id: resource.into(),
            resource_type: "image_tag".into(),
            source_service: "catalog".into(),
            source_host: "h".into(),
            timestamp: ts.into(),
            message: String::new(),
        }
    }

    #[test]
    fn stamps_are_utc_with_milliseconds() {
        assert_eq!(stamp(1_723_985_953.476_8), "2024-08-18T12:59:13.477Z");
        assert_eq!(stamp(0.0), "1970-01-01T00:00:00.000Z");
        let t = analyzer_log::parse_time("2026-02-28T23:59:59.5Z").unwrap();
        assert_eq!(stamp(t), "2026-02-28T23:59:59.500Z");
    }

    #[test]
    fn events_are_matched_by_tag_or_digest() {
        let d = "sha256:abc";
        assert!(is_about(
            &event("docker.io/postgres:latest", ""),
            "postgres",
            &[]
        ));
        assert!(is_about(
            &event("docker.io/library/postgres:latest", ""),
            "postgres:latest",
            &[]
        ));
        assert!(is_about(&event(d, ""), "postgres", &[d]));
        assert!(!is_about(
            &event("docker.io/library/nginx:latest", ""),
            "postgres",
            &[d]
        ));
        assert!(!is_about(&event("", ""), "postgres", &[]));
        let es = [
            event("docker.io/postgres:latest", "2024-08-18T12:59:20.000000Z"),
            event("docker.io/nginx:latest", "2024-08-18T12:59:21Z"),
        ];
        let got = event_entries(&es, "postgres", &[]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].source, Source::Events);
        assert!(got[0]
            .what
            .starts_with("INFO user.image.analysis.completed"));
    }

    #[test]
    fn prometheus_points_become_changes_and_observations() {
        let status = [(0.0, 0.0), (5.0, 1.0), (10.0, 1.0), (15.0, 0.0)];
        let e = status_entries(&status, |v| format!("{v}"));
        assert_eq!(
            e.iter()
                .map(|e| (e.time, e.what.as_str()))
                .collect::<Vec<_>>(),
            [(0.0, "0"), (5.0, "1"), (15.0, "0")]
        );
        let count = [(0.0, 1.0), (5.0, 1.0), (10.0, 2.0)];
        let sum = [(0.0, 79.0), (5.0, 79.0), (10.0, 82.5)];
        let o = observation_entries("success", &sum, &count);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].time, 10.0);
        assert!(
            o[0].what
                .contains("observed 1 analysis (status=success), 3.500s each"),
            "{}",
            o[0].what
        );
        // A counter reset is not an observation.
        assert!(observation_entries("fail", &[], &[(0.0, 3.0), (5.0, 0.0)]).is_empty());
    }

    #[test]
    fn the_rendering_tags_each_line_and_names_missing_sources() {
        let j = Joined {
            timeline: vec![
                Entry {
                    time: 10.0,
                    stamp: stamp(10.0),
                    source: Source::Log,
                    what: "Thread-1001 image dequeued".into(),
                },
                Entry {
                    time: 12.5,
                    stamp: stamp(12.5),
                    source: Source::Events,
                    what: "INFO user.image.analysis.completed".into(),
                },
            ],
            sources: vec![SourceState {
                source: Source::Prometheus,
                available: false,
                entries: 0,
                reason: Some("cannot connect to http://localhost:9090".into()),
            }],
        };
        let text = render(&j);
        assert!(text.contains("[log       ] Thread-1001"), "{text}");
        assert!(text.contains("+2.500s  [events    ]"), "{text}");
        assert!(
            text.contains("(prometheus not shown: cannot connect"),
            "{text}"
        );
        let json = serde_json::to_value(&j).unwrap();
        assert_eq!(json["timeline"][1]["source"], "events");
        assert_eq!(json["sources"][0]["available"], false);
    }
}

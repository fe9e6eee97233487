//! Reads the analyzer's log lines and reconstructs each image analysis: its thread,
//! image, and the moments it was dequeued, pulled, analysed, completed or failed.
//! Pure text in, data out; the probes and `lab trace` feed it lines.
//!
//! Two formats are understood:
//! - Anchore Enterprise v5: `[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00]
//!   [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued …`
//! - the open-source engine: `[service:analyzer] 2024-08-18 12:59:13+0000 [-] [Thread-55181]
//!   [anchore_engine.services.analyzer.analysis/process_analyzer_job()] [INFO] image dequeued …`

use serde::Serialize;

const LEVELS: [&str; 8] = [
    "SPEW", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL",
];

/// One parsed log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// The timestamp as written.
    pub stamp: String,
    pub thread: String,
    pub level: String,
    pub message: String,
}

/// What a line says about an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Dequeued,
    Performing,
    Analyzing,
    Pulling,
    AnalysisDone,
    Complete,
    Failed,
    Other,
}

/// Parses one line; `None` for lines of another shape (tracebacks, blank lines).
pub fn parse_line(line: &str) -> Option<Line> {
    let mut rest = line.trim_end();
    let mut groups: Vec<&str> = Vec::new();
    let mut stamp: Option<(String, f64)> = None;
    loop {
        rest = rest.trim_start();
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            let g = &inner[..end];
            match (stamp.is_none(), parse_time(g)) {
                (true, Some(t)) => stamp = Some((g.to_string(), t)),
                _ => groups.push(g),
            }
            rest = &inner[end + 1..];
        } else if stamp.is_none() && groups.len() <= 1 && rest.len() >= 24 {
            // The engine writes `2024-08-18 12:59:13+0000` outside brackets.
            let candidate = &rest[..24];
            let t = parse_time(candidate)?;
            stamp = Some((candidate.to_string(), t));
            rest = &rest[24..];
        } else {
            break;
        }
    }
    let (stamp, time) = stamp?;
    let loc = groups.iter().position(|g| g.contains("()"))?;
    let thread = groups[..loc]
        .iter()
        .rev()
        .find(|g| !LEVELS.contains(g))?
        .to_string();
    let level = groups
        .iter()
        .find(|g| LEVELS.contains(g))
        .copied()
        .unwrap_or("INFO")
        .to_string();
    let message = rest.trim_start().trim_start_matches('|').trim().to_string();
    Some(Line {
        time,
        stamp,
        thread,
        level,
        message,
    })
}

/// Seconds since the epoch for `2024-08-18T12:59:13.476831+00:00`,
/// `2024-08-18 12:59:13+0000` and `…Z` forms.
pub fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.len() < 19 {
        return None;
    }
    let b = s.as_bytes();
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut frac = 0f64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        frac = format!("0.{}", &r[..digits]).parse().ok()?;
        rest = &r[digits..];
    }
    let offset = match rest {
        "" | "Z" => 0,
        tz => {
            let sign = match tz.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = tz[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            sign * (digits[..2].parse::<i64>().ok()? * 3600 + digits[2..].parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub fn classify(message: &str) -> Step {
    if message.starts_with("image dequeued for analysis") {
        Step::Dequeued
    } else if message.starts_with("performing analysis on image complete") {
        Step::AnalysisDone
    } else if message.starts_with("performing analysis on image") {
        Step::Performing
    } else if message.starts_with("analyzing image") {
        Step::Analyzing
    } else if message.starts_with("Downloading image") {
        Step::Pulling
    } else if message.starts_with("analysis complete") {
        Step::Complete
    } else if message.starts_with("problem analyzing image") {
        Step::Failed
    } else {
        Step::Other
    }
}

/// One image's analysis as the logs tell it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Where the lines came from (a container or a file).
    pub source: String,
    pub thread: String,
    pub digest: Option<String>,
    /// `docker.io/library/postgres@sha256:…`
    pub pull_string: Option<String>,
    /// `docker.io/library/postgres:latest`
    pub tag: Option<String>,
    pub events: Vec<Event>,
    /// Seconds from dequeue to completion or failure; `None` while it runs.
    pub duration: Option<f64>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub step: Step,
    pub stamp: String,
    #[serde(skip)]
    pub time: f64,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Complete,
    Failed,
    /// Dequeued but neither complete nor failed in these lines.
    Unfinished,
}

/// Groups lines into analyses: per source and thread, each `dequeued` line opens a
/// new analysis and the thread's later lines belong to it until it ends.
pub fn analyses<'a>(lines: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Analysis> {
    let mut done: Vec<Analysis> = Vec::new();
    let mut open: std::collections::HashMap<(String, String), Analysis> = Default::default();
    for (source, raw) in lines {
        let Some(line) = parse_line(raw) else {
            continue;
        };
        let step = classify(&line.message);
        let key = (source.to_string(), line.thread.clone());
        if step == Step::Dequeued {
            if let Some(prev) = open.remove(&key) {
                done.push(prev);
            }
            open.insert(
                key.clone(),
                Analysis {
                    source: source.to_string(),
                    thread: line.thread.clone(),
                    digest: after_last(&line.message, " : "),
                    pull_string: None,
                    tag: None,
                    events: Vec::new(),
                    duration: None,
                    outcome: Outcome::Unfinished,
                },
            );
        }
        let Some(a) = open.get_mut(&key) else {
            continue;
        };
        match step {
            Step::Performing => {
                // `performing analysis on image: ['admin', 'pull@sha256:…', 'tag']`
                let items: Vec<String> = line
                    .message
                    .split_once('[')
                    .map(|(_, l)| {
                        l.trim_end_matches(']')
                            .split(',')
                            .map(|i| i.trim().trim_matches(['\'', '"']).to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                a.pull_string = items.get(1).cloned();
                a.tag = items.get(2).cloned();
            }
            Step::Analyzing if a.pull_string.is_none() => {
                a.pull_string = line
                    .message
                    .split_once(": ")
                    .map(|(_, p)| p.trim().to_string());
            }
            _ => {}
        }
        a.events.push(Event {
            step,
            stamp: line.stamp.clone(),
            time: line.time,
            message: line.message.clone(),
        });
        if matches!(step, Step::Complete | Step::Failed) {
            a.outcome = if step == Step::Complete {
                Outcome::Complete
            } else {
                Outcome::Failed
            };
            let start = a.events.first().map(|e| e.time).unwrap_or(line.time);
            // Timestamps carry microseconds; round away the float error of
            // subtracting two epoch-sized numbers.
            a.duration = Some(((line.time - start) * 1e6).round() / 1e6);
            if let Some(a) = open.remove(&key) {
                done.push(a);
            }
        }
    }
    done.extend(open.into_values());
    done.sort_by(|a, b| {
        let t = |x: &Analysis| x.events.first().map(|e| e.time).unwrap_or(0.0);
        t(a).total_cmp(&t(b))
    });
    done
}

fn after_last(s: &str, sep: &str) -> Option<String> {
    s.rsplit_once(sep).map(|(_, d)| d.trim().to_string())
}

/// Whether an analysis is of `image`: a tag (`postgres:latest` and
/// `docker.io/library/postgres:latest` alike) or a digest (`sha256:…`, or its prefix).
pub fn is_of(a: &Analysis, image: &str) -> bool {
    let image = image.trim();
    if image.starts_with("sha256:") {
        return a.digest.as_deref().is_some_and(|d| d.starts_with(image));
    }
    let want = normalise_tag(image);
    a.tag.as_deref().map(normalise_tag).as_deref() == Some(want.as_str())
}

/// `postgres` -> `docker.io/library/postgres:latest`, as Docker resolves names.
pub fn normalise_tag(image: &str) -> String {
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}:{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The course's own sample lines (lab 1), with the `[service:…]` prefix the
    /// course's last line lost in copying restored.
    const COURSE: &str = "\
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.569659+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():280] | performing analysis on image: ['admin', 'docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b', 'docker.io/library/postgres:latest']
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.575234+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():287] | analyzing image: docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.585940+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.localanchore_standalone/pull_image():679] | Downloading image docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b for analysis to /analysis_scratch/17b02621-8234-4815-93cc-1ae10fe6a75f/raw
[2024-08-18T13:00:32.494336+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():508] | analysis complete: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b";

    #[test]
    fn parses_the_enterprise_line_format() {
        let l = parse_line(COURSE.lines().next().unwrap()).unwrap();
        assert_eq!(l.thread, "Thread-55181");
        assert_eq!(l.level, "INFO");
        assert!(l
            .message
            .starts_with("image dequeued for analysis: admin : sha256:07ad"));
        assert_eq!(l.stamp, "2024-08-18T12:59:13.476831+00:00");
    }

    #[test]
    fn the_course_sample_takes_79_seconds() {
        let a = analyses(COURSE.lines().map(|l| ("analyzer-1", l)));
        assert_eq!(a.len(), 1);
        let a = &a[0];
        assert_eq!(a.outcome, Outcome::Complete);
        assert_eq!(a.tag.as_deref(), Some("docker.io/library/postgres:latest"));
        let d = a.duration.unwrap();
        assert!((d - 79.017505).abs() < 1e-3, "{d}");
        assert_eq!(
            a.events.iter().map(|e| e.step).collect::<Vec<_>>(),
            [
                Step::Dequeued,
                Step::Performing,
                Step::Analyzing,
                Step::Pulling,
                Step::Complete
            ]
        );
        assert!(is_of(a, "postgres:latest"));
        assert!(is_of(a, "sha256:07ad6d63"));
        assert!(!is_of(a, "nginx"));
    }

    #[test]
    fn parses_the_engine_format() {
        let line = "[service:analyzer] 2021-01-05 10:00:01+0000 [-] [Thread-7] [anchore_engine.services.analyzer.analysis/process_analyzer_job()] [INFO] image dequeued for analysis: admin : sha256:abc";
        let l = parse_line(line).unwrap();
        assert_eq!(l.thread, "Thread-7");
        assert_eq!(l.message, "image dequeued for analysis: admin : sha256:abc");
        assert_eq!(l.time, parse_time("2021-01-05T10:00:01Z").unwrap());
    }

    #[test]
    fn interleaved_threads_and_a_failure_are_kept_apart() {
        let lines = [
            "[service:a] [2024-01-01T00:00:00+00:00] [MainProcess] [Thread-1] [INFO] [m/process_analyzer_job():1] | image dequeued for analysis: admin : sha256:aaa",
            "[service:a] [2024-01-01T00:00:01+00:00] [MainProcess] [Thread-2] [INFO] [m/process_analyzer_job():1] | image dequeued for analysis: admin : sha256:bbb",
            "[service:a] [2024-01-01T00:00:02+00:00] [MainProcess] [Thread-2] [ERROR] [m/process_analyzer_job():1] | problem analyzing image - exception: pull failed",
            "Traceback (most recent call last):",
            "[service:a] [2024-01-01T00:00:05+00:00] [MainProcess] [Thread-1] [INFO] [m/process_analyzer_job():1] | analysis complete: admin : sha256:aaa",
        ];
        let a = analyses(lines.iter().map(|l| ("x", *l)));
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].digest.as_deref(), a[0].outcome, a[0].duration),
            (Some("sha256:aaa"), Outcome::Complete, Some(5.0))
        );
        assert_eq!(
            (a[1].digest.as_deref(), a[1].outcome, a[1].duration),
            (Some("sha256:bbb"), Outcome::Failed, Some(1.0))
        );
    }

    #[test]
    fn an_unfinished_analysis_has_no_duration() {
        let a = analyses(COURSE.lines().take(3).map(|l| ("x", l)));
        assert_eq!(a[0].outcome, Outcome::Unfinished);
        assert_eq!(a[0].duration, None);
    }

    #[test]
    fn tags_are_normalised_as_docker_does() {
        assert_eq!(
            normalise_tag("postgres"),
            "docker.io/library/postgres:latest"
        );
        assert_eq!(
            normalise_tag("grafana/grafana:11.1.3"),
            "docker.io/grafana/grafana:11.1.3"
        );
        assert_eq!(
            normalise_tag("127.0.0.1:5000/prom/prometheus"),
            "127.0.0.1:5000/prom/prometheus:latest"
        );
        assert_eq!(
            normalise_tag("docker.io/library/postgres:latest"),
            "docker.io/library/postgres:latest"
        );
    }

    #[test]
    fn rejects_lines_of_other_shapes_without_panicking() {
        for l in [
            "",
            "[",
            "[x",
            "[2024-13-99T99:99:99+00:00]",
            "plain text",
            "[a] [b] [c()] msg",
            "[service:x] [2024-01-01T00:00:00+00:00]",
        ] {
            let _ = parse_line(l);
        }
        assert_eq!(parse_line("plain text"), None);
    }
}

//! `answer` checks: the trainee's recorded answer to a question, compared with a
//! value the check computes (a literal, a PromQL value, or an analysis's duration
//! measured from the analyzer's logs), matched by a pattern, or kept for grading.

use super::{Cause, Ctx, Observation, ProbeResult};
use crate::analyzer_log::{self, Outcome};
use crate::model::check::{AnswerCheck, AnswerExpect, Computed};
use crate::text::clip;

pub async fn probe(c: &AnswerCheck, ctx: &Ctx) -> ProbeResult {
    let Some(answer) = ctx.target.answers.get(&c.question) else {
        return Ok(Observation::fail(
            format!("an answer to question `{}`", c.question),
            "no answer recorded",
        ));
    };
    match &c.expect {
        AnswerExpect::FreeText => Ok(Observation::Pending {
            actual: clip(answer, 200),
        }),
        AnswerExpect::Matches { pattern } => {
            let re = regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("invalid regex: {e}"))?;
            Ok(if re.is_match(answer) {
                Observation::pass(format!("{:?}", clip(answer, 80)))
            } else {
                Observation::fail(
                    format!("an answer matching /{pattern}/"),
                    format!("{:?}", clip(answer, 80)),
                )
            })
        }
        AnswerExpect::AnalysisThread { service, image } => {
            let a = completed_analysis(ctx, service, image).await?;
            Ok(if same_thread(answer, &a.thread) {
                Observation::pass(format!("{} (the logs of {})", a.thread, a.source))
            } else {
                // Never the thread itself: finding it is the exercise.
                Observation::failed_because(
                    Cause::new(
                        "answer-wrong",
                        format!(
                            "The recorded thread is not the one whose log lines analyse {image}: \
                             find the analyzer's line for that image and note the thread it names."
                        ),
                    ),
                    format!("the thread that analysed {image}, as the analyzer's logs name it"),
                    format!("{:?}", clip(answer, 80)),
                )
                .with_reference(format!("{} (from {}'s log lines)", a.thread, a.source))
            })
        }
        AnswerExpect::AnchoreEvent {
            field,
            level,
            event_type,
        } => {
            let events = super::events::read(ctx, &[]).await?;
            Ok(super::events::judge(
                answer,
                *field,
                level.as_deref(),
                event_type.as_deref(),
                &events,
            ))
        }
        AnswerExpect::PrometheusTop { query, label } => {
            let ranked = super::prometheus::ranked(ctx, query, label).await?;
            Ok(super::prometheus::judge_top(answer, label, &ranked))
        }
        AnswerExpect::Number { of, tolerance } => {
            let Some(given) = parse_number(answer) else {
                return Ok(Observation::failed_because(
                    Cause::new(
                        "answer-unreadable",
                        "Record a number of seconds or a duration, e.g. 79, 79s, 1m19s or 1:19.",
                    ),
                    "a number or a duration such as 79s or 1m19s",
                    format!("{:?}", clip(answer, 80)),
                ));
            };
            let (want, source) = compute(of, ctx).await?;
            Ok(if (given - want).abs() <= *tolerance {
                Observation::pass(format!("{} (measured {})", show(given), show(want)))
            } else {
                // Never the measured value: the trainee must measure it.
                Observation::failed_because(
                    Cause::new(
                        "answer-wrong",
                        format!(
                            "The recorded value does not match {}: measure it again, from the first \
                             to the last line of that analysis.",
                            source.public
                        ),
                    ),
                    format!("{} (within ±{})", source.public, show(*tolerance)),
                    show(given),
                )
                .with_reference(format!("{} ({})", show(want), source.private))
            })
        }
    }
}

/// A number of seconds as a person may write it: `79`, `79.2`, `79s`, `79 s`,
/// `79 sec`, `1m19s`, `1 min 19 s`, `1:19`, `0:01:19`, `PT1M19S`.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let n = s
        .parse::<f64>()
        .ok()
        .or_else(|| clock(s))
        .or_else(|| iso8601(s))
        .or_else(|| units(s))?;
    (n.is_finite() && n >= 0.0).then_some(n)
}

/// `1:19` (minutes:seconds) or `0:01:19` (hours:minutes:seconds).
fn clock(s: &str) -> Option<f64> {
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut total = 0f64;
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let ok = !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || (last && c == '.'));
        if !ok {
            return None;
        }
        let v: f64 = p.parse().ok()?;
        if i > 0 && v >= 60.0 {
            return None;
        }
        total = total * 60.0 + v;
    }
    Some(total)
}

/// ISO 8601 durations without dates: `PT79S`, `PT1M19S`, `PT1H2M3.5S`.
fn iso8601(s: &str) -> Option<f64> {
    let rest = s.strip_prefix("PT").or_else(|| s.strip_prefix("pt"))?;
    let total = units(rest)?;
    // Units only from H, M, S: reject `PT1ms` and the like.
    let ok = rest
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || "hmsHMS".contains(c))
        && !rest.to_ascii_lowercase().contains("ms");
    ok.then_some(total)
}

/// Numbers with units, spaces allowed: `79 s`, `79 sec`, `1m19s`, `1 minute 19 seconds`.
fn units(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let mut rest = lower.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            _ => return None,
        };
        total += number * factor;
        rest = rest[unit_end..].trim_start();
    }
    Some(total)
}

fn show(n: f64) -> String {
    let s = format!("{n:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Where a computed value came from: in words a trainee may read (`public`), and
/// with the details that would give it away (`private`, for instructors).
struct Source {
    public: String,
    private: String,
}

/// The value an answer is compared with, and where it came from.
async fn compute(of: &Computed, ctx: &Ctx) -> Result<(f64, Source), String> {
    match of {
        Computed::Literal(v) => Ok((
            *v,
            Source {
                public: "the model answer".into(),
                private: "the model answer".into(),
            },
        )),
        Computed::Prometheus(query) => {
            let v = super::prometheus::first_value(ctx, query).await?;
            Ok((
                v,
                Source {
                    public: "the value Prometheus measured".into(),
                    private: format!("Prometheus: {query}"),
                },
            ))
        }
        Computed::AnalysisDuration { service, image } => {
            let a = completed_analysis(ctx, service, image).await?;
            Ok((
                a.duration.unwrap_or_default(),
                Source {
                    public: format!(
                        "the duration of the analysis of {image} in the {service} logs"
                    ),
                    private: format!("measured from {}'s {} log lines", a.source, a.thread),
                },
            ))
        }
    }
}

/// The latest completed analysis of `image` in the logs of `service`'s containers, or
/// the one `lab` kept from earlier logs (`.lab/analyses.json`) when they are gone.
pub async fn completed_analysis(
    ctx: &Ctx,
    service: &str,
    image: &str,
) -> Result<analyzer_log::Analysis, String> {
    let from_logs = in_logs(ctx, service, image).await;
    if from_logs.is_ok() {
        return from_logs;
    }
    // The container may have been replaced since `lab` saw the analysis.
    match crate::env::seen_analysis(&ctx.target.workdir, service, image) {
        Some(seen) => Ok(analyzer_log::Analysis {
            source: format!(
                "{} (as lab saw it earlier; the {service} container's logs no longer have it)",
                seen.source
            ),
            thread: seen.thread,
            digest: None,
            pull_string: None,
            tag: Some(image.to_string()),
            events: Vec::new(),
            duration: seen.duration,
            outcome: Outcome::Complete,
            ..Default::default()
        }),
        None => from_logs,
    }
}

/// The latest completed analysis of `image` in the current logs of `service`'s containers.
pub async fn in_logs(
    ctx: &Ctx,
    service: &str,
    image: &str,
) -> Result<analyzer_log::Analysis, String> {
    let logs = super::logs::service_logs(ctx, service, None).await?;
    let all = analyzer_log::analyses(logs.iter().map(|(c, l)| (c.as_str(), l.as_str())));
    let mine: Vec<_> = all
        .into_iter()
        .filter(|a| analyzer_log::is_of(a, image))
        .collect();
    if let Some(a) = mine.iter().rev().find(|a| a.outcome == Outcome::Complete) {
        return Ok(a.clone());
    }
    if mine.iter().any(|a| a.outcome == Outcome::Unfinished) {
        return Err(format!(
            "the analysis of {image} has not finished yet in the {service} logs"
        ));
    }
    Err(format!(
        "no completed analysis of {image} in the logs of service `{service}`"
    ))
}

/// `[Thread-55181]`, `thread-55181 `, `Thread 55181` and `55181` name the thread
/// `Thread-55181`.
pub fn same_thread(answer: &str, thread: &str) -> bool {
    let a = answer
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    if a.eq_ignore_ascii_case(thread) {
        return true;
    }
    let number = |s: &str| -> Option<String> {
        let lower = s.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("thread")
            .map(|r| r.trim_start_matches(['-', '_', ' ']))
            .unwrap_or(&lower);
        (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())).then(|| rest.to_string())
    };
    matches!((number(a), number(thread)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::{ctx_for, target_in, TempDir};
    use std::time::Duration;

    fn ctx_with(answer: Option<&str>) -> (TempDir, Ctx) {
        let dir = TempDir::new();
        let mut t = target_in(dir.path());
        if let Some(a) = answer {
            t.answers.insert("duration".into(), a.into());
        }
        let ctx = ctx_for(t, Duration::from_secs(2));
        (dir, ctx)
    }

    fn check(expect: AnswerExpect) -> AnswerCheck {
        AnswerCheck {
            question: "duration".into(),
            expect,
        }
    }

    #[test]
    fn numbers_and_durations_are_read_as_seconds() {
        assert_eq!(parse_number("79"), Some(79.0));
        assert_eq!(parse_number("1m19s"), Some(79.0));
        assert_eq!(parse_number(" 79s "), Some(79.0));
        assert_eq!(parse_number("79.5"), Some(79.5));
        assert_eq!(parse_number("about a minute"), None);
        assert_eq!(parse_number("NaN"), None);
    }

    #[test]
    fn every_way_a_person_writes_79_seconds_is_79() {
        for s in [
            "79",
            "79s",
            "79 s",
            "79 sec",
            "79 secs",
            "79 seconds",
            "1m19s",
            "1m 19s",
            "1 min 19 sec",
            "1 minute 19 seconds",
            "1:19",
            "0:01:19",
            "PT79S",
            "PT1M19S",
            "pt1m19s",
            "79S",
            " 79 ",
        ] {
            assert_eq!(parse_number(s), Some(79.0), "{s:?}");
        }
        assert_eq!(parse_number("79.2"), Some(79.2));
        assert_eq!(parse_number("1:19.5"), Some(79.5));
        assert_eq!(parse_number("79200ms"), Some(79.2));
    }

    #[test]
    fn what_is_not_a_duration_is_refused() {
        for s in [
            "",
            "s",
            "79 parsecs",
            "1:79",
            "1::19",
            ":19",
            "1:2:3:4",
            "PT",
            "PT1X",
            "PT1ms",
            "-5",
            "1e400",
            "79 s s",
            "seventy-nine",
        ] {
            assert_eq!(parse_number(s), None, "{s:?}");
        }
    }

    #[test]
    fn a_thread_is_recognised_however_it_is_written() {
        for a in [
            "Thread-55181",
            "[Thread-55181]",
            "55181",
            "thread 55181",
            " thread-55181 ",
            "[55181]",
        ] {
            assert!(same_thread(a, "Thread-55181"), "{a:?}");
        }
        for a in ["55180", "Thread-5518", "Thread-55181x", "", "thread"] {
            assert!(!same_thread(a, "Thread-55181"), "{a:?}");
        }
    }

    #[tokio::test]
    async fn a_duration_within_tolerance_passes_and_outside_fails() {
        let c = check(AnswerExpect::Number {
            of: Computed::Literal(79.0),
            tolerance: 2.0,
        });
        let (_d, ctx) = ctx_with(Some("1m20s"));
        assert!(matches!(
            probe(&c, &ctx).await.unwrap(),
            Observation::Pass { .. }
        ));
        let (_d, ctx) = ctx_with(Some("90s"));
        match probe(&c, &ctx).await.unwrap() {
            Observation::Fail {
                expected,
                actual,
                cause,
                reference,
            } => {
                // The trainee is never told the value; the instructor is.
                assert!(!expected.contains("79"), "{expected}");
                assert_eq!(actual, "90");
                assert_eq!(cause.map(|c| c.id), Some("answer-wrong"));
                assert_eq!(reference.as_deref(), Some("79 (the model answer)"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_analysis_kept_earlier_judges_the_answer_once_the_logs_are_gone() {
        let (dir, mut ctx) = ctx_with(Some("[thread-1001]"));
        // No engine to read logs from, as when the analyzer container was replaced.
        ctx.docker = std::sync::Arc::new(Err("the container is gone".into()));
        let c = check(AnswerExpect::AnalysisThread {
            service: "analyzer".into(),
            image: "docker.io/library/postgres:latest".into(),
        });
        assert!(matches!(
            probe(&c, &ctx).await.unwrap_err(),
            e if e.contains("the container is gone")
        ));

        crate::env::Environment::new(dir.path(), "p", "docker-compose.yaml", false)
            .create()
            .unwrap();
        let seen = crate::env::SeenAnalysis {
            thread: "Thread-1001".into(),
            duration: Some(79.0),
            source: "p-analyzer-1".into(),
        };
        crate::env::remember_analysis(
            dir.path(),
            "analyzer",
            "docker.io/library/postgres:latest",
            seen,
        )
        .unwrap();
        match probe(&c, &ctx).await.unwrap() {
            Observation::Pass { actual } => {
                assert!(actual.contains("Thread-1001"), "{actual}");
                assert!(actual.contains("no longer have it"), "{actual}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn no_answer_fails_and_free_text_waits_for_grading() {
        let (_d, ctx) = ctx_with(None);
        let c = check(AnswerExpect::FreeText);
        assert_eq!(
            probe(&c, &ctx).await.unwrap(),
            Observation::fail("an answer to question `duration`", "no answer recorded")
        );
        let (_d, ctx) = ctx_with(Some("It shows the analyzer switching to processing."));
        assert!(matches!(
            probe(&c, &ctx).await.unwrap(),
            Observation::Pending { .. }
        ));
    }

    #[tokio::test]
    async fn patterns_match_without_regard_to_case() {
        let (_d, ctx) = ctx_with(Some("Thread-55181"));
        let c = check(AnswerExpect::Matches {
            pattern: "^thread-\\d+$".into(),
        });
        assert!(matches!(
            probe(&c, &ctx).await.unwrap(),
            Observation::Pass { .. }
        ));
    }

    #[tokio::test]
    async fn a_text_answer_to_a_number_question_says_what_is_expected() {
        let (_d, ctx) = ctx_with(Some("about a minute"));
        let c = check(AnswerExpect::Number {
            of: Computed::Literal(79.0),
            tolerance: 2.0,
        });
        match probe(&c, &ctx).await.unwrap() {
            Observation::Fail {
                expected, cause, ..
            } => {
                assert_eq!(expected, "a number or a duration such as 79s or 1m19s");
                assert_eq!(cause.map(|c| c.id), Some("answer-unreadable"));
            }
            other => panic!("{other:?}"),
        }
    }
}

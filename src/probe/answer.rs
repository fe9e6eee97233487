//! `answer` checks: the trainee's recorded answer to a question, compared with a
//! value the check computes (a literal, a PromQL value, or an analysis's duration
//! measured from the analyzer's logs), matched by a pattern, or kept for grading.

use super::{Ctx, Observation, ProbeResult};
use crate::analyzer_log::{self, Outcome};
use crate::model::check::{AnswerCheck, AnswerExpect, Computed};
use crate::model::parse_duration;
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
                Observation::fail(
                    format!("{} (from {}'s log lines for {image})", a.thread, a.source),
                    format!("{:?}", clip(answer, 80)),
                )
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
                return Ok(Observation::fail(
                    "a number or a duration such as 79s or 1m19s",
                    format!("{:?}", clip(answer, 80)),
                ));
            };
            let (want, source) = compute(of, ctx).await?;
            let expected = format!("{} ± {} ({source})", show(want), show(*tolerance));
            Ok(if (given - want).abs() <= *tolerance {
                Observation::pass(format!("{} (measured {})", show(given), show(want)))
            } else {
                Observation::fail(expected, show(given))
            })
        }
    }
}

/// `79`, `79.5`, `79s`, `1m19s`: a plain number or a duration in seconds.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    s.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .or_else(|| parse_duration(s).map(|d| d.as_secs_f64()))
}

fn show(n: f64) -> String {
    let s = format!("{n:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The value an answer is compared with, and where it came from in words.
async fn compute(of: &Computed, ctx: &Ctx) -> Result<(f64, String), String> {
    match of {
        Computed::Literal(v) => Ok((*v, "the model answer".into())),
        Computed::Prometheus(query) => {
            let v = super::prometheus::first_value(ctx, query).await?;
            Ok((v, format!("Prometheus: {query}")))
        }
        Computed::AnalysisDuration { service, image } => {
            let a = completed_analysis(ctx, service, image).await?;
            Ok((
                a.duration.unwrap_or_default(),
                format!("measured from {}'s {} log lines", a.source, a.thread),
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

/// `[Thread-55181]`, `thread-55181 ` and `Thread-55181` name the same thread.
pub fn same_thread(answer: &str, thread: &str) -> bool {
    let a = answer
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    a.eq_ignore_ascii_case(thread)
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
        assert_eq!(
            probe(&c, &ctx).await.unwrap(),
            Observation::fail("79 ± 2 (the model answer)", "90")
        );
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
            .save()
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
        assert_eq!(
            probe(&c, &ctx).await.unwrap(),
            Observation::fail(
                "a number or a duration such as 79s or 1m19s",
                "\"about a minute\""
            )
        );
    }
}

//! `logs` checks, and the log reader other probes share: stdout and stderr of every
//! container of a compose service, split into lines, within the attempt's deadline.

use super::container::no_container;
use super::{Ctx, Observation, ProbeResult};
use crate::engine::containers::{list_service, Found};
use crate::engine::docker::{host, short};
use crate::model::check::LogsCheck;
use crate::model::format_duration;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Every line the containers of `service` logged (within `since` when given), as
/// `(container name, line)`, container by container in name order. A service with
/// no container is an error that says so.
pub async fn service_logs(
    ctx: &Ctx,
    service: &str,
    since: Option<Duration>,
) -> Result<Vec<(String, String)>, String> {
    let docker = ctx.docker()?;
    let containers = list_service(docker, &ctx.target.project, service, ctx.remaining()).await?;
    if containers.is_empty() {
        return Err(no_container(service, &ctx.target.project));
    }
    let mut out = Vec::new();
    for_each_line(
        docker,
        service,
        &containers,
        since,
        ctx.deadline,
        |name, line| out.push((name.to_string(), line.to_string())),
    )
    .await?;
    Ok(out)
}

/// Streams the logs of `containers` and hands each complete line to `f`, so a
/// caller that only counts need not hold megabytes of analyzer logs.
async fn for_each_line(
    docker: &Docker,
    service: &str,
    containers: &[Found],
    since: Option<Duration>,
    deadline: Instant,
    mut f: impl FnMut(&str, &str),
) -> Result<(), String> {
    let since_ts = since
        .map(|d| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            i32::try_from(now.saturating_sub(d).as_secs()).unwrap_or(i32::MAX)
        })
        .unwrap_or(0);
    let started = Instant::now();
    for c in containers {
        let opts = LogsOptions {
            follow: false,
            stdout: true,
            stderr: true,
            since: since_ts,
            timestamps: false,
            ..Default::default()
        };
        let mut lines = Lines::default();
        let mut stream = docker.logs(&c.id, Some(opts));
        loop {
            let next = tokio::time::timeout_at(deadline.into(), stream.next()).await;
            let item = match next {
                Err(_) => {
                    return Err(format!(
                        "reading the logs of `{service}` ({}) took longer than {}",
                        c.name,
                        format_duration(super::tenths(deadline.saturating_duration_since(started)))
                    ))
                }
                Ok(None) => break,
                Ok(Some(item)) => item,
            };
            match item {
                Ok(out) => lines.push(&out, |l| f(&c.name, l)),
                Err(e) => {
                    return Err(format!(
                        "Docker engine at {}: cannot read the logs of {}: {}",
                        host(),
                        c.name,
                        short(&e)
                    ))
                }
            }
        }
        lines.finish(|l| f(&c.name, l));
    }
    Ok(())
}

/// Splits log frames into lines; stdout and stderr keep separate partial lines,
/// as their frames interleave.
#[derive(Default)]
struct Lines {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Lines {
    fn push(&mut self, frame: &LogOutput, mut emit: impl FnMut(&str)) {
        let buf = match frame {
            LogOutput::StdErr { .. } => &mut self.err,
            _ => &mut self.out,
        };
        buf.extend_from_slice(frame.as_ref());
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            emit(clean(&line).as_str());
        }
    }

    fn finish(self, mut emit: impl FnMut(&str)) {
        for rest in [self.out, self.err] {
            if !rest.is_empty() {
                emit(clean(&rest).as_str());
            }
        }
    }
}

fn clean(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    s.trim_end_matches(['\n', '\r']).to_string()
}

/// What a logs check expects, in words.
fn expected(c: &LogsCheck, at_least: usize) -> String {
    let mut s = format!(
        "at least {} in the logs of `{}` matching `{}`",
        crate::text::count(at_least, "line"),
        c.service,
        c.matches
    );
    if let Some(since) = c.since {
        s.push_str(&format!(" within the last {}", format_duration(since.0)));
    }
    s
}

pub async fn probe(c: &LogsCheck, ctx: &Ctx) -> ProbeResult {
    let re = regex::Regex::new(&c.matches)
        .map_err(|e| format!("the pattern `{}` is not a valid regex: {e}", c.matches))?;
    let at_least = c.at_least.unwrap_or(1);
    let expected = expected(c, at_least);
    let docker = ctx.docker()?;
    let project = &ctx.target.project;
    let containers = list_service(docker, project, &c.service, ctx.remaining()).await?;
    if containers.is_empty() {
        return Ok(Observation::fail(
            expected,
            no_container(&c.service, project),
        ));
    }
    let mut total = 0usize;
    let mut matching = 0usize;
    let mut first: Option<String> = None;
    for_each_line(
        docker,
        &c.service,
        &containers,
        c.since.map(|d| d.0),
        ctx.deadline,
        |name, line| {
            total += 1;
            if re.is_match(line) {
                matching += 1;
                if first.is_none() {
                    first = Some(format!("{name}: {}", crate::text::clip(line, 160)));
                }
            }
        },
    )
    .await?;
    let seen = match &first {
        Some(l) => format!(
            "{} matching (of {}), first: {l}",
            crate::text::count(matching, "line"),
            total
        ),
        None => format!(
            "no line matches among {} of {}",
            crate::text::count(total, "line"),
            crate::text::count(containers.len(), "container")
        ),
    };
    Ok(if matching >= at_least {
        Observation::pass(seen)
    } else {
        Observation::fail(expected, seen)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dur;

    fn split(frames: &[LogOutput]) -> Vec<String> {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for f in frames {
            lines.push(f, |l| out.push(l.to_string()));
        }
        lines.finish(|l| out.push(l.to_string()));
        out
    }

    #[test]
    fn frames_become_lines_with_partial_lines_joined_per_stream() {
        let out = |s: &str| LogOutput::StdOut {
            message: s.as_bytes().to_vec().into(),
        };
        let err = |s: &str| LogOutput::StdErr {
            message: s.as_bytes().to_vec().into(),
        };
        assert_eq!(
            split(&[
                out("one\ntw"),
                err("warn: x\r\n"),
                out("o\nthree"),
                err("tail")
            ]),
            vec!["one", "warn: x", "two", "three", "tail"]
        );
        assert_eq!(split(&[out("\n")]), vec![""]);
        assert!(split(&[]).is_empty());
    }

    #[test]
    fn expected_names_count_service_pattern_and_window() {
        let c = LogsCheck {
            service: "analyzer".into(),
            matches: "analysis complete".into(),
            since: Some(Dur::secs(300)),
            at_least: None,
        };
        let e = expected(&c, 1);
        assert!(e.starts_with("at least 1 line in the logs of `analyzer` matching `analysis complete` within the last "), "{e}");
    }
}

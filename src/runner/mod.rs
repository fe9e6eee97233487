//! The engine: runs checks concurrently within a bound, honours `needs`, retries
//! `eventually` checks, enforces timeouts, and reports through events. It prints
//! nothing; reporters listen to its events. What observes a check is a parameter
//! ([`Prober`]): the real probes, or a scripted one in tests (on tokio's paused clock).
//! Time is tokio's, so a paused clock drives retries and timeouts.

use crate::model::Target;
use crate::model::{format_duration, Check, CheckSpec, LoadedLab};
use crate::probe::{self, Ctx, Observation, ProbeResult};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

/// The per-attempt limit when a check names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long past its deadline a probe may take to notice before the engine cuts it off.
const GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// The probe could not look: server down, timeout, bad response.
    Error,
    /// A check it needs did not pass.
    Skipped,
    /// Waits for an instructor (free-text answers).
    Pending,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Passed => "PASS",
            Status::Failed => "FAIL",
            Status::Error => "ERROR",
            Status::Skipped => "SKIP",
            Status::Pending => "PENDING",
        }
    }
}

/// One check to run, with the exercise it belongs to.
#[derive(Debug, Clone)]
pub struct Planned {
    pub exercise: String,
    pub check: Check,
}

/// The checks of a run, in the lab's order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub lab_id: String,
    pub lab_title: String,
    pub checks: Vec<Planned>,
}

impl Plan {
    /// Every check of the lab, or one exercise's checks plus the checks they need.
    pub fn new(lab: &LoadedLab, exercise: Option<&str>) -> Plan {
        let all: Vec<Planned> = lab
            .lab
            .checks()
            .map(|(e, c)| Planned {
                exercise: e.id.clone(),
                check: c.clone(),
            })
            .collect();
        let checks = match exercise {
            None => all,
            Some(ex) => {
                let by_id: HashMap<&str, &Planned> =
                    all.iter().map(|p| (p.check.id.as_str(), p)).collect();
                let mut keep: BTreeSet<&str> = BTreeSet::new();
                let mut todo: Vec<&str> = all
                    .iter()
                    .filter(|p| p.exercise == ex)
                    .map(|p| p.check.id.as_str())
                    .collect();
                while let Some(id) = todo.pop() {
                    if keep.insert(id) {
                        if let Some(p) = by_id.get(id) {
                            todo.extend(p.check.needs.iter().map(String::as_str));
                        }
                    }
                }
                all.iter()
                    .filter(|p| keep.contains(p.check.id.as_str()))
                    .cloned()
                    .collect()
            }
        };
        Plan {
            lab_id: lab.lab.id(),
            lab_title: lab.lab.title.clone(),
            checks,
        }
    }
}

/// What happened to one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub exercise: String,
    pub kind: &'static str,
    pub description: String,
    pub status: Status,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Why it erred or was skipped.
    pub message: Option<String>,
    pub hint: Option<String>,
    /// Which cause of failure the probe found (`credentials-missing`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// What only an instructor may see (the expected answer): never serialized, so
    /// `lab check --json` cannot show it; `lab grade --detail` reads it.
    #[serde(skip)]
    pub reference: Option<String>,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    pub attempts: u32,
    pub points: i64,
    pub possible: i64,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What the engine tells its listeners, in the order things happen.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        index: usize,
    },
    Retrying {
        index: usize,
        attempt: u32,
        last: String,
    },
    Finished {
        index: usize,
        result: Box<CheckResult>,
    },
}

/// How the engine runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How many probes may run at once.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { concurrency: 64 }
    }
}

/// Shared parts of every probe's context.
#[derive(Clone)]
pub struct Resources {
    pub target: Arc<Target>,
    pub http: reqwest::Client,
    pub docker: Arc<Result<bollard::Docker, String>>,
}

impl Resources {
    pub fn new(target: Target, docker: Result<bollard::Docker, String>) -> Self {
        Resources {
            target: Arc::new(target),
            http: crate::client::http_client(),
            docker: Arc::new(docker),
        }
    }

    /// The session's target (answers read now), its HTTP client and `docker`.
    pub fn of(
        s: &crate::session::Session,
        docker: crate::session::DockerHandle,
    ) -> crate::error::Result<Self> {
        Ok(Resources {
            target: Arc::new(s.target()?),
            http: s.http.clone(),
            docker,
        })
    }
}

/// What observes one check. The runner asks it once per attempt.
pub trait Prober: Send + Sync + 'static {
    fn probe<'a>(
        &'a self,
        spec: &'a CheckSpec,
        ctx: &'a Ctx,
    ) -> Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>>;
}

/// The real probes (`probe::probe`).
pub struct Probes;

impl Prober for Probes {
    fn probe<'a>(
        &'a self,
        spec: &'a CheckSpec,
        ctx: &'a Ctx,
    ) -> Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>> {
        Box::pin(probe::probe(spec, ctx))
    }
}

/// Runs the plan with the real probes. Results come back in plan order; events arrive
/// as things happen.
pub async fn run(
    plan: &Plan,
    res: &Resources,
    opts: Options,
    events: mpsc::UnboundedSender<Event>,
) -> Vec<CheckResult> {
    run_with(plan, res, opts, events, Arc::new(Probes)).await
}

/// Runs the plan, observing each check with `prober`.
pub async fn run_with(
    plan: &Plan,
    res: &Resources,
    opts: Options,
    events: mpsc::UnboundedSender<Event>,
    prober: Arc<dyn Prober>,
) -> Vec<CheckResult> {
    let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    // Each check publishes its final status; dependants wait on it.
    let mut senders = Vec::new();
    let mut receivers: HashMap<String, watch::Receiver<Option<Status>>> = HashMap::new();
    for p in &plan.checks {
        let (tx, rx) = watch::channel(None);
        senders.push(tx);
        receivers.insert(p.check.id.clone(), rx);
    }

    let mut tasks = tokio::task::JoinSet::new();
    for (index, (p, done)) in plan.checks.iter().cloned().zip(senders).enumerate() {
        let needs: Vec<(String, watch::Receiver<Option<Status>>)> = p
            .check
            .needs
            .iter()
            .filter_map(|n| receivers.get(n).map(|r| (n.clone(), r.clone())))
            .collect();
        let sem = sem.clone();
        let res = res.clone();
        let events = events.clone();
        let prober = prober.clone();
        tasks.spawn(async move {
            let result = run_one(index, &p, needs, &sem, &res, &events, &*prober).await;
            let _ = done.send(Some(result.status));
            let _ = events.send(Event::Finished {
                index,
                result: Box::new(result.clone()),
            });
            (index, result)
        });
    }

    let mut results: Vec<Option<CheckResult>> = vec![None; plan.checks.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => {
                // A panic in a probe is a bug; the run still reports every other check.
                if e.is_panic() {
                    eprintln!("lab: internal error: a probe panicked; please report it");
                }
            }
        }
    }
    results
        .into_iter()
        .zip(&plan.checks)
        .map(|(r, p)| {
            r.unwrap_or_else(|| {
                finish(
                    p,
                    Status::Error,
                    None,
                    Some("internal error: the probe panicked".into()),
                    Duration::ZERO,
                    0,
                )
            })
        })
        .collect()
}

async fn run_one(
    index: usize,
    p: &Planned,
    needs: Vec<(String, watch::Receiver<Option<Status>>)>,
    sem: &Semaphore,
    res: &Resources,
    events: &mpsc::UnboundedSender<Event>,
    prober: &dyn Prober,
) -> CheckResult {
    for (name, mut rx) in needs {
        let status = match rx.wait_for(Option::is_some).await {
            Ok(s) => *s,
            Err(_) => Some(Status::Error),
        };
        if status != Some(Status::Passed) {
            let why = match status {
                Some(Status::Skipped) => format!("needs `{name}`, which was skipped"),
                Some(Status::Pending) => format!("needs `{name}`, which waits for grading"),
                _ => format!("needs `{name}`, which did not pass"),
            };
            return finish(p, Status::Skipped, None, Some(why), Duration::ZERO, 0);
        }
    }

    let _permit = sem.acquire().await.expect("the semaphore is never closed");
    let _ = events.send(Event::Started { index });
    let started = Instant::now();
    let timeout = p.check.timeout.map(|d| d.0).unwrap_or(DEFAULT_TIMEOUT);
    let window_end = p.check.eventually.map(|e| started + e.within.0);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let outcome = attempt_once(&p.check, res, timeout, prober).await;
        let passed = matches!(
            outcome,
            Ok(Observation::Pass { .. }) | Ok(Observation::Pending { .. })
        );
        // A password Grafana refused is not sent again: 5 refusals lock the account.
        let refused =
            !passed && p.check.spec.logs_in_to_grafana() && res.target.grafana.was_refused();
        let retry_at = p
            .check
            .eventually
            .filter(|_| !refused)
            .map(|e| Instant::now() + e.every.0);
        match (passed, window_end, retry_at) {
            (false, Some(end), Some(next)) if next < end => {
                let last = match &outcome {
                    Ok(Observation::Fail { actual, .. }) => actual.clone(),
                    Err(e) => e.clone(),
                    Ok(_) => String::new(),
                };
                let _ = events.send(Event::Retrying {
                    index,
                    attempt,
                    last: crate::redact::clean(&last),
                });
                tokio::time::sleep_until(next).await;
            }
            _ => {
                let elapsed = started.elapsed();
                return match outcome {
                    Ok(Observation::Pass { actual }) => finish(
                        p,
                        Status::Passed,
                        Some((None, actual)),
                        None,
                        elapsed,
                        attempt,
                    ),
                    Ok(Observation::Pending { actual }) => finish(
                        p,
                        Status::Pending,
                        Some((None, actual)),
                        None,
                        elapsed,
                        attempt,
                    ),
                    Ok(Observation::Fail {
                        expected,
                        actual,
                        cause,
                        reference,
                    }) => {
                        let mut r = finish(
                            p,
                            Status::Failed,
                            Some((Some(expected), actual)),
                            None,
                            elapsed,
                            attempt,
                        );
                        if let Some(c) = cause {
                            // The cause's own hint says what to fix better than the
                            // check's: the lab's own words for a named cause, else the
                            // probe's.
                            let named = c.named();
                            r.hint = Some(match named {
                                Some(id) => p.check.causes.get(id).cloned().unwrap_or(c.hint),
                                None => c.hint,
                            });
                            r.cause = named.map(str::to_string);
                        }
                        r.reference = reference;
                        r
                    }
                    Err(e) => finish(p, Status::Error, None, Some(e), elapsed, attempt),
                };
            }
        }
    }
}

async fn attempt_once(
    check: &Check,
    res: &Resources,
    timeout: Duration,
    prober: &dyn Prober,
) -> ProbeResult {
    let ctx = Ctx {
        target: res.target.clone(),
        http: res.http.clone(),
        docker: res.docker.clone(),
        deadline: std::time::Instant::now() + timeout,
    };
    let cap = check.max_body.map_or(probe::DEFAULT_MAX_BODY, |b| b.0);
    let probing = probe::MAX_BODY.scope(cap, prober.probe(&check.spec, &ctx));
    match tokio::time::timeout(timeout + GRACE, probing).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {}", format_duration(timeout))),
    }
}

fn finish(
    p: &Planned,
    status: Status,
    seen: Option<(Option<String>, String)>,
    message: Option<String>,
    duration: Duration,
    attempts: u32,
) -> CheckResult {
    // What probes saw comes from servers, logs and trainees: redacted and stripped
    // of control characters before it is kept.
    let clean = |s: String| crate::redact::clean(&s);
    let (expected, actual) = match seen {
        Some((e, a)) => (e.map(clean), Some(clean(a))),
        None => (None, None),
    };
    let message = message.map(clean);
    let c = &p.check;
    CheckResult {
        id: c.id.clone(),
        exercise: p.exercise.clone(),
        kind: c.spec.kind(),
        description: c.description.clone(),
        status,
        expected,
        actual,
        message,
        // The hint is for what the trainee must fix; a pass needs none.
        hint: if matches!(status, Status::Failed | Status::Error) {
            c.hint.clone()
        } else {
            None
        },
        cause: None,
        reference: None,
        duration,
        attempts,
        points: if status == Status::Passed {
            c.points
        } else {
            0
        },
        possible: c.points,
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub pending: usize,
    pub points: i64,
    pub possible: i64,
}

impl Summary {
    pub fn of(results: &[CheckResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.status {
                Status::Passed => s.passed += 1,
                Status::Failed => s.failed += 1,
                Status::Error => s.errors += 1,
                Status::Skipped => s.skipped += 1,
                Status::Pending => s.pending += 1,
            }
            s.points += r.points;
            s.possible += r.possible;
        }
        s
    }

    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errors == 0 && self.skipped == 0
    }
}

#[cfg(test)]
mod tests;

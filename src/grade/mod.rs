//! Grading: every trainee's environment (from a roster) or submission (a signed
//! bundle) turned into one gradebook. Environments are graded concurrently within a
//! bound, each with its own deadline; the checks inside one run on `runner::run` as
//! `lab check` runs them. Nothing here prints: `report::gradebook` renders the book.

pub mod bundle;
pub mod class;
pub mod watch;

use crate::model::roster::{ManualScore, ManualScores, Roster, Trainee};
use crate::model::{CheckSpec, Dur, LoadedLab};
use crate::model::{Endpoint, Target};
use crate::runner::{self, CheckResult, Event, Plan, Resources, Status};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What became of one check in the gradebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Passed,
    Failed,
    /// The probe could not look (server down, timeout, bad answer).
    Error,
    /// A check it needs did not pass.
    Skipped,
    /// A free-text answer waiting for the instructor (manual scores).
    Pending,
    /// The trainee's Docker engine could not be reached.
    Unreachable,
    /// The roster gives no work folder, and this check reads files there
    /// (file, compose, answer and command checks): cannot check remotely.
    NotChecked,
}

impl Mark {
    pub fn label(self) -> &'static str {
        match self {
            Mark::Passed => "PASS",
            Mark::Failed => "FAIL",
            Mark::Error => "ERROR",
            Mark::Skipped => "SKIP",
            Mark::Pending => "PENDING",
            Mark::Unreachable => "UNREACHABLE",
            Mark::NotChecked => "NOT CHECKED",
        }
    }
}

/// One check of one trainee: what was expected, what was seen, the points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradedCheck {
    pub id: String,
    pub exercise: String,
    pub kind: String,
    pub description: String,
    pub status: Mark,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub message: Option<String>,
    pub hint: Option<String>,
    pub points: i64,
    pub possible: i64,
    /// The instructor's score, which replaces `points` in the totals.
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub manual: Option<ManualScore>,
}

impl GradedCheck {
    /// `unreachable`: the check needs the Docker engine, which could not be reached.
    pub fn from_result(r: &CheckResult, unreachable: bool) -> GradedCheck {
        let status = match r.status {
            Status::Passed => Mark::Passed,
            Status::Failed => Mark::Failed,
            Status::Error if unreachable => Mark::Unreachable,
            Status::Error => Mark::Error,
            Status::Skipped => Mark::Skipped,
            Status::Pending => Mark::Pending,
        };
        // The trainee's hint says what to fix in the deployment; it means nothing
        // when the engine could not even be asked.
        let hint = if status == Mark::Unreachable {
            None
        } else {
            r.hint.clone()
        };
        GradedCheck {
            id: r.id.clone(),
            exercise: r.exercise.clone(),
            kind: r.kind.to_string(),
            description: r.description.clone(),
            status,
            // Instructors see the value a trainee is never shown (an answer's).
            expected: match (&r.reference, &r.expected) {
                (Some(v), Some(e)) => Some(format!("{e}: {v}")),
                (Some(v), None) => Some(v.clone()),
                (None, e) => e.clone(),
            },
            actual: r.actual.clone(),
            message: r.message.clone(),
            hint,
            points: r.points,
            possible: r.possible,
            manual: None,
        }
    }

    /// The points that count: the instructor's when given.
    pub fn score(&self) -> i64 {
        self.manual.as_ref().map_or(self.points, |m| m.points)
    }
}

/// One lab of one trainee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabGrade {
    pub lab: String,
    /// False when a bundle does not hold this lab (or was rejected): no points.
    pub graded: bool,
    pub checks: Vec<GradedCheck>,
}

impl LabGrade {
    pub fn points(&self) -> i64 {
        self.checks.iter().map(GradedCheck::score).sum()
    }
}

/// Where a trainee's grades come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// Their environment, reached through the roster.
    Roster,
    /// A submission file.
    Bundle { file: String },
}

/// One trainee's row of the gradebook.
#[derive(Debug, Clone, Serialize)]
pub struct TraineeGrade {
    pub trainee: String,
    pub origin: Origin,
    /// What kept the grading from being complete: an unreachable engine, a deadline,
    /// a rejected bundle, a missing work folder. Empty when nothing did.
    pub problems: Vec<String>,
    /// A bundle that failed verification: nothing in it is graded.
    pub rejected: bool,
    pub labs: Vec<LabGrade>,
    /// Question id -> the trainee's answer.
    pub answers: BTreeMap<String, String>,
}

/// A lab as the gradebook lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LabInfo {
    pub id: String,
    pub title: String,
    pub possible: i64,
    pub questions: Vec<QuestionInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuestionInfo {
    pub id: String,
    pub prompt: String,
    pub model_answer: Option<String>,
}

/// The whole class: labs in order, trainees in roster order then bundles by file name.
#[derive(Debug, Clone, Serialize)]
pub struct Gradebook {
    pub labs: Vec<LabInfo>,
    pub trainees: Vec<TraineeGrade>,
}

impl Gradebook {
    pub fn new(labs: &[&LoadedLab], trainees: Vec<TraineeGrade>) -> Gradebook {
        Gradebook {
            labs: labs
                .iter()
                .map(|l| LabInfo {
                    id: l.lab.id(),
                    title: l.lab.title.clone(),
                    possible: l.lab.possible_points(),
                    questions: l
                        .lab
                        .questions()
                        .map(|q| QuestionInfo {
                            id: q.id.clone(),
                            prompt: q.prompt.trim().to_string(),
                            model_answer: q.model_answer.as_ref().map(|a| a.trim().to_string()),
                        })
                        .collect(),
                })
                .collect(),
            trainees: trainees.into_iter().map(TraineeGrade::cleaned).collect(),
        }
    }

    pub fn possible(&self) -> i64 {
        self.labs.iter().map(|l| l.possible).sum()
    }

    /// Applies the instructor's scores (already validated against roster and labs).
    pub fn apply_manual(&mut self, scores: &ManualScores, labs: &[&LoadedLab]) {
        for t in &mut self.trainees {
            let Some(by_lab) = scores.get(&t.trainee) else {
                continue;
            };
            for (lab_key, entries) in by_lab {
                let Some(lab) = labs
                    .iter()
                    .find(|l| crate::loader::find(std::slice::from_ref(*l), lab_key).is_ok())
                else {
                    continue;
                };
                let Some(grade) = t.labs.iter_mut().find(|g| g.lab == lab.lab.id()) else {
                    continue;
                };
                for (key, score) in entries {
                    let Some(check) = crate::loader::roster::resolve(lab, key) else {
                        continue;
                    };
                    if let Some(c) = grade.checks.iter_mut().find(|c| c.id == check.id) {
                        c.manual = Some(score.clone());
                    }
                }
            }
        }
    }

    /// Whether every trainee was graded without a problem.
    pub fn complete(&self) -> bool {
        self.trainees.iter().all(|t| t.problems.is_empty())
    }
}

impl TraineeGrade {
    /// Names, answers and evidence come from rosters, bundles and servers: redacted
    /// and stripped of control characters before any gradebook shows them.
    pub fn cleaned(mut self) -> TraineeGrade {
        use crate::redact::{clean, clean_line};
        let opt = |o: &mut Option<String>| {
            if let Some(s) = o {
                *s = clean(s);
            }
        };
        self.trainee = clean_line(&self.trainee);
        self.problems.iter_mut().for_each(|p| *p = clean(p));
        self.answers = std::mem::take(&mut self.answers)
            .into_iter()
            .map(|(q, a)| (clean_line(&q), clean(&a)))
            .collect();
        if let Origin::Bundle { file } = &mut self.origin {
            *file = clean_line(file);
        }
        for l in &mut self.labs {
            l.lab = clean_line(&l.lab);
            for c in &mut l.checks {
                for s in [&mut c.id, &mut c.exercise, &mut c.kind, &mut c.description] {
                    *s = clean_line(s);
                }
                opt(&mut c.expected);
                opt(&mut c.actual);
                opt(&mut c.message);
                opt(&mut c.hint);
            }
        }
        self
    }

    pub fn points(&self) -> i64 {
        self.labs.iter().map(LabGrade::points).sum()
    }
}

/// How grading runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Environments graded at once.
    pub jobs: usize,
    /// Probes at once within one environment.
    pub checks_per_env: usize,
    /// The longest one probe may take (a check's own `timeout` when shorter).
    pub probe_timeout: Duration,
    /// The longest one environment may take; checks still running then are errors.
    pub deadline: Duration,
    /// How long a Docker engine has to answer its first ping.
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 32,
            checks_per_env: 16,
            probe_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// A Docker engine, connected once however many environments share it.
type Engine = Arc<tokio::sync::OnceCell<Arc<Result<bollard::Docker, String>>>>;

#[derive(Default)]
struct Engines(Mutex<HashMap<String, Engine>>);

impl Engines {
    async fn get(&self, t: &Trainee, opts: &Options) -> Arc<Result<bollard::Docker, String>> {
        let host = docker_host(t);
        let key = format!("{host}\n{:?}", t.tls_dir);
        let cell = self
            .0
            .lock()
            .expect("no panics while the lock is held")
            .entry(key)
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            Arc::new(
                crate::engine::docker::connect_to(
                    &host,
                    t.tls_dir.as_deref(),
                    opts.connect_timeout,
                    opts.probe_timeout,
                )
                .await,
            )
        })
        .await
        .clone()
    }
}

pub fn docker_host(t: &Trainee) -> String {
    t.docker
        .clone()
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

/// Grades every trainee of the roster on `labs`. `var` reads environment variables
/// (the passwords the roster names); `done` hears of each trainee as it finishes.
pub async fn grade_roster(
    roster: &Roster,
    labs: &[&LoadedLab],
    opts: Options,
    var: &(dyn Fn(&str) -> Option<String> + Sync),
    done: &(dyn Fn(&TraineeGrade) + Sync),
) -> Vec<TraineeGrade> {
    let engines = Engines::default();
    let http = crate::client::http_client();
    let mut out: Vec<(usize, TraineeGrade)> =
        futures_util::stream::iter(roster.trainees.iter().enumerate())
            .map(|(i, t)| {
                let engines = &engines;
                let http = http.clone();
                async move {
                    let g = grade_one(t, labs, &opts, var, engines, http).await;
                    done(&g);
                    (i, g)
                }
            })
            .buffer_unordered(opts.jobs.max(1))
            .collect()
            .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, g)| g).collect()
}

/// Whether a check reads the trainee's folder (and so needs a work folder).
fn needs_workdir(spec: &CheckSpec) -> bool {
    matches!(
        spec,
        CheckSpec::File(_)
            | CheckSpec::Compose(_)
            | CheckSpec::Answer(_)
            | CheckSpec::Command(_)
            | CheckSpec::ScrapeFile(_)
            | CheckSpec::PrometheusConfig(_)
    )
}

async fn grade_one(
    t: &Trainee,
    labs: &[&LoadedLab],
    opts: &Options,
    var: &(dyn Fn(&str) -> Option<String> + Sync),
    engines: &Engines,
    http: reqwest::Client,
) -> TraineeGrade {
    let deadline = Instant::now() + opts.deadline;
    let mut problems = Vec::new();
    let workdir = match &t.workdir {
        Some(d) if d.is_dir() => Some(d.clone()),
        Some(d) => {
            problems.push(format!(
                "work folder {} not found: its file, compose, answer and command checks are not checked",
                d.display()
            ));
            None
        }
        None => None,
    };
    let answers = match &workdir {
        Some(d) => match crate::env::read_answers(d) {
            Ok(a) => a,
            Err(e) => {
                problems.push(e.to_string());
                BTreeMap::new()
            }
        },
        None => BTreeMap::new(),
    };
    let target = target(t, workdir.as_deref(), answers.clone(), var);

    // The plans as grading runs them: one attempt per check (an environment is graded
    // as it is, not waited for), each within the probe timeout.
    let remote_why = match &t.workdir {
        Some(d) => format!(
            "cannot check remotely: the work folder {} is not there",
            d.display()
        ),
        None => "cannot check remotely: the roster gives no work folder for this trainee".into(),
    };
    let mut plans = Vec::new();
    let mut not_checked: Vec<Vec<Option<GradedCheck>>> = Vec::new();
    for lab in labs {
        let mut plan = Plan::new(lab, None);
        let mut slots = Vec::new();
        plan.checks.retain(|p| {
            let remote_only = workdir.is_none() && needs_workdir(&p.check.spec);
            slots.push(remote_only.then(|| not_checked_result(&p.exercise, &p.check, &remote_why)));
            !remote_only
        });
        for p in &mut plan.checks {
            p.check.eventually = None;
            let t = p.check.timeout.map_or(runner::DEFAULT_TIMEOUT, |d| d.0);
            p.check.timeout = Some(Dur(t.min(opts.probe_timeout)));
        }
        plans.push(plan);
        not_checked.push(slots);
    }

    let wants_docker = plans
        .iter()
        .flat_map(|p| &p.checks)
        .any(|p| p.check.spec.needs_docker());
    let docker = if wants_docker {
        engines.get(t, opts).await
    } else {
        Arc::new(Err("not needed by these checks".into()))
    };
    let docker_down = match docker.as_ref() {
        Err(e) if wants_docker => {
            problems.push(format!(
                "Docker engine unreachable: {e}; its container and log checks are marked unreachable"
            ));
            true
        }
        _ => false,
    };
    let res = Resources {
        target: Arc::new(target),
        http,
        docker,
    };
    let run_opts = runner::Options {
        concurrency: opts.checks_per_env,
    };
    let runs = plans
        .iter()
        .map(|plan| run_until(plan, &res, run_opts, deadline, opts.deadline));
    let results = futures_util::future::join_all(runs).await;

    let mut late = false;
    let mut grades = Vec::new();
    for (((lab, plan), (results, hit)), slots) in
        labs.iter().zip(&plans).zip(results).zip(not_checked)
    {
        late |= hit;
        let mut ran = results.iter().zip(&plan.checks);
        let checks = slots
            .into_iter()
            .filter_map(|slot| match slot {
                Some(nc) => Some(nc),
                None => ran.next().map(|(r, p)| {
                    GradedCheck::from_result(r, docker_down && p.check.spec.needs_docker())
                }),
            })
            .collect();
        grades.push(LabGrade {
            lab: lab.lab.id(),
            graded: true,
            checks,
        });
    }
    // The container and log probes name the engine as DOCKER_HOST gives it (they
    // serve `lab check`); here the engine is the roster's.
    let local = format!("Docker engine at {}:", crate::engine::docker::host());
    let ours = format!("Docker engine at {}:", docker_host(t));
    if local != ours {
        for c in grades.iter_mut().flat_map(|g| g.checks.iter_mut()) {
            if let Some(m) = &mut c.message {
                *m = m.replace(&local, &ours);
            }
        }
    }
    // A check that could not look says something about the environment (a server
    // that hangs or is down), not only about the trainee's work.
    for g in &grades {
        for c in g.checks.iter().filter(|c| c.status == Mark::Error) {
            problems.push(format!(
                "{}/{} could not look: {}",
                g.lab,
                c.id,
                c.message.as_deref().unwrap_or("no reason given")
            ));
        }
    }
    if late {
        problems.push(format!(
            "not finished within the deadline ({}); the checks still running are errors",
            crate::model::format_duration(opts.deadline)
        ));
    }
    TraineeGrade {
        trainee: t.name.clone(),
        origin: Origin::Roster,
        problems,
        rejected: false,
        labs: grades,
        answers,
    }
}

fn not_checked_result(exercise: &str, c: &crate::model::Check, why: &str) -> GradedCheck {
    GradedCheck {
        id: c.id.clone(),
        exercise: exercise.to_string(),
        kind: c.spec.kind().to_string(),
        description: c.description.clone(),
        status: Mark::NotChecked,
        expected: None,
        actual: None,
        message: Some(why.to_string()),
        hint: None,
        points: 0,
        possible: c.points,
        manual: None,
    }
}

/// Runs a plan until it ends or the environment's deadline passes; then the checks
/// that have not finished are errors. The bool tells whether the deadline hit.
async fn run_until(
    plan: &Plan,
    res: &Resources,
    opts: runner::Options,
    deadline: Instant,
    budget: Duration,
) -> (Vec<CheckResult>, bool) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut finished: Vec<Option<CheckResult>> = vec![None; plan.checks.len()];
    let run = runner::run(plan, res, opts, tx);
    tokio::pin!(run);
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            results = &mut run => return (results, false),
            Some(ev) = rx.recv() => {
                if let Event::Finished { index, result } = ev {
                    finished[index] = Some(*result);
                }
            }
            _ = &mut sleep => break,
        }
    }
    while let Ok(ev) = rx.try_recv() {
        if let Event::Finished { index, result } = ev {
            finished[index] = Some(*result);
        }
    }
    let why = format!(
        "not finished within the environment's deadline ({})",
        crate::model::format_duration(budget)
    );
    let results = finished
        .into_iter()
        .zip(&plan.checks)
        .map(|(r, p)| {
            r.unwrap_or_else(|| CheckResult {
                id: p.check.id.clone(),
                exercise: p.exercise.clone(),
                kind: p.check.spec.kind(),
                description: p.check.description.clone(),
                status: Status::Error,
                expected: None,
                actual: None,
                message: Some(why.clone()),
                hint: p.check.hint.clone(),
                cause: None,
                reference: None,
                duration: budget,
                attempts: 0,
                points: 0,
                possible: p.check.points,
            })
        })
        .collect();
    (results, true)
}

/// Where the checks look for one trainee.
fn target(
    t: &Trainee,
    workdir: Option<&Path>,
    answers: BTreeMap<String, String>,
    var: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Target {
    let defaults = crate::env::Endpoints::default();
    let endpoint = |svc: &Option<crate::model::roster::Service>, url: &str, user: &str| {
        let (url, user, password) = match svc {
            Some(s) => (
                s.url.clone(),
                s.user.clone().unwrap_or_else(|| user.to_string()),
                s.password_env.as_deref().and_then(var).unwrap_or_default(),
            ),
            None => (url.to_string(), user.to_string(), String::new()),
        };
        Endpoint::new(&url, &user, &password)
    };
    let dir = workdir.map(Path::to_path_buf).unwrap_or_default();
    let compose_file = workdir
        .and_then(|d| {
            crate::env::Environment::open(d)
                .ok()
                .map(|e| e.compose_file())
                .or_else(|| crate::env::find_compose_file(d))
        })
        .unwrap_or_else(|| dir.join("docker-compose.yaml"));
    Target {
        workdir: dir,
        compose_file,
        project: t.project.clone(),
        anchore: endpoint(&t.anchore, &defaults.anchore_url, &defaults.anchore_user),
        prometheus: endpoint(&t.prometheus, &defaults.prometheus_url, ""),
        grafana: endpoint(&t.grafana, &defaults.grafana_url, &defaults.grafana_user)
            .once_refused_never_resent(),
        answers,
        moved_ports: Default::default(),
    }
}

/// A path as the gradebook shows it: relative to `base` when inside it.
pub fn shown(p: &Path, base: &Path) -> String {
    p.strip_prefix(base)
        .map(PathBuf::from)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests;

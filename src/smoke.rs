//! `lab smoke`'s judgement, without I/O: what a lab's checks must show before its
//! solution, after it, and after each of its variants, and what is wrong when they
//! do not. The command (`cmd::smoke`) runs the environments and hands the results here.

use crate::model::lab::{Lab, Variant};
use crate::model::Step;
use crate::runner::{CheckResult, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One run of a lab in a fresh environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// Setup, checks (which must fail), the model solution, checks (which must pass).
    Solution,
    /// Setup, then a variant's steps; exactly its `fails` checks must fail.
    Variant(String),
}

impl Scenario {
    pub fn name(&self) -> String {
        match self {
            Scenario::Solution => "solution".into(),
            Scenario::Variant(id) => format!("variant {id}"),
        }
    }
}

/// The scenarios of a lab, in the order they run.
pub fn scenarios(lab: &Lab, only_solution: bool) -> Vec<Scenario> {
    let mut out = vec![Scenario::Solution];
    if !only_solution {
        out.extend(lab.variants.iter().map(|v| Scenario::Variant(v.id.clone())));
    }
    out
}

impl Scenario {
    /// The steps that follow the lab's setup (`None`: a variant the lab does not have).
    pub fn steps<'a>(&self, lab: &'a Lab) -> Option<Vec<&'a Step>> {
        match self {
            Scenario::Solution => Some(lab.solve.iter().collect()),
            Scenario::Variant(id) => lab
                .variants
                .iter()
                .find(|v| &v.id == id)
                .map(|v| v.steps(lab)),
        }
    }
}

/// Whether a scenario runs the lab's solution, then steps of its own that change the
/// environment (a variant whose `after:` holds a step other than an answer): it can
/// start where the solution ends and run only those. Its work steps (`split_answers`)
/// then always begin with every step of the solution.
pub fn adds_after_solution(lab: &Lab, scenario: &Scenario) -> bool {
    let Scenario::Variant(id) = scenario else {
        return false;
    };
    lab.variants.iter().find(|v| &v.id == id).is_some_and(|v| {
        v.instead.is_none()
            && v.after
                .as_ref()
                .is_some_and(|a| a.iter().any(|s| !matches!(s, Step::Answer { .. })))
    })
}

/// A scenario's steps split in two: the ones that change the environment, then the
/// answers it records at the end (`None` when an answer comes before another step: that
/// answer may be measured off a state the later steps change).
pub fn split_answers<'a>(steps: &[&'a Step]) -> Option<(Vec<&'a Step>, Vec<&'a Step>)> {
    let is_answer = |s: &&Step| matches!(s, Step::Answer { .. });
    let first = steps.iter().position(is_answer).unwrap_or(steps.len());
    let (work, answers) = steps.split_at(first);
    answers
        .iter()
        .all(is_answer)
        .then(|| (work.to_vec(), answers.to_vec()))
}

/// Whether steps bring the whole stack up before anything uses it: they begin with
/// edits of the environment's files, then a `compose_up` of every service. A scenario
/// restored from a snapshot can then leave the restored stack created but not started,
/// and its own `compose_up` starts it once. Started at the restore, most of its
/// containers would be stopped and recreated by that `compose_up` moments later (lab 2:
/// every Anchore service, for the metrics switched on).
pub fn brings_stack_up_first(steps: &[Step]) -> bool {
    for step in steps {
        match step {
            Step::UncommentBlock { .. }
            | Step::SetEnv { .. }
            | Step::AddService { .. }
            | Step::AddVolume { .. }
            | Step::WriteAsset { .. }
            | Step::ReplaceText { .. } => continue,
            Step::ComposeUp { services, .. } => return services.is_empty(),
            _ => return false,
        }
    }
    false
}

/// The scenarios that can share one environment, in the order given: those whose steps
/// differ only in the answers they record at the end. An `answer` step writes the
/// answers file and nothing else, and checks only read the environment, so after the
/// shared steps each member of a group has the environment exactly as its own run would
/// have had it; it then records its own answers (from the answers the setup left) and
/// is checked. Lab 1's solution and the variants that only answer otherwise are one
/// group: one stack where each had its own.
pub fn share(lab: &Lab, scenarios: Vec<Scenario>) -> Vec<Vec<Scenario>> {
    let mut groups: Vec<(Option<Vec<&Step>>, Vec<Scenario>)> = Vec::new();
    for sc in scenarios {
        let work = sc
            .steps(lab)
            .and_then(|steps| split_answers(&steps).map(|(work, _)| work));
        match groups.iter_mut().find(|(w, _)| w.is_some() && *w == work) {
            Some((_, members)) => members.push(sc),
            None => groups.push((work, vec![sc])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

/// Where one environment of a run starts, as [`plan_snapshots`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapStart {
    /// Replays its setup: it starts from no snapshot, or is the only one starting there.
    Setup,
    /// From the snapshot an earlier run left in the cache.
    Cached,
    /// Replays the setup, then takes the snapshot the others starting there restore.
    Leader,
    /// From the snapshot environment `from` takes; `behind`: not before environment
    /// `behind` (the head, see [`SnapPlan::head`]) has restored it.
    Follower { from: usize, behind: Option<usize> },
}

/// The snapshots of a run: where each environment starts, which take the snapshot of
/// where their solution ends (`produce`), and which restore theirs before the others
/// starting there (`head`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapPlan {
    pub start: Vec<SnapStart>,
    pub produce: Vec<bool>,
    pub head: Vec<bool>,
}

impl SnapPlan {
    /// How many snapshots stand between an environment and the run's start.
    pub fn depth(&self, mut i: usize) -> usize {
        let mut d = 0;
        while let SnapStart::Follower { from, .. } = self.start[i] {
            if d >= self.start.len() {
                break;
            }
            d += 1;
            i = from;
        }
        d
    }
}

/// Plans a run's snapshots. `starts[i]`: the key of the state environment `i` starts
/// in (`None`: it brings its stack up fresh); `ends[i]`: the key of where its solution
/// ends (`None`: it runs no solution); `cached`: the keys the cache holds; `keep`: a
/// start only one environment needs is still taken (to keep it in the cache).
///
/// A start some solution of the run ends in is taken by the first such solution, after
/// its steps, and every environment starting there follows it; of those, the first
/// that takes a snapshot in turn (the next lab's solution, on the run's longest path)
/// is the head and restores first. Any other start is taken by the first environment
/// starting there, after its setup (the leader). A cached start is restored by all.
pub fn plan_snapshots(
    starts: &[Option<&str>],
    ends: &[Option<&str>],
    cached: &BTreeSet<&str>,
    keep: bool,
) -> SnapPlan {
    let n = starts.len();
    let mut consumers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in starts.iter().enumerate() {
        if let Some(k) = k {
            consumers.entry(k).or_default().push(i);
        }
    }
    let mut producer: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, k) in ends.iter().enumerate() {
        if let Some(k) = k {
            producer.entry(k).or_insert(i);
        }
    }
    let produce: Vec<bool> = (0..n)
        .map(|i| {
            ends[i].is_some_and(|k| {
                producer[k] == i && consumers.contains_key(k) && !cached.contains(k)
            })
        })
        .collect();
    let mut head = vec![false; n];
    let mut head_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, list) in &consumers {
        if producer.contains_key(k) && !cached.contains(k) {
            if let Some(&i) = list.iter().find(|&&i| produce[i]) {
                head[i] = true;
                head_of.insert(k, i);
            }
        }
    }
    let start = (0..n)
        .map(|i| {
            let Some(k) = starts[i] else {
                return SnapStart::Setup;
            };
            if cached.contains(k) {
                return SnapStart::Cached;
            }
            if let Some(&from) = producer.get(k) {
                let behind = head_of.get(k).copied().filter(|&h| h != i);
                return SnapStart::Follower { from, behind };
            }
            let list = &consumers[k];
            match (list.len() < 2 && !keep, list[0] == i) {
                (true, _) => SnapStart::Setup,
                (false, true) => SnapStart::Leader,
                (false, false) => SnapStart::Follower {
                    from: list[0],
                    behind: None,
                },
            }
        })
        .collect();
    SnapPlan {
        start,
        produce,
        head,
    }
}

/// Who takes over each environment where its solution ends, instead of restoring the
/// snapshot of that state into a fresh one: for a solution that takes that snapshot
/// (`produce`), the first solution following it (`solution`; in the same `group`: the
/// same round, on the same images), the head when that is one. On the course this is
/// the run's longest path, each lab's solution going on where the previous one ended.
pub fn plan_handovers<G: PartialEq>(
    plan: &SnapPlan,
    solution: &[bool],
    group: &[G],
) -> Vec<Option<usize>> {
    let n = plan.start.len();
    (0..n)
        .map(|i| {
            if !plan.produce[i] {
                return None;
            }
            let follows = |j: &usize| {
                solution[*j]
                    && group[*j] == group[i]
                    && matches!(plan.start[*j], SnapStart::Follower { from, .. } if from == i)
            };
            let takers: Vec<usize> = (0..n).filter(follows).collect();
            takers
                .iter()
                .find(|&&j| plan.head[j])
                .or(takers.first())
                .copied()
        })
        .collect()
}

/// One environment of a run, as [`before_hosts`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeSeat<S> {
    /// It runs a lab's solution, on the default images: the lab's checks are judged
    /// before its steps.
    pub solution: bool,
    /// The state it starts in (two seats start in the same state when these are equal:
    /// the same round and lab, the same snapshot or none, the same steps after it).
    pub start: S,
    /// It could judge those checks before its own steps at no cost: its stack is up
    /// before them (they do not bring it up first).
    pub can_host: bool,
}

/// Who judges each solution's checks before its steps (they must all fail there):
/// another environment starting in the same state, before its own steps. The solution
/// goes straight to its steps: on the run's longest path (each lab's solution starts
/// where the previous one ends), the checks' windows (lab 3's take 10 s) no longer
/// wait. `None`: the solution judges its own (no such environment). A host serves one
/// solution; the first in the run's order is chosen.
pub fn before_hosts<S: PartialEq>(seats: &[BeforeSeat<S>]) -> Vec<Option<usize>> {
    let mut taken = vec![false; seats.len()];
    seats
        .iter()
        .map(|seat| {
            if !seat.solution {
                return None;
            }
            let host = (0..seats.len()).find(|&j| {
                !taken[j] && seats[j].can_host && !seats[j].solution && seats[j].start == seat.start
            })?;
            taken[host] = true;
            Some(host)
        })
        .collect()
}

/// A rough length of an environment's run, to start the longest first: each lab its
/// setup replays (`replayed`, 0 when it starts from a snapshot) about half a minute, each
/// step a few seconds, and each check a member must fail its whole `eventually` window
/// (a failing check waits it out). Only the order of these numbers matters.
pub fn expected_length(lab: &Lab, members: &[Scenario], replayed: usize) -> Duration {
    let mut total = Duration::from_secs(30) * replayed as u32;
    for m in members {
        total += Duration::from_secs(5) * m.steps(lab).map_or(0, |s| s.len()) as u32;
        if let Scenario::Variant(id) = m {
            let fails = lab
                .variants
                .iter()
                .find(|v| &v.id == id)
                .map(|v| v.fails.as_slice())
                .unwrap_or_default();
            total += lab
                .checks()
                .filter(|(_, c)| fails.contains(&c.id))
                .filter_map(|(_, c)| c.eventually.as_ref())
                .map(|e| e.within.0)
                .sum::<Duration>();
        }
    }
    total
}

/// Another set of images that labs' solutions also run with (`lab smoke --matrix`):
/// each named lab gets one more scenario, its solution on these images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The replacement images' last path parts (`grafana:12`), for the report.
    pub name: String,
    /// The labs, as the user named them.
    pub labs: Vec<String>,
    /// `FROM=TO` image maps, as given.
    pub images: Vec<String>,
}

/// `LABS@FROM=TO[,FROM=TO]`: `4@docker.io/grafana/grafana:latest=lab-bench/grafana:12`,
/// `2,3@docker.io/prom/prometheus:latest=lab-bench/prometheus:3`. The maps are only
/// split here; the image map checks each one.
pub fn parse_profile(s: &str) -> Result<Profile, String> {
    let hint =
        "write it as LABS@FROM=TO, e.g. 4@docker.io/grafana/grafana:latest=lab-bench/grafana:12";
    let Some((labs, maps)) = s.split_once('@') else {
        return Err(format!(
            "`{s}`: no `@` between the labs and the images; {hint}"
        ));
    };
    let labs: Vec<String> = labs
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let images: Vec<String> = maps
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(String::from)
        .collect();
    if labs.is_empty() || images.is_empty() {
        return Err(format!(
            "`{s}`: names no {}; {hint}",
            if labs.is_empty() { "lab" } else { "image" }
        ));
    }
    let name = images
        .iter()
        .map(|m| {
            let to = m.split_once('=').map_or(m.as_str(), |(_, to)| to.trim());
            to.rsplit('/').next().unwrap_or(to).to_string()
        })
        .collect::<Vec<_>>()
        .join("+");
    Ok(Profile { name, labs, images })
}

/// A way the lab's material is broken, in words an author can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    pub check: Option<String>,
    pub message: String,
}

fn defect(check: &str, message: String) -> Defect {
    Defect {
        check: Some(check.to_string()),
        message,
    }
}

fn seen(r: &CheckResult) -> String {
    match (&r.actual, &r.message) {
        (Some(a), _) => format!("found {a}"),
        (None, Some(m)) => m.clone(),
        (None, None) => r.status.label().to_string(),
    }
}

/// Before the solution: a scoring check that already passes gives points for nothing.
pub fn before_solution(results: &[CheckResult]) -> Vec<Defect> {
    results
        .iter()
        .filter(|r| r.possible > 0 && matches!(r.status, Status::Passed | Status::Pending))
        .map(|r| {
            defect(
                &r.id,
                format!(
                    "passes before the solution ({}): it awards {} for work the trainee has not done",
                    seen(r),
                    crate::text::count(r.possible as usize, "point")
                ),
            )
        })
        .collect()
}

/// After the model solution: every check passes, or waits for the instructor.
pub fn after_solution(results: &[CheckResult]) -> Vec<Defect> {
    results
        .iter()
        .filter(|r| !matches!(r.status, Status::Passed | Status::Pending))
        .map(|r| {
            defect(
                &r.id,
                format!("{} after the solution: {}", r.status.label(), explain(r)),
            )
        })
        .collect()
}

/// After a variant: exactly its `fails` checks fail (or err); every other check
/// passes, waits for grading, or was skipped because a check it needs failed.
pub fn after_variant(variant: &Variant, results: &[CheckResult]) -> Vec<Defect> {
    let expected: BTreeSet<&str> = variant.fails.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for r in results {
        let failed = matches!(r.status, Status::Failed | Status::Error);
        match (expected.contains(r.id.as_str()), failed) {
            (true, true) => {}
            (true, false) => out.push(defect(
                &r.id,
                format!(
                    "should fail for this mistake but is {} ({}): the mistake goes unnoticed",
                    r.status.label(),
                    seen(r)
                ),
            )),
            (false, true) => out.push(defect(
                &r.id,
                format!(
                    "fails too ({}); the variant names only {}",
                    explain(r),
                    if expected.is_empty() {
                        "no check: it is a correct way to do the lab".to_string()
                    } else {
                        expected
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )),
            (false, false) => {}
        }
    }
    out
}

fn explain(r: &CheckResult) -> String {
    match (&r.expected, &r.actual, &r.message) {
        (Some(e), Some(a), _) => format!("expected {e}, found {a}"),
        (_, _, Some(m)) => m.clone(),
        _ => r.status.label().to_string(),
    }
}

/// One scenario's outcome, for the report.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub lab: String,
    pub scenario: Scenario,
    /// The `--matrix` profile it ran with (`None`: the default images).
    pub profile: Option<String>,
    /// Each phase's name and time (setup, before, steps, checks, cleanup).
    pub phases: Vec<(&'static str, Duration)>,
    pub defects: Vec<Defect>,
    /// The checks of the final run, for pass rates.
    pub results: Vec<CheckResult>,
    /// A step or the environment failed: the scenario could not be judged.
    pub error: Option<String>,
    /// Its environment was left running (`--keep`).
    pub kept: bool,
    /// What went wrong outside the lab's material (the engine), said but not counted.
    pub warnings: Vec<String>,
    /// Time spent in steps by kind (`compose_up`, `wait_check`, `complete_lab`...).
    pub step_times: BTreeMap<&'static str, Duration>,
    /// The scenario whose environment it ran in, after that one was judged (its steps
    /// differ only in its answers: [`share`]); its phases are then its own answers
    /// and checks.
    pub shared: Option<String>,
    /// Where its environment came from or went, and where its checks before the
    /// solution ran when elsewhere ([`before_hosts`]), as the report says them.
    pub remarks: Vec<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.defects.is_empty() && self.error.is_none()
    }

    pub fn total(&self) -> Duration {
        self.phases.iter().map(|(_, d)| *d).sum()
    }

    /// The scenario's name with its profile: `solution [grafana:12]`.
    pub fn name(&self) -> String {
        match &self.profile {
            Some(p) => format!("{} [{p}]", self.scenario.name()),
            None => self.scenario.name(),
        }
    }
}

/// Where a run's time went, summed over its scenarios: each phase (setup, checks
/// before, steps, checks, cleanup) in the order first met, and each kind of step.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TimeAccount {
    pub total: Duration,
    pub phases: Vec<(&'static str, Duration)>,
    pub steps: BTreeMap<&'static str, Duration>,
}

pub fn time_account(outcomes: &[Outcome]) -> TimeAccount {
    let mut a = TimeAccount::default();
    for o in outcomes {
        for (name, d) in &o.phases {
            a.total += *d;
            match a.phases.iter_mut().find(|(n, _)| n == name) {
                Some((_, t)) => *t += *d,
                None => a.phases.push((name, *d)),
            }
        }
        for (kind, d) in &o.step_times {
            *a.steps.entry(kind).or_default() += *d;
        }
    }
    a
}

/// How many scenarios run at once by default: two per core (a scenario mostly
/// waits on its containers), and no more stacks than the available memory holds at
/// `stack_mib` each (the labs' own figure); at least one.
pub fn default_jobs(cores: usize, available_mib: Option<u64>, stack_mib: u64) -> usize {
    let by_cores = cores.max(1) * 2;
    let by_memory = available_mib
        .map(|m| usize::try_from(m / stack_mib.max(1)).unwrap_or(usize::MAX))
        .unwrap_or(1);
    by_cores.min(by_memory).max(1)
}

/// How often each check of a scenario gave the result it should, over repeats:
/// (lab, scenario, check) -> (as expected, runs).
pub fn pass_rates(outcomes: &[Outcome]) -> BTreeMap<(String, String, String), (u32, u32)> {
    let mut rates: BTreeMap<(String, String, String), (u32, u32)> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.error.is_none()) {
        let bad: BTreeSet<&str> = o
            .defects
            .iter()
            .filter_map(|d| d.check.as_deref())
            .collect();
        for r in &o.results {
            let e = rates
                .entry((o.lab.clone(), o.name(), r.id.clone()))
                .or_default();
            e.1 += 1;
            if !bad.contains(r.id.as_str()) {
                e.0 += 1;
            }
        }
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, status: Status, possible: i64) -> CheckResult {
        CheckResult {
            id: id.into(),
            exercise: "e".into(),
            kind: "file",
            description: id.into(),
            status,
            expected: Some("x".into()),
            actual: Some("y".into()),
            message: None,
            hint: None,
            cause: None,
            reference: None,
            duration: Duration::ZERO,
            attempts: 1,
            points: 0,
            possible,
        }
    }

    fn steps(yaml: &str) -> Vec<Step> {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn only_file_edits_then_the_whole_stack_up_let_a_restored_stack_wait() {
        // Lab 2's solution: edits, then every service up.
        assert!(brings_stack_up_first(&steps(
            "- {action: set_env, file: docker-compose.yaml, name: ANCHORE_ENABLE_METRICS, value: 'true'}\n\
             - {action: write_asset, asset: assets/a.yml, to: a.yml}\n\
             - {action: compose_up}\n\
             - {action: wait_check, check: targets-up}\n"
        )));
        // Up at once: nothing to edit first.
        assert!(brings_stack_up_first(&steps("- {action: compose_up}\n")));
        // Lab 3's: an image added to the running stack first.
        assert!(!brings_stack_up_first(&steps(
            "- {action: add_image, image: nginx}\n- {action: compose_up}\n"
        )));
        // Only some services up: the others would never start.
        assert!(!brings_stack_up_first(&steps(
            "- {action: set_env, file: f, name: N, value: v}\n\
             - {action: compose_up, services: [prometheus]}\n"
        )));
        // A program run before the stack is up may need it.
        assert!(!brings_stack_up_first(&steps(
            "- {action: run, argv: [docker, compose, restart, prometheus]}\n- {action: compose_up}\n"
        )));
        // An answer is recorded on a running stack; no step at all starts nothing.
        assert!(!brings_stack_up_first(&steps(
            "- {action: answer, question: q, value: '42'}\n- {action: compose_up}\n"
        )));
        assert!(!brings_stack_up_first(&[]));
    }

    fn variant(fails: &[&str]) -> Variant {
        Variant {
            id: "v".into(),
            description: "d".into(),
            instead: None,
            after: None,
            fails: fails.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_scoring_check_that_passes_before_the_solution_is_a_defect() {
        let d = before_solution(&[
            result("free", Status::Passed, 0),
            result("scored", Status::Passed, 2),
            result("failing", Status::Failed, 2),
            result("skipped", Status::Skipped, 1),
        ]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].check.as_deref(), Some("scored"));
        assert!(d[0].message.contains("2 points"), "{}", d[0].message);
    }

    #[test]
    fn after_the_solution_only_passed_and_pending_are_fine() {
        let d = after_solution(&[
            result("a", Status::Passed, 1),
            result("b", Status::Pending, 1),
            result("c", Status::Skipped, 1),
            result("d", Status::Failed, 1),
        ]);
        let ids: Vec<_> = d.iter().filter_map(|d| d.check.as_deref()).collect();
        assert_eq!(ids, ["c", "d"]);
    }

    #[test]
    fn a_variant_must_fail_exactly_the_checks_it_names() {
        let v = variant(&["named"]);
        let ok = after_variant(
            &v,
            &[
                result("named", Status::Failed, 1),
                result("dependant", Status::Skipped, 1),
                result("other", Status::Passed, 1),
            ],
        );
        assert!(ok.is_empty(), "{ok:?}");

        let missed = after_variant(&v, &[result("named", Status::Passed, 1)]);
        assert!(missed[0].message.contains("goes unnoticed"));

        let extra = after_variant(
            &v,
            &[
                result("named", Status::Error, 1),
                result("other", Status::Failed, 1),
            ],
        );
        assert_eq!(extra.len(), 1);
        assert_eq!(extra[0].check.as_deref(), Some("other"));
        assert!(extra[0].message.contains("`named`"), "{}", extra[0].message);
    }

    #[test]
    fn a_correct_alternative_fails_nothing() {
        let d = after_variant(&variant(&[]), &[result("a", Status::Failed, 1)]);
        assert!(d[0].message.contains("correct way"), "{}", d[0].message);
    }

    #[test]
    fn default_jobs_follow_cores_and_memory() {
        assert_eq!(default_jobs(2, Some(64_000), 4096), 4);
        assert_eq!(default_jobs(8, Some(20_000), 8192), 2);
        assert_eq!(default_jobs(8, Some(1_000), 8192), 1);
        assert_eq!(default_jobs(4, None, 8192), 1);
    }

    #[test]
    fn pass_rates_count_each_check_over_repeats() {
        let o = |defects: Vec<Defect>| Outcome {
            lab: "01-x".into(),
            scenario: Scenario::Solution,
            profile: None,
            phases: vec![],
            defects,
            results: vec![
                result("a", Status::Passed, 1),
                result("b", Status::Passed, 1),
            ],
            error: None,
            kept: false,
            warnings: vec![],
            step_times: BTreeMap::new(),
            shared: None,
            remarks: Vec::new(),
        };
        let rates = pass_rates(&[o(vec![]), o(vec![defect("b", "flaky".into())]), o(vec![])]);
        let key = |c: &str| ("01-x".to_string(), "solution".to_string(), c.to_string());
        assert_eq!(rates[&key("a")], (3, 3));
        assert_eq!(rates[&key("b")], (2, 3));
    }

    #[test]
    fn a_matrix_profile_names_labs_and_images() {
        let p = parse_profile("2, 3@docker.io/prom/prometheus:latest=lab-bench/prometheus:2.53")
            .unwrap();
        assert_eq!(p.labs, ["2", "3"]);
        assert_eq!(
            p.images,
            ["docker.io/prom/prometheus:latest=lab-bench/prometheus:2.53"]
        );
        assert_eq!(p.name, "prometheus:2.53");
        let two = parse_profile("4@a=lab-bench/grafana:12,b:1=c:2").unwrap();
        assert_eq!(two.name, "grafana:12+c:2");
        for bad in ["4", "@a=b", "4@", " ,@a=b"] {
            let e = parse_profile(bad).unwrap_err();
            assert!(e.contains("LABS@FROM=TO"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_time_account_sums_phases_and_step_kinds() {
        let o = |setup: u64, compose: u64, profile: Option<&str>| Outcome {
            lab: "02-x".into(),
            scenario: Scenario::Solution,
            profile: profile.map(String::from),
            phases: vec![
                ("setup", Duration::from_secs(setup)),
                ("checks", Duration::from_secs(1)),
            ],
            defects: vec![],
            results: vec![],
            error: None,
            kept: false,
            warnings: vec![],
            step_times: BTreeMap::from([("compose_up", Duration::from_secs(compose))]),
            shared: None,
            remarks: Vec::new(),
        };
        let outcomes = [o(10, 4, None), o(20, 6, Some("grafana:12"))];
        assert_eq!(outcomes[1].name(), "solution [grafana:12]");
        let a = time_account(&outcomes);
        assert_eq!(a.total, Duration::from_secs(32));
        assert_eq!(
            a.phases,
            [
                ("setup", Duration::from_secs(30)),
                ("checks", Duration::from_secs(2))
            ]
        );
        assert_eq!(a.steps["compose_up"], Duration::from_secs(10));
    }

    fn course_lab(prefix: &str) -> Lab {
        crate::loader::load(&[crate::loader::Source::Embedded])
            .labs
            .into_iter()
            .find(|l| l.lab.id().starts_with(prefix))
            .unwrap()
            .lab
    }

    fn names(groups: &[Vec<Scenario>]) -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| g.iter().map(Scenario::name).collect())
            .collect()
    }

    #[test]
    fn scenarios_that_differ_only_in_their_last_answers_share_an_environment() {
        let lab1 = course_lab("01");
        assert_eq!(
            names(&share(&lab1, scenarios(&lab1, false))),
            [
                vec![
                    "solution",
                    "variant answers-written-otherwise",
                    "variant wrong-thread",
                    "variant duration-misread"
                ],
                // Another image analysed: another environment.
                vec!["variant another-image"],
            ]
        );
        let lab3 = course_lab("03");
        assert_eq!(
            names(&share(&lab3, scenarios(&lab3, false))),
            [
                // The solution less one answer shares; two images instead of three does not.
                vec![
                    "solution",
                    "variant graph-unanswered",
                    "variant two-analyzers-unanswered"
                ],
                vec!["variant two-more-images"],
            ]
        );
        // Lab 2's variants each change the deployment: each has its own.
        let lab2 = course_lab("02");
        let all = scenarios(&lab2, false);
        assert_eq!(share(&lab2, all.clone()).len(), all.len());
    }

    #[test]
    fn an_answer_before_another_step_keeps_its_scenario_alone() {
        let answer = |v: &str| Step::Answer {
            question: "q".into(),
            value: Some(v.into()),
            measured: None,
            written: Default::default(),
        };
        let wait = Step::WaitAnalysis {
            image: "alpine".into(),
            timeout: None,
        };
        let (a1, a2) = (answer("1"), answer("2"));
        let (work, answers) = split_answers(&[&wait, &a1, &a2]).unwrap();
        assert_eq!((work, answers), (vec![&wait], vec![&a1, &a2]));
        assert!(split_answers(&[&a1, &wait]).is_none());
        assert_eq!(split_answers(&[]), Some((vec![], vec![])));

        let mut lab = course_lab("01");
        lab.solve = vec![a1.clone(), wait.clone()];
        lab.variants.retain(|v| v.instead.is_none());
        let groups = share(&lab, scenarios(&lab, false));
        assert!(groups.iter().all(|g| g.len() == 1), "{:?}", names(&groups));
    }

    #[test]
    fn lab_2s_variants_are_expected_to_take_longest_once_the_setups_are_done() {
        let (lab2, lab4) = (course_lab("02"), course_lab("04"));
        let one = |id: &str| [Scenario::Variant(id.into())];
        let metrics_off = expected_length(&lab2, &one("analyzer-metrics-off"), 0);
        let localhost = expected_length(&lab4, &one("localhost-datasource"), 0);
        assert!(metrics_off > localhost, "{metrics_off:?} {localhost:?}");
        // A setup that replays four labs outweighs any variant's steps.
        assert!(expected_length(&lab4, &[Scenario::Solution], 4) > metrics_off);
    }

    #[test]
    fn solutions_take_where_they_end_and_the_next_solution_restores_first() {
        // 0: lab 1's solution (fresh), 1: lab 2's solution (starts at end 1),
        // 2: lab 2's variant after the solution (end 2), 3: lab 3's solution (end 2),
        // 4: lab 3's variant instead (end 2), 5: lab 9 alone, starting where nothing of
        // the run ends (two environments), 6: the other of lab 9, 7: lab 4's solution
        // (end 3).
        let starts = [
            None,
            Some("e1"),
            Some("e2"),
            Some("e2"),
            Some("e2"),
            Some("s9"),
            Some("s9"),
            Some("e3"),
        ];
        let ends = [
            Some("e1"),
            Some("e2"),
            None,
            Some("e3"),
            None,
            Some("e9"),
            None,
            Some("e4"),
        ];
        let plan = plan_snapshots(&starts, &ends, &BTreeSet::new(), false);
        use SnapStart::*;
        let after = |from, behind| Follower { from, behind };
        assert_eq!(
            plan.start,
            [
                Setup,
                after(0, None),
                after(1, Some(3)),
                after(1, None),
                after(1, Some(3)),
                Leader,
                after(5, None),
                after(3, None),
            ]
        );
        // End 4 and end 9: nobody starts there.
        let no = false;
        assert_eq!(plan.produce, [true, true, no, true, no, no, no, no]);
        // Lab 2's solution is the only one restoring end 1, lab 3's goes first at end 2
        // (it takes end 3 in turn); lab 4's restores end 3 alone, taking nothing.
        assert_eq!(plan.head, [no, true, no, true, no, no, no, no]);
        assert_eq!(
            (0..8).map(|i| plan.depth(i)).collect::<Vec<_>>(),
            [0, 1, 2, 2, 2, 0, 1, 3]
        );
    }

    #[test]
    fn each_solution_hands_its_environment_to_the_next_solution_starting_where_it_ends() {
        // lab 1's end: lab 2's solution and variant; lab 2's end: lab 2's after-variant
        // and lab 3's solution (which takes no snapshot: nothing starts where it ends);
        // a matrix solution of lab 2 starts from lab 1's end too, on other images.
        let ends = [Some("1"), None, Some("2"), None, Some("3"), Some("2m")];
        let starts = [None, Some("1"), Some("1"), Some("2"), Some("2"), Some("1")];
        let plan = plan_snapshots(&starts, &ends, &BTreeSet::new(), false);
        let solution = [true, false, true, false, true, true];
        let group = ["", "", "", "", "", "matrix"];
        assert_eq!(
            plan_handovers(&plan, &solution, &group),
            vec![Some(2), None, Some(4), None, None, None]
        );
        // no head (neither follower takes a snapshot): the first solution takes over
        let ends = [Some("1"), Some("x"), Some("y")];
        let starts = [None, Some("1"), Some("1")];
        let plan = plan_snapshots(&starts, &ends, &BTreeSet::new(), false);
        assert_eq!(
            plan_handovers(&plan, &[true, true, true], &[0, 0, 0]),
            vec![Some(1), None, None]
        );
        // the head first, wherever it stands
        let ends = [Some("1"), None, Some("2"), None];
        let starts = [None, Some("1"), Some("1"), Some("2")];
        let plan = plan_snapshots(&starts, &ends, &BTreeSet::new(), false);
        assert!(plan.head[2]);
        assert_eq!(
            plan_handovers(&plan, &[true, true, true, false], &[0, 0, 0, 0]),
            vec![Some(2), None, None, None]
        );
        // a cached start is restored: nothing to hand over
        let cached: BTreeSet<&str> = ["1"].into();
        let plan = plan_snapshots(&starts, &ends, &cached, false);
        assert_eq!(
            plan_handovers(&plan, &[true, true, true, false], &[0, 0, 0, 0]),
            vec![None, None, None, None]
        );
    }

    #[test]
    fn a_solution_s_checks_before_are_judged_by_another_environment_starting_where_it_does() {
        let seat = |solution, start, can_host| BeforeSeat {
            solution,
            start,
            can_host,
        };
        let seats = [
            // lab 3: its solution, a variant from the same snapshot, one that brings
            // the stack up first, one on another round
            seat(true, (1, 3, "lab 2's end"), false),
            seat(false, (1, 3, "lab 2's end"), false),
            seat(false, (1, 3, "lab 2's end"), true),
            seat(false, (2, 3, "lab 2's end"), true),
            // lab 4: its variants all bring the stack up first
            seat(true, (1, 4, "lab 3's end"), false),
            seat(false, (1, 4, "lab 3's end"), false),
            // lab 5: a variant after the solution starts where it ends
            seat(true, (1, 5, "lab 4's end"), false),
            seat(false, (1, 5, "lab 5's end"), true),
            seat(false, (1, 5, "lab 4's end"), true),
            seat(false, (1, 5, "lab 4's end"), true),
            // a second round of lab 3 finds its own host
            seat(true, (2, 3, "lab 2's end"), false),
        ];
        assert_eq!(
            before_hosts(&seats),
            vec![
                Some(2),
                None,
                None,
                None,
                None,
                None,
                Some(8),
                None,
                None,
                None,
                Some(3)
            ]
        );
        // a host is never a solution, and serves one solution only
        let two = [
            seat(true, (1, 1, "x"), true),
            seat(true, (1, 1, "x"), true),
            seat(false, (1, 1, "x"), true),
        ];
        assert_eq!(before_hosts(&two), vec![Some(2), None, None]);
    }

    #[test]
    fn a_cached_start_is_restored_by_all_and_a_lone_start_is_replayed_unless_kept() {
        let starts = [None, Some("e1"), Some("e1"), Some("s9")];
        let ends = [Some("e1"), None, None, None];
        let cached = BTreeSet::from(["e1"]);
        let plan = plan_snapshots(&starts, &ends, &cached, false);
        use SnapStart::*;
        assert_eq!(plan.start, [Setup, Cached, Cached, Setup]);
        assert_eq!(plan.produce, [false; 4], "the cache serves end 1");
        assert_eq!(plan.head, [false; 4]);
        let kept = plan_snapshots(&starts, &ends, &cached, true);
        assert_eq!(kept.start[3], Leader, "taken to keep it in the cache");
    }
}

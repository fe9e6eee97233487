//! The engine's behaviour: timing, concurrency, `needs`, retries and timeouts with a
//! scripted prober on tokio's paused clock (no real sleeps, exact times), and the real
//! probes (shell commands, files) through `run`.

use super::*;
use crate::model::check::{CheckSpec, CommandCheck, Eventually};
use crate::model::Dur;
use crate::probe::testing::target_in;
use std::sync::Mutex;
use tempfile::TempDir;

fn shell(id: &str, script: &str) -> Planned {
    Planned {
        exercise: "ex".into(),
        check: Check {
            id: id.into(),
            description: format!("check {id}"),
            timeout: None,
            eventually: None,
            needs: vec![],
            points: 2,
            hint: Some(format!("fix {id}")),
            causes: Default::default(),
            max_body: None,
            spec: CheckSpec::Command(CommandCheck {
                argv: vec![script.into()],
                shell: true,
                exit_code: 0,
                stdout: None,
            }),
        },
    }
}

fn plan(checks: Vec<Planned>) -> Plan {
    Plan {
        lab_id: "99-test".into(),
        lab_title: "Test".into(),
        checks,
    }
}

async fn go(p: &Plan, dir: &TempDir, concurrency: usize) -> (Vec<CheckResult>, Vec<Event>) {
    let res = Resources::new(target_in(dir.path()), Err("unused".into()));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let results = run(p, &res, Options { concurrency }, tx).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (results, events)
}

/// One attempt of a scripted check: how long it takes, then what it observes.
#[derive(Clone)]
struct Step(Duration, ProbeResult);

fn pass(ms: u64) -> Step {
    Step(Duration::from_millis(ms), Ok(Observation::pass("ok")))
}

fn fail(ms: u64) -> Step {
    Step(
        Duration::from_millis(ms),
        Ok(Observation::fail("right", "the scripted failure")),
    )
}

/// A prober that plays a script per check (the check's command names it): attempt n
/// gets step n, the last step repeats. It records when each attempt started and ended.
#[derive(Default)]
struct Scripted {
    script: HashMap<String, Vec<Step>>,
    log: Mutex<Vec<(String, Instant, Instant)>>,
}

impl Scripted {
    fn new(script: &[(&str, Vec<Step>)]) -> Arc<Scripted> {
        Arc::new(Scripted {
            script: script
                .iter()
                .map(|(id, steps)| (id.to_string(), steps.clone()))
                .collect(),
            log: Mutex::default(),
        })
    }
    fn attempts(&self, id: &str) -> Vec<(Instant, Instant)> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(n, ..)| n == id)
            .map(|(_, a, b)| (*a, *b))
            .collect()
    }
}

impl Prober for Scripted {
    fn probe<'a>(
        &'a self,
        spec: &'a CheckSpec,
        _ctx: &'a Ctx,
    ) -> Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>> {
        Box::pin(async move {
            let CheckSpec::Command(c) = spec else {
                panic!("scripted checks are commands")
            };
            let id = c.argv[0].clone();
            let steps = &self.script[&id];
            let n = self.attempts(&id).len();
            let Step(took, result) = steps[n.min(steps.len() - 1)].clone();
            let start = Instant::now();
            tokio::time::sleep(took).await;
            self.log.lock().unwrap().push((id, start, Instant::now()));
            result
        })
    }
}

/// A check the scripted prober plays (its command is its id).
fn scripted(id: &str) -> Planned {
    shell(id, id)
}

async fn play(
    p: &Plan,
    prober: &Arc<Scripted>,
    concurrency: usize,
) -> (Vec<CheckResult>, Vec<Event>) {
    let res = Resources::new(
        target_in(std::path::Path::new("/nonexistent")),
        Err("unused".into()),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let results = run_with(p, &res, Options { concurrency }, tx, prober.clone()).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (results, events)
}

#[tokio::test(start_paused = true)]
async fn checks_run_concurrently_not_in_sequence() {
    let ids: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let prober = Scripted::new(
        &ids.iter()
            .map(|i| (i.as_str(), vec![pass(400)]))
            .collect::<Vec<_>>(),
    );
    let p = plan(ids.iter().map(|i| scripted(i)).collect());
    let started = Instant::now();
    let (results, _) = play(&p, &prober, 16).await;
    assert!(
        results.iter().all(|r| r.status == Status::Passed),
        "{results:?}"
    );
    // Eight 400 ms checks in sequence take 3.2 s; concurrently, 0.4 s.
    assert_eq!(started.elapsed(), Duration::from_millis(400));
    assert!(results
        .iter()
        .all(|r| r.duration == Duration::from_millis(400)));
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_bound_is_respected() {
    let ids: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    let prober = Scripted::new(
        &ids.iter()
            .map(|i| (i.as_str(), vec![pass(300)]))
            .collect::<Vec<_>>(),
    );
    let p = plan(ids.iter().map(|i| scripted(i)).collect());
    let started = Instant::now();
    let (results, _) = play(&p, &prober, 1).await;
    assert!(results.iter().all(|r| r.status == Status::Passed));
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(1200),
        "one at a time takes 4 x 300 ms"
    );
    // No two attempts overlap.
    let mut spans: Vec<(Instant, Instant)> = ids.iter().flat_map(|i| prober.attempts(i)).collect();
    spans.sort();
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "{spans:?}");
}

#[tokio::test]
async fn a_check_whose_need_failed_is_skipped_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut dependant = shell("after", "true");
    dependant.check.needs = vec!["first".into()];
    let mut second = shell("second", "true");
    second.check.needs = vec!["after".into()];
    let p = plan(vec![shell("first", "exit 1"), dependant, second]);
    let (results, _) = go(&p, &dir, 4).await;
    assert_eq!(results[0].status, Status::Failed);
    assert_eq!(results[0].hint.as_deref(), Some("fix first"));
    assert_eq!(results[1].status, Status::Skipped);
    assert_eq!(
        results[1].message.as_deref(),
        Some("needs `first`, which did not pass")
    );
    assert_eq!(results[2].status, Status::Skipped);
    assert_eq!(
        results[2].message.as_deref(),
        Some("needs `after`, which was skipped")
    );
    assert_eq!(results.iter().map(|r| r.points).sum::<i64>(), 0);
    assert_eq!(Summary::of(&results).possible, 6);
}

#[tokio::test(start_paused = true)]
async fn a_need_that_passes_lets_the_dependant_run_after_it() {
    let prober = Scripted::new(&[("first", vec![pass(200)]), ("second", vec![pass(10)])]);
    let mut second = scripted("second");
    second.check.needs = vec!["first".into()];
    let p = plan(vec![second, scripted("first")]);
    let (results, _) = play(&p, &prober, 4).await;
    assert_eq!(results[0].status, Status::Passed, "{:?}", results[0]);
    assert_eq!(results[1].status, Status::Passed);
    let first = prober.attempts("first");
    let second = prober.attempts("second");
    assert!(first[0].1 <= second[0].0, "{first:?} then {second:?}");
}

#[tokio::test(start_paused = true)]
async fn eventually_retries_until_the_check_passes() {
    // Fails twice, passes on the third attempt; attempts start every 100 ms.
    let prober = Scripted::new(&[("flaky", vec![fail(10), fail(10), pass(10)])]);
    let mut c = scripted("flaky");
    c.check.eventually = Some(Eventually {
        within: Dur(Duration::from_secs(5)),
        every: Dur(Duration::from_millis(100)),
    });
    let started = Instant::now();
    let (results, events) = play(&plan(vec![c]), &prober, 1).await;
    assert_eq!(results[0].status, Status::Passed);
    assert_eq!(results[0].attempts, 3);
    let retries: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { last, .. } => Some(last.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(retries, ["the scripted failure", "the scripted failure"]);
    // Each retry waits `every` after its attempt ended: 10 + 100, twice, then 10.
    assert_eq!(started.elapsed(), Duration::from_millis(230));
}

#[tokio::test(start_paused = true)]
async fn eventually_gives_up_when_the_window_ends() {
    let prober = Scripted::new(&[("never", vec![fail(0)])]);
    let mut c = scripted("never");
    c.check.eventually = Some(Eventually {
        within: Dur(Duration::from_millis(500)),
        every: Dur(Duration::from_millis(100)),
    });
    let started = Instant::now();
    let (results, _) = play(&plan(vec![c]), &prober, 1).await;
    assert_eq!(results[0].status, Status::Failed);
    assert_eq!(results[0].expected.as_deref(), Some("right"));
    // Attempts at 0, 100, 200, 300, 400 ms; the next (500 ms) is not before the end.
    assert_eq!(results[0].attempts, 5);
    assert_eq!(started.elapsed(), Duration::from_millis(400));
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_never_answers_errs_at_its_timeout_and_the_run_goes_on() {
    let prober = Scripted::new(&[("hang", vec![pass(30_000)]), ("fine", vec![pass(5)])]);
    let mut hang = scripted("hang");
    hang.check.timeout = Some(Dur(Duration::from_millis(300)));
    let p = plan(vec![hang, scripted("fine")]);
    let started = Instant::now();
    let (results, _) = play(&p, &prober, 4).await;
    // The engine cuts a probe off at its timeout plus the grace it has to notice.
    assert_eq!(started.elapsed(), Duration::from_millis(300) + GRACE);
    assert_eq!(results[0].status, Status::Error);
    assert_eq!(results[0].message.as_deref(), Some("timed out after 300ms"));
    assert_eq!(results[0].hint.as_deref(), Some("fix hang"));
    assert_eq!(results[1].status, Status::Passed);
}

#[tokio::test]
async fn a_command_that_ignores_its_deadline_is_stopped_by_the_real_probe() {
    let dir = tempfile::tempdir().unwrap();
    let mut hang = shell("hang", "sleep 30");
    hang.check.timeout = Some(Dur(Duration::from_millis(300)));
    let p = plan(vec![hang, shell("fine", "true")]);
    let started = std::time::Instant::now();
    let (results, _) = go(&p, &dir, 4).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(results[0].status, Status::Error);
    assert!(
        results[0]
            .message
            .as_deref()
            .unwrap()
            .contains("did not finish within"),
        "{:?}",
        results[0].message
    );
    assert_eq!(results[1].status, Status::Passed);
}

#[tokio::test(start_paused = true)]
async fn every_check_starts_before_it_finishes_and_finishes_once() {
    let ids: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    let prober = Scripted::new(
        &ids.iter()
            .map(|i| (i.as_str(), vec![pass(10)]))
            .collect::<Vec<_>>(),
    );
    let p = plan(ids.iter().map(|i| scripted(i)).collect());
    let (_, events) = play(&p, &prober, 2).await;
    for i in 0..5 {
        let started = events
            .iter()
            .position(|e| matches!(e, Event::Started { index } if *index == i));
        let finished: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Event::Finished { index, .. } if *index == i))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(finished.len(), 1);
        assert!(started.unwrap() < finished[0]);
    }
}

#[test]
fn a_plan_for_one_exercise_pulls_in_the_checks_it_needs() {
    let text = "number: 1\nslug: t\ntitle: T\nsummary: s\nexercises:\n  - id: a\n    title: A\n    checks:\n      - {id: base, description: d, kind: command, argv: [\"true\"]}\n  - id: b\n    title: B\n    checks:\n      - {id: top, description: d, kind: command, argv: [\"true\"], needs: [base]}\n";
    let idx = crate::loader::tests_support::index(text);
    let lab = crate::loader::parse_lab("t.yaml", text, &idx).unwrap();
    let loaded = crate::model::LoadedLab {
        lab,
        origin: "t".into(),
        instructions: String::new(),
        files: Default::default(),
    };
    let p = Plan::new(&loaded, Some("b"));
    let ids: Vec<&str> = p.checks.iter().map(|c| c.check.id.as_str()).collect();
    assert_eq!(ids, ["base", "top"]);
}

/// Grafana locks an account after 5 refused logins in 5 minutes, the right password
/// included: a 401 ends the check's retries, and no later check of the run sends the
/// password again.
#[tokio::test]
async fn a_password_grafana_refused_is_sent_once_per_run() {
    use crate::model::check::{Auth, HttpCheck};
    use crate::probe::testserver::{Reply, Routes, TestServer};
    let srv = TestServer::start(Routes::new().get(
        "/api/user",
        Reply::json(
            401,
            serde_json::json!({"message": "Invalid username or password"}),
        ),
    ))
    .await;
    let dir = TempDir::new().unwrap();
    let mut target = target_in(dir.path());
    target.grafana = crate::probe::Endpoint::new(&srv.url, "admin", "a-refused-password")
        .once_refused_never_resent();
    let login = |id: &str| {
        let mut c = shell(id, "true");
        c.check.spec = CheckSpec::Http(HttpCheck {
            url: "{grafana}/api/user".into(),
            auth: Auth::Grafana,
            status: 200,
            body: None,
            json: None,
        });
        c.check.eventually = Some(Eventually {
            within: Dur(Duration::from_secs(20)),
            every: Dur(Duration::from_millis(50)),
        });
        c
    };
    let mut second = login("again");
    second.check.needs = vec!["login".into()];
    let p = plan(vec![login("login"), second, login("other")]);
    let res = Resources::new(target, Err("unused".into()));
    let (tx, _rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let results = run(&p, &res, Options { concurrency: 1 }, tx).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        srv.requests().len(),
        1,
        "one refused login, not one per retry"
    );
    assert_eq!(results[0].status, Status::Failed);
    assert_eq!(results[0].attempts, 1);
    let actual = results[0].actual.clone().unwrap_or_default();
    assert!(actual.contains("locks the account"), "{actual}");
    assert_eq!(results[1].status, Status::Skipped);
    assert_eq!(results[2].status, Status::Error);
    let msg = results[2].message.clone().unwrap_or_default();
    assert!(msg.contains("not asking Grafana"), "{msg}");
}

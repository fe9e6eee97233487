//! The engine's behaviour, pinned with real probes (commands and files) so timing,
//! concurrency, `needs`, retries and timeouts are exercised for real.

use super::*;
use crate::model::check::{CheckSpec, CommandCheck, Eventually};
use crate::model::Dur;
use crate::probe::testing::{target_in, TempDir};

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

#[tokio::test]
async fn checks_run_concurrently_not_in_sequence() {
    let dir = TempDir::new();
    let p = plan(
        (0..8)
            .map(|i| shell(&format!("c{i}"), "sleep 0.4"))
            .collect(),
    );
    let started = Instant::now();
    let (results, _) = go(&p, &dir, 16).await;
    let took = started.elapsed();
    assert!(
        results.iter().all(|r| r.status == Status::Passed),
        "{results:?}"
    );
    // Eight 400 ms checks in sequence take 3.2 s; concurrently, a little over 0.4 s.
    assert!(took < Duration::from_millis(1600), "took {took:?}");
}

#[tokio::test]
async fn the_concurrency_bound_is_respected() {
    let dir = TempDir::new();
    let p = plan(
        (0..4)
            .map(|i| shell(&format!("c{i}"), "sleep 0.3"))
            .collect(),
    );
    let started = Instant::now();
    let (results, _) = go(&p, &dir, 1).await;
    assert!(results.iter().all(|r| r.status == Status::Passed));
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "one at a time takes 4 x 300 ms"
    );
}

#[tokio::test]
async fn a_check_whose_need_failed_is_skipped_with_the_reason() {
    let dir = TempDir::new();
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

#[tokio::test]
async fn a_need_that_passes_lets_the_dependant_run_after_it() {
    let dir = TempDir::new();
    let mut second = shell("second", "test -f made-by-first");
    second.check.needs = vec!["first".into()];
    let p = plan(vec![
        second,
        shell("first", "sleep 0.2; touch made-by-first"),
    ]);
    let (results, _) = go(&p, &dir, 4).await;
    assert_eq!(results[0].status, Status::Passed, "{:?}", results[0]);
    assert_eq!(results[1].status, Status::Passed);
}

#[tokio::test]
async fn eventually_retries_until_the_check_passes() {
    let dir = TempDir::new();
    // Passes on the third attempt: each attempt appends a line to a counter file.
    let mut c = shell("flaky", "echo x >> count; test $(wc -l < count) -ge 3");
    c.check.eventually = Some(Eventually {
        within: Dur(Duration::from_secs(5)),
        every: Dur(Duration::from_millis(100)),
    });
    let (results, events) = go(&plan(vec![c]), &dir, 1).await;
    assert_eq!(results[0].status, Status::Passed);
    assert_eq!(results[0].attempts, 3);
    let retries = events
        .iter()
        .filter(|e| matches!(e, Event::Retrying { .. }))
        .count();
    assert_eq!(retries, 2);
}

#[tokio::test]
async fn eventually_gives_up_when_the_window_ends() {
    let dir = TempDir::new();
    let mut c = shell("never", "exit 1");
    c.check.eventually = Some(Eventually {
        within: Dur(Duration::from_millis(500)),
        every: Dur(Duration::from_millis(100)),
    });
    let started = Instant::now();
    let (results, _) = go(&plan(vec![c]), &dir, 1).await;
    assert_eq!(results[0].status, Status::Failed);
    assert!(results[0].attempts >= 3, "{}", results[0].attempts);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_probe_that_never_answers_errs_at_its_timeout_and_the_run_goes_on() {
    let dir = TempDir::new();
    let mut hang = shell("hang", "sleep 30");
    hang.check.timeout = Some(Dur(Duration::from_millis(300)));
    let p = plan(vec![hang, shell("fine", "true")]);
    let started = Instant::now();
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

#[tokio::test]
async fn every_check_starts_before_it_finishes_and_finishes_once() {
    let dir = TempDir::new();
    let p = plan((0..5).map(|i| shell(&format!("c{i}"), "true")).collect());
    let (_, events) = go(&p, &dir, 2).await;
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

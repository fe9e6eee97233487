use super::*;
use crate::loader::{load, Source};
use crate::model::roster::Service;

fn labs() -> Vec<LoadedLab> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grade-labs");
    let l = load(&[Source::Path(dir)]);
    assert!(l.problems.is_empty(), "{:?}", l.problems);
    l.labs
}

/// Accepts connections and never answers.
async fn hanging() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    url
}

fn trainee(name: &str, docker: &str, prometheus: &str, grafana: &str) -> Trainee {
    let svc = |url: &str| {
        Some(Service {
            url: url.into(),
            user: None,
            password_env: None,
        })
    };
    Trainee {
        name: name.into(),
        docker: Some(docker.into()),
        tls_dir: None,
        project: format!("labtest-grade-{name}"),
        workdir: None,
        anchore: None,
        prometheus: svc(prometheus),
        grafana: svc(grafana),
    }
}

fn find<'a>(t: &'a TraineeGrade, id: &str) -> &'a GradedCheck {
    t.labs
        .iter()
        .flat_map(|l| &l.checks)
        .find(|c| c.id == id)
        .unwrap()
}

#[tokio::test]
async fn an_environment_past_its_deadline_has_its_running_checks_marked() {
    let labs = labs();
    let labs: Vec<&LoadedLab> = labs.iter().collect();
    let hang = hanging().await;
    let roster = Roster {
        trainees: vec![trainee("slow", "tcp://127.0.0.1:1", &hang, &hang)],
    };
    let opts = Options {
        deadline: Duration::from_millis(300),
        probe_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let started = Instant::now();
    let out = grade_roster(&roster, &labs, opts, &|_| None, &|_| {}).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let t = &out[0];
    let scraped = find(t, "app-scraped");
    assert_eq!(scraped.status, Mark::Error);
    assert!(
        scraped
            .message
            .as_deref()
            .unwrap()
            .contains("deadline (300ms)"),
        "{scraped:?}"
    );
    assert!(
        t.problems
            .iter()
            .any(|p| p.starts_with("not finished within the deadline")),
        "{:?}",
        t.problems
    );
    assert_eq!(find(t, "compose-metrics").status, Mark::NotChecked);
}

#[tokio::test]
async fn an_unreachable_engine_is_asked_once_and_does_not_slow_the_others() {
    let labs = labs();
    let labs: Vec<&LoadedLab> = labs.iter().collect();
    let hang = hanging().await;
    let roster = Roster {
        trainees: (0..6)
            .map(|i| trainee(&format!("t{i}"), "tcp://127.0.0.1:1", &hang, &hang))
            .collect(),
    };
    let opts = Options {
        probe_timeout: Duration::from_millis(400),
        ..Options::default()
    };
    let started = Instant::now();
    let out = grade_roster(&roster, &labs, opts, &|_| None, &|_| {}).await;
    // One probe timeout for the hanging servers, whatever the number of trainees.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let names: Vec<&str> = out.iter().map(|t| t.trainee.as_str()).collect();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4", "t5"], "roster order");
    for t in &out {
        let c = find(t, "app-running");
        assert_eq!(c.status, Mark::Unreachable, "{c:?}");
        assert_eq!(c.hint, None);
        assert!(c.message.as_deref().unwrap().contains("tcp://127.0.0.1:1"));
        assert!(t.problems[0].starts_with("Docker engine unreachable: tcp://127.0.0.1:1"));
    }
}

use super::ready::tail_lines;
use super::*;
use crate::engine::containers::{Facts, Health};
use crate::error::exit;

#[test]
fn lab_compose_forces_a_flavour_and_rejects_anything_else() {
    assert_eq!(forced_flavor(None).unwrap(), None);
    assert_eq!(forced_flavor(Some("")).unwrap(), None);
    assert_eq!(forced_flavor(Some("v1")).unwrap(), Some(Flavor::V1));
    assert_eq!(forced_flavor(Some(" V2 ")).unwrap(), Some(Flavor::V2));
    let e = forced_flavor(Some("2")).unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE);
    assert!(e
        .to_string()
        .starts_with("LAB_COMPOSE=2 is not a compose flavour"));
}

#[test]
fn a_missing_compose_is_a_prerequisite_with_a_hint_that_fits() {
    let e = Error::ComposeMissing {
        tried: "`docker compose version`: docker: 'compose' is not a docker command.".into(),
        forced: None,
    };
    assert_eq!(e.exit_code(), exit::PREREQUISITE);
    assert_eq!(
        e.to_string(),
        "Docker Compose not found: `docker compose version`: docker: 'compose' is not a docker command."
    );
    assert!(e.hint().unwrap().contains("docker-compose-plugin"));
    let e = Error::ComposeMissing {
        tried: "`docker-compose version`: docker-compose is not on PATH".into(),
        forced: Some("v1"),
    };
    assert!(e
        .to_string()
        .starts_with("Docker Compose not found (LAB_COMPOSE is set to v1): "));
    assert!(e.hint().unwrap().starts_with("unset LAB_COMPOSE"));
}

#[test]
fn the_command_line_names_project_and_files_and_quotes_what_needs_it() {
    let c = Compose::new(
        Flavor::V2,
        "anchore-lab",
        vec!["docker-compose.yaml".into(), "my overrides.yaml".into()],
        "/tmp/x",
    );
    assert_eq!(
        c.command_line(&["up", "-d"]),
        "docker compose -p anchore-lab -f docker-compose.yaml -f 'my overrides.yaml' up -d"
    );
    let c = Compose::new(Flavor::V1, "never", vec!["it's.yaml".into()], "");
    assert_eq!(
        c.command_line(&["down"]),
        r"docker-compose -p never -f 'it'\''s.yaml' down"
    );
}

fn out(stderr: &str) -> Output {
    Output {
        stdout: String::new(),
        stderr: stderr.into(),
    }
}

#[test]
fn a_failure_keeps_composes_words_without_v2_progress() {
    let v2 = out(
        " Network labt_default  Creating\n Network labt_default  Created\n \
         Container labt-a-1  Creating\n Container labt-a-1  Created\n Container labt-a-1  Starting\n\
         Error response from daemon: No such container: nonexistent\n",
    );
    assert_eq!(
        failure_message(Flavor::V2, &v2, Some(1)),
        "Error response from daemon: No such container: nonexistent"
    );
    // v1's lines are kept as they are: they say what it was doing when it failed.
    let v1 = out("Creating network \"labt_default\" with the default driver\nPulling b (x:1)...\nGet \"https://registry-1.docker.io/v2/\": no such host\n");
    assert_eq!(
        failure_message(Flavor::V1, &v1, Some(1)),
        "Creating network \"labt_default\" with the default driver\nPulling b (x:1)...\nGet \"https://registry-1.docker.io/v2/\": no such host"
    );
    // Nothing but progress: better that than nothing.
    assert_eq!(
        failure_message(Flavor::V2, &out(" Container x-1  Error\n"), Some(1)),
        "Container x-1  Error"
    );
    assert_eq!(
        failure_message(
            Flavor::V2,
            &Output {
                stdout: "from stdout\n".into(),
                stderr: "  \n".into()
            },
            Some(1)
        ),
        "from stdout"
    );
    assert_eq!(
        failure_message(Flavor::V2, &out(""), Some(15)),
        "exit status 15, no message"
    );
    assert_eq!(
        failure_message(Flavor::V2, &out(""), None),
        "killed by a signal, no message"
    );
}

#[test]
fn a_long_failure_keeps_its_end() {
    let text: String = (1..=25).map(|i| format!("line {i}\n")).collect();
    let m = failure_message(Flavor::V1, &out(&text), Some(1));
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(lines.len(), 21);
    assert_eq!(lines[0], "… (5 earlier lines)");
    assert_eq!(lines[1], "line 6");
    assert_eq!(lines[20], "line 25");
}

#[test]
fn v2_progress_lines_are_told_from_messages() {
    assert!(is_v2_progress(" Container labt-api-1  Started"));
    assert!(is_v2_progress(" Volume \"labt_data\"  Removed"));
    assert!(!is_v2_progress(
        "Container labt-api-1 Started but then failed"
    ));
    assert!(!is_v2_progress(
        "service \"grafana\" refers to undefined volume grafana-db-volume: invalid compose project"
    ));
}

#[test]
fn a_compose_failure_exits_5_and_shows_command_message_and_hint() {
    let e = Error::Compose {
        command: "docker compose -p lab -f docker-compose.yaml config -q".into(),
        message: "service \"grafana\" refers to undefined volume grafana-db-volume: invalid compose project".into(),
        hint: "run it".into(),
    };
    assert_eq!(e.exit_code(), exit::ENVIRONMENT);
    assert_eq!(
        e.to_string(),
        "`docker compose -p lab -f docker-compose.yaml config -q` failed: service \"grafana\" refers to undefined volume grafana-db-volume: invalid compose project"
    );
    assert_eq!(e.hint().as_deref(), Some("run it"));
}

fn facts(status: &str, health: Health, exit_code: Option<i64>) -> Facts {
    Facts {
        name: "c".into(),
        status: status.into(),
        exit_code,
        health,
        ..Default::default()
    }
}

#[test]
fn container_states_tell_no_healthcheck_from_starting_and_unhealthy() {
    use ServiceState as S;
    let unhealthy = Health::Unhealthy {
        failing_streak: 3,
        last_output: Some("refused".into()),
    };
    let cases = [
        (facts("running", Health::NoHealthcheck, Some(0)), S::Running),
        (facts("running", Health::Starting, Some(0)), S::Starting),
        (facts("running", Health::Healthy, Some(0)), S::Healthy),
        (
            facts("running", unhealthy, Some(0)),
            S::Unhealthy {
                failing_streak: 3,
                last_output: Some("refused".into()),
            },
        ),
        (
            facts("restarting", Health::NoHealthcheck, Some(1)),
            S::Restarting { exit_code: Some(1) },
        ),
        (
            facts("exited", Health::Healthy, Some(2)),
            S::Exited { code: 2 },
        ),
        (
            facts("dead", Health::NoHealthcheck, None),
            S::Exited { code: -1 },
        ),
        (facts("created", Health::NoHealthcheck, Some(0)), S::Waiting),
        (facts("paused", Health::Healthy, Some(0)), S::Waiting),
    ];
    for (f, want) in cases {
        assert_eq!(ServiceState::of(&f), want, "{f:?}");
    }
}

#[test]
fn readiness_and_failure_depend_on_one_shot() {
    use ServiceState as S;
    assert!(S::Running.is_ready(false));
    assert!(S::Healthy.is_ready(false));
    // A one-shot still running has not done its job yet.
    assert!(!S::Running.is_ready(true) && !S::Healthy.is_ready(true));
    for s in [
        S::Waiting,
        S::Starting,
        S::Restarting { exit_code: Some(1) },
        S::Unhealthy {
            failing_streak: 1,
            last_output: None,
        },
    ] {
        assert!(!s.is_ready(false) && !s.is_ready(true), "{s:?}");
        assert!(!s.has_failed(false) && !s.has_failed(true), "{s:?}");
    }
    let done = S::Exited { code: 0 };
    assert!(!done.is_ready(false) && done.has_failed(false));
    assert!(done.is_ready(true) && !done.has_failed(true));
    let crashed = S::Exited { code: 1 };
    assert!(crashed.has_failed(false) && crashed.has_failed(true));
}

#[test]
fn a_service_shows_its_least_ready_replica() {
    use ServiceState as S;
    assert_eq!(ServiceState::worst(&[], false), None);
    let states = [S::Healthy, S::Starting, S::Running];
    assert_eq!(ServiceState::worst(&states, false), Some(1));
    let states = [S::Healthy, S::Exited { code: 0 }, S::Starting];
    assert_eq!(ServiceState::worst(&states, false), Some(1));
    // A one-shot replica that finished well is the readiest of all.
    assert_eq!(ServiceState::worst(&states, true), Some(2));
    let states = [
        S::Waiting,
        S::Restarting { exit_code: None },
        S::Unhealthy {
            failing_streak: 2,
            last_output: None,
        },
    ];
    assert_eq!(ServiceState::worst(&states, false), Some(2));
}

#[test]
fn states_read_as_progress_words() {
    use ServiceState as S;
    assert_eq!(S::Waiting.to_string(), "waiting");
    assert_eq!(S::Running.to_string(), "running (no healthcheck)");
    assert_eq!(
        S::Unhealthy {
            failing_streak: 3,
            last_output: Some("curl: (7) refused".into())
        }
        .to_string(),
        "unhealthy: 3 failed probes in a row, last: curl: (7) refused"
    );
    assert_eq!(
        S::Unhealthy {
            failing_streak: 1,
            last_output: None
        }
        .to_string(),
        "unhealthy: 1 failed probe"
    );
    assert_eq!(
        S::Restarting { exit_code: Some(3) }.to_string(),
        "restarting (last exit code 3)"
    );
    assert_eq!(S::Exited { code: 137 }.to_string(), "exited (code 137)");
}

fn stuck(service: &str, state: ServiceState, container: Option<&str>, logs: &[&str]) -> Stuck {
    Stuck {
        service: service.into(),
        state,
        one_shot: false,
        container: container.map(str::to_string),
        logs: logs.iter().map(|l| l.to_string()).collect(),
        logs_error: None,
    }
}

#[test]
fn a_timeout_names_each_service_its_state_and_its_last_lines() {
    let n = NotReady {
        project: "anchore-lab".into(),
        timed_out: true,
        timeout: Duration::from_secs(120),
        services: vec![
            stuck(
                "analyzer",
                ServiceState::Unhealthy {
                    failing_streak: 4,
                    last_output: Some("curl: (7) Failed to connect".into()),
                },
                Some("anchore-lab-analyzer-1"),
                &["[INFO] starting", "[ERROR] db not reachable"],
            ),
            stuck(
                "catalog",
                ServiceState::Starting,
                Some("anchore-lab-catalog-1"),
                &[],
            ),
            stuck("grafana", ServiceState::Waiting, None, &[]),
            stuck(
                "queue",
                ServiceState::Restarting { exit_code: Some(1) },
                Some("anchore-lab-queue-1"),
                &[],
            ),
        ],
    };
    let mut with_error = n.clone();
    with_error.services[1].logs_error = Some("no answer within 10s".into());
    assert_eq!(
        n.to_string(),
        "service analyzer did not become healthy within 2m (unhealthy: 4 failed probes in a row, last: curl: (7) Failed to connect); \
         last log lines of anchore-lab-analyzer-1:\n    [INFO] starting\n    [ERROR] db not reachable\n\
         service catalog did not become healthy within 2m (starting); anchore-lab-catalog-1 logged nothing\n\
         service grafana did not start within 2m (no container)\n\
         service queue did not come up within 2m (restarting (last exit code 1)); anchore-lab-queue-1 logged nothing"
    );
    assert!(with_error
        .to_string()
        .contains("service catalog did not become healthy within 2m (starting); its logs could not be read: no answer within 10s"));
    assert_eq!(
        n.hint(),
        "`docker logs anchore-lab-analyzer-1` shows all of its output; a slow machine may need a longer wait"
    );
    let e = Error::NotReady(Box::new(n));
    assert_eq!(e.exit_code(), exit::ENVIRONMENT);
    assert!(e
        .hint()
        .unwrap()
        .starts_with("`docker logs anchore-lab-analyzer-1`"));
}

#[test]
fn an_exit_is_reported_with_its_code_and_lines_not_a_timeout() {
    let n = NotReady {
        project: "p".into(),
        timed_out: false,
        timeout: Duration::from_secs(60),
        services: vec![stuck(
            "migrate",
            ServiceState::Exited { code: 1 },
            Some("p-migrate-1"),
            &["boom"],
        )],
    };
    assert_eq!(
        n.to_string(),
        "service migrate exited with code 1; last log lines of p-migrate-1:\n    boom"
    );
    assert!(n
        .hint()
        .ends_with("fix what made it stop, then start again"));
    let n = NotReady {
        services: vec![stuck(
            "api",
            ServiceState::Exited { code: 0 },
            Some("p-api-1"),
            &[],
        )],
        ..n
    };
    assert_eq!(
        n.to_string(),
        "service api exited with code 0, but it should keep running (or be passed as one-shot); p-api-1 logged nothing"
    );
    let mut migrate = stuck(
        "migrate",
        ServiceState::Running,
        Some("p-migrate-1"),
        &["step 3/9"],
    );
    migrate.one_shot = true;
    let n = NotReady {
        timed_out: true,
        services: vec![migrate],
        ..n
    };
    assert_eq!(
        n.to_string(),
        "service migrate did not finish within 1m (still running (no healthcheck)); last log lines of p-migrate-1:\n    step 3/9"
    );
}

#[test]
fn a_project_without_containers_says_so() {
    let n = NotReady {
        project: "nothing-here".into(),
        timed_out: false,
        timeout: Duration::from_secs(1),
        services: vec![],
    };
    assert_eq!(
        n.to_string(),
        "compose project `nothing-here` has no containers: nothing to wait for"
    );
    assert!(n.hint().starts_with("start the project first"));
    let n = NotReady {
        services: vec![stuck("x", ServiceState::Waiting, None, &[])],
        ..n
    };
    assert!(n
        .hint()
        .contains("docker ps -a --filter label=com.docker.compose.project=nothing-here"));
}

#[test]
fn tail_keeps_the_last_non_empty_lines_clipped() {
    let text = format!("a\n\nb\r\nc\n{}\n", "x".repeat(400));
    assert_eq!(
        tail_lines(&text, 2),
        vec!["c".to_string(), format!("{}…", "x".repeat(299))]
    );
    assert_eq!(tail_lines("a\nb\n", 10), vec!["a", "b"]);
    assert!(tail_lines("", 10).is_empty());
}

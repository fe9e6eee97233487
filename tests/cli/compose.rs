//! Tests of `lab::engine::compose` against the real engine and both compose flavours: `up`,
//! `wait_ready` (returns when healthy, and promptly), `down` (volumes kept unless
//! asked), compose's own error for an undefined volume, a crash failing fast with its
//! last log lines, and a timeout naming the service. Gated like docker.rs
//! (LAB_DOCKER_TESTS=1). Each scenario runs with v2 and v1, or with the one flavour
//! `LAB_COMPOSE` names. Every project is removed (`down -v`) by a guard, however the
//! test ends.

use crate::support::{docker, docker_ok, enabled, unique, TempDir, IMAGE};
use lab::engine::compose::{self, Compose, Flavor, ServiceState, WaitOptions};
use lab::error::Error;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The flavours to run: the one `LAB_COMPOSE` forces, else both.
fn flavours() -> Vec<Flavor> {
    match compose::forced_flavor(std::env::var("LAB_COMPOSE").ok().as_deref())
        .expect("LAB_COMPOSE is v1, v2 or unset")
    {
        Some(f) => vec![f],
        None => vec![Flavor::V2, Flavor::V1],
    }
}

/// A compose project in its own folder; `down -v` and a sweep by label on drop.
struct Project {
    compose: Compose,
    _dir: TempDir,
}

impl Project {
    fn new(flavor: Flavor, what: &str, file: &str) -> Project {
        let dir = TempDir::new("compose");
        std::fs::write(dir.path().join("docker-compose.yaml"), file).unwrap();
        let compose = Compose::new(
            flavor,
            unique(&format!("labt-{what}")),
            vec!["docker-compose.yaml".into()],
            dir.path(),
        );
        Project { compose, _dir: dir }
    }

    fn name(&self) -> &str {
        &self.compose.project
    }

    /// The ids of the project's containers (all, or one service's).
    fn containers(&self, service: Option<&str>) -> Vec<String> {
        let project = format!("label=com.docker.compose.project={}", self.name());
        let mut args = vec!["ps", "-aq", "--filter", &project];
        let svc;
        if let Some(s) = service {
            svc = format!("label=com.docker.compose.service={s}");
            args.extend(["--filter", &svc]);
        }
        docker_ok(&args)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let (program, pre): (&str, &[&str]) = match self.compose.flavor {
            Flavor::V2 => ("docker", &["compose"]),
            Flavor::V1 => ("docker-compose", &[]),
        };
        let _ = Command::new(program)
            .args(pre)
            .args(["-p", self.name(), "-f", "docker-compose.yaml"])
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .current_dir(&self.compose.workdir)
            .output();
        // Whatever `down` could not remove (an invalid file makes it refuse, and
        // v1 creates the network before it fails).
        let label = format!("label=com.docker.compose.project={}", self.name());
        for (list, rm) in [
            (
                ["container", "ls", "-aq", "--filter", &label],
                ["container", "rm", "-fv"],
            ),
            (
                ["network", "ls", "-q", "--filter", &label],
                ["network", "rm", "--"],
            ),
            (
                ["volume", "ls", "-q", "--filter", &label],
                ["volume", "rm", "-f"],
            ),
        ] {
            let ids: Vec<String> = docker(&list)
                .stdout
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            if !ids.is_empty() {
                let mut args = rm.to_vec();
                args.extend(ids.iter().map(String::as_str));
                let _ = docker(&args);
            }
        }
    }
}

/// `sh -c` that stops at once on SIGTERM (a shell as PID 1 ignores it otherwise, and
/// every `down` would wait out the grace period), after `script`.
fn serve(script: &str) -> String {
    format!(r#"["sh", "-c", "trap 'exit 0' TERM; {script}; sleep 600 & wait"]"#)
}

/// web: healthy about 2 s after it starts (its healthcheck looks for /ready);
/// side: no healthcheck. web mounts the named volume `data`.
fn healthy_file() -> String {
    format!(
        r#"services:
  web:
    image: {IMAGE}
    command: {web}
    stop_grace_period: 2s
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "sh", "-c", "test -f /ready"]
      interval: 500ms
      timeout: 2s
      retries: 30
  side:
    image: {IMAGE}
    command: {side}
    stop_grace_period: 2s
volumes:
  data: {{}}
"#,
        web = serve("echo web-starting; sleep 2; echo > /ready; echo web-ready"),
        side = serve("echo side-up"),
    )
}

async fn connect() -> bollard::Docker {
    lab::engine::docker::connect()
        .await
        .expect("the Docker engine answers")
}

/// When a container's health turned healthy: the end of its first passing probe
/// after a failing one, from `docker inspect` (the log keeps the last 5 probes).
fn turned_healthy_at(container: &str) -> SystemTime {
    let log = docker_ok(&[
        "inspect",
        "-f",
        "{{range .State.Health.Log}}{{.End.UnixNano}} {{.ExitCode}};{{end}}",
        container,
    ]);
    let probes: Vec<(u64, i64)> = log
        .split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (end, code) = p.trim().split_once(' ').unwrap();
            (end.parse().unwrap(), code.parse().unwrap())
        })
        .collect();
    let first_pass = probes
        .iter()
        .position(|(_, code)| *code == 0)
        .unwrap_or_else(|| panic!("no passing probe in {log}"));
    assert!(
        first_pass > 0,
        "the probe log no longer holds the change to healthy: {log}"
    );
    UNIX_EPOCH + Duration::from_nanos(probes[first_pass].0)
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_finds_each_flavour_and_honours_the_choice() {
    if !enabled("detect_finds_each_flavour_and_honours_the_choice") {
        return;
    }
    let v2 = compose::detect_as(Some(Flavor::V2)).await.unwrap();
    assert_eq!(v2.flavor, Flavor::V2);
    assert!(v2.version.trim_start_matches('v').starts_with("2."), "{v2}");
    let v1 = compose::detect_as(Some(Flavor::V1)).await.unwrap();
    assert_eq!(v1.flavor, Flavor::V1);
    assert!(v1.version.starts_with("1."), "{v1}");
    assert_eq!(v1.to_string(), format!("docker-compose {}", v1.version));
    // Unforced, v2 wins when both are there.
    assert_eq!(compose::detect_as(None).await.unwrap(), v2);
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_waits_until_healthy_and_down_keeps_volumes_unless_asked() {
    if !enabled("up_waits_until_healthy_and_down_keeps_volumes_unless_asked") {
        return;
    }
    let engine = connect().await;
    for flavor in flavours() {
        let p = Project::new(flavor, "up", &healthy_file());
        let c = &p.compose;
        c.config().await.unwrap();
        assert_eq!(c.services().await.unwrap(), vec!["side", "web"]);
        c.up(&[]).await.unwrap();

        let mut changes: BTreeMap<String, Vec<ServiceState>> = BTreeMap::new();
        let record =
            |s: &str, st: &ServiceState| changes.entry(s.to_string()).or_default().push(st.clone());
        // The safety re-check is pushed out of the way: only the events stream can
        // explain a return within 1 s of web turning healthy.
        let opts = WaitOptions {
            recheck: Duration::from_secs(120),
            ..WaitOptions::new(Duration::from_secs(60))
        };
        let started = Instant::now();
        let states = compose::wait_ready_with(&engine, p.name(), &[], &opts, record)
            .await
            .unwrap_or_else(|e| panic!("{flavor}: {e}"));
        let returned = SystemTime::now();
        let waited = started.elapsed();

        assert_eq!(states["web"], ServiceState::Healthy, "{flavor}");
        assert_eq!(states["side"], ServiceState::Running, "{flavor}");
        let web = &changes["web"];
        assert_eq!(
            web.last(),
            Some(&ServiceState::Healthy),
            "{flavor}: {web:?}"
        );
        assert!(
            web.contains(&ServiceState::Starting),
            "{flavor}: web was seen starting first: {web:?}"
        );
        assert_eq!(changes["side"], [ServiceState::Running], "{flavor}");

        // Noticed within 1 s of turning healthy, and not before it.
        let web_id = &p.containers(Some("web"))[0];
        let healthy_at = turned_healthy_at(web_id);
        let gap = returned.duration_since(healthy_at).unwrap_or_else(|e| {
            panic!(
                "{flavor}: returned {:?} before web was healthy",
                e.duration()
            )
        });
        eprintln!(
            "{flavor}: wait_ready returned {gap:?} after web turned healthy (waited {waited:?})"
        );
        assert!(
            gap < Duration::from_secs(1),
            "{flavor}: {gap:?} after healthy"
        );

        let ps = c.ps().await.unwrap();
        assert!(ps.contains("web") && ps.contains("side"), "{flavor}: {ps}");
        let logs = c.logs("web", 5).await.unwrap();
        assert!(logs.contains("web-ready"), "{flavor}: {logs}");

        // down keeps the named volume; down -v removes it.
        let volume = format!("{}_data", p.name());
        c.down(false).await.unwrap();
        assert!(
            p.containers(None).is_empty(),
            "{flavor}: containers left after down"
        );
        assert!(
            docker(&["volume", "inspect", &volume]).status.success(),
            "{flavor}: down removed the volume {volume}"
        );
        c.down(true).await.unwrap();
        assert!(
            !docker(&["volume", "inspect", &volume]).status.success(),
            "{flavor}: down -v left the volume {volume}"
        );
    }
}

/// web keeps an anonymous volume (`/scratch`); `round` changes its environment, so a
/// second `up` recreates it.
fn anonymous_volume_file(round: u32) -> String {
    format!(
        r#"services:
  web:
    image: {IMAGE}
    command: {web}
    stop_grace_period: 1s
    environment:
      ROUND: "{round}"
    volumes:
      - /scratch
"#,
        web = serve("echo up"),
    )
}

/// Compose v2 hands a recreated container its predecessor's anonymous volume by name,
/// and `down -v` then leaves that volume behind (compose 2.26.1). `lab`'s way down with
/// the volumes (`lab reset`, `lab smoke`'s cleanup, the `compose_down` step) removes it;
/// and nothing of the project is left (what `lab smoke` asks before a scenario).
#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_with_volumes_leaves_no_anonymous_volume_of_a_recreated_container() {
    if !enabled("down_with_volumes_leaves_no_anonymous_volume_of_a_recreated_container") {
        return;
    }
    let engine = connect().await;
    let installed = compose::detect().await.expect("compose is installed");
    let p = Project::new(installed.flavor, "anon", &anonymous_volume_file(1));
    let dir = p.compose.workdir.clone();
    let env = lab::env::Environment::new(&dir, p.name(), "docker-compose.yaml", false);
    let c = lab::action::exec::compose_for(&env).await.unwrap();
    c.up(&[]).await.unwrap();
    let first = p.containers(Some("web"));
    std::fs::write(dir.join("docker-compose.yaml"), anonymous_volume_file(2)).unwrap();
    c.up(&[]).await.unwrap();
    assert_ne!(
        first,
        p.containers(Some("web")),
        "the second up recreated web"
    );
    let limit = Duration::from_secs(10);
    let anonymous = lab::engine::containers::anonymous_volumes(&engine, p.name(), limit)
        .await
        .unwrap();
    assert_eq!(anonymous.len(), 1, "{anonymous:?}");
    let leftovers = |project: String| {
        let engine = engine.clone();
        async move {
            lab::engine::containers::project_leftovers(&engine, &project, limit)
                .await
                .unwrap()
        }
    };
    assert!(leftovers(p.name().to_string()).await);
    assert!(!leftovers(unique("labt-none")).await);

    lab::action::exec::compose_down(&env, &engine, true)
        .await
        .unwrap();
    let left: Vec<&String> = anonymous
        .iter()
        .filter(|v| docker(&["volume", "inspect", v]).status.success())
        .collect();
    for v in &left {
        let _ = docker(&["volume", "rm", "-f", v]);
    }
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(p.containers(None).is_empty());
    assert!(
        !leftovers(p.name().to_string()).await,
        "no network or volume left"
    );
}

/// The course's mistake: a service mounts a named volume the file never declares.
const UNDEFINED_VOLUME: &str = r#"services:
  grafana:
    image: lab-test/busybox:1
    command: ["sh", "-c", "sleep 600"]
    volumes:
      - grafana-db-volume:/var/lib/grafana
"#;

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undefined_volume_fails_with_composes_own_message() {
    if !enabled("an_undefined_volume_fails_with_composes_own_message") {
        return;
    }
    for flavor in flavours() {
        let p = Project::new(flavor, "vol", UNDEFINED_VOLUME);
        for (what, result) in [
            ("config", p.compose.config().await.map(|_| ())),
            ("up", p.compose.up(&[]).await.map(|_| ())),
        ] {
            let e = result.expect_err("an undefined volume is refused");
            eprintln!(
                "{flavor} {what}: {e}\n  hint: {}",
                e.hint().unwrap_or_default()
            );
            let Error::Compose {
                command, message, ..
            } = &e
            else {
                panic!("{flavor} {what}: not a compose error: {e:?}");
            };
            assert_eq!(e.exit_code(), lab::error::exit::ENVIRONMENT);
            assert!(
                command.starts_with(&format!(
                    "{flavor} -p {} -f docker-compose.yaml {what}",
                    p.name()
                )),
                "{command}"
            );
            match flavor {
                Flavor::V2 => assert_eq!(
                    message,
                    "service \"grafana\" refers to undefined volume grafana-db-volume: invalid compose project"
                ),
                Flavor::V1 => assert_eq!(
                    message.trim_start_matches("ERROR: "),
                    "Named volume \"grafana-db-volume:/var/lib/grafana:rw\" is used in service \"grafana\" \
                     but no declaration was found in the volumes section."
                ),
            }
            assert!(
                e.hint().unwrap().contains(command.as_str()),
                "{:?}",
                e.hint()
            );
        }
        assert!(
            p.containers(None).is_empty(),
            "{flavor}: up created containers"
        );
    }
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_exits_fails_fast_with_its_last_lines() {
    if !enabled("a_service_that_exits_fails_fast_with_its_last_lines") {
        return;
    }
    let engine = connect().await;
    let crash = (1..=12)
        .map(|i| format!("echo crash-line-{i}"))
        .collect::<Vec<_>>()
        .join("; ");
    let file = format!(
        r#"services:
  crash:
    image: {IMAGE}
    command: ["sh", "-c", "sleep 1; {crash}; exit 3"]
  never:
    image: {IMAGE}
    command: {never}
    stop_grace_period: 2s
    healthcheck:
      test: ["CMD", "sh", "-c", "test -f /never"]
      interval: 1s
      retries: 100
  migrate:
    image: {IMAGE}
    command: ["sh", "-c", "sleep 1; echo migrated"]
"#,
        never = serve("echo never-healthy"),
    );
    for flavor in flavours() {
        let p = Project::new(flavor, "crash", &file);
        p.compose.up(&[]).await.unwrap();
        let started = Instant::now();
        let services = ["crash".to_string(), "never".into()];
        let e = compose::wait_ready(
            &engine,
            p.name(),
            &services,
            Duration::from_secs(60),
            |_, _| {},
        )
        .await
        .expect_err("crash exits 3");
        let took = started.elapsed();
        eprintln!("{flavor}: failed after {took:?}: {e}");
        assert!(
            took < Duration::from_secs(20),
            "{flavor}: not fast: {took:?}"
        );
        let Error::NotReady(n) = &e else {
            panic!("{flavor}: {e:?}")
        };
        assert!(!n.timed_out);
        let crashed = &n.services[0];
        assert_eq!(crashed.service, "crash");
        assert_eq!(crashed.state, ServiceState::Exited { code: 3 });
        let want: Vec<String> = (3..=12).map(|i| format!("crash-line-{i}")).collect();
        assert_eq!(crashed.logs, want, "{flavor}");
        assert_eq!(n.services.len(), 1, "{flavor}: only crash failed: {e}");
        let text = e.to_string();
        assert!(
            text.starts_with("service crash exited with code 3; last log lines of ")
                && text.ends_with("\n    crash-line-3\n    crash-line-4\n    crash-line-5\n    crash-line-6\n    crash-line-7\n    crash-line-8\n    crash-line-9\n    crash-line-10\n    crash-line-11\n    crash-line-12"),
            "{flavor}: {text}"
        );
        assert!(
            e.hint().unwrap().starts_with("`docker logs "),
            "{:?}",
            e.hint()
        );

        // A one-shot that exits 0 is ready when named so, and a failure when not.
        let one_shot = WaitOptions {
            one_shot: ["migrate".to_string()].into(),
            ..WaitOptions::new(Duration::from_secs(30))
        };
        let states =
            compose::wait_ready_with(&engine, p.name(), &["migrate".into()], &one_shot, |_, _| {})
                .await
                .unwrap_or_else(|e| panic!("{flavor}: {e}"));
        assert_eq!(states["migrate"], ServiceState::Exited { code: 0 });
        let e = compose::wait_ready(
            &engine,
            p.name(),
            &["migrate".into()],
            Duration::from_secs(30),
            |_, _| {},
        )
        .await
        .expect_err("a service that stops is not ready");
        assert!(
            e.to_string()
                .starts_with("service migrate exited with code 0, but it should keep running")
                && e.to_string().ends_with("    migrated"),
            "{flavor}: {e}"
        );
    }
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_names_each_service_that_did_not_come_up() {
    if !enabled("a_timeout_names_each_service_that_did_not_come_up") {
        return;
    }
    let engine = connect().await;
    let file = format!(
        r#"services:
  sick:
    image: {IMAGE}
    command: {sick}
    stop_grace_period: 2s
    healthcheck:
      test: ["CMD", "sh", "-c", "echo db-down; false"]
      interval: 500ms
      retries: 2
  fine:
    image: {IMAGE}
    command: {fine}
    stop_grace_period: 2s
"#,
        sick = serve("echo waiting-for-db"),
        fine = serve("echo fine"),
    );
    for flavor in flavours() {
        let p = Project::new(flavor, "slow", &file);
        p.compose.up(&[]).await.unwrap();
        let limit = Duration::from_secs(4);
        let started = Instant::now();
        let services = ["sick".to_string(), "fine".into(), "ghost".into()];
        let e = compose::wait_ready(&engine, p.name(), &services, limit, |_, _| {})
            .await
            .expect_err("sick never passes its healthcheck");
        let took = started.elapsed();
        eprintln!(
            "{flavor}: gave up after {took:?}: {e}\n  hint: {}",
            e.hint().unwrap_or_default()
        );
        assert!(
            took >= limit && took < limit + Duration::from_secs(5),
            "{flavor}: {took:?}"
        );
        let Error::NotReady(n) = &e else {
            panic!("{flavor}: {e:?}")
        };
        assert!(n.timed_out);
        let named: Vec<&str> = n.services.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(named, ["ghost", "sick"], "{flavor}: fine is ready");
        let text = e.to_string();
        assert!(
            text.contains("service sick did not become healthy within 4s (unhealthy: ")
                && text.contains("last: db-down)")
                && text.contains("; last log lines of ")
                && text.contains("\n    waiting-for-db"),
            "{flavor}: {text}"
        );
        assert!(
            text.contains("service ghost did not start within 4s (no container)"),
            "{flavor}: {text}"
        );
    }
}

/// The `compose` check as a trainee's compose sees the file: values from `.env`, an
/// override file, `extends`; Anchore's spellings of on; compose's own message for a
/// file it refuses. Needs only the compose CLI (`config` does not start anything).
#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[tokio::test]
async fn the_compose_check_judges_values_as_compose_resolves_them() {
    if !enabled("the_compose_check_judges_values_as_compose_resolves_them") {
        return;
    }
    use lab::model::check::ComposeCheck;
    use lab::probe::{compose::probe, Ctx, Endpoint, Observation, Target};
    use std::sync::Arc;

    let check = ComposeCheck {
        file: None,
        services: vec!["api".into(), "analyzer".into()],
        image: None,
        ports: vec![],
        env: BTreeMap::new(),
        enabled: vec!["ANCHORE_ENABLE_METRICS".into()],
        every_anchore_service: false,
        volumes: vec!["./anchore-prometheus.yml:/etc/prometheus/prometheus.yml".into()],
        top_level_volumes: vec![],
    };
    let run = |dir: &std::path::Path| {
        let check = check.clone();
        let target = Target {
            workdir: dir.to_path_buf(),
            compose_file: dir.join("docker-compose.yaml"),
            project: unique("labt-cfg"),
            anchore: Endpoint::new("http://127.0.0.1:9", "", ""),
            prometheus: Endpoint::new("http://127.0.0.1:9", "", ""),
            grafana: Endpoint::new("http://127.0.0.1:9", "", ""),
            answers: Default::default(),
            moved_ports: Default::default(),
        };
        let ctx = Ctx {
            target: Arc::new(target),
            http: lab::client::http_client(),
            docker: Arc::new(Err("not used".into())),
            deadline: Instant::now() + Duration::from_secs(60),
        };
        async move { probe(&check, &ctx).await.expect("the probe answers") }
    };
    // 6.x style: the value in .env, interpolated on every service; the analyzer
    // extends a common block; the mount comes from an override file.
    let base = "x-common: &common\n  image: busybox\n  environment:\n    ANCHORE_ENABLE_METRICS: ${ANCHORE_ENABLE_METRICS}\nservices:\n  api:\n    <<: *common\n  base:\n    image: busybox\n    environment:\n      - ANCHORE_ENABLE_METRICS=${ANCHORE_ENABLE_METRICS}\n  analyzer:\n    extends: {service: base}\n    volumes: ['./anchore-prometheus.yml:/etc/prometheus/prometheus.yml']\n";
    for (value, passes) in [
        ("True", true),
        ("yes", true),
        ("1", true),
        ("false", false),
        ("0", false),
    ] {
        let dir = TempDir::new("compose-cfg");
        std::fs::write(dir.path().join("docker-compose.yaml"), base).unwrap();
        std::fs::write(
            dir.path().join(".env"),
            format!("ANCHORE_ENABLE_METRICS={value}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("docker-compose.override.yml"),
            "services:\n  api:\n    volumes: ['./anchore-prometheus.yml:/etc/prometheus/prometheus.yml']\n",
        )
        .unwrap();
        let o = run(dir.path()).await;
        assert_eq!(
            matches!(o, Observation::Pass { .. }),
            passes,
            "{value}: {o:?}"
        );
    }
    // A file compose refuses: failed with compose's message, naming the cause.
    let dir = TempDir::new("compose-cfg");
    std::fs::write(
        dir.path().join("docker-compose.yaml"),
        "services:\n  api:\n    image: busybox\n    volumes: [grafana-db-volume:/var/lib/grafana]\n",
    )
    .unwrap();
    match run(dir.path()).await {
        Observation::Fail { actual, cause, .. } => {
            assert_eq!(cause.map(|c| c.id), Some("compose-invalid"));
            assert!(actual.contains("grafana-db-volume"), "{actual}");
        }
        other => panic!("{other:?}"),
    }
}

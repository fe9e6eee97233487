//! Tests against the real Docker engine: `lab check` with container and logs checks,
//! and `lab doctor`. They run when LAB_DOCKER_TESTS=1 (CI sets it; then an engine
//! that does not answer fails the test); otherwise they print a note and return.
//!
//! No registry is needed: the tests use the local image `support::IMAGE`.
//! Every test uses its own compose project name and removes its containers.

use crate::support::{self, docker, docker_ok, enabled, unique, wait_for, Run, TempDir, IMAGE};
use serde_json::Value;
use std::time::Duration;

/// Containers removed (`docker rm -f`) when the test ends, however it ends.
struct Containers {
    project: String,
    names: Vec<String>,
}

impl Containers {
    fn new() -> Containers {
        Containers {
            project: unique("labt"),
            names: vec![],
        }
    }

    /// Starts (or with `create_only`, creates) a container of `service` in this project.
    fn add(&mut self, service: &str, extra: &[&str], cmd: &[&str], create_only: bool) -> String {
        let name = format!("{}-{service}-{}", self.project, self.names.len() + 1);
        self.names.push(name.clone());
        let project_label = format!("com.docker.compose.project={}", self.project);
        let service_label = format!("com.docker.compose.service={service}");
        let mut args = vec![
            if create_only { "create" } else { "run" },
            "--name",
            &name,
            "--label",
            &project_label,
            "--label",
            &service_label,
        ];
        if !create_only {
            args.push("-d");
        }
        args.extend_from_slice(extra);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        docker_ok(&args);
        name
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.names.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}

/// A lab folder holding one lab, number 1, written for the test.
fn lab_dir(prerequisites: &str, checks: &str) -> TempDir {
    let dir = TempDir::new("labs");
    let lab = dir.path().join("01-docker-test");
    std::fs::create_dir_all(&lab).unwrap();
    std::fs::write(lab.join("README.md"), "# Docker test\n").unwrap();
    let checks = if checks.trim().is_empty() {
        "      - id: placeholder-file\n        description: a file\n        kind: file\n        path: Cargo.toml\n"
            .to_string()
    } else {
        checks.to_string()
    };
    std::fs::write(
        lab.join("lab.yaml"),
        format!(
            "number: 1\nslug: docker-test\ntitle: Docker test\nsummary: Written by tests/cli/docker.rs\n\
             prerequisites:\n{prerequisites}\nexercises:\n  - id: ex\n    title: Exercise\n    checks:\n{checks}"
        ),
    )
    .unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("0.0.0.0", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", r.stdout, r.stderr))
}

/// The check result or doctor item whose `key` is `value`.
fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|c| c[key] == value))
        .unwrap_or_else(|| panic!("no entry with {key} {value} in {list:#}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn container_and_logs_checks_pass_and_fail_against_real_containers() {
    if !enabled("container_and_logs_checks_pass_and_fail_against_real_containers") {
        return;
    }
    let mut c = Containers::new();
    let mount = TempDir::new("mount");
    let port = free_port();
    let publish = format!("{port}:80");
    let bind = format!("{}:/config", mount.path().display());
    c.add(
        "api",
        &[
            "-e",
            "ANCHORE_ENABLE_METRICS=true",
            "-e",
            "ANCHORE_DB_PASSWORD=hunter2-secret",
            "-p",
            &publish,
            "-v",
            &bind,
        ],
        &[
            "/bin/sh",
            "-c",
            "echo hello-from-api; echo warn-on-stderr >&2; exec sleep 600",
        ],
        false,
    );
    c.add(
        "analyzer",
        &["-e", "ANCHORE_ENABLE_METRICS=false"],
        &["/bin/sleep", "600"],
        false,
    );
    c.add("worker", &[], &["/bin/sleep", "600"], true);

    let checks = format!(
        r#"      - id: api-running
        description: api runs
        kind: container
        services: [api]
      - id: metrics-env
        description: metrics are on
        kind: container
        services: [api, analyzer]
        env: {{ANCHORE_ENABLE_METRICS: "true"}}
      - id: api-env
        description: api has metrics on
        kind: container
        services: [api]
        env: {{ANCHORE_ENABLE_METRICS: "true"}}
      - id: api-port
        description: api publishes the port
        kind: container
        services: [api]
        publishes: [{port}]
      - id: analyzer-port
        description: analyzer publishes the port
        kind: container
        services: [analyzer]
        publishes: [{port}]
      - id: api-mount
        description: api mounts /config
        kind: container
        services: [api]
        mounts: [/config]
      - id: api-mount-missing
        description: api mounts /nope
        kind: container
        services: [api]
        mounts: [/nope]
      - id: api-healthy
        description: api is healthy
        kind: container
        services: [api]
        state: healthy
      - id: grafana-missing
        description: grafana runs
        kind: container
        services: [grafana]
      - id: worker-running
        description: worker runs
        kind: container
        services: [worker]
      - id: worker-exists
        description: worker exists
        kind: container
        services: [worker]
        state: exists
      - id: api-logs
        description: api said hello
        kind: logs
        service: api
        matches: "hello-from-api"
        eventually: {{within: 20s, every: 200ms}}
      - id: api-stderr
        description: api warned on stderr
        kind: logs
        service: api
        matches: "^warn-on-stderr$"
        needs: [api-logs]
      - id: api-logs-twice
        description: api said hello twice
        kind: logs
        service: api
        matches: "hello-from-api"
        at_least: 2
        needs: [api-logs]
      - id: analyzer-logs-none
        description: analyzer said something
        kind: logs
        service: analyzer
        matches: "never-printed"
      - id: grafana-logs
        description: grafana logged
        kind: logs
        service: grafana
        matches: "."
"#
    );
    let labs = lab_dir("  ports: []", &checks);
    let r = support::run(support::lab().args([
        "--labs-dir",
        &labs.path().to_string_lossy(),
        "--format",
        "json",
        "check",
        "1",
        "--project",
        &c.project,
    ]));
    let v = json(&r);
    let checks = &v["checks"];
    let status = |id: &str| text(&find(checks, "id", id)["status"]).to_string();
    let actual = |id: &str| text(&find(checks, "id", id)["actual"]).to_string();
    let expected = |id: &str| text(&find(checks, "id", id)["expected"]).to_string();

    for id in [
        "api-running",
        "api-env",
        "api-port",
        "api-mount",
        "worker-exists",
        "api-logs",
        "api-stderr",
    ] {
        assert_eq!(status(id), "passed", "{id}: {:#}", find(checks, "id", id));
    }
    assert!(actual("api-env").contains("ANCHORE_ENABLE_METRICS=true"));
    assert!(
        actual("api-logs").contains("hello-from-api"),
        "{}",
        actual("api-logs")
    );

    assert_eq!(status("metrics-env"), "failed");
    assert_eq!(
        expected("metrics-env"),
        "running on api, analyzer; ANCHORE_ENABLE_METRICS=true on api, analyzer"
    );
    assert_eq!(
        actual("metrics-env"),
        "analyzer: ANCHORE_ENABLE_METRICS=false"
    );

    assert_eq!(status("analyzer-port"), "failed");
    assert_eq!(
        actual("analyzer-port"),
        format!("analyzer: host port {port} not published (publishes no port)")
    );
    assert_eq!(status("api-mount-missing"), "failed");
    assert!(actual("api-mount-missing").contains("nothing mounted at /nope (mounts: /config)"));
    assert_eq!(status("api-healthy"), "failed");
    assert!(
        actual("api-healthy").contains("no healthcheck"),
        "{}",
        actual("api-healthy")
    );
    assert_eq!(status("grafana-missing"), "failed");
    assert_eq!(
        actual("grafana-missing"),
        format!(
            "no container for service `grafana` in compose project `{}`",
            c.project
        )
    );
    assert_eq!(status("worker-running"), "failed");
    assert_eq!(actual("worker-running"), "worker: created");
    assert_eq!(status("api-logs-twice"), "failed");
    assert!(
        actual("api-logs-twice").starts_with("1 line matching"),
        "{}",
        actual("api-logs-twice")
    );
    assert_eq!(status("analyzer-logs-none"), "failed");
    assert!(actual("analyzer-logs-none").starts_with("no line matches"));
    assert_eq!(status("grafana-logs"), "failed");
    assert!(actual("grafana-logs").contains("no container for service `grafana`"));

    assert_eq!(r.code, 1, "failed checks exit 1\n{}", r.stderr);
    assert!(
        !r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"),
        "a variable the checks do not name leaked into the report"
    );
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn healthy_passes_once_the_healthcheck_passes_and_unhealthy_is_told_apart() {
    if !enabled("healthy_passes_once_the_healthcheck_passes_and_unhealthy_is_told_apart") {
        return;
    }
    let mut c = Containers::new();
    c.add(
        "api",
        &["--health-cmd", "true", "--health-interval", "1s"],
        &["/bin/sleep", "600"],
        false,
    );
    let sick = c.add(
        "catalog",
        &[
            "--health-cmd",
            "echo db-down; false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &["/bin/sleep", "600"],
        false,
    );
    wait_for(
        &sick,
        "{{.State.Health.Status}}",
        "unhealthy",
        Duration::from_secs(30),
    );
    let labs = lab_dir(
        "  ports: []",
        r#"      - id: api-healthy
        description: api is healthy
        kind: container
        services: [api]
        state: healthy
        eventually: {within: 30s, every: 250ms}
      - id: catalog-healthy
        description: catalog is healthy
        kind: container
        services: [catalog]
        state: healthy
"#,
    );
    let r = support::run(support::lab().args([
        "--labs-dir",
        &labs.path().to_string_lossy(),
        "--format",
        "json",
        "check",
        "1",
        "--project",
        &c.project,
    ]));
    let v = json(&r);
    let api = find(&v["checks"], "id", "api-healthy");
    assert_eq!(api["status"], "passed", "{api:#}");
    let catalog = find(&v["checks"], "id", "catalog-healthy");
    assert_eq!(catalog["status"], "failed", "{catalog:#}");
    let actual = text(&catalog["actual"]);
    assert!(
        actual.starts_with("catalog: unhealthy (") && actual.contains("last: db-down"),
        "{actual}"
    );
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn doctor_reports_port_holders_and_image_presence() {
    if !enabled("doctor_reports_port_holders_and_image_presence") {
        return;
    }
    // A port this test holds, and one a container of a compose project publishes.
    let held = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let held_port = held.local_addr().unwrap().port();
    let published = free_port();
    let mut c = Containers::new();
    let publish = format!("{published}:80");
    let container = c.add(
        "prometheus",
        &["-p", &publish],
        &["/bin/sleep", "600"],
        false,
    );
    let absent = format!("lab-test/absent-{}:1", unique("img"));
    let labs = lab_dir(
        &format!("  images: [{IMAGE}, {absent}]\n  ports: [{held_port}, {published}]"),
        "",
    );
    let doctor = |project: &str| {
        support::run(support::lab().args([
            "--labs-dir",
            &labs.path().to_string_lossy(),
            "--format",
            "json",
            "doctor",
            "1",
            "--no-pull",
            "--project",
            project,
        ]))
    };

    let r = doctor(&c.project);
    let v = json(&r);
    let items = &v["items"];
    assert_eq!(find(items, "name", "docker")["status"], "ok");
    let me = std::fs::read_to_string("/proc/self/comm").unwrap();
    let held_item = find(items, "name", &format!("port {held_port}"));
    assert_eq!(held_item["status"], "fail", "{held_item:#}");
    let detail = text(&held_item["detail"]);
    assert!(
        detail.contains(me.trim()) && detail.contains(&format!("pid {}", std::process::id())),
        "{detail}"
    );
    assert!(held_item["hint"].is_string());
    let ours = find(items, "name", &format!("port {published}"));
    assert_eq!(ours["status"], "ok", "{ours:#}");
    assert!(text(&ours["detail"]).contains(&container), "{ours:#}");
    let present = find(items, "name", &format!("image {IMAGE}"));
    assert_eq!(present["status"], "ok");
    assert_eq!(present["detail"], "present");
    let missing = find(items, "name", &format!("image {absent}"));
    assert_eq!(missing["status"], "fail");
    assert!(text(&missing["hint"]).contains(&format!("docker pull {absent}")));
    assert_eq!(v["ok"], false);
    assert_eq!(r.code, 3, "a failed prerequisite exits 3\n{}", r.stdout);

    // Seen from another project, the container is in the way.
    let v = json(&doctor("some-other-project"));
    let theirs = find(&v["items"], "name", &format!("port {published}"));
    assert_eq!(theirs["status"], "fail", "{theirs:#}");
    assert!(
        text(&theirs["detail"]).contains(&format!(
            "container {container} (compose project `{}`)",
            c.project
        )),
        "{theirs:#}"
    );
    drop(held);
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn doctor_verifies_stored_logins_without_showing_secrets() {
    if !enabled("doctor_verifies_stored_logins_without_showing_secrets") {
        return;
    }
    let cfg = TempDir::new("docker-config");
    let password = "Pw-Secret-123";
    let basic = "Ym9iOlB3LVNlY3JldC0xMjM="; // base64 of bob:Pw-Secret-123
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{basic}"}}}}}}"#),
    )
    .unwrap();
    let labs = lab_dir("  ports: []", "");
    let doctor = |path: Option<String>| {
        let mut cmd = support::lab();
        cmd.env("DOCKER_CONFIG", cfg.path()).args([
            "--labs-dir",
            &labs.path().to_string_lossy(),
            "--format",
            "json",
            "doctor",
            "--no-pull",
        ]);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        support::run(&mut cmd)
    };
    let check_login = |r: &Run, user: &str, from: &str, secrets: &[&str]| {
        let v = json(r);
        let login = find(&v["items"], "name", "login docker.io");
        let detail = text(&login["detail"]);
        // No registry answers here: the daemon tried and could not reach it (warn);
        // with a network it reaches Docker Hub, which refuses these credentials (fail).
        assert!(
            login["status"] == "warn" || login["status"] == "fail",
            "{login:#}"
        );
        assert!(
            detail.contains(&format!("`{user}`")) && detail.contains(from),
            "{detail}"
        );
        assert!(
            !detail.contains("unexpected answer"),
            "POST /auth did not reach the daemon: {detail}"
        );
        for s in secrets {
            assert!(!r.stdout.contains(s) && !r.stderr.contains(s), "{s} leaked");
        }
    };
    check_login(&doctor(None), "bob", "`auths` in", &[password, basic]);

    // A credential helper, answering only for Docker Hub's server address.
    let bin = TempDir::new("helper");
    let helper = bin.path().join("docker-credential-labtest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread server\nif [ \"$1\" != get ] || [ \"$server\" != https://index.docker.io/v1/ ]; then\n  echo 'credentials not found in native keychain'; exit 1\nfi\n\
         echo \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"carol\\\",\\\"Secret\\\":\\\"Helper-Secret-456\\\"}\"\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&helper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&helper, perms).unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        r#"{"auths":{"https://index.docker.io/v1/":{}},"credsStore":"labtest"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    check_login(
        &doctor(Some(path)),
        "carol",
        "credsStore `labtest`",
        &["Helper-Secret-456"],
    );
}

/// Needs no engine: it points lab at one that is not there.
#[test]
fn doctor_without_an_engine_exits_4_and_skips_what_needs_it() {
    let labs = lab_dir(&format!("  images: [{IMAGE}]\n  ports: []"), "");
    let r = support::run(
        support::lab()
            .env("DOCKER_HOST", "unix:///nonexistent")
            .args([
                "--labs-dir",
                &labs.path().to_string_lossy(),
                "doctor",
                "--no-pull",
            ]),
    );
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL docker"))
        .unwrap_or_else(|| panic!("no docker line:\n{}", r.stdout));
    assert!(
        line.contains("cannot reach the Docker engine") && line.contains("unix:///nonexistent"),
        "{line}"
    );
    assert!(
        r.stdout.contains("hint: start the Docker daemon"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("SKIP image {IMAGE}"))
            && r.stdout.contains("skipped: Docker unreachable"),
        "{}",
        r.stdout
    );
}

/// Needs no engine: doctor finds compose the way every command does, so
/// `LAB_COMPOSE=v1` is honoured there too (it used to report the v2 plugin as ok,
/// while `lab start` would then refuse to use it).
#[test]
fn doctor_honours_lab_compose_like_every_command() {
    let labs = lab_dir("  images: []\n  ports: []", "");
    let bin = TempDir::new("bin");
    // A `docker` that has the compose v2 plugin, and no `docker-compose` (PATH holds
    // this folder alone; the scripts name their shell by its full path).
    let docker = bin.path().join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\nif [ \"$1\" = compose ]; then echo 'Docker Compose version v2.27.0'; exit 0; fi\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = bin.path().display().to_string();
    let doctor = |forced: &str| {
        support::run(
            support::lab()
                .env("DOCKER_HOST", "unix:///nonexistent")
                .env("PATH", &path)
                .env("LAB_COMPOSE", forced)
                .args([
                    "--labs-dir",
                    &labs.path().to_string_lossy(),
                    "doctor",
                    "--no-pull",
                ]),
        )
    };
    let line = |r: &Run| {
        r.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("compose"))
            .unwrap_or_else(|| panic!("no compose line:\n{}", r.stdout))
            .to_string()
    };
    let v2 = doctor("v2");
    assert!(line(&v2).starts_with("OK"), "{}", v2.stdout);
    let v1 = doctor("v1");
    let l = line(&v1);
    assert!(l.starts_with("FAIL compose"), "{}", v1.stdout);
    assert!(l.contains("LAB_COMPOSE is set to v1"), "{l}");
    assert!(
        v1.stdout.contains("hint: unset LAB_COMPOSE"),
        "{}",
        v1.stdout
    );
}

/// The course's lab 1 sample lines (with the `[service:…]` prefix its last line lost).
const COURSE_LINES: &[&str] = &[
    "[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b",
    "[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.569659+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():280] | performing analysis on image: ['admin', 'docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b', 'docker.io/library/postgres:latest']",
    "[service:anchore-enterprise-analyzer] [2024-08-18T13:00:32.494336+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():508] | analysis complete: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b",
];

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn an_answer_is_compared_with_the_duration_measured_from_the_analyzer_logs() {
    if !enabled("an_answer_is_compared_with_the_duration_measured_from_the_analyzer_logs") {
        return;
    }
    let mut c = Containers::new();
    let script = COURSE_LINES
        .iter()
        .map(|l| format!("echo \"{l}\""))
        .collect::<Vec<_>>()
        .join("; ")
        + "; sleep 300";
    let name = c.add("analyzer", &[], &["sh", "-c", &script], false);
    wait_for(&name, "{{.State.Running}}", "true", Duration::from_secs(20));

    let labs = TempDir::new("labs");
    let lab_folder = labs.path().join("01-trace");
    std::fs::create_dir_all(&lab_folder).unwrap();
    std::fs::write(lab_folder.join("README.md"), "# Trace\n").unwrap();
    std::fs::write(
        lab_folder.join("lab.yaml"),
        "number: 1\nslug: trace\ntitle: Trace\nsummary: s\nexercises:\n  - id: trace\n    title: Trace an analysis\n    questions:\n      - id: duration\n        prompt: How long did the analysis take?\n        answer_type: duration\n    checks:\n      - id: duration-right\n        description: the recorded duration matches the analyzer's logs\n        kind: answer\n        question: duration\n        expect:\n          type: number\n          of:\n            analysis_duration: {service: analyzer, image: postgres:latest}\n          tolerance: 2\n",
    )
    .unwrap();
    let work = TempDir::new("work");
    std::fs::create_dir_all(work.path().join(".lab")).unwrap();
    let check = |answer: &str| {
        std::fs::write(
            work.path().join(".lab/answers.json"),
            format!("{{\"duration\": \"{answer}\"}}"),
        )
        .unwrap();
        let mut cmd = support::lab();
        cmd.arg("--labs-dir")
            .arg(labs.path())
            .args([
                "check",
                "1",
                "--format",
                "json",
                "--project",
                &c.project,
                "--workdir",
            ])
            .arg(work.path());
        json(&crate::support::run(&mut cmd))
    };
    // The course's trainee found 1 minute 19 seconds.
    let report = check("1m19s");
    let r = find(&report["checks"], "id", "duration-right");
    assert_eq!(r["status"], "passed", "{r:#}");
    assert!(text(&r["actual"]).contains("measured 79.018"), "{r:#}");
    let report = check("60s");
    let r = find(&report["checks"], "id", "duration-right");
    assert_eq!(r["status"], "failed", "{r:#}");
    // The trainee is told what is compared, never the measured value (instructors
    // see it in `lab grade --detail`).
    assert_eq!(
        text(&r["expected"]),
        "the duration of the analysis of postgres:latest in the analyzer logs (within ±2)"
    );
    assert!(!r.to_string().contains("79.018"), "{r:#}");
    assert_eq!(text(&r["actual"]), "60");
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn status_shows_each_service_state_from_the_engine() {
    if !enabled("status_shows_each_service_state_from_the_engine") {
        return;
    }
    let mut c = Containers::new();
    let ws = TempDir::new("status");
    let r = crate::support::run(
        support::lab()
            .args(["init", "--project", &c.project, "--workspace"])
            .arg(ws.path())
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let api = c.add("api", &[], &["sleep", "300"], false);
    wait_for(&api, "{{.State.Running}}", "true", Duration::from_secs(20));
    let analyzer = c.add("analyzer", &[], &["sh", "-c", "exit 3"], false);
    wait_for(
        &analyzer,
        "{{.State.Status}}",
        "exited",
        Duration::from_secs(20),
    );
    let r = crate::support::run(
        support::lab()
            .args(["status", "--format", "json", "--workspace"])
            .arg(ws.path()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r);
    assert_eq!(doc["project"], c.project.as_str());
    assert_eq!(find(&doc["services"], "name", "api")["state"], "running");
    assert_eq!(
        find(&doc["services"], "name", "analyzer")["state"],
        "exited"
    );
    assert_eq!(
        find(&doc["services"], "name", "catalog")["state"],
        "not created"
    );
    let r = crate::support::run(
        support::lab()
            .args(["status", "--workspace"])
            .arg(ws.path()),
    );
    assert!(
        r.stdout.contains("  api             running\n"),
        "{}",
        r.stdout
    );
    assert!(
        // Then the release that answers there, or "(not answering)".
        r.stdout.contains("  Anchore API  http://localhost:8228  "),
        "{}",
        r.stdout
    );
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn trace_reads_the_analyzer_containers_of_the_environment() {
    if !enabled("trace_reads_the_analyzer_containers_of_the_environment") {
        return;
    }
    let mut c = Containers::new();
    let script = COURSE_LINES
        .iter()
        .map(|l| format!("echo \"{l}\""))
        .collect::<Vec<_>>()
        .join("; ")
        + "; sleep 300";
    let name = c.add("analyzer", &[], &["sh", "-c", &script], false);
    wait_for(&name, "{{.State.Running}}", "true", Duration::from_secs(20));
    let ws = TempDir::new("trace");
    let r = crate::support::run(
        support::lab()
            .args(["init", "--project", &c.project, "--workspace"])
            .arg(ws.path())
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Prometheus is not there: the trace still works, without the comparison.
    let r = crate::support::run(
        support::lab()
            .args([
                "trace",
                "docker.io/library/postgres:latest",
                "--prometheus-url",
                "http://127.0.0.1:9",
                "--workspace",
            ])
            .arg(ws.path()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("Thread-55181 on {name})")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("took 79.018s (1m19s) from dequeue to analysis complete"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Prometheus:"), "{}", r.stdout);
}

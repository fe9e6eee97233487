//! Environments on the real engine, through the built `lab`: `lab start` twice (the
//! second changes nothing), an interrupted start (SIGINT while compose is bringing
//! the stack up), a taken host port caught before compose runs, `lab reset`, image
//! mapping with the stand-ins (each reference deployment adopted and brought up), a
//! pull through bollard from a local registry, on compose v2 and v1. Gated by
//! LAB_DOCKER_TESTS like docker.rs. No test publishes a fixed host port: ports are
//! left to the engine (`127.0.0.1::8228`) or taken from the kernel's free ones.
//! Every compose project is named `labtest-env-…` and removed with its volumes by a
//! guard, however the test ends.

use crate::support::{
    self, bench_images, docker, docker_ok, enabled, lab, run, unique, Run, TempDir, IMAGE,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Anchore image the test deployments name; no engine has it, so every run
/// goes through the image map (`--image`, `LAB_IMAGE_MAP` or `.lab/images.yaml`).
const ANCHORE: &str = "docker.io/anchore/enterprise:v0.0.0-labtest";

/// The flavours to run: the one `LAB_COMPOSE` forces, else both.
fn flavours() -> Vec<&'static str> {
    match std::env::var("LAB_COMPOSE").ok().as_deref().map(str::trim) {
        Some("v1") => vec!["v1"],
        Some("v2") => vec!["v2"],
        _ => vec!["v2", "v1"],
    }
}

/// Removes every container, network and volume of a compose project on drop.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        let label = format!("label=com.docker.compose.project={}", self.0);
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
            let out = docker(&list);
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect();
            if !ids.is_empty() {
                let mut args = rm.to_vec();
                args.extend(ids.iter().map(String::as_str));
                let _ = docker(&args);
            }
        }
    }
}

/// An adopted environment (`ws/`) with a one-lab folder (`labs/01-up`) beside it.
struct Env {
    dir: TempDir,
    project: String,
    _sweep: Sweep,
}

impl Env {
    /// `compose` is the environment's compose file; `setup` and `solve` the lab's steps.
    fn new(tag: &str, compose: &str, setup: &str, solve: &str) -> Env {
        let dir = TempDir::new(tag);
        let project = unique(&format!("labtest-env-{tag}"));
        let sweep = Sweep(project.clone());
        let lab_dir = dir.path().join("labs/01-up");
        std::fs::create_dir_all(lab_dir.join("assets")).unwrap();
        std::fs::write(lab_dir.join("README.md"), "# Up\n\nThe stack is up.\n").unwrap();
        std::fs::write(lab_dir.join("assets/extra.yml"), "extra: true\n").unwrap();
        std::fs::write(
            lab_dir.join("lab.yaml"),
            format!(
                "number: 1\nslug: up\ntitle: Up\nsummary: s\nsetup:\n{setup}solve:\n{solve}exercises:\n  - id: e\n    title: E\n    checks:\n      - id: f\n        description: the compose file\n        kind: file\n        path: docker-compose.yaml\n"
            ),
        )
        .unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("docker-compose.yaml"), compose).unwrap();
        let r = run(lab()
            .args(["init", "--adopt"])
            .arg(&ws)
            .args(["--project", &project]));
        assert_eq!(r.code, 0, "init --adopt: {}", r.stderr);
        Env {
            dir,
            project,
            _sweep: sweep,
        }
    }

    fn ws(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    /// `lab --labs-dir … <args> --workspace ws`, compose flavour `flavor`.
    fn lab(&self, flavor: &str, args: &[&str]) -> Command {
        let mut c = lab();
        c.arg("--labs-dir")
            .arg(self.dir.path().join("labs"))
            .args(args)
            .arg("--workspace")
            .arg(self.ws())
            .env("LAB_COMPOSE", flavor)
            .env_remove("LAB_IMAGE_MAP")
            .stdin(Stdio::null());
        c
    }

    fn start(&self, flavor: &str) -> Run {
        run(&mut self.lab(
            flavor,
            &[
                "start",
                "1",
                "--skip-doctor",
                "--image",
                &format!("{ANCHORE}={IMAGE}"),
            ],
        ))
    }

    /// The ids of the project's containers, sorted, with their state.
    fn containers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let mut v: Vec<String> = docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &label,
            "--format",
            "{{.ID}} {{.State}}",
        ])
        .lines()
        .map(String::from)
        .collect();
        v.sort();
        v
    }
}

/// `sh -c` that stops at once on SIGTERM, after `script`.
fn serve(script: &str) -> String {
    format!(r#"["sh", "-c", "trap 'exit 0' TERM; {script}; sleep 600 & wait"]"#)
}

/// api: healthy once its healthcheck passes; worker: no healthcheck; a named volume.
fn two_services() -> String {
    format!(
        r#"services:
  api:
    image: {ANCHORE}
    command: {api}
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "sh", "-c", "true"]
      interval: 500ms
      retries: 30
  worker:
    image: {ANCHORE}
    command: {worker}
volumes:
  data: {{}}
"#,
        api = serve("echo api-up"),
        worker = serve("echo worker-up"),
    )
}

const COMPOSE_UP: &str = "  - action: compose_up\n    timeout: 1m\n";

/// Every file under `dir`, recursively, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn start_run_twice_changes_nothing_the_second_time() {
    if !enabled("start_run_twice_changes_nothing_the_second_time") {
        return;
    }
    for flavor in flavours() {
        let env = Env::new("twice", &two_services(), COMPOSE_UP, "  []\n");
        let first = env.start(flavor);
        assert_eq!(first.code, 0, "{flavor}: {}", first.stderr);
        assert!(
            first.stderr.contains("Images 0 pulled, 1 already present"),
            "{flavor}: {}",
            first.stderr
        );
        assert!(
            first.stderr.contains("Changed 2 services ready in"),
            "{flavor}: {}",
            first.stderr
        );
        assert!(first.stdout.starts_with("Lab 01: Up\n"), "{}", first.stdout);
        // The mapping went to compose through the override, not into the trainee's file.
        let override_file = env.ws().join(".lab/images.override.yaml");
        assert!(std::fs::read_to_string(&override_file)
            .unwrap()
            .contains(&format!("\"image\": \"{IMAGE}\"")));
        assert!(
            !std::fs::read_to_string(env.ws().join("docker-compose.yaml"))
                .unwrap()
                .contains(IMAGE)
        );
        let before = env.containers();
        assert_eq!(before.len(), 2, "{flavor}: {before:?}");
        let compose_before = std::fs::read(env.ws().join("docker-compose.yaml")).unwrap();
        let files_before = files(&env.ws());

        let second = env.start(flavor);
        assert_eq!(second.code, 0, "{flavor}: {}", second.stderr);
        assert!(
            second.stderr.contains("Unchanged 2 services ready in"),
            "{flavor}: {}",
            second.stderr
        );
        assert!(
            !second.stderr.contains(" Changed "),
            "{flavor}: {}",
            second.stderr
        );
        assert_eq!(env.containers(), before, "{flavor}: same containers");
        assert_eq!(
            std::fs::read(env.ws().join("docker-compose.yaml")).unwrap(),
            compose_before
        );
        assert_eq!(files(&env.ws()), files_before, "{flavor}: no new file");
    }
}

/// One session per command: `lab start` with its prerequisites (doctor), two
/// `compose_up` steps and a wait connects to Docker once and detects compose once.
#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn a_start_connects_to_docker_once_and_detects_compose_once() {
    if !enabled("a_start_connects_to_docker_once_and_detects_compose_once") {
        return;
    }
    let setup = format!("{COMPOSE_UP}{COMPOSE_UP}  - action: wait_check\n    check: f\n");
    let env = Env::new("session", &two_services(), &setup, "  []\n");
    let r = run(&mut env.lab(
        "v2",
        &["-v", "start", "1", "--image", &format!("{ANCHORE}={IMAGE}")],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Checking the prerequisites") || r.stderr.contains("Starting lab"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("services ready in").count(),
        2,
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Engine 1 connection to Docker, 1 detection of compose"),
        "{}",
        r.stderr
    );
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn an_interrupted_start_leaves_no_partial_file_says_what_runs_and_exits_130() {
    if !enabled("an_interrupted_start_leaves_no_partial_file_says_what_runs_and_exits_130") {
        return;
    }
    // `up -d` waits for slow to be healthy before it starts web: a long window in
    // which compose is still bringing the stack up.
    let compose = format!(
        r#"services:
  slow:
    image: {ANCHORE}
    command: {slow}
    healthcheck:
      test: ["CMD", "sh", "-c", "test -f /ready"]
      interval: 500ms
      retries: 200
  web:
    image: {ANCHORE}
    command: {web}
    depends_on:
      slow:
        condition: service_healthy
"#,
        slow = serve("sleep 60; echo > /ready"),
        web = serve("echo web"),
    );
    for flavor in flavours() {
        let env = Env::new("sigint", &compose, COMPOSE_UP, "  []\n");
        let child = env
            .lab(
                flavor,
                &[
                    "start",
                    "1",
                    "--skip-doctor",
                    "--image",
                    &format!("{ANCHORE}={IMAGE}"),
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Interrupted once compose has created the slow container, while `up` waits.
        let end = Instant::now() + Duration::from_secs(60);
        while !env.containers().iter().any(|c| c.ends_with("running")) {
            assert!(Instant::now() < end, "{flavor}: compose never started slow");
            std::thread::sleep(Duration::from_millis(100));
        }
        let started = Instant::now();
        // SAFETY: kill(2) on our own child's pid, which it still is (not yet waited for).
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        assert_eq!(rc, 0);
        let out = child.wait_with_output().unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{flavor}: exited {took:?} after SIGINT:\n{stderr}");
        assert_eq!(out.status.code(), Some(130), "{flavor}: {stderr}");
        assert!(took < Duration::from_secs(25), "{flavor}: {took:?}");
        assert!(
            stderr.contains(
                "interrupted: lab 01-up was interrupted before it finished; no file was left half-written"
            ),
            "{flavor}: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "Still there in compose project `{}`:",
                env.project
            )) && stderr.contains("slow"),
            "{flavor}: {stderr}"
        );
        assert!(
            stderr.contains(
                "To continue: `lab start 1` again (the steps already done change nothing); to stop everything: `lab stop`."
            ),
            "{flavor}: {stderr}"
        );
        let left = files(&env.ws());
        assert!(
            !left.iter().any(|f| f.contains(".tmp-")),
            "{flavor}: a temporary file was left: {left:?}"
        );
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(env.ws().join(".lab/state.json")).unwrap(),
        )
        .expect("the state file is whole");
        assert_eq!(
            state["lab"], 1,
            "the state says which lab was being started"
        );
        // `lab stop` then takes down what was left.
        let r = run(&mut env.lab(flavor, &["stop"]));
        assert_eq!(r.code, 0, "{flavor}: {}", r.stderr);
        assert!(
            env.containers().is_empty(),
            "{flavor}: {:?}",
            env.containers()
        );
    }
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn a_taken_port_is_named_with_its_holder_before_compose_runs() {
    if !enabled("a_taken_port_is_named_with_its_holder_before_compose_runs") {
        return;
    }
    let held = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let compose = format!(
        "services:\n  api:\n    image: {ANCHORE}\n    command: {cmd}\n  prometheus:\n    image: {ANCHORE}\n    command: {cmd}\n    ports:\n      - \"{port}:9090\"\n",
        cmd = serve("echo up"),
    );
    for flavor in flavours() {
        let env = Env::new("port", &compose, COMPOSE_UP, "  []\n");
        let r = env.start(flavor);
        eprintln!("{flavor}: {}", r.stderr);
        assert_eq!(r.code, 3, "{flavor}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "error: host port {port} (service `prometheus`) is already taken by process `"
            )) && r
                .stderr
                .contains(&format!("(pid {})\n", std::process::id())),
            "{flavor}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("hint: stop process `"),
            "{flavor}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("Starting compose project"),
            "{flavor}: compose ran: {}",
            r.stderr
        );
        assert!(env.containers().is_empty(), "{flavor}: compose ran");
    }
    drop(held);
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn reset_restores_the_files_keeps_answers_and_asks_before_removing_volumes() {
    if !enabled("reset_restores_the_files_keeps_answers_and_asks_before_removing_volumes") {
        return;
    }
    let solve = "  - action: write_asset\n    asset: assets/extra.yml\n    to: extra.yml\n  - action: replace_text\n    file: docker-compose.yaml\n    find: echo api-up\n    with: echo api-solved\n";
    let env = Env::new("reset", &two_services(), COMPOSE_UP, solve);
    let original = std::fs::read_to_string(env.ws().join("docker-compose.yaml")).unwrap();
    // The map from the environment's file this time.
    std::fs::write(
        env.ws().join(".lab/images.yaml"),
        format!("# the stand-in\n{ANCHORE}: {IMAGE}\n"),
    )
    .unwrap();
    let r = run(&mut env.lab("v2", &["start", "1", "--skip-doctor"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&mut env.lab("v2", &["solve", "1"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(env.ws().join(".lab/answers.json"), "{\"q\": \"42\"}\n").unwrap();
    let solved = std::fs::read_to_string(env.ws().join("docker-compose.yaml")).unwrap();
    assert!(solved.contains("api-solved"));
    let api = |env: &Env| {
        docker_ok(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", env.project),
            "--filter",
            "label=com.docker.compose.service=api",
        ])
    };
    docker_ok(&["exec", &api(&env), "sh", "-c", "echo kept > /data/marker"]);

    // No terminal, no --yes: refused before anything changes.
    let r = run(&mut env.lab("v2", &["reset"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "lab reset removes the volumes of compose project `{}`",
            env.project
        )) && r.stderr.contains(
            "pass --yes to remove them, or --keep-volumes to keep them; nothing was changed"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(env.ws().join("docker-compose.yaml")).unwrap(),
        solved
    );
    assert!(env.ws().join("extra.yml").is_file());

    // --keep-volumes: files back, data kept.
    let r = run(&mut env.lab("v2", &["reset", "--keep-volumes", "--skip-doctor"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(env.ws().join("docker-compose.yaml")).unwrap(),
        original
    );
    assert!(!env.ws().join("extra.yml").exists());
    let backups = files(&env.ws().join(".lab/backups"));
    assert!(
        backups.iter().any(|b| b.starts_with("extra.yml.")),
        "{backups:?}"
    );
    let solved_backup = backups
        .iter()
        .filter(|b| b.starts_with("docker-compose.yaml."))
        .map(|b| std::fs::read_to_string(env.ws().join(".lab/backups").join(b)).unwrap())
        .any(|t| t == solved);
    assert!(
        solved_backup,
        "the solved file is in the backups: {backups:?}"
    );
    assert_eq!(
        std::fs::read_to_string(env.ws().join(".lab/answers.json")).unwrap(),
        "{\"q\": \"42\"}\n",
        "answers kept"
    );
    assert!(
        r.stderr.contains("Changed 2 services ready in"),
        "lab 1's setup ran again: {}",
        r.stderr
    );
    docker_ok(&["exec", &api(&env), "sh", "-c", "test -f /data/marker"]);

    // --yes: the volume goes too.
    let r = run(&mut env.lab("v2", &["reset", "1", "--yes", "--skip-doctor"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(", with its volumes"), "{}", r.stderr);
    let gone = docker(&["exec", &api(&env), "sh", "-c", "test -f /data/marker"]);
    assert!(!gone.status.success(), "the volume was recreated empty");

    // --forget-answers: backed up, then gone; no lab in progress: back before lab 1.
    let r = run(&mut env.lab(
        "v2",
        &["reset", "--yes", "--forget-answers", "--skip-doctor"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!env.ws().join(".lab/answers.json").exists());
    assert!(files(&env.ws().join(".lab/backups"))
        .iter()
        .any(|b| b.starts_with("answers.json.")));
}

/// The bench's stand-ins for every image the reference deployments name that the
/// engine does not have under that name.
const BENCH_MAP: &str = "# the bench's stand-ins\n\
docker.io/anchore/demo:enterprise-s3c-demo-5.6: lab-bench/anchore\n\
docker.io/anchore/demo:enterprise-ui-s3c-demo-5.6: lab-bench/anchore-ui\n\
docker.io/anchore/enterprise:v3.1.0: lab-bench/anchore\n\
docker.io/anchore/enterprise-ui:v3.1.0: lab-bench/anchore-ui\n\
anchore/anchore-engine:v1.0.0: lab-bench/anchore\n\
postgres:9: lab-bench/anchore-db\n\
docker.io/anchore/enterprise:v5.3.0: lab-bench/anchore\n\
docker.io/library/postgres:13: lab-bench/anchore-db\n\
docker.io/library/redis:4: lab-bench/anchore-redis\n";

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn each_reference_deployment_is_adopted_and_brought_up_with_images_mapped_to_the_bench() {
    if !enabled(
        "each_reference_deployment_is_adopted_and_brought_up_with_images_mapped_to_the_bench",
    ) {
        return;
    }
    bench_images();
    // The course's four reference deployments (tests/fixtures/reference/anchore/PROVENANCE.md).
    let names: Vec<PathBuf> = [
        "engine-1.0.0-quickstart-docker-compose.yaml",
        "enterprise-3.1.0-quickstart-docker-compose.yaml",
        "enterprise-5.3.0-quickstart-docker-compose.yaml",
        "enterprise-5.6-webinar-demo-anchore-compose.yaml",
    ]
    .iter()
    .map(|n| crate::reference::path(&format!("compose/{n}")))
    .collect();
    // The services every deployment has and the stand-in plays (the legacy feeds and
    // rbac services of 3.1 and 5.3 it does not); compose starts what they depend on.
    let setup = "  - action: compose_up\n    services: [api, analyzer]\n    timeout: 2m\n";
    for (i, file) in names.iter().enumerate() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // Compose v1 does not know the top-level `name:` of the 5.6 demo's file: it
        // runs on v2, and v1 shows its own refusal (checked below).
        let has_name = name.contains("5.6");
        let flavor = if has_name {
            "v2"
        } else {
            flavours()[i % flavours().len()]
        };
        let text = support::loopback_ports(&std::fs::read_to_string(file).unwrap());
        let env = Env::new("adopt", &text, setup, "  []\n");
        std::fs::write(env.ws().join(".lab/images.yaml"), BENCH_MAP).unwrap();
        if has_name && flavours().contains(&"v1") {
            let r = run(&mut env.lab("v1", &["start", "1", "--skip-doctor"]));
            assert_eq!(r.code, 5, "{name}: {}", r.stderr);
            assert!(
                r.stderr
                    .contains("'name' does not match any of the regexes: '^x-'"),
                "{name}: compose's own message: {}",
                r.stderr
            );
        }

        let r = run(&mut env.lab(flavor, &["status", "--format", "json"]));
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let services: Vec<&str> = doc["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        for s in ["api", "catalog", "queue", "policy-engine", "analyzer"] {
            assert!(services.contains(&s), "{name}: {services:?}");
        }

        let started = Instant::now();
        let r = run(&mut env.lab(flavor, &["start", "1", "--skip-doctor"]));
        eprintln!(
            "{name} ({flavor}): up in {:?}\n{}",
            started.elapsed(),
            r.stderr
        );
        assert_eq!(r.code, 0, "{name} ({flavor}): {}", r.stderr);
        assert!(
            r.stderr.contains("2 services ready in"),
            "{name}: {}",
            r.stderr
        );
        let r = run(&mut env.lab(flavor, &["status", "--format", "json"]));
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        for s in ["api", "analyzer"] {
            let svc = doc["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == s)
                .unwrap();
            assert_eq!(svc["state"], "running", "{name}: {svc}");
        }
        // Every container runs a stand-in image, by the map.
        let images = docker_ok(&[
            "ps",
            "--filter",
            &format!("label=com.docker.compose.project={}", env.project),
            "--format",
            "{{.Image}}",
        ]);
        assert!(
            images.lines().all(|i| i.starts_with("lab-bench/")
                || i.starts_with("docker.io/library/redis")
                || i.starts_with("redis")
                || i.contains("enterprise")),
            "{name}: {images}"
        );
        assert!(
            images.lines().any(|i| i == "lab-bench/anchore"),
            "{name}: {images}"
        );
    }
}

/// A registry on a free loopback port (the bench's `lab-bench/registry`), removed on drop.
struct Registry {
    name: String,
    port: u16,
}

impl Registry {
    fn start(config_dir: &Path) -> Registry {
        let name = unique("labtest-env-registry");
        std::fs::write(
            config_dir.join("config.yml"),
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n",
        )
        .unwrap();
        let mount = format!(
            "{}:/etc/docker/registry/config.yml:ro",
            config_dir.join("config.yml").display()
        );
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            "127.0.0.1::5000",
            "-v",
            &mount,
            "lab-bench/registry",
        ]);
        let port: u16 = docker_ok(&["port", &name, "5000/tcp"])
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("a published port");
        let r = Registry { name, port };
        // Ready when its API root answers over HTTP (the port itself is open at once).
        let end = Instant::now() + Duration::from_secs(30);
        while !answers_http(r.port) {
            assert!(
                Instant::now() < end,
                "the registry did not answer: {}",
                String::from_utf8_lossy(&docker(&["logs", &r.name]).stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }
}

fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.")
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-fv", &self.name]);
    }
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn a_mapped_image_is_pulled_through_the_engine_from_a_local_registry() {
    if !enabled("a_mapped_image_is_pulled_through_the_engine_from_a_local_registry") {
        return;
    }
    bench_images();
    let config = TempDir::new("registry");
    let reg = Registry::start(config.path());
    let remote = format!("localhost:{}/labtest/busybox:{}", reg.port, unique("t"));
    // One layer of its own (a unique file) on top of the test image's, so the pull
    // downloads a layer the engine does not have.
    let ctx = TempDir::new("image-ctx");
    std::fs::write(ctx.path().join("id"), unique("layer")).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {IMAGE}\nCOPY id /id\n"),
    )
    .unwrap();
    docker_ok(&[
        "build",
        "-q",
        "-t",
        &remote,
        &ctx.path().display().to_string(),
    ]);
    // The push may race the registry's start: retry while it is refused.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let out = docker(&["push", &remote]);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < end,
            "docker push: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    docker_ok(&["rmi", &remote]);

    let compose = format!(
        "services:\n  api:\n    image: {ANCHORE}\n    command: {}\n",
        serve("echo up")
    );
    let env = Env::new("pull", &compose, COMPOSE_UP, "  []\n");
    let map = format!("{ANCHORE}={remote}");
    let r = run(env
        .lab("v2", &["start", "1", "--skip-doctor"])
        .env("LAB_IMAGE_MAP", &map));
    let _untag = Untag(remote.clone());
    eprintln!("{}", r.stderr);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("Pulling {remote}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("Pulled {remote} (2 layers)")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Images 1 pulled, 0 already present, took"),
        "{}",
        r.stderr
    );
    // Present now: not pulled again, unless --pull.
    let r = run(env
        .lab("v2", &["start", "1", "--skip-doctor"])
        .env("LAB_IMAGE_MAP", &map));
    assert!(
        r.stderr.contains("Images 0 pulled, 1 already present"),
        "{}",
        r.stderr
    );
    let r = run(env
        .lab("v2", &["start", "1", "--skip-doctor", "--pull"])
        .env("LAB_IMAGE_MAP", &map));
    assert!(
        r.stderr.contains("Images 1 pulled, 0 already present"),
        "{}",
        r.stderr
    );

    // A name the registry does not have: the image, the registry's words, the way out.
    let missing = format!("localhost:{}/labtest/nothing:1", reg.port);
    let r = run(&mut env.lab(
        "v2",
        &[
            "start",
            "1",
            "--skip-doctor",
            "--image",
            &format!("{ANCHORE}={missing}"),
        ],
    ));
    eprintln!("{}", r.stderr);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("error: cannot pull image `{missing}`: ")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "hint: map it to an image you have or can pull: `--image {missing}=OTHER`"
        )) && r
            .stderr
            .contains(&format!("`docker login localhost:{}`", reg.port)),
        "{}",
        r.stderr
    );
}

/// Removes a pulled test image on drop.
struct Untag(String);

impl Drop for Untag {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// Runs `lab` under `script`, which gives it a terminal, typing `input`.
fn on_a_terminal(env: &Env, args: &str, input: &str) -> Run {
    use std::io::Write;
    let line = format!(
        "{} --labs-dir {} {args} --workspace {}",
        env!("CARGO_BIN_EXE_lab"),
        env.dir.path().join("labs").display(),
        env.ws().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .env("LAB_COMPOSE", "v2")
        .env_remove("LAB_IMAGE_MAP")
        .env_remove("LAB_WORKSPACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn reset_asks_on_a_terminal_before_removing_volumes() {
    if !enabled("reset_asks_on_a_terminal_before_removing_volumes") {
        return;
    }
    let env = Env::new("ask", &two_services(), COMPOSE_UP, "  []\n");
    std::fs::write(
        env.ws().join(".lab/images.yaml"),
        format!("{ANCHORE}: {IMAGE}\n"),
    )
    .unwrap();
    let r = run(&mut env.lab("v2", &["start", "1", "--skip-doctor"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let api = || {
        docker_ok(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", env.project),
            "--filter",
            "label=com.docker.compose.service=api",
        ])
    };
    docker_ok(&["exec", &api(), "sh", "-c", "echo kept > /data/marker"]);
    let question = format!(
        "Remove the volumes of compose project `{}` (Anchore's database, Grafana's dashboards)? [y/N]",
        env.project
    );

    // Anything but y keeps them.
    let r = on_a_terminal(&env, "reset 1 --skip-doctor", "n\n");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&question), "{}", r.stdout);
    assert!(r.stdout.contains("Keeping the volumes"), "{}", r.stdout);
    docker_ok(&["exec", &api(), "sh", "-c", "test -f /data/marker"]);

    // y removes them.
    let r = on_a_terminal(&env, "reset 1 --skip-doctor", "y\n");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(", with its volumes"), "{}", r.stdout);
    let gone = docker(&["exec", &api(), "sh", "-c", "test -f /data/marker"]);
    assert!(!gone.status.success(), "the volume was recreated empty");
}

/// Lab 2 on another real deployment than the course's: Anchore's own 5.17.0 workshop
/// file (anchore/s3c-workshops), which adds a data syncer and whose admin password
/// (`anchore12345`, set by its catalog) is not the course's. Adopted unchanged, its
/// ports moved to free loopback ports, the course's labs 1 and 2 with the one edit a
/// trainee makes there (the scrape file's password): every check of lab 2 passes, the
/// data syncer's target included (the scrape file finds it by DNS).
#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn lab_2_passes_on_anchores_own_5_17_workshop_deployment_with_its_data_syncer() {
    if !enabled("lab_2_passes_on_anchores_own_5_17_workshop_deployment_with_its_data_syncer") {
        return;
    }
    bench_images();
    let dir = TempDir::new("s3c");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let file = crate::reference::path("compose/enterprise-5.17.0-s3c-anchore-compose.yaml");
    std::fs::copy(&file, ws.join("docker-compose.yaml")).unwrap();
    std::fs::write(ws.join("license.yaml"), "# a test license\n").unwrap();
    // The course's labs 1 and 2, the scrape file with this deployment's password.
    let labs = dir.path().join("labs");
    for lab in ["01-analyzer-logs", "02-prometheus"] {
        copy_dir(&support::repo().join("labs").join(lab), &labs.join(lab));
    }
    let scrape = labs.join("02-prometheus/assets/anchore-prometheus.yml");
    let text = std::fs::read_to_string(&scrape).unwrap();
    assert!(text.contains("password: foobar"));
    std::fs::write(
        &scrape,
        text.replace("password: foobar", "password: anchore12345"),
    )
    .unwrap();

    let project = unique("labtest-s3c");
    let _sweep = Sweep(project.clone());
    let r = run(lab()
        .args(["init", "--adopt"])
        .arg(&ws)
        .args(["--project", &project]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    lab::ports::enable(&ws).unwrap();
    let lab_in = |args: &[&str]| {
        let mut c = lab();
        c.arg("--labs-dir")
            .arg(&labs)
            .args(args)
            .arg("--workspace")
            .arg(&ws)
            .env_remove("LAB_IMAGE_MAP")
            .env_remove("LAB_ANCHORE_PASSWORD")
            .env_remove("ANCHORECTL_PASSWORD")
            .stdin(Stdio::null());
        run(&mut c)
    };
    let r = lab_in(&["start", "2", "--skip-doctor"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = lab_in(&["solve", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = lab_in(&["check", "2", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(doc["summary"]["failed"], 0, "{}", r.stdout);
    let targets = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "targets-up")
        .cloned()
        .unwrap_or_default();
    assert_eq!(targets["status"], "passed", "{targets}");
    assert!(
        targets.to_string().contains("data-syncer"),
        "the data syncer is judged too: {targets}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

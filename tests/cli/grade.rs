//! `lab grade` and `lab submit`, run as an instructor and a trainee would.
//!
//! On the bench (gated like docker.rs, LAB_DOCKER_TESTS=1): twelve environments in
//! different states graded at once against the fixture labs
//! (`tests/fixtures/grade-labs`). Two real compose projects (the `app` service with
//! METRICS off, and on) stand for every deployment; the states differ by project,
//! work folder, answers, and which of this process's loopback servers play
//! Prometheus and Grafana (scraped, not scraped, empty, healthy, starting, hanging).
//! Two environments have engines that cannot be reached. The gradebook is pinned by
//! a snapshot; grading twice gives the same bytes. Projects are named
//! `labtest-grade-…`, no fixed host port is bound, and a guard runs `compose down -v`
//! however the test ends.
//!
//! Without Docker: submissions signed and verified, an edited one and one signed
//! with another key rejected and named, the key never printed; bad rosters.

use crate::support::{docker, enabled, lab, run, unique, Run, TempDir, IMAGE};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture_labs() -> PathBuf {
    crate::support::repo().join("tests/fixtures/grade-labs")
}

fn grade_cmd() -> Command {
    let mut c = lab();
    c.env("LAB_LABS_DIR", fixture_labs()).env("CI", "1");
    c
}

/// A loopback HTTP server that answers every request with `reply(path)`, one thread
/// per connection. It lives as long as the test process.
fn serve(reply: fn(&str) -> (u16, String)) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || answer(s, reply));
        }
    });
    url
}

fn answer(mut s: TcpStream, reply: fn(&str) -> (u16, String)) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut l = String::new();
        match r.read_line(&mut l) {
            Ok(0) | Err(_) => return,
            Ok(_) if l == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = reply(path);
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Accepts connections and never answers: a Prometheus that hangs.
fn hang() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            held.push(s);
        }
    });
    url
}

fn prometheus_up(value: &'static str) -> impl Fn(&str) -> (u16, String) {
    move |_| {
        (
            200,
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"up","job":"app"}},"value":[1700000000,"{value}"]}}]}}}}"#
            ),
        )
    }
}

fn scraped(p: &str) -> (u16, String) {
    prometheus_up("1")(p)
}
fn not_scraped(p: &str) -> (u16, String) {
    prometheus_up("0")(p)
}
fn empty_prometheus(_: &str) -> (u16, String) {
    (
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.into(),
    )
}
fn grafana_ok(_: &str) -> (u16, String) {
    (200, r#"{"database":"ok","version":"11.0.0"}"#.into())
}
fn grafana_starting(_: &str) -> (u16, String) {
    (503, r#"{"message":"starting"}"#.into())
}

/// A trainee's folder: the compose file (METRICS on or off) and their answers.
fn workdir(root: &Path, name: &str, metrics: &str, answers: &[(&str, &str)]) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(d.join(".lab")).unwrap();
    std::fs::write(d.join("docker-compose.yaml"), compose_file(metrics)).unwrap();
    if !answers.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = answers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        std::fs::write(
            d.join(".lab/answers.json"),
            serde_json::to_string(&map).unwrap(),
        )
        .unwrap();
    }
    d
}

fn compose_file(metrics: &str) -> String {
    format!(
        "services:\n  app:\n    image: {IMAGE}\n    command: [sleep, \"3600\"]\n    environment:\n      METRICS: \"{metrics}\"\n"
    )
}

/// A compose project of the bench, taken down (with its volumes) however the test ends.
struct Project {
    name: String,
    dir: TempDir,
}

impl Project {
    fn up(what: &str, metrics: &str) -> Project {
        let p = Project {
            name: unique(&format!("labtest-grade-{what}")),
            dir: TempDir::new("grade-project"),
        };
        std::fs::write(
            p.dir.path().join("docker-compose.yaml"),
            compose_file(metrics),
        )
        .unwrap();
        let out = p.compose(&["up", "-d"]);
        assert!(
            out.status.success(),
            "compose up {}: {}",
            p.name,
            String::from_utf8_lossy(&out.stderr)
        );
        p
    }

    fn compose(&self, args: &[&str]) -> std::process::Output {
        let v2 = docker(&["compose", "version"]).status.success();
        let mut c = if v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        c.args(["-p", &self.name, "-f", "docker-compose.yaml"])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("compose runs")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
        let label = format!("label=com.docker.compose.project={}", self.name);
        let left = docker(&["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&left.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
    }
}

/// The gradebook as the snapshot keeps it: ports, unique names and folders replaced.
fn redact(s: &str, tmp: &Path, projects: &[&Project]) -> String {
    let mut s = s.replace(&tmp.display().to_string(), "[TMP]");
    for (p, as_) in projects.iter().zip(["[PROJECT-OFF]", "[PROJECT-ON]"]) {
        s = s.replace(&p.name, as_);
    }
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let missing = regex::Regex::new(r"labtest-grade-missing-[0-9a-f-]+").unwrap();
    let s = port.replace_all(&s, "127.0.0.1:[PORT]");
    missing.replace_all(&s, "[PROJECT-MISSING]").into_owned()
}

struct Env<'a> {
    name: &'a str,
    docker: Option<&'a str>,
    project: &'a str,
    workdir: Option<PathBuf>,
    prometheus: &'a str,
    grafana: &'a str,
}

fn roster(envs: &[Env]) -> String {
    let mut y = String::from("trainees:\n");
    for e in envs {
        y.push_str(&format!(
            "  - name: {}\n    project: {}\n",
            e.name, e.project
        ));
        if let Some(d) = e.docker {
            y.push_str(&format!("    docker: {d}\n"));
        }
        if let Some(w) = &e.workdir {
            y.push_str(&format!("    workdir: {}\n", w.display()));
        }
        y.push_str(&format!(
            "    prometheus: {{url: \"{}\"}}\n    grafana: {{url: \"{}\", user: admin, password_env: LABTEST_GRAFANA_PASSWORD}}\n",
            e.prometheus, e.grafana
        ));
    }
    y
}

const ANSWERS_DONE: &[(&str, &str)] = &[
    ("job-name", "app"),
    ("graph", "A flat line at 1, since the app is scraped."),
];

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn grades_twelve_environments_in_different_states_at_once() {
    if !enabled("grades_twelve_environments_in_different_states_at_once") {
        return;
    }
    let off = Project::up("off", "off");
    let on = Project::up("on", "on");
    let tmp = TempDir::new("grade");
    let root = tmp.path();
    let (up1, up0, empty) = (serve(scraped), serve(not_scraped), serve(empty_prometheus));
    let (gok, gstarting, hung) = (serve(grafana_ok), serve(grafana_starting), hang());
    let missing_project = unique("labtest-grade-missing");
    let envs = [
        Env {
            name: "untouched",
            docker: None,
            project: &off.name,
            workdir: Some(workdir(root, "untouched", "off", &[])),
            prometheus: &empty,
            grafana: &gstarting,
        },
        Env {
            name: "lab1-done",
            docker: None,
            project: &on.name,
            workdir: Some(workdir(root, "lab1-done", "on", &[])),
            prometheus: &up1,
            grafana: &gstarting,
        },
        Env {
            name: "lab1-half",
            docker: None,
            project: &on.name,
            workdir: Some(workdir(root, "lab1-half", "off", &[])),
            prometheus: &up0,
            grafana: &gstarting,
        },
        Env {
            name: "lab2-done",
            docker: None,
            project: &off.name,
            workdir: Some(workdir(root, "lab2-done", "off", ANSWERS_DONE)),
            prometheus: &empty,
            grafana: &gok,
        },
        Env {
            name: "lab2-half",
            docker: None,
            project: &off.name,
            workdir: Some(workdir(root, "lab2-half", "off", &[("job-name", "app")])),
            prometheus: &empty,
            grafana: &gstarting,
        },
        Env {
            name: "all-done",
            docker: None,
            project: &on.name,
            workdir: Some(workdir(root, "all-done", "on", ANSWERS_DONE)),
            prometheus: &up1,
            grafana: &gok,
        },
        Env {
            name: "engine-refused",
            docker: Some("tcp://127.0.0.1:1"),
            project: &on.name,
            workdir: Some(workdir(root, "engine-refused", "on", ANSWERS_DONE)),
            prometheus: &up1,
            grafana: &gok,
        },
        Env {
            name: "engine-no-socket",
            docker: Some("unix:///nonexistent/docker.sock"),
            project: &on.name,
            workdir: Some(workdir(root, "engine-no-socket", "on", ANSWERS_DONE)),
            prometheus: &up1,
            grafana: &gok,
        },
        Env {
            name: "prometheus-hangs",
            docker: None,
            project: &on.name,
            workdir: Some(workdir(root, "prometheus-hangs", "on", ANSWERS_DONE)),
            prometheus: &hung,
            grafana: &gok,
        },
        Env {
            name: "remote-only",
            docker: None,
            project: &on.name,
            workdir: None,
            prometheus: &up1,
            grafana: &gok,
        },
        Env {
            name: "not-started",
            docker: None,
            project: &missing_project,
            workdir: Some(workdir(root, "not-started", "on", &[])),
            prometheus: &empty,
            grafana: &gstarting,
        },
        Env {
            name: "workdir-gone",
            docker: None,
            project: &on.name,
            workdir: Some(root.join("no-such-folder")),
            prometheus: &up1,
            grafana: &gok,
        },
    ];
    let roster_file = root.join("roster.yaml");
    std::fs::write(&roster_file, roster(&envs)).unwrap();
    let scores = root.join("scores.yaml");
    std::fs::write(
        &scores,
        "all-done:\n  2:\n    graph: {points: 2, comment: right}\nlab2-done:\n  answers:\n    graph-described: 1\n",
    )
    .unwrap();

    let grade = |format: &str, extra: &[&str]| -> (Run, Duration) {
        let started = Instant::now();
        let r = run(grade_cmd()
            .args(["grade", "--roster"])
            .arg(&roster_file)
            .arg("--manual")
            .arg(&scores)
            .args([
                "--format",
                format,
                // No --probe-timeout: the hanging Prometheus's check has its own 2s,
                // and the compose checks of twelve environments at once keep the
                // default, which a busy machine needs (12 `docker compose config`).
                "--deadline",
                "20s",
            ])
            .args(extra)
            .env("LABTEST_GRAFANA_PASSWORD", "s3cret-grafana"));
        (r, started.elapsed())
    };
    let (human, took) = grade("human", &["--detail", "--answers"]);
    assert_eq!(
        human.code, 1,
        "problems make exit 1:\n{}\n{}",
        human.stdout, human.stderr
    );
    assert!(!human.stdout.contains("s3cret") && !human.stderr.contains("s3cret"));
    // The hanging Prometheus costs its check's timeout (2s), not the others' time,
    // and the unreachable engines are known at once, not per check.
    assert!(took < Duration::from_secs(10), "grading took {took:?}");
    insta::assert_snapshot!(
        "gradebook_twelve_environments",
        redact(&human.stdout, root, &[&off, &on])
    );

    let (a, _) = grade("json", &[]);
    let (b, _) = grade("json", &[]);
    assert_eq!(a.stdout, b.stdout, "grading twice gives the same gradebook");
    let book: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(book["trainees"].as_array().unwrap().len(), 12);

    let out = root.join("book.csv");
    let (c, _) = grade("csv", &["--output", out.to_str().unwrap()]);
    assert_eq!(c.stdout, "");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 13, "{csv}");
}

#[test]
fn submissions_are_signed_and_edited_or_foreign_ones_rejected() {
    let tmp = TempDir::new("submit");
    let root = tmp.path();
    let gok = serve(grafana_ok);
    let key = root.join("course.key");
    std::fs::write(&key, "correct horse battery staple 42\n").unwrap();
    let other = root.join("other.key");
    std::fs::write(&other, "another course entirely, 2026\n").unwrap();
    let bundles = root.join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let submit = |who: &str, key: &Path, answers: &[(&str, &str)]| -> Run {
        let dir = workdir(root, who, "on", answers);
        run(grade_cmd()
            .args(["submit", "2", "--trainee", who, "--key-file"])
            .arg(key)
            .arg("--workspace")
            .arg(&dir)
            .args(["--grafana-url", &gok, "--output"])
            .arg(bundles.join(format!("{who}.json"))))
    };
    // Alice got her own key (`lab key`), not the course key.
    let keys = root.join("keys");
    let k = run(grade_cmd()
        .args(["key", "alice", "--key-file"])
        .arg(&key)
        .arg("--output-dir")
        .arg(&keys));
    assert_eq!(k.code, 0, "{}", k.stderr);
    let alice_key = keys.join("alice.key");
    let text = std::fs::read_to_string(&alice_key).unwrap();
    assert!(text.starts_with("lab-trainee-key:v1:") && !text.contains("horse"));
    let a = submit("alice", &alice_key, ANSWERS_DONE);
    assert_eq!(
        a.code, 0,
        "pending free text is not a failure: {}",
        a.stderr
    );
    let b = submit("bob", &key, &[("job-name", "prometheus")]);
    assert_eq!(b.code, 1, "{}", b.stderr);
    let c = submit("carol", &other, ANSWERS_DONE);
    assert_eq!(c.code, 0, "{}", c.stderr);
    for f in ["alice", "bob", "carol"] {
        let text = std::fs::read_to_string(bundles.join(format!("{f}.json"))).unwrap();
        assert!(!text.contains("horse") && !text.contains("another course"));
    }
    // Bob gives himself the point he missed.
    let bob = bundles.join("bob.json");
    let text = std::fs::read_to_string(&bob).unwrap();
    let edited = text.replacen("\"status\": \"failed\"", "\"status\": \"passed\"", 1);
    assert_ne!(text, edited);
    std::fs::write(&bob, edited).unwrap();

    let r = run(grade_cmd()
        .args(["grade", "--bundles"])
        .arg(&bundles)
        .arg("--key-file")
        .arg(&key)
        .args(["--answers"]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("horse") && !r.stderr.contains("horse"));
    insta::assert_snapshot!("gradebook_bundles", r.stdout);

    // The key from the environment works the same; no key at all is a clear error.
    let r2 = run(grade_cmd()
        .args(["grade", "--bundles"])
        .arg(&bundles)
        .env("LAB_COURSE_KEY", "correct horse battery staple 42"));
    assert!(r2.stdout.starts_with("TRAINEE"), "{}", r2.stderr);
    let r3 = run(grade_cmd()
        .args(["grade", "--bundles"])
        .arg(&bundles)
        .env_remove("LAB_COURSE_KEY"));
    assert_eq!(r3.code, 2);
    assert!(r3.stderr.contains("--key-file"), "{}", r3.stderr);
}

#[test]
fn a_bad_roster_is_named_with_file_line_and_field() {
    let tmp = TempDir::new("roster");
    let f = tmp.path().join("roster.yaml");
    std::fs::write(
        &f,
        "trainees:\n  - name: alice\n    project: p\n    docker: ssh://alice@lab-7\n  - name: bob\n    project: q\n    grafana: {url: 'http://g:3000', password_env: LABTEST_UNSET_VARIABLE}\n",
    )
    .unwrap();
    let r = run(grade_cmd()
        .args(["grade", "--roster"])
        .arg(&f)
        .env_remove("LABTEST_UNSET_VARIABLE"));
    assert_eq!(r.code, 2);
    let shown = r.stderr.replace(&tmp.path().display().to_string(), "[TMP]");
    insta::assert_snapshot!("bad_roster", shown);
}

/// The course's lab 5 is graded like labs 1-4: a column of the gradebook, its answers beside
/// their model answers, and its measured answers judged against the trainee's own deployment
/// (here a loopback Prometheus and an Anchore API with one ERROR event).
#[test]
fn lab_5_is_graded_with_its_answers_measured_on_the_trainees_deployment() {
    fn deployment(p: &str) -> (u16, String) {
        if p.starts_with("/v2/events") {
            return (
                200,
                r#"{"results":[{"event_id":"e1","event":{"type":"system.image_analysis.registry_lookup_failed",
                    "level":"ERROR","resource":{"id":"docker.io/library/alpine:does-not-exist","type":"image_reference"},
                    "source":{"service_name":"catalog","host_id":"c"},"timestamp":"2026-11-29T18:00:00Z"}}],
                    "next_page":false,"item_count":1,"page":1}"#
                    .into(),
            );
        }
        if p.starts_with("/api/v1/query") {
            return (
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[
                    {"metric":{"job":"policy-engine"},"value":[1,"41000000"]},
                    {"metric":{"job":"catalog"},"value":[1,"110000000"]}]}}"#
                    .into(),
            );
        }
        (404, r#"{"message":"not here"}"#.into())
    }
    let url = serve(deployment);
    let root = TempDir::new("grade-lab5");
    let w = root.path().join("alice");
    std::fs::create_dir_all(w.join(".lab")).unwrap();
    std::fs::write(
        w.join(".lab/answers.json"),
        r#"{"error-type": "system.image_analysis.registry_lookup_failed",
            "error-resource": "docker.io/library/alpine:does-not-exist",
            "memory-service": "policy-engine",
            "api-cpu": "It rose while the images waited."}"#,
    )
    .unwrap();
    std::fs::write(
        root.path().join("class.yaml"),
        format!(
            "trainees:\n  - name: alice\n    project: lab5-grade\n    docker: unix:///nonexistent/docker.sock\n    workdir: alice\n    anchore: {{url: \"{url}\"}}\n    prometheus: {{url: \"{url}\"}}\n    grafana: {{url: \"{url}\"}}\n"
        ),
    )
    .unwrap();
    let r = run(lab().env("CI", "1").current_dir(root.path()).args([
        "--format",
        "json",
        "grade",
        "--roster",
        "class.yaml",
        "5",
        "--answers",
    ]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!("{e}: {} {}", r.stdout, r.stderr);
    });
    assert_eq!(v["labs"][0]["id"], "05-event-log");
    let questions: Vec<&str> = v["labs"][0]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        questions,
        [
            "error-type",
            "error-resource",
            "memory-service",
            "api-cpu",
            "docker-graphs"
        ]
    );
    let checks = &v["trainees"][0]["labs"][0]["checks"];
    let status = |id: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| (c["status"].as_str().unwrap().to_string(), c["hint"].clone()))
            .unwrap()
    };
    assert_eq!(status("error-type-answered").0, "passed");
    assert_eq!(status("error-resource-answered").0, "passed");
    let (memory, hint) = status("memory-answered");
    assert_eq!(memory, "failed");
    assert!(
        hint.as_str().unwrap().contains("Another series is higher"),
        "{hint}"
    );
    assert_eq!(status("api-cpu-answered").0, "pending");
    assert_eq!(
        v["trainees"][0]["answers"]["api-cpu"],
        "It rose while the images waited."
    );
}

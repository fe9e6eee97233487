//! `lab grade --watch` and `--serve`, run as an instructor would, without Docker:
//! the fixture lab 2 (`tests/fixtures/grade-labs/02-answers`: Grafana's health and
//! two answers) graded every second for trainees whose Grafana is a loopback server
//! of this process. Alice answers while the watch runs (progress), bob's Grafana does
//! not answer and he has no work folder (not answering, then stuck). The metrics are
//! read over HTTP and checked with `promtool check metrics` (Debian's `prometheus`
//! package; CI installs it), the pages read, the token required, and Ctrl-C (SIGINT)
//! ends the watch with the last gradebook written.

use crate::support::{lab, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Grafana whose /api/health answers with the status held in `status`.
fn grafana(status: Arc<AtomicU16>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let status = status.load(Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let body = r#"{"database":"ok","version":"11.0.0"}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

/// A loopback port nothing listens on.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

/// GET on the server: the status code and the body.
pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Chunked bodies (axum streams none here, but be safe): keep the text as is.
    (code, body.to_string())
}

/// `lab grade --serve` running; SIGINT and reaped when dropped.
pub struct Served {
    pub child: Child,
    pub addr: String,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Served {
    pub fn start(mut cmd: Command) -> Served {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lab runs");
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        let keep = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("http://").nth(1) {
                    if line.contains("Serving") {
                        let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
                    }
                }
                keep.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no Serving line; stderr: {}", stderr.lock().unwrap()));
        Served {
            child,
            addr,
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The metrics once `pred` holds on them, or a failure after `limit`.
    pub fn metrics_when(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + limit;
        loop {
            let (code, body) = get(&self.addr, "/metrics", &[]);
            if code == 200 && pred(&body) {
                return body;
            }
            assert!(
                Instant::now() < end,
                "{what}: not within {limit:?}; last /metrics ({code}):\n{body}\nstderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGINT, then the exit code (within 20 s).
    pub fn interrupt(&mut self) -> i32 {
        // SAFETY: kill with a pid this test spawned and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < end, "lab did not end after SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fixture_labs() -> PathBuf {
    crate::support::repo().join("tests/fixtures/grade-labs")
}

/// One value of the text format: the sample line that starts with `series`.
pub fn value(metrics: &str, series: &str) -> Option<String> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')
            .map(str::to_string)
    })
}

fn write_answers(dir: &Path, answers: &str) {
    std::fs::create_dir_all(dir.join(".lab")).unwrap();
    std::fs::write(dir.join(".lab/answers.json"), answers).unwrap();
}

fn promtool(metrics: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing (apt-get install prometheus)"
        );
        eprintln!("promtool is not installed: `promtool check metrics` skipped");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_watches_the_class_move_and_stops_on_ctrl_c() {
    let tmp = TempDir::new("watch");
    let alice_dir = tmp.path().join("alice");
    std::fs::create_dir_all(&alice_dir).unwrap();
    let health = Arc::new(AtomicU16::new(503));
    let alice_grafana = grafana(health.clone());
    let roster = tmp.path().join("class.yaml");
    std::fs::write(
        &roster,
        format!(
            "trainees:\n  - name: alice\n    project: a\n    workdir: {}\n    grafana: {{url: \"{alice_grafana}\"}}\n  - name: bob\n    project: b\n    grafana: {{url: \"{}\"}}\n",
            alice_dir.display(),
            closed_port()
        ),
    )
    .unwrap();
    let book = tmp.path().join("book.json");
    let mut cmd = lab();
    cmd.env("LAB_LABS_DIR", fixture_labs())
        .env("CI", "1")
        .args(["--format", "json", "grade", "2", "--serve", "127.0.0.1:0"])
        .args([
            "--every",
            "1s",
            "--stuck-after",
            "3s",
            "--probe-timeout",
            "2s",
        ])
        .arg("--roster")
        .arg(&roster)
        .arg("--output")
        .arg(&book);
    let mut s = Served::start(cmd);

    let (code, body) = get(&s.addr, "/healthz", &[]);
    assert_eq!((code, body.as_str()), (200, "ok\n"));

    // Round one: Grafana starting (503), no answers.
    let m = s.metrics_when("the first round", Duration::from_secs(20), |m| {
        value(m, "lab_grade_rounds_total").is_some_and(|v| v != "0")
    });
    promtool(&m);
    let check = |t: &str, c: &str| {
        format!(
            r#"lab_check_passing{{trainee="{t}",lab="02-answers",exercise="grafana",check="{c}"}}"#
        )
    };
    assert_eq!(
        value(&m, &check("alice", "grafana-up")).as_deref(),
        Some("0")
    );
    assert_eq!(
        value(&m, r#"lab_environment_up{trainee="alice"}"#).as_deref(),
        Some("1")
    );
    assert_eq!(
        value(&m, r#"lab_environment_up{trainee="bob"}"#).as_deref(),
        Some("0"),
        "bob's Grafana refuses, and nothing else can be checked"
    );
    assert_eq!(
        value(&m, r#"lab_points_possible{trainee="bob",lab="02-answers"}"#).as_deref(),
        Some("4")
    );
    let alice_started = value(
        &m,
        r#"lab_trainee_last_progress_timestamp_seconds{trainee="alice"}"#,
    )
    .expect("alice's last progress");

    // Alice's Grafana comes up and she answers: progress, three points.
    health.store(200, Ordering::SeqCst);
    write_answers(&alice_dir, r#"{"job-name": "app", "graph": "flat"}"#);
    let m = s.metrics_when("alice's progress", Duration::from_secs(20), |m| {
        value(m, r#"lab_points{trainee="alice",lab="02-answers"}"#).as_deref() == Some("2")
    });
    assert_eq!(
        value(&m, &check("alice", "grafana-up")).as_deref(),
        Some("1")
    );
    assert_eq!(
        value(&m, &check("alice", "job-named")).as_deref(),
        Some("1")
    );
    assert_ne!(
        value(
            &m,
            r#"lab_trainee_last_progress_timestamp_seconds{trainee="alice"}"#
        )
        .unwrap(),
        alice_started
    );
    // Only the free-text answer is left, which waits for the instructor: done.
    assert_eq!(
        value(&m, r#"lab_trainee_stuck{trainee="alice"}"#).as_deref(),
        Some("0")
    );
    assert!(
        !m.contains(r#"lab_trainee_exercise{trainee="alice""#),
        "{m}"
    );

    // Bob, no progress for 3 s: stuck, and still listed (not dropped).
    let m = s.metrics_when("bob stuck", Duration::from_secs(20), |m| {
        value(m, r#"lab_trainee_stuck{trainee="bob"}"#).as_deref() == Some("1")
    });
    assert_eq!(
        value(
            &m,
            r#"lab_trainee_exercise{trainee="bob",lab="02-answers",exercise="grafana"}"#
        )
        .as_deref(),
        Some("1")
    );
    assert!(value(&m, r#"lab_environment_errors_total{trainee="bob"}"#)
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n >= 2));
    promtool(&m);

    // The page: the same table, refreshing itself, no script; bob marked.
    let (code, page) = get(&s.addr, "/", &[]);
    assert_eq!(code, 200);
    assert!(
        page.contains("<meta http-equiv=\"refresh\" content=\"1; url=/\">"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"/trainee/alice\">alice</a>"),
        "{page}"
    );
    assert!(page.contains("<td>STUCK, NO ANSWER</td>"), "{page}");
    assert!(!page.contains("<script"));
    let (code, alice) = get(&s.addr, "/trainee/alice", &[]);
    assert_eq!(code, 200);
    assert!(alice.contains("<pre>flat</pre>"), "her answer: {alice}");
    assert!(
        alice.contains("A flat line at 1 while the app is scraped."),
        "the model answer"
    );
    let (code, _) = get(&s.addr, "/trainee/nobody", &[]);
    assert_eq!(code, 404);

    // Ctrl-C: a clean end, the last gradebook written.
    assert_eq!(s.interrupt(), 0, "{}", s.stderr());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&book).unwrap()).unwrap();
    let names: Vec<&str> = written["trainees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trainee"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(s.stderr().contains("Wrote"), "{}", s.stderr());

    // Not a terminal: a line per round, and a line per trainee whose row changed.
    let mut out = String::new();
    s.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.starts_with("round 1 at "), "{out}");
    assert!(
        out.contains("  alice: 02-answers 0/4, Total 0/4, On 02/grafana, last progress"),
        "{out}"
    );
    assert!(
        out.contains("  bob: ") && out.contains("Mark STUCK, NO ANSWER"),
        "{out}"
    );
}

#[test]
fn serve_wants_the_token_when_given_one_and_beyond_loopback() {
    let tmp = TempDir::new("watch-token");
    let roster = tmp.path().join("class.yaml");
    std::fs::write(
        &roster,
        format!(
            "trainees:\n  - name: carol\n    project: c\n    grafana: {{url: \"{}\"}}\n",
            closed_port()
        ),
    )
    .unwrap();

    // Beyond loopback without a token: refused before anything runs.
    let r = crate::support::run(
        lab()
            .env("LAB_LABS_DIR", fixture_labs())
            .args(["grade", "2", "--serve", "0.0.0.0:0", "--roster"])
            .arg(&roster),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--serve-token-env"), "{}", r.stderr);

    let mut cmd = lab();
    cmd.env("LAB_LABS_DIR", fixture_labs())
        .env("LABTEST_TOKEN", "s3cret-token")
        .args([
            "grade",
            "2",
            "--serve",
            "127.0.0.1:0",
            "--serve-token-env",
            "LABTEST_TOKEN",
        ])
        .args(["--every", "1s", "--roster"])
        .arg(&roster);
    let s = Served::start(cmd);
    let (code, body) = get(&s.addr, "/metrics", &[]);
    assert_eq!(code, 401, "{body}");
    assert_eq!(get(&s.addr, "/", &[]).0, 401);
    assert_eq!(get(&s.addr, "/trainee/carol", &[]).0, 401);
    assert_eq!(get(&s.addr, "/metrics?token=wrong", &[]).0, 401);
    assert_eq!(get(&s.addr, "/healthz", &[]).0, 200);
    let (code, _) = get(
        &s.addr,
        "/metrics",
        &[("Authorization", "Bearer s3cret-token")],
    );
    assert_eq!(code, 200);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, page) = get(&s.addr, "/?token=s3cret-token", &[]);
        assert_eq!(code, 200);
        if page.contains("carol") {
            assert!(
                page.contains("<a href=\"/trainee/carol?token=s3cret-token\">"),
                "{page}"
            );
            break;
        }
        assert!(Instant::now() < end, "no round within 20 s: {page}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Unset variable: a usage error naming it.
    let r = crate::support::run(
        lab()
            .env("LAB_LABS_DIR", fixture_labs())
            .env_remove("LABTEST_NO_TOKEN")
            .args([
                "grade",
                "2",
                "--serve",
                "127.0.0.1:0",
                "--serve-token-env",
                "LABTEST_NO_TOKEN",
                "--roster",
            ])
            .arg(&roster),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("LABTEST_NO_TOKEN"), "{}", r.stderr);
}

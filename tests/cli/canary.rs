//! The secret-canary sweep (issue 14): every command that shows results, in every
//! output format and file it writes, run with canary secrets in every place a
//! secret comes from (a compose file, the environment, a roster's variable, a URL's
//! userinfo, the course key) against servers that echo the `Authorization` header
//! back, raw and decoded, with terminal escapes. No canary, and none of its
//! encodings, may appear anywhere; neither may an escape sequence.

use crate::support::{lab, run, Run, TempDir};
use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

const COMPOSE_PW: &str = "Cnry-compose-4n!";
const ENV_PW: &str = "Cnry-env-gr4f";
const URL_PW: &str = "Cnry-url-pr0m";
const ROSTER_PW: &str = "Cnry-roster-pw9";
const KEY: &str = "Cnry-course-key-0123456789";

/// Every form a canary may leak in.
fn leaks(secret: &str, user: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let pct: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let pair = format!("{user}:{secret}");
    vec![
        secret.to_string(),
        pct,
        STANDARD_NO_PAD.encode(secret),
        STANDARD_NO_PAD.encode(&pair),
        STANDARD.encode(&pair),
    ]
}

fn all_leaks() -> Vec<String> {
    let mut l = Vec::new();
    l.extend(leaks(COMPOSE_PW, "admin"));
    l.extend(leaks(ENV_PW, "admin"));
    l.extend(leaks(URL_PW, "puser"));
    l.extend(leaks(ROSTER_PW, "admin"));
    l.extend(leaks(KEY, ""));
    // The shared prefix catches a canary cut anywhere after it.
    l.push("Cnry-".into());
    l
}

/// A server that answers every request with the `Authorization` header it got,
/// raw and decoded, wrapped in terminal escapes: HTTP 200 with JSON on Grafana's
/// health path, 401 elsewhere.
fn echo_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || echo(s));
        }
    });
    url
}

fn echo(mut s: TcpStream) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    let mut auth = String::new();
    loop {
        let mut l = String::new();
        match r.read_line(&mut l) {
            Ok(0) | Err(_) => return,
            Ok(_) if l == "\r\n" => break,
            Ok(_) => {
                if let Some(v) = l
                    .strip_prefix("authorization: ")
                    .or(l.strip_prefix("Authorization: "))
                {
                    auth = v.trim().to_string();
                }
            }
        }
    }
    let decoded = auth
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let path = first.split_whitespace().nth(1).unwrap_or("/");
    let echo = format!("\u{1b}[2J\u{1b}]0;owned\u{7}you sent {auth} ({decoded})");
    let (status, body) = if path.starts_with("/api/health") {
        (
            200,
            serde_json::json!({"database": "ok", "version": echo}).to_string(),
        )
    } else {
        (
            401,
            serde_json::json!({"message": echo, "error": echo}).to_string(),
        )
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn with_userinfo(url: &str, user: &str, pw: &str) -> String {
    url.replacen("http://", &format!("http://{user}:{pw}@"), 1)
}

struct Sweep {
    seen: Vec<(String, String)>,
}

impl Sweep {
    fn run(&mut self, what: &str, cmd: &mut Command) -> Run {
        let r = run(cmd);
        self.seen.push((format!("{what} stdout"), r.stdout.clone()));
        self.seen.push((format!("{what} stderr"), r.stderr.clone()));
        r
    }
    fn file(&mut self, what: &str, path: &Path) {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{what}: {} was not written: {e}", path.display()));
        self.seen.push((what.to_string(), text));
    }
    fn assert_clean(&self) {
        let leaks = all_leaks();
        let mut found = Vec::new();
        for (what, text) in &self.seen {
            for l in &leaks {
                if text.contains(l.as_str()) {
                    found.push(format!("{what}: `{l}` in\n{text}"));
                }
            }
            if text.contains('\u{1b}') || text.contains('\u{7}') {
                found.push(format!("{what}: a control character in\n{text:?}"));
            }
        }
        assert!(found.is_empty(), "{}", found.join("\n---\n"));
    }
}

fn fixture_labs() -> PathBuf {
    crate::support::repo().join("tests/fixtures/canary-labs")
}

fn cmd() -> Command {
    let mut c = lab();
    c.env("LAB_LABS_DIR", fixture_labs())
        .env("CI", "1")
        .env_remove("LAB_ANCHORE_PASSWORD")
        .env_remove("ANCHORECTL_PASSWORD")
        .env("LAB_GRAFANA_PASSWORD", ENV_PW)
        .env("LABTEST_CANARY_PW", ROSTER_PW)
        .env_remove("LAB_COURSE_KEY");
    c
}

#[test]
fn no_secret_reaches_any_output_format_bundle_or_gradebook() {
    let tmp = TempDir::new("canary");
    let root = tmp.path();
    let srv = echo_server();
    let prom = with_userinfo(&srv, "puser", URL_PW);
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        ws.join("docker-compose.yaml"),
        format!(
            "services:\n  api:\n    image: x\n    environment:\n      - ANCHORE_ADMIN_PASSWORD={COMPOSE_PW}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(ws.join(".lab")).unwrap();
    std::fs::write(
        ws.join(".lab/state.json"),
        serde_json::json!({
            "schema_version": 1,
            "project": "labtest-canary",
            "compose_files": ["docker-compose.yaml"],
            "endpoints": {
                "anchore_url": srv, "anchore_user": "admin",
                "prometheus_url": prom,
                "grafana_url": srv, "grafana_user": "admin"
            }
        })
        .to_string(),
    )
    .unwrap();
    let key = root.join("course.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let target = |c: &mut Command| {
        c.arg("--workspace")
            .arg(&ws)
            .args(["--anchore-url", &srv, "--grafana-url", &srv])
            .args(["--prometheus-url", &prom]);
    };
    let mut sw = Sweep { seen: Vec::new() };

    // The answer the trainee typed holds a secret and escapes too.
    let r = sw.run(
        "answer",
        cmd()
            .args([
                "answer",
                "1",
                "note",
                &format!("my password is {ENV_PW}\u{1b}[31m"),
            ])
            .arg("--workspace")
            .arg(&ws),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    for format in ["human", "json"] {
        let junit = root.join(format!("check-{format}.xml"));
        let mut c = cmd();
        c.args(["check", "1", "-v", "--format", format, "--junit"])
            .arg(&junit);
        target(&mut c);
        let r = sw.run(&format!("check --format {format}"), &mut c);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        sw.file(&format!("check --format {format} --junit"), &junit);
    }
    // The servers did get the secrets (so the sweep means something).
    let mut c = cmd();
    c.args(["check", "1", "--format", "json"]);
    target(&mut c);
    let r = run(&mut c);
    assert!(r.stdout.contains("***"), "{}", r.stdout);

    // A submission, with a name full of escapes.
    let bundles = root.join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let mut c = cmd();
    c.args(["submit", "1", "--trainee", "ev\u{1b}[2Jil", "--key-file"])
        .arg(&key)
        .arg("--output")
        .arg(bundles.join("evil.json"));
    target(&mut c);
    sw.run("submit", &mut c);
    sw.file("bundle", &bundles.join("evil.json"));

    // A roster whose trainee's Anchore password is in a variable.
    let roster = root.join("roster.yaml");
    std::fs::write(
        &roster,
        format!(
            "trainees:\n  - name: \"mal\\e[31mlory\"\n    project: labtest-canary\n    workdir: {}\n    \
             anchore: {{url: \"{srv}\", user: admin, password_env: LABTEST_CANARY_PW}}\n    \
             prometheus: {{url: \"{prom}\"}}\n    grafana: {{url: \"{srv}\", user: admin, password_env: LABTEST_CANARY_PW}}\n",
            ws.display()
        ),
    )
    .unwrap();
    for format in ["human", "json", "csv", "junit", "markdown"] {
        let out = root.join(format!("book.{format}"));
        sw.run(
            &format!("grade --format {format}"),
            cmd()
                .args([
                    "grade",
                    "--detail",
                    "--answers",
                    "--format",
                    format,
                    "--roster",
                ])
                .arg(&roster)
                .arg("--bundles")
                .arg(&bundles)
                .arg("--key-file")
                .arg(&key),
        );
        sw.run(
            &format!("grade --format {format} --output"),
            cmd()
                .args([
                    "grade",
                    "--detail",
                    "--answers",
                    "--format",
                    format,
                    "--roster",
                ])
                .arg(&roster)
                .arg("--output")
                .arg(&out),
        );
        sw.file(&format!("gradebook {format}"), &out);
    }
    for format in ["human", "json"] {
        let mut c = cmd();
        c.args(["status", "--format", format]);
        target(&mut c);
        sw.run(&format!("status --format {format}"), &mut c);
    }
    for f in ["answers.json", "state.json", "analyses.json"] {
        if let Ok(t) = std::fs::read_to_string(ws.join(".lab").join(f)) {
            // The trainee's own answer file keeps what they typed; everything else is clean.
            if f != "answers.json" {
                sw.seen.push((f.to_string(), t));
            }
        }
    }
    sw.assert_clean();
}

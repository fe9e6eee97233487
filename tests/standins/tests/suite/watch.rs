//! The class watched through Prometheus and Grafana, on the bench: `lab grade --serve`
//! grades three trainees every second (the fixture lab 2, `tests/fixtures/grade-labs`:
//! Grafana's health and two answers; each trainee's Grafana is a loopback server of
//! this process), the real Prometheus (the bench image, on the host's network so it
//! reaches the loopback server) scrapes it every second while alice's environment
//! changes state, and PromQL over the scraped series says who passed what and who is
//! stuck. The Grafana stand-in imports the course's "Class progress" dashboard
//! (`labs/instructor/class-progress.json`, the data source as an import input) and
//! every panel's queries have data. Headless Chromium (Debian's `chromium`) loads the
//! live page: its table is read from `--dump-dom`, and a screenshot is kept under
//! `target/lab-watch/`.
//!
//! Runs when LAB_DOCKER_TESTS=1 (CI sets it; then a missing engine fails the run).

use lab_standins::bench::{self, http, wait_until};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn enabled(test: &str) -> bool {
    let mode = std::env::var("LAB_DOCKER_TESTS").unwrap_or_default();
    if mode == "0" {
        eprintln!("note: {test} skipped (LAB_DOCKER_TESTS=0)");
        return false;
    }
    let answers = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !answers {
        assert!(
            mode != "1",
            "LAB_DOCKER_TESTS=1 but the Docker engine does not answer `docker info`"
        );
        eprintln!("note: {test} needs the Docker engine, which does not answer; skipped");
        return false;
    }
    bench::ensure_images().unwrap_or_else(|e| panic!("bench images: {e}"));
    true
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `target/` (the test binary is `target/debug/deps/watch-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn lab_binary() -> PathBuf {
    let lab = target_dir().join("debug/lab");
    assert!(
        lab.is_file(),
        "{} is not built: run `cargo build --workspace`",
        lab.display()
    );
    lab
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A trainee's Grafana: `/api/health` answers with the status held in `status`.
fn grafana_health(status: Arc<AtomicU16>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let code = status.load(Ordering::SeqCst);
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
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A container removed however the test ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.0])
            .output();
    }
}

/// A folder removed when the test ends (the `tempfile` crate).
struct TempDir(tempfile::TempDir);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        TempDir(
            tempfile::Builder::new()
                .prefix(&format!("lab-watch-{tag}-"))
                .tempdir()
                .unwrap(),
        )
    }
}

/// Starts a process and returns the first `http://HOST:PORT` its `stream` prints on a
/// line holding `marker`.
fn start_and_read_addr(mut cmd: Command, marker: &'static str, stdout: bool) -> (Killed, String) {
    if stdout {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    } else {
        cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    }
    let mut child = cmd.spawn().expect("the process starts");
    let stream: Box<dyn std::io::Read + Send> = if stdout {
        Box::new(child.stdout.take().unwrap())
    } else {
        Box::new(child.stderr.take().unwrap())
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if line.contains(marker) {
                let addr = line
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .map(|w| w.trim_start_matches("address="))
                    .find(|w| w.starts_with("127.0.0.1:"))
                    .map(str::to_string);
                if let Some(a) = addr {
                    let _ = tx.send(a);
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no line with {marker:?} and an address"));
    (Killed(child), addr)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An instant PromQL query: each result's `trainee` label, sorted.
fn trainees(prom: &str, query: &str) -> Result<Vec<String>, String> {
    let (code, body) = http(
        "GET",
        &format!("{prom}/api/v1/query?query={}", encode(query)),
        None,
        None,
        Duration::from_secs(10),
    )?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if code != 200 || v["status"] != "success" {
        return Err(format!("{query}: {code} {body}"));
    }
    let mut names: Vec<String> = v["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("{query}: {body}"))?
        .iter()
        .filter_map(|r| r["metric"]["trainee"].as_str().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

fn expect(prom: &str, query: &str, want: &[&str]) {
    wait_until(query, Duration::from_secs(30), || {
        let got = trainees(prom, query)?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}, not {want:?}"))
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn prometheus_and_grafana_watch_the_class_move() {
    if !enabled("prometheus_and_grafana_watch_the_class_move") {
        return;
    }
    let tmp = TempDir::new("class");
    let dir = tmp.0.path();

    // Alice starts with Grafana down and no answers; carol is done; bob's Grafana
    // does not answer and the roster gives no folder of his.
    let alice_health = Arc::new(AtomicU16::new(503));
    let alice_grafana = grafana_health(alice_health.clone());
    let carol_grafana = grafana_health(Arc::new(AtomicU16::new(200)));
    for (who, answers) in [
        ("alice", None),
        (
            "carol",
            Some(r#"{"job-name": "app", "graph": "a flat line"}"#),
        ),
    ] {
        std::fs::create_dir_all(dir.join(who).join(".lab")).unwrap();
        if let Some(a) = answers {
            std::fs::write(dir.join(who).join(".lab/answers.json"), a).unwrap();
        }
    }
    let roster = dir.join("class.yaml");
    std::fs::write(
        &roster,
        format!(
            "trainees:\n\
             \x20 - {{name: alice, project: a, workdir: {a}, grafana: {{url: \"{alice_grafana}\"}}}}\n\
             \x20 - {{name: bob, project: b, grafana: {{url: \"http://127.0.0.1:{bob}\"}}}}\n\
             \x20 - {{name: carol, project: c, workdir: {c}, grafana: {{url: \"{carol_grafana}\"}}}}\n",
            a = dir.join("alice").display(),
            c = dir.join("carol").display(),
            bob = free_port(),
        ),
    )
    .unwrap();

    let mut cmd = Command::new(lab_binary());
    cmd.env("LAB_LABS_DIR", repo().join("tests/fixtures/grade-labs"))
        .env("NO_COLOR", "1")
        .args(["grade", "2", "--serve", "127.0.0.1:0", "--every", "1s"])
        .args(["--stuck-after", "4s", "--probe-timeout", "2s", "--roster"])
        .arg(&roster);
    let (_lab, served) = start_and_read_addr(cmd, "Serving", false);

    // The real Prometheus, scraping it every second.
    let prom_port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: lab-class\n    static_configs:\n      - targets: [\"{served}\"]\n"
        ),
    )
    .unwrap();
    let name = format!("labtest-watch-prometheus-{}", std::process::id());
    let out = Command::new("docker")
        .args(["run", "-d", "--network", "host", "--name", &name, "-v"])
        .arg(format!(
            "{}:/etc/prometheus/prometheus.yml:ro",
            config.display()
        ))
        .args([
            "lab-bench/prometheus:latest",
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
        ])
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .output()
        .unwrap();
    let _prometheus = Container(name.clone());
    assert!(
        out.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    wait_until("lab grade scraped", Duration::from_secs(30), || {
        let (_, body) = http(
            "GET",
            &format!(
                "{prom}/api/v1/query?query={}",
                encode("up{job=\"lab-class\"} == 1")
            ),
            None,
            None,
            Duration::from_secs(5),
        )?;
        if body.contains("\"lab-class\"") {
            Ok(())
        } else {
            Err(body)
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));

    // Before: carol passed the named-job answer, alice has not; bob does not answer.
    let passed = "lab_check_passing{check=\"job-named\"} == 1";
    expect(&prom, passed, &["carol"]);
    expect(&prom, "lab_environment_up == 0", &["bob"]);

    // Alice's Grafana comes up and she answers.
    alice_health.store(200, Ordering::SeqCst);
    std::fs::write(
        dir.join("alice/.lab/answers.json"),
        r#"{"job-name": "app", "graph": "flat"}"#,
    )
    .unwrap();
    expect(&prom, passed, &["alice", "carol"]);
    expect(
        &prom,
        "lab_check_passing{check=\"grafana-up\"} == 1",
        &["alice", "carol"],
    );
    // The class moved: alice's check was failing earlier in the scraped history.
    expect(
        &prom,
        "min_over_time(lab_check_passing{check=\"job-named\"}[5m]) == 0",
        &["alice", "bob"],
    );
    // Who is stuck: the series lab says so, and the same from the raw progress times.
    expect(&prom, "lab_trainee_stuck == 1", &["bob"]);
    expect(
        &prom,
        "(time() - lab_trainee_last_progress_timestamp_seconds > 4) and on (trainee) lab_trainee_exercise",
        &["bob"],
    );
    expect(
        &prom,
        "sum by (trainee) (lab_points) == 2",
        &["alice", "carol"],
    );

    // Grafana: the course's dashboard, imported with the data source as its input.
    let data = TempDir::new("grafana-data");
    let prov = TempDir::new("grafana-prov");
    let mut g = Command::new(env!("CARGO_BIN_EXE_grafana-standin"));
    g.env_clear()
        .env("GF_SERVER_HTTP_ADDR", "127.0.0.1")
        .env("GF_SERVER_HTTP_PORT", "0")
        .env("GF_PATHS_DATA", data.0.path())
        .env("GF_PATHS_PROVISIONING", prov.0.path());
    let (_grafana, gaddr) = start_and_read_addr(g, "HTTP Server Listen", true);
    let grafana = format!("http://{gaddr}");
    let admin = Some(("admin", "admin"));
    let t = Duration::from_secs(15);
    wait_until("grafana healthy", t, || {
        http("GET", &format!("{grafana}/api/health"), None, None, t).and_then(|(c, b)| {
            if c == 200 {
                Ok(())
            } else {
                Err(b)
            }
        })
    })
    .unwrap();
    let (code, body) = http(
        "POST",
        &format!("{grafana}/api/datasources"),
        admin,
        Some(
            &json!({"name": "class", "type": "prometheus", "access": "proxy", "url": prom})
                .to_string(),
        ),
        t,
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let uid = serde_json::from_str::<Value>(&body).unwrap()["datasource"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("labs/instructor/class-progress.json")).unwrap(),
    )
    .unwrap();
    let import = json!({"dashboard": dashboard, "overwrite": true, "folderUid": "",
        "inputs": [{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus", "value": uid}]});
    let (code, body) = http(
        "POST",
        &format!("{grafana}/api/dashboards/import"),
        admin,
        Some(&import.to_string()),
        t,
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let (code, body) = http(
        "GET",
        &format!("{grafana}/api/dashboards/uid/lab-class-progress"),
        admin,
        None,
        t,
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let stored: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stored["dashboard"]["title"], "Class progress");
    let panels = stored["dashboard"]["panels"].as_array().unwrap().clone();
    assert!(panels.len() >= 8);
    for p in &panels {
        let title = p["title"].as_str().unwrap();
        let queries: Vec<Value> = p["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                json!({"refId": t["refId"], "datasource": t["datasource"], "expr": t["expr"],
                       "range": t["range"], "instant": t["instant"], "legendFormat": t["legendFormat"],
                       "intervalMs": 1000, "maxDataPoints": 300})
            })
            .collect();
        let q = json!({"queries": queries, "from": "now-5m", "to": "now"});
        wait_until(title, Duration::from_secs(30), || {
            let (code, body) = http(
                "POST",
                &format!("{grafana}/api/ds/query"),
                admin,
                Some(&q.to_string()),
                t,
            )?;
            if code != 200 {
                return Err(format!("{code} {body}"));
            }
            let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let results = v["results"].as_object().ok_or(body.clone())?;
            for (ref_id, r) in results {
                let has_points = r["frames"].as_array().is_some_and(|fs| {
                    fs.iter().any(|f| {
                        f["data"]["values"][0]
                            .as_array()
                            .is_some_and(|v| !v.is_empty())
                    })
                });
                if r["status"] != 200 || !has_points {
                    return Err(format!("{ref_id}: no points: {r}"));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("panel {title:?}: {e}"));
    }

    // The live page in a real browser: its table, and a screenshot kept.
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing (apt-get install chromium)"
        );
        eprintln!("note: chromium is not installed: the page's browser check skipped");
        return;
    };
    let browser = |extra: &[&str]| {
        let profile = TempDir::new("chromium");
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.0.path().display()))
            .args(extra)
            .arg(format!("http://{served}/"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = browser(&["--dump-dom"]);
    let rows: Vec<Vec<String>> = dom
        .split("<tr")
        .skip(2)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = cell.split_once('>').map_or("", |(_, r)| r);
                    let inner = inner.split("</td>").next().unwrap_or("");
                    // The name cell holds a link.
                    let text = inner
                        .split('>')
                        .nth(1)
                        .map_or(inner, |t| t.split('<').next().unwrap_or(t));
                    text.to_string()
                })
                .collect()
        })
        .collect();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in the page:\n{dom}"))
            .clone()
    };
    // Trainee, 02-answers, Total, On, Progress, Mark.
    assert_eq!(row("alice")[1], "2/4", "{dom}");
    assert_eq!(row("alice")[3], "done");
    assert_eq!(row("bob")[3], "02/grafana");
    assert_eq!(row("bob")[5], "STUCK, NO ANSWER");
    assert_eq!(row("carol")[2], "2/4");

    let shots = target_dir().join("lab-watch");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("class-progress.png");
    let _ = std::fs::remove_file(&shot);
    browser(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1100,500",
        "--hide-scrollbars",
    ]);
    let png = std::fs::read(&shot).expect("the screenshot is written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2000,
        "a real PNG"
    );
    eprintln!("screenshot: {}", shot.display());
}

//! Runs the Anchore stand-in's roles as separate processes on loopback ports and drives them over
//! HTTP and through the anchorectl stand-in, as the course's deployment would be used.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab_standins::anchore::clock;
use lab_standins::anchore::image::ImageRef;
use lab_standins::anchore::logging::{parse_line, Line};
use lab_standins::anchore::metrics::parse_samples;
use serde_json::{json, Value};

const STANDIN: &str = env!("CARGO_BIN_EXE_anchore-standin");
const ANCHORECTL: &str = env!("CARGO_BIN_EXE_anchorectl");
const PASSWORD: &str = "foobar";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running role; killed when dropped so a failing test leaves nothing behind.
struct Proc {
    name: String,
    port: u16,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    health_file: Option<std::path::PathBuf>,
}

impl Proc {
    fn start(name: &str, role: &str, port: u16, env: &[(&str, String)]) -> Proc {
        let health_file = std::env::temp_dir().join(format!(
            "anchore-standin-test-{}-{port}.health",
            std::process::id()
        ));
        let mut cmd = Command::new(STANDIN);
        cmd.args(["service", "start", role])
            .env_clear()
            .env("STANDIN_HEALTH_FILE", &health_file)
            .env("STANDIN_SCRATCH_DIR", std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if role == "db" || role == "redis" || role == "ui" {
            cmd.env("STANDIN_PORT", port.to_string());
        } else {
            cmd.env("ANCHORE_SERVICE_PORT", port.to_string());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start anchore-standin");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Proc {
            name: name.to_string(),
            port,
            child,
            lines,
            health_file: Some(health_file),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit; its status and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "{} did not exit within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first so the role cleans up (its health file); SIGKILL if it does not go.
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(1) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = &self.health_file {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn get(url: &str, auth: Option<&str>) -> (u16, String) {
    let mut req = http().get(url);
    if let Some(p) = auth {
        req = req.basic_auth("admin", Some(p));
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

async fn get_json(url: &str) -> Value {
    let (status, body) = get(url, Some(PASSWORD)).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `check` every 50 ms until it gives a value; panics with `what` after `limit`.
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_healthy(p: &Proc) {
    let url = p.url("/health");
    eventually(
        Duration::from_secs(10),
        &format!("{} to be healthy", p.name),
        || {
            let url = url.clone();
            async move { (get(&url, None).await.0 == 200).then_some(()) }
        },
    )
    .await;
}

async fn metrics(p: &Proc) -> String {
    let (status, body) = get(&p.url("/metrics"), Some(PASSWORD)).await;
    assert_eq!(status, 200, "{} /metrics: {body}", p.name);
    body
}

/// The value of the sample with exactly these labels.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    parse_samples(text)
        .expect("valid exposition text")
        .into_iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|s| s.2)
}

/// (CPU seconds, resident bytes) of a process, read from /proc by the test itself.
fn proc_figures(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
    let resident: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf only reads system constants.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK) as f64,
            libc::sysconf(libc::_SC_PAGESIZE) as f64,
        )
    };
    ((f[0] + f[1]) / ticks, resident * page)
}

fn common_env(db_port: u16, host_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ANCHORE_DB_HOST", format!("127.0.0.1:{db_port}")),
        ("ANCHORE_ADMIN_PASSWORD", PASSWORD.to_string()),
        ("ANCHORE_ENABLE_METRICS", "true".to_string()),
        ("ANCHORE_ENDPOINT_HOSTNAME", "127.0.0.1".to_string()),
        ("ANCHORE_HOST_ID", host_id.to_string()),
        ("ANCHORE_LOG_LEVEL", "INFO".to_string()),
    ]
}

async fn add_image(api: &Proc, pull: &str, annotations: Value) -> Value {
    let body = json!({"source": {"tag": {"pull_string": pull}}, "annotations": annotations});
    let resp = http()
        .post(api.url("/v2/images"))
        .basic_auth("admin", Some(PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

async fn anchorectl(api: &Proc, password: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(ANCHORECTL)
        .args(args)
        .env_clear()
        .env("ANCHORECTL_URL", format!("http://127.0.0.1:{}", api.port))
        .env("ANCHORECTL_USERNAME", "admin")
        .env("ANCHORECTL_PASSWORD", password)
        .output()
        .await
        .expect("run anchorectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One analysis as its analyzer logged it.
struct Trace {
    analyzer: String,
    thread: String,
    lines: Vec<(String, String, String, String)>, // (timestamp, level, location, message)
}

impl Trace {
    fn seconds(&self) -> f64 {
        let t = |s: &str| clock::unix_seconds(clock::parse_timestamp(s).expect("log timestamp"));
        t(&self.lines.last().unwrap().0) - t(&self.lines[0].0)
    }
}

/// Finds the analysis of `digest` in the analyzers' logs: exactly one analyzer must have
/// dequeued it, and its thread's lines make the trace.
fn trace(analyzers: &[&Proc], digest: &str) -> Trace {
    let dequeued = format!("image dequeued for analysis: admin : {digest}");
    let mut found = Vec::new();
    for a in analyzers {
        let log = a.log();
        let lines: Vec<Line> = log.iter().filter_map(|l| parse_line(l)).collect();
        for start in lines.iter().filter(|l| l.message == dequeued) {
            found.push(Trace {
                analyzer: a.name.clone(),
                thread: start.thread.to_string(),
                lines: lines
                    .iter()
                    .filter(|l| l.thread == start.thread)
                    .map(|l| {
                        (
                            l.timestamp.to_string(),
                            l.level.to_string(),
                            l.location.to_string(),
                            l.message.to_string(),
                        )
                    })
                    .collect(),
            });
        }
    }
    assert_eq!(
        found.len(),
        1,
        "{digest} was dequeued {} times",
        found.len()
    );
    found.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_analyzers_share_the_queue_and_metrics_and_logs_agree() {
    let db = Proc::start("db", "db", free_port(), &[]);
    wait_healthy(&db).await;
    let mut env = common_env(db.port, "catalog-1");
    let catalog = Proc::start("catalog", "catalog", free_port(), &env);
    env = common_env(db.port, "queue-1");
    let queue = Proc::start("queue", "simplequeue", free_port(), &env);
    env = common_env(db.port, "api-1");
    let api = Proc::start("api", "apiext", free_port(), &env);
    let mut analyzers = Vec::new();
    for n in 1..=2 {
        let mut env = common_env(db.port, &format!("analyzer-{n}"));
        env.push(("STANDIN_ANALYSIS_SECONDS", "1".to_string()));
        analyzers.push(Proc::start(
            &format!("analyzer-{n}"),
            "analyzer",
            free_port(),
            &env,
        ));
    }
    for p in [&catalog, &queue, &api, &analyzers[0], &analyzers[1]] {
        wait_healthy(p).await;
    }
    // Every role registered, as /v2/system shows it.
    let system_url = api.url("/v2/system");
    eventually(
        Duration::from_secs(10),
        "all services up in /v2/system",
        || {
            let url = system_url.clone();
            async move {
                let sys = get_json(&url).await;
                let up: Vec<String> = sys["service_states"]
                    .as_array()?
                    .iter()
                    .filter(|s| s["status"] == true)
                    .map(|s| s["service_name"].as_str().unwrap_or("").to_string())
                    .collect();
                let mut up = up;
                up.sort();
                (up == ["analyzer", "analyzer", "apiext", "catalog", "simplequeue"]).then_some(())
            }
        },
    )
    .await;

    let x = add_image(
        &api,
        "docker.io/library/postgres:latest",
        json!({"standin.analysis_seconds": "3"}),
    )
    .await;
    let y = add_image(&api, "docker.io/library/nginx:1.27", json!({})).await;
    let z = add_image(
        &api,
        "docker.io/library/busybox:1.36",
        json!({"standin.fail": "pull failed", "standin.analysis_seconds": "0.5"}),
    )
    .await;
    assert_eq!(x["analysis_status"], "not_analyzed");
    assert_eq!(x["image_status"], "active");
    assert_eq!(
        x["image_detail"][0]["full_tag"],
        "docker.io/library/postgres:latest"
    );
    assert_eq!(x["image_detail"][0]["registry"], "docker.io");
    assert_eq!(x["image_detail"][0]["repo"], "library/postgres");
    assert_eq!(x["image_detail"][0]["tag"], "latest");
    let xd = x["image_digest"].as_str().unwrap().to_string();
    let yd = y["image_digest"].as_str().unwrap().to_string();
    let zd = z["image_digest"].as_str().unwrap().to_string();
    assert_eq!(
        xd,
        ImageRef::parse("postgres").unwrap().digest(),
        "stable digest from the tag"
    );
    assert_eq!(
        x["image_detail"][0]["full_digest"],
        format!("docker.io/library/postgres@{xd}")
    );

    let list_url = api.url("/v2/images");
    let list = eventually(
        Duration::from_secs(20),
        "all three analyses to finish",
        || {
            let url = list_url.clone();
            async move {
                let list = get_json(&url).await;
                let items = list["items"].as_array()?.clone();
                (items.len() == 3
                    && items.iter().all(|i| {
                        matches!(
                            i["analysis_status"].as_str(),
                            Some("analyzed" | "analysis_failed")
                        )
                    }))
                .then_some(items)
            }
        },
    )
    .await;
    let status_of = |d: &str| {
        list.iter()
            .find(|i| i["image_digest"] == d)
            .unwrap()
            .clone()
    };
    let xi = status_of(&xd);
    assert_eq!(xi["analysis_status"], "analyzed");
    assert_eq!(status_of(&yd)["analysis_status"], "analyzed");
    assert_eq!(status_of(&zd)["analysis_status"], "analysis_failed");
    assert_eq!(xi["image_content"]["metadata"]["layer_count"], 14);
    let steps: Vec<(String, String)> = xi["analysis_status_detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["from_status"].as_str().unwrap().into(),
                d["to_status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("not_analyzed".into(), "analyzing".into()),
            ("analyzing".into(), "analyzed".into())
        ]
    );

    // Logs: each image taken by exactly one analyzer, on one thread, in the Enterprise order.
    let a = [&analyzers[0], &analyzers[1]];
    let tx = trace(&a, &xd);
    let ty = trace(&a, &yd);
    let tz = trace(&a, &zd);
    let locations: Vec<&str> = tx.lines.iter().map(|l| l.2.as_str()).collect();
    assert!(
        locations[0].ends_with("analysis/process_analyzer_job():415"),
        "{locations:?}"
    );
    assert!(locations[1].ends_with("analysis/perform_analyze():280"));
    assert!(locations[2].ends_with("analysis/perform_analyze():287"));
    assert!(locations[3].ends_with("localanchore_standalone/pull_image():679"));
    assert!(locations
        .last()
        .unwrap()
        .ends_with("analysis/process_analyzer_job():508"));
    assert_eq!(tx.lines[1].3, format!("performing analysis on image: ['admin', 'docker.io/library/postgres@{xd}', 'docker.io/library/postgres:latest']"));
    assert_eq!(
        tx.lines.last().unwrap().3,
        format!("analysis complete: admin : {xd}")
    );
    assert!(tx.thread.starts_with("Thread-"));
    let fail = tz.lines.last().unwrap();
    assert_eq!(
        (fail.1.as_str(), fail.3.as_str()),
        ("ERROR", "problem analyzing image - exception: pull failed")
    );
    assert!(tz
        .lines
        .iter()
        .all(|l| !l.3.starts_with("analysis complete")));
    // Two analyzers worked at once: x (3 s) was still running when y was dequeued elsewhere.
    assert_ne!(
        tx.analyzer, ty.analyzer,
        "x and y went to the same analyzer"
    );
    assert!(
        ty.lines[0].0 < tx.lines.last().unwrap().0,
        "y did not start while x ran"
    );
    let x_log_seconds = tx.seconds();
    assert!(
        (2.9..4.0).contains(&x_log_seconds),
        "x took {x_log_seconds} s by its log"
    );

    // Metrics of the analyzer that did x: one success of about 3 s, agreeing with the log.
    let ax = analyzers.iter().find(|p| p.name == tx.analyzer).unwrap();
    let other = analyzers.iter().find(|p| p.name != tx.analyzer).unwrap();
    let mx = metrics(ax).await;
    let sum = sample(
        &mx,
        "anchore_analysis_time_seconds_sum",
        &[("status", "success")],
    )
    .unwrap();
    assert_eq!(
        sample(
            &mx,
            "anchore_analysis_time_seconds_count",
            &[("status", "success")]
        ),
        Some(1.0)
    );
    assert!((3.0..3.6).contains(&sum), "sum {sum}");
    assert!(
        (sum - x_log_seconds).abs() < 1.0,
        "metric {sum} vs log {x_log_seconds}"
    );
    assert_eq!(
        sample(
            &mx,
            "anchore_analysis_time_seconds_bucket",
            &[("status", "success"), ("le", "1.0")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &mx,
            "anchore_analysis_time_seconds_bucket",
            &[("status", "success"), ("le", "5.0")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &mx,
            "anchore_analysis_time_seconds_bucket",
            &[("status", "success"), ("le", "+Inf")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&mx, "anchore_analysis_success_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&mx, "anchore_analyzer_status", &[("state", "waiting")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&mx, "anchore_analyzer_status", &[("state", "processing")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &mx,
            "anchore_service_info",
            &[("servicename", "analyzer"), ("version", "5.17.0")]
        ),
        Some(1.0)
    );
    // The process figures are the analyzer's own, as /proc shows them from outside.
    let (cpu, rss) = proc_figures(ax.child.id());
    let rss_metric = sample(&mx, "process_resident_memory_bytes", &[]).unwrap();
    assert!(
        rss_metric > 1e6 && (rss_metric - rss).abs() < rss * 0.25,
        "rss {rss_metric} vs {rss}"
    );
    let cpu_metric = sample(&mx, "process_cpu_seconds_total", &[]).unwrap();
    assert!(
        cpu_metric >= 0.0 && (cpu_metric - cpu).abs() < 0.2,
        "cpu {cpu_metric} vs {cpu}"
    );
    let mo = metrics(other).await;
    assert_eq!(
        sample(&mo, "anchore_analysis_success_total", &[]),
        Some(1.0)
    );
    assert_eq!(sample(&mo, "anchore_analysis_error_total", &[]), Some(1.0));
    assert_eq!(
        sample(
            &mo,
            "anchore_analysis_time_seconds_bucket",
            &[("status", "fail"), ("le", "1.0")]
        ),
        Some(1.0)
    );
    assert_eq!(trace(&a, &zd).analyzer, other.name);

    let mq = metrics(&queue).await;
    assert_eq!(
        sample(
            &mq,
            "anchore_queue_length",
            &[("queuename", "images_to_analyze")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &mq,
            "anchore_queue_length",
            &[("queuename", "analysis_update")]
        ),
        Some(0.0)
    );
    let mc = metrics(&catalog).await;
    let global = |s: &str| {
        sample(
            &mc,
            "anchore_global_images_analysis_status",
            &[("analysis_status", s)],
        )
    };
    assert_eq!(
        (
            global("not_analyzed"),
            global("analyzing"),
            global("analyzed"),
            global("analysis_failed")
        ),
        (Some(0.0), Some(0.0), Some(2.0), Some(1.0))
    );
    assert_eq!(
        sample(
            &mc,
            "anchore_global_images_record_status",
            &[("image_status", "deleting")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &mc,
            "anchore_global_images_record_status",
            &[("image_status", "active")]
        ),
        Some(3.0)
    );

    // The API counted what it served; an unauthenticated scrape is refused.
    let (status, _) = get(
        &api.url(&format!("/v2/images/sha256:{}", "0".repeat(64))),
        Some(PASSWORD),
    )
    .await;
    assert_eq!(status, 404);
    let ma = metrics(&api).await;
    assert_eq!(
        sample(
            &ma,
            "flask_http_request_total",
            &[("method", "POST"), ("status", "200")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &ma,
            "flask_http_request_duration_seconds_count",
            &[
                ("endpoint", "add_image"),
                ("method", "POST"),
                ("status", "200")
            ]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &ma,
            "flask_http_request_duration_seconds_count",
            &[
                ("endpoint", "get_image"),
                ("method", "GET"),
                ("status", "404")
            ]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &ma,
            "flask_http_request_duration_seconds_count",
            &[
                ("endpoint", "health_check"),
                ("method", "GET"),
                ("status", "200")
            ]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(get(&api.url("/metrics"), None).await.0, 401);
    assert_eq!(get(&api.url("/metrics"), Some("wrong")).await.0, 401);

    // anchorectl against the same deployment.
    let (code, out, err) = anchorectl(
        &api,
        PASSWORD,
        &["image", "add", "docker.io/library/alpine:3.20", "--wait"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(" ✔ Added Image"), "{out}");
    assert!(out.contains("\nImage:\n  status:           analyzed (active)\n  tag:              docker.io/library/alpine:3.20\n"), "{out}");
    assert!(
        out.contains("\n  distro:           alpine@3.20.3 (amd64)\n  layers:           1\n"),
        "{out}"
    );
    let (code, out, _) = anchorectl(
        &api,
        PASSWORD,
        &["image", "add", "docker.io/library/postgres:latest"],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("  digest:           {xd}\n")),
        "re-adding returns the record: {out}"
    );
    let (code, out, _) =
        anchorectl(&api, PASSWORD, &["image", "get", "postgres", "-o", "json"]).await;
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (j["imageDigest"].as_str(), j["analysisStatus"].as_str()),
        (Some(xd.as_str()), Some("analyzed"))
    );
    assert_eq!(
        j["imageDetail"][0]["fullTag"],
        "docker.io/library/postgres:latest"
    );
    let (code, out, _) = anchorectl(&api, PASSWORD, &["system", "status"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("│ SERVICE     │ HOST ID    │")
            && out.contains("│ simplequeue │ queue-1    │"),
        "{out}"
    );
    let (code, _, err) = anchorectl(&api, "wrong", &["image", "list"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_switches_auth_and_bad_requests() {
    // No database on this port: the analyzer's polls fail, which its status gauge must show.
    let nowhere = free_port();
    let mut env = common_env(nowhere, "api-off");
    env.retain(|(k, _)| *k != "ANCHORE_ENABLE_METRICS");
    let api = Proc::start("api", "apiext", free_port(), &env);
    let mut env = common_env(nowhere, "analyzer-open");
    env.push(("ANCHORE_DISABLE_METRICS_AUTH", "true".to_string()));
    let analyzer = Proc::start("analyzer", "analyzer", free_port(), &env);
    wait_healthy(&api).await;
    wait_healthy(&analyzer).await;

    assert_eq!(
        get(&api.url("/metrics"), Some(PASSWORD)).await.0,
        404,
        "metrics disabled"
    );
    assert_eq!(get(&api.url("/health"), None).await, (200, String::new()));
    assert_eq!(get(&api.url("/version"), None).await.0, 401);
    let (status, body) = get(&api.url("/version"), Some(PASSWORD)).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            v["service"]["version"].as_str(),
            v["db"]["schema_version"].as_str()
        ),
        (Some("5.17.0"), Some("5170"))
    );
    assert_eq!(get(&api.url("/v2/images"), Some("wrong")).await.0, 401);

    for (body, want) in [
        ("{not json", "not valid JSON"),
        ("{\"source\": {}}", "exactly one of"),
        (
            "{\"source\": {\"tag\": {\"pull_string\": \"Not/Valid\"}}}",
            "lowercase",
        ),
    ] {
        let r = http()
            .post(api.url("/v2/images"))
            .basic_auth("admin", Some(PASSWORD))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["code"], 400);
        assert!(e["message"].as_str().unwrap().contains(want), "{e}");
        assert!(e.get("error_type").is_some() && e.get("detail").is_some());
    }
    let (status, _) = get(&api.url("/v2/images/not-a-digest"), Some(PASSWORD)).await;
    assert_eq!(status, 400);
    let (status, body) = get(&api.url("/v2/images?analysis_status=done"), Some(PASSWORD)).await;
    assert_eq!(status, 400, "{body}");
    // The database is down: the API says so instead of hanging or crashing.
    let (status, body) = get(&api.url("/v2/images"), Some(PASSWORD)).await;
    assert_eq!(status, 500, "{body}");

    let text = eventually(
        Duration::from_secs(5),
        "the analyzer to report its error state",
        || {
            let url = analyzer.url("/metrics");
            async move {
                let (status, body) = get(&url, None).await;
                (status == 200 && body.contains("anchore_analyzer_status{state=\"error\"} 1.0"))
                    .then_some(body)
            }
        },
    )
    .await;
    assert!(text.contains("# TYPE anchore_analysis_time_seconds histogram\n"));
    assert!(text.contains("# HELP process_resident_memory_bytes Resident memory size in bytes.\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_promptly_and_requeues_the_image_in_analysis() {
    let db = Proc::start("db", "db", free_port(), &[]);
    wait_healthy(&db).await;
    let api = Proc::start("api", "apiext", free_port(), &common_env(db.port, "api-t"));
    let mut env = common_env(db.port, "analyzer-t");
    env.push(("STANDIN_ANALYSIS_SECONDS", "30".to_string()));
    let mut analyzer = Proc::start("analyzer", "analyzer", free_port(), &env);
    wait_healthy(&api).await;
    wait_healthy(&analyzer).await;
    let img = add_image(&api, "docker.io/library/redis:7", json!({})).await;
    let url = api.url(&format!(
        "/v2/images/{}",
        img["image_digest"].as_str().unwrap()
    ));
    eventually(Duration::from_secs(10), "the image to be analyzing", || {
        let url = url.clone();
        async move { (get_json(&url).await["analysis_status"] == "analyzing").then_some(()) }
    })
    .await;

    analyzer.signal(libc::SIGTERM);
    let (status, took) = analyzer.wait_exit(Duration::from_secs(3));
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(
        get_json(&url).await["analysis_status"],
        "not_analyzed",
        "interrupted work goes back to the queue"
    );
    let log = analyzer.log().join("\n");
    assert!(log.contains("Received SIGTERM, shutting down"), "{log}");
    assert!(
        log.contains("analysis interrupted by shutdown, image returned to the queue"),
        "{log}"
    );
    let sys = get_json(&api.url("/v2/system")).await;
    let gone = sys["service_states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_name"] == "analyzer")
        .unwrap()
        .clone();
    assert_eq!(
        (gone["status"].as_bool(), gone["status_message"].as_str()),
        (Some(false), Some("unavailable"))
    );

    let mut api = api;
    api.signal(libc::SIGTERM);
    let (status, took) = api.wait_exit(Duration::from_secs(3));
    assert!(
        status.success() && took < Duration::from_secs(1),
        "{status:?} {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_redis_ui_and_unreachable_anchorectl() {
    let redis = Proc::start("redis", "redis", free_port(), &[]);
    let ui_env = vec![("ANCHORE_ENABLE_METRICS", "true".to_string())];
    let ui = Proc::start("ui", "ui", free_port(), &ui_env);
    wait_healthy(&ui).await;
    let (status, page) = get(&ui.url("/"), None).await;
    assert!(status == 200 && page.contains("Anchore Enterprise"));
    assert!(get(&ui.url("/metrics"), None)
        .await
        .1
        .contains("process_resident_memory_bytes"));

    let health = |args: Vec<String>, env: Vec<(&'static str, String)>| async move {
        tokio::process::Command::new(STANDIN)
            .arg("healthcheck")
            .args(args)
            .env_clear()
            .envs(env)
            .output()
            .await
            .unwrap()
    };
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let out = eventually(Duration::from_secs(10), "redis to answer PING", || {
        let h = health(vec![redis_url.clone()], vec![]);
        async move {
            let o = h.await;
            o.status.success().then_some(o)
        }
    })
    .await;
    assert!(out.status.success());
    // With no argument the probe reads what the running role wrote.
    let file = std::env::temp_dir().join(format!(
        "anchore-standin-test-{}-{}.health",
        std::process::id(),
        redis.port
    ));
    let out = health(
        vec![],
        vec![("STANDIN_HEALTH_FILE", file.display().to_string())],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = health(
        vec!["ui".into()],
        vec![("STANDIN_PORT", ui.port.to_string())],
    )
    .await;
    assert!(out.status.success());
    let closed = free_port();
    let out = health(
        vec![],
        vec![
            ("ANCHORE_SERVICE_PORT", closed.to_string()),
            ("STANDIN_PORT", closed.to_string()),
            ("STANDIN_HEALTH_FILE", "/nonexistent/x".into()),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unhealthy"));

    let fake = Proc {
        name: "none".into(),
        port: closed,
        child: Command::new("true").spawn().unwrap(),
        lines: Default::default(),
        health_file: None,
    };
    let (code, out, err) = anchorectl(&fake, PASSWORD, &["system", "status"]).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("error: 1 error occurred:\n\t* unable to get system status: cannot reach the Anchore API"), "{err}");
}

/// The quickstart's db service runs `command: ["postgres", "-c", "max_connections=1000"]`:
/// called as `postgres`, the stand-in starts the db role and takes server settings.
#[test]
fn called_as_postgres_it_starts_the_db_role() {
    let dir = std::env::temp_dir().join(format!("anchore-standin-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let postgres = dir.join("postgres");
    let _ = std::fs::remove_file(&postgres);
    std::os::unix::fs::symlink(STANDIN, &postgres).unwrap();
    let bad = Command::new(&postgres)
        .args(["-c", "max_connections"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("-c name=value"));
    let port = free_port();
    let mut child = Command::new(&postgres)
        .args(["-c", "max_connections=1000"])
        .env_clear()
        .env("STANDIN_PORT", port.to_string())
        .env("STANDIN_HEALTH_FILE", dir.join("health"))
        .env("STANDIN_SCRATCH_DIR", &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut up = false;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(up, "the db role did not listen on {port}");
}

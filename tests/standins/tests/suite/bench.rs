//! The bench, proved against the course's real files: the Anchore stand-ins run as a
//! quickstart-shaped compose project on the real Docker engine, scraped by the real
//! Prometheus with the course's `anchore-prometheus.yml`, graphed by the Grafana
//! stand-in with the course's dashboard; `lab` checks them.
//!
//! Runs when LAB_DOCKER_TESTS=1 (CI sets it; then a missing engine fails the run).

use lab::action::compose_edit::{add_service, add_volume, set_env, uncomment_block};
use lab_standins::bench::{self, http, wait_until, Project};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Whether a Docker test goes on (`crate::engine_answers`), with the bench images built.
fn enabled(test: &str) -> bool {
    if !crate::engine_answers(test) {
        return false;
    }
    bench::ensure_images().unwrap_or_else(|e| panic!("bench images: {e}"));
    true
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use crate::fixtures;

fn reference(rel: &str) -> String {
    fixtures::read(rel)
}

/// The `lab` binary the workspace built.
fn lab_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let lab = exe.parent().and_then(Path::parent).unwrap().join("lab");
    assert!(
        lab.is_file(),
        "{} is not built: run `cargo build --workspace`",
        lab.display()
    );
    lab
}

/// `- "8228:8228"` -> `- "127.0.0.1::8228"`: every published port on a free loopback
/// port, so bench projects do not collide with each other or with the machine.
fn loopback_ports(text: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            let lead = &l[..l.len() - t.len()];
            let inner = t.strip_prefix("- \"").and_then(|r| r.strip_suffix('"'));
            match inner.and_then(|i| i.split_once(':')) {
                Some((a, b))
                    if a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit()) =>
                {
                    format!("{lead}- \"127.0.0.1::{b}\"")
                }
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The course's scrape config, with only the jobs whose target is a service of this
/// deployment, scraping every 2 s so the test need not wait 15 s.
fn prometheus_config(services: &[String]) -> String {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&reference("prometheus/webinar-demo-anchore-prometheus.yml")).unwrap();
    doc["global"]["scrape_interval"] = "2s".into();
    doc["global"]["scrape_timeout"] = "1s".into();
    let jobs = doc["scrape_configs"].as_sequence_mut().unwrap();
    jobs.retain(|j| {
        let target = j["static_configs"][0]["targets"][0].as_str().unwrap_or("");
        services
            .iter()
            .any(|s| target.split(':').next() == Some(s.as_str()))
    });
    for j in jobs.iter_mut() {
        j["scrape_interval"] = "2s".into();
        j["scrape_timeout"] = "1s".into();
    }
    serde_yaml::to_string(&doc).unwrap()
}

const GRAFANA: &str = "  grafana:\n    image: docker.io/grafana/grafana:latest\n    depends_on:\n      - api\n      - prometheus\n    volumes:\n      - grafana-db-volume:/var/lib/grafana\n    ports:\n      - \"3001:3000\"\n";

/// The course's deployment (lab `init`'s template) with lab 2 done: Prometheus on,
/// metrics on or off; with lab 4's Grafana when asked.
fn deployment(tag: &str, metrics: bool, grafana: bool) -> (Project, Vec<String>) {
    let mut p = Project::new(tag);
    let template =
        std::fs::read_to_string(repo().join("labs/deployment/docker-compose.yaml")).unwrap();
    let mut text = uncomment_block(&template, "prometheus:").unwrap();
    if metrics {
        text = set_env(&text, &[], "ANCHORE_ENABLE_METRICS", "true").unwrap();
    }
    text = set_env(&text, &["analyzer".into()], "STANDIN_ANALYSIS_SECONDS", "1").unwrap();
    if grafana {
        text = add_volume(&text, "grafana-db-volume").unwrap();
        text = add_service(&text, "grafana", GRAFANA).unwrap();
    }
    let text = loopback_ports(&text);
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let services: Vec<String> = doc["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    std::fs::write(p.dir.join("docker-compose.yaml"), &text).unwrap();
    std::fs::write(
        p.dir.join("license.yaml"),
        "# the stand-in needs no license\n",
    )
    .unwrap();
    std::fs::write(
        p.dir.join("anchore-prometheus.yml"),
        prometheus_config(&services),
    )
    .unwrap();
    p.files = vec![p.dir.join("docker-compose.yaml")];
    (p, services)
}

fn port(p: &Project, service: &str, port: u16) -> String {
    let out = p.compose(&["port", service, &port.to_string()]).unwrap();
    format!("http://{}", out.trim())
}

fn json_get(url: &str, auth: Option<(&str, &str)>) -> Result<Value, String> {
    let (status, body) = http("GET", url, auth, None, Duration::from_secs(5))?;
    if status != 200 {
        return Err(format!("{url}: HTTP {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{url}: {e}"))
}

fn targets(prom: &str) -> Result<Vec<Value>, String> {
    let doc = json_get(&format!("{prom}/api/v1/targets"), None)?;
    Ok(doc["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Runs `lab` on a one-lab folder written here, against project `p`.
fn lab_check(p: &Project, checks: &str, urls: &[(&str, &str)]) -> Value {
    let labs = p.dir.join("labs/01-bench");
    std::fs::create_dir_all(&labs).unwrap();
    std::fs::write(labs.join("README.md"), "# Bench\n").unwrap();
    std::fs::write(
        labs.join("lab.yaml"),
        format!("number: 1\nslug: bench\ntitle: Bench\nsummary: s\nexercises:\n  - id: e\n    title: E\n    checks:\n{checks}"),
    )
    .unwrap();
    let mut cmd = Command::new(lab_binary());
    cmd.arg("--labs-dir")
        .arg(p.dir.join("labs"))
        .args([
            "check",
            "1",
            "--format",
            "json",
            "--project",
            &p.name,
            "--workspace",
        ])
        .arg(&p.dir);
    for (flag, url) in urls {
        cmd.arg(flag).arg(url);
    }
    let out = cmd
        .env("NO_COLOR", "1")
        .env_remove("LAB_LABS_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn assert_passed(report: &Value) {
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "passed", "{c:#}");
    }
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn prometheus_scrapes_every_anchore_service_with_the_course_config_and_not_without_metrics() {
    if !enabled("prometheus_scrapes_every_anchore_service") {
        return;
    }
    for metrics in [true, false] {
        let (p, services) =
            deployment(if metrics { "prom-on" } else { "prom-off" }, metrics, false);
        let started = std::time::Instant::now();
        p.compose(&["up", "-d"]).unwrap();
        let prom = port(&p, "prometheus", 9090);
        let want = if metrics { "up" } else { "down" };
        let jobs = wait_until("every job scraped", Duration::from_secs(90), || {
            let t = targets(&prom)?;
            let bad: Vec<String> = t
                .iter()
                .filter(|t| t["health"] != want)
                .map(|t| format!("{} {}", t["labels"]["job"], t["health"]))
                .collect();
            if t.is_empty() || !bad.is_empty() {
                return Err(format!("{bad:?}"));
            }
            Ok(t)
        })
        .unwrap();
        eprintln!(
            "metrics {metrics}: {} jobs {want} {:.1}s after `up`",
            jobs.len(),
            started.elapsed().as_secs_f64()
        );
        let names: Vec<&str> = jobs
            .iter()
            .map(|t| t["labels"]["job"].as_str().unwrap())
            .collect();
        for job in [
            "api",
            "catalog",
            "queue",
            "analyzer",
            "policy-engine",
            "reports",
            "reports_worker",
            "notifications",
        ] {
            assert!(
                names.contains(&job),
                "job {job} missing from {names:?} (services {services:?})"
            );
        }
        if !metrics {
            assert!(
                jobs.iter()
                    .all(|t| t["lastError"].as_str().unwrap_or("").contains("404")),
                "{jobs:#?}"
            );
        }
        let report = lab_check(
            &p,
            &format!("      - {{id: targets, description: every Anchore job is {want}, kind: prometheus_targets, health: {want}}}\n      - {{id: metrics-env, description: metrics setting, kind: container, services: [api, analyzer], env: {{ANCHORE_ENABLE_METRICS: \"{metrics}\"}}}}\n"),
            &[("--prometheus-url", &prom)],
        );
        assert_passed(&report);
    }
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn an_analysis_shows_in_logs_prometheus_and_the_course_dashboard() {
    if !enabled("an_analysis_shows_in_logs_prometheus_and_the_course_dashboard") {
        return;
    }
    let (p, _) = deployment("grafana", true, true);
    p.compose(&["up", "-d"]).unwrap();
    let api = port(&p, "api", 8228);
    let prom = port(&p, "prometheus", 9090);
    let grafana = port(&p, "grafana", 3000);
    let admin = Some(("admin", "foobar"));
    wait_until("the Anchore API", Duration::from_secs(60), || {
        json_get(&format!("{api}/v2/status"), admin)
    })
    .unwrap();

    // An image whose analysis takes 3 s.
    let add = json!({"source": {"tag": {"pull_string": "docker.io/library/postgres:latest"}}, "annotations": {"standin.analysis_seconds": "3"}});
    let (status, body) = http(
        "POST",
        &format!("{api}/v2/images"),
        admin,
        Some(&add.to_string()),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let added: Value = serde_json::from_str(&body).unwrap();
    let image = if added.is_array() {
        added[0].clone()
    } else {
        added
    };
    let digest = image["image_digest"].as_str().unwrap().to_string();
    wait_until("the analysis", Duration::from_secs(60), || {
        let doc = json_get(&format!("{api}/v2/images/{digest}"), admin)?;
        let doc = if doc.is_array() { doc[0].clone() } else { doc };
        match doc["analysis_status"].as_str() {
            Some("analyzed") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap();

    // The logs say how long it took; so does Prometheus, within a second.
    let out = Command::new(lab_binary())
        .args([
            "trace",
            "postgres:latest",
            "--format",
            "json",
            "--project",
            &p.name,
            "--workspace",
        ])
        .arg(&p.dir)
        .args(["--prometheus-url", &prom])
        .output()
        .unwrap();
    let trace: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let from_logs = trace["analyses"][0]["duration"].as_f64().unwrap();
    let query =
        "sum(anchore_analysis_time_seconds_sum)%20%2F%20sum(anchore_analysis_time_seconds_count)";
    let from_prometheus = wait_until(
        "the analysis time in Prometheus",
        Duration::from_secs(30),
        || {
            let doc = json_get(&format!("{prom}/api/v1/query?query={query}"), None)?;
            doc["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| doc.to_string())
        },
    )
    .unwrap();
    assert!((from_logs - 3.0).abs() < 1.0, "logs say {from_logs}s");
    assert!(
        (from_prometheus - from_logs).abs() < 1.0,
        "Prometheus {from_prometheus}s vs logs {from_logs}s"
    );

    // Grafana: the data source the course adds, then the course's dashboard.
    let gauth = Some(("admin", "admin"));
    wait_until("Grafana", Duration::from_secs(60), || {
        json_get(&format!("{grafana}/api/health"), None)
    })
    .unwrap();
    let ds = json!({"name": "prometheus", "type": "prometheus", "url": "http://prometheus:9090", "access": "proxy", "isDefault": true});
    let (status, body) = http(
        "POST",
        &format!("{grafana}/api/datasources"),
        gauth,
        Some(&ds.to_string()),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let uid = serde_json::from_str::<Value>(&body).unwrap()["datasource"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let dashboard: Value =
        serde_json::from_str(&reference("grafana/grafana_dashboard_enterprise.json")).unwrap();
    let import = json!({"dashboard": dashboard, "overwrite": true, "folderUid": "", "inputs": [
        {"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus", "value": uid},
        {"name": "VAR_ANALYSIS_HISTORY_WINDOW", "type": "constant", "value": "3h"},
    ]});
    let (status, body) = http(
        "POST",
        &format!("{grafana}/api/dashboards/import"),
        gauth,
        Some(&import.to_string()),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");

    let report = lab_check(
        &p,
        "      - {id: ds, description: the Prometheus data source answers, kind: grafana_datasource, type: prometheus, url: \"http://prometheus:9090\"}\n      - id: panels\n        description: the course dashboard's panels have data\n        kind: grafana_dashboard\n        title: Anchore Enterprise\n        panels_with_data: [\"Analyzer: Status\", \"Analysis: Image Analysis Times (Centralized)\", \"Memory: Process RSS\", \"CPU Usage\", \"API: API Workload\"]\n        timeout: 20s\n        eventually: {within: 60s, every: 2s}\n      - {id: image, description: postgres is analyzed, kind: anchore_image, tag: \"postgres:latest\"}\n",
        &[("--prometheus-url", &prom), ("--grafana-url", &grafana), ("--anchore-url", &api)],
    );
    assert_passed(&report);
}

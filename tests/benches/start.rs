//! Benchmark of `lab start` against compose alone, on the same stack (it prints figures):
//!
//!     cargo bench --bench start
//!
//! The stack is the course's deployment (`labs/deployment/docker-compose.yaml`, 11
//! services) on the bench's stand-ins, its published ports moved to free loopback
//! ports. Each round, in one run and alternating so that the machine's load falls on
//! all alike, times from nothing to:
//!
//! - `docker compose up -d` returning (containers started, not yet healthy);
//! - `docker compose up -d --wait` returning (every service running and healthy);
//! - `lab start 1 --skip-doctor` returning, for a lab whose setup is one `compose_up`
//!   (ports checked, images checked, `up -d`, every service ready, state saved).
//!
//! and, on the same stack with every healthcheck disabled (so that ready means
//! running, and `lab start` has nothing to wait for beyond what `up -d` does), from
//! nothing to `docker compose up -d` returning and to `lab start` returning: the
//! difference is `lab`'s own overhead.
//!
//! Every project is taken down with its volumes after each run (not timed). Median of
//! 5 rounds each; the ratios are medians over medians. Honours `LAB_COMPOSE`.

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;

fn compose_cmd() -> (&'static str, Vec<&'static str>) {
    match std::env::var("LAB_COMPOSE").as_deref() {
        Ok("v1") => ("docker-compose", vec![]),
        _ => ("docker", vec!["compose"]),
    }
}

/// Removes a project with its volumes, however the run ends.
struct Down<'a> {
    dir: &'a Path,
    project: String,
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let (program, pre) = compose_cmd();
        let _ = Command::new(program)
            .args(pre)
            .args(["-p", &self.project, "-f", "docker-compose.yaml"])
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .current_dir(self.dir)
            .output();
    }
}

fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("runs");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn main() {
    if !support::docker(&["info"]).status.success() {
        eprintln!("the start benchmark needs a Docker engine that answers `docker info`");
        std::process::exit(1);
    }
    if !support::docker(&["image", "inspect", "anchore/enterprise:v5.17.0"])
        .status
        .success()
    {
        eprintln!(
            "the bench images are missing: cargo run -p lab-standins --bin lab-bench -- build"
        );
        std::process::exit(1);
    }
    let template =
        std::fs::read_to_string(support::repo().join("labs/deployment/docker-compose.yaml"))
            .unwrap();
    let stack = support::loopback_ports(&template);
    // The same stack without healthchecks, as JSON (which compose reads as YAML).
    let mut doc = lab::loader::yaml_value(&stack).unwrap();
    for (_, svc) in doc["services"].as_object_mut().unwrap() {
        svc["healthcheck"] = serde_json::json!({"disable": true});
        // `condition: service_healthy` needs a healthcheck: plain order instead.
        if let Some(deps) = svc["depends_on"].as_object() {
            svc["depends_on"] = deps.keys().cloned().collect();
        }
    }
    let no_healthchecks = serde_json::to_string_pretty(&doc).unwrap();
    let root = support::TempDir::new("bench-start");
    let labs = root.path().join("labs/01-up");
    std::fs::create_dir_all(&labs).unwrap();
    std::fs::write(labs.join("README.md"), "# Up\n").unwrap();
    std::fs::write(
        labs.join("lab.yaml"),
        "number: 1\nslug: up\ntitle: Up\nsummary: s\nsetup:\n  - action: compose_up\n    timeout: 2m\nexercises:\n  - id: e\n    title: E\n    checks:\n      - id: f\n        description: f\n        kind: file\n        path: docker-compose.yaml\n",
    )
    .unwrap();
    let (program, pre) = compose_cmd();
    let (mut up, mut wait, mut lab) = (vec![], vec![], vec![]);
    let (mut up_bare, mut lab_bare) = (vec![], vec![]);
    for round in 0..ROUNDS {
        for which in ["up", "wait", "lab", "up-bare", "lab-bare"] {
            if which == "wait" && program == "docker-compose" {
                continue; // v1 has no --wait
            }
            let dir = root.path().join(format!("{which}-{round}"));
            std::fs::create_dir_all(&dir).unwrap();
            let text = if which.ends_with("-bare") {
                &no_healthchecks
            } else {
                &stack
            };
            std::fs::write(dir.join("docker-compose.yaml"), text).unwrap();
            std::fs::write(dir.join("license.yaml"), "# stand-in\n").unwrap();
            let project = support::unique("labtest-env-bench");
            let down = Down {
                dir: &dir,
                project: project.clone(),
            };
            let took = match which {
                "lab" | "lab-bare" => {
                    let r = support::run(
                        support::lab()
                            .args(["init", "--adopt"])
                            .arg(&dir)
                            .args(["--project", &project]),
                    );
                    assert_eq!(r.code, 0, "{}", r.stderr);
                    timed(
                        support::lab()
                            .arg("--labs-dir")
                            .arg(root.path().join("labs"))
                            .args(["start", "1", "--skip-doctor", "--workspace"])
                            .arg(&dir),
                    )
                }
                _ => {
                    let mut c = Command::new(program);
                    c.args(&pre)
                        .args(["-p", &project, "-f", "docker-compose.yaml", "up", "-d"])
                        .current_dir(&dir);
                    if which == "wait" {
                        c.arg("--wait");
                    }
                    timed(&mut c)
                }
            };
            eprintln!("round {}: {which:<8} {took:?}", round + 1);
            match which {
                "up" => up.push(took),
                "wait" => wait.push(took),
                "lab" => lab.push(took),
                "up-bare" => up_bare.push(took),
                _ => lab_bare.push(took),
            }
            drop(down);
        }
    }
    if wait.is_empty() {
        wait = up.clone();
    }
    let (u, w, l) = (median(&up), median(&wait), median(&lab));
    println!(
        "11-service stack, median of {ROUNDS} ({program} {}):",
        pre.join(" ")
    );
    println!("  docker compose up -d         {u:?}");
    println!("  docker compose up -d --wait  {w:?}");
    println!("  lab start                    {l:?}");
    println!(
        "  lab start / up -d --wait = {:.3}; lab start / up -d = {:.3}",
        l.as_secs_f64() / w.as_secs_f64(),
        l.as_secs_f64() / u.as_secs_f64()
    );
    let (ub, lb) = (median(&up_bare), median(&lab_bare));
    println!("the same stack without healthchecks:");
    println!("  docker compose up -d         {ub:?}");
    println!("  lab start                    {lb:?}");
    println!(
        "  lab start / up -d = {:.3} (budget 1.10)",
        lb.as_secs_f64() / ub.as_secs_f64()
    );
}

//! Benchmark of `lab::engine::compose::wait_ready` against the real engine (it prints figures):
//!
//!     cargo bench --bench compose
//!
//! The time from a service turning healthy (the end of its first passing probe, from
//! `docker inspect`) to `wait_ready` returning; median of 5 runs, budget 1 s. Each run
//! starts a fresh one-service project with the compose `detect()` picks (honours
//! `LAB_COMPOSE`) and the local test image, and removes it with `down -v`.

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

use lab::engine::compose::{self, Compose, ServiceState};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const RUNS: usize = 5;

/// Removes the project however the run ends.
struct Down(Compose);

impl Drop for Down {
    fn drop(&mut self) {
        let c = &self.0;
        let (program, pre): (&str, &[&str]) = match c.flavor {
            compose::Flavor::V2 => ("docker", &["compose"]),
            compose::Flavor::V1 => ("docker-compose", &[]),
        };
        let _ = Command::new(program)
            .args(pre)
            .args(["-p", &c.project, "-f", "docker-compose.yaml"])
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .current_dir(&c.workdir)
            .output();
    }
}

/// The end of the first passing probe after a failing one, as Unix time.
fn turned_healthy_at(container: &str) -> SystemTime {
    let log = support::docker_ok(&[
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
    let i = probes
        .iter()
        .position(|(_, code)| *code == 0)
        .unwrap_or_else(|| panic!("no passing probe in {log}"));
    assert!(i > 0, "the probe log lost the change to healthy: {log}");
    UNIX_EPOCH + Duration::from_nanos(probes[i].0)
}

fn main() {
    if !support::docker(&["info"]).status.success() {
        eprintln!("the compose benchmark needs a Docker engine that answers `docker info`");
        std::process::exit(1);
    }
    support::ensure_image();
    let file = format!(
        r#"services:
  web:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; echo > /ready; sleep 600 & wait"]
    healthcheck:
      test: ["CMD", "sh", "-c", "test -f /ready"]
      interval: 500ms
      timeout: 2s
      retries: 30
"#,
        image = support::IMAGE
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (installed, gaps) = rt.block_on(async {
        let installed = compose::detect().await.unwrap_or_else(|e| panic!("{e}"));
        let docker = lab::engine::docker::connect().await.unwrap();
        let mut gaps = Vec::new();
        for _ in 0..RUNS {
            let dir = support::TempDir::new("bench-compose");
            std::fs::write(dir.path().join("docker-compose.yaml"), &file).unwrap();
            let c = Compose::new(
                installed.flavor,
                support::unique("labt-bench"),
                vec!["docker-compose.yaml".into()],
                dir.path(),
            );
            let down = Down(c.clone());
            c.up(&[]).await.unwrap_or_else(|e| panic!("{e}"));
            let t = Instant::now();
            let states =
                compose::wait_ready(&docker, &c.project, &[], Duration::from_secs(60), |_, _| {})
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            let returned = SystemTime::now();
            assert_eq!(states["web"], ServiceState::Healthy);
            let id = support::docker_ok(&[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={}", c.project),
            ]);
            let gap = returned
                .duration_since(turned_healthy_at(&id))
                .expect("wait_ready returned after the service turned healthy");
            eprintln!(
                "run {}: {gap:?} after healthy (waited {:?})",
                gaps.len() + 1,
                t.elapsed()
            );
            gaps.push(gap);
            drop(down);
        }
        (installed, gaps)
    });
    let mut sorted = gaps.clone();
    sorted.sort();
    println!(
        "wait_ready noticed healthy: median {:?}, min {:?}, max {:?} over {RUNS} runs ({installed}; budget 1 s)",
        sorted[RUNS / 2],
        sorted[0],
        sorted[RUNS - 1]
    );
}

//! Benchmark of `lab check N` on a ready environment, on the bench (it prints figures):
//!
//!     cargo build --workspace --release && cargo bench --bench check
//!
//! Brings an environment to the end of lab 4 (`lab start 4` on a fresh folder runs
//! labs 1-3's solutions, then `lab solve 4`), then for each lab runs the release
//! `lab check N --format json` 10 times and reports the median wall time of the whole
//! process, the time of all the lab's checks inside it (the report's `duration_ms`), the
//! slowest single check (its `duration`), and the ratio of the last two. Budgets: under
//! 1 s, and at most 1.2 times the slowest check.
//!
//! It uses the course's fixed ports (8228, 9090, 3001): run it alone on the engine.
//! The stand-ins' `anchorectl` must be on PATH (`target/debug`, from the build above).

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 10;

fn lab_bin() -> PathBuf {
    support::repo().join("target/release/lab")
}

fn lab(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(lab_bin())
        .args(args)
        .args(["--workspace", dir.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .expect("the release lab binary runs (cargo build --release first)")
}

/// Takes the environment down however the benchmark ends.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["compose", "-p", "lab-bench-check", "down", "-v", "-t", "1"])
            .current_dir(&self.0)
            .output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("lab-bench-check-{}", std::process::id()));
    let _down = Down(dir.clone());
    let init = Command::new(lab_bin())
        .args(["init", "--workspace", dir.to_str().unwrap()])
        .args(["--project", "lab-bench-check"])
        .output()
        .expect("lab init runs");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let t = Instant::now();
    for step in [&["start", "4", "--skip-doctor"][..], &["solve", "4"]] {
        let out = lab(&dir, step);
        assert!(
            out.status.success(),
            "lab {step:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("environment ready (labs 1-4 solved) in {:.1?}", t.elapsed());
    println!("lab | checks | median wall | all checks in-process | slowest check | in-process / slowest | worst wall");
    for n in ["1", "2", "3", "4"] {
        let mut walls = Vec::new();
        let mut slowest = Vec::new();
        let mut inside = Vec::new();
        let mut checks = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let out = lab(&dir, &["check", n, "--format", "json"]);
            walls.push(t.elapsed());
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                    panic!(
                        "lab check {n}: {e}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    )
                });
            let list = report["checks"].as_array().expect("checks");
            checks = list.len();
            let failed: Vec<_> = list
                .iter()
                .filter(|c| !matches!(c["status"].as_str(), Some("passed" | "pending")))
                .map(|c| c["id"].to_string())
                .collect();
            // Lab 1's answers are judged from the analyzer's logs, which lab 2's
            // recreate of the analyzer starts afresh: they fail (fast) here.
            if !failed.is_empty() && walls.len() == 1 {
                println!("lab {n}: not passing at the end of lab 4: {failed:?}");
            }
            let max = list
                .iter()
                .filter_map(|c| c["duration"].as_u64())
                .max()
                .unwrap_or(0);
            slowest.push(Duration::from_millis(max));
            inside.push(Duration::from_millis(
                report["duration_ms"].as_u64().unwrap_or(0),
            ));
        }
        let worst = *walls.iter().max().unwrap();
        let (w, s, i) = (median(walls), median(slowest), median(inside));
        println!(
            "{n} | {checks} | {w:.1?} | {i:.1?} | {s:.1?} | {:.2} | {worst:.1?}",
            i.as_secs_f64() / s.as_secs_f64().max(0.001)
        );
    }
}

//! Benchmarks of the engine and of start-up (not timed tests: they print figures).
//!
//!     cargo bench --bench engine
//!
//! 1. 50 `http` checks against loopback servers that each answer after 100 ms: the
//!    wall time of the whole run (budget: under 300 ms, i.e. concurrency, not sequence).
//! 2. The engine's own overhead per check: 2,000 `file` checks run one at a time; the
//!    wall time minus the time spent inside the probes, divided by the count (budget: 1 ms).
//! 3. `lab list` and `lab validate` as processes, from start to exit (budget: 30 ms).

use lab::model::check::{Auth, CheckSpec, FileCheck, HttpCheck};
use lab::model::Check;
use lab::probe::{Endpoint, Target};
use lab::runner::{self, Options, Plan, Planned, Resources, Status};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn check(id: usize, spec: CheckSpec) -> Planned {
    Planned {
        exercise: "bench".into(),
        check: Check {
            id: format!("c{id}"),
            description: format!("check {id}"),
            timeout: Some(lab::model::Dur(Duration::from_secs(5))),
            eventually: None,
            needs: vec![],
            points: 1,
            hint: None,
            causes: Default::default(),
            max_body: None,
            spec,
        },
    }
}

/// A loopback HTTP server that answers every request with 200 after `delay`.
async fn slow_server(delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            tokio::time::sleep(delay).await;
                            let body = "ok";
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if sock.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn target(dir: &std::path::Path) -> Target {
    Target {
        workdir: dir.to_path_buf(),
        compose_file: dir.join("docker-compose.yaml"),
        project: "bench".into(),
        anchore: Endpoint::new("http://127.0.0.1:9", "admin", ""),
        prometheus: Endpoint::new("http://127.0.0.1:9", "", ""),
        grafana: Endpoint::new("http://127.0.0.1:9", "admin", ""),
        answers: Default::default(),
        moved_ports: Default::default(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("lab-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f.txt"), "x").unwrap();

    // 1. Fifty slow HTTP checks.
    let runs: Vec<Duration> = rt.block_on(async {
        let url = slow_server(Duration::from_millis(100)).await;
        let plan = Plan {
            lab_id: "bench".into(),
            lab_title: "bench".into(),
            checks: (0..50)
                .map(|i| {
                    check(
                        i,
                        CheckSpec::Http(HttpCheck {
                            url: format!("{url}/{i}"),
                            auth: Auth::None,
                            status: 200,
                            body: None,
                            json: None,
                        }),
                    )
                })
                .collect(),
        };
        let res = Resources::new(target(&dir), Err("unused".into()));
        let mut times = Vec::new();
        for _ in 0..15 {
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let t = Instant::now();
            let results = runner::run(&plan, &res, Options::default(), tx).await;
            times.push(t.elapsed());
            assert!(
                results.iter().all(|r| r.status == Status::Passed),
                "{:?}",
                results.iter().find(|r| r.status != Status::Passed)
            );
        }
        times
    });
    println!(
        "50 http checks, each answered after 100 ms: median {:?}, min {:?}, max {:?} over {} runs (budget 300 ms)",
        median(runs.clone()),
        runs.iter().min().unwrap(),
        runs.iter().max().unwrap(),
        runs.len()
    );

    // 2. Engine overhead per check.
    let n = 2000;
    let (wall, inside) = rt.block_on(async {
        let plan = Plan {
            lab_id: "bench".into(),
            lab_title: "bench".into(),
            checks: (0..n)
                .map(|i| {
                    check(
                        i,
                        CheckSpec::File(FileCheck {
                            path: "f.txt".into(),
                            exists: true,
                            contains: None,
                            yaml: None,
                            json: None,
                        }),
                    )
                })
                .collect(),
        };
        let res = Resources::new(target(&dir), Err("unused".into()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let t = Instant::now();
        let results = runner::run(&plan, &res, Options { concurrency: 1 }, tx).await;
        let wall = t.elapsed();
        drain.await.unwrap();
        let inside: Duration = results.iter().map(|r| r.duration).sum();
        (wall, inside)
    });
    println!(
        "engine overhead: {:?} per check ({n} file checks one at a time: wall {wall:?}, inside probes {inside:?}; budget 1 ms)",
        wall.saturating_sub(inside) / n as u32
    );

    // 3. Start-up of the commands authors and trainees type first.
    let exe = env!("CARGO_BIN_EXE_lab");
    for args in [&["list"][..], &["validate"][..]] {
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let out = Command::new(exe)
                .args(args)
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            times.push(t.elapsed());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        println!(
            "lab {}: median {:?}, max {:?} over 30 runs (budget 30 ms)",
            args.join(" "),
            median(times.clone()),
            times.iter().max().unwrap()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

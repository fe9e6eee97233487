//! Benchmark of `lab grade` on the bench (it prints figures; not a timed test):
//!
//!     cargo bench --bench grade
//!
//! Twenty real compose projects (one `app` container each, the local test image),
//! each with its own work folder and answers, graded on the fixture labs
//! (`tests/fixtures/grade-labs`: container, compose, Prometheus, HTTP and answer
//! checks). Prometheus and Grafana are played by loopback servers in this process
//! that answer after 50 ms, like a server across a network. The same binary grades
//! a roster of one and a roster of all twenty, alternately, RUNS times each; the
//! ratio of the medians is the figure (budget 2.0). Peak memory is the `lab grade`
//! child's own high-water mark (`ru_maxrss` from wait4, which is its VmHWM), on
//! twenty environments (budget 60 MB). Projects are `labtest-grade-bench-…` and are
//! taken down (`down -v`) however the run ends.

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ENVS: usize = 20;
const RUNS: usize = 7;
const DELAY: Duration = Duration::from_millis(50);

fn compose(dir: &Path, project: &str, args: &[&str]) -> std::process::Output {
    let v2 = support::docker(&["compose", "version"]).status.success();
    let mut c = if v2 {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new("docker-compose")
    };
    c.args(["-p", project, "-f", "docker-compose.yaml"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("compose runs")
}

/// The projects, taken down however the run ends.
struct Projects(Vec<(String, PathBuf)>);

impl Drop for Projects {
    fn drop(&mut self) {
        std::thread::scope(|s| {
            for (p, d) in &self.0 {
                s.spawn(move || compose(d, p, &["down", "-v", "--remove-orphans", "-t", "1"]));
            }
        });
    }
}

fn serve(body: &'static str, status: u16) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || answer(s, body, status));
        }
    });
    url
}

fn answer(mut s: TcpStream, body: &str, status: u16) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    loop {
        let mut l = String::new();
        match r.read_line(&mut l) {
            Ok(0) | Err(_) => return,
            Ok(_) if l == "\r\n" => break,
            Ok(_) => {}
        }
    }
    std::thread::sleep(DELAY);
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Runs `lab grade` on a roster; its wall time and its peak resident memory (KiB).
#[expect(
    clippy::zombie_processes,
    reason = "wait4 reaps the child, to read its rusage"
)]
fn grade(roster: &Path, jobs: usize) -> (Duration, u64, String) {
    let started = Instant::now();
    let mut child = support::lab()
        .env(
            "LAB_LABS_DIR",
            support::repo().join("tests/fixtures/grade-labs"),
        )
        .env("CI", "1")
        .args([
            "grade",
            "--format",
            "csv",
            "--jobs",
            &jobs.to_string(),
            "--roster",
        ])
        .arg(roster)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lab runs");
    let mut out = String::new();
    let mut stdout = child.stdout.take().expect("stdout is piped");
    std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 writes only into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: `pid` is our own child, not yet waited for; the pointers are valid.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    (started.elapsed(), usage.ru_maxrss as u64, out)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if !support::engine_answers() {
        eprintln!("grade benchmark: needs a Docker engine, which does not answer; skipped");
        return;
    }
    support::ensure_image();
    let tmp = support::TempDir::new("grade-bench");
    let compose_file = format!(
        "services:\n  app:\n    image: {}\n    command: [sleep, \"3600\"]\n    environment:\n      METRICS: \"on\"\n",
        support::IMAGE
    );
    let mut projects = Projects(Vec::new());
    for i in 0..ENVS {
        let dir = tmp.path().join(format!("t{i:02}"));
        std::fs::create_dir_all(dir.join(".lab")).unwrap();
        std::fs::write(dir.join("docker-compose.yaml"), &compose_file).unwrap();
        std::fs::write(
            dir.join(".lab/answers.json"),
            r#"{"job-name": "app", "graph": "a flat line at 1"}"#,
        )
        .unwrap();
        projects
            .0
            .push((support::unique(&format!("labtest-grade-bench-{i:02}")), dir));
    }
    let up = Instant::now();
    std::thread::scope(|s| {
        for (p, d) in &projects.0 {
            s.spawn(move || {
                let out = compose(d, p, &["up", "-d"]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            });
        }
    });
    eprintln!("{ENVS} projects up in {:.1?}", up.elapsed());

    let prom = serve(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"app"},"value":[1700000000,"1"]}]}}"#,
        200,
    );
    let grafana = serve(r#"{"database":"ok"}"#, 200);
    let roster = |n: usize| {
        let mut y = String::from("trainees:\n");
        for (i, (p, d)) in projects.0.iter().take(n).enumerate() {
            y.push_str(&format!(
                "  - name: t{i:02}\n    project: {p}\n    workdir: {}\n    prometheus: {{url: \"{prom}\"}}\n    grafana: {{url: \"{grafana}\"}}\n",
                d.display()
            ));
        }
        let f = tmp.path().join(format!("roster-{n}.yaml"));
        std::fs::write(&f, y).unwrap();
        f
    };
    let (one, all) = (roster(1), roster(ENVS));

    // Warm up: the binary's pages and the engine's caches.
    let (_, _, csv) = grade(&all, ENVS);
    assert_eq!(csv.lines().count(), ENVS + 1, "{csv}");
    assert!(
        csv.lines().skip(1).all(|l| l.contains(",8,10,")),
        "every environment should score 8/10 (the free-text answer waits for the instructor):\n{csv}"
    );

    // All twenty at once (`--jobs 20`; the default, 32, does the same), and with a
    // bound of 8 (three waves), to show what the bound costs.
    let (mut t1, mut t20, mut t20d, mut peak) = (Vec::new(), Vec::new(), Vec::new(), 0u64);
    for _ in 0..RUNS {
        t1.push(grade(&one, ENVS).0);
        let (t, rss, _) = grade(&all, ENVS);
        t20.push(t);
        peak = peak.max(rss);
        let (t, rss, _) = grade(&all, 8);
        t20d.push(t);
        peak = peak.max(rss);
    }
    let show = |what: &str, t: &[Duration]| {
        println!(
            "{what:<36} median {:.0?} (min {:.0?}, max {:.0?}; {RUNS} runs)",
            median(t.to_vec()),
            t.iter().min().unwrap(),
            t.iter().max().unwrap()
        );
    };
    show("grade 1 environment:", &t1);
    show(&format!("grade {ENVS} environments, --jobs {ENVS}:"), &t20);
    show(&format!("grade {ENVS} environments, --jobs 8:"), &t20d);
    let m1 = median(t1).as_secs_f64();
    let ratio = median(t20).as_secs_f64() / m1;
    let ratio_d = median(t20d).as_secs_f64() / m1;
    println!(
        "ratio {ENVS} at once / 1: {ratio:.2} (budget 2.0): {}",
        if ratio <= 2.0 { "ok" } else { "OVER" }
    );
    println!("ratio {ENVS} with --jobs 8 / 1: {ratio_d:.2}");
    println!(
        "peak memory of `lab grade` on {ENVS} environments: {:.1} MB (VmHWM; budget 60 MB): {}",
        peak as f64 / 1024.0,
        if peak < 60 * 1024 { "ok" } else { "OVER" }
    );
}

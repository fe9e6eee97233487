//! Benchmark of `lab grade --serve` watching a class (it prints figures; not a timed
//! test):
//!
//!     cargo bench --bench watch
//!
//! A hundred environments, each with its own work folder and answers, graded on the
//! fixture lab 2 (`tests/fixtures/grade-labs/02-answers`: Grafana's health over HTTP
//! and two answers), their Grafana played by a loopback server of this process that
//! answers after 50 ms, like a server across a network. No Docker is needed.
//!
//! - Rounds: a watch of one environment and a watch of the hundred (`--jobs 100`),
//!   each `--every 1s` for ROUNDS rounds; the figure is the ratio of the medians of
//!   `lab_grade_round_duration_seconds` (the round's own time, read from /metrics;
//!   budget 2.0).
//! - CPU between rounds: the hundred watched `--every 15s`; after the first round,
//!   the process's user+system time (/proc/PID/stat) over 10 s with no round running
//!   (budget 5% of one core).
//! - Memory: the watch's high-water mark (VmHWM in /proc/PID/status) after every round
//!   and request above (budget 100 MB).
//! - /metrics: GETS requests, each on a new connection, timed from connect to the
//!   last byte (budget 10 ms).

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ENVS: usize = 100;
const ROUNDS: usize = 10;
const GETS: usize = 200;
const DELAY: Duration = Duration::from_millis(50);

fn grafana() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
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
                std::thread::sleep(DELAY);
                let body = r#"{"database":"ok","version":"11.0.0"}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

struct Watch {
    child: Child,
    addr: String,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn watch(roster: &Path, every: &str) -> Watch {
    let mut child = support::lab()
        .env(
            "LAB_LABS_DIR",
            support::repo().join("tests/fixtures/grade-labs"),
        )
        .env("CI", "1")
        .args(["grade", "2", "--serve", "127.0.0.1:0", "--every", every])
        .args(["--jobs", &ENVS.to_string(), "--roster"])
        .arg(roster)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lab runs");
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let addr = loop {
        let line = lines.next().expect("lab printed where it serves").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Watch { child, addr }
}

/// GET /metrics on a new connection: the body and the time from connect to the last byte.
fn metrics(addr: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let took = started.elapsed();
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (body, took)
}

fn value(m: &str, name: &str) -> Option<f64> {
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The round durations of rounds 2..=ROUNDS+1 (the first warms the caches).
fn round_times(w: &Watch) -> Vec<Duration> {
    let mut seen = 0.0;
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(60 + 2 * ROUNDS as u64);
    while out.len() < ROUNDS {
        assert!(Instant::now() < end, "the rounds did not come");
        let (m, _) = metrics(&w.addr);
        let round = value(&m, "lab_grade_rounds_total").unwrap_or(0.0);
        if round > seen {
            if round >= 2.0 {
                let t = value(&m, "lab_grade_round_duration_seconds").unwrap();
                out.push(Duration::from_secs_f64(t));
            }
            seen = round;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    out
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let tmp = support::TempDir::new("watch-bench");
    let url = grafana();
    let roster = |n: usize| {
        let mut y = String::from("trainees:\n");
        for i in 0..n {
            let d = tmp.path().join(format!("t{i:03}"));
            std::fs::create_dir_all(d.join(".lab")).unwrap();
            std::fs::write(
                d.join(".lab/answers.json"),
                r#"{"job-name": "app", "graph": "a flat line at 1"}"#,
            )
            .unwrap();
            y.push_str(&format!(
                "  - name: t{i:03}\n    project: p{i:03}\n    workdir: {}\n    grafana: {{url: \"{url}\"}}\n",
                d.display()
            ));
        }
        let f = tmp.path().join(format!("roster-{n}.yaml"));
        std::fs::write(&f, y).unwrap();
        f
    };
    let (one, all) = (roster(1), roster(ENVS));

    let one_w = watch(&one, "1s");
    let t1 = round_times(&one_w);
    drop(one_w);
    let all_w = watch(&all, "1s");
    let t100 = round_times(&all_w);
    let pid = all_w.child.id();
    let (m, _) = metrics(&all_w.addr);
    let trainees = m.lines().filter(|l| l.starts_with("lab_points{")).count();
    assert_eq!(trainees, ENVS, "every environment is in /metrics");
    assert!(
        m.lines()
            .filter(|l| l.starts_with("lab_points{"))
            .all(|l| l.ends_with(" 2")),
        "every environment scores 2/4 (the free-text answer waits for the instructor)"
    );

    let mut gets = Vec::new();
    let mut bytes = 0;
    for _ in 0..GETS {
        let (body, t) = metrics(&all_w.addr);
        bytes = body.len();
        gets.push(t);
    }
    let hwm_rounds = vm_hwm_kb(pid);
    drop(all_w);

    // Between rounds: --every 15s, measured from 1 s after the first round to 11 s.
    let idle = watch(&all, "15s");
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (m, _) = metrics(&idle.addr);
        if value(&m, "lab_grade_rounds_total").unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(Instant::now() < end, "no first round");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let ipid = idle.child.id();
    let before = cpu_ticks(ipid);
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let ticks = cpu_ticks(ipid) - before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = ticks as f64 / hz / window.as_secs_f64() * 100.0;
    let (m, _) = metrics(&idle.addr);
    assert_eq!(
        value(&m, "lab_grade_rounds_total"),
        Some(1.0),
        "no round ran in the window"
    );
    let hwm = hwm_rounds.max(vm_hwm_kb(ipid));
    drop(idle);

    let show = |what: &str, t: &[Duration]| {
        println!(
            "{what:<44} median {:.1?} (min {:.1?}, max {:.1?}; {} rounds)",
            median(t.to_vec()),
            t.iter().min().unwrap(),
            t.iter().max().unwrap(),
            t.len()
        );
    };
    show("round, 1 environment:", &t1);
    show(
        &format!("round, {ENVS} environments (--jobs {ENVS}):"),
        &t100,
    );
    let ratio = median(t100).as_secs_f64() / median(t1).as_secs_f64();
    let ok = |b: bool| if b { "ok" } else { "OVER" };
    println!(
        "ratio {ENVS} / 1: {ratio:.2} (budget 2.0): {}",
        ok(ratio <= 2.0)
    );
    println!(
        "CPU between rounds (--every 15s, {ENVS} environments, 10 s window): {cpu:.2}% of one core (budget 5%): {}",
        ok(cpu < 5.0)
    );
    println!(
        "peak memory (VmHWM) watching {ENVS} environments: {:.1} MB (budget 100 MB): {}",
        hwm as f64 / 1024.0,
        ok(hwm < 100 * 1024)
    );
    let g = median(gets.clone());
    let max = *gets.iter().max().unwrap();
    let mut sorted = gets.clone();
    sorted.sort();
    let p99 = sorted[sorted.len() * 99 / 100];
    println!(
        "/metrics ({bytes} bytes, {ENVS} environments), new connection each: median {g:.2?}, p99 {p99:.2?}, max {max:.2?} ({GETS} requests; budget 10 ms): {}",
        ok(p99 < Duration::from_millis(10))
    );
}

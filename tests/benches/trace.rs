//! Benchmark of `lab trace` on a support bundle's logs (it prints figures):
//!
//!     cargo build --release && cargo bench --bench trace
//!
//! Generates a 500 MB analyzer log (three analyzers interleaved in one file, thread
//! names reused, every tenth analysis of one of them failing, 12 lines of other
//! messages per analysis: tests/common/analyzer_logs.rs), reads it once to have it in
//! the page cache, then runs, alternately and `RUNS` times each, `grep -c "analysis
//! complete"` and the release `lab trace --log FILE --format csv` (the full list of
//! analyses) and reports the median wall times and their ratio (budget: 2x). Then:
//! the same log as a `.tar.gz` bundle, `zcat | grep -c` against `lab trace --log
//! bundle.tar.gz` (budget: 1.5x); and the peak RSS of `lab trace` (getrusage of the
//! child) on the 500 MB file, on a 5 GB log file (written to the temporary folder
//! when it has room, removed at once) and on 5 GB of generated log piped to `--log -`
//! (budget: 64 MB each). `LAB_BENCH_TRACE_MB` changes the 500; the files are removed
//! at the end.

#[path = "../common/analyzer_logs.rs"]
mod analyzer_logs;
#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

use analyzer_logs::{interleaved, Analyzer, SLOT};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn lab_bin() -> PathBuf {
    support::repo().join("target/release/lab")
}

/// One window of the log: three analyzers' analyses interleaved, seeds unique per window.
fn window(w: u64) -> String {
    let mut expect = Vec::new();
    let base = |a: Analyzer| Analyzer {
        analyses: 300,
        noise: 12,
        lag: a.lag + w as f64 * SLOT * 100.0,
        ..a
    };
    interleaved(
        &[
            base(Analyzer {
                seed: w * 10 + 1,
                ..Analyzer::default()
            }),
            base(Analyzer {
                seed: w * 10 + 2,
                lag: 30.0,
                failures: true,
                ..Analyzer::default()
            }),
            base(Analyzer {
                seed: w * 10 + 3,
                prefix: "analyzer-2  | ".into(),
                lag: 60.0,
                failures: true,
                ..Analyzer::default()
            }),
        ],
        &mut expect,
    )
}

/// Writes `bytes` of generated log to `out`.
fn generate(out: &mut dyn Write, bytes: u64) -> std::io::Result<()> {
    let mut written = 0u64;
    let mut w = 0;
    while written < bytes {
        let text = window(w);
        out.write_all(text.as_bytes())?;
        written += text.len() as u64;
        w += 1;
    }
    out.flush()
}

/// Wall time and peak RSS (KiB) of a command, its output written to a file. Not
/// /dev/null: GNU grep notices that its output goes nowhere and stops at the first
/// match (a 529 MB "baseline" of 45 ms in the first run of this benchmark).
fn measure(cmd: &mut Command) -> (Duration, i64) {
    let sink = std::env::temp_dir().join(format!("lab-bench-trace-out-{}", std::process::id()));
    let out = std::fs::File::create(&sink).expect("the output file");
    let start = Instant::now();
    let mut child = cmd.stdout(out).spawn().expect("the command runs");
    let status = wait_rss(&mut child);
    let took = start.elapsed();
    let _ = std::fs::remove_file(&sink);
    assert!(status.0, "{cmd:?} failed");
    (took, status.1)
}

/// Waits for a child; (success, peak RSS in KiB) from wait4's rusage.
fn wait_rss(child: &mut std::process::Child) -> (bool, i64) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: a plain system call on our own child's pid with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage.ru_maxrss,
    )
}

/// Bytes free for an unprivileged user on the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and an out-pointer to a zeroed struct.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    st.f_bavail.saturating_mul(st.f_frsize)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

fn lab_trace(args: &[&str]) -> Command {
    let mut c = Command::new(lab_bin());
    c.arg("trace").args(args).env("NO_COLOR", "1");
    c
}

/// Runs `a` and `b` alternately; prints and returns (median a, median b, ratio b/a).
fn compare(what: &str, a: &mut dyn FnMut() -> Command, b: &mut dyn FnMut() -> Command) -> f64 {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ta.push(measure(&mut a()).0);
        tb.push(measure(&mut b()).0);
    }
    let (ma, mb) = (median(ta), median(tb));
    let ratio = mb.as_secs_f64() / ma.as_secs_f64();
    println!("{what}: baseline {ma:.2?}, lab trace {mb:.2?}, ratio {ratio:.2}");
    ratio
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    assert!(lab_bin().exists(), "cargo build --release first");
    let mb: u64 = std::env::var("LAB_BENCH_TRACE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = std::env::temp_dir().join(format!("lab-bench-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let log = dir.join("analyzer.log");
    {
        let f = std::fs::File::create(&log).unwrap();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        generate(&mut w, mb << 20).unwrap();
    }
    let size = std::fs::metadata(&log).unwrap().len();
    let logs = log.to_str().unwrap().to_string();
    // Into the page cache, and the expected count.
    let grep = Command::new("grep")
        .args(["-c", "analysis complete", &logs])
        .output()
        .unwrap();
    let completes: u64 = String::from_utf8_lossy(&grep.stdout)
        .trim()
        .parse()
        .unwrap();
    let out = lab_trace(&["--log", &logs, "--format", "csv"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout)
        .matches(",complete,")
        .count() as u64;
    println!(
        "log: {:.0} MB, {} lines `analysis complete`, lab trace lists {} complete analyses",
        size as f64 / 1e6,
        completes,
        listed
    );
    assert_eq!(listed, completes, "every completed analysis is listed");

    let ratio = compare(
        "500 MB log, full list",
        &mut || {
            let mut c = Command::new("grep");
            c.args(["-c", "analysis complete", &logs]);
            c
        },
        &mut || lab_trace(&["--log", &logs, "--format", "csv"]),
    );
    let (_, rss) = measure(&mut lab_trace(&["--log", &logs, "--format", "csv"]));
    println!(
        "peak RSS, {:.0} MB log: {:.1} MB",
        size as f64 / 1e6,
        rss as f64 / 1024.0
    );
    let (_, rss_summary) = measure(&mut lab_trace(&["--log", &logs, "--summary"]));
    println!("peak RSS, --summary: {:.1} MB", rss_summary as f64 / 1024.0);

    // The same log as a support bundle.
    let bundle = dir.join("support-bundle.tar.gz");
    let made = sh(&format!(
        "cd {} && tar -cf - analyzer.log | gzip -1 > {}",
        dir.display(),
        bundle.display()
    ))
    .status()
    .unwrap();
    assert!(made.success());
    let bundles = bundle.to_str().unwrap().to_string();
    std::fs::remove_file(&log).unwrap();
    let tgz_ratio = compare(
        ".tar.gz bundle",
        &mut || sh(&format!("zcat {bundles} | grep -c 'analysis complete'")),
        &mut || lab_trace(&["--log", &bundles, "--format", "csv"]),
    );
    std::fs::remove_file(&bundle).unwrap();

    // 5 GB (ten times the log) as a file on disk, the way a bundle's log is read,
    // when the disk has room for it; removed at once.
    let big: u64 = mb * 10;
    let big_log = dir.join("analyzer-big.log");
    let free = free_bytes(&dir);
    let big_rss = if free > (big << 20) + (2 << 30) {
        {
            let f = std::fs::File::create(&big_log).unwrap();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            generate(&mut w, big << 20).unwrap();
        }
        let big_size = std::fs::metadata(&big_log).unwrap().len();
        let bigs = big_log.to_str().unwrap().to_string();
        let (took, rss) = measure(&mut lab_trace(&["--log", &bigs, "--format", "csv"]));
        std::fs::remove_file(&big_log).unwrap();
        println!(
            "peak RSS, {:.1} GB log file: {:.1} MB in {:.1?}",
            big_size as f64 / 1e9,
            rss as f64 / 1024.0,
            took
        );
        rss
    } else {
        println!(
            "{big} MB log file skipped: {:.1} GB free in {}",
            free as f64 / 1e9,
            dir.display()
        );
        0
    };
    // The same amount piped in, generated as it is read (standard input, one reader).
    let start = Instant::now();
    let mut child = lab_trace(&["--log", "-", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut stdin = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
        generate(&mut stdin, big << 20).unwrap();
    }
    let (ok, pipe_rss) = wait_rss(&mut child);
    assert!(ok);
    println!(
        "peak RSS, {} MB piped to --log - (generated as read): {:.1} MB in {:.1?}",
        big,
        pipe_rss as f64 / 1024.0,
        start.elapsed()
    );
    println!(
        "budgets: list {ratio:.2}x of grep (<= 2), bundle {tgz_ratio:.2}x of zcat | grep (<= 1.5), RSS {:.1} / {:.1} / {:.1} MB (< 64)",
        rss as f64 / 1024.0,
        big_rss as f64 / 1024.0,
        pipe_rss as f64 / 1024.0
    );
}

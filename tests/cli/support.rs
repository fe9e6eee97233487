//! What the integration tests share: the command builder (the built binary, a clean
//! environment: no colours, no CI spinners, no user lab folder, output captured), and
//! for the real-Docker tests the LAB_DOCKER_TESTS gate, the local test image, unique
//! names, temporary folders and a `docker inspect` poll.
//!
//! No registry is needed: a tiny image, `lab-test/busybox:1`, is made with
//! `docker import` from the host's static busybox (`apt-get install busybox-static`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `lab` with a predictable environment.
pub fn lab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lab"));
    c.env_remove("LAB_LABS_DIR")
        .env_remove("LAB_WORKDIR")
        .env_remove("LAB_PROJECT")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("LAB_SNAPSHOT_CACHE")
        .env("NO_COLOR", "1")
        .current_dir(repo());
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the lab binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A path relative to the repository, as tests print it.
#[allow(dead_code)]
pub fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

pub const IMAGE: &str = "lab-test/busybox:1";

/// Whether a real-Docker test goes on. Such a test is compiled as ignored unless an
/// engine answered when the crate was built (the `lab_docker` cfg, src/build.rs); once
/// it runs (or is asked for with `--include-ignored`) the engine must answer, else it
/// fails. LAB_DOCKER_TESTS=0 stops it at once (it says so on stderr).
pub fn enabled(test: &str) -> bool {
    if std::env::var("LAB_DOCKER_TESTS").as_deref() == Ok("0") {
        eprintln!("note: {test} stopped at once (LAB_DOCKER_TESTS=0)");
        return false;
    }
    let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        info.status.success(),
        "{test} needs a Docker engine, which does not answer `docker info`: {}",
        String::from_utf8_lossy(&info.stderr)
    );
    ensure_image();
    true
}

/// Whether a Docker engine answers (benchmarks skip without one; they say so).
#[allow(dead_code)]
pub fn engine_answers() -> bool {
    docker(&["info", "--format", "{{.ServerVersion}}"])
        .status
        .success()
}

pub fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs")
}

/// Runs docker and returns its stdout; any failure fails the test with docker's words.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The bench's images (`lab-bench/…` and the course's image names tagged onto them),
/// brought up to date once per test process by the `lab-bench` that `cargo test
/// --workspace` built beside `lab` (a no-op of about 2 s when they are current).
pub fn bench_images() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let r = BUILT.get_or_init(|| {
        let bench = Path::new(env!("CARGO_BIN_EXE_lab")).with_file_name("lab-bench");
        if !bench.is_file() {
            return Err(format!(
                "{} is not built: `cargo build -p lab-standins` (or run `cargo test --workspace`)",
                bench.display()
            ));
        }
        let out = Command::new(&bench)
            .arg("build")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bench.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{} build` failed: {}",
                bench.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    });
    if let Err(e) = r {
        panic!("the bench images: {e}");
    }
}

/// `lab-test/busybox:1`, imported once from /bin/busybox unless already present.
pub fn ensure_image() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let r = BUILT.get_or_init(|| {
        if docker(&["image", "inspect", IMAGE]).status.success() {
            return Ok(());
        }
        let busybox = Path::new("/bin/busybox");
        if !busybox.is_file() {
            return Err("no /bin/busybox to build lab-test/busybox:1 from: `apt-get install -y busybox-static`".into());
        }
        let dir = TempDir::new("image");
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
        std::fs::copy(busybox, bin.join("busybox")).map_err(|e| e.to_string())?;
        for tool in ["sh", "sleep", "env", "echo"] {
            std::os::unix::fs::symlink("busybox", bin.join(tool)).map_err(|e| e.to_string())?;
        }
        let tar = dir.path().join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(dir.path().join("rootfs"))
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .map_err(|e| format!("tar: {e}"))?;
        if !status.success() {
            return Err(format!("tar failed: {status}"));
        }
        let out = docker(&["import", &tar.to_string_lossy(), IMAGE]);
        if !out.status.success() {
            return Err(format!("docker import: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("cannot make {IMAGE}: {e}");
    }
}

/// A name no other test (or other run on this engine) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A folder removed when the test ends, however it ends (made and removed by the
/// `tempfile` crate); its name starts with `lab-test-{what}-`.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("lab-test-{what}-"))
            .tempdir()
            .expect("a temporary folder");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Polls `docker inspect` until the Go template gives `want`, or fails after `limit`.
pub fn wait_for(name: &str, template: &str, want: &str, limit: Duration) {
    let end = Instant::now() + limit;
    loop {
        let got = docker_ok(&["inspect", "-f", template, name]);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < end,
            "{name}: {template} is {got:?}, not {want:?}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `- "8228:8228"` -> `- "127.0.0.1::8228"`: every published port on a free loopback
/// port picked by the engine, so a test never holds one of the course's fixed ports.
#[allow(dead_code)]
pub fn loopback_ports(text: &str) -> String {
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

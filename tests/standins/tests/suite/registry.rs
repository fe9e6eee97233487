//! The bench registry: Debian's docker-registry in a local image, on loopback, with
//! htpasswd auth, seeded with a bench image. `lab doctor` is run against it for real:
//! a stored login is verified through the daemon and the image is pulled; a wrong
//! password fails with a hint that says what to do.

use lab_standins::bench;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn docker(args: &[&str], config: Option<&Path>) -> Output {
    let mut c = Command::new("docker");
    if let Some(cfg) = config {
        c.env("DOCKER_CONFIG", cfg);
    }
    c.args(args).output().expect("docker runs")
}

fn ok(args: &[&str], config: Option<&Path>) -> String {
    let out = docker(args, config);
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The `lab` binary the workspace built beside this test.
fn lab_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let lab = dir.join("lab");
    assert!(
        lab.is_file(),
        "{} is not built: run `cargo build --workspace`",
        lab.display()
    );
    lab
}

struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c], None);
        }
        for i in &self.images {
            let _ = docker(&["rmi", "-f", i], None);
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_http(url: &str, limit: Duration) {
    let end = Instant::now() + limit;
    let (host, path) = url.trim_start_matches("http://").split_once('/').unwrap();
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(host) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                return;
            }
        }
        assert!(
            Instant::now() < end,
            "{url} did not answer within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lab_with_image(dir: &Path, image: &str, other: &str) -> PathBuf {
    let labs = dir.join("labs");
    let lab = labs.join("01-pull");
    std::fs::create_dir_all(&lab).unwrap();
    std::fs::write(lab.join("README.md"), "# Pull\n").unwrap();
    std::fs::write(
        lab.join("lab.yaml"),
        format!(
            "number: 1\nslug: pull\ntitle: Pull\nsummary: s\nprerequisites:\n  images: [\"{image}\", \"{other}\"]\nexercises:\n  - id: e\n    title: E\n    checks:\n      - {{id: c, description: d, kind: file, path: x}}\n"
        ),
    )
    .unwrap();
    labs
}

fn doctor(labs: &Path, config: &Path) -> (i32, serde_json::Value, String) {
    let out = Command::new(lab_binary())
        .args(["--format", "json", "doctor", "1", "--labs-dir"])
        .arg(labs)
        .env("DOCKER_CONFIG", config)
        .env("NO_COLOR", "1")
        .env_remove("LAB_LABS_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json, stdout)
}

fn item<'a>(doc: &'a serde_json::Value, name_prefix: &str) -> &'a serde_json::Value {
    doc["items"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|i| i["name"].as_str().unwrap_or("").starts_with(name_prefix))
        })
        .unwrap_or_else(|| panic!("no item {name_prefix} in {doc:#}"))
}

#[cfg_attr(not(lab_docker), ignore = "needs a Docker engine")]
#[test]
fn doctor_logs_in_and_pulls_from_the_bench_registry_and_rejects_a_wrong_password() {
    if !crate::engine_answers("doctor_logs_in_and_pulls_from_the_bench_registry") {
        return;
    }
    let spec = bench::registry_image().unwrap();
    let built = bench::build(&spec).unwrap();
    eprintln!(
        "registry image: {} ({:.1}s, rebuilt: {})",
        built.tag,
        built.took.as_secs_f64(),
        built.rebuilt
    );

    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let work = std::env::temp_dir().join(format!("lab-registry-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("auth")).unwrap();
    let mut clean = Cleanup {
        containers: vec![],
        images: vec![],
        dirs: vec![work.clone()],
    };

    // htpasswd with bcrypt, as the registry requires.
    let hash = bcrypt::hash("bench-secret-42", 4).unwrap();
    std::fs::write(work.join("auth/htpasswd"), format!("trainer:{hash}\n")).unwrap();
    std::fs::write(
        work.join("config.yml"),
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\nauth:\n  htpasswd:\n    realm: lab-bench\n    path: /auth/htpasswd\n",
    )
    .unwrap();
    let name = format!("lab-registry-test-{}", std::process::id());
    clean.containers.push(name.clone());
    let publish = format!("{host}:5000");
    let auth_mount = format!("{}:/auth:ro", work.join("auth").display());
    let config_mount = format!(
        "{}:/etc/docker/registry/config.yml:ro",
        work.join("config.yml").display()
    );
    ok(
        &[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &publish,
            "-v",
            &auth_mount,
            "-v",
            &config_mount,
            &built.tag,
        ],
        None,
    );
    wait_http(&format!("http://{host}/v2/"), Duration::from_secs(30));

    // Seed it: log in with a private config folder, push a bench image under the
    // name a lab pulls.
    let good = work.join("docker-good");
    std::fs::create_dir_all(&good).unwrap();
    let mut login = Command::new("docker");
    login
        .env("DOCKER_CONFIG", &good)
        .args(["login", &host, "-u", "trainer", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"bench-secret-42")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The names the labs pull Prometheus and Grafana by, on this registry.
    bench::ensure_images().unwrap();
    let image = format!("{host}/prom/prometheus:latest");
    let grafana = format!("{host}/grafana/grafana:latest");
    for (local, name) in [
        ("lab-bench/prometheus:latest", &image),
        ("lab-bench/grafana:latest", &grafana),
    ] {
        clean.images.push(name.clone());
        ok(&["tag", local, name], None);
        ok(&["push", name], Some(&good));
        ok(&["rmi", name], None);
    }

    let labs = lab_with_image(&work, &image, &grafana);

    // A valid stored login: verified through the daemon, then the image is pulled.
    let (code, doc, stdout) = doctor(&labs, &good);
    let login_item = item(&doc, &format!("login {host}"));
    assert_eq!(login_item["status"], "ok", "{login_item:#}");
    for name in [&image, &grafana] {
        let pull = item(&doc, &format!("image {name}"));
        assert_eq!(pull["status"], "ok", "{pull:#}");
    }
    assert!(
        !stdout.contains("bench-secret-42"),
        "the password never shows"
    );
    ok(&["image", "inspect", &image], None);
    let _ = code;

    // A wrong stored password: the login fails with a hint; the run exits 3.
    ok(&["rmi", &image], None);
    let bad = work.join("docker-bad");
    std::fs::create_dir_all(&bad).unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("trainer:wrong-password");
    std::fs::write(
        bad.join("config.json"),
        format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}"),
    )
    .unwrap();
    let (code, doc, stdout) = doctor(&labs, &bad);
    assert_eq!(code, 3, "{stdout}");
    let login_item = item(&doc, &format!("login {host}"));
    assert_eq!(login_item["status"], "fail", "{login_item:#}");
    assert!(
        login_item["hint"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("docker login {host}")),
        "{login_item:#}"
    );
    assert!(
        !stdout.contains("wrong-password"),
        "the password never shows"
    );
}

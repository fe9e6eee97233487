//! Rebuild when the course's labs change: they are embedded in the binary.
//!
//! Also decides whether the tests that need a Docker engine run: the `lab_docker` cfg
//! is set when an engine answers at build time. Without it those tests are reported as
//! ignored ("needs a Docker engine"), not as passed; `cargo test -- --include-ignored`
//! runs them anyway (CI does, with LAB_DOCKER_TESTS=1: then a missing engine fails
//! them). `LAB_DOCKER_TESTS` is read when the tests run, not here, so changing it does
//! not rebuild the crate. The stand-ins' crate includes this file for the same decision.

fn main() {
    println!("cargo:rerun-if-changed=labs");
    docker_cfg();
}

pub fn docker_cfg() {
    println!("cargo::rustc-check-cfg=cfg(lab_docker)");
    println!("cargo:rerun-if-env-changed=DOCKER_HOST");
    if engine_answers() {
        println!("cargo:rustc-cfg=lab_docker");
    }
}

/// Whether a Docker engine answers `GET /_ping` on its socket (or, for a DOCKER_HOST
/// that is not a Unix socket, whether `docker info` succeeds), within two seconds.
fn engine_answers() -> bool {
    use std::io::{Read, Write};
    use std::time::Duration;
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let socket = match host.strip_prefix("unix://") {
        Some(p) => p.to_string(),
        None if host.is_empty() => "/var/run/docker.sock".to_string(),
        None => {
            return std::process::Command::new("docker")
                .args(["info", "--format", "{{.ServerVersion}}"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }
    };
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

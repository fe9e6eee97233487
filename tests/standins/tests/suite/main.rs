//! The stand-ins' integration tests, one test binary: its tests run side by side (the
//! Docker ones on free loopback ports, their own compose projects and container names),
//! where five binaries ran one after another, most of that time waiting on the engine.

mod anchore;
// The reference files under tests/fixtures, read by the Grafana and bench tests.
mod bench;
#[path = "../../../fixtures/reference.rs"]
mod fixtures;
mod grafana;
mod registry;
mod watch;

/// Whether a Docker test goes on: it is compiled as ignored unless an engine answered
/// at build time (the `lab_docker` cfg, see src/build.rs); once it runs (or is asked for
/// with `--include-ignored`) the engine must answer, else it fails. LAB_DOCKER_TESTS=0
/// stops it at once.
fn engine_answers(test: &str) -> bool {
    if std::env::var("LAB_DOCKER_TESTS").as_deref() == Ok("0") {
        eprintln!("note: {test} stopped at once (LAB_DOCKER_TESTS=0)");
        return false;
    }
    let out = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let answers = out.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        answers,
        "{test} needs a Docker engine, which does not answer `docker info`: {}",
        out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_else(|e| e.to_string())
    );
    true
}

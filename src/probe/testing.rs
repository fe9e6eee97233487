//! Test helpers shared by the probes' unit tests: a context over a folder, and a
//! temporary folder that removes itself (the `tempfile` crate).

use super::{Ctx, Endpoint, Target};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A folder removed when the test ends (made and removed by the `tempfile` crate).
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    #[allow(clippy::new_without_default)]
    pub fn new() -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix("lab-test-")
            .tempdir()
            .expect("a temporary folder");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A target whose folder is `dir`, with loopback URLs nobody listens on.
pub fn target_in(dir: &Path) -> Target {
    Target {
        workdir: dir.to_path_buf(),
        compose_file: dir.join("docker-compose.yaml"),
        project: "lab-test".into(),
        anchore: Endpoint::new("http://127.0.0.1:9", "admin", "s3cret-anchore"),
        prometheus: Endpoint::new("http://127.0.0.1:9", "", ""),
        grafana: Endpoint::new("http://127.0.0.1:9", "admin", "s3cret-grafana")
            .once_refused_never_resent(),
        answers: Default::default(),
        moved_ports: Default::default(),
    }
}

pub fn ctx_for(target: Target, limit: Duration) -> Ctx {
    Ctx {
        target: Arc::new(target),
        http: crate::client::http_client(),
        docker: Arc::new(Err("not used in this test".into())),
        deadline: Instant::now() + limit,
    }
}

pub fn ctx_in(dir: &Path) -> Ctx {
    ctx_for(target_in(dir), Duration::from_secs(5))
}

//! Test helpers shared by the probes' unit tests: a context over a folder, and a
//! temporary folder that removes itself.

use super::{Ctx, Endpoint, Target};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TempDir(PathBuf);

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "lab-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
        grafana: Endpoint::new("http://127.0.0.1:9", "admin", "s3cret-grafana"),
        answers: Default::default(),
        moved_ports: Default::default(),
    }
}

pub fn ctx_for(target: Target, limit: Duration) -> Ctx {
    Ctx {
        target: Arc::new(target),
        http: crate::runner::http_client(),
        docker: Arc::new(Err("not used in this test".into())),
        deadline: Instant::now() + limit,
    }
}

pub fn ctx_in(dir: &Path) -> Ctx {
    ctx_for(target_in(dir), Duration::from_secs(5))
}

//! One session per command run: the environment it works on (with its image map),
//! one HTTP client, and one Docker connection made the first time something needs
//! the engine and shared by every step, check and wait after that. Built once by
//! the command (`cmd::prelude`) and passed down; nothing below builds its own.

use crate::env::{self, Environment};
use crate::error::{Error, Result};
use crate::model::Target;
use crate::probe::Ctx;
use bollard::Docker;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The engine as probes take it: connected, or why it could not be.
pub type DockerHandle = Arc<std::result::Result<Docker, String>>;

pub struct Session {
    pub env: Environment,
    pub http: reqwest::Client,
    docker: OnceCell<DockerHandle>,
    /// The target last read: a Grafana password refused once stays refused for the
    /// whole command (Grafana locks the account after 5 refusals).
    last: std::sync::Mutex<Option<Target>>,
}

impl Session {
    pub fn new(env: Environment) -> Session {
        Session {
            env,
            http: crate::client::http_client(),
            docker: OnceCell::new(),
            last: Default::default(),
        }
    }

    /// A session whose engine is already connected (or known unreachable), for a
    /// caller that connected before the session existed.
    pub fn with_docker(env: Environment, docker: DockerHandle) -> Session {
        Session {
            env,
            http: crate::client::http_client(),
            docker: OnceCell::new_with(Some(docker)),
            last: Default::default(),
        }
    }

    /// The Docker connection: made on the first call, the same one after.
    pub async fn docker_handle(&self) -> DockerHandle {
        self.docker
            .get_or_init(|| async { Arc::new(crate::engine::docker::connect().await) })
            .await
            .clone()
    }

    /// The Docker connection, or the error that names the engine and what failed.
    pub async fn docker(&self) -> Result<Docker> {
        match self.docker_handle().await.as_ref() {
            Ok(d) => Ok(d.clone()),
            Err(reason) => Err(Error::DockerUnreachable {
                host: crate::engine::docker::host(),
                reason: reason.clone(),
            }),
        }
    }

    /// Where checks and steps look now: the environment's endpoints and the answers
    /// recorded so far (a step may have just recorded one, so it is read each time).
    pub fn target(&self) -> Result<Target> {
        let mut t = self.env.target(env::read_answers(&self.env.dir)?);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(earlier) = last.as_ref() {
            t.grafana = t.grafana.keep_refusal_of(&earlier.grafana);
        }
        *last = Some(t.clone());
        Ok(t)
    }

    /// What a probe needs for one attempt of at most `limit`, on this session's
    /// client; with the engine when `docker` is true (connected once), else without.
    pub async fn ctx(&self, limit: Duration, docker: bool) -> Result<Ctx> {
        let docker = if docker {
            self.docker_handle().await
        } else {
            Arc::new(Err("not needed".into()))
        };
        Ok(Ctx {
            target: Arc::new(self.target()?),
            http: self.http.clone(),
            docker,
            deadline: Instant::now() + limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_connects_to_the_engine_once_whatever_asks() {
        let dir = tempfile::tempdir().unwrap();
        let env = Environment::new(dir.path(), "labtest-session", "docker-compose.yaml", false);
        let s = Session::with_docker(env, Arc::new(Err("test engine".into())));
        // Every later ask gets the handle given, not a new connection.
        for _ in 0..3 {
            let e = s.docker().await.unwrap_err();
            assert!(e.to_string().contains("test engine"), "{e}");
            let c = s.ctx(Duration::from_secs(1), true).await.unwrap();
            assert_eq!(
                c.docker().unwrap_err(),
                "Docker engine unreachable: test engine"
            );
        }
        let c = s.ctx(Duration::from_secs(1), false).await.unwrap();
        assert!(c.docker().is_err());
    }
}

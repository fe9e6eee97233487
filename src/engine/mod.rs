//! The engine: everything `lab` asks of Docker and of compose. Connecting to the
//! engine, the containers of a compose project, images and their pulls, registry
//! credentials, the host's ports and system facts, and driving compose itself.

pub mod compose;
pub mod containers;
pub mod creds;
pub mod docker;
pub mod host_ports;
pub mod images;
pub mod system;

use std::future::Future;
use std::time::Duration;

/// A question the Docker engine did not answer: which engine, what was asked, and
/// how it failed. Probes show it as text in their evidence; a command turns it into
/// [`crate::error::Error::DockerUnreachable`] (exit 4, with the hint to start the engine).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Docker engine at {host}: {what}: {failure}")]
pub struct EngineError {
    pub host: String,
    /// What was asked, in words: `list the containers of project `anchore``.
    pub what: String,
    pub failure: Failure,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("no answer within {}", crate::model::format_duration(*.0))]
    Timeout(Duration),
    /// The engine's own words (or the connection's).
    #[error("{0}")]
    Failed(String),
}

impl From<EngineError> for crate::error::Error {
    fn from(e: EngineError) -> Self {
        crate::error::Error::DockerUnreachable {
            host: e.host,
            reason: format!("{}: {}", e.what, e.failure),
        }
    }
}

/// Probes carry their causes as text (evidence for the report).
impl From<EngineError> for String {
    fn from(e: EngineError) -> Self {
        e.to_string()
    }
}

/// Asks the engine one question within `limit`; `what` names it for the error.
pub async fn ask<T>(
    what: impl FnOnce() -> String,
    limit: Duration,
    question: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, EngineError> {
    let failure = match tokio::time::timeout(limit, question).await {
        Ok(Ok(answer)) => return Ok(answer),
        Ok(Err(e)) => Failure::Failed(docker::short(&e)),
        Err(_) => Failure::Timeout(limit),
    };
    Err(EngineError {
        host: docker::host(),
        what: what(),
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unanswered_question_names_the_engine_what_was_asked_and_the_wait() {
        let e = ask(
            || "list the containers of project `p`".into(),
            Duration::from_millis(10),
            std::future::pending::<Result<(), bollard::errors::Error>>(),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().starts_with("Docker engine at "), "{e}");
        assert!(
            e.to_string()
                .ends_with(": list the containers of project `p`: no answer within 10ms"),
            "{e}"
        );
        let top: crate::error::Error = e.into();
        assert_eq!(top.exit_code(), crate::error::exit::DOCKER_UNREACHABLE);
        assert!(top.hint().unwrap().contains("start the Docker daemon"));
    }
}

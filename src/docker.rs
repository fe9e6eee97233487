//! The Docker connection: DOCKER_HOST honoured (unix socket, tcp with or without TLS),
//! API version negotiated so older engines answer, one short ping to know it is there.

use bollard::Docker;
use std::time::Duration;

/// Where the engine is, as the user would name it.
pub fn host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connects and pings. `Err` says where it tried and what failed, for the report.
pub async fn connect() -> Result<Docker, String> {
    let host = host();
    let tls = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty() && v != "0");
    let docker = if host.starts_with("tcp://") && tls {
        Docker::connect_with_ssl_defaults()
    } else {
        Docker::connect_with_defaults()
    }
    .map_err(|e| format!("{host}: {e}"))?;
    let docker = tokio::time::timeout(Duration::from_secs(5), docker.negotiate_version())
        .await
        .map_err(|_| format!("{host}: no answer within 5s"))?
        .map_err(|e| format!("{host}: {}", short(&e)))?;
    tokio::time::timeout(Duration::from_secs(5), docker.ping())
        .await
        .map_err(|_| format!("{host}: no answer within 5s"))?
        .map_err(|e| format!("{host}: {}", short(&e)))?;
    Ok(docker)
}

/// bollard's errors carry the whole request; keep what a person needs.
pub fn short(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("{message} (HTTP {status_code})"),
        E::SocketNotFoundError(p) => format!("no socket at {p}"),
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(c) = src {
                s = format!("{s}: {c}");
                src = c.source();
            }
            s
        }
    }
}

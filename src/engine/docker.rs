//! The Docker connection: DOCKER_HOST honoured (unix socket, tcp with or without TLS),
//! API version negotiated so older engines answer, one short ping to know it is there.

use bollard::Docker;
use std::time::Duration;

/// Where the engine is, as the user would name it.
pub fn host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

static CONNECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times this process has connected to the engine through [`connect`]
/// (`lab -v` says it at the end: a command connects once, through its session).
pub fn connections() -> usize {
    CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Connects and pings. `Err` says where it tried and what failed, for the report.
pub async fn connect() -> Result<Docker, String> {
    CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

/// Connects to an engine a roster names (`unix://…`, a socket path, or `tcp://…`,
/// with TLS when `tls_dir` holds `ca.pem`, `cert.pem` and `key.pem`), and pings it
/// within `connect_timeout`, so an engine that is not there is known at once and not
/// once per check. Every request after that may take up to `request_timeout`.
pub async fn connect_to(
    host: &str,
    tls_dir: Option<&std::path::Path>,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<Docker, String> {
    use bollard::API_DEFAULT_VERSION;
    let secs = request_timeout.as_secs().max(1);
    let docker = if let Some(addr) = host.strip_prefix("tcp://") {
        match tls_dir {
            Some(dir) => {
                let [ca, cert, key] = ["ca.pem", "cert.pem", "key.pem"].map(|f| dir.join(f));
                if let Some(missing) = [&ca, &cert, &key].into_iter().find(|p| !p.is_file()) {
                    return Err(format!(
                        "{host}: no TLS file {} (tls_dir needs ca.pem, cert.pem and key.pem)",
                        missing.display()
                    ));
                }
                Docker::connect_with_ssl(addr, &key, &cert, &ca, secs, API_DEFAULT_VERSION)
            }
            None => Docker::connect_with_http(addr, secs, API_DEFAULT_VERSION),
        }
    } else if host.starts_with("ssh://") {
        return Err(format!(
            "{host}: ssh:// is not supported by this build of lab"
        ));
    } else {
        Docker::connect_with_socket(host, secs, API_DEFAULT_VERSION)
    }
    .map_err(|e| format!("{host}: {}", root_cause(&e)))?;
    let ping = async {
        let docker = docker.negotiate_version().await?;
        docker.ping().await?;
        Ok::<_, bollard::errors::Error>(docker)
    };
    tokio::time::timeout(connect_timeout, ping)
        .await
        .map_err(|_| {
            format!(
                "{host}: no answer within {}",
                crate::model::format_duration(connect_timeout)
            )
        })?
        .map_err(|e| format!("{host}: {}", root_cause(&e)))
}

/// The innermost cause of a connection error ("Connection refused (os error 111)"),
/// without the layers of client wrappers around it.
fn root_cause(e: &bollard::errors::Error) -> String {
    if matches!(e, bollard::errors::Error::SocketNotFoundError(_)) {
        return short(e);
    }
    let mut last = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        last = c.to_string();
        src = c.source();
    }
    last
}

//! `anchore-standin healthcheck [URL|ROLE]`: a probe an image can use as its Docker HEALTHCHECK
//! without a shell or curl. Exits 0 when the role answers.
//!
//! What is probed: the URL when one is given (`http://host:port/path` must answer 200,
//! `redis://host:port` must answer PING with PONG); a role name probes that role's port on
//! 127.0.0.1; with nothing, the URL the running role wrote to its health file (so one image-wide
//! HEALTHCHECK fits every role), else the ports a role can have in its container (see
//! [`resolve`]).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use super::config::{self, Config, Env, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Http {
        host: String,
        port: u16,
        path: String,
    },
    Redis {
        host: String,
        port: u16,
    },
}

fn host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    if s.is_empty() {
        return Err("no host".to_string());
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => {
            let port = p.parse().map_err(|_| format!("bad port {p:?}"))?;
            Ok((h.to_string(), port))
        }
        Some(_) => Err(format!("bad address {s:?}")),
        None => Ok((s.to_string(), default_port)),
    }
}

/// Parses `http://host[:port][/path]` or `redis://host[:port]`.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("http://") {
        let (auth, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = host_port(auth, 80).map_err(|e| format!("{url}: {e}"))?;
        return Ok(Target::Http {
            host,
            port,
            path: path.to_string(),
        });
    }
    if let Some(rest) = url.strip_prefix("redis://") {
        let (host, port) =
            host_port(rest.trim_end_matches('/'), 6379).map_err(|e| format!("{url}: {e}"))?;
        return Ok(Target::Redis { host, port });
    }
    Err(format!(
        "{url:?} is neither an http:// or redis:// URL nor a role name"
    ))
}

fn local(role: Role, port: u16) -> Target {
    match role {
        Role::Redis => Target::Redis {
            host: "127.0.0.1".into(),
            port,
        },
        _ => Target::Http {
            host: "127.0.0.1".into(),
            port,
            path: "/health".into(),
        },
    }
}

/// Decides what to probe, in order; the role is healthy when one answers. `health_file` is the
/// content of the running role's health file.
///
/// Without an argument or a health file (an image without a writable temp directory), the
/// candidates are the ports a role can have in its own container: the Anchore port, then the
/// db, redis and UI ports (or `STANDIN_PORT` for those). Only one role runs per container, so
/// whichever answers is this one.
pub fn resolve(
    arg: Option<&str>,
    env: Env,
    health_file: Option<&str>,
) -> Result<Vec<Target>, String> {
    if let Some(a) = arg {
        if let Some(role) = Role::parse(a) {
            let cfg = Config::from_env(role, env, "localhost")?;
            return Ok(vec![local(role, cfg.port)]);
        }
        return parse_target(a).map(|t| vec![t]);
    }
    if let Some(url) = health_file.map(str::trim).filter(|s| !s.is_empty()) {
        return parse_target(url).map(|t| vec![t]);
    }
    let anchore = Config::from_env(Role::Apiext, env, "localhost")?.port;
    let mut out = vec![local(Role::Apiext, anchore)];
    match env("STANDIN_PORT").filter(|p| !p.trim().is_empty()) {
        Some(p) => {
            let port: u16 = p
                .trim()
                .parse()
                .map_err(|_| format!("STANDIN_PORT must be a port number, not {p:?}"))?;
            out.push(local(Role::Redis, port));
        }
        None => {
            for role in [Role::Db, Role::Redis, Role::Ui] {
                out.push(local(role, role.default_port()));
            }
        }
    }
    Ok(out)
}

fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("no address for {host}");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(timeout));
                let _ = s.set_write_timeout(Some(timeout));
                return Ok(s);
            }
            Err(e) => last = format!("cannot connect to {a}: {e}"),
        }
    }
    Err(last)
}

fn read_some(s: &mut TcpStream) -> Result<String, String> {
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.contains(&b'\n') {
                    break;
                }
            }
            Err(e) => return Err(format!("no answer: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// Probes the target once.
pub fn probe(t: &Target, timeout: Duration) -> Result<(), String> {
    match t {
        Target::Http { host, port, path } => {
            let mut s = connect(host, *port, timeout)?;
            let req =
                format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes())
                .map_err(|e| format!("cannot send the request: {e}"))?;
            let answer = read_some(&mut s)?;
            let status_line = answer.lines().next().unwrap_or("");
            let code = status_line.split_whitespace().nth(1).unwrap_or("");
            if code == "200" {
                Ok(())
            } else {
                Err(format!(
                    "http://{host}:{port}{path} answered {status_line:?}"
                ))
            }
        }
        Target::Redis { host, port } => {
            let mut s = connect(host, *port, timeout)?;
            s.write_all(b"PING\r\n")
                .map_err(|e| format!("cannot send PING: {e}"))?;
            let answer = read_some(&mut s)?;
            if answer.starts_with("+PONG") {
                Ok(())
            } else {
                Err(format!(
                    "redis://{host}:{port} answered {:?}",
                    answer.trim()
                ))
            }
        }
    }
}

/// The command.
pub fn run(arg: Option<&str>, env: Env) -> ExitCode {
    let file = env("STANDIN_HEALTH_FILE")
        .filter(|s| !s.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(config::default_health_file);
    let content = if arg.is_none() {
        std::fs::read_to_string(file).ok()
    } else {
        None
    };
    let targets = match resolve(arg, env, content.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::from(2);
        }
    };
    let settle = match crate::settle::from_env(env(crate::settle::VAR)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::from(2);
        }
    };
    let healthy = crate::settle::probe(settle, || {
        let mut failures = Vec::new();
        for t in &targets {
            match probe(t, Duration::from_secs(2)) {
                Ok(()) => return Ok(()),
                Err(e) => failures.push(e),
            }
        }
        Err(failures.join("; "))
    });
    match healthy {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthcheck: unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_target("http://127.0.0.1:8228/health"),
            Ok(Target::Http {
                host: "127.0.0.1".into(),
                port: 8228,
                path: "/health".into()
            })
        );
        assert_eq!(
            parse_target("http://api"),
            Ok(Target::Http {
                host: "api".into(),
                port: 80,
                path: "/".into()
            })
        );
        assert_eq!(
            parse_target("redis://ui-redis:6379"),
            Ok(Target::Redis {
                host: "ui-redis".into(),
                port: 6379
            })
        );
        assert!(parse_target("https://x").is_err());
        assert!(parse_target("http://:80/").is_err());
        assert!(parse_target("http://x:port/").is_err());
    }

    #[test]
    fn resolves_roles_files_and_the_default() {
        let one = |t: Target| Ok(vec![t]);
        assert_eq!(
            resolve(Some("redis"), &none, None),
            one(Target::Redis {
                host: "127.0.0.1".into(),
                port: 6379
            })
        );
        assert_eq!(resolve(Some("db"), &none, None), one(local(Role::Db, 5432)));
        assert_eq!(
            resolve(None, &none, Some("redis://127.0.0.1:7000\n")),
            one(Target::Redis {
                host: "127.0.0.1".into(),
                port: 7000
            })
        );
        let env = |k: &str| (k == "ANCHORE_SERVICE_PORT").then(|| "9000".to_string());
        assert_eq!(
            resolve(Some("analyzer"), &env, None),
            one(local(Role::Analyzer, 9000))
        );
        assert_eq!(
            resolve(None, &env, None),
            Ok(vec![
                local(Role::Apiext, 9000),
                local(Role::Db, 5432),
                local(Role::Redis, 6379),
                local(Role::Ui, 3000)
            ])
        );
        let env = |k: &str| (k == "STANDIN_PORT").then(|| "7001".to_string());
        assert_eq!(resolve(None, &env, None).unwrap().len(), 2);
    }

    #[test]
    fn a_closed_port_is_unhealthy() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let t = Target::Http {
            host: "127.0.0.1".into(),
            port,
            path: "/health".into(),
        };
        assert!(probe(&t, Duration::from_millis(500)).is_err());
    }
}

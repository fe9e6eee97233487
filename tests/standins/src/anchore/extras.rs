//! The non-Anchore containers of the quickstart, just enough for a compose file of that shape to
//! start and pass health checks: redis answering PING, the UI serving a page (and, like the real
//! UI, unauthenticated `/metrics` when enabled), and the Postgres-style log lines of the `db` role.

use std::time::SystemTime;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::clock;
use super::metrics;
use super::process;
use super::server::stopped;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A Postgres server log line: `2024-08-18 12:59:13.476 UTC [1] LOG:  message`.
pub fn pg_line(at: SystemTime, pid: u32, message: &str) -> String {
    let c = clock::civil(at);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} UTC [{pid}] LOG:  {message}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.micros / 1000
    )
}

/// A redis log line: `1:M 18 Aug 2024 12:59:13.476 * message`.
pub fn redis_line(at: SystemTime, pid: u32, message: &str) -> String {
    let c = clock::civil(at);
    format!(
        "{pid}:M {:02} {} {:04} {:02}:{:02}:{:02}.{:03} * {message}",
        c.day,
        MONTHS[(c.month as usize).clamp(1, 12) - 1],
        c.year,
        c.hour,
        c.minute,
        c.second,
        c.micros / 1000
    )
}

pub fn pg_log(message: &str) {
    println!(
        "{}",
        pg_line(SystemTime::now(), std::process::id(), message)
    );
}

pub fn redis_log(message: &str) {
    println!(
        "{}",
        redis_line(SystemTime::now(), std::process::id(), message)
    );
}

/// The reply to one line of a redis conversation; `None` for RESP framing lines. The bool is
/// true when the connection should close.
pub fn redis_reply(line: &str) -> Option<(String, bool)> {
    let line = line.trim_end_matches('\r');
    if line.is_empty() || line.starts_with('*') || line.starts_with('$') {
        return None;
    }
    let cmd = line
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    Some(match cmd.as_str() {
        "PING" => ("+PONG\r\n".to_string(), false),
        "QUIT" => ("+OK\r\n".to_string(), true),
        _ => {
            let shown: String = cmd.chars().filter(|c| !c.is_control()).take(64).collect();
            (format!("-ERR unknown command '{shown}'\r\n"), false)
        }
    })
}

async fn redis_conn(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    let mut pending = String::new();
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(pos) = pending.find('\n') {
            let line: String = pending.drain(..=pos).collect();
            if let Some((reply, close)) = redis_reply(line.trim_end_matches('\n')) {
                if s.write_all(reply.as_bytes()).await.is_err() || close {
                    return;
                }
            }
        }
        // A peer that never sends a newline cannot make us buffer without bound.
        if pending.len() > 65_536 {
            return;
        }
    }
}

/// Accepts redis connections until stopped.
pub async fn serve_redis(listener: TcpListener, stop: watch::Receiver<bool>) {
    let stop_fut = stopped(stop);
    tokio::pin!(stop_fut);
    loop {
        tokio::select! {
            r = listener.accept() => {
                if let Ok((s, _)) = r {
                    tokio::spawn(redis_conn(s));
                }
            }
            _ = &mut stop_fut => return,
        }
    }
}

const UI_PAGE: &str = "<!doctype html>\n<html><head><title>Anchore Enterprise</title></head>\n<body><h1>Anchore Enterprise</h1><p>Stand-in for the Anchore Enterprise UI, used by the course's tests.</p></body></html>\n";

async fn ui_metrics() -> Response {
    let fams = process::read()
        .map(|s| process::families(&s))
        .unwrap_or_default();
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(&fams),
    )
        .into_response()
}

/// The UI's router: the page, a health route, and `/metrics` when `ANCHORE_ENABLE_METRICS` is
/// true (without authentication: the course's Prometheus job for `ui:3000` has no basic_auth).
pub fn ui_router(metrics_enabled: bool) -> Router {
    let mut r = Router::new()
        .route("/", get(|| async { Html(UI_PAGE) }))
        .route("/health", get(|| async { StatusCode::OK }));
    if metrics_enabled {
        r = r.route("/metrics", get(ui_metrics));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn log_lines_look_like_postgres_and_redis() {
        let at = UNIX_EPOCH + Duration::from_micros(1_723_985_953_476_831);
        assert_eq!(
            pg_line(at, 1, "database system is ready to accept connections"),
            "2024-08-18 12:59:13.476 UTC [1] LOG:  database system is ready to accept connections"
        );
        assert_eq!(
            redis_line(at, 1, "Ready to accept connections tcp"),
            "1:M 18 Aug 2024 12:59:13.476 * Ready to accept connections tcp"
        );
    }

    #[test]
    fn answers_ping_inline_and_in_resp() {
        assert_eq!(redis_reply("PING\r"), Some(("+PONG\r\n".into(), false)));
        assert_eq!(redis_reply("ping"), Some(("+PONG\r\n".into(), false)));
        assert_eq!(redis_reply("*1"), None);
        assert_eq!(redis_reply("$4"), None);
        assert_eq!(redis_reply("QUIT"), Some(("+OK\r\n".into(), true)));
        assert_eq!(
            redis_reply("GET x"),
            Some(("-ERR unknown command 'GET'\r\n".into(), false))
        );
    }
}

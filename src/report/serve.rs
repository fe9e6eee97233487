//! The HTTP side of `lab grade --serve`: `/metrics` (rendered once per round, served
//! as is), `/` (the live gradebook), `/trainee/NAME` (one trainee's checks and
//! answers) and `/healthz`. With a token every path but `/healthz` wants it, as
//! `Authorization: Bearer TOKEN` or `?token=TOKEN`.

use crate::grade::watch::Snapshot;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, RwLock};

/// One round as served: the snapshot (pages render from it per request, cheap) and
/// its metrics text (rendered once, when the round finished).
pub struct Rendered {
    pub snapshot: Snapshot,
    pub metrics: String,
}

impl Rendered {
    pub fn new(snapshot: Snapshot) -> Rendered {
        let metrics = super::metrics::render(&snapshot);
        Rendered { snapshot, metrics }
    }
}

/// What the server shows; the watch loop replaces it after every round.
#[derive(Clone)]
pub struct Board(Arc<RwLock<Arc<Rendered>>>);

impl Board {
    pub fn new(first: Rendered) -> Board {
        Board(Arc::new(RwLock::new(Arc::new(first))))
    }

    pub fn set(&self, r: Rendered) {
        let r = Arc::new(r);
        match self.0.write() {
            Ok(mut g) => *g = r,
            Err(poisoned) => *poisoned.into_inner() = r,
        }
    }

    pub fn get(&self) -> Arc<Rendered> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[derive(Clone)]
struct App {
    board: Board,
    token: Option<Arc<str>>,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    /// Ok with the token to carry on links (when it came as `?token=`), or the 401.
    fn allow(&self, headers: &HeaderMap, q: &TokenQuery) -> Result<Option<String>, Denied> {
        let Some(want) = &self.token else {
            return Ok(None);
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if bearer.is_some_and(|b| same(b.as_bytes(), want.as_bytes())) {
            return Ok(None);
        }
        if let Some(t) = &q.token {
            if same(t.as_bytes(), want.as_bytes()) {
                return Ok(Some(t.clone()));
            }
        }
        Err(Denied)
    }
}

/// A request without the token.
struct Denied;

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a token is needed: `Authorization: Bearer TOKEN` or `?token=TOKEN`\n",
        )
            .into_response()
    }
}

const HTML: &str = "text/html; charset=utf-8";

async fn index(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = match app.allow(&headers, &q) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let r = app.board.get();
    (
        [
            (header::CONTENT_TYPE, HTML),
            (header::CACHE_CONTROL, "no-store"),
        ],
        super::page::index(&r.snapshot, token.as_deref()),
    )
        .into_response()
}

async fn trainee(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = match app.allow(&headers, &q) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let r = app.board.get();
    match super::page::trainee(&r.snapshot, &name, token.as_deref()) {
        Some(page) => (
            [
                (header::CONTENT_TYPE, HTML),
                (header::CACHE_CONTROL, "no-store"),
            ],
            page,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "no trainee named {} in this class\n",
                super::scrub::redact(&name)
            ),
        )
            .into_response(),
    }
}

async fn metrics(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Err(r) = app.allow(&headers, &q) {
        return r.into_response();
    }
    let r = app.board.get();
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        r.metrics.clone(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

pub fn router(board: Board, token: Option<String>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/trainee/{name}", get(trainee))
        .route("/healthz", get(healthz))
        .with_state(App {
            board,
            token: token.map(Arc::from),
        })
}

/// `9300` (loopback), `127.0.0.1:9300`, `[::1]:9300`, `localhost:9300`, `0.0.0.0:9300`.
pub fn address(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let mut addrs = s.to_socket_addrs().map_err(|e| {
        format!("--serve {s}: not an address to listen on ({e}); give PORT or HOST:PORT")
    })?;
    addrs
        .next()
        .ok_or_else(|| format!("--serve {s}: the name resolves to no address"))
}

/// Binds the listener (so a taken port is an error before the first round).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves until `stop` resolves.
pub async fn run(
    listener: tokio::net::TcpListener,
    board: Board,
    token: Option<String>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(board, token))
        .with_graceful_shutdown(stop)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_loopback() {
        assert_eq!(address("9300").unwrap().to_string(), "127.0.0.1:9300");
        assert_eq!(address("0.0.0.0:80").unwrap().to_string(), "0.0.0.0:80");
        assert!(address("nonsense")
            .unwrap_err()
            .contains("--serve nonsense"));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}

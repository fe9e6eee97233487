//! A loopback HTTP server for probe tests: canned answers by method and path,
//! recorded requests, optional delays, and a mode that accepts and never answers.

use super::{Ctx, Endpoint, Target};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The passwords test contexts carry; no probe output may contain them.
pub const ANCHORE_PASSWORD: &str = "anchore-pw-Zq81";
pub const GRAFANA_PASSWORD: &str = "grafana-pw-Kx42";
pub const PROMETHEUS_PASSWORD: &str = "prometheus-pw-Lm77";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw (still encoded) query string, without `?`.
    pub query: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Request {
    /// The value of query parameter `name`, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        reqwest::Url::parse(&format!("http://x/?{}", self.query))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

struct Route {
    method: String,
    path: String,
    handler: Handler,
}

/// Routes by method and exact path; the first match answers, others get 404.
#[derive(Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    pub fn new() -> Routes {
        Routes(Vec::new())
    }
    pub fn get(self, path: &str, reply: Reply) -> Routes {
        self.with("GET", path, move |_| reply.clone())
    }
    pub fn post(self, path: &str, reply: Reply) -> Routes {
        self.with("POST", path, move |_| reply.clone())
    }
    /// An answer computed from the request (its query or body).
    pub fn with(
        mut self,
        method: &str,
        path: &str,
        f: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Routes {
        self.0.push(Route {
            method: method.into(),
            path: path.into(),
            handler: Arc::new(f),
        });
        self
    }
}

pub struct TestServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A server answering `routes`.
    pub async fn start(routes: Routes) -> TestServer {
        Self::spawn(Some(Arc::new(routes.0))).await
    }

    /// A server that accepts connections and reads requests but never answers.
    pub async fn hanging() -> TestServer {
        Self::spawn(None).await
    }

    async fn spawn(routes: Option<Arc<Vec<Route>>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let routes = routes.clone();
                let seen = seen.clone();
                tokio::spawn(async move { serve(stream, routes, seen).await });
            }
        });
        TestServer {
            url: format!("http://{addr}"),
            requests,
            task,
        }
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn serve(
    mut stream: TcpStream,
    routes: Option<Arc<Vec<Route>>>,
    seen: Arc<Mutex<Vec<Request>>>,
) {
    let Some(req) = read_request(&mut stream).await else {
        return;
    };
    if let Ok(mut s) = seen.lock() {
        s.push(req.clone());
    }
    let Some(routes) = routes else {
        // Hold the connection open without a word until the client gives up.
        let mut buf = [0u8; 64];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        return;
    };
    let reply = routes
        .iter()
        .find(|r| r.method == req.method && (r.path == req.path || r.path == "*"))
        .map(|r| (r.handler)(&req))
        .unwrap_or_else(|| Reply::json(404, serde_json::json!({"message": "Not found"})));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(reply.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A URL on which nothing listens: connecting to it is refused.
pub async fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("local addr");
    drop(l);
    format!("http://{addr}")
}

/// A context whose services all answer at `url`, with an attempt of `limit`.
pub fn ctx(url: &str, limit: Duration) -> Ctx {
    ctx_for(url, url, url, limit)
}

pub fn ctx_for(anchore: &str, prometheus: &str, grafana: &str, limit: Duration) -> Ctx {
    let target = Target {
        workdir: PathBuf::from("."),
        compose_file: PathBuf::from("docker-compose.yaml"),
        project: "test".into(),
        anchore: Endpoint::new(anchore, "admin", ANCHORE_PASSWORD),
        prometheus: Endpoint::new(prometheus, "", ""),
        grafana: Endpoint::new(grafana, "admin", GRAFANA_PASSWORD).once_refused_never_resent(),
        answers: BTreeMap::new(),
        moved_ports: Default::default(),
    };
    Ctx {
        target: Arc::new(target),
        http: crate::client::http_client(),
        docker: Arc::new(Err("no Docker in probe tests".into())),
        deadline: Instant::now() + limit,
    }
}

/// The `Authorization` header basic auth with these credentials produces.
pub fn basic(user: &str, password: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every string a probe returned, for leak checks.
pub fn texts(r: &super::ProbeResult) -> Vec<String> {
    match r {
        Ok(super::Observation::Pass { actual }) | Ok(super::Observation::Pending { actual }) => {
            vec![actual.clone()]
        }
        Ok(super::Observation::Fail {
            expected,
            actual,
            cause,
            ..
        }) => [expected, actual]
            .into_iter()
            .cloned()
            .chain(cause.as_ref().map(|c| c.hint.clone()))
            .collect(),
        Err(e) => vec![e.clone()],
    }
}

/// Panics when a password of the test context appears in what the probe returned.
pub fn assert_no_password(r: &super::ProbeResult) {
    for t in texts(r) {
        for pw in [ANCHORE_PASSWORD, GRAFANA_PASSWORD, PROMETHEUS_PASSWORD] {
            assert!(!t.contains(pw), "password leaked in {t:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_header_is_standard_base64() {
        assert_eq!(basic("admin", "foobar"), "Basic YWRtaW46Zm9vYmFy");
        assert_eq!(basic("a", "b"), "Basic YTpi");
        assert_eq!(basic("ab", "c"), "Basic YWI6Yw==");
    }

    #[tokio::test]
    async fn server_answers_routes_and_records_requests() {
        let srv = TestServer::start(Routes::new().get("/x", Reply::text(200, "hi"))).await;
        let c = ctx(&srv.url, Duration::from_secs(2));
        let got = c.get(&format!("{}/x?a=b%20c", srv.url), None).await;
        assert_eq!(got, Ok((200, "hi".to_string())));
        let missing = c.get(&format!("{}/y", srv.url), None).await;
        assert_eq!(missing.map(|(s, _)| s), Ok(404));
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].param("a").as_deref(), Some("b c"));
    }
}

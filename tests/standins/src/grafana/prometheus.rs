//! Talks to a Prometheus data source over HTTP the way Grafana's backend does, including Go-style transport error messages.
//!
//! The requests really leave the process: inside a compose network `http://prometheus:9090`
//! resolves and `http://localhost:9090` is Grafana's own container, so the health check
//! fails exactly when a real Grafana's would. Failures are worded like Go's `net/http`
//! errors (`Post "…": dial tcp …: connect: connection refused`) because that is the text a
//! trainee sees in Grafana's UI.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::datasources::DataSource;
use super::durations;
use super::frames::{self, DataResponse, QueryInfo};

/// How long a health check may take; short so a wrong URL fails fast.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Grafana's default Prometheus query timeout.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

const HEALTH_FAILED: &str = "There was an error returned querying the Prometheus API.";
const HEALTH_OK: &str = "Successfully queried the Prometheus API.";

/// An answer from the data source, or why none came.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Http {
        status: u16,
        status_line: String,
        body: Vec<u8>,
    },
    Failed(String),
}

/// Where and how to send queries for one data source.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub post: bool,
    pub basic_auth: Option<(String, String)>,
    pub timeout: Duration,
}

impl Target {
    pub fn for_datasource(ds: &DataSource) -> Target {
        let method = ds.json_data["httpMethod"].as_str().unwrap_or("");
        let timeout = ds.json_data["queryTimeout"]
            .as_str()
            .and_then(durations::parse_grafana)
            .filter(|ns| *ns > 0)
            .map_or(QUERY_TIMEOUT, |ns| Duration::from_nanos(ns as u64));
        Target {
            url: ds.url.clone(),
            // Grafana's Prometheus backend defaults to POST.
            post: !method.eq_ignore_ascii_case("GET"),
            basic_auth: ds.basic_auth.then(|| {
                (
                    ds.basic_auth_user.clone(),
                    ds.secure_json_data
                        .get("basicAuthPassword")
                        .cloned()
                        .unwrap_or_default(),
                )
            }),
            timeout,
        }
    }
}

/// The endpoint URL as Go's `url.ParseRequestURI` + `path.Join` build it, or Go's parse error.
/// `op` is Go's name for the method in errors: `Post` or `Get`.
pub fn endpoint_url(op: &str, base: &str, endpoint: &str) -> Result<reqwest::Url, String> {
    let colon = base.find(':');
    let slash = base.find('/');
    let scheme = colon
        .filter(|&c| slash.is_none_or(|s| c < s))
        .map(|c| &base[..c])
        .filter(|s| {
            s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
    let Some(scheme) = scheme else {
        return Err(if colon.is_some_and(|c| slash.is_none_or(|s| c < s)) {
            format!("parse {base:?}: first path segment in URL cannot contain colon")
        } else {
            format!("parse {base:?}: invalid URI for request")
        });
    };
    let shown = format!("{}/{}", base.trim_end_matches('/'), endpoint);
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!(
            "{op} {shown:?}: unsupported protocol scheme {:?}",
            scheme.to_lowercase()
        ));
    }
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("parse {base:?}: {e}"))?;
    let joined = format!("{}/{}", url.path().trim_end_matches('/'), endpoint);
    url.set_path(&joined);
    Ok(url)
}

/// The first `nameserver` of /etc/resolv.conf, which Go names in DNS errors.
fn nameserver() -> Option<String> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(|ns| match ns.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]:53"),
            _ => format!("{ns}:53"),
        })
}

/// Resolves the URL's host first, so a name that does not resolve reports Go's lookup error.
async fn resolve(url: &reqwest::Url) -> Result<SocketAddr, String> {
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let lookup = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host, port)),
    )
    .await;
    match lookup {
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| no_such_host(host)),
        Ok(Err(_)) => Err(no_such_host(host)),
        Err(_) => Err(format!("dial tcp: lookup {host}: i/o timeout")),
    }
}

fn no_such_host(host: &str) -> String {
    match nameserver() {
        Some(ns) => format!("dial tcp: lookup {host} on {ns}: no such host"),
        None => format!("dial tcp: lookup {host}: no such host"),
    }
}

/// Go's wording for a failed connection or request.
fn describe(err: &reqwest::Error, addr: SocketAddr) -> String {
    if err.is_timeout() {
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into();
    }
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let what = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
                std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
                _ => io.to_string(),
            };
            return format!("dial tcp {addr}: connect: {what}");
        }
        source = e.source();
    }
    if err.is_connect() {
        return format!("dial tcp {addr}: connect: {err}");
    }
    err.to_string()
}

/// Sends one query request (`api/v1/query` or `api/v1/query_range`) with its parameters.
pub async fn call(
    client: &reqwest::Client,
    target: &Target,
    endpoint: &str,
    params: &[(&str, String)],
) -> Outcome {
    let op = if target.post { "Post" } else { "Get" };
    let mut url = match endpoint_url(op, &target.url, endpoint) {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(e),
    };
    let addr = match resolve(&url).await {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(format!("{op} {:?}: {e}", url.as_str())),
    };
    let mut req = if target.post {
        client.post(url.clone()).form(params)
    } else {
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        client.get(url.clone())
    };
    req = req.timeout(target.timeout);
    if let Some((user, pass)) = &target.basic_auth {
        req = req.basic_auth(user, Some(pass));
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let status_line = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            match resp.bytes().await {
                Ok(body) => Outcome::Http {
                    status: status.as_u16(),
                    status_line,
                    body: body.to_vec(),
                },
                Err(e) => {
                    Outcome::Failed(format!("{op} {:?}: {}", url.as_str(), describe(&e, addr)))
                }
            }
        }
        Err(e) => Outcome::Failed(format!("{op} {:?}: {}", url.as_str(), describe(&e, addr))),
    }
}

/// Formats a time for Prometheus as Go's `strconv.FormatFloat(seconds, 'f', -1, 64)`.
pub fn format_seconds(ms: i64) -> String {
    let s = ms as f64 / 1000.0;
    format!("{s}")
}

/// Runs an instant query evaluated at `time_ms`.
pub async fn instant(
    client: &reqwest::Client,
    target: &Target,
    q: &QueryInfo,
    time_ms: i64,
) -> DataResponse {
    let params = [("query", q.expr.clone()), ("time", format_seconds(time_ms))];
    respond(call(client, target, "api/v1/query", &params).await, q)
}

/// Runs a range query; start and end are already aligned to the step.
pub async fn range(
    client: &reqwest::Client,
    target: &Target,
    q: &QueryInfo,
    start_ms: i64,
    end_ms: i64,
) -> DataResponse {
    let step = q.step_ns as f64 / durations::SEC as f64;
    let params = [
        ("query", q.expr.clone()),
        ("start", format_seconds(start_ms)),
        ("end", format_seconds(end_ms)),
        ("step", format!("{step}")),
    ];
    respond(call(client, target, "api/v1/query_range", &params).await, q)
}

fn respond(outcome: Outcome, q: &QueryInfo) -> DataResponse {
    match outcome {
        Outcome::Http { status, body, .. } => frames::from_prometheus(&body, status, q),
        // Grafana reports a transport failure as 502 Bad Gateway.
        Outcome::Failed(e) => DataResponse::failed(502, e),
    }
}

/// Grafana's Prometheus health check: the instant query `1+1` at t=4s.
/// Returns whether it passed and the message Grafana shows.
pub async fn health(client: &reqwest::Client, ds: &DataSource) -> (bool, String) {
    let mut target = Target::for_datasource(ds);
    target.timeout = HEALTH_TIMEOUT;
    let params = [("query", "1+1".to_string()), ("time", "4".to_string())];
    let error = match call(client, &target, "api/v1/query", &params).await {
        Outcome::Failed(e) => e,
        // Grafana's health path reports a non-200 answer by its status line.
        Outcome::Http {
            status,
            status_line,
            ..
        } if status != 200 => status_line,
        Outcome::Http { body, .. } => {
            let info = QueryInfo {
                ref_id: "__healthcheck__".into(),
                expr: "1+1".into(),
                step_ns: durations::SEC,
                legend_format: String::new(),
                dataplane: false,
            };
            match frames::from_prometheus(&body, 200, &info).error {
                Some(e) => e,
                None => return (true, HEALTH_OK.into()),
            }
        }
    };
    (false, format!("{error} - {HEALTH_FAILED}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_are_joined_like_go() {
        assert_eq!(
            endpoint_url("Post", "http://prometheus:9090", "api/v1/query")
                .unwrap()
                .as_str(),
            "http://prometheus:9090/api/v1/query"
        );
        assert_eq!(
            endpoint_url("Post", "http://prom:9090/sub/", "api/v1/query")
                .unwrap()
                .as_str(),
            "http://prom:9090/sub/api/v1/query"
        );
        assert_eq!(
            endpoint_url("Post", "localhost:9090", "api/v1/query").unwrap_err(),
            "Post \"localhost:9090/api/v1/query\": unsupported protocol scheme \"localhost\""
        );
        assert_eq!(
            endpoint_url("Post", "prometheus", "api/v1/query").unwrap_err(),
            "parse \"prometheus\": invalid URI for request"
        );
        assert_eq!(
            endpoint_url("Post", "127.0.0.1:9090", "api/v1/query").unwrap_err(),
            "parse \"127.0.0.1:9090\": first path segment in URL cannot contain colon"
        );
    }

    #[test]
    fn times_are_formatted_as_go_floats() {
        assert_eq!(format_seconds(4_000), "4");
        assert_eq!(format_seconds(1_723_985_953_476), "1723985953.476");
    }

    #[tokio::test]
    async fn a_closed_port_is_connection_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let target = Target {
            url: format!("http://127.0.0.1:{port}"),
            post: true,
            basic_auth: None,
            timeout: Duration::from_secs(2),
        };
        let Outcome::Failed(e) = call(&client, &target, "api/v1/query", &[]).await else {
            panic!("a closed port answered");
        };
        assert_eq!(
            e,
            format!("Post \"http://127.0.0.1:{port}/api/v1/query\": dial tcp 127.0.0.1:{port}: connect: connection refused")
        );
    }
}

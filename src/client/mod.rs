//! The HTTP client layer: what `lab` asks of Anchore, Grafana and Prometheus over
//! HTTP, and the small helpers every such call shares (messages that name the URL
//! without its query, JSON answers, URL segments and queries). Used by the probes
//! (reading) and by the steps (writing).

pub mod anchore;
pub mod grafana;

use crate::model::Endpoint;
use crate::text::clip;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The HTTP client every probe shares: its connection pool makes repeated probes cheap.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("lab/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// One attempt's HTTP calls: the shared client, the moment the attempt must end,
/// and how much of a body to read. Probes (`probe::Ctx::call`) and steps
/// (`Session::ctx`) make every request through it.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub http: &'a reqwest::Client,
    pub deadline: Instant,
    pub max_body: usize,
}

impl Call<'_> {
    /// Time left for this attempt, for per-request timeouts.
    pub fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    /// GET with the attempt's time limit and optional basic auth.
    pub async fn get(&self, url: &str, auth: Option<&Endpoint>) -> Result<(u16, String), String> {
        self.send(self.http.get(url), url, auth).await
    }

    /// Sends `req` with the attempt's time limit and, with `auth`, basic auth (never
    /// a password the server already refused in this run: Grafana locks accounts);
    /// returns the status and the body, streamed up to the cap and redacted. Errors
    /// name the URL and what failed, never the password.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        auth: Option<&Endpoint>,
    ) -> Result<(u16, String), String> {
        let limit = self.remaining();
        let mut req = req.timeout(limit);
        if let Some(ep) = auth {
            if ep.was_refused() {
                return Err(grafana::refusal(ep, true));
            }
            req = req.basic_auth(&ep.user, Some(ep.password.expose()));
        }
        let mut resp = req.send().await.map_err(|e| http_error(url, &e, limit))?;
        let status = resp.status().as_u16();
        if status == 401 {
            if let Some(ep) = auth {
                ep.mark_refused();
            }
        }
        // Streamed, and never more than the cap: a server that sends without end
        // costs a few MiB, not all the memory there is.
        let cap = self.max_body;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > cap {
                        return Err(format!(
                            "{} answered HTTP {status} with a body larger than {} (the check's \
                             `max_body`); it was not read further",
                            strip_query(&crate::redact::url(url)),
                            show_size(cap)
                        ));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(format!(
                        "{} answered HTTP {status} but its body did not end within {} ({} read; \
                         the server is still sending)",
                        strip_query(&crate::redact::url(url)),
                        crate::model::format_duration(tenths(limit)),
                        show_size(buf.len())
                    ))
                }
                Err(e) => return Err(http_error(url, &e, limit)),
            }
        }
        // Redacted before anything keeps it: a server may echo the credentials.
        let body = crate::redact::text(&String::from_utf8_lossy(&buf));
        Ok((status, body))
    }
}

/// `n` bytes in words: `4 MiB`, `512 KiB`, `100 bytes`.
pub fn show_size(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}
/// A reqwest error in words: which URL, and whether it was refused, timed out, or else.
pub fn http_error(url: &str, e: &reqwest::Error, limit: Duration) -> String {
    let shown = crate::redact::url(url);
    let base = strip_query(&shown);
    if e.is_timeout() {
        format!(
            "no answer from {base} within {} (the server accepted the connection but did not respond)",
            crate::model::format_duration(tenths(limit))
        )
    } else if e.is_connect() {
        let mut cause = String::new();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            cause = s.to_string();
            src = s.source();
        }
        format!("cannot connect to {base}: {}", crate::redact::text(&cause))
    } else {
        format!(
            "request to {base} failed: {}",
            crate::redact::text(&e.to_string())
        )
    }
}
/// A wait as a person reads it, to the tenth of a second: the time left when a
/// request goes out is the check's timeout less a few milliseconds already spent,
/// and a verdict must not change with them (`2s`, not `1.997s`).
pub fn tenths(d: Duration) -> Duration {
    Duration::from_millis((d.as_millis() as u64).div_ceil(100) * 100)
}
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// `url` without its query string, for messages.
pub fn base(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Text on one line, cut to `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        "(empty)".into()
    } else {
        clip(&flat, max)
    }
}

/// `: ` and the start of a body, or nothing for an empty one.
pub fn body_hint(body: &str) -> String {
    if body.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", one_line(body, 100))
    }
}

/// The answer as JSON, or why it is not (naming the URL and, for an error status,
/// the status and the start of the body).
pub fn json_answer(url: &str, status: u16, body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|e| {
        if (200..300).contains(&status) {
            format!("{} answered something that is not JSON: {e}", base(url))
        } else {
            format!("{} answered HTTP {status}{}", base(url), body_hint(body))
        }
    })
}

/// The error for an HTTP 401: the credentials were refused. Names the user and
/// the variable holding the password, never the password.
pub fn rejected(service: &str, url: &str, ep: &crate::model::Endpoint, env: &str) -> String {
    format!(
        "{service} at {} rejected the credentials of user `{}` (HTTP 401): set {env} to the right password",
        base(url),
        ep.user
    )
}

/// `message` (or `error`) of a JSON error answer, if any.
pub fn message_of(v: &Value) -> Option<String> {
    ["message", "error"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `s` made safe as one path segment of a URL.
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` with query parameters appended, properly encoded.
pub fn with_query(url: &str, params: &[(&str, &str)]) -> Result<String, String> {
    reqwest::Url::parse_with_params(url, params)
        .map(|u| u.to_string())
        .map_err(|e| format!("invalid URL {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_queries_are_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("bdpa7hticyha8e"), "bdpa7hticyha8e");
        let u = with_query(
            "http://h:9090/api/v1/query",
            &[("query", "up{job=\"a b\"} + 1")],
        )
        .expect("valid");
        assert_eq!(
            u,
            "http://h:9090/api/v1/query?query=up%7Bjob%3D%22a+b%22%7D+%2B+1"
        );
    }
}

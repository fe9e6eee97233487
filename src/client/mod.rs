//! The HTTP client layer: what `lab` asks of Anchore, Grafana and Prometheus over
//! HTTP, and the small helpers every such call shares (messages that name the URL
//! without its query, JSON answers, URL segments and queries). Used by the probes
//! (reading) and by the steps (writing).

pub mod grafana;

use crate::text::clip;
use serde_json::Value;
use std::time::Duration;

/// The HTTP client every probe shares: its connection pool makes repeated probes cheap.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("lab/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
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

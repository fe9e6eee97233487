//! Which release of each server answers, and whether `lab` is tested with it: for
//! `lab doctor` and `lab status`. Read without side effects: Grafana's
//! `/api/health` and Prometheus's `/api/v1/status/buildinfo` need no login (so a
//! wrong Grafana password costs nothing here), Anchore's `/v2/version` takes the API
//! password (Anchore does not lock accounts).

use super::{Ctx, Endpoint};
use crate::client::json_answer;
use serde::Serialize;
use serde_json::Value;

/// A release as (major, minor).
type Release = (u64, u64);

/// The releases `lab` is tested with, per server: (lowest, first not tested). See
/// the README's compatibility table for how each is tested.
pub const TESTED: &[(&str, Release, Release)] = &[
    // Stand-in profiles 9.5, 10.4, 11.1, 11.6, 12 and 13.
    ("Grafana", (9, 5), (14, 0)),
    // Real servers: Debian trixie's 2.53 and sid's 3.5 (the bench's `latest`).
    ("Prometheus", (2, 53), (4, 0)),
    // The stand-in plays Anchore Enterprise 5.
    ("Anchore Enterprise", (5, 0), (6, 0)),
];

/// What one server said about its release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerVersion {
    pub server: &'static str,
    pub url: String,
    /// The release it reports; `None` when it did not answer (see `error`).
    pub version: Option<String>,
    pub error: Option<String>,
    /// Whether the release is inside the tested range; `None` when unknown.
    pub tested: Option<bool>,
}

impl ServerVersion {
    /// `11.6.0 (tested: 9.5 to 13.x)` or why it is unknown.
    pub fn describe(&self) -> String {
        let range = tested_range(self.server);
        match (&self.version, self.tested) {
            (Some(v), Some(true)) => format!("{v} (tested: {range})"),
            (Some(v), _) => format!("{v}, outside what lab is tested with ({range})"),
            (None, _) => self.error.clone().unwrap_or_else(|| "no answer".into()),
        }
    }
}

fn tested_range(server: &str) -> String {
    TESTED
        .iter()
        .find(|(s, _, _)| *s == server)
        .map(|(_, (a, b), (c, _))| format!("{a}.{b} to {}.x", c - 1))
        .unwrap_or_default()
}

/// `major.minor` of a version string (`v3.5.3+ds1`, `11.6.0-pre`, `12.0.0`).
pub fn major_minor(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().trim_start_matches('v');
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Whether `version` of `server` is inside the tested range.
pub fn is_tested(server: &str, version: &str) -> Option<bool> {
    let (_, low, high) = TESTED.iter().find(|(s, _, _)| *s == server)?;
    let mm = major_minor(version)?;
    Some(mm >= *low && mm < *high)
}

async fn ask(ctx: &Ctx, url: String, auth: Option<&Endpoint>) -> Result<Value, String> {
    let (status, body) = ctx.get(&url, auth).await?;
    let doc = json_answer(&url, status, &body)?;
    if status != 200 {
        return Err(format!("{url} answered HTTP {status}"));
    }
    Ok(doc)
}

fn found(server: &'static str, url: &str, r: Result<Option<String>, String>) -> ServerVersion {
    let (version, error) = match r {
        Ok(Some(v)) => (Some(v), None),
        Ok(None) => (None, Some("the answer names no version".to_string())),
        Err(e) => (None, Some(e)),
    };
    let tested = version.as_deref().and_then(|v| is_tested(server, v));
    ServerVersion {
        server,
        url: url.to_string(),
        version,
        error,
        tested,
    }
}

/// The release of each of the environment's servers, asked concurrently.
pub async fn servers(ctx: &Ctx) -> Vec<ServerVersion> {
    let t = &ctx.target;
    let grafana = async {
        let r = ask(ctx, format!("{}/api/health", t.grafana.url), None).await;
        found(
            "Grafana",
            &t.grafana.url,
            r.map(|d| d["version"].as_str().map(str::to_string)),
        )
    };
    let prometheus = async {
        let auth = (!t.prometheus.user.is_empty()).then_some(&t.prometheus);
        let r = ask(
            ctx,
            format!("{}/api/v1/status/buildinfo", t.prometheus.url),
            auth,
        )
        .await;
        found(
            "Prometheus",
            &t.prometheus.url,
            r.map(|d| d["data"]["version"].as_str().map(str::to_string)),
        )
    };
    let anchore = async {
        let r = ask(
            ctx,
            format!("{}/v2/version", t.anchore.url),
            Some(&t.anchore),
        )
        .await;
        found(
            "Anchore Enterprise",
            &t.anchore.url,
            r.map(|d| d["service"]["version"].as_str().map(str::to_string)),
        )
    };
    let (a, p, g) = tokio::join!(anchore, prometheus, grafana);
    vec![a, p, g]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testserver::{self as ts, Reply, Routes, TestServer};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn versions_are_read_leniently_and_ranges_compared() {
        assert_eq!(major_minor("v3.5.3+ds1"), Some((3, 5)));
        assert_eq!(major_minor("11.6.0-pre"), Some((11, 6)));
        assert_eq!(major_minor("12"), Some((12, 0)));
        assert_eq!(major_minor("garbage"), None);
        assert_eq!(is_tested("Grafana", "9.4.7"), Some(false));
        assert_eq!(is_tested("Grafana", "9.5.0"), Some(true));
        assert_eq!(is_tested("Grafana", "13.0.1"), Some(true));
        assert_eq!(is_tested("Grafana", "14.0.0"), Some(false));
        assert_eq!(is_tested("Prometheus", "2.53.3+ds1"), Some(true));
        assert_eq!(is_tested("Prometheus", "3.5.3"), Some(true));
        assert_eq!(is_tested("Prometheus", "2.30.0"), Some(false));
        assert_eq!(is_tested("Anchore Enterprise", "6.1.0"), Some(false));
    }

    /// Each server's own version answer (Grafana `/api/health`, Prometheus
    /// `/api/v1/status/buildinfo` as 3.5 answers it, Anchore `/v2/version`).
    #[tokio::test]
    async fn each_server_says_its_release_and_grafana_gets_no_password() {
        let srv = TestServer::start(
            Routes::new()
                .get(
                    "/api/health",
                    Reply::json(200, json!({"commit": "abc", "database": "ok", "version": "14.1.0"})),
                )
                .get(
                    "/api/v1/status/buildinfo",
                    Reply::json(200, json!({"status": "success", "data": {"version": "3.5.3+ds1", "revision": "3.5.3+ds1-6", "branch": "debian/sid", "buildUser": "team+pkg-go@tracker.debian.org", "buildDate": "20250101-00:00:00", "goVersion": "go1.24.4"}})),
                )
                .get(
                    "/v2/version",
                    Reply::json(200, json!({"service": {"version": "5.17.0"}, "api": {"version": "2"}, "db": {"schema_version": "5170"}})),
                ),
        )
        .await;
        let found = servers(&ts::ctx(&srv.url, Duration::from_secs(5))).await;
        let said: Vec<String> = found.iter().map(ServerVersion::describe).collect();
        assert_eq!(
            said,
            [
                "5.17.0 (tested: 5.0 to 5.x)",
                "3.5.3+ds1 (tested: 2.53 to 3.x)",
                "14.1.0, outside what lab is tested with (9.5 to 13.x)",
            ]
        );
        let health = srv
            .requests()
            .into_iter()
            .find(|r| r.path == "/api/health")
            .expect("asked");
        assert_eq!(health.header("authorization"), None);
        let none = servers(&ts::ctx(&ts::refused_url().await, Duration::from_secs(2))).await;
        assert!(none
            .iter()
            .all(|v| v.version.is_none() && v.error.is_some()));
    }
}

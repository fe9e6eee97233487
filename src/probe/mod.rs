//! Probes: read-only questions put to the environment, one module per check kind.
//! A probe never changes anything and never prints; it returns an observation.

pub mod anchore;
pub mod answer;
pub mod command;
pub mod compose;
pub mod container;
pub mod events;
pub mod file;
pub mod grafana;
mod grafana_schema;
pub mod http;
pub mod jsonpath;
pub mod logs;
pub mod prometheus;
pub mod scrape;
#[cfg(test)]
pub mod testing;
#[cfg(test)]
pub mod testserver;
pub mod versions;

use crate::model::CheckSpec;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A password or token: never shown, whatever prints it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The only way to read the value; call it where it is sent, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A service `lab` talks to over HTTP.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub user: String,
    pub password: Secret,
    /// Set when the server refused these credentials (HTTP 401) and they must not be
    /// sent again: shared by every clone, so by every check and retry of one run.
    /// `None`: the server does not lock accounts, retries may send them again.
    refused: Option<Arc<AtomicBool>>,
}

impl Endpoint {
    /// Registers the password (and any password in the URL's userinfo) with
    /// [`crate::redact`], so no output shows it.
    pub fn new(url: &str, user: &str, password: &str) -> Self {
        crate::redact::register_credentials(user, password);
        if let Ok(u) = reqwest::Url::parse(url) {
            if let Some(pw) = u.password() {
                crate::redact::register_credentials(u.username(), pw);
                if let Ok(plain) = percent_encoding::percent_decode_str(pw).decode_utf8() {
                    crate::redact::register_credentials(u.username(), &plain);
                }
            }
        }
        Endpoint {
            url: url.trim_end_matches('/').to_string(),
            user: user.into(),
            password: Secret::new(password),
            refused: None,
        }
    }

    /// Credentials sent at most until the server refuses them once. Grafana counts
    /// every refused password, basic auth included, and after 5 within 5 minutes
    /// refuses even the right one for the rest of those 5 minutes (brute-force
    /// login protection, on by default).
    pub fn once_refused_never_resent(mut self) -> Self {
        self.refused = Some(Arc::new(AtomicBool::new(false)));
        self
    }

    /// Whether the server already refused these credentials in this run.
    pub fn was_refused(&self) -> bool {
        self.refused
            .as_ref()
            .is_some_and(|r| r.load(Ordering::SeqCst))
    }

    fn mark_refused(&self) {
        if let Some(r) = &self.refused {
            r.store(true, Ordering::SeqCst);
        }
    }
}

/// The environment the checks look at: where its files are, its compose project,
/// where its services answer and the trainee's recorded answers.
#[derive(Debug, Clone)]
pub struct Target {
    /// The trainee's working folder; relative paths in checks start here.
    pub workdir: PathBuf,
    /// The compose file, relative to `workdir` or absolute.
    pub compose_file: PathBuf,
    pub project: String,
    pub anchore: Endpoint,
    pub prometheus: Endpoint,
    pub grafana: Endpoint,
    /// Question id -> the trainee's answer as typed.
    pub answers: BTreeMap<String, String>,
    /// Course host port -> the loopback port the stack publishes instead (see
    /// `crate::ports`); empty when the stack publishes the course's ports.
    pub moved_ports: crate::ports::Moved,
}

impl Target {
    pub fn path(&self, rel: &str) -> PathBuf {
        let p = PathBuf::from(rel);
        if p.is_absolute() {
            p
        } else {
            self.workdir.join(p)
        }
    }

    /// Expands `{anchore}`, `{prometheus}` and `{grafana}` at the start of a URL.
    pub fn url(&self, url: &str) -> String {
        for (ph, ep) in [
            ("{anchore}", &self.anchore),
            ("{prometheus}", &self.prometheus),
            ("{grafana}", &self.grafana),
        ] {
            if let Some(rest) = url.strip_prefix(ph) {
                return format!("{}{}", ep.url, rest);
            }
        }
        url.to_string()
    }
}

/// What one probe saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Pass {
        actual: String,
    },
    Fail {
        expected: String,
        actual: String,
        /// Which of the check's causes of failure the probe found, with its hint.
        cause: Option<Cause>,
        /// For instructors only (`lab grade --detail`): a value the trainee must
        /// find themselves, such as the expected answer.
        reference: Option<String>,
    },
    /// Nothing to judge yet: a free-text answer waits for the instructor.
    Pending {
        actual: String,
    },
    /// A failure whose cause the probe recognised, with the hint for that cause (shown
    /// instead of the check's own).
    FailCause {
        expected: String,
        actual: String,
        hint: String,
    },
}

impl Observation {
    pub fn pass(actual: impl Into<String>) -> Self {
        Observation::Pass {
            actual: actual.into(),
        }
    }
    pub fn fail(expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Observation::Fail {
            expected: expected.into(),
            actual: actual.into(),
            cause: None,
            reference: None,
        }
    }

    /// A failure whose cause the probe found: its id and the hint for it.
    pub fn failed_because(
        cause: Cause,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Observation::Fail {
            expected: expected.into(),
            actual: actual.into(),
            cause: Some(cause),
            reference: None,
        }
    }

    /// A failure the probe recognised, with the hint for that cause in place of the
    /// check's own.
    pub fn fail_because(
        expected: impl Into<String>,
        actual: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Observation::FailCause {
            expected: expected.into(),
            actual: actual.into(),
            hint: hint.into(),
        }
    }

    /// Adds what only an instructor may see to a failure.
    pub fn with_reference(mut self, value: impl Into<String>) -> Self {
        if let Observation::Fail { reference, .. } = &mut self {
            *reference = Some(value.into());
        }
        self
    }
}

/// Why a check failed, when its probe can tell one cause from another: a short id
/// (`credentials-missing`, `metrics-off`, ...) a lab file may give its own hint
/// (`causes:`), and the probe's hint for it, in words (never a regex or a JSON path).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub id: &'static str,
    pub hint: String,
}

impl Cause {
    pub fn new(id: &'static str, hint: impl Into<String>) -> Self {
        Cause {
            id,
            hint: hint.into(),
        }
    }
}

/// A probe that could not look (server down, bad response): the check errs.
pub type ProbeResult = Result<Observation, String>;

/// What every probe may use: the target, one HTTP client, the Docker connection,
/// and the moment its attempt must end.
#[derive(Clone)]
pub struct Ctx {
    pub target: Arc<Target>,
    pub http: reqwest::Client,
    /// `Err` holds why the engine could not be reached; only Docker-backed probes care.
    pub docker: Arc<Result<bollard::Docker, String>>,
    pub deadline: Instant,
}

impl Ctx {
    /// Time left for this attempt, for per-request timeouts.
    pub fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    pub fn docker(&self) -> Result<&bollard::Docker, String> {
        self.docker
            .as_ref()
            .as_ref()
            .map_err(|e| format!("Docker engine unreachable: {e}"))
    }

    /// GET a URL with the attempt's time limit and optional basic auth, returning
    /// the status and body. Errors name the URL and what failed; never the password.
    pub async fn get(&self, url: &str, auth: Option<&Endpoint>) -> Result<(u16, String), String> {
        self.send(self.http.get(url), url, auth).await
    }

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
        let cap = max_body();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > cap {
                        return Err(format!(
                            "{} answered HTTP {status} with a body larger than {} (the check's                              `max_body`); it was not read further",
                            strip_query(&crate::redact::url(url)),
                            show_size(cap)
                        ));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(format!(
                        "{} answered HTTP {status} but its body did not end within {} ({} read;                          the server is still sending)",
                        strip_query(&crate::redact::url(url)),
                        crate::model::format_duration(limit),
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

/// How much of a response body a probe reads by default (a check's `max_body`
/// overrides it).
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

tokio::task_local! {
    /// The body cap of the check being probed (the runner sets it per check).
    pub static MAX_BODY: usize;
}

/// The body cap in force: the check's, else [`DEFAULT_MAX_BODY`].
pub fn max_body() -> usize {
    MAX_BODY.try_with(|m| *m).unwrap_or(DEFAULT_MAX_BODY)
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
            crate::model::format_duration(limit)
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

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Runs the probe of one check kind.
pub async fn probe(spec: &CheckSpec, ctx: &Ctx) -> ProbeResult {
    match spec {
        CheckSpec::Container(c) => container::probe(c, ctx).await,
        CheckSpec::Compose(c) => compose::probe(c, ctx).await,
        CheckSpec::File(c) => file::probe(c, ctx).await,
        CheckSpec::Http(c) => http::probe(c, ctx).await,
        CheckSpec::PrometheusQuery(c) => prometheus::query(c, ctx).await,
        CheckSpec::PrometheusTargets(c) => prometheus::targets(c, ctx).await,
        CheckSpec::PrometheusConfig(c) => prometheus::loaded_config(c, ctx).await,
        CheckSpec::ScrapeFile(c) => scrape::probe(c, ctx).await,
        CheckSpec::GrafanaDatasource(c) => grafana::datasource(c, ctx).await,
        CheckSpec::GrafanaDashboard(c) => grafana::dashboard(c, ctx).await,
        CheckSpec::AnchoreImage(c) => anchore::image(c, ctx).await,
        CheckSpec::Logs(c) => logs::probe(c, ctx).await,
        CheckSpec::Answer(c) => answer::probe(c, ctx).await,
        CheckSpec::Command(c) => command::probe(c, ctx).await,
    }
}

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
pub mod logs;
pub mod prometheus;
pub mod scrape;
#[cfg(test)]
pub mod testing;
#[cfg(test)]
pub mod testserver;
pub mod versions;

pub use crate::client::{http_error, show_size, tenths};
pub use crate::model::target::{Endpoint, Secret, Target};
use crate::model::CheckSpec;

use std::sync::Arc;
use std::time::{Duration, Instant};

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

    /// A failure the probe recognised without a name a lab could give its own hint
    /// for: the probe's hint for it replaces the check's own.
    pub fn fail_because(
        expected: impl Into<String>,
        actual: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Observation::failed_because(Cause::unnamed(hint), expected, actual)
    }

    /// The hint of the cause the probe found, if it found one.
    pub fn cause_hint(&self) -> Option<&str> {
        match self {
            Observation::Fail { cause: Some(c), .. } => Some(&c.hint),
            _ => None,
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

    /// A cause with no id: a lab cannot override its hint, and results name no cause.
    pub fn unnamed(hint: impl Into<String>) -> Self {
        Cause::new("", hint)
    }

    /// The id a lab's `causes:` may give its own hint for; `None` for an unnamed cause.
    pub fn named(&self) -> Option<&'static str> {
        Some(self.id).filter(|id| !id.is_empty())
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
        self.call().remaining()
    }

    pub fn docker(&self) -> Result<&bollard::Docker, String> {
        self.docker
            .as_ref()
            .as_ref()
            .map_err(|e| format!("Docker engine unreachable: {e}"))
    }

    /// [`crate::client::Call::get`] for this attempt.
    pub async fn get(&self, url: &str, auth: Option<&Endpoint>) -> Result<(u16, String), String> {
        self.call().get(url, auth).await
    }

    /// [`crate::client::Call::send`] for this attempt.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        auth: Option<&Endpoint>,
    ) -> Result<(u16, String), String> {
        self.call().send(req, url, auth).await
    }

    /// This attempt's HTTP calls: the shared client, the attempt's deadline and
    /// the check's body cap.
    pub fn call(&self) -> crate::client::Call<'_> {
        crate::client::Call {
            http: &self.http,
            deadline: self.deadline,
            max_body: max_body(),
        }
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

/// Runs CPU-bound work on a trainee's file (parsing YAML, matching a regex) off the
/// async threads: a check's timeout and a grading deadline then fire on time however
/// long the work takes (a timer cannot interrupt a future that does not yield).
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the check stopped: {e}"))
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

#[cfg(test)]
mod tenths_tests {
    use super::*;

    /// Found in CI: grading twice gave `within 2s` and `within 1.997s`.
    #[test]
    fn waits_are_shown_to_the_tenth_so_a_verdict_does_not_change_with_milliseconds() {
        for ms in [1_997, 1_999, 2_000] {
            assert_eq!(tenths(Duration::from_millis(ms)), Duration::from_secs(2));
        }
        assert_eq!(
            tenths(Duration::from_millis(1_500)),
            Duration::from_millis(1_500)
        );
        assert_eq!(tenths(Duration::from_millis(1)), Duration::from_millis(100));
    }
}

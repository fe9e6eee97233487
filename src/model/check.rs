//! Checks: what `lab check` verifies, one internally tagged enum variant per kind.

use super::duration::Dur;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A check as written in a lab file: the common fields sit beside `kind` and the
/// kind's own fields. Unknown fields are still rejected: everything the common part
/// does not take is handed to the kind's struct, which denies unknown fields
/// (serde does not support `deny_unknown_fields` on the struct that flattens).
#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    pub id: String,
    /// What the check verifies, in words a trainee understands.
    pub description: String,
    /// How long one attempt may take (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Retry until it passes or the window ends.
    #[serde(default)]
    pub eventually: Option<Eventually>,
    /// Checks that must pass first; if one does not, this one is skipped.
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default = "one")]
    pub points: i64,
    #[serde(default)]
    pub hint: Option<String>,
    /// Hints for the causes of failure the probe tells apart (`credentials-missing:
    /// ...`), replacing the probe's own words for them.
    #[serde(default)]
    pub causes: BTreeMap<String, String>,
    /// The most of a response body an HTTP-backed check reads (default 4 MiB):
    /// `512KiB`, `16MiB`, or a number of bytes.
    #[serde(default)]
    pub max_body: Option<ByteSize>,
    #[serde(flatten)]
    pub spec: CheckSpec,
}

/// A size in bytes, written `512KiB`, `16MiB`, `1GiB` or as a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByteSize(pub usize);

/// The largest `max_body` a check may ask for.
pub const MAX_BODY_LIMIT: usize = 1 << 30;

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: usize = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size such as 512KiB, 16MiB or 4096"))?;
        let mul: usize = match unit.trim() {
            "" | "B" => 1,
            "KiB" | "KB" | "K" => 1 << 10,
            "MiB" | "MB" | "M" => 1 << 20,
            "GiB" | "GB" | "G" => 1 << 30,
            u => {
                return Err(format!(
                    "`{u}` in `{s}` is not a size unit (KiB, MiB or GiB)"
                ))
            }
        };
        let bytes = n
            .checked_mul(mul)
            .filter(|b| (1..=MAX_BODY_LIMIT).contains(b))
            .ok_or_else(|| format!("`{s}` is not between 1 byte and 1GiB"))?;
        Ok(ByteSize(bytes))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::N(n) => n.to_string(),
            Raw::S(s) => s,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Eventually {
    /// The whole retry window.
    pub within: Dur,
    /// The pause between attempts (default 1s).
    #[serde(default = "default_every")]
    pub every: Dur,
}

fn default_every() -> Dur {
    Dur::secs(1)
}

/// The kind-specific part of a check, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckSpec {
    Container(ContainerCheck),
    Compose(ComposeCheck),
    File(FileCheck),
    Http(HttpCheck),
    PrometheusQuery(PrometheusQueryCheck),
    PrometheusTargets(PrometheusTargetsCheck),
    PrometheusConfig(PrometheusConfigCheck),
    ScrapeFile(ScrapeFileCheck),
    GrafanaDatasource(GrafanaDatasourceCheck),
    GrafanaDashboard(GrafanaDashboardCheck),
    AnchoreImage(AnchoreImageCheck),
    Logs(LogsCheck),
    Answer(AnswerCheck),
    Command(CommandCheck),
}

impl CheckSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Container(_) => "container",
            CheckSpec::Compose(_) => "compose",
            CheckSpec::File(_) => "file",
            CheckSpec::Http(_) => "http",
            CheckSpec::PrometheusQuery(_) => "prometheus_query",
            CheckSpec::PrometheusTargets(_) => "prometheus_targets",
            CheckSpec::PrometheusConfig(_) => "prometheus_config",
            CheckSpec::ScrapeFile(_) => "scrape_file",
            CheckSpec::GrafanaDatasource(_) => "grafana_datasource",
            CheckSpec::GrafanaDashboard(_) => "grafana_dashboard",
            CheckSpec::AnchoreImage(_) => "anchore_image",
            CheckSpec::Logs(_) => "logs",
            CheckSpec::Answer(_) => "answer",
            CheckSpec::Command(_) => "command",
        }
    }

    /// Whether the probe needs the Docker engine.
    pub fn needs_docker(&self) -> bool {
        match self {
            CheckSpec::Container(_) | CheckSpec::Logs(_) => true,
            CheckSpec::PrometheusTargets(t) => t.every_anchore_service,
            // Both read the analyzer's container logs.
            CheckSpec::Answer(a) => matches!(
                a.expect,
                AnswerExpect::AnalysisThread { .. }
                    | AnswerExpect::Number {
                        of: Computed::AnalysisDuration { .. },
                        ..
                    }
            ),
            _ => false,
        }
    }

    /// Whether the probe logs in to Grafana with the trainee's password.
    pub fn logs_in_to_grafana(&self) -> bool {
        match self {
            CheckSpec::Http(h) => h.auth == Auth::Grafana,
            CheckSpec::GrafanaDatasource(_) | CheckSpec::GrafanaDashboard(_) => true,
            _ => false,
        }
    }
}

/// The state a container must be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    Exists,
    #[default]
    Running,
    Healthy,
}

/// A compose service's container(s), found by the compose project and service labels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerCheck {
    /// The compose services whose containers are checked (every one must satisfy it).
    #[serde(default)]
    pub services: Vec<String>,
    /// Also every service whose containers run the Anchore Enterprise image (not the UI).
    #[serde(default)]
    pub every_anchore_service: bool,
    #[serde(default)]
    pub state: ContainerState,
    /// Environment variables that must be set to these values.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Boolean variables that must be on as Anchore reads them (`true`, `True`,
    /// `yes`, `on`, `1`, ...).
    #[serde(default)]
    pub enabled: Vec<String>,
    /// Host ports that must be published (to any container port).
    #[serde(default)]
    pub publishes: Vec<u16>,
    /// Paths inside the container that must be mount destinations.
    #[serde(default)]
    pub mounts: Vec<String>,
}

/// The trainee's compose file, as compose itself would read it (anchors and `<<` merges applied).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeCheck {
    /// Relative to the environment's folder; default: the environment's compose file.
    #[serde(default)]
    pub file: Option<String>,
    /// Services that must be defined and satisfy the conditions below.
    #[serde(default)]
    pub services: Vec<String>,
    /// Also every service that runs the Anchore Enterprise image (not the UI), as
    /// the resolved file says: the deployment's own list, 5.x or 6.x.
    #[serde(default)]
    pub every_anchore_service: bool,
    /// A regex the service's `image` must match.
    #[serde(default)]
    pub image: Option<String>,
    /// Port mappings that must be present, as written in compose (`"9090:9090"`).
    #[serde(default)]
    pub ports: Vec<String>,
    /// Environment variables (list or map form in the file) that must have these values.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Boolean variables that must be on as Anchore reads them (`true`, `True`,
    /// `yes`, `on`, `1`, ...), with the value compose resolves (`.env` included).
    #[serde(default)]
    pub enabled: Vec<String>,
    /// Mount targets (container paths) that must be present, optionally with a source:
    /// `/etc/prometheus/prometheus.yml` or `./anchore-prometheus.yml:/etc/prometheus/prometheus.yml`.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Top-level volumes that must be declared.
    #[serde(default)]
    pub top_level_volumes: Vec<String>,
}

/// A file in the environment's folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    pub path: String,
    /// `false` to require that the file is absent.
    #[serde(default = "yes")]
    pub exists: bool,
    /// A regex the content must match.
    #[serde(default)]
    pub contains: Option<String>,
    /// A value inside the file, read as YAML or JSON.
    #[serde(default)]
    pub yaml: Option<ValueAt>,
    #[serde(default)]
    pub json: Option<ValueAt>,
}

fn yes() -> bool {
    true
}

/// `path` selects a value (`scrape_configs[0].job_name`); it must equal `equals`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueAt {
    pub path: String,
    pub equals: serde_json::Value,
}

/// Which of the environment's credentials an HTTP request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    #[default]
    None,
    Anchore,
    Grafana,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// May start with `{anchore}`, `{prometheus}` or `{grafana}`: the environment's URLs.
    pub url: String,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default = "status_200")]
    pub status: u16,
    /// A regex the body must match.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub json: Option<ValueAt>,
}

fn status_200() -> u16 {
    200
}

/// An instant query. With no condition, it must return at least one series.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusQueryCheck {
    pub query: String,
    /// At least this many series.
    #[serde(default)]
    pub min_series: Option<usize>,
    /// A series carrying all these labels must be present (and is the one compared).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `"> 0"`, `">= 1"`, `"== 3"`, `"< 10"`, `"<= 2"`, `"!= 0"`.
    #[serde(default)]
    pub value: Option<String>,
    /// Allowed difference for `==` and `!=`.
    #[serde(default)]
    pub tolerance: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusTargetsCheck {
    /// Jobs whose targets must all be up; empty means every job (unless services
    /// are named).
    #[serde(default)]
    pub jobs: Vec<String>,
    /// Compose services that must each be scraped by a target that is up, whatever
    /// its job is called: a target whose host is the service's name, one of its
    /// containers' names, or one of their addresses (DNS discovery).
    #[serde(default)]
    pub services: Vec<String>,
    /// Every running service of the deployment that runs the Anchore Enterprise
    /// image (not the UI), found with Docker, as if named in `services`.
    #[serde(default)]
    pub every_anchore_service: bool,
    /// `up` (default) or `down`: lets a lab assert that scraping fails before the fix.
    #[serde(default = "health_up")]
    pub health: String,
}

fn health_up() -> String {
    "up".into()
}

/// Prometheus runs with the scrape file: the configuration it reports having loaded
/// (`/api/v1/status/config`) has the file's jobs and targets, however the file got
/// into the container (a file or a folder mount, a copy in an image).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfigCheck {
    /// The scrape file, relative to the environment's folder.
    pub file: String,
}

/// A scrape configuration file, read as Prometheus reads it (any YAML style,
/// defaults applied, credentials from `basic_auth` or `authorization`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeFileCheck {
    pub path: String,
    /// Compose services some job must scrape (a target on that host, or a DNS name).
    #[serde(default)]
    pub services: Vec<String>,
    /// The jobs scraping those services send credentials (default true).
    #[serde(default = "yes")]
    pub credentials: bool,
    /// The metrics path those jobs must use, after defaults (default `/metrics`).
    #[serde(default = "metrics_path")]
    pub metrics_path: String,
}

fn metrics_path() -> String {
    "/metrics".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrafanaDatasourceCheck {
    #[serde(rename = "type")]
    pub ds_type: String,
    /// The URL the data source must use, e.g. `http://prometheus:9090`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Also run Grafana's health check of the data source (default true).
    #[serde(default = "yes")]
    pub healthy: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrafanaDashboardCheck {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    /// Panels (by title) whose queries must return data; `["*"]` for every panel.
    #[serde(default)]
    pub panels_with_data: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchoreImageCheck {
    /// The image tag; without it, the check counts images.
    #[serde(default)]
    pub tag: Option<String>,
    /// `analyzed` (default), `analyzing`, `not_analyzed` or `analysis_failed`.
    #[serde(default = "analyzed")]
    pub status: String,
    /// Without `tag`: at least this many images have `status` (default 1).
    #[serde(default)]
    pub at_least: Option<usize>,
}

fn analyzed() -> String {
    "analyzed".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsCheck {
    pub service: String,
    /// A regex some log line must match.
    pub matches: String,
    /// Only lines logged within this window.
    #[serde(default)]
    pub since: Option<Dur>,
    #[serde(default)]
    pub at_least: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerCheck {
    /// The id of a question of this lab.
    pub question: String,
    pub expect: AnswerExpect,
}

/// What an answer is compared with.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnswerExpect {
    /// A number or a duration within `tolerance` of a value the check computes.
    Number {
        of: Computed,
        /// In the answer's unit: seconds for a duration (`2s`), or a plain number.
        tolerance: f64,
    },
    /// A regex the answer must match (case-insensitive).
    Matches { pattern: String },
    /// The thread that analysed an image, as the analyzer's logs name it
    /// (`Thread-55181`; brackets and case do not matter).
    AnalysisThread { service: String, image: String },
    /// The answer must be a field (`type`, `resource_id`, ...) of an event in the deployment's
    /// event log (Anchore's `/v2/events`), of `level` and of a type starting with `event_type`
    /// when they are given.
    AnchoreEvent {
        field: EventField,
        #[serde(default)]
        level: Option<String>,
        #[serde(default)]
        event_type: Option<String>,
    },
    /// The answer must be the `label` of the series an instant query gives the highest
    /// value, e.g. the `job` of `max_over_time(process_resident_memory_bytes[30m])`.
    PrometheusTop { query: String, label: String },
    /// Free text kept for the instructor: no points until graded.
    FreeText,
}

/// A field of an event of Anchore's event log, as `anchorectl event list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventField {
    /// `system.image_analysis.registry_lookup_failed` (the EVENT TYPE column).
    Type,
    /// The resource the event is about, e.g. an image reference (RESOURCE ID).
    ResourceId,
    /// `image_reference`, `image_tag`, `image_digest` (RESOURCE TYPE).
    ResourceType,
    /// The service that raised it, e.g. `catalog` (SOURCE SERVICE).
    SourceService,
}

impl EventField {
    /// The field in words, as the column of `anchorectl event list` names it.
    pub fn words(self) -> &'static str {
        match self {
            EventField::Type => "event type",
            EventField::ResourceId => "resource id",
            EventField::ResourceType => "resource type",
            EventField::SourceService => "source service",
        }
    }
}

/// A value computed when the check runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Computed {
    Literal(f64),
    /// The first value of an instant query.
    Prometheus(String),
    /// Seconds between an image's `dequeued` and `analysis complete` lines in the
    /// analyzer's logs.
    AnalysisDuration {
        service: String,
        image: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandCheck {
    /// Program and arguments; run without a shell unless `shell` is true, in which case
    /// `argv` has one element, the script.
    pub argv: Vec<String>,
    #[serde(default)]
    pub shell: bool,
    #[serde(default)]
    pub exit_code: i32,
    /// A regex stdout must match.
    #[serde(default)]
    pub stdout: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(expect: AnswerExpect) -> CheckSpec {
        CheckSpec::Answer(AnswerCheck {
            question: "q".into(),
            expect,
        })
    }

    /// An `analysis_thread` answer is judged from the analyzer's container logs, so
    /// it needs the engine like the analysis-duration answer does.
    #[test]
    fn answers_read_from_container_logs_need_docker() {
        let thread = answer(AnswerExpect::AnalysisThread {
            service: "analyzer".into(),
            image: "postgres".into(),
        });
        assert!(thread.needs_docker());
        let typed = answer(AnswerExpect::Matches {
            pattern: "x".into(),
        });
        assert!(!typed.needs_docker());
    }
}

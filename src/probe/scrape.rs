//! A Prometheus scrape configuration read as Prometheus reads it: any YAML style
//! (block or flow, anchors and merges), the defaults applied (`metrics_path: /metrics`,
//! `scheme: http`), credentials from `basic_auth` (`password` or `password_file`) or
//! `authorization`, and the hosts a job scrapes, from `static_configs` targets or
//! `dns_sd_configs` names. The same reader takes the trainee's file and the
//! configuration Prometheus reports it loaded (`/api/v1/status/config`), so the two
//! can be compared.

use super::{Cause, Ctx, Observation, ProbeResult};
use crate::model::check::ScrapeFileCheck;
use serde_json::Value;
use std::collections::BTreeSet;

/// How a job authenticates its scrapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    None,
    /// `basic_auth` with a user name and a password (inline or from a file).
    Basic,
    /// `basic_auth` without a user name or without any password.
    BasicIncomplete,
    /// `authorization` (a bearer or other scheme) with credentials.
    Authorization,
}

impl Credentials {
    pub fn present(self) -> bool {
        matches!(self, Credentials::Basic | Credentials::Authorization)
    }
}

/// One scrape job, reduced to what the checks judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub metrics_path: String,
    pub scheme: String,
    /// `host:port` of each static target.
    pub targets: BTreeSet<String>,
    /// DNS names discovered with `dns_sd_configs` (each may resolve to several replicas).
    pub dns_names: BTreeSet<String>,
    pub credentials: Credentials,
}

impl Job {
    /// Whether the job scrapes compose service `service` (a static target on that
    /// host, or a DNS name of it), case-insensitive as DNS is.
    pub fn scrapes(&self, service: &str) -> bool {
        self.targets
            .iter()
            .any(|t| host_of(t).eq_ignore_ascii_case(service))
            || self
                .dns_names
                .iter()
                .any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(service))
    }

    /// What the job scrapes, for comparing a file with what Prometheus loaded.
    fn shape(&self) -> (String, String, BTreeSet<String>, BTreeSet<String>) {
        (
            self.name.clone(),
            self.metrics_path.clone(),
            self.targets.clone(),
            self.dns_names.clone(),
        )
    }
}

/// The host part of `host:port` (or of `[v6]:port`).
pub fn host_of(target: &str) -> &str {
    let t = target.trim();
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    t.rsplit_once(':').map_or(t, |(h, _)| h)
}

/// Why a scrape configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not YAML: the parser's message, which names the line and column.
    Yaml(String),
    /// YAML, but not a scrape configuration: what is wrong, in words.
    Shape(String),
}

/// Reads a configuration's scrape jobs.
pub fn read(text: &str) -> Result<Vec<Job>, ReadError> {
    let doc = crate::loader::yaml_value(text).map_err(ReadError::Yaml)?;
    jobs_of(&doc)
}

/// The scrape jobs of a parsed configuration.
pub fn jobs_of(doc: &Value) -> Result<Vec<Job>, ReadError> {
    if doc.is_null() {
        return Ok(Vec::new());
    }
    if !doc.is_object() {
        return Err(ReadError::Shape(
            "the file is not a mapping of settings (global, scrape_configs, ...)".into(),
        ));
    }
    let list = match doc.get("scrape_configs") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ReadError::Shape(
                "scrape_configs is not a list of jobs".into(),
            ))
        }
    };
    list.iter().enumerate().map(|(i, j)| job_of(i, j)).collect()
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn job_of(index: usize, j: &Value) -> Result<Job, ReadError> {
    let name = text(j.get("job_name")).filter(|n| !n.trim().is_empty());
    let Some(name) = name else {
        return Err(ReadError::Shape(format!(
            "scrape job number {} has no job_name",
            index + 1
        )));
    };
    let metrics_path = text(j.get("metrics_path")).unwrap_or_else(|| "/metrics".into());
    let scheme = text(j.get("scheme")).unwrap_or_else(|| "http".into());
    let mut targets = BTreeSet::new();
    for sc in j
        .get("static_configs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for t in sc
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = text(Some(t)) {
                targets.insert(t.trim().to_string());
            }
        }
    }
    let mut dns_names = BTreeSet::new();
    for d in j
        .get("dns_sd_configs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for n in d
            .get("names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = text(Some(n)) {
                dns_names.insert(n.trim().to_string());
            }
        }
    }
    Ok(Job {
        name,
        metrics_path,
        scheme,
        targets,
        dns_names,
        credentials: credentials_of(j),
    })
}

fn credentials_of(j: &Value) -> Credentials {
    let set = |v: Option<&Value>| text(v).is_some_and(|s| !s.is_empty());
    if let Some(b) = j.get("basic_auth").filter(|b| b.is_object()) {
        let user = set(b.get("username")) || set(b.get("username_file"));
        let pass = set(b.get("password")) || set(b.get("password_file"));
        return if user && pass {
            Credentials::Basic
        } else {
            Credentials::BasicIncomplete
        };
    }
    if let Some(a) = j.get("authorization").filter(|a| a.is_object()) {
        if set(a.get("credentials")) || set(a.get("credentials_file")) {
            return Credentials::Authorization;
        }
    }
    Credentials::None
}

/// How the configuration Prometheus loaded compares with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// Same jobs, same paths, same targets.
    Same,
    /// Prometheus runs something else; `default` when that is the image's own
    /// configuration (one job, `prometheus`, scraping itself).
    Other { default: bool, jobs: Vec<String> },
}

/// Compares the jobs Prometheus loaded with the jobs of the file.
pub fn compare(loaded: &[Job], file: &[Job]) -> Loaded {
    let shape = |jobs: &[Job]| -> BTreeSet<_> { jobs.iter().map(Job::shape).collect() };
    if shape(loaded) == shape(file) {
        return Loaded::Same;
    }
    let names: Vec<String> = loaded.iter().map(|j| j.name.clone()).collect();
    let default = loaded.len() <= 1
        && loaded
            .iter()
            .all(|j| j.name == "prometheus" && j.targets.iter().all(|t| host_of(t) == "localhost"));
    Loaded::Other {
        default,
        jobs: names,
    }
}

/// The verdict on a scrape file: read, then judged by [`judge`].
pub async fn probe(c: &ScrapeFileCheck, ctx: &Ctx) -> ProbeResult {
    let path = ctx.target.path(&c.path);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let c = c.clone();
    super::off_thread(move || judge(&c, text.as_deref())).await
}

/// The verdict on a scrape file's text (`None`: no such file).
pub fn judge(c: &ScrapeFileCheck, text: Option<&str>) -> Observation {
    let expected = expected_of(c);
    let Some(text) = text else {
        return Observation::failed_because(
            Cause::new(
                "file-missing",
                format!(
                    "Save the scrape configuration as {} in the environment's folder, beside the compose file.",
                    c.path
                ),
            ),
            expected,
            format!("no file {}", c.path),
        );
    };
    let jobs = match read(text) {
        Ok(j) => j,
        Err(ReadError::Yaml(m)) => {
            return Observation::failed_because(
                Cause::new(
                    "yaml-invalid",
                    format!(
                        "{} is not valid YAML: fix it at the line named (indentation, a missing colon or quote); Prometheus refuses to start with it.",
                        c.path
                    ),
                ),
                expected,
                format!("{} is not valid YAML: {m}", c.path),
            )
        }
        Err(ReadError::Shape(m)) => {
            return Observation::failed_because(
                Cause::new(
                    "not-a-scrape-config",
                    "A scrape configuration is a mapping with a `scrape_configs` list; each entry has a `job_name` and its targets.",
                ),
                expected,
                format!("{}: {m}", c.path),
            )
        }
    };
    let mut missing = Vec::new();
    let mut no_credentials = Vec::new();
    let mut wrong_path = Vec::new();
    for svc in &c.services {
        let scraping: Vec<&Job> = jobs.iter().filter(|j| j.scrapes(svc)).collect();
        if scraping.is_empty() {
            missing.push(svc.clone());
            continue;
        }
        for j in scraping {
            if c.credentials && !j.credentials.present() {
                let what = if j.credentials == Credentials::BasicIncomplete {
                    "basic_auth without a user name or password"
                } else {
                    "no credentials"
                };
                no_credentials.push(format!("job {} ({svc}): {what}", j.name));
            }
            if j.metrics_path != c.metrics_path {
                wrong_path.push(format!(
                    "job {} ({svc}): metrics path {}",
                    j.name, j.metrics_path
                ));
            }
        }
    }
    no_credentials.dedup();
    wrong_path.dedup();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("no job scrapes {}", missing.join(", ")));
    }
    problems.extend(no_credentials.iter().cloned());
    problems.extend(wrong_path.iter().cloned());
    if problems.is_empty() {
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        return Observation::pass(format!(
            "{}: {} ({})",
            c.path,
            crate::text::count(jobs.len(), "job"),
            names.join(", ")
        ));
    }
    let cause = if !missing.is_empty() {
        Cause::new(
            "job-missing",
            "Every Anchore service needs a scrape job (any name) whose target is the service's \
             compose name and API port, or a dns_sd_configs entry that finds it.",
        )
    } else if !no_credentials.is_empty() {
        Cause::new(
            "credentials-missing",
            "Anchore asks for the API's credentials on /metrics: give each job `basic_auth` with \
             the Anchore admin user and password (or a password_file), or an `authorization` block.",
        )
    } else {
        Cause::new(
            "metrics-path-wrong",
            "Anchore serves its metrics on /metrics, which is also Prometheus's default: drop the \
             job's metrics_path or set it to /metrics.",
        )
    };
    Observation::failed_because(cause, expected, problems.join("; "))
}

fn expected_of(c: &ScrapeFileCheck) -> String {
    let mut s = format!("{} scrapes {}", c.path, c.services.join(", "));
    if c.metrics_path != "/metrics" {
        s.push_str(&format!(" on {}", c.metrics_path));
    }
    if c.credentials {
        s.push_str(" with credentials");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Job {
        let jobs = read(text).expect("valid");
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        jobs.into_iter().next().expect("one job")
    }

    #[test]
    fn defaults_apply_when_a_job_leaves_them_out() {
        let j = one("scrape_configs:\n  - job_name: api\n    static_configs:\n      - targets: ['api:8228']\n");
        assert_eq!(j.metrics_path, "/metrics");
        assert_eq!(j.scheme, "http");
        assert!(j.scrapes("api"));
        assert!(!j.scrapes("catalog"));
        assert_eq!(j.credentials, Credentials::None);
    }

    #[test]
    fn block_and_flow_styles_read_the_same() {
        let block = "scrape_configs:\n  - job_name: api\n    basic_auth:\n      username: admin\n      password: foobar\n    static_configs:\n      - targets:\n          - api:8228\n";
        let flow = "scrape_configs: [{job_name: api, basic_auth: {username: admin, password: foobar}, static_configs: [{targets: [\"api:8228\"]}]}]";
        assert_eq!(one(block), one(flow));
        assert_eq!(one(flow).credentials, Credentials::Basic);
    }

    #[test]
    fn anchors_and_merges_are_applied() {
        let text = "x-auth: &auth\n  basic_auth: {username: admin, password_file: /run/secrets/p}\nscrape_configs:\n  - <<: *auth\n    job_name: anchore-api\n    static_configs: [{targets: ['api:8228']}]\n";
        let j = one(text);
        assert_eq!(j.credentials, Credentials::Basic);
        assert_eq!(j.name, "anchore-api");
        assert!(j.scrapes("api"));
    }

    #[test]
    fn every_form_of_credentials_is_recognised() {
        let job = |auth: &str| {
            one(&format!(
                "scrape_configs:\n  - job_name: a\n    {auth}\n    static_configs: [{{targets: ['api:8228']}}]\n"
            ))
            .credentials
        };
        assert_eq!(
            job("basic_auth: {username: admin, password: foobar}"),
            Credentials::Basic
        );
        assert_eq!(
            job("basic_auth: {username: admin, password_file: /p}"),
            Credentials::Basic
        );
        assert_eq!(
            job("basic_auth: {username: admin}"),
            Credentials::BasicIncomplete
        );
        assert_eq!(
            job("basic_auth: {password: foobar}"),
            Credentials::BasicIncomplete
        );
        assert_eq!(
            job("authorization: {type: Basic, credentials: YWRtaW46Zm9vYmFy}"),
            Credentials::Authorization
        );
        assert_eq!(
            job("authorization: {credentials_file: /t}"),
            Credentials::Authorization
        );
        assert_eq!(job("honor_labels: true"), Credentials::None);
    }

    #[test]
    fn dns_discovery_scrapes_the_service_it_names() {
        let j = one("scrape_configs:\n  - job_name: analyzers\n    dns_sd_configs:\n      - names: [analyzer]\n        type: A\n        port: 8228\n");
        assert!(j.scrapes("analyzer"));
        assert!(j.scrapes("Analyzer"));
        assert!(j.targets.is_empty());
    }

    #[test]
    fn broken_files_say_what_is_wrong() {
        assert!(
            matches!(read("scrape_configs: [\n"), Err(ReadError::Yaml(m)) if m.contains("line"))
        );
        assert!(matches!(read("- a\n- b\n"), Err(ReadError::Shape(_))));
        assert!(matches!(
            read("scrape_configs: 3\n"),
            Err(ReadError::Shape(_))
        ));
        assert!(
            matches!(read("scrape_configs:\n  - static_configs: []\n"), Err(ReadError::Shape(m)) if m.contains("job_name"))
        );
        assert_eq!(read(""), Ok(vec![]));
    }

    #[test]
    fn host_of_takes_the_host_of_any_target_form() {
        assert_eq!(host_of("api:8228"), "api");
        assert_eq!(host_of("api"), "api");
        assert_eq!(host_of("[::1]:9090"), "::1");
        assert_eq!(host_of(" 10.0.0.5:8228 "), "10.0.0.5");
    }

    #[test]
    fn the_loaded_configuration_is_the_file_or_something_else() {
        let file = read("scrape_configs:\n  - job_name: api\n    static_configs: [{targets: ['api:8228']}]\n    basic_auth: {username: admin, password: foobar}\n").unwrap();
        // What Prometheus reports: defaults spelled out, secrets hidden.
        let loaded = read("global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: api\n  honor_timestamps: true\n  metrics_path: /metrics\n  scheme: http\n  basic_auth:\n    username: admin\n    password: <secret>\n  static_configs:\n  - targets:\n    - api:8228\n").unwrap();
        assert_eq!(compare(&loaded, &file), Loaded::Same);
        let default = read("scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: ['localhost:9090']\n").unwrap();
        assert_eq!(
            compare(&default, &file),
            Loaded::Other {
                default: true,
                jobs: vec!["prometheus".into()]
            }
        );
        let older = read(
            "scrape_configs:\n- job_name: api\n  static_configs:\n  - targets: ['api:9999']\n",
        )
        .unwrap();
        assert!(matches!(
            compare(&older, &file),
            Loaded::Other { default: false, .. }
        ));
    }

    fn check() -> ScrapeFileCheck {
        ScrapeFileCheck {
            path: "anchore-prometheus.yml".into(),
            services: vec!["api".into(), "analyzer".into()],
            credentials: true,
            metrics_path: "/metrics".into(),
        }
    }

    fn cause(o: &Observation) -> Option<&'static str> {
        match o {
            Observation::Fail { cause, .. } => cause.as_ref().map(|c| c.id),
            _ => None,
        }
    }

    /// Valid ways of writing the same scrape configuration: each must pass.
    #[test]
    fn valid_alternatives_pass() {
        let cases = [
            ("model", "scrape_configs:\n  - job_name: api\n    metrics_path: /metrics\n    static_configs: [{targets: ['api:8228']}]\n    basic_auth: {username: admin, password: foobar}\n  - job_name: analyzer\n    metrics_path: /metrics\n    static_configs: [{targets: ['analyzer:8228']}]\n    basic_auth:\n      username: admin\n      password: foobar\n"),
            ("no metrics_path", "scrape_configs:\n  - job_name: api\n    static_configs: [{targets: ['api:8228']}]\n    basic_auth: {username: admin, password: foobar}\n  - job_name: analyzer\n    static_configs: [{targets: ['analyzer:8228']}]\n    basic_auth: {username: admin, password: foobar}\n"),
            ("anchore- job names", "scrape_configs:\n  - job_name: anchore-api\n    static_configs: [{targets: ['api:8228']}]\n    basic_auth: {username: admin, password: foobar}\n  - job_name: anchore-analyzer\n    static_configs: [{targets: ['analyzer:8228']}]\n    basic_auth: {username: admin, password: foobar}\n"),
            ("one job, two targets", "scrape_configs:\n  - job_name: anchore\n    static_configs: [{targets: ['api:8228', 'analyzer:8228']}]\n    authorization: {type: Basic, credentials: YWRtaW46Zm9vYmFy}\n"),
            ("dns discovery", "scrape_configs:\n  - job_name: api\n    static_configs: [{targets: ['api:8228']}]\n    basic_auth: {username: admin, password_file: /etc/prometheus/pw}\n  - job_name: analyzer\n    dns_sd_configs: [{names: [analyzer], type: A, port: 8228}]\n    basic_auth: {username: admin, password_file: /etc/prometheus/pw}\n"),
            ("flow style", "{scrape_configs: [{job_name: all, static_configs: [{targets: [api:8228, analyzer:8228]}], basic_auth: {username: admin, password: foobar}}]}"),
        ];
        for (name, text) in cases {
            let o = judge(&check(), Some(text));
            assert!(matches!(o, Observation::Pass { .. }), "{name}: {o:?}");
        }
    }

    /// Mistakes: each must fail with the cause that names it.
    #[test]
    fn mistakes_fail_with_their_cause() {
        let cases = [
            ("no file", None, "file-missing"),
            ("tab-broken yaml", Some("scrape_configs:\n  - job_name: api\n\t static_configs: []\n"), "yaml-invalid"),
            ("a list, not a mapping", Some("- job_name: api\n"), "not-a-scrape-config"),
            ("analyzer not scraped", Some("scrape_configs:\n  - job_name: api\n    static_configs: [{targets: ['api:8228']}]\n    basic_auth: {username: admin, password: foobar}\n"), "job-missing"),
            ("no basic_auth", Some("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['api:8228', 'analyzer:8228']}]\n"), "credentials-missing"),
            ("no password", Some("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['api:8228', 'analyzer:8228']}]\n    basic_auth: {username: admin}\n"), "credentials-missing"),
            ("wrong path", Some("scrape_configs:\n  - job_name: a\n    metrics_path: /metric\n    static_configs: [{targets: ['api:8228', 'analyzer:8228']}]\n    basic_auth: {username: admin, password: foobar}\n"), "metrics-path-wrong"),
        ];
        for (name, text, want) in cases {
            let o = judge(&check(), text);
            assert_eq!(cause(&o), Some(want), "{name}: {o:?}");
        }
    }

    #[test]
    fn a_failure_never_shows_a_password() {
        let o = judge(
            &check(),
            Some("scrape_configs:\n  - job_name: api\n    static_configs: [{targets: ['api:8228']}]\n    basic_auth: {username: admin, password: s3cret}\n"),
        );
        assert!(!format!("{o:?}").contains("s3cret"), "{o:?}");
    }
}

//! Which role a stand-in process plays and how it is configured: its command line, and the
//! environment variables the real services read plus a few `STANDIN_*` ones.

use std::path::PathBuf;
use std::time::Duration;

use super::analysis::{self, Rule};
use super::logging::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Apiext,
    Catalog,
    Simplequeue,
    PolicyEngine,
    Analyzer,
    Reports,
    ReportsWorker,
    Notifications,
    DataSyncer,
    /// Stands in for Postgres, and so owns the shared state (see `store`).
    Db,
    Redis,
    Ui,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::Apiext,
        Role::Catalog,
        Role::Simplequeue,
        Role::PolicyEngine,
        Role::Analyzer,
        Role::Reports,
        Role::ReportsWorker,
        Role::Notifications,
        Role::DataSyncer,
        Role::Db,
        Role::Redis,
        Role::Ui,
    ];

    /// Accepts the service names of `anchore-enterprise-manager service start` and the
    /// quickstart's compose service names.
    pub fn parse(s: &str) -> Option<Role> {
        let r = match s {
            "apiext" | "api" => Role::Apiext,
            "catalog" => Role::Catalog,
            "simplequeue" | "queue" => Role::Simplequeue,
            "policy_engine" | "policy-engine" => Role::PolicyEngine,
            "analyzer" => Role::Analyzer,
            "reports" => Role::Reports,
            "reports_worker" | "reports-worker" => Role::ReportsWorker,
            "notifications" => Role::Notifications,
            "data_syncer" | "data-syncer" => Role::DataSyncer,
            "db" | "anchore-db" | "postgres" => Role::Db,
            "redis" | "ui-redis" => Role::Redis,
            "ui" => Role::Ui,
            _ => return None,
        };
        Some(r)
    }

    /// The name the service registers under (as `anchorectl system status` shows it).
    pub fn service_name(self) -> &'static str {
        match self {
            Role::Apiext => "apiext",
            Role::Catalog => "catalog",
            Role::Simplequeue => "simplequeue",
            Role::PolicyEngine => "policy_engine",
            Role::Analyzer => "analyzer",
            Role::Reports => "reports",
            Role::ReportsWorker => "reports_worker",
            Role::Notifications => "notifications",
            Role::DataSyncer => "data_syncer",
            Role::Db => "db",
            Role::Redis => "redis",
            Role::Ui => "ui",
        }
    }

    /// Anchore services (as opposed to the database, redis and the UI).
    pub fn is_anchore(self) -> bool {
        !matches!(self, Role::Db | Role::Redis | Role::Ui)
    }

    pub fn default_port(self) -> u16 {
        match self {
            Role::Db => 5432,
            Role::Redis => 6379,
            Role::Ui => 3000,
            _ => 8228,
        }
    }
}

/// What the process was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start(Role),
    Healthcheck(Option<String>),
    Help,
    Version,
}

pub const USAGE: &str = "\
usage: anchore-standin service start <role>
       anchore-standin <role>
       anchore-standin healthcheck [URL|ROLE]

roles: apiext (api), catalog, simplequeue (queue), policy_engine, analyzer, reports,
       reports_worker, notifications, data_syncer, db, redis, ui
A leading `anchore-enterprise-manager` is ignored, so the quickstart's `command:` works as is.";

/// Parses the arguments after the program name.
pub fn parse_command(args: &[String]) -> Result<Command, String> {
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    if matches!(
        args.first(),
        Some(&"anchore-enterprise-manager") | Some(&"anchore-manager")
    ) {
        args.remove(0);
    }
    let role = |s: &str| Role::parse(s).ok_or_else(|| format!("unknown role {s:?}\n{USAGE}"));
    match args.as_slice() {
        ["service", "start", r] => role(r).map(Command::Start),
        ["healthcheck"] => Ok(Command::Healthcheck(None)),
        ["healthcheck", target] => Ok(Command::Healthcheck(Some(target.to_string()))),
        ["-h"] | ["--help"] | ["help"] => Ok(Command::Help),
        ["--version"] | ["version"] => Ok(Command::Version),
        [r] => role(r).map(Command::Start),
        [] => Err(format!("no role given\n{USAGE}")),
        _ => Err(format!("cannot understand {:?}\n{USAGE}", args.join(" "))),
    }
}

/// Reads the environment (through `env`, so tests need not touch the real one).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Truthy values as Anchore's YAML config would read them.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "0" | "no" | "n" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The state owner's base URL from `ANCHORE_DB_HOST` (`host`, `host:port` or a full URL); the
/// port defaults to Postgres's 5432 because the owner stands in for the database.
pub fn owner_url(db_host: &str) -> Result<String, String> {
    let h = db_host.trim().trim_end_matches('/');
    if h.is_empty() {
        return Err("ANCHORE_DB_HOST is empty".to_string());
    }
    if h.starts_with("http://") {
        return Ok(h.to_string());
    }
    if h.contains("://") || h.contains('/') || h.chars().any(char::is_whitespace) {
        return Err(format!(
            "ANCHORE_DB_HOST must be host, host:port or http://host:port, not {db_host:?}"
        ));
    }
    match h.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(format!("http://{h}"))
        }
        Some(_) => Err(format!("ANCHORE_DB_HOST has a bad port: {db_host:?}")),
        None => Ok(format!("http://{h}:5432")),
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub role: Role,
    pub port: u16,
    pub admin_password: Option<String>,
    pub metrics_enabled: bool,
    pub metrics_auth_disabled: bool,
    pub endpoint_hostname: String,
    pub host_id: String,
    pub owner_url: String,
    pub log_level: Level,
    pub analysis_seconds: f64,
    pub image_rules: Vec<Rule>,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub hints_enabled: bool,
    pub scratch_dir: PathBuf,
    pub health_file: PathBuf,
}

fn var(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn bool_var(env: Env, name: &str, default: bool) -> Result<bool, String> {
    match var(env, name) {
        None => Ok(default),
        Some(v) => parse_bool(&v).ok_or_else(|| format!("{name} must be true or false, not {v:?}")),
    }
}

fn millis_var(env: Env, name: &str, default: u64) -> Result<Duration, String> {
    match var(env, name) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(ms) if (1..=600_000).contains(&ms) => Ok(Duration::from_millis(ms)),
            _ => Err(format!(
                "{name} must be a number of milliseconds (1-600000), not {v:?}"
            )),
        },
    }
}

/// Default location of the file a running role writes so that a bare `healthcheck` knows what
/// to probe.
pub fn default_health_file() -> PathBuf {
    std::env::temp_dir().join("anchore-standin.health")
}

impl Config {
    /// Reads the configuration of `role`; `hostname` is the machine's (the container id under
    /// Docker), used when `ANCHORE_ENDPOINT_HOSTNAME` / `ANCHORE_HOST_ID` are not set.
    pub fn from_env(role: Role, env: Env, hostname: &str) -> Result<Config, String> {
        let port_var = if role.is_anchore() {
            "ANCHORE_SERVICE_PORT"
        } else {
            "STANDIN_PORT"
        };
        let port_text = var(env, "STANDIN_PORT").or_else(|| {
            if role.is_anchore() {
                var(env, port_var)
            } else {
                None
            }
        });
        let port = match port_text {
            None => role.default_port(),
            Some(p) => p
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{port_var} must be a port number, not {p:?}"))?,
        };
        let log_level = match var(env, "ANCHORE_LOG_LEVEL") {
            None => Level::Info,
            Some(l) => Level::parse(&l).ok_or_else(|| {
                format!("ANCHORE_LOG_LEVEL must be DEBUG, INFO, WARN or ERROR, not {l:?}")
            })?,
        };
        let analysis_seconds = match var(env, "STANDIN_ANALYSIS_SECONDS") {
            None => analysis::DEFAULT_SECONDS,
            Some(s) => analysis::parse_default_seconds(&s)?,
        };
        let image_rules = match var(env, "STANDIN_IMAGE_RULES") {
            None => Vec::new(),
            Some(j) => analysis::parse_rules(&j)?,
        };
        let owner_url =
            owner_url(&var(env, "ANCHORE_DB_HOST").unwrap_or_else(|| "anchore-db".into()))?;
        let scratch_dir = var(env, "STANDIN_SCRATCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let p = PathBuf::from("/analysis_scratch");
                if p.is_dir() {
                    p
                } else {
                    std::env::temp_dir()
                }
            });
        Ok(Config {
            role,
            port,
            admin_password: var(env, "ANCHORE_ADMIN_PASSWORD"),
            metrics_enabled: bool_var(env, "ANCHORE_ENABLE_METRICS", false)?,
            metrics_auth_disabled: bool_var(env, "ANCHORE_DISABLE_METRICS_AUTH", false)?,
            endpoint_hostname: var(env, "ANCHORE_ENDPOINT_HOSTNAME")
                .unwrap_or_else(|| hostname.to_string()),
            host_id: var(env, "ANCHORE_HOST_ID").unwrap_or_else(|| hostname.to_string()),
            owner_url,
            log_level,
            analysis_seconds,
            image_rules,
            poll_interval: millis_var(env, "STANDIN_POLL_MS", 500)?,
            heartbeat: millis_var(env, "STANDIN_HEARTBEAT_MS", 2000)?,
            hints_enabled: bool_var(env, "ANCHORE_HINTS_ENABLED", false)?,
            scratch_dir,
            health_file: var(env, "STANDIN_HEALTH_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(default_health_file),
        })
    }

    /// Where other services reach this one, as registered (`http://analyzer:8228`).
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", self.endpoint_hostname, self.port)
    }

    /// `anchore-enterprise-<role>`, the `[service:…]` of log lines.
    pub fn log_service(&self) -> String {
        format!("anchore-enterprise-{}", self.role.service_name())
    }
}

/// The machine's host name (the container id under Docker).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(role: Role, vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(role, &|k| map.get(k).cloned(), "c0ffee")
    }

    #[test]
    fn parses_command_lines() {
        let a = |v: &[&str]| parse_command(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&["service", "start", "apiext"]),
            Ok(Command::Start(Role::Apiext))
        );
        assert_eq!(
            a(&[
                "anchore-enterprise-manager",
                "service",
                "start",
                "policy_engine"
            ]),
            Ok(Command::Start(Role::PolicyEngine))
        );
        assert_eq!(a(&["queue"]), Ok(Command::Start(Role::Simplequeue)));
        assert_eq!(a(&["healthcheck"]), Ok(Command::Healthcheck(None)));
        assert_eq!(
            a(&["healthcheck", "redis"]),
            Ok(Command::Healthcheck(Some("redis".into())))
        );
        assert!(a(&["service", "start", "feeds"])
            .unwrap_err()
            .contains("unknown role"));
        assert!(a(&[]).is_err());
        assert!(a(&["service", "stop", "x", "y"]).is_err());
    }

    #[test]
    fn defaults_match_the_quickstart() {
        let c = cfg(Role::Analyzer, &[]).unwrap();
        assert_eq!(c.port, 8228);
        assert!(!c.metrics_enabled && !c.metrics_auth_disabled);
        assert_eq!(c.owner_url, "http://anchore-db:5432");
        assert_eq!(c.host_id, "c0ffee");
        assert_eq!(c.admin_password, None);
        assert_eq!(c.analysis_seconds, 2.0);
        assert_eq!(c.poll_interval, Duration::from_millis(500));
        assert_eq!(c.log_service(), "anchore-enterprise-analyzer");
        assert_eq!(
            cfg(Role::Db, &[("ANCHORE_SERVICE_PORT", "8228")])
                .unwrap()
                .port,
            5432
        );
        assert_eq!(cfg(Role::Redis, &[]).unwrap().port, 6379);
    }

    #[test]
    fn reads_the_real_variables() {
        let c = cfg(
            Role::Apiext,
            &[
                ("ANCHORE_SERVICE_PORT", "18228"),
                ("ANCHORE_ADMIN_PASSWORD", "foobar"),
                ("ANCHORE_ENABLE_METRICS", "true"),
                ("ANCHORE_DISABLE_METRICS_AUTH", "True"),
                ("ANCHORE_ENDPOINT_HOSTNAME", "api"),
                ("ANCHORE_DB_HOST", "127.0.0.1:15432"),
                ("ANCHORE_LOG_LEVEL", "debug"),
                ("STANDIN_IMAGE_RULES", r#"[{"match":"x","seconds":1}]"#),
            ],
        )
        .unwrap();
        assert_eq!(c.port, 18228);
        assert_eq!(c.admin_password.as_deref(), Some("foobar"));
        assert!(c.metrics_enabled && c.metrics_auth_disabled);
        assert_eq!(c.base_url(), "http://api:18228");
        assert_eq!(c.owner_url, "http://127.0.0.1:15432");
        assert_eq!(c.log_level, Level::Debug);
        assert_eq!(c.image_rules.len(), 1);
        assert_eq!(
            cfg(Role::Db, &[("STANDIN_PORT", "15432")]).unwrap().port,
            15432
        );
    }

    #[test]
    fn explains_bad_values() {
        assert!(cfg(Role::Apiext, &[("ANCHORE_SERVICE_PORT", "http")])
            .unwrap_err()
            .contains("ANCHORE_SERVICE_PORT"));
        assert!(cfg(Role::Apiext, &[("ANCHORE_ENABLE_METRICS", "maybe")])
            .unwrap_err()
            .contains("ANCHORE_ENABLE_METRICS"));
        assert!(cfg(Role::Apiext, &[("ANCHORE_DB_HOST", "db:port")]).is_err());
        assert!(cfg(Role::Apiext, &[("ANCHORE_LOG_LEVEL", "chatty")]).is_err());
        assert!(cfg(Role::Analyzer, &[("STANDIN_ANALYSIS_SECONDS", "-1")]).is_err());
        assert!(cfg(Role::Analyzer, &[("STANDIN_POLL_MS", "0")]).is_err());
        assert_eq!(owner_url("http://db:1/"), Ok("http://db:1".to_string()));
        assert!(owner_url("https://db").is_err());
    }
}

//! The stand-in's settings, read from the same `GF_*` environment variables the Grafana image honours.

use std::path::PathBuf;

use super::profile::Profile;

/// Settings with Grafana's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `GF_SERVER_HTTP_ADDR`; empty means every interface, as in Grafana.
    pub http_addr: String,
    /// `GF_SERVER_HTTP_PORT`, default 3000.
    pub http_port: u16,
    /// `GF_SECURITY_ADMIN_USER`, default `admin`; used only when the database is created.
    pub admin_user: String,
    /// `GF_SECURITY_ADMIN_PASSWORD`, default `admin`; used only when the database is created.
    pub admin_password: String,
    /// `GF_PATHS_DATA`, default `/var/lib/grafana`.
    pub data_dir: PathBuf,
    /// `GF_PATHS_PROVISIONING`, default `/etc/grafana/provisioning`.
    pub provisioning_dir: PathBuf,
    /// `prometheusDataplane` listed in `GF_FEATURE_TOGGLES_ENABLE`.
    pub prometheus_dataplane: bool,
    /// The release played: `LAB_STANDIN_GRAFANA` (default 11.1).
    pub profile: Profile,
    /// `GF_SECURITY_BRUTE_FORCE_LOGIN_PROTECTION_MAX_ATTEMPTS`, default 5; 0 when
    /// `GF_SECURITY_DISABLE_BRUTE_FORCE_LOGIN_PROTECTION` is true.
    pub max_login_attempts: usize,
}

impl Config {
    /// Reads the settings through `lookup` (the process environment in production).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let get = |k: &str, d: &str| {
            lookup(k)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        let port_text = get("GF_SERVER_HTTP_PORT", "3000");
        let http_port = port_text
            .parse::<u16>()
            .map_err(|_| format!("GF_SERVER_HTTP_PORT: {port_text:?} is not a port number"))?;
        let toggles = get("GF_FEATURE_TOGGLES_ENABLE", "");
        let attempts_text = get("GF_SECURITY_BRUTE_FORCE_LOGIN_PROTECTION_MAX_ATTEMPTS", "5");
        let mut max_login_attempts = attempts_text.parse::<usize>().map_err(|_| {
            format!("GF_SECURITY_BRUTE_FORCE_LOGIN_PROTECTION_MAX_ATTEMPTS: {attempts_text:?} is not a number")
        })?;
        if get("GF_SECURITY_DISABLE_BRUTE_FORCE_LOGIN_PROTECTION", "false") == "true" {
            max_login_attempts = 0;
        }
        Ok(Config {
            profile: Profile::named(lookup("LAB_STANDIN_GRAFANA").as_deref())?,
            max_login_attempts,
            http_addr: get("GF_SERVER_HTTP_ADDR", ""),
            http_port,
            admin_user: get("GF_SECURITY_ADMIN_USER", "admin"),
            admin_password: get("GF_SECURITY_ADMIN_PASSWORD", "admin"),
            data_dir: PathBuf::from(get("GF_PATHS_DATA", "/var/lib/grafana")),
            provisioning_dir: PathBuf::from(get(
                "GF_PATHS_PROVISIONING",
                "/etc/grafana/provisioning",
            )),
            prometheus_dataplane: toggles
                .split([',', ' '])
                .any(|t| t.trim() == "prometheusDataplane"),
        })
    }

    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(&|k| std::env::var(k).ok())
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> String {
        let host = if self.http_addr.is_empty() {
            "0.0.0.0"
        } else {
            &self.http_addr
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.http_port)
        } else {
            format!("{host}:{}", self.http_port)
        }
    }

    /// Where the `healthcheck` subcommand finds this server from inside its own container.
    pub fn local_url(&self) -> String {
        let host = match self.http_addr.as_str() {
            "" | "0.0.0.0" => "127.0.0.1".to_string(),
            "::" => "[::1]".to_string(),
            h if h.contains(':') => format!("[{h}]"),
            h => h.to_string(),
        };
        format!("http://{host}:{}", self.http_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_grafanas() {
        let c = Config::from_lookup(&|_| None).unwrap();
        assert_eq!(c.http_port, 3000);
        assert_eq!(c.listen_addr(), "0.0.0.0:3000");
        assert_eq!(c.local_url(), "http://127.0.0.1:3000");
        assert_eq!(
            (c.admin_user.as_str(), c.admin_password.as_str()),
            ("admin", "admin")
        );
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/grafana"));
        assert_eq!(
            c.provisioning_dir,
            PathBuf::from("/etc/grafana/provisioning")
        );
        assert!(!c.prometheus_dataplane);
        assert_eq!(c.max_login_attempts, 5);
        assert_eq!(c.profile.version, "11.1.3");
    }

    #[test]
    fn environment_overrides() {
        let env = |k: &str| {
            match k {
                "GF_SERVER_HTTP_PORT" => Some("3001"),
                "GF_SERVER_HTTP_ADDR" => Some("127.0.0.1"),
                "GF_SECURITY_ADMIN_PASSWORD" => Some("s3cret"),
                "GF_PATHS_DATA" => Some("/tmp/g"),
                "GF_FEATURE_TOGGLES_ENABLE" => Some("foo,prometheusDataplane"),
                _ => None,
            }
            .map(str::to_string)
        };
        let c = Config::from_lookup(&env).unwrap();
        assert_eq!(c.listen_addr(), "127.0.0.1:3001");
        assert_eq!(c.admin_password, "s3cret");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/g"));
        assert!(c.prometheus_dataplane);
        let bad = |k: &str| (k == "GF_SERVER_HTTP_PORT").then(|| "http".to_string());
        assert!(Config::from_lookup(&bad)
            .unwrap_err()
            .contains("GF_SERVER_HTTP_PORT"));
    }
}

//! Where the environment's services answer and how to reach them: plain data shared by
//! probes, steps, grading and the environment's state.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Course host port -> the loopback port published instead.
pub type Moved = BTreeMap<u16, u16>;

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

    /// The same credentials as `earlier` share its refusal: a password the server
    /// refused in this run stays refused when the target is read again.
    pub fn keep_refusal_of(mut self, earlier: &Endpoint) -> Self {
        if self.refused.is_some()
            && self.url == earlier.url
            && self.user == earlier.user
            && self.password.expose() == earlier.password.expose()
        {
            if let Some(r) = &earlier.refused {
                self.refused = Some(r.clone());
            }
        }
        self
    }

    /// Whether the server already refused these credentials in this run.
    pub fn was_refused(&self) -> bool {
        self.refused
            .as_ref()
            .is_some_and(|r| r.load(Ordering::SeqCst))
    }

    pub(crate) fn mark_refused(&self) {
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
    /// Course host port -> the loopback port the stack publishes instead (the
    /// environment's moved ports); empty when the stack publishes the course's ports.
    pub moved_ports: Moved,
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

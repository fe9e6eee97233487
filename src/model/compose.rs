//! Compose as the other layers see it: its labels, the variable that forces a flavour,
//! the states a service goes through while `lab` waits for it, why a wait gave up, and
//! plain readings of a parsed compose file. No I/O.

use crate::model::format_duration;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The label compose puts on every container of a project, with the project's name.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label compose puts on every container of a service, with the service's name.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// Forces a compose flavour: `v2` (`docker compose`) or `v1` (`docker-compose`).
pub const FORCE_ENV: &str = "LAB_COMPOSE";

/// A service's state while `wait_ready` watches it; with replicas, the least ready
/// container's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// No container yet, or created and not started (or paused).
    Waiting,
    /// Running; its healthcheck has not passed yet.
    Starting,
    /// Running, and it has no healthcheck: as ready as it can be told.
    Running,
    /// Running, and its healthcheck passes.
    Healthy,
    /// Running, and its healthcheck failed its retries (Docker keeps probing, so it may recover).
    Unhealthy {
        failing_streak: i64,
        /// The last probe's output, first line, clipped.
        last_output: Option<String>,
    },
    /// Its restart policy is bringing it back after it exited.
    Restarting { exit_code: Option<i64> },
    /// Stopped, with its exit code.
    Exited { code: i64 },
}

impl ServiceState {
    /// Ready: running without a healthcheck, or healthy. A one-shot service (a
    /// database migration, an init job) is ready only once it finished with code 0:
    /// what depends on it needs it done, not running.
    pub fn is_ready(&self, one_shot: bool) -> bool {
        match self {
            ServiceState::Running | ServiceState::Healthy => !one_shot,
            ServiceState::Exited { code } => one_shot && *code == 0,
            _ => false,
        }
    }

    /// Failed for good: it exited and nothing will restart it.
    pub fn has_failed(&self, one_shot: bool) -> bool {
        matches!(self, ServiceState::Exited { .. }) && !self.is_ready(one_shot)
    }

    /// Lower is further from ready; a service shows its lowest container.
    fn rank(&self, one_shot: bool) -> u8 {
        match self {
            s if s.has_failed(one_shot) => 0,
            ServiceState::Unhealthy { .. } => 1,
            ServiceState::Restarting { .. } => 2,
            ServiceState::Waiting => 3,
            ServiceState::Starting => 4,
            ServiceState::Running => 5,
            ServiceState::Healthy => 6,
            // A one-shot that finished well.
            ServiceState::Exited { .. } => 7,
        }
    }

    /// The index of the least ready of a service's container states; `None` without containers.
    pub fn worst(states: &[ServiceState], one_shot: bool) -> Option<usize> {
        states
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.rank(one_shot))
            .map(|(i, _)| i)
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceState::Waiting => f.write_str("waiting"),
            ServiceState::Starting => f.write_str("starting"),
            ServiceState::Running => f.write_str("running (no healthcheck)"),
            ServiceState::Healthy => f.write_str("healthy"),
            ServiceState::Unhealthy {
                failing_streak,
                last_output,
            } => {
                write!(
                    f,
                    "unhealthy: {}",
                    crate::text::count(*failing_streak as usize, "failed probe")
                )?;
                if *failing_streak > 1 {
                    f.write_str(" in a row")?;
                }
                if let Some(o) = last_output {
                    write!(f, ", last: {o}")?;
                }
                Ok(())
            }
            ServiceState::Restarting { exit_code: Some(c) } => {
                write!(f, "restarting (last exit code {c})")
            }
            ServiceState::Restarting { exit_code: None } => f.write_str("restarting"),
            ServiceState::Exited { code } => write!(f, "exited (code {code})"),
        }
    }
}

/// One service that did not come up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub service: String,
    pub state: ServiceState,
    /// Passed as one-shot: it was to finish, not to run.
    pub one_shot: bool,
    /// The container whose state that is (the least ready replica); `None` without containers.
    pub container: Option<String>,
    /// Its last log lines, oldest first.
    pub logs: Vec<String>,
    /// Why the logs could not be read, when they could not.
    pub logs_error: Option<String>,
}

/// Why `wait_ready` gave up: which services, how they were, what they logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    pub project: String,
    /// `true`: the time ran out; `false`: a service exited, so waiting was pointless.
    pub timed_out: bool,
    pub timeout: Duration,
    pub services: Vec<Stuck>,
}

impl NotReady {
    pub fn hint(&self) -> String {
        if self.services.is_empty() {
            return "start the project first (`docker compose up -d`), or check its name".into();
        }
        let first = self.services.iter().find_map(|s| s.container.as_deref());
        match (first, self.timed_out) {
            (Some(c), true) => format!(
                "`docker logs {c}` shows all of its output; a slow machine may need a longer wait"
            ),
            (Some(c), false) => format!(
                "`docker logs {c}` shows all of its output; fix what made it stop, then start again"
            ),
            (None, _) => format!(
                "`docker ps -a --filter label={PROJECT_LABEL}={}` lists the project's containers; \
                 is the service in the compose file, and was it started?",
                self.project
            ),
        }
    }
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.services.is_empty() {
            return write!(
                f,
                "compose project `{}` has no containers: nothing to wait for",
                self.project
            );
        }
        let within = format_duration(self.timeout);
        for (i, s) in self.services.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "service {} ", s.service)?;
            match (&s.state, &s.container) {
                (ServiceState::Exited { code: 0 }, _) => f.write_str(
                    "exited with code 0, but it should keep running (or be passed as one-shot)",
                )?,
                (ServiceState::Exited { code }, _) => write!(f, "exited with code {code}")?,
                (_, None) => write!(f, "did not start within {within} (no container)")?,
                (st @ (ServiceState::Running | ServiceState::Healthy), _) if s.one_shot => {
                    write!(f, "did not finish within {within} (still {st})")?
                }
                (st @ (ServiceState::Starting | ServiceState::Unhealthy { .. }), _) => {
                    write!(f, "did not become healthy within {within} ({st})")?
                }
                (st @ ServiceState::Waiting, _) => {
                    write!(f, "did not start within {within} ({st})")?
                }
                (st, _) => write!(f, "did not come up within {within} ({st})")?,
            }
            let Some(c) = &s.container else { continue };
            match (&s.logs_error, s.logs.is_empty()) {
                (Some(e), _) => write!(f, "; its logs could not be read: {e}")?,
                (None, true) => write!(f, "; {c} logged nothing")?,
                (None, false) => {
                    write!(f, "; last log lines of {c}:")?;
                    for l in &s.logs {
                        write!(f, "\n    {l}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A YAML scalar as text (strings, numbers, booleans); `None` for the rest.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `environment:` as (name, value) pairs, from the list form (`- A=B`, `- A`) or the map form.
pub fn environment(service: &Value) -> Vec<(String, Option<String>)> {
    match service.get("environment") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (s, None),
            })
            .collect(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        _ => Vec::new(),
    }
}

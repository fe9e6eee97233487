//! What `lab status` reports, as plain data: the environment, each service's state,
//! where things answer and the last check results.

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename = "Status")]
pub struct EnvStatus {
    pub schema_version: u32,
    pub workspace: String,
    pub project: String,
    pub compose_file: String,
    pub adopted: bool,
    pub lab: Option<u32>,
    /// Why the Docker engine could not be asked; `None` when it answered.
    pub docker: Option<String>,
    pub services: Vec<Service>,
    pub urls: Vec<Url>,
    pub results: Vec<LastCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    /// `not created` (no container), `running`, `exited`, `created`, …
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or none when there is no healthcheck.
    pub health: Option<String>,
    pub containers: usize,
}

#[derive(Debug, Serialize)]
pub struct Url {
    pub name: &'static str,
    pub url: String,
    /// The release the server reports (`None`: it did not answer).
    pub version: Option<String>,
    /// Whether `lab` is tested with that release (`None`: unknown).
    pub tested: Option<bool>,
    /// The tested range, or why the version is unknown, in words.
    pub note: Option<String>,
}

impl Url {
    pub fn new(name: &'static str, url: String) -> Url {
        Url {
            name,
            url,
            version: None,
            tested: None,
            note: None,
        }
    }
}

/// A lab's last check totals, as `lab status` lists them.
#[derive(Debug, Serialize)]
#[serde(rename = "Result")]
pub struct LastCheck {
    pub lab: String,
    #[serde(flatten)]
    pub result: super::state::LastResult,
}

/// Each service the compose file defines (in its order), then any other service
/// that has containers, from `(service, state, health)` of every container: the
/// worst replica speaks for its service; a service without one is `not created`.
pub fn services(
    defined: &[String],
    containers: &[(String, String, Option<String>)],
) -> Vec<Service> {
    let mut names: Vec<String> = defined.to_vec();
    for (svc, _, _) in containers {
        if !names.contains(svc) {
            names.push(svc.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let found: Vec<&(String, String, Option<String>)> =
                containers.iter().filter(|(s, _, _)| *s == name).collect();
            let (state, health) = found
                .iter()
                .max_by_key(|(_, s, h)| {
                    (
                        s != "running",
                        h.as_deref() == Some("unhealthy"),
                        h.as_deref() == Some("starting"),
                    )
                })
                .map(|(_, s, h)| (s.clone(), h.clone()))
                .unwrap_or_else(|| ("not created".into(), None));
            Service {
                name,
                state,
                health,
                containers: found.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str, state: &str, h: Option<&str>) -> (String, String, Option<String>) {
        (s.into(), state.into(), h.map(String::from))
    }

    #[test]
    fn the_worst_replica_speaks_for_its_service_and_missing_ones_are_not_created() {
        let got = services(
            &["api".into(), "analyzer".into(), "grafana".into()],
            &[
                c("analyzer", "running", Some("healthy")),
                c("analyzer", "running", Some("unhealthy")),
                c("api", "running", Some("healthy")),
                c("extra", "exited", None),
            ],
        );
        let brief: Vec<(&str, &str, Option<&str>, usize)> = got
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.state.as_str(),
                    s.health.as_deref(),
                    s.containers,
                )
            })
            .collect();
        assert_eq!(
            brief,
            [
                ("api", "running", Some("healthy"), 1),
                ("analyzer", "running", Some("unhealthy"), 2),
                ("grafana", "not created", None, 0),
                ("extra", "exited", None, 1),
            ]
        );
    }
}

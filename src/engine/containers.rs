//! The containers of a compose project, found by the labels compose puts on them
//! (`com.docker.compose.project`, `com.docker.compose.service`), and the facts the
//! checks and the readiness wait read from an inspect answer.

use super::EngineError;
use crate::model::compose::{PROJECT_LABEL, SERVICE_LABEL};
use bollard::models::{ContainerInspectResponse, ContainerSummary, HealthStatusEnum};
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveVolumeOptions,
};
use bollard::Docker;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// A container found for a service: its id and its name without the leading `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub name: String,
}

/// The containers (running or not) compose made for `service` in `project`,
/// sorted by name so reports are stable.
pub async fn list_service(
    docker: &Docker,
    project: &str,
    service: &str,
    limit: Duration,
) -> Result<Vec<Found>, EngineError> {
    let labels = vec![
        format!("{PROJECT_LABEL}={project}"),
        format!("{SERVICE_LABEL}={service}"),
    ];
    let list = list_labelled(docker, labels, &format!("`{service}`"), limit).await?;
    let mut found: Vec<Found> = list.into_iter().filter_map(found_of).collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The containers (running or not) that carry every one of `labels`, in one call to
/// the engine within `limit`; `what` names them in a message.
pub(crate) async fn list_labelled(
    docker: &Docker,
    labels: Vec<String>,
    what: &str,
    limit: Duration,
) -> Result<Vec<ContainerSummary>, EngineError> {
    let opts = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_string(), labels)])),
        ..Default::default()
    };
    super::ask(
        || format!("list the containers of {what}"),
        limit,
        docker.list_containers(Some(opts)),
    )
    .await
}

/// A container of a compose project, as the Prometheus checks need it: which
/// service it runs, its name and image, whether it runs, and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member {
    pub id: String,
    pub service: String,
    pub name: String,
    pub image: String,
    pub running: bool,
    /// Docker's state word: `running`, `exited`, `created`, …
    pub state: String,
    /// `healthy`, `unhealthy` or `starting`; `None` without a healthcheck.
    pub health: Option<String>,
    pub addresses: Vec<String>,
    /// When the container was created, in seconds since the epoch.
    pub created: i64,
}

impl Member {
    /// Whether the container runs the Anchore Enterprise image (`anchore/enterprise`,
    /// any registry and tag; not `anchore/enterprise-ui`).
    pub fn runs_anchore(&self) -> bool {
        let r = crate::model::image::ImageRef::parse(&self.image);
        r.repository == "anchore/enterprise" || r.repository.ends_with("/anchore/enterprise")
    }
}

/// Every container compose made for `project`, in one call to the engine.
pub async fn project_members(
    docker: &Docker,
    project: &str,
    limit: Duration,
) -> Result<Vec<Member>, EngineError> {
    let labels = vec![format!("{PROJECT_LABEL}={project}")];
    let list = list_labelled(docker, labels, &format!("project `{project}`"), limit).await?;
    let mut members: Vec<Member> = list
        .into_iter()
        .map(|s| {
            let service = s
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_LABEL))
                .cloned()
                .unwrap_or_default();
            let name = s
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            let state = s
                .state
                .map(|st| st.to_string())
                .filter(|st| !st.is_empty())
                .unwrap_or_else(|| "unknown".into());
            let running = state == "running";
            let health = health_of(s.status.as_deref().unwrap_or(""));
            let addresses = s
                .network_settings
                .and_then(|n| n.networks)
                .map(|nets| {
                    nets.values()
                        .filter_map(|e| e.ip_address.clone())
                        .filter(|ip| !ip.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            Member {
                id: s.id.clone().unwrap_or_default(),
                service,
                name,
                image: s.image.unwrap_or_default(),
                running,
                state,
                health,
                addresses,
                created: s.created.unwrap_or_default(),
            }
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(members)
}

/// The anonymous volumes the project's containers mount (a 64-hex name the engine
/// chose, for an image's `VOLUME` or a compose `- /path` entry), in one call to the
/// engine. `docker compose down -v` (v2) removes a container's anonymous volumes only
/// while the engine counts them as the container's own; a container compose recreated
/// was handed its predecessor's volume by name, and that volume outlives `down -v`
/// (seen with compose 2.26.1: one volume left per recreated Prometheus). Read before
/// `down`, removed after it (`remove_volumes`).
pub async fn anonymous_volumes(
    docker: &Docker,
    project: &str,
    limit: Duration,
) -> Result<BTreeSet<String>, EngineError> {
    let labels = vec![format!("{PROJECT_LABEL}={project}")];
    let list = list_labelled(docker, labels, &format!("project `{project}`"), limit).await?;
    Ok(list
        .into_iter()
        .flat_map(|c| c.mounts.unwrap_or_default())
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| m.name)
        .filter(|n| is_anonymous(n))
        .collect())
}

/// Whether anything of the project is left on the engine: a container, a network or a
/// volume carrying its compose label (three calls, within `limit` each). `lab smoke`
/// asks before taking a scenario's project down, which starts a compose process (a
/// few hundred ms of CPU) for every scenario where almost never anything is left.
pub async fn project_leftovers(
    docker: &Docker,
    project: &str,
    limit: Duration,
) -> Result<bool, EngineError> {
    let label = || {
        HashMap::from([(
            "label".to_string(),
            vec![format!("{PROJECT_LABEL}={project}")],
        )])
    };
    if !list_labelled(
        docker,
        vec![format!("{PROJECT_LABEL}={project}")],
        &format!("project `{project}`"),
        limit,
    )
    .await?
    .is_empty()
    {
        return Ok(true);
    }
    let networks = super::ask(
        || format!("list the networks of project `{project}`"),
        limit,
        docker.list_networks(Some(ListNetworksOptions {
            filters: Some(label()),
        })),
    )
    .await?;
    if !networks.is_empty() {
        return Ok(true);
    }
    let volumes = super::ask(
        || format!("list the volumes of project `{project}`"),
        limit,
        docker.list_volumes(Some(ListVolumesOptions {
            filters: Some(label()),
        })),
    )
    .await?;
    Ok(volumes.volumes.is_some_and(|v| !v.is_empty()))
}

/// Whether a volume's name is one the engine chose: 64 lowercase hex digits.
pub fn is_anonymous(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Removes the named volumes, each within `limit`; a volume already gone is no error,
/// one still in use (the engine's 409) is left. The errors of the others.
pub async fn remove_volumes(
    docker: &Docker,
    names: &BTreeSet<String>,
    limit: Duration,
) -> Vec<EngineError> {
    let removals = names.iter().map(|name| async move {
        let question = async move {
            match docker
                .remove_volume(name, None::<RemoveVolumeOptions>)
                .await
            {
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => Ok(()),
                r => r,
            }
        };
        super::ask(|| format!("remove the volume {name}"), limit, question)
            .await
            .err()
    });
    futures_util::future::join_all(removals)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Docker's status text carries the health: `Up 3 minutes (healthy)`.
pub fn health_of(status: &str) -> Option<String> {
    for h in ["unhealthy", "healthy", "health: starting"] {
        if status.contains(&format!("({h})")) {
            return Some(h.trim_start_matches("health: ").to_string());
        }
    }
    None
}

fn found_of(s: ContainerSummary) -> Option<Found> {
    let id = s.id?;
    let name = s
        .names
        .and_then(|n| n.into_iter().next())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_else(|| id.chars().take(12).collect());
    Some(Found { id, name })
}

/// A container's health as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Health {
    /// The image and the compose file define no healthcheck.
    #[default]
    NoHealthcheck,
    Starting,
    Healthy,
    Unhealthy {
        failing_streak: i64,
        /// The last probe's output, first line, clipped.
        last_output: Option<String>,
    },
}

/// What the check looks at in one container. Only the variables the check names are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub name: String,
    /// `running`, `exited`, `paused`, `restarting`, `created`, `dead`…
    pub status: String,
    pub exit_code: Option<i64>,
    pub health: Health,
    /// Variable -> value, `None` when unset; only the names the check asks about.
    pub env: BTreeMap<String, Option<String>>,
    /// Host ports published, from the live port map and the configured bindings.
    pub published: BTreeSet<u16>,
    /// Mount destinations inside the container.
    pub mounts: BTreeSet<String>,
}

/// Reduces an inspect answer to the facts the check may show.
pub fn facts_of(name: &str, i: &ContainerInspectResponse, wanted_env: &[&str]) -> Facts {
    let state = i.state.as_ref();
    let status = state
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let declared_none = i
        .config
        .as_ref()
        .and_then(|c| c.healthcheck.as_ref())
        .and_then(|h| h.test.as_ref())
        .is_some_and(|t| t.first().map(String::as_str) == Some("NONE"));
    let health = match state.and_then(|s| s.health.as_ref()) {
        _ if declared_none => Health::NoHealthcheck,
        None => Health::NoHealthcheck,
        Some(h) => match h.status {
            Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
            Some(HealthStatusEnum::STARTING) => Health::Starting,
            Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy {
                failing_streak: h.failing_streak.unwrap_or(0),
                last_output: h
                    .log
                    .as_ref()
                    .and_then(|l| l.last())
                    .and_then(|r| r.output.as_deref())
                    .and_then(|o| o.lines().find(|l| !l.trim().is_empty()))
                    .map(|o| crate::text::clip(o.trim(), 80)),
            },
            _ => Health::NoHealthcheck,
        },
    };
    let mut env: BTreeMap<String, Option<String>> =
        wanted_env.iter().map(|k| (k.to_string(), None)).collect();
    for kv in i
        .config
        .as_ref()
        .and_then(|c| c.env.as_ref())
        .into_iter()
        .flatten()
    {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if let Some(slot) = env.get_mut(k) {
            *slot = Some(v.to_string());
        }
    }
    let mut published = BTreeSet::new();
    let live = i.network_settings.as_ref().and_then(|n| n.ports.as_ref());
    let configured = i
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.as_ref());
    for map in [live, configured].into_iter().flatten() {
        for bindings in map.values().flatten() {
            for b in bindings {
                if let Some(p) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) {
                    published.insert(p);
                }
            }
        }
    }
    let mounts = i
        .mounts
        .iter()
        .flatten()
        .filter_map(|m| m.destination.clone())
        .collect();
    Facts {
        name: name.to_string(),
        status,
        exit_code: state.and_then(|s| s.exit_code),
        health,
        env,
        published,
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_the_engine_chose_are_anonymous() {
        let hex = "d499911d64cd0f1b077d357fd42809b9724bb72e94e70ed89613fffa79cc2050";
        assert!(is_anonymous(hex));
        assert!(!is_anonymous(&hex.to_uppercase()));
        assert!(!is_anonymous(&hex[1..]));
        assert!(!is_anonymous("anchore_anchore-db-volume"));
        assert!(!is_anonymous(&format!("{}g", &hex[1..])));
    }

    #[test]
    fn health_is_read_from_the_status_text() {
        assert_eq!(
            health_of("Up 3 minutes (healthy)").as_deref(),
            Some("healthy")
        );
        assert_eq!(
            health_of("Up 5 seconds (health: starting)").as_deref(),
            Some("starting")
        );
        assert_eq!(
            health_of("Up 1 hour (unhealthy)").as_deref(),
            Some("unhealthy")
        );
        assert_eq!(health_of("Up 2 minutes"), None);
        assert_eq!(health_of("Exited (1) 3 seconds ago"), None);
    }
}

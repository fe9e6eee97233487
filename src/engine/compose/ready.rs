//! Waits until a compose project's services are up: every container running, and
//! healthy where it has a healthcheck. Driven by the Docker events stream (each
//! container event re-inspects its service), with a slow re-check in case an event is
//! lost; a container that exits fails the wait at once, with its last log lines.

use crate::engine::containers::{facts_of, list_service, Facts, Found, Health};

use crate::error::{Error, Result};
use crate::model::compose::PROJECT_LABEL;
use crate::model::compose::SERVICE_LABEL;
pub use crate::model::compose::{NotReady, ServiceState, Stuck};
use crate::model::format_duration;
use bollard::models::EventMessage;
use bollard::query_parameters::{EventsOptions, LogsOptions};
use bollard::Docker;
use futures_util::{FutureExt, Stream, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Compose marks `docker compose run` containers with it; they are not the service.
const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";

/// How long one question to the engine may take.
const DOCKER_LIMIT: Duration = Duration::from_secs(10);

/// How many log lines a failure shows.
const LOG_LINES: usize = 10;

/// The container events that can change a service's readiness. Exec and attach
/// events (every healthcheck probe makes some) are left out: they change nothing.
const EVENTS: [&str; 11] = [
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "oom",
    "pause",
    "unpause",
    "destroy",
    "health_status",
];

impl ServiceState {
    /// A container's state from its inspect facts.
    pub fn of(f: &Facts) -> ServiceState {
        match f.status.as_str() {
            "running" => match &f.health {
                Health::NoHealthcheck => ServiceState::Running,
                Health::Starting => ServiceState::Starting,
                Health::Healthy => ServiceState::Healthy,
                Health::Unhealthy {
                    failing_streak,
                    last_output,
                } => ServiceState::Unhealthy {
                    failing_streak: *failing_streak,
                    last_output: last_output.clone(),
                },
            },
            "restarting" => ServiceState::Restarting {
                exit_code: f.exit_code,
            },
            "exited" | "dead" => ServiceState::Exited {
                code: f.exit_code.unwrap_or(-1),
            },
            _ => ServiceState::Waiting,
        }
    }
}

/// How `wait_ready_with` waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    pub timeout: Duration,
    /// Services that run to completion (a migration, an init job): exiting with
    /// code 0 makes them ready; any other exit still fails.
    pub one_shot: BTreeSet<String>,
    /// The safety re-check: every service is looked at again this often, in case an
    /// event was lost (it also re-subscribes to events after a broken stream).
    pub recheck: Duration,
}

impl WaitOptions {
    pub fn new(timeout: Duration) -> WaitOptions {
        WaitOptions {
            timeout,
            one_shot: BTreeSet::new(),
            recheck: Duration::from_secs(2),
        }
    }
}

/// Waits until every service in `services` (every service with a container in the
/// project when empty) is ready; see `wait_ready_with`.
pub async fn wait_ready<F>(
    docker: &Docker,
    project: &str,
    services: &[String],
    timeout: Duration,
    on_change: F,
) -> Result<BTreeMap<String, ServiceState>>
where
    F: FnMut(&str, &ServiceState),
{
    wait_ready_with(
        docker,
        project,
        services,
        &WaitOptions::new(timeout),
        on_change,
    )
    .await
}

/// Waits until every service is ready: its containers running, and healthy where
/// they have a healthcheck. `on_change` hears each service's first state and every
/// change after it, for progress lines. Returns the final states; fails as soon as a
/// container exits (with its last log lines), or at the timeout naming each service
/// that is not ready. Call it after `up` has returned: during `up`, compose may stop
/// a container it is about to replace, which would read as an exit.
///
/// With `services` empty, the services are those with containers in the project
/// (compose labels them); callers that know the file pass `Compose::services()`.
pub async fn wait_ready_with<F>(
    docker: &Docker,
    project: &str,
    services: &[String],
    opts: &WaitOptions,
    mut on_change: F,
) -> Result<BTreeMap<String, ServiceState>>
where
    F: FnMut(&str, &ServiceState),
{
    let deadline = Instant::now() + opts.timeout;
    // Subscribe before the first look, replaying from a second earlier: a change
    // between the look and the subscription then still arrives as an event.
    let mut since = unix_now().saturating_sub(1);
    let mut events = Some(subscribe(docker, project, since));

    let wanted: BTreeSet<String> = if services.is_empty() {
        project_services(docker, project)
            .await?
            .into_iter()
            .collect()
    } else {
        services.iter().cloned().collect()
    };
    if wanted.is_empty() {
        return Err(Error::NotReady(Box::new(NotReady {
            project: project.to_string(),
            timed_out: false,
            timeout: opts.timeout,
            services: vec![],
        })));
    }

    let mut seen = Seen::new();
    let mut dirty = wanted.clone();
    let mut recheck = tokio::time::interval_at(Instant::now() + opts.recheck, opts.recheck);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        for service in std::mem::take(&mut dirty) {
            look(docker, project, &service, opts, &mut seen, &mut on_change).await?;
        }

        let failed: Vec<&String> = wanted
            .iter()
            .filter(|s| seen[*s].0.has_failed(opts.one_shot.contains(*s)))
            .collect();
        if !failed.is_empty() {
            return Err(give_up(docker, project, opts, &seen, failed, false).await);
        }
        if wanted
            .iter()
            .all(|s| seen[s].0.is_ready(opts.one_shot.contains(s)))
        {
            return Ok(seen.into_iter().map(|(k, (s, _))| (k, s)).collect());
        }

        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                // One last look, so a change that raced the deadline is not reported stale.
                for service in &wanted {
                    look(docker, project, service, opts, &mut seen, &mut on_change).await?;
                }
                let stuck: Vec<&String> = wanted
                    .iter()
                    .filter(|s| !seen[*s].0.is_ready(opts.one_shot.contains(*s)))
                    .collect();
                if stuck.is_empty() {
                    return Ok(seen.into_iter().map(|(k, (s, _))| (k, s)).collect());
                }
                return Err(give_up(docker, project, opts, &seen, stuck, true).await);
            }
            _ = recheck.tick() => {
                dirty = wanted.clone();
                if events.is_none() {
                    events = Some(subscribe(docker, project, since));
                }
            }
            ev = next_event(&mut events) => match ev {
                Some(Ok(msg)) => {
                    since = unix_now().saturating_sub(1);
                    mark(&msg, &wanted, &mut dirty);
                    // Events come in bursts (die, stop, destroy…): take what is
                    // already there and look once.
                    while let Some(Some(Ok(msg))) = events.as_mut().and_then(|e| e.next().now_or_never()) {
                        mark(&msg, &wanted, &mut dirty);
                    }
                }
                // A broken stream: the re-check goes on and subscribes again.
                Some(Err(_)) | None => events = None,
            }
        }
    }
}

type Seen = BTreeMap<String, (ServiceState, Option<Found>)>;

/// Looks at `service` again, records it, and tells `on_change` when its state moved.
async fn look<F>(
    docker: &Docker,
    project: &str,
    service: &str,
    opts: &WaitOptions,
    seen: &mut Seen,
    on_change: &mut F,
) -> Result<()>
where
    F: FnMut(&str, &ServiceState),
{
    let now = observe(docker, project, service, opts.one_shot.contains(service)).await?;
    if seen.get(service).map(|(s, _)| s) != Some(&now.0) {
        on_change(service, &now.0);
    }
    seen.insert(service.to_string(), now);
    Ok(())
}

type Events<'a> = Pin<
    Box<dyn Stream<Item = std::result::Result<EventMessage, bollard::errors::Error>> + Send + 'a>,
>;

fn subscribe<'a>(docker: &'a Docker, project: &str, since: u64) -> Events<'a> {
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "label".to_string(),
            vec![format!("{PROJECT_LABEL}={project}")],
        ),
        (
            "event".to_string(),
            EVENTS.iter().map(|e| e.to_string()).collect(),
        ),
    ]);
    Box::pin(docker.events(Some(EventsOptions {
        since: Some(since.to_string()),
        until: None,
        filters: Some(filters),
    })))
}

async fn next_event(
    events: &mut Option<Events<'_>>,
) -> Option<std::result::Result<EventMessage, bollard::errors::Error>> {
    match events.as_mut() {
        Some(e) => e.next().await,
        None => std::future::pending().await,
    }
}

/// The service an event is about goes on the list to look at; an event without the
/// label (not expected from compose's containers) sends every service.
fn mark(msg: &EventMessage, wanted: &BTreeSet<String>, dirty: &mut BTreeSet<String>) {
    let service = msg
        .actor
        .as_ref()
        .and_then(|a| a.attributes.as_ref())
        .and_then(|a| a.get(SERVICE_LABEL));
    match service {
        Some(s) if wanted.contains(s) => {
            dirty.insert(s.clone());
        }
        Some(_) => {}
        None => dirty.extend(wanted.iter().cloned()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A service's state now, and the container that state belongs to.
async fn observe(
    docker: &Docker,
    project: &str,
    service: &str,
    one_shot: bool,
) -> Result<(ServiceState, Option<Found>)> {
    let found = list_service(docker, project, service, DOCKER_LIMIT)
        .await
        .map_err(Error::from)?;
    let mut states = Vec::new();
    let mut containers = Vec::new();
    for c in found {
        // Removed between the list and the inspect: it is no longer the service.
        let inspect = async {
            match docker.inspect_container(&c.id, None).await {
                Ok(i) => Ok(Some(i)),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(None),
                Err(e) => Err(e),
            }
        };
        let Some(inspect) = crate::engine::ask(
            || format!("inspect container {}", c.name),
            DOCKER_LIMIT,
            inspect,
        )
        .await?
        else {
            continue;
        };
        let oneoff = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(ONEOFF_LABEL))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if oneoff {
            continue;
        }
        // No variable is asked for: readiness needs no environment value.
        states.push(ServiceState::of(&facts_of(&c.name, &inspect, &[])));
        containers.push(c);
    }
    Ok(match ServiceState::worst(&states, one_shot) {
        Some(i) => (states.swap_remove(i), Some(containers.swap_remove(i))),
        None => (ServiceState::Waiting, None),
    })
}

/// The services of a compose project, from the labels on its containers (one-off
/// `run` containers left out), sorted.
pub async fn project_services(docker: &Docker, project: &str) -> Result<Vec<String>> {
    let labels = vec![format!("{PROJECT_LABEL}={project}")];
    let what = format!("project `{project}`");
    let list = crate::engine::containers::list_labelled(docker, labels, &what, DOCKER_LIMIT)
        .await
        .map_err(Error::from)?;
    let names: BTreeSet<String> = list
        .into_iter()
        .filter_map(|c| c.labels)
        .filter(|l| {
            !l.get(ONEOFF_LABEL)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        })
        .filter_map(|mut l| l.remove(SERVICE_LABEL))
        .collect();
    Ok(names.into_iter().collect())
}

/// The error for `services`, each with the last log lines of its least ready container.
async fn give_up(
    docker: &Docker,
    project: &str,
    opts: &WaitOptions,
    seen: &Seen,
    services: Vec<&String>,
    timed_out: bool,
) -> Error {
    let stuck = futures_util::future::join_all(services.into_iter().map(|s| async move {
        let (state, container) = &seen[s];
        let (logs, logs_error) = match container {
            Some(c) => match last_lines(docker, &c.id, LOG_LINES).await {
                Ok(l) => (l, None),
                Err(e) => (vec![], Some(e)),
            },
            None => (vec![], None),
        };
        Stuck {
            service: s.clone(),
            state: state.clone(),
            one_shot: opts.one_shot.contains(s),
            container: container.as_ref().map(|c| c.name.clone()),
            logs,
            logs_error,
        }
    }))
    .await;
    Error::NotReady(Box::new(NotReady {
        project: project.to_string(),
        timed_out,
        timeout: opts.timeout,
        services: stuck,
    }))
}

/// The last `n` lines a container wrote, stdout and stderr in the order it wrote them.
async fn last_lines(
    docker: &Docker,
    id: &str,
    n: usize,
) -> std::result::Result<Vec<String>, String> {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: n.to_string(),
        ..Default::default()
    };
    let read = async {
        let mut bytes = Vec::new();
        let mut stream = docker.logs(id, Some(opts));
        while let Some(frame) = stream.next().await {
            let frame = frame.map_err(|e| crate::engine::docker::short(&e))?;
            bytes.extend_from_slice(frame.as_ref());
        }
        Ok::<_, String>(bytes)
    };
    let bytes = tokio::time::timeout(DOCKER_LIMIT, read)
        .await
        .map_err(|_| format!("no answer within {}", format_duration(DOCKER_LIMIT)))??;
    Ok(tail_lines(&String::from_utf8_lossy(&bytes), n))
}

/// The last `n` non-empty lines of `text`, each clipped so one runaway line cannot
/// flood a message.
pub(crate) fn tail_lines(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| crate::text::clip(l, 300))
        .collect()
}

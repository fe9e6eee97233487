//! `container` checks: a compose service's containers, found by the labels compose
//! puts on them (`com.docker.compose.project`, `com.docker.compose.service`), must
//! exist, run or be healthy, and carry the environment, published ports and mounts
//! the check names. Every replica of every service must satisfy the check.
//!
//! Environment values may hold secrets: only the variables the check names are
//! ever read out of the inspect answer, so nothing else can reach a report.

use super::{Ctx, Observation, ProbeResult};
use crate::engine::containers::{facts_of, list_service, project_members, Facts, Health};
use crate::engine::docker::{host, short};
use crate::model::check::{ContainerCheck, ContainerState};

/// The words for a service without containers; the logs probe says the same.
pub fn no_container(service: &str, project: &str) -> String {
    format!("no container for service `{service}` in compose project `{project}`")
}

/// One service and what was found for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    pub service: String,
    pub containers: Vec<Facts>,
}

/// The verdict: every service has containers and every container satisfies the check.
pub fn judge(c: &ContainerCheck, project: &str, services: &[ServiceFacts]) -> Observation {
    let expected = expected(c);
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for s in services {
        if s.containers.is_empty() {
            problems.push(no_container(&s.service, project));
            continue;
        }
        for f in &s.containers {
            // One container: the service names it; replicas: their own names do.
            let who = if s.containers.len() == 1 {
                s.service.as_str()
            } else {
                f.name.as_str()
            };
            let mine = container_problems(c, f);
            if mine.is_empty() {
                seen.push(describe(c, f));
            } else {
                problems.extend(mine.into_iter().map(|p| format!("{who}: {p}")));
            }
        }
    }
    if problems.is_empty() {
        Observation::pass(seen.join("; "))
    } else {
        Observation::fail(expected, problems.join("; "))
    }
}

fn expected(c: &ContainerCheck) -> String {
    let on = c.services.join(", ");
    let mut parts = vec![match c.state {
        ContainerState::Exists => format!("a container on {on}"),
        ContainerState::Running => format!("running on {on}"),
        ContainerState::Healthy => format!("healthy on {on}"),
    }];
    if !c.env.is_empty() {
        let kv: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(format!("{} on {on}", kv.join(", ")));
    }
    if !c.enabled.is_empty() {
        parts.push(format!("{} switched on on {on}", c.enabled.join(", ")));
    }
    if !c.publishes.is_empty() {
        parts.push(format!(
            "host {} {} published on {on}",
            if c.publishes.len() == 1 {
                "port"
            } else {
                "ports"
            },
            join_ports(c.publishes.iter())
        ));
    }
    if !c.mounts.is_empty() {
        parts.push(format!("mounts at {} on {on}", c.mounts.join(", ")));
    }
    parts.join("; ")
}

fn join_ports<'a>(ports: impl Iterator<Item = &'a u16>) -> String {
    ports.map(u16::to_string).collect::<Vec<_>>().join(", ")
}

fn state_words(f: &Facts) -> String {
    match (f.status.as_str(), f.exit_code) {
        ("exited", Some(code)) => format!("exited (exit code {code})"),
        (s, _) => s.to_string(),
    }
}

fn container_problems(c: &ContainerCheck, f: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    let running = f.status == "running";
    match c.state {
        ContainerState::Exists => {}
        ContainerState::Running if !running => out.push(state_words(f)),
        ContainerState::Running => {}
        ContainerState::Healthy if !running => out.push(state_words(f)),
        ContainerState::Healthy => match &f.health {
            Health::Healthy => {}
            Health::NoHealthcheck => out.push(
                "running, but it has no healthcheck, so it cannot be healthy \
                 (the image and the compose file define none)"
                    .into(),
            ),
            Health::Starting => out.push("health: starting (first probes not passed yet)".into()),
            Health::Unhealthy {
                failing_streak,
                last_output,
            } => {
                let mut s = format!("unhealthy ({failing_streak} failed probes in a row");
                if let Some(o) = last_output {
                    s.push_str(&format!(", last: {o}"));
                }
                s.push(')');
                out.push(s);
            }
        },
    }
    for (k, want) in &c.env {
        match f.env.get(k).cloned().flatten() {
            Some(v) if &v == want => {}
            Some(v) => out.push(format!("{k}={v}")),
            None => out.push(format!("{k} not set")),
        }
    }
    for k in &c.enabled {
        match f.env.get(k).cloned().flatten() {
            Some(v) if super::compose::anchore_reads_on(Some(&v)) => {}
            Some(v) => out.push(format!("{k}={v} (off)")),
            None => out.push(format!("{k} not set")),
        }
    }
    let missing: Vec<&u16> = c
        .publishes
        .iter()
        .filter(|p| !f.published.contains(p))
        .collect();
    if !missing.is_empty() {
        let has = if f.published.is_empty() {
            "publishes no port".to_string()
        } else {
            format!("publishes {}", join_ports(f.published.iter()))
        };
        out.push(format!(
            "host {} {} not published ({has})",
            if missing.len() == 1 { "port" } else { "ports" },
            join_ports(missing.into_iter())
        ));
    }
    for m in &c.mounts {
        let m = m.trim_end_matches('/');
        let m = if m.is_empty() { "/" } else { m };
        if !f.mounts.contains(m) {
            let has = if f.mounts.is_empty() {
                "no mounts".to_string()
            } else {
                format!(
                    "mounts: {}",
                    f.mounts.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            out.push(format!("nothing mounted at {m} ({has})"));
        }
    }
    out
}

/// A passing container in words: only what the check asked about.
fn describe(c: &ContainerCheck, f: &Facts) -> String {
    let mut parts = vec![state_words(f)];
    if c.state == ContainerState::Healthy {
        parts.push("healthy".into());
    }
    for k in c.env.keys().chain(c.enabled.iter()) {
        if let Some(Some(v)) = f.env.get(k) {
            parts.push(format!("{k}={v}"));
        }
    }
    if !c.publishes.is_empty() {
        parts.push(format!("publishes {}", join_ports(c.publishes.iter())));
    }
    if !c.mounts.is_empty() {
        parts.push(format!("mounts {}", c.mounts.join(", ")));
    }
    format!("{} {}", f.name, parts.join(", "))
}

pub async fn probe(c: &ContainerCheck, ctx: &Ctx) -> ProbeResult {
    let docker = ctx.docker()?;
    let project = ctx.target.project.as_str();
    let wanted: Vec<&str> = c
        .env
        .keys()
        .chain(c.enabled.iter())
        .map(String::as_str)
        .collect();
    let mut names = c.services.clone();
    if c.every_anchore_service {
        for m in project_members(docker, project, ctx.remaining()).await? {
            if m.running && m.runs_anchore() && !names.contains(&m.service) {
                names.push(m.service);
            }
        }
        if names.is_empty() {
            return Ok(Observation::fail(
                "every Anchore service running",
                format!("no running Anchore container in compose project `{project}`"),
            ));
        }
    }
    let mut services = Vec::new();
    for service in &names {
        let found = list_service(docker, project, service, ctx.remaining()).await?;
        let mut containers = Vec::new();
        for f in found {
            match tokio::time::timeout(ctx.remaining(), docker.inspect_container(&f.id, None)).await
            {
                Err(_) => {
                    return Err(format!(
                        "Docker engine at {}: inspecting {} took too long",
                        host(),
                        f.name
                    ))
                }
                Ok(Ok(i)) => {
                    let mut facts = facts_of(&f.name, &i, &wanted);
                    // A stack on moved ports (`crate::ports`) is judged on the course's.
                    let moved = &ctx.target.moved_ports;
                    facts.published = facts
                        .published
                        .iter()
                        .map(|p| crate::ports::course_port(moved, *p))
                        .collect();
                    containers.push(facts)
                }
                // Removed between the listing and the inspection: it is not there.
                Ok(Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                })) => {}
                Ok(Err(e)) => {
                    return Err(format!(
                        "Docker engine at {}: cannot inspect {}: {}",
                        host(),
                        f.name,
                        short(&e)
                    ))
                }
            }
        }
        services.push(ServiceFacts {
            service: service.clone(),
            containers,
        });
    }
    Ok(judge(c, project, &services))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerInspectResponse, ContainerState as DState,
        ContainerStateStatusEnum, HealthConfig, HostConfig, MountPoint, NetworkSettings,
        PortBinding,
    };
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    fn check(services: &[&str], state: ContainerState) -> ContainerCheck {
        ContainerCheck {
            services: services.iter().map(|s| s.to_string()).collect(),
            state,
            env: BTreeMap::new(),
            enabled: vec![],
            every_anchore_service: false,
            publishes: vec![],
            mounts: vec![],
        }
    }

    fn running(name: &str) -> Facts {
        Facts {
            name: name.into(),
            status: "running".into(),
            exit_code: Some(0),
            ..Default::default()
        }
    }

    fn svc(service: &str, containers: Vec<Facts>) -> ServiceFacts {
        ServiceFacts {
            service: service.into(),
            containers,
        }
    }

    #[test]
    fn missing_container_names_service_and_project() {
        let c = check(&["grafana"], ContainerState::Running);
        let o = judge(&c, "anchore-lab", &[svc("grafana", vec![])]);
        assert_eq!(
            o,
            Observation::fail(
                "running on grafana",
                "no container for service `grafana` in compose project `anchore-lab`"
            )
        );
    }

    #[test]
    fn env_mismatch_names_the_service_and_only_the_asked_variable() {
        let mut c = check(&["api", "analyzer"], ContainerState::Running);
        c.env.insert("ANCHORE_ENABLE_METRICS".into(), "true".into());
        let mut api = running("lab-api-1");
        api.env
            .insert("ANCHORE_ENABLE_METRICS".into(), Some("true".into()));
        let mut an = running("lab-analyzer-1");
        an.env
            .insert("ANCHORE_ENABLE_METRICS".into(), Some("false".into()));
        let o = judge(
            &c,
            "lab",
            &[svc("api", vec![api.clone()]), svc("analyzer", vec![an])],
        );
        assert_eq!(
            o,
            Observation::fail(
                "running on api, analyzer; ANCHORE_ENABLE_METRICS=true on api, analyzer",
                "analyzer: ANCHORE_ENABLE_METRICS=false"
            )
        );
        let mut unset = running("lab-analyzer-1");
        unset.env.insert("ANCHORE_ENABLE_METRICS".into(), None);
        let o = judge(
            &c,
            "lab",
            &[svc("api", vec![api]), svc("analyzer", vec![unset])],
        );
        assert!(
            matches!(&o, Observation::Fail { actual, .. } if actual == "analyzer: ANCHORE_ENABLE_METRICS not set"),
            "{o:?}"
        );
    }

    #[test]
    fn every_replica_must_satisfy_and_replicas_are_named() {
        let c = check(&["analyzer"], ContainerState::Running);
        let mut stopped = running("lab-analyzer-2");
        stopped.status = "exited".into();
        stopped.exit_code = Some(137);
        let o = judge(
            &c,
            "lab",
            &[svc("analyzer", vec![running("lab-analyzer-1"), stopped])],
        );
        assert!(
            matches!(&o, Observation::Fail { actual, .. } if actual == "lab-analyzer-2: exited (exit code 137)"),
            "{o:?}"
        );
    }

    #[test]
    fn health_states_are_told_apart() {
        let c = check(&["api"], ContainerState::Healthy);
        let cases = [
            (Health::Healthy, None),
            (Health::NoHealthcheck, Some("no healthcheck")),
            (Health::Starting, Some("health: starting")),
            (
                Health::Unhealthy {
                    failing_streak: 3,
                    last_output: Some("curl: (7) refused".into()),
                },
                Some("unhealthy (3 failed probes in a row, last: curl: (7) refused)"),
            ),
        ];
        for (health, want) in cases {
            let mut f = running("lab-api-1");
            f.health = health.clone();
            let o = judge(&c, "lab", &[svc("api", vec![f])]);
            match (want, &o) {
                (None, Observation::Pass { actual }) => {
                    assert_eq!(actual, "lab-api-1 running, healthy")
                }
                (Some(w), Observation::Fail { actual, .. }) => {
                    assert!(actual.contains(w), "{health:?}: {actual}")
                }
                _ => panic!("{health:?}: {o:?}"),
            }
        }
        // A stopped container is reported by its state, not its health.
        let mut f = running("lab-api-1");
        f.status = "exited".into();
        f.exit_code = Some(1);
        let o = judge(&c, "lab", &[svc("api", vec![f])]);
        assert!(
            matches!(&o, Observation::Fail { actual, .. } if actual == "api: exited (exit code 1)")
        );
    }

    #[test]
    fn exists_accepts_a_stopped_container_but_checks_its_config() {
        let mut c = check(&["prometheus"], ContainerState::Exists);
        c.publishes = vec![9090];
        c.mounts = vec!["/etc/prometheus/prometheus.yml".into()];
        let mut f = running("lab-prometheus-1");
        f.status = "exited".into();
        f.published.insert(9090);
        f.mounts.insert("/etc/prometheus/prometheus.yml".into());
        assert!(matches!(
            judge(&c, "lab", &[svc("prometheus", vec![f.clone()])]),
            Observation::Pass { .. }
        ));
        f.published = BTreeSet::from([9091]);
        f.mounts = BTreeSet::from(["/prometheus".to_string()]);
        let o = judge(&c, "lab", &[svc("prometheus", vec![f])]);
        assert_eq!(
            o,
            Observation::fail(
                "a container on prometheus; host port 9090 published on prometheus; \
                 mounts at /etc/prometheus/prometheus.yml on prometheus",
                "prometheus: host port 9090 not published (publishes 9091); \
                 prometheus: nothing mounted at /etc/prometheus/prometheus.yml (mounts: /prometheus)"
            )
        );
    }

    #[test]
    fn facts_keep_only_the_named_variables_and_merge_port_sources() {
        let inspect = ContainerInspectResponse {
            state: Some(DState {
                status: Some(ContainerStateStatusEnum::EXITED),
                exit_code: Some(2),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                env: Some(vec![
                    "ANCHORE_ENABLE_METRICS=true".into(),
                    "ANCHORE_DB_PASSWORD=s3cret".into(),
                    "EMPTY=".into(),
                    "NOEQUALS".into(),
                ]),
                healthcheck: Some(HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    "9090/tcp".to_string(),
                    Some(vec![PortBinding {
                        host_ip: Some(String::new()),
                        host_port: Some("9090".into()),
                    }]),
                )])),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                ports: Some(HashMap::from([
                    (
                        "3000/tcp".to_string(),
                        Some(vec![PortBinding {
                            host_ip: Some("0.0.0.0".into()),
                            host_port: Some("3001".into()),
                        }]),
                    ),
                    ("8080/tcp".to_string(), None),
                ])),
                ..Default::default()
            }),
            mounts: Some(vec![MountPoint {
                destination: Some("/var/lib/grafana".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let f = facts_of(
            "c1",
            &inspect,
            &["ANCHORE_ENABLE_METRICS", "EMPTY", "MISSING"],
        );
        assert_eq!(f.status, "exited");
        assert_eq!(f.exit_code, Some(2));
        assert_eq!(f.health, Health::NoHealthcheck);
        assert_eq!(
            f.env,
            BTreeMap::from([
                ("ANCHORE_ENABLE_METRICS".into(), Some("true".into())),
                ("EMPTY".into(), Some(String::new())),
                ("MISSING".into(), None),
            ])
        );
        assert!(!format!("{f:?}").contains("s3cret"));
        assert_eq!(f.published, BTreeSet::from([3001, 9090]));
        assert_eq!(f.mounts, BTreeSet::from(["/var/lib/grafana".to_string()]));
    }

    #[test]
    fn a_trailing_slash_in_the_check_still_matches_the_mount() {
        let mut c = check(&["grafana"], ContainerState::Running);
        c.mounts = vec!["/var/lib/grafana/".into()];
        let mut f = running("g");
        f.mounts.insert("/var/lib/grafana".into());
        assert!(matches!(
            judge(&c, "lab", &[svc("grafana", vec![f])]),
            Observation::Pass { .. }
        ));
    }
}

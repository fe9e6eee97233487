//! `lab status`: the environment, the lab in progress, each service's state and
//! health, where things answer, and the last check results.

use crate::cli::TargetArgs;
use crate::env::Environment;
use crate::error::{exit, Error, Result};
use crate::model::compose::PROJECT_LABEL;
use crate::report::Ui;
use bollard::query_parameters::ListContainersOptions;
use console::Style;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Serialize)]
struct Status {
    schema_version: u32,
    workspace: String,
    project: String,
    compose_file: String,
    adopted: bool,
    lab: Option<u32>,
    docker: Option<String>,
    services: Vec<Service>,
    urls: Vec<Url>,
    results: Vec<Result_>,
}

#[derive(Debug, Serialize)]
struct Service {
    name: String,
    /// `not created` (no container), `running`, `exited`, `created`, …
    state: String,
    /// `healthy`, `unhealthy`, `starting`, or none when there is no healthcheck.
    health: Option<String>,
    containers: usize,
}

#[derive(Debug, Serialize)]
struct Url {
    name: &'static str,
    url: String,
    /// The release the server reports (`None`: it did not answer).
    version: Option<String>,
    /// Whether `lab` is tested with that release (`None`: unknown).
    tested: Option<bool>,
    /// The tested range, or why the version is unknown, in words.
    note: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename = "Result")]
struct Result_ {
    lab: String,
    at: String,
    passed: usize,
    failed: usize,
    errors: usize,
    skipped: usize,
    pending: usize,
    points: i64,
    possible: i64,
}

pub async fn run(args: &TargetArgs, ui: &Ui) -> Result<i32> {
    let session = super::prelude::session(args, &Default::default())?;
    let env = &session.env;
    let compose = std::fs::read_to_string(env.compose_file())
        .ok()
        .and_then(|t| crate::loader::yaml_value(&t).ok())
        .unwrap_or_default();
    let defined: Vec<String> = compose["services"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();

    let (services, docker) = match session.docker_handle().await.as_ref() {
        Ok(d) => (services(d, env, &defined).await?, None),
        Err(e) => (
            defined
                .iter()
                .map(|n| Service {
                    name: n.clone(),
                    state: "unknown".into(),
                    health: None,
                    containers: 0,
                })
                .collect(),
            Some(format!("Docker engine unreachable: {e}")),
        ),
    };
    let e = &env.state.endpoints;
    let mut urls = vec![Url {
        name: "Anchore API",
        url: e.anchore_url.clone(),
        version: None,
        tested: None,
        note: None,
    }];
    if defined.iter().any(|s| s == "prometheus") {
        urls.push(Url {
            name: "Prometheus",
            url: e.prometheus_url.clone(),
            version: None,
            tested: None,
            note: None,
        });
    }
    if defined.iter().any(|s| s == "grafana") {
        urls.push(Url {
            name: "Grafana",
            url: e.grafana_url.clone(),
            version: None,
            tested: None,
            note: None,
        });
    }
    if defined.iter().any(|s| s == "ui") {
        urls.push(Url {
            name: "Anchore UI",
            url: "http://localhost:3000".into(),
            version: None,
            tested: None,
            note: None,
        });
    }
    // Which release answers at each URL (a few seconds at most; Grafana without login).
    let ctx = session.ctx(Duration::from_secs(3), false).await?;
    for v in crate::probe::versions::servers(&ctx).await {
        let name = match v.server {
            "Anchore Enterprise" => "Anchore API",
            other => other,
        };
        if let Some(u) = urls.iter_mut().find(|u| u.name == name) {
            u.note = Some(v.describe());
            u.version = v.version;
            u.tested = v.tested;
        }
    }
    let status = Status {
        schema_version: 1,
        workspace: env.dir.display().to_string(),
        project: env.state.project.clone(),
        compose_file: env.compose_file().display().to_string(),
        adopted: env.state.adopted,
        lab: env.state.lab,
        docker,
        services,
        urls,
        results: env
            .state
            .results
            .iter()
            .map(|(lab, r)| Result_ {
                lab: lab.clone(),
                at: r.at.clone(),
                passed: r.passed,
                failed: r.failed,
                errors: r.errors,
                skipped: r.skipped,
                pending: r.pending,
                points: r.points,
                possible: r.possible,
            })
            .collect(),
    };
    if ui.json {
        ui.out(&(serde_json::to_string_pretty(&status).expect("status serializes") + "\n"));
    } else {
        ui.out(&render(&status, ui));
    }
    Ok(if status.docker.is_some() {
        exit::DOCKER_UNREACHABLE
    } else {
        exit::OK
    })
}

async fn services(
    docker: &bollard::Docker,
    env: &Environment,
    defined: &[String],
) -> Result<Vec<Service>> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{PROJECT_LABEL}={}", env.state.project)],
    )]);
    let opts = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let list = tokio::time::timeout(Duration::from_secs(10), docker.list_containers(Some(opts)))
        .await
        .map_err(|_| Error::DockerUnreachable {
            host: crate::engine::docker::host(),
            reason: "listing containers took longer than 10s".into(),
        })?
        .map_err(|e| Error::DockerUnreachable {
            host: crate::engine::docker::host(),
            reason: crate::engine::docker::short(&e),
        })?;
    let mut by_service: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
    for c in &list {
        let Some(svc) = c
            .labels
            .as_ref()
            .and_then(|l| l.get(crate::model::compose::SERVICE_LABEL))
        else {
            continue;
        };
        let state = c
            .state
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into());
        by_service
            .entry(svc.clone())
            .or_default()
            .push((state, health_of(c.status.as_deref().unwrap_or(""))));
    }
    let mut names: Vec<String> = defined.to_vec();
    for s in by_service.keys() {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    Ok(names
        .into_iter()
        .map(|name| {
            let found = by_service.remove(&name).unwrap_or_default();
            // The worst replica speaks for the service.
            let (state, health) = found
                .iter()
                .max_by_key(|(s, h)| {
                    (
                        s != "running",
                        h.as_deref() == Some("unhealthy"),
                        h.as_deref() == Some("starting"),
                    )
                })
                .cloned()
                .unwrap_or_else(|| ("not created".into(), None));
            Service {
                name,
                state,
                health,
                containers: found.len(),
            }
        })
        .collect())
}

/// Docker's status text carries the health: `Up 3 minutes (healthy)`.
fn health_of(status: &str) -> Option<String> {
    for h in ["unhealthy", "healthy", "health: starting"] {
        if status.contains(&format!("({h})")) {
            return Some(h.trim_start_matches("health: ").to_string());
        }
    }
    None
}

fn render(s: &Status, ui: &Ui) -> String {
    let bold = ui.style(Style::new().bold());
    let dim = ui.style(Style::new().dim());
    let green = ui.style(Style::new().green());
    let red = ui.style(Style::new().red());
    let mut out = String::new();
    out.push_str(&format!(
        "{} {}  {}\n",
        bold.apply_to(format!("{:<12}", "Environment")),
        s.workspace,
        dim.apply_to(format!(
            "(compose project `{}`{})",
            s.project,
            if s.adopted { ", adopted" } else { "" }
        ))
    ));
    let lab = s
        .lab
        .map(|n| format!("{n:02} in progress"))
        .unwrap_or_else(|| "none started yet".into());
    out.push_str(&format!(
        "{} {lab}\n",
        bold.apply_to(format!("{:<12}", "Lab"))
    ));
    if let Some(d) = &s.docker {
        out.push_str(&format!(
            "{} {}\n",
            bold.apply_to(format!("{:<12}", "Docker")),
            red.apply_to(d)
        ));
    }
    out.push_str(&format!("{}\n", bold.apply_to("Services")));
    let w = s.services.iter().map(|x| x.name.len()).max().unwrap_or(0);
    for svc in &s.services {
        let text = match &svc.health {
            Some(h) => format!("{} ({h})", svc.state),
            None => svc.state.clone(),
        };
        let styled = if svc.state == "running" && svc.health.as_deref() != Some("unhealthy") {
            green.apply_to(text)
        } else {
            red.apply_to(text)
        };
        let replicas = if svc.containers > 1 {
            format!(" ×{}", svc.containers)
        } else {
            String::new()
        };
        out.push_str(&format!("  {:<w$}  {styled}{replicas}\n", svc.name));
    }
    out.push_str(&format!("{}\n", bold.apply_to("URLs")));
    let yellow = ui.style(Style::new().yellow());
    for u in &s.urls {
        let release = match (&u.version, u.tested, &u.note) {
            (Some(_), Some(true), Some(n)) => format!("  {}", dim.apply_to(n)),
            (Some(_), _, Some(n)) => format!("  {}", yellow.apply_to(format!("warning: {n}"))),
            (None, _, Some(_)) => format!("  {}", dim.apply_to("(not answering)")),
            _ => String::new(),
        };
        out.push_str(&format!("  {:<12} {}{release}\n", u.name, u.url));
    }
    if !s.results.is_empty() {
        out.push_str(&format!("{}\n", bold.apply_to("Last checks")));
        for r in &s.results {
            out.push_str(&format!(
                "  {}  {} passed, {} failed, {} errors, {} skipped; {}/{} points  {}\n",
                r.lab,
                r.passed,
                r.failed,
                r.errors,
                r.skipped,
                r.points,
                r.possible,
                dim.apply_to(&r.at)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! `lab status`: the environment, the lab in progress, each service's state and
//! health, where things answer, and the last check results.

use crate::cli::TargetArgs;
use crate::error::{exit, Result};
use crate::model::status::{self, EnvStatus, LastCheck, Url};
use crate::report::Ui;
use std::time::Duration;

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
        Ok(d) => {
            let members = crate::engine::containers::project_members(
                d,
                &env.state.project,
                Duration::from_secs(10),
            )
            .await?;
            let containers: Vec<(String, String, Option<String>)> = members
                .into_iter()
                .filter(|m| !m.service.is_empty())
                .map(|m| (m.service, m.state, m.health))
                .collect();
            (status::services(&defined, &containers), None)
        }
        Err(e) => (
            defined
                .iter()
                .map(|n| status::Service {
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
    let has = |s: &str| defined.iter().any(|d| d == s);
    let mut urls = vec![Url::new("Anchore API", e.anchore_url.clone())];
    if has("prometheus") {
        urls.push(Url::new("Prometheus", e.prometheus_url.clone()));
    }
    if has("grafana") {
        urls.push(Url::new("Grafana", e.grafana_url.clone()));
    }
    if has("ui") {
        // The UI's port follows the stack's when its ports are moved.
        let moved = crate::ports::load(&env.dir)
            .ok()
            .flatten()
            .unwrap_or_default();
        urls.push(Url::new(
            "Anchore UI",
            crate::ports::rewrite_url("http://localhost:3000", &moved),
        ));
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
    let status = EnvStatus {
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
            .map(|(lab, r)| LastCheck {
                lab: lab.clone(),
                result: r.clone(),
            })
            .collect(),
    };
    ui.out(&crate::report::status::status(&status, ui));
    Ok(if status.docker.is_some() {
        exit::DOCKER_UNREACHABLE
    } else {
        exit::OK
    })
}

//! `lab status` for a person: the environment, services, URLs and last checks.

use super::Ui;
use crate::model::status::EnvStatus;
use console::Style;

/// `lab status` as text; with `ui.json`, the versioned JSON document.
pub fn status(s: &EnvStatus, ui: &Ui) -> String {
    if ui.json {
        return serde_json::to_string_pretty(s).expect("status serializes") + "\n";
    }
    render(s, ui)
}

pub fn render(s: &EnvStatus, ui: &Ui) -> String {
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
                r.result.passed,
                r.result.failed,
                r.result.errors,
                r.result.skipped,
                r.result.points,
                r.result.possible,
                dim.apply_to(&r.result.at)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::status::{LastCheck, Service, Url};

    fn sample() -> EnvStatus {
        let mut grafana = Url::new("Grafana", "http://localhost:3001".into());
        grafana.version = Some("13.0.1".into());
        grafana.tested = Some(false);
        grafana.note = Some(
            "Grafana 13.0.1 is newer than the releases lab is tested with (9.5 to 13.0)".into(),
        );
        let mut prometheus = Url::new("Prometheus", "http://localhost:9090".into());
        prometheus.version = Some("3.5.3".into());
        prometheus.tested = Some(true);
        prometheus.note = Some("Prometheus 3.5.3 (tested)".into());
        let mut anchore = Url::new("Anchore API", "http://localhost:8228".into());
        anchore.note = Some("no answer".into());
        EnvStatus {
            schema_version: 1,
            workspace: "/home/trainee/.local/share/lab/env".into(),
            project: "anchore".into(),
            compose_file: "docker-compose.yaml".into(),
            adopted: false,
            lab: Some(4),
            docker: None,
            services: vec![
                Service {
                    name: "api".into(),
                    state: "running".into(),
                    health: Some("healthy".into()),
                    containers: 1,
                },
                Service {
                    name: "analyzer".into(),
                    state: "running".into(),
                    health: Some("unhealthy".into()),
                    containers: 2,
                },
                Service {
                    name: "grafana".into(),
                    state: "not created".into(),
                    health: None,
                    containers: 0,
                },
            ],
            urls: vec![anchore, prometheus, grafana],
            results: vec![LastCheck {
                lab: "03".into(),
                result: crate::model::state::LastResult {
                    at: "2026-11-30T01:02:03Z".into(),
                    passed: 4,
                    failed: 1,
                    errors: 0,
                    skipped: 0,
                    pending: 0,
                    points: 8,
                    possible: 10,
                },
            }],
        }
    }

    #[test]
    fn the_status_page_says_services_urls_releases_and_last_checks() {
        insta::assert_snapshot!(status(&sample(), &Ui::plain()));
    }

    #[test]
    fn an_unreachable_engine_is_named() {
        let mut s = sample();
        s.docker = Some("Docker engine unreachable: unix:///var/run/docker.sock: no socket".into());
        let text = status(&s, &Ui::plain());
        assert!(
            text.contains("Docker       Docker engine unreachable: unix:///var/run/docker.sock"),
            "{text}"
        );
    }

    #[test]
    fn the_json_document_keeps_its_schema() {
        let ui = Ui {
            json: true,
            ..Ui::plain()
        };
        insta::assert_snapshot!(status(&sample(), &ui));
    }
}

//! Snapshots of the human, JSON and JUnit renderings of one fixed set of results.

use super::{human, json, junit, Ui};
use crate::runner::{CheckResult, Status, Summary};
use std::time::Duration;

fn results() -> Vec<CheckResult> {
    let r = |id: &str,
             status,
             expected: Option<&str>,
             actual: Option<&str>,
             message: Option<&str>,
             hint: Option<&str>,
             ms,
             points| CheckResult {
        id: id.into(),
        exercise: "enable-metrics".into(),
        kind: "container",
        description: format!("description of {id}"),
        status,
        expected: expected.map(Into::into),
        actual: actual.map(Into::into),
        message: message.map(Into::into),
        hint: hint.map(Into::into),
        cause: None,
        reference: None,
        duration: Duration::from_millis(ms),
        attempts: 1,
        points,
        possible: 2,
    };
    vec![
        r("prometheus-running", Status::Passed, None, Some("running"), None, None, 120, 2),
        r(
            "metrics-on",
            Status::Failed,
            Some("ANCHORE_ENABLE_METRICS=true on api, analyzer"),
            Some("analyzer: ANCHORE_ENABLE_METRICS=false"),
            None,
            Some("set ANCHORE_ENABLE_METRICS=true on every Anchore service, then docker compose up -d"),
            35,
            0,
        ),
        r("targets-up", Status::Error, None, None, Some("no answer from http://localhost:9090/api/v1/targets within 5s"), Some("is Prometheus running?"), 5000, 0),
        r("dashboard", Status::Skipped, None, None, Some("needs `targets-up`, which did not pass"), None, 0, 0),
    ]
}

#[test]
fn human_output_shows_status_expected_actual_and_hint() {
    let ui = Ui::plain();
    let rs = results();
    let mut out = human::render_all(&rs, &ui);
    out.push_str(&human::render_summary(
        "02-prometheus",
        &Summary::of(&rs),
        Duration::from_millis(5012),
        &ui,
    ));
    insta::assert_snapshot!(out);
}

#[test]
fn quiet_human_output_leaves_out_passes() {
    let ui = Ui {
        quiet: true,
        ..Ui::plain()
    };
    let out = human::render_all(&results(), &ui);
    assert!(!out.contains("prometheus-running"));
    assert!(out.contains("metrics-on"));
}

#[test]
fn json_output_has_the_documented_shape() {
    let rs = results();
    let report = json::CheckReport {
        schema_version: json::SCHEMA_VERSION,
        lab: json::LabRef {
            id: "02-prometheus",
            title: "Enabling Prometheus",
        },
        duration_ms: 5012,
        summary: Summary::of(&rs),
        checks: &rs,
    };
    insta::assert_snapshot!(json::render(&report));
}

#[test]
fn junit_output_maps_lab_to_suite_and_check_to_case() {
    let out = junit::render("02-prometheus", &results(), Duration::from_millis(5012));
    let out = regex::Regex::new(r#"timestamp="[^"]*""#)
        .unwrap()
        .replace_all(&out, r#"timestamp="[TS]""#);
    insta::assert_snapshot!(out);
}

/// What a person sees for each kind of error: the cause, then the hint for it.
#[test]
fn every_kind_of_error_names_its_cause_and_a_hint() {
    use crate::error::{Diagnostic, Error};
    let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
    let errors = vec![
        Error::InvalidLabs(vec![Diagnostic {
            file: "labs/02-prometheus/lab.yaml".into(),
            line: Some(14),
            column: Some(9),
            path: "exercises[0].checks[1].timeout".into(),
            message: "`10 parsecs` is not a duration (e.g. 30s, 2m)".into(),
        }]),
        Error::UnknownLab {
            query: "prometeus".into(),
            suggestion: Some("02-prometheus".into()),
        },
        Error::Read {
            path: "/home/t/env/docker-compose.yaml".into(),
            source: io(),
        },
        Error::DockerUnreachable {
            host: "unix:///var/run/docker.sock".into(),
            reason: "no socket at /var/run/docker.sock".into(),
        },
        Error::NoEnvironment {
            dir: "/home/t/env".into(),
        },
        Error::ComposeMissing {
            tried: "`docker compose version`: unknown command; `docker-compose`: not found".into(),
            forced: None,
        },
        Error::Pull {
            image: "docker.io/anchore/enterprise:v5.17.0".into(),
            registry: "docker.io".into(),
            message: "pull access denied".into(),
        },
        Error::PortTaken {
            port: 9090,
            service: "prometheus".into(),
            holder: Some("prometheus (pid 812)".into()),
        },
        Error::Step {
            lab: "04".into(),
            step: 3,
            name: "grafana_datasource".into(),
            cause: "POST http://localhost:3001/api/datasources answered HTTP 500".into(),
        },
        Error::Usage("`--format csv` is for `lab grade`".into()),
    ];
    let text: String = errors
        .iter()
        .map(|e| format!("[exit {}]\n{}", e.exit_code(), Ui::plain().render_error(e)))
        .collect();
    insta::assert_snapshot!(text);
}

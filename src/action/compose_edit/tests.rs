//! The edits on the real quickstart compose files: only the changed lines differ.

use super::*;
use crate::model::check::ComposeCheck;
use crate::probe::compose::judge;
use crate::probe::Observation;
use std::collections::BTreeMap;

fn reference(name: &str) -> String {
    crate::reference::read(&format!("compose/{name}"))
}

const Q53: &str = "enterprise-5.3.0-quickstart-docker-compose.yaml";

/// The lines of `after` that are not in `before`, and those of `before` not in
/// `after`, by a longest-common-subsequence diff.
fn diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut removed, mut added) = (0, 0, vec![], vec![]);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            removed.push(a[i].to_string());
            i += 1;
        } else {
            added.push(b[j].to_string());
            j += 1;
        }
    }
    removed.extend(a[i..].iter().map(|s| s.to_string()));
    added.extend(b[j..].iter().map(|s| s.to_string()));
    (removed, added)
}

fn compose_check(services: &[&str]) -> ComposeCheck {
    ComposeCheck {
        file: None,
        services: services.iter().map(|s| s.to_string()).collect(),
        image: None,
        ports: vec![],
        env: BTreeMap::new(),
        enabled: vec![],
        every_anchore_service: false,
        volumes: vec![],
        top_level_volumes: vec![],
    }
}

#[test]
fn uncommenting_the_prometheus_block_changes_only_its_lines() {
    let before = reference(Q53);
    let after = uncomment_block(&before, "prometheus:").unwrap();
    let (removed, added) = diff(&before, &after);
    assert_eq!(
        removed.len(),
        13,
        "the header comment and the 12 lines of the block"
    );
    assert_eq!(added[0], "  # Uncomment this section to add a prometheus instance to gather metrics. This is mostly for quickstart to demonstrate prometheus metrics exported\n");
    assert_eq!(added[1], "  prometheus:\n");
    assert_eq!(added.last().unwrap(), "      - \"9090:9090\"\n");
    // The swagger block right after stays commented.
    assert!(after.contains("#  swagger-ui-nginx:\n"));
    let doc = crate::loader::yaml_value(&after).unwrap();
    let mut c = compose_check(&["prometheus"]);
    c.ports = vec!["9090:9090".into()];
    c.volumes = vec!["./anchore-prometheus.yml:/etc/prometheus/prometheus.yml".into()];
    c.image = Some("prom/prometheus".into());
    assert!(
        matches!(judge(&c, &doc), Observation::Pass { .. }),
        "{:?}",
        judge(&c, &doc)
    );
    // Doing it again changes nothing.
    assert_eq!(uncomment_block(&after, "prometheus:").unwrap(), after);
}

#[test]
fn enabling_metrics_everywhere_rewrites_only_those_lines() {
    let before = reference(Q53);
    let after = set_env(&before, &[], "ANCHORE_ENABLE_METRICS", "true").unwrap();
    let (removed, added) = diff(&before, &after);
    assert_eq!(removed.len(), added.len());
    assert!(
        removed
            .iter()
            .all(|l| l.trim() == "- ANCHORE_ENABLE_METRICS=false"),
        "{removed:?}"
    );
    assert!(
        added
            .iter()
            .all(|l| l.trim() == "- ANCHORE_ENABLE_METRICS=true"),
        "{added:?}"
    );
    // The commented-out lines (e.g. in the swagger and ui blocks) are not touched.
    assert_eq!(
        before
            .matches("#      - ANCHORE_ENABLE_METRICS=false")
            .count(),
        after
            .matches("#      - ANCHORE_ENABLE_METRICS=false")
            .count()
    );
    let doc = crate::loader::yaml_value(&after).unwrap();
    let mut c = compose_check(&[
        "api",
        "catalog",
        "queue",
        "policy-engine",
        "analyzer",
        "notifications",
        "reports",
    ]);
    c.env.insert("ANCHORE_ENABLE_METRICS".into(), "true".into());
    assert!(
        matches!(judge(&c, &doc), Observation::Pass { .. }),
        "{:?}",
        judge(&c, &doc)
    );
}

#[test]
fn setting_env_on_one_service_leaves_the_others() {
    let before = reference(Q53);
    let after = set_env(
        &before,
        &["analyzer".to_string()],
        "ANCHORE_ENABLE_METRICS",
        "true",
    )
    .unwrap();
    let (removed, added) = diff(&before, &after);
    assert_eq!((removed.len(), added.len()), (1, 1));
    let doc = crate::loader::yaml_value(&after).unwrap();
    let mut c = compose_check(&["api"]);
    c.env
        .insert("ANCHORE_ENABLE_METRICS".into(), "false".into());
    assert!(matches!(judge(&c, &doc), Observation::Pass { .. }));
}

#[test]
fn env_in_map_form_and_quoted_list_form_keeps_its_form() {
    let text = "services:\n  a:\n    environment:\n      ANCHORE_ENABLE_METRICS: \"false\"  # off for now\n      OTHER: x\n  b:\n    environment:\n      - \"ANCHORE_ENABLE_METRICS=false\"\n";
    let after = set_env(text, &[], "ANCHORE_ENABLE_METRICS", "true").unwrap();
    assert_eq!(after, "services:\n  a:\n    environment:\n      ANCHORE_ENABLE_METRICS: \"true\"  # off for now\n      OTHER: x\n  b:\n    environment:\n      - \"ANCHORE_ENABLE_METRICS=true\"\n");
}

#[test]
fn a_missing_variable_is_added_to_the_named_service() {
    let text =
        "services:\n  a:\n    image: x\n    environment:\n      - FOO=1\n  b:\n    image: y\n";
    let after = set_env(text, &["a".into(), "b".into()], "BAR", "2").unwrap();
    assert_eq!(after, "services:\n  a:\n    image: x\n    environment:\n      - FOO=1\n      - BAR=2\n  b:\n    image: y\n    environment:\n      - BAR=2\n");
}

#[test]
fn adding_the_grafana_service_and_volume_as_the_course_does() {
    let before = uncomment_block(&reference(Q53), "prometheus:").unwrap();
    let snippet = "  grafana:\n    image: docker.io/grafana/grafana:latest\n    depends_on:\n      - api\n      - prometheus\n    volumes:\n      - grafana-db-volume:/var/lib/grafana\n#      - ./prometheus_datasource_config.yaml:/etc/grafana/provisioning/datasources/anchore.yaml:z\n    logging:\n      driver: \"json-file\"\n      options:\n        max-size: 100m\n    ports:\n      - \"3001:3000\"\n";
    let after = add_service(&before, "grafana", snippet).unwrap();
    let after = add_volume(&after, "grafana-db-volume").unwrap();
    let (removed, added) = diff(&before, &after);
    assert!(
        removed.is_empty(),
        "nothing of the trainee's file is lost: {removed:?}"
    );
    assert_eq!(added.len(), snippet.lines().count() + 2);
    let doc = crate::loader::yaml_value(&after).unwrap();
    let mut c = compose_check(&["grafana", "prometheus"]);
    c.top_level_volumes = vec![
        "grafana-db-volume".into(),
        "anchore-enterprise-5.3-db".into(),
    ];
    assert!(
        matches!(judge(&c, &doc), Observation::Pass { .. }),
        "{:?}",
        judge(&c, &doc)
    );
    let mut g = compose_check(&["grafana"]);
    g.ports = vec!["3001:3000".into()];
    g.volumes = vec!["grafana-db-volume:/var/lib/grafana".into()];
    assert!(matches!(judge(&g, &doc), Observation::Pass { .. }));
    // Adding again changes nothing.
    assert_eq!(
        add_volume(
            &add_service(&after, "grafana", snippet).unwrap(),
            "grafana-db-volume"
        )
        .unwrap(),
        after
    );
}

#[test]
fn crlf_files_keep_crlf() {
    let text = "services:\r\n  a:\r\n    environment:\r\n      - X=1\r\n";
    let after = set_env(text, &[], "X", "2").unwrap();
    assert_eq!(
        after,
        "services:\r\n  a:\r\n    environment:\r\n      - X=2\r\n"
    );
}

#[test]
fn errors_name_what_is_missing() {
    assert_eq!(
        uncomment_block("services: {}\n", "prometheus:")
            .unwrap_err()
            .0,
        "no commented-out block starting with `prometheus:` in the compose file"
    );
    assert_eq!(
        set_env("services:\n  a:\n    image: x\n", &["zz".into()], "X", "1")
            .unwrap_err()
            .0,
        "the compose file has no service `zz`"
    );
    assert_eq!(
        add_service("version: '3'\n", "g", "g:\n  image: x\n")
            .unwrap_err()
            .0,
        "the compose file has no `services:` section"
    );
}

#[test]
fn every_reference_compose_file_takes_the_lab_2_edits() {
    for name in [Q53, "enterprise-3.1.0-quickstart-docker-compose.yaml"] {
        let text = reference(name);
        let text = uncomment_block(&text, "prometheus:").unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = set_env(&text, &[], "ANCHORE_ENABLE_METRICS", "true").unwrap();
        let doc = crate::loader::yaml_value(&text).unwrap();
        assert!(
            doc["services"]["prometheus"]["image"]
                .as_str()
                .unwrap()
                .contains("prometheus"),
            "{name}"
        );
    }
}

#[test]
fn the_course_template_takes_every_lab_edit() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/labs/deployment/docker-compose.yaml"
    );
    let before = std::fs::read_to_string(path).unwrap();
    let text = uncomment_block(&before, "prometheus:").unwrap();
    let text = set_env(&text, &[], "ANCHORE_ENABLE_METRICS", "true").unwrap();
    let text = add_volume(&text, "grafana-db-volume").unwrap();
    let text = add_service(
        &text,
        "grafana",
        "grafana:\n  image: docker.io/grafana/grafana:latest\n  ports:\n    - \"3001:3000\"\n",
    )
    .unwrap();
    let doc = crate::loader::yaml_value(&text).unwrap();
    let all = [
        "api",
        "catalog",
        "queue",
        "policy-engine",
        "analyzer",
        "reports",
        "reports_worker",
        "notifications",
        "ui",
    ];
    let mut c = compose_check(&all);
    c.env.insert("ANCHORE_ENABLE_METRICS".into(), "true".into());
    assert!(
        matches!(judge(&c, &doc), Observation::Pass { .. }),
        "{:?}",
        judge(&c, &doc)
    );
    let mut c = compose_check(&["prometheus", "grafana"]);
    c.top_level_volumes = vec!["grafana-db-volume".into(), "anchore-db-volume".into()];
    assert!(
        matches!(judge(&c, &doc), Observation::Pass { .. }),
        "{:?}",
        judge(&c, &doc)
    );
    let (removed, _) = diff(&before, &text);
    assert!(
        removed
            .iter()
            .all(|l| l.contains("ANCHORE_ENABLE_METRICS=false") || l.starts_with('#')),
        "{removed:?}"
    );
}

#[test]
fn a_snippet_may_open_with_comments_which_are_kept() {
    let snippet = "# Grafana keeps its data in a volume.\ngrafana:\n  image: g\n";
    let after = add_service("services:\n  api:\n    image: a\n", "grafana", snippet).unwrap();
    assert_eq!(
        after,
        "services:\n  api:\n    image: a\n  # Grafana keeps its data in a volume.\n  grafana:\n    image: g\n"
    );
}

fn fixture_517() -> String {
    let p = format!(
        "{}/tests/fixtures/reference/anchore/compose/enterprise-5.17.0-s3c-anchore-compose.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Anchore 6.x's quickstart keeps the value in `.env` and interpolates it on every
/// service (issue 12's description of it; the file itself is not stored anywhere).
const SIX_STYLE: &str = "services:\n  api:\n    image: docker.io/anchore/enterprise:v6.0.0\n    environment:\n      - ANCHORE_ENABLE_METRICS=${ANCHORE_ENABLE_METRICS}\n  component-catalog:\n    image: docker.io/anchore/enterprise:v6.0.0\n    environment:\n      ANCHORE_ENABLE_METRICS: \"${ANCHORE_ENABLE_METRICS:-false}\"\n";

#[test]
fn a_value_taken_from_dotenv_is_found_and_a_literal_one_is_not() {
    assert_eq!(
        interpolated_from(SIX_STYLE, &[], "ANCHORE_ENABLE_METRICS").as_deref(),
        Some("ANCHORE_ENABLE_METRICS")
    );
    assert_eq!(
        interpolated_from(&fixture_517(), &[], "ANCHORE_ENABLE_METRICS"),
        None
    );
    assert_eq!(interpolated_from(SIX_STYLE, &[], "ANCHORE_LOG_LEVEL"), None);
    let mixed = SIX_STYLE.replace("${ANCHORE_ENABLE_METRICS}", "true");
    assert_eq!(
        interpolated_from(&mixed, &[], "ANCHORE_ENABLE_METRICS"),
        None
    );
}

#[test]
fn dotenv_set_changes_one_line_or_adds_it() {
    let text = "# Anchore\nANCHORE_ENABLE_METRICS=false\nANCHORE_LOG_LEVEL=INFO\n";
    assert_eq!(
        dotenv_set(text, "ANCHORE_ENABLE_METRICS", "true"),
        "# Anchore\nANCHORE_ENABLE_METRICS=true\nANCHORE_LOG_LEVEL=INFO\n"
    );
    assert_eq!(
        dotenv_set("A=1", "ANCHORE_ENABLE_METRICS", "true"),
        "A=1\nANCHORE_ENABLE_METRICS=true\n"
    );
    assert_eq!(
        dotenv_set("", "ANCHORE_ENABLE_METRICS", "true"),
        "ANCHORE_ENABLE_METRICS=true\n"
    );
    assert_eq!(
        dotenv_set(
            "export ANCHORE_ENABLE_METRICS=false\r\n",
            "ANCHORE_ENABLE_METRICS",
            "true"
        ),
        "ANCHORE_ENABLE_METRICS=true\r\n"
    );
}

#[test]
fn the_5_17_file_without_a_prometheus_block_gets_the_service_added() {
    let text = fixture_517();
    assert!(uncomment_block(&text, "prometheus:").is_err());
    let snippet = std::fs::read_to_string(format!(
        "{}/labs/02-prometheus/assets/prometheus-service.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let added = add_service(&text, "prometheus", &snippet).unwrap();
    let on = set_env(&added, &[], "ANCHORE_ENABLE_METRICS", "true").unwrap();
    let doc = crate::loader::yaml_value(&on).unwrap();
    let mut c = compose_check(&["prometheus"]);
    c.ports = vec!["9090:9090".into()];
    assert!(matches!(judge(&c, &doc), Observation::Pass { .. }));
    let mut c = compose_check(&[]);
    c.every_anchore_service = true;
    c.enabled = vec!["ANCHORE_ENABLE_METRICS".into()];
    assert!(
        matches!(judge(&c, &doc), Observation::Pass { .. }),
        "{:?}",
        judge(&c, &doc)
    );
    // Before: data-syncer and the others are off.
    let before = crate::loader::yaml_value(&text).unwrap();
    assert!(matches!(judge(&c, &before), Observation::Fail { .. }));
}

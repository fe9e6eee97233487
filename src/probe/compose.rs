//! `compose` checks: the trainee's compose file, read as compose reads it (anchors
//! and `<<` merges applied; list and map forms of `environment`; short and long
//! forms of `ports` and `volumes`).

use super::{Ctx, Observation, ProbeResult};
use crate::model::check::ComposeCheck;
use serde_json::Value;

pub async fn probe(c: &ComposeCheck, ctx: &Ctx) -> ProbeResult {
    let path = match &c.file {
        Some(f) => ctx.target.path(f),
        None => ctx.target.compose_file.clone(),
    };
    let shown = path.display().to_string();
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let doc =
        crate::loader::yaml_value(&text).map_err(|e| format!("{shown} is not valid YAML: {e}"))?;
    Ok(judge(c, &doc))
}

/// The verdict on a parsed compose document (no I/O, so it is tested directly).
pub fn judge(c: &ComposeCheck, doc: &Value) -> Observation {
    let mut wanted = Vec::new();
    let mut problems = Vec::new();

    for name in &c.top_level_volumes {
        wanted.push(format!("top-level volume {name}"));
        if doc.get("volumes").and_then(|v| v.get(name)).is_none() {
            problems.push(format!("no top-level volume `{name}`"));
        }
    }
    for svc in &c.services {
        wanted.push(describe(svc, c));
        let Some(s) = doc.get("services").and_then(|s| s.get(svc)) else {
            problems.push(format!("no service `{svc}`"));
            continue;
        };
        if let Some(pattern) = &c.image {
            let image = s.get("image").and_then(Value::as_str).unwrap_or("");
            let ok = regex::Regex::new(pattern)
                .map(|re| re.is_match(image))
                .unwrap_or(false);
            if !ok {
                problems.push(format!(
                    "{svc}: image {}",
                    if image.is_empty() {
                        "not set".into()
                    } else {
                        format!("`{image}`")
                    }
                ));
            }
        }
        let ports = ports(s);
        for p in &c.ports {
            let want = normalise_port(&Value::String(p.clone()));
            if !ports.contains(&want) {
                problems.push(format!("{svc}: no port {p} (has {})", list_or_none(&ports)));
            }
        }
        let env = environment(s);
        for (k, v) in &c.env {
            match env.iter().find(|(ek, _)| ek == k) {
                Some((_, Some(ev))) if ev == v => {}
                Some((_, Some(ev))) => problems.push(format!("{svc}: {k}={ev}")),
                Some((_, None)) => problems.push(format!("{svc}: {k} has no value")),
                None => problems.push(format!("{svc}: {k} not set")),
            }
        }
        let mounts = volumes(s);
        for v in &c.volumes {
            let (want_src, want_dst) = split_volume(v);
            let found = mounts.iter().any(|(src, dst)| {
                dst == &want_dst
                    && want_src
                        .as_ref()
                        .is_none_or(|ws| src.as_deref().map(clean_source) == Some(clean_source(ws)))
            });
            if !found {
                let have: Vec<String> = mounts
                    .iter()
                    .map(|(s, d)| match s {
                        Some(s) => format!("{s}:{d}"),
                        None => d.clone(),
                    })
                    .collect();
                problems.push(format!(
                    "{svc}: no volume {v} (has {})",
                    list_or_none(&have)
                ));
            }
        }
    }
    let expected = wanted.join("; ");
    if problems.is_empty() {
        Observation::pass(expected)
    } else {
        Observation::fail(expected, problems.join("; "))
    }
}

fn describe(svc: &str, c: &ComposeCheck) -> String {
    let mut parts = vec![format!("service {svc}")];
    if let Some(i) = &c.image {
        parts.push(format!("image /{i}/"));
    }
    if !c.ports.is_empty() {
        parts.push(format!("ports {}", c.ports.join(", ")));
    }
    if !c.env.is_empty() {
        parts.push(
            c.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if !c.volumes.is_empty() {
        parts.push(format!("volumes {}", c.volumes.join(", ")));
    }
    parts.join(" with ")
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn scalar(v: &Value) -> Option<String> {
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

/// Port mappings as `published:target` (host address and protocol dropped).
fn ports(service: &Value) -> Vec<String> {
    service
        .get("ports")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(normalise_port).collect())
        .unwrap_or_default()
}

fn normalise_port(v: &Value) -> String {
    if let Value::Object(m) = v {
        let target = m.get("target").and_then(scalar).unwrap_or_default();
        return match m.get("published").and_then(scalar) {
            Some(p) => format!("{p}:{target}"),
            None => target,
        };
    }
    let s = scalar(v).unwrap_or_default();
    let s = s.split('/').next().unwrap_or("").to_string();
    // `127.0.0.1:9090:9090` -> `9090:9090`
    let parts: Vec<&str> = s.rsplitn(3, ':').collect();
    match parts.as_slice() {
        [target, published, _ip] => format!("{published}:{target}"),
        _ => s,
    }
}

/// Volumes as (source, target) pairs from the short (`src:dst[:mode]`) and long forms.
fn volumes(service: &Value) -> Vec<(Option<String>, String)> {
    let Some(items) = service.get("volumes").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|v| match v {
            Value::Object(m) => Some((
                m.get("source").and_then(scalar),
                m.get("target").and_then(scalar)?,
            )),
            other => Some(split_volume(&scalar(other)?)),
        })
        .collect()
}

fn split_volume(s: &str) -> (Option<String>, String) {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [dst] => (None, dst.to_string()),
        [src, dst] => (Some(src.to_string()), dst.to_string()),
        [src, dst, _mode, ..] => (Some(src.to_string()), dst.to_string()),
        [] => (None, String::new()),
    }
}

fn clean_source(s: &str) -> &str {
    s.trim_start_matches("./")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const COMPOSE: &str = r#"
x-metrics: &metrics
  ANCHORE_ENABLE_METRICS: "true"
  ANCHORE_LOG_LEVEL: INFO
volumes:
  grafana-db-volume:
    external: false
services:
  api:
    image: docker.io/anchore/enterprise:v5.3.0
    ports:
      - "8228:8228"
    environment:
      - ANCHORE_ENDPOINT_HOSTNAME=api
      - ANCHORE_ENABLE_METRICS=false
  analyzer:
    image: docker.io/anchore/enterprise:v5.3.0
    environment:
      <<: *metrics
      ANCHORE_ENDPOINT_HOSTNAME: analyzer
  prometheus:
    image: docker.io/prom/prometheus:latest
    volumes:
      - ./anchore-prometheus.yml:/etc/prometheus/prometheus.yml:z
    ports:
      - target: 9090
        published: 9090
  grafana:
    image: docker.io/grafana/grafana:latest
    volumes:
      - type: volume
        source: grafana-db-volume
        target: /var/lib/grafana
    ports:
      - "127.0.0.1:3001:3000/tcp"
"#;

    fn doc() -> Value {
        crate::loader::yaml_value(COMPOSE).unwrap()
    }

    fn check() -> ComposeCheck {
        ComposeCheck {
            file: None,
            services: vec![],
            image: None,
            ports: vec![],
            env: BTreeMap::new(),
            volumes: vec![],
            top_level_volumes: vec![],
        }
    }

    #[test]
    fn env_is_read_from_the_list_form_and_from_merged_map_forms() {
        let mut c = check();
        c.services = vec!["api".into(), "analyzer".into()];
        c.env.insert("ANCHORE_ENABLE_METRICS".into(), "true".into());
        let Observation::Fail { actual, .. } = judge(&c, &doc()) else {
            panic!("api has metrics off")
        };
        assert_eq!(actual, "api: ANCHORE_ENABLE_METRICS=false");
        c.services = vec!["analyzer".into()];
        assert!(matches!(judge(&c, &doc()), Observation::Pass { .. }));
    }

    #[test]
    fn ports_match_in_short_long_and_host_address_forms() {
        let mut c = check();
        c.services = vec!["prometheus".into()];
        c.ports = vec!["9090:9090".into()];
        assert!(matches!(judge(&c, &doc()), Observation::Pass { .. }));
        c.services = vec!["grafana".into()];
        c.ports = vec!["3001:3000".into()];
        assert!(matches!(judge(&c, &doc()), Observation::Pass { .. }));
        c.ports = vec!["3000:3000".into()];
        let Observation::Fail { actual, .. } = judge(&c, &doc()) else {
            panic!()
        };
        assert_eq!(actual, "grafana: no port 3000:3000 (has 3001:3000)");
    }

    #[test]
    fn volumes_match_by_target_or_by_source_and_target() {
        let mut c = check();
        c.services = vec!["prometheus".into()];
        c.volumes = vec!["/etc/prometheus/prometheus.yml".into()];
        assert!(matches!(judge(&c, &doc()), Observation::Pass { .. }));
        c.volumes = vec!["anchore-prometheus.yml:/etc/prometheus/prometheus.yml".into()];
        assert!(matches!(judge(&c, &doc()), Observation::Pass { .. }));
        c.volumes = vec!["./other.yml:/etc/prometheus/prometheus.yml".into()];
        assert!(matches!(judge(&c, &doc()), Observation::Fail { .. }));
        c.services = vec!["grafana".into()];
        c.volumes = vec!["grafana-db-volume:/var/lib/grafana".into()];
        assert!(matches!(judge(&c, &doc()), Observation::Pass { .. }));
    }

    #[test]
    fn missing_service_and_top_level_volume_are_named() {
        let mut c = check();
        c.services = vec!["cadvisor".into()];
        c.top_level_volumes = vec!["grafana-db-volume".into(), "prom-data".into()];
        let Observation::Fail {
            expected, actual, ..
        } = judge(&c, &doc())
        else {
            panic!()
        };
        assert_eq!(
            expected,
            "top-level volume grafana-db-volume; top-level volume prom-data; service cadvisor"
        );
        assert_eq!(
            actual,
            "no top-level volume `prom-data`; no service `cadvisor`"
        );
    }

    #[test]
    fn image_is_matched_as_a_regex() {
        let mut c = check();
        c.services = vec!["prometheus".into()];
        c.image = Some("prom/prometheus".into());
        assert!(matches!(judge(&c, &doc()), Observation::Pass { .. }));
        c.image = Some("^grafana".into());
        assert!(matches!(judge(&c, &doc()), Observation::Fail { .. }));
    }

    #[test]
    fn the_real_course_compose_files_parse() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/anchore/compose"
        );
        let Ok(entries) = std::fs::read_dir(dir) else {
            // The reference folder sits beside the repository in CI and on developer machines.
            panic!("reference compose files not found at {dir}");
        };
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let doc = crate::loader::yaml_value(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
            let mut c = check();
            c.services = vec!["api".into()];
            c.env
                .insert("ANCHORE_ENABLE_METRICS".into(), "false".into());
            // Every Enterprise quickstart ships with metrics off on the api; the engine's
            // quickstart leaves the variable out (the image's default is false).
            let v = judge(&c, &doc);
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("engine") {
                assert_eq!(
                    v,
                    Observation::fail(
                        "service api with ANCHORE_ENABLE_METRICS=false",
                        "api: ANCHORE_ENABLE_METRICS not set"
                    ),
                    "{name}"
                );
            } else {
                assert!(matches!(v, Observation::Pass { .. }), "{name}: {v:?}");
            }
        }
    }
}

//! `compose` checks: the trainee's compose file, read as compose reads it (anchors
//! and `<<` merges applied; list and map forms of `environment`; short and long
//! forms of `ports` and `volumes`).

use super::{Cause, Ctx, Observation, ProbeResult};
use crate::model::check::ComposeCheck;
use crate::model::compose::{environment, scalar};
use serde_json::Value;

pub async fn probe(c: &ComposeCheck, ctx: &Ctx) -> ProbeResult {
    let path = match &c.file {
        Some(f) => ctx.target.path(f),
        None => ctx.target.compose_file.clone(),
    };
    let shown = path.display().to_string();
    if !path.is_file() {
        return Ok(Observation::failed_because(
            Cause::new(
                "file-missing",
                "The compose file is not where the environment says: run lab in its folder.",
            ),
            "the compose file",
            format!("no file {shown}"),
        ));
    }
    // Compose is the truth for values; without it, lab's own reading of the file.
    match resolved(ctx, &path).await {
        Ok(doc) => Ok(judge(c, &relative_sources(doc, &ctx.target.workdir))),
        Err(Resolve::Invalid(message)) => Ok(Observation::failed_because(
            Cause::new(
                "compose-invalid",
                "Compose cannot read the file: fix what its message names (at the line it \
                 gives), then run `docker compose config -q` until it says nothing.",
            ),
            "a compose file that compose accepts",
            message,
        )),
        Err(Resolve::Unavailable) => {
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            match super::off_thread(move || crate::loader::yaml_value(&text)).await? {
                Ok(doc) => Ok(judge(c, &doc)),
                Err(e) => Ok(Observation::failed_because(
                    Cause::new(
                        "compose-invalid",
                        "The compose file is not valid YAML: fix it at the line named.",
                    ),
                    "a compose file that compose accepts",
                    format!("{shown} is not valid YAML: {e}"),
                )),
            }
        }
    }
}

enum Resolve {
    /// Compose refused the files: its own message.
    Invalid(String),
    /// No compose program to ask.
    Unavailable,
}

/// The override files compose adds on its own when it is run without `-f`, as a
/// trainee runs it: `docker compose up -d` reads them, so the check does too.
const OVERRIDES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

async fn resolved(ctx: &Ctx, path: &std::path::Path) -> Result<Value, Resolve> {
    let installed = crate::engine::compose::detect()
        .await
        .map_err(|_| Resolve::Unavailable)?;
    let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let mut files = vec![path.to_path_buf()];
    if let Some(o) = OVERRIDES.iter().map(|o| dir.join(o)).find(|p| p.is_file()) {
        files.push(o);
    }
    let compose = crate::engine::compose::Compose::new(
        installed.flavor,
        ctx.target.project.clone(),
        files,
        ctx.target.workdir.clone(),
    );
    match compose.resolved().await {
        Ok(text) => crate::loader::yaml_value(&text)
            .map_err(|e| Resolve::Invalid(format!("compose's answer cannot be read: {e}"))),
        Err(crate::error::Error::ComposeMissing { .. }) => Err(Resolve::Unavailable),
        Err(crate::error::Error::Compose { message, .. }) => Err(Resolve::Invalid(message)),
        Err(e) => Err(Resolve::Invalid(e.to_string())),
    }
}

/// Compose writes bind-mount sources as absolute paths; the checks name them
/// relative to the environment's folder (`./anchore-prometheus.yml`).
fn relative_sources(mut doc: Value, workdir: &std::path::Path) -> Value {
    let base = std::fs::canonicalize(workdir).unwrap_or_else(|_| workdir.to_path_buf());
    let services = doc.get_mut("services").and_then(Value::as_object_mut);
    for svc in services.into_iter().flat_map(|m| m.values_mut()) {
        let vols = svc.get_mut("volumes").and_then(Value::as_array_mut);
        for v in vols.into_iter().flatten() {
            let Some(src) = v.get_mut("source") else {
                continue;
            };
            let Some(text) = src.as_str() else { continue };
            let p = std::path::Path::new(text);
            let rel = p
                .strip_prefix(&base)
                .or_else(|_| p.strip_prefix(workdir))
                .ok()
                .map(|r| format!("./{}", r.display()));
            if let Some(rel) = rel {
                *src = Value::String(rel);
            }
        }
    }
    doc
}

/// Whether Anchore reads a value as on. Anchore puts the variable's text into its
/// YAML configuration (`enabled: ${ANCHORE_ENABLE_METRICS}`), loads it with PyYAML
/// (YAML 1.1) and takes Python's truth of the result: `true`, `True`, `TRUE`, `yes`,
/// `on`, any number but zero and any other non-empty text are on; `false`, `no`,
/// `off` (in the same three cases), `0`, `null`, `~` and nothing are off.
pub fn anchore_reads_on(value: Option<&str>) -> bool {
    let Some(v) = value else { return false };
    let t = v.trim();
    match t {
        "" | "~" | "null" | "Null" | "NULL" => false,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => true,
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => false,
        _ => {
            let quoted = t.len() >= 2
                && ((t.starts_with('"') && t.ends_with('"'))
                    || (t.starts_with('\'') && t.ends_with('\'')));
            if quoted {
                // A quoted scalar is text: on unless empty.
                return t.len() > 2;
            }
            match yaml11_number_is_zero(t) {
                Some(zero) => !zero,
                None => true,
            }
        }
    }
}

/// For a YAML 1.1 int or float (PyYAML's forms), whether it is zero; `None` when
/// the text is not a number.
fn yaml11_number_is_zero(t: &str) -> Option<bool> {
    let s = t.strip_prefix(['-', '+']).unwrap_or(t).replace('_', "");
    if [".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"].contains(&s.as_str()) {
        return Some(false);
    }
    let all_zero = |d: &str| d.chars().all(|c| c == '0');
    if let Some(h) = s.strip_prefix("0x") {
        let ok = !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
        return ok.then(|| all_zero(h));
    }
    if let Some(b) = s.strip_prefix("0b") {
        let ok = !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
        return ok.then(|| all_zero(b));
    }
    // Decimal, octal, sexagesimal (`1:30`) and floats (`0.5`, `1.5e+3`).
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) if m.contains('.') => (m, Some(e)),
        Some(_) => return None,
        None => (s.as_str(), None),
    };
    if let Some(e) = exponent {
        let digits = e.strip_prefix(['-', '+'])?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let numeric = !mantissa.is_empty()
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ':')
        && mantissa.matches('.').count() <= 1;
    numeric.then(|| {
        mantissa
            .chars()
            .filter(char::is_ascii_digit)
            .all(|c| c == '0')
    })
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
    let mut services = c.services.clone();
    if c.every_anchore_service {
        let all = doc.get("services").and_then(Value::as_object);
        for (name, s) in all.into_iter().flatten() {
            let image = s.get("image").and_then(Value::as_str).unwrap_or("");
            let anchore = crate::engine::containers::Member {
                id: String::new(),
                image: image.to_string(),
                ..Default::default()
            }
            .runs_anchore();
            // One-shot helpers (6.x's db-preflight) run the image but serve nothing.
            let one_shot = s
                .get("restart")
                .and_then(Value::as_str)
                .is_some_and(|r| r == "no")
                && !environment(s)
                    .iter()
                    .any(|(k, _)| k == "ANCHORE_ENABLE_METRICS");
            if anchore && !one_shot && !services.contains(name) {
                services.push(name.clone());
            }
        }
    }
    for svc in &services {
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
        for k in &c.enabled {
            match env.iter().find(|(ek, _)| ek == k) {
                Some((_, v)) if anchore_reads_on(v.as_deref()) => {}
                Some((_, Some(ev))) => problems.push(format!("{svc}: {k}={ev} (off)")),
                Some((_, None)) => problems.push(format!("{svc}: {k} has no value")),
                None => problems.push(format!("{svc}: {k} not set")),
            }
        }
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
    if !c.enabled.is_empty() {
        parts.push(format!("{} on", c.enabled.join(", ")));
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
            enabled: vec![],
            every_anchore_service: false,
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
        let dir = crate::reference::path("compose");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reference compose files at {}: {e}", dir.display()));
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

    #[test]
    fn anchore_reads_these_spellings_as_on_and_these_as_off() {
        for v in [
            "true",
            "True",
            "TRUE",
            "yes",
            "Yes",
            "on",
            "ON",
            "1",
            "2",
            "0x1",
            "0.5",
            "1_000",
            ".inf",
            "\"false\"",
            "'0'",
            "y",
            "enabled",
            " true ",
        ] {
            assert!(anchore_reads_on(Some(v)), "{v:?} is on");
        }
        for v in [
            "false", "False", "FALSE", "no", "NO", "off", "Off", "0", "00", "0.0", "-0", "0x0",
            "0b0", "", " ", "~", "null", "NULL",
        ] {
            assert!(!anchore_reads_on(Some(v)), "{v:?} is off");
        }
        assert!(!anchore_reads_on(None));
    }

    #[test]
    fn every_anchore_service_of_the_file_is_judged() {
        let doc = crate::loader::yaml_value(
            "services:\n  api: {image: 'docker.io/anchore/enterprise:v6.0.0', environment: {ANCHORE_ENABLE_METRICS: 'True'}}\n  component-catalog: {image: 'anchore/enterprise:v6.0.0', environment: {ANCHORE_ENABLE_METRICS: 'false'}}\n  db-preflight: {image: 'anchore/enterprise:v6.0.0', restart: 'no'}\n  ui: {image: 'anchore/enterprise-ui:v6.0.0', environment: {ANCHORE_ENABLE_METRICS: 'false'}}\n",
        )
        .unwrap();
        let c = ComposeCheck {
            file: None,
            services: vec![],
            every_anchore_service: true,
            image: None,
            ports: vec![],
            env: BTreeMap::new(),
            enabled: vec!["ANCHORE_ENABLE_METRICS".into()],
            volumes: vec![],
            top_level_volumes: vec![],
        };
        match judge(&c, &doc) {
            Observation::Fail { actual, .. } => {
                assert_eq!(
                    actual,
                    "component-catalog: ANCHORE_ENABLE_METRICS=false (off)"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

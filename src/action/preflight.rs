//! What a stack needs before compose starts it, read from its compose file with the
//! image map applied: the images of the services that will run, and the host ports
//! they publish. A port already taken is caught here, before compose runs, naming
//! the port and who holds it when that can be found (a container of another project,
//! through the engine, or a process, through /proc), instead of compose's
//! half-started stack and a bind error.

use crate::engine::host_ports::{self as ports, Bind};
use crate::error::{Error, Result};
use crate::images::ImageMap;
use bollard::Docker;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// A host port a service publishes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Published {
    pub port: u16,
    pub service: String,
}

/// The services `up` starts: `wanted` and what they depend on, or every service
/// without a `profiles:` when none is named.
pub fn services_started(compose: &Value, wanted: &[String]) -> Vec<String> {
    let all = compose["services"].as_object();
    let Some(all) = all else { return vec![] };
    if wanted.is_empty() {
        return all
            .iter()
            .filter(|(_, s)| s.get("profiles").is_none())
            .map(|(n, _)| n.clone())
            .collect();
    }
    let mut out: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = wanted.to_vec();
    while let Some(s) = todo.pop() {
        if !out.insert(s.clone()) {
            continue;
        }
        match &compose["services"][&s]["depends_on"] {
            Value::Array(a) => todo.extend(a.iter().filter_map(|v| v.as_str().map(String::from))),
            Value::Object(m) => todo.extend(m.keys().cloned()),
            _ => {}
        }
    }
    out.into_iter().filter(|s| all.contains_key(s)).collect()
}

/// Services that run to completion: another service waits for them with
/// `condition: service_completed_successfully` (as 6.x's quickstart waits for its
/// `db-preflight`), so exiting with code 0 is their success, not a failure.
pub fn one_shot(compose: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(all) = compose["services"].as_object() {
        for s in all.values() {
            if let Value::Object(deps) = &s["depends_on"] {
                for (name, d) in deps {
                    if d["condition"] == "service_completed_successfully" {
                        out.insert(name.clone());
                    }
                }
            }
        }
    }
    out
}

/// The images `services` run, mapped; names compose interpolates (`${…}`) are left
/// to compose.
pub fn images(compose: &Value, services: &[String], map: &ImageMap) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in services {
        if let Some(i) = compose["services"][s]["image"].as_str() {
            let i = map.apply(i);
            if !i.contains('$') && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

/// The TCP host ports `services` publish, in compose's short (`"8228:8228"`,
/// `"127.0.0.1:9090:9090"`, `"3000-3001:3000-3001"`) and long (`published:`) forms.
/// A port left to the engine (`"3000"`, `"0:3000"`) or interpolated is not listed.
pub fn published(compose: &Value, services: &[String]) -> Vec<Published> {
    let mut out = BTreeSet::new();
    for s in services {
        for p in compose["services"][s]["ports"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for port in host_ports(p) {
                out.insert(Published {
                    port,
                    service: s.clone(),
                });
            }
        }
    }
    out.into_iter().collect()
}

fn host_ports(p: &Value) -> Vec<u16> {
    match p {
        Value::String(s) => short_syntax(s),
        Value::Object(m) => {
            if m.get("protocol").and_then(Value::as_str) == Some("udp") {
                return vec![];
            }
            match m.get("published") {
                Some(Value::Number(n)) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .into_iter()
                    .filter(|p| *p != 0)
                    .collect(),
                Some(Value::String(s)) => range(s),
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

fn short_syntax(s: &str) -> Vec<u16> {
    let (spec, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    if proto != "tcp" || spec.contains('$') {
        return vec![];
    }
    // An IPv6 host address is bracketed: `[::1]:8228:8228`.
    let spec = match spec.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").map(|(_, r)| r).unwrap_or(""),
        None => spec,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.len() {
        2 => range(parts[0]),
        3 => range(parts[1]),
        _ => vec![],
    }
}

fn range(s: &str) -> Vec<u16> {
    let s = s.trim();
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    match (a.parse::<u16>(), b.parse::<u16>()) {
        (Ok(a), Ok(b)) if a != 0 && a <= b && b - a < 1024 => (a..=b).collect(),
        _ => vec![],
    }
}

/// Fails on the first port in `wanted` that something other than the project's
/// own containers holds.
pub async fn check_ports(docker: &Docker, project: &str, wanted: &[Published]) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let publishers = ports::publishers(docker, Duration::from_secs(10))
        .await
        .unwrap_or_default();
    for w in wanted {
        let by_container = publishers
            .iter()
            .find(|(p, _)| *p == w.port)
            .map(|(_, who)| who);
        if let Some(who) = by_container {
            if who.project.as_deref() == Some(project) {
                continue; // ours: compose keeps or recreates it
            }
            return Err(Error::PortTaken {
                port: w.port,
                service: w.service.clone(),
                holder: Some(match &who.project {
                    Some(p) => format!("container `{}` of compose project `{p}`", who.name),
                    None => format!("container `{}`", who.name),
                }),
            });
        }
        let port = w.port;
        let found = tokio::task::spawn_blocking(move || match ports::try_bind(port) {
            Bind::InUse => {
                let (holders, _) = ports::holders(&ports::listening_inodes(port));
                Some(
                    holders
                        .iter()
                        .map(|h| format!("process `{}` (pid {})", h.comm, h.pid))
                        .collect::<Vec<_>>(),
                )
            }
            _ => None,
        })
        .await
        .map_err(|e| Error::Internal(format!("the port test failed: {e}")))?;
        if let Some(holders) = found {
            return Err(Error::PortTaken {
                port: w.port,
                service: w.service.clone(),
                holder: (!holders.is_empty()).then(|| holders.join(", ")),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(y: &str) -> Value {
        crate::loader::yaml_value(y).unwrap()
    }

    #[test]
    fn published_ports_in_every_syntax() {
        let c = doc(r#"
services:
  api:
    ports: ["8228:8228", "127.0.0.1:9090:9090/tcp", "5353:53/udp", "3000", "[::1]:3001:3000", "7000-7002:7000-7002", "${P}:1"]
  ui:
    ports:
      - target: 3000
        published: 3005
      - target: 1
        published: "4000"
      - target: 2
  other:
    ports: ["1234:1234"]
"#);
        let got: Vec<(u16, &str)> = published(&c, &["api".into(), "ui".into()])
            .iter()
            .map(|p| (p.port, if p.service == "api" { "api" } else { "ui" }))
            .collect();
        assert_eq!(
            got,
            vec![
                (3001, "api"),
                (3005, "ui"),
                (4000, "ui"),
                (7000, "api"),
                (7001, "api"),
                (7002, "api"),
                (8228, "api"),
                (9090, "api"),
            ]
        );
    }

    #[test]
    fn started_services_follow_depends_on_and_skip_profiles() {
        let c = doc("services:\n  api:\n    depends_on: [db]\n  db: {}\n  ui:\n    depends_on:\n      api: {condition: service_healthy}\n  tools:\n    profiles: [debug]\n");
        assert_eq!(services_started(&c, &[]), ["api", "db", "ui"]);
        assert_eq!(services_started(&c, &["ui".into()]), ["api", "db", "ui"]);
        assert_eq!(services_started(&c, &["db".into()]), ["db"]);
    }

    #[test]
    fn a_service_others_wait_to_complete_is_one_shot() {
        let d = doc("services:\n  pre: {image: x}\n  db: {image: x}\n  api:\n    depends_on:\n      db: {condition: service_healthy}\n      pre: {condition: service_completed_successfully}\n  ui: {depends_on: [api]}\n");
        assert_eq!(one_shot(&d), BTreeSet::from(["pre".to_string()]));
    }

    #[test]
    fn images_are_mapped_and_listed_once() {
        let c = doc("services:\n  a:\n    image: postgres:13\n  b:\n    image: docker.io/library/postgres:13\n  c:\n    image: ${X}\n  d:\n    build: .\n");
        let m = ImageMap::resolve(None, Some("postgres:13=lab-bench/anchore-db"), &[]).unwrap();
        let all = services_started(&c, &[]);
        assert_eq!(images(&c, &all, &m), ["lab-bench/anchore-db"]);
    }

    #[tokio::test]
    async fn a_port_held_by_this_process_is_named_before_compose_runs() {
        let Ok(docker) = crate::engine::docker::connect().await else {
            return; // the engine is only asked about containers; nothing to test without it
        };
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let e = check_ports(
            &docker,
            "labtest-env-none",
            &[Published {
                port,
                service: "prometheus".into(),
            }],
        )
        .await
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "host port {port} (service `prometheus`) is already taken by process `"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("(pid {})", std::process::id())),
            "{text}"
        );
        assert!(
            e.hint().unwrap().starts_with("stop process"),
            "{:?}",
            e.hint()
        );
        drop(l);
    }
}

//! Moved ports: an environment whose stack publishes free loopback ports instead of
//! the course's (8228, 9090, 3001, ...), so that several stacks run side by side on
//! one engine (`lab smoke` runs its scenarios in parallel that way). The trainee's
//! compose file is never edited for it: the compose override `lab` writes (see
//! `images`) replaces each service's `ports:`, and the checks follow: the Anchore,
//! Prometheus and Grafana URLs on a moved port are rewritten, and a container check
//! reads a moved port as the course port it stands for.
//!
//! The ports are kept in `.lab/ports.json` (`{"8228": 41234}`); the file's presence
//! turns moving on, and a port is picked (from the kernel, never one handed out
//! before in this process) the first time the stack publishes it.

use crate::error::{Error, Result};
use crate::files::write_atomic;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file, inside the environment's `.lab/`.
pub const FILE: &str = "ports.json";

pub use crate::model::Moved;

pub fn path(dir: &Path) -> PathBuf {
    dir.join(crate::model::state::STATE_DIR).join(FILE)
}

/// The environment's moved ports; `None` when its stack publishes the course's.
pub fn load(dir: &Path) -> Result<Option<Moved>> {
    let p = path(dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::Usage(format!(
                "{}:{}:{}: not a map of course ports to loopback ports ({e}); remove it and run the lab again",
                p.display(),
                e.line(),
                e.column()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: p.display().to_string(),
            source,
        }),
    }
}

fn save(dir: &Path, moved: &Moved) -> Result<()> {
    let p = path(dir);
    let mut text = serde_json::to_string_pretty(moved).expect("a map of numbers");
    text.push('\n');
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(crate::error::write_err(parent))?;
    }
    write_atomic(&p, text.as_bytes()).map_err(crate::error::write_err(&p))
}

/// Turns moving on for the environment in `dir`, forgetting ports picked before
/// (a copied environment gets ports of its own).
pub fn enable(dir: &Path) -> Result<()> {
    save(dir, &Moved::new())
}

/// Ports handed out by this process: the kernel may give a port back to the next
/// `bind(0)` once it is released, and two stacks of one run must not share one.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn free_port() -> Result<u16> {
    let mut given = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..64 {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::Usage(format!("cannot find a free loopback port: {e}")))?;
        let p = l
            .local_addr()
            .map_err(|e| Error::Usage(format!("cannot find a free loopback port: {e}")))?
            .port();
        if given.insert(p) {
            return Ok(p);
        }
    }
    Err(Error::Usage(
        "cannot find a free loopback port: the kernel kept giving ports already in use".into(),
    ))
}

/// The environment's moved ports with one for each of `wanted` (course ports the
/// stack publishes), picking and recording the missing ones; `None` when its ports
/// are not moved.
pub fn ensure(dir: &Path, wanted: impl IntoIterator<Item = u16>) -> Result<Option<Moved>> {
    let Some(mut moved) = load(dir)? else {
        return Ok(None);
    };
    let mut added = false;
    for p in wanted {
        if let std::collections::btree_map::Entry::Vacant(e) = moved.entry(p) {
            e.insert(free_port()?);
            added = true;
        }
    }
    if added {
        save(dir, &moved)?;
    }
    Ok(Some(moved))
}

/// `url` with a moved port: `http://localhost:8228/x` -> `http://127.0.0.1:41234/x`
/// when 8228 is moved; any other URL as it is.
pub fn rewrite_url(url: &str, moved: &Moved) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    let local = matches!(
        u.host_str(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]") | Some("0.0.0.0")
    );
    let Some(to) = u.port_or_known_default().and_then(|p| moved.get(&p)) else {
        return url.to_string();
    };
    if !local || u.set_host(Some("127.0.0.1")).is_err() || u.set_port(Some(*to)).is_err() {
        return url.to_string();
    }
    let s = u.to_string();
    // `Url` adds a `/` to an empty path; keep the URL as it was written.
    if !url.ends_with('/') && u.path() == "/" && u.query().is_none() {
        s.trim_end_matches('/').to_string()
    } else {
        s
    }
}

/// One published TCP port of a compose `ports:` entry: host port, container port.
fn entry_ports(p: &Value) -> Option<Vec<(u16, String)>> {
    match p {
        Value::String(s) => {
            let (spec, proto) = s.split_once('/').unwrap_or((s, "tcp"));
            if proto != "tcp" || spec.contains('$') || spec.contains('[') {
                return None;
            }
            let parts: Vec<&str> = spec.split(':').collect();
            let (host, target) = match parts.len() {
                2 => (parts[0], parts[1]),
                3 => (parts[1], parts[2]),
                _ => return None,
            };
            let hosts = range(host)?;
            let targets = range(target)?;
            if hosts.len() != targets.len() {
                return None;
            }
            Some(
                hosts
                    .into_iter()
                    .zip(targets)
                    .map(|(h, t)| (h, t.to_string()))
                    .collect(),
            )
        }
        Value::Object(m) => {
            if m.get("protocol").and_then(Value::as_str).unwrap_or("tcp") != "tcp" {
                return None;
            }
            let host = match m.get("published")? {
                Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
                Value::String(s) => s.trim().parse().ok()?,
                _ => return None,
            };
            let target = match m.get("target")? {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return None,
            };
            Some(vec![(host, target)])
        }
        _ => None,
    }
}

fn range(s: &str) -> Option<Vec<u16>> {
    let s = s.trim();
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    if a == 0 || b < a || b - a > 100 {
        return None;
    }
    Some((a..=b).collect())
}

/// The course host ports the services of `compose` publish (what `ensure` needs).
pub fn published(compose: &Value) -> Vec<u16> {
    let mut out = BTreeSet::new();
    for s in compose["services"].as_object().into_iter().flatten() {
        for p in s.1["ports"].as_array().into_iter().flatten() {
            for (h, _) in entry_ports(p).into_iter().flatten() {
                out.insert(h);
            }
        }
    }
    out.into_iter().collect()
}

/// Service -> its `ports:` with each moved port published on loopback instead;
/// only the services that publish a moved port. The override replaces the whole
/// list (compose appends an override's ports to the file's otherwise).
pub fn override_ports(compose: &Value, moved: &Moved) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for (name, s) in compose["services"].as_object().into_iter().flatten() {
        let Some(list) = s["ports"].as_array() else {
            continue;
        };
        let mut touched = false;
        let mut ports = Vec::new();
        for p in list {
            match entry_ports(p) {
                Some(pairs) if pairs.iter().any(|(h, _)| moved.contains_key(h)) => {
                    touched = true;
                    for (h, t) in pairs {
                        let published = moved.get(&h).copied().unwrap_or(h);
                        ports.push(json!(format!("127.0.0.1:{published}:{t}")));
                    }
                }
                _ => ports.push(p.clone()),
            }
        }
        if touched {
            out.insert(name.clone(), ports);
        }
    }
    out
}

/// A published port as the course names it: the course port a moved one stands for.
pub fn course_port(moved: &Moved, published: u16) -> u16 {
    moved
        .iter()
        .find(|(_, to)| **to == published)
        .map(|(from, _)| *from)
        .unwrap_or(published)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::TempDir;

    #[test]
    fn urls_on_a_moved_local_port_follow_it() {
        let moved: Moved = [(8228, 41234), (80, 40080)].into();
        assert_eq!(
            rewrite_url("http://localhost:8228", &moved),
            "http://127.0.0.1:41234"
        );
        assert_eq!(
            rewrite_url("http://127.0.0.1:8228/v2/images?x=1", &moved),
            "http://127.0.0.1:41234/v2/images?x=1"
        );
        assert_eq!(
            rewrite_url("http://localhost/", &moved),
            "http://127.0.0.1:40080/"
        );
        for same in [
            "http://localhost:9090",
            "http://prometheus:8228",
            "http://192.0.2.1:8228",
            "not a url",
        ] {
            assert_eq!(rewrite_url(same, &moved), same);
        }
    }

    #[test]
    fn the_override_replaces_each_moved_port_and_keeps_the_rest() {
        let compose = crate::loader::yaml_value(
            "services:\n  api:\n    ports: [\"8228:8228\", \"127.0.0.1:5000:5000/udp\", \"9000\"]\n  ui:\n    ports:\n      - target: 3000\n        published: 3001\n  db:\n    expose: [5432]\n  r:\n    ports: [\"8558:8228\"]\n",
        )
        .unwrap();
        assert_eq!(published(&compose), [3001, 8228, 8558]);
        let moved: Moved = [(8228, 41000), (3001, 41001)].into();
        let o = override_ports(&compose, &moved);
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            json!({
                "api": ["127.0.0.1:41000:8228", "127.0.0.1:5000:5000/udp", "9000"],
                "ui": ["127.0.0.1:41001:3000"],
            })
        );
        assert_eq!(course_port(&moved, 41001), 3001);
        assert_eq!(course_port(&moved, 5000), 5000);
    }

    #[test]
    fn ports_are_picked_once_and_only_when_moving_is_on() {
        let dir = TempDir::new();
        assert_eq!(ensure(dir.path(), [8228]).unwrap(), None);
        enable(dir.path()).unwrap();
        let a = ensure(dir.path(), [8228]).unwrap().unwrap();
        let b = ensure(dir.path(), [8228, 9090]).unwrap().unwrap();
        assert_eq!(a[&8228], b[&8228]);
        assert_ne!(b[&8228], b[&9090]);
        assert_eq!(load(dir.path()).unwrap(), Some(b));
        std::fs::write(path(dir.path()), "[1]").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("ports.json:1:") && e.contains("not a map"),
            "{e}"
        );
    }
}

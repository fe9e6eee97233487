//! Image mapping: every image a lab uses can be replaced by another name (a private
//! mirror, or the bench's stand-ins), from `.lab/images.yaml` (a map `from: to`),
//! `LAB_IMAGE_MAP` (`from=to,from=to`) and `--image FROM=TO`, the flag winning over
//! the variable and the variable over the file. The trainee's compose file is never
//! edited for it: a compose override file under `.lab/` sets `image:` on each service
//! whose image is mapped, and is passed to compose as one more `-f`.

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::model::image::normalise;
use crate::ports::Moved;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The map file, inside the environment's `.lab/`.
pub const MAP_FILE: &str = "images.yaml";
/// The variable that maps images: `from=to,from=to`.
pub const MAP_ENV: &str = "LAB_IMAGE_MAP";
/// The compose override written from the map, inside `.lab/`.
pub const OVERRIDE_FILE: &str = "images.override.yaml";

/// Image names and what they are replaced by. Names are compared as Docker reads
/// them: `postgres:13`, `library/postgres:13` and `docker.io/library/postgres:13`
/// are one image, and a name without a tag means `:latest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMap {
    /// Normalised `from` -> `to` as written.
    map: BTreeMap<String, String>,
}

impl ImageMap {
    /// The map of an environment: its file, then `LAB_IMAGE_MAP`, then the flags.
    pub fn resolve(dir: Option<&Path>, var: Option<&str>, flags: &[String]) -> Result<ImageMap> {
        let mut m = ImageMap::default();
        if let Some(dir) = dir {
            let path = map_path(dir);
            match std::fs::read_to_string(&path) {
                Ok(text) => m.extend(parse_file(&path, &text)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Read {
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        if let Some(v) = var {
            m.extend(parse_list(v)?);
        }
        for f in flags {
            m.extend([parse_pair(f, "--image")?]);
        }
        Ok(m)
    }

    /// `resolve` with the environment variable read from the process.
    pub fn for_env(dir: Option<&Path>, flags: &[String]) -> Result<ImageMap> {
        let var = std::env::var(MAP_ENV).ok().filter(|v| !v.trim().is_empty());
        ImageMap::resolve(dir, var.as_deref(), flags)
    }

    fn extend(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        for (from, to) in pairs {
            self.map.insert(normalise(&from), to);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// What `image` is replaced by, when it is mapped.
    pub fn get(&self, image: &str) -> Option<&str> {
        self.map.get(&normalise(image)).map(String::as_str)
    }

    /// The name to use for `image`: its mapping, else itself.
    pub fn apply(&self, image: &str) -> String {
        self.get(image).unwrap_or(image).to_string()
    }

    /// The mappings, normalised `from` first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }
}

pub fn map_path(dir: &Path) -> PathBuf {
    dir.join(crate::model::state::STATE_DIR).join(MAP_FILE)
}

pub fn override_path(dir: &Path) -> PathBuf {
    dir.join(crate::model::state::STATE_DIR).join(OVERRIDE_FILE)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with([':', '/', '@'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
}

/// Checks `FROM=TO` pairs given by `source` (a flag), as the map would read them.
pub fn check_pairs(pairs: &[String], source: &str) -> Result<()> {
    for p in pairs {
        parse_pair(p, source)?;
    }
    Ok(())
}

/// `from=to`, from a flag or the variable (named by `source` in errors).
fn parse_pair(s: &str, source: &str) -> Result<(String, String)> {
    let hint =
        "write it as FROM=TO, e.g. docker.io/prom/prometheus:latest=mirror.local/prometheus:latest";
    let Some((from, to)) = s.split_once('=') else {
        return Err(Error::Usage(format!(
            "{source} `{s}`: no `=` between the image and its replacement; {hint}"
        )));
    };
    let (from, to) = (from.trim(), to.trim());
    for (what, v) in [("image", from), ("replacement", to)] {
        if !valid_name(v) {
            return Err(Error::Usage(format!(
                "{source} `{s}`: the {what} `{v}` is not an image name; {hint}"
            )));
        }
    }
    Ok((from.to_string(), to.to_string()))
}

/// `from=to,from=to` (spaces and empty items are ignored).
fn parse_list(v: &str) -> Result<Vec<(String, String)>> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| parse_pair(p, MAP_ENV))
        .collect()
}

/// `.lab/images.yaml`: a mapping of image names to image names.
fn parse_file(path: &Path, text: &str) -> Result<Vec<(String, String)>> {
    let shown = path.display();
    let doc = crate::loader::yaml_value(text)
        .map_err(|e| Error::Usage(format!("{shown}: not valid YAML: {e}")))?;
    let line_of = |key: &str| {
        text.lines()
            .position(|l| {
                let l = l.trim_start().trim_start_matches(['"', '\'']);
                l.starts_with(key)
            })
            .map(|i| format!(":{}", i + 1))
            .unwrap_or_default()
    };
    let map = match doc {
        Value::Null => return Ok(vec![]),
        Value::Object(m) => m,
        _ => {
            return Err(Error::Usage(format!(
                "{shown}: must be a mapping of image names, e.g. `docker.io/library/postgres:13: mirror.local/postgres:13`"
            )))
        }
    };
    let mut out = Vec::new();
    for (from, to) in map {
        let Some(to) = to.as_str() else {
            return Err(Error::Usage(format!(
                "{shown}{}: `{from}`: the replacement must be an image name (text), not {to}",
                line_of(&from)
            )));
        };
        if !valid_name(&from) || !valid_name(to.trim()) {
            return Err(Error::Usage(format!(
                "{shown}{}: `{from}: {to}` is not a pair of image names",
                line_of(&from)
            )));
        }
        out.push((from, to.trim().to_string()));
    }
    Ok(out)
}

/// Each service of the compose document and its image, as written.
pub fn service_images(compose: &Value) -> Vec<(String, String)> {
    compose["services"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(s, v)| Some((s.clone(), v["image"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The override document for `compose`: `image:` for each mapped service and
/// `ports:` for each service that publishes a moved port (see `ports`), with the
/// file's `version:` copied (compose v1 refuses to merge files of different
/// versions). `None` when there is nothing to override.
pub fn override_doc(compose: &Value, map: &ImageMap, moved: Option<&Moved>) -> Option<Value> {
    let mut services = Map::new();
    for (service, image) in service_images(compose) {
        if let Some(to) = map.get(&image) {
            services.insert(service, json!({ "image": to }));
        }
    }
    if let Some(moved) = moved {
        for (service, ports) in crate::ports::override_ports(compose, moved) {
            let entry = services.entry(service).or_insert_with(|| json!({}));
            entry["ports"] = Value::Array(ports);
        }
    }
    if services.is_empty() {
        return None;
    }
    let mut doc = Map::new();
    if let Some(v) = compose.get("version") {
        doc.insert("version".into(), v.clone());
    }
    doc.insert("services".into(), Value::Object(services));
    Some(Value::Object(doc))
}

/// Writes (or removes, when nothing is mapped or moved) the environment's override
/// file for the compose file at `compose_file`, picking a loopback port for each
/// course port newly published when the environment's ports are moved; returns its
/// path when there is one.
pub fn write_override(dir: &Path, compose_file: &Path, map: &ImageMap) -> Result<Option<PathBuf>> {
    let path = override_path(dir);
    let moving = crate::ports::load(dir)?.is_some();
    let doc = if map.is_empty() && !moving {
        None
    } else {
        let text = std::fs::read_to_string(compose_file).map_err(|source| Error::Read {
            path: compose_file.display().to_string(),
            source,
        })?;
        let compose = crate::loader::yaml_value(&text).map_err(|e| {
            Error::Usage(format!("{} is not valid YAML: {e}", compose_file.display()))
        })?;
        let moved = crate::ports::ensure(dir, crate::ports::published(&compose))?;
        override_doc(&compose, map, moved.as_ref())
    };
    let err = |source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    match doc {
        None => {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(e)),
            }
            Ok(None)
        }
        Some(doc) => {
            // JSON is YAML: compose reads it, and no YAML writer is needed. A list of
            // ports is tagged `!override` (compose 2.24.4 and later): without it,
            // compose would publish the file's ports and these.
            let mut text = String::from(
                "# Written by `lab` from the image map (.lab/images.yaml, LAB_IMAGE_MAP, --image)\n# and the moved ports (.lab/ports.json); passed to compose as an extra -f.\n# Edits here are overwritten.\n",
            );
            let json = serde_json::to_string_pretty(&doc).expect("a JSON value");
            for line in json.lines() {
                match line.strip_suffix("\"ports\": [") {
                    Some(indent) if indent.trim().is_empty() => {
                        text.push_str(indent);
                        text.push_str("\"ports\": !override [");
                    }
                    _ => text.push_str(line),
                }
                text.push('\n');
            }
            std::fs::create_dir_all(path.parent().expect("in .lab")).map_err(err)?;
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                write_atomic(&path, text.as_bytes()).map_err(err)?;
            }
            Ok(Some(path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::TempDir;

    #[test]
    fn names_are_compared_as_docker_reads_them() {
        for (a, b) in [
            ("postgres", "docker.io/library/postgres:latest"),
            ("postgres:13", "docker.io/library/postgres:13"),
            ("library/postgres:13", "docker.io/library/postgres:13"),
            ("docker.io/postgres:13", "docker.io/library/postgres:13"),
            (
                "index.docker.io/prom/prometheus",
                "docker.io/prom/prometheus:latest",
            ),
            ("localhost:5000/x/y:1", "localhost:5000/x/y:1"),
            ("localhost:5000/y", "localhost:5000/y:latest"),
            ("ghcr.io/a/b@sha256:ab", "ghcr.io/a/b@sha256:ab"),
            (
                "anchore/enterprise:v5.17.0",
                "docker.io/anchore/enterprise:v5.17.0",
            ),
        ] {
            assert_eq!(normalise(a), b, "{a}");
        }
    }

    #[test]
    fn flags_win_over_the_variable_and_the_variable_over_the_file() {
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path().join(".lab")).unwrap();
        std::fs::write(
            map_path(dir.path()),
            "# mirrors\npostgres:13: file/pg:13\n\"docker.io/library/redis:7\": file/redis:7\nprom/prometheus: file/prom\n",
        )
        .unwrap();
        let m = ImageMap::resolve(
            Some(dir.path()),
            Some("docker.io/library/redis:7=var/redis:7, prom/prometheus:latest=var/prom"),
            &["prom/prometheus=flag/prom".into()],
        )
        .unwrap();
        assert_eq!(m.get("docker.io/library/postgres:13"), Some("file/pg:13"));
        assert_eq!(m.get("redis:7"), Some("var/redis:7"));
        assert_eq!(m.get("docker.io/prom/prometheus:latest"), Some("flag/prom"));
        assert_eq!(m.apply("grafana/grafana"), "grafana/grafana");
    }

    #[test]
    fn bad_mappings_name_where_and_what() {
        let e = ImageMap::resolve(None, Some("postgres:13"), &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("LAB_IMAGE_MAP `postgres:13`: no `=`"),
            "{e}"
        );
        let e = ImageMap::resolve(None, None, &["a=b c".into()]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--image `a=b c`: the replacement `b c` is not an image name"),
            "{e}"
        );
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path().join(".lab")).unwrap();
        std::fs::write(map_path(dir.path()), "a: b\npostgres:13:\n  - x\n").unwrap();
        let e = ImageMap::resolve(Some(dir.path()), None, &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("images.yaml:2: `postgres:13`: the replacement must be an image name"),
            "{e}"
        );
        std::fs::write(map_path(dir.path()), "a: [b\n").unwrap();
        let e = ImageMap::resolve(Some(dir.path()), None, &[]).unwrap_err();
        assert!(e.to_string().contains("images.yaml: not valid YAML"), "{e}");
    }

    #[test]
    fn the_override_sets_only_mapped_services_and_keeps_the_version() {
        let compose = crate::loader::yaml_value(
            "version: '2.1'\nservices:\n  api:\n    image: docker.io/anchore/enterprise:v5.3.0\n  db:\n    image: \"postgres:13\"\n  ui:\n    image: docker.io/anchore/enterprise-ui:v5.3.0\n  built:\n    build: .\n",
        )
        .unwrap();
        let m = ImageMap::resolve(
            None,
            Some("anchore/enterprise:v5.3.0=lab-bench/anchore,docker.io/library/postgres:13=lab-bench/anchore-db"),
            &[],
        )
        .unwrap();
        assert_eq!(
            override_doc(&compose, &m, None).unwrap(),
            json!({"version": "2.1", "services": {
                "api": {"image": "lab-bench/anchore"},
                "db": {"image": "lab-bench/anchore-db"}}})
        );
        assert_eq!(override_doc(&compose, &ImageMap::default(), None), None);
    }

    #[test]
    fn the_override_file_is_written_when_needed_and_removed_when_not() {
        let dir = TempDir::new();
        let compose = dir.path().join("docker-compose.yaml");
        std::fs::write(&compose, "services:\n  db:\n    image: postgres:13\n").unwrap();
        let m = ImageMap::resolve(None, Some("postgres:13=mirror/pg:13"), &[]).unwrap();
        let p = write_override(dir.path(), &compose, &m).unwrap().unwrap();
        let back = crate::loader::yaml_value(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(back["services"]["db"]["image"], "mirror/pg:13");
        assert_eq!(
            write_override(dir.path(), &compose, &ImageMap::default()).unwrap(),
            None
        );
        assert!(!p.exists());
    }

    #[test]
    fn moved_ports_replace_the_files_ports_in_the_override() {
        let dir = TempDir::new();
        let compose = dir.path().join("docker-compose.yaml");
        std::fs::write(
            &compose,
            "services:\n  api:\n    image: a\n    ports: [\"8228:8228\"]\n  db:\n    image: b\n",
        )
        .unwrap();
        assert_eq!(
            write_override(dir.path(), &compose, &ImageMap::default()).unwrap(),
            None
        );
        crate::ports::enable(dir.path()).unwrap();
        let p = write_override(dir.path(), &compose, &ImageMap::default())
            .unwrap()
            .unwrap();
        let moved = crate::ports::load(dir.path()).unwrap().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains(&format!(
                "\"ports\": !override [\n        \"127.0.0.1:{}:8228\"",
                moved[&8228]
            )),
            "{text}"
        );
        assert!(!text.contains("\"db\""), "{text}");
    }
}

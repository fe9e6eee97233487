//! Data source provisioning: reads `<provisioning>/datasources/*.yaml` at start and applies it to the state as Grafana does.
//!
//! Provisioned data sources are read-only unless `editable: true` (Grafana's v1 file has no
//! `readOnly` key, so the course file's `readOnly: false` is ignored, as by Grafana). An
//! existing data source with the same name is updated in place; others are inserted.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::datasources::{self, Command};
use super::store::State;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    datasources: Vec<Entry>,
    #[serde(default)]
    delete_datasources: Vec<DeleteEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    ds_type: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    org_id: i64,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    database: String,
    #[serde(default)]
    basic_auth: bool,
    #[serde(default)]
    basic_auth_user: String,
    #[serde(default)]
    with_credentials: bool,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    json_data: Option<serde_yaml::Value>,
    #[serde(default)]
    secure_json_data: BTreeMap<String, String>,
    #[serde(default)]
    editable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteEntry {
    name: String,
}

/// One data source as a provisioning file declares it, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Provisioned {
    pub command: Command,
    pub editable: bool,
}

/// The result of reading a provisioning directory.
#[derive(Debug, Default)]
pub struct Config {
    pub datasources: Vec<Provisioned>,
    pub delete: Vec<String>,
}

/// Grafana expands `$VAR` and `${VAR}` from the environment in provisioning values; `$$` is a `$`.
pub fn expand_env(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some('{') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                out.push_str(&lookup(&name).unwrap_or_default());
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(&lookup(&name).unwrap_or_default());
            }
            _ => out.push('$'),
        }
    }
    out
}

fn expand_json(v: Value, lookup: &dyn Fn(&str) -> Option<String>) -> Value {
    match v {
        Value::String(s) => Value::String(expand_env(&s, lookup)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| expand_json(x, lookup)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (k, expand_json(x, lookup)))
                .collect(),
        ),
        other => other,
    }
}

/// Parses one provisioning file's text.
pub fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let file: File = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Config {
        delete: file
            .delete_datasources
            .into_iter()
            .map(|d| d.name)
            .collect(),
        ..Config::default()
    };
    for e in file.datasources {
        let e_ = |s: &str| expand_env(s, lookup);
        if e.name.is_empty() || e.ds_type.is_empty() {
            return Err("a data source needs a name and a type".into());
        }
        if e.org_id > 1 {
            return Err(format!(
                "data source {:?}: organisation {} does not exist (the stand-in has only org 1)",
                e.name, e.org_id
            ));
        }
        let json_data = match e.json_data {
            Some(y) => Some(expand_json(
                serde_json::to_value(y)
                    .map_err(|err| format!("jsonData of {:?}: {err}", e.name))?,
                lookup,
            )),
            None => None,
        };
        let command = Command {
            name: e_(&e.name),
            ds_type: e_(&e.ds_type),
            access: if e.access.is_empty() {
                "proxy".into()
            } else {
                e_(&e.access)
            },
            url: e_(&e.url),
            user: e_(&e.user),
            database: e_(&e.database),
            basic_auth: e.basic_auth,
            basic_auth_user: e_(&e.basic_auth_user),
            with_credentials: e.with_credentials,
            is_default: e.is_default,
            json_data,
            secure_json_data: Some(
                e.secure_json_data
                    .iter()
                    .map(|(k, v)| (k.clone(), e_(v)))
                    .collect(),
            ),
            uid: e_(&e.uid),
            version: 0,
        };
        out.datasources.push(Provisioned {
            command,
            editable: e.editable,
        });
    }
    Ok(out)
}

/// Reads every `*.yaml`/`*.yml` in `dir` in name order. A missing directory is no
/// provisioning (Grafana logs it and carries on); a bad file is an error that stops start-up.
pub fn read_dir(dir: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(_) => return Ok(Config::default()),
    };
    files.sort();
    let mut all = Config::default();
    for f in files {
        let text =
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let c = parse(&text, lookup).map_err(|e| format!("{}: {e}", f.display()))?;
        all.datasources.extend(c.datasources);
        all.delete.extend(c.delete);
    }
    if all
        .datasources
        .iter()
        .filter(|d| d.command.is_default)
        .count()
        > 1
    {
        return Err("datasource.yaml config is invalid. Only one datasource per organization can be marked as default".into());
    }
    Ok(all)
}

/// What provisioning did to one data source, for the start-up log.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub inserted: bool,
    pub name: String,
    pub uid: String,
}

/// Applies the configuration: deletions first, then updates by name or inserts.
pub fn apply(state: &mut State, config: Config) -> Result<Vec<Applied>, String> {
    let mut done = Vec::new();
    state
        .datasources
        .retain(|d| !config.delete.iter().any(|n| n == &d.name));
    for p in config.datasources {
        let read_only = !p.editable;
        let name = p.command.name.clone();
        let existing = state.datasources.iter().position(|d| d.name == name);
        let result = match existing {
            Some(idx) => datasources::replace(state, idx, p.command, read_only),
            None => datasources::add(state, p.command, read_only),
        };
        let ds = result.map_err(|e| {
            format!(
                "cannot provision data source {name:?}: {}",
                e.body["message"].as_str().unwrap_or("error")
            )
        })?;
        done.push(Applied {
            inserted: existing.is_none(),
            name: ds.name,
            uid: ds.uid,
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_course_file_provisions_a_read_only_default_prometheus() {
        let text = crate::reference::read("grafana/prometheus_datasource_config.yaml");
        let config = parse(&text, &no_env).unwrap();
        assert_eq!(config.datasources.len(), 1);
        let mut state = State::default();
        apply(&mut state, config).unwrap();
        let ds = &state.datasources[0];
        assert_eq!(ds.name, "prometheus");
        assert_eq!(ds.uid, "ddpsargv3rx8gb");
        assert_eq!(ds.url, "http://prometheus:9090");
        assert_eq!(ds.access, "proxy");
        assert!(ds.is_default);
        assert!(ds.read_only, "readOnly: false is not a v1 key; editable is");
        assert_eq!(ds.json_data, serde_json::json!({"httpMethod": "POST"}));
    }

    #[test]
    fn reapplying_updates_by_name_and_keeps_the_id() {
        let text = "apiVersion: 1\ndatasources:\n  - name: p\n    type: prometheus\n    url: http://a:9090\n    editable: true\n";
        let mut state = State::default();
        apply(&mut state, parse(text, &no_env).unwrap()).unwrap();
        let first = state.datasources[0].clone();
        assert!(!first.read_only);
        let changed = text.replace("http://a:9090", "http://b:9090");
        apply(&mut state, parse(&changed, &no_env).unwrap()).unwrap();
        assert_eq!(state.datasources.len(), 1);
        assert_eq!(state.datasources[0].id, first.id);
        assert_eq!(state.datasources[0].uid, first.uid);
        assert_eq!(state.datasources[0].url, "http://b:9090");
        let delete = "apiVersion: 1\ndeleteDatasources:\n  - name: p\n    orgId: 1\n";
        apply(&mut state, parse(delete, &no_env).unwrap()).unwrap();
        assert!(state.datasources.is_empty());
    }

    #[test]
    fn env_values_are_expanded() {
        let env = |k: &str| (k == "PROM_HOST").then(|| "prometheus".to_string());
        assert_eq!(
            expand_env("http://${PROM_HOST}:9090", &env),
            "http://prometheus:9090"
        );
        assert_eq!(expand_env("$PROM_HOST/$$x/$", &env), "prometheus/$x/$");
        let text = "apiVersion: 1\ndatasources:\n  - name: p\n    type: prometheus\n    url: http://$PROM_HOST:9090\n";
        let c = parse(text, &env).unwrap();
        assert_eq!(c.datasources[0].command.url, "http://prometheus:9090");
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(parse("datasources: [", &no_env).is_err());
        assert!(parse(
            "apiVersion: 1\ndatasources:\n  - type: prometheus\n",
            &no_env
        )
        .is_err());
        let dir =
            std::env::temp_dir().join(format!("prov-{}", crate::grafana::store::random_token(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let one =
            "apiVersion: 1\ndatasources:\n  - name: a\n    type: prometheus\n    isDefault: true\n";
        std::fs::write(dir.join("a.yaml"), one).unwrap();
        std::fs::write(dir.join("b.yml"), one.replace("name: a", "name: b")).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let err = read_dir(&dir, &no_env).unwrap_err();
        assert!(
            err.contains("Only one datasource per organization"),
            "{err}"
        );
        std::fs::remove_file(dir.join("b.yml")).unwrap();
        assert_eq!(read_dir(&dir, &no_env).unwrap().datasources.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_dir(&dir, &no_env).unwrap().datasources.is_empty());
    }
}

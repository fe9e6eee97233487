//! The anchorectl stand-in's command line and output formats (FACTS.md §7), kept free of I/O so
//! they can be tested; `src/bin/anchorectl.rs` does the HTTP.
//!
//! Text output follows the documented samples: `image add` prints ` ✔ Added Image` and an
//! `Image:` block (`status: not-analyzed (active)`, with a hyphen, then `tag:`, `digest:`, `id:`,
//! and after analysis `distro:` and `layers:`); `image get` prints `Tag:`, `Digest:`,
//! `ParentDigest:`, `ID:`, `Analysis:`, `Status:`; `system status` a box table with the columns
//! SERVICE | HOST ID | URL | UP | STATUS MESSAGE | DB VERSION | CODE VERSION. `-o json` is the
//! record with camelCase keys; `-o json-raw` the API's body as is.

use std::time::Duration;

use serde_json::{Map, Value};

use super::config::{parse_bool, Env};
use super::image::ImageRef;
use super::store::VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
    JsonRaw,
    Id,
}

impl Output {
    fn parse(s: &str) -> Result<Output, String> {
        match s {
            "text" => Ok(Output::Text),
            "json" => Ok(Output::Json),
            "json-raw" => Ok(Output::JsonRaw),
            "id" => Ok(Output::Id),
            other => Err(format!(
                "invalid output format {other:?} (allowable: [text json json-raw id])"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    ImageAdd {
        image: String,
        wait: bool,
        force: bool,
        annotations: Vec<(String, String)>,
        output: Output,
    },
    ImageGet {
        image: String,
        output: Output,
    },
    ImageList {
        output: Output,
    },
    SystemStatus {
        output: Output,
    },
    SystemWait {
        timeout: Duration,
        services: Vec<String>,
    },
    Event(super::ctl_events::EventCmd),
    Version,
    Help,
}

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The v2 API base, e.g. `http://localhost:8228/v2`.
    pub api: String,
    pub username: String,
    pub password: String,
}

pub const USAGE: &str = "\
anchorectl (stand-in for the course's tests)

Usage:
  anchorectl image add IMAGE [-w|--wait] [-f|--force] [--annotation KEY=VALUE]... [-o text|json|json-raw|id]
  anchorectl image get IMAGE [-o text|json|json-raw|id]
  anchorectl image list [-o text|json|json-raw]
  anchorectl system status [-o text|json|json-raw]
  anchorectl system wait [--timeout SECONDS] [--service-list a,b,...]
  anchorectl event list [--level INFO|ERROR] [--event-type PREFIX] [--service NAME] [--host ID]
                        [--resource-id ID] [--resource-type TYPE] [--since TIME] [--before TIME]
                        [--page N] [--all] [-o text|json|json-raw|id]
  anchorectl event get ID [-o text|json|json-raw|id]
  anchorectl event delete ID
  anchorectl version

Environment: ANCHORECTL_URL (default http://localhost:8228), ANCHORECTL_USERNAME (default admin),
ANCHORECTL_PASSWORD, ANCHORECTL_FORMAT, ANCHORECTL_IMAGE_WAIT, ANCHORECTL_FORCE.";

/// Services `system wait` waits for unless told otherwise.
pub const DEFAULT_WAIT_SERVICES: [&str; 5] = [
    "catalog",
    "apiext",
    "policy_engine",
    "simplequeue",
    "analyzer",
];

fn env_bool(env: Env, name: &str) -> Result<bool, String> {
    match env(name).filter(|v| !v.is_empty()) {
        None => Ok(false),
        Some(v) => parse_bool(&v).ok_or_else(|| format!("{name} must be true or false, not {v:?}")),
    }
}

/// Reads the connection settings.
pub fn settings(env: Env) -> Settings {
    let url = env("ANCHORECTL_URL")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "http://localhost:8228".to_string());
    let url = url.trim().trim_end_matches('/').to_string();
    let api = if url.ends_with("/v2") {
        url
    } else {
        format!("{url}/v2")
    };
    Settings {
        api,
        username: env("ANCHORECTL_USERNAME")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "admin".to_string()),
        password: env("ANCHORECTL_PASSWORD").unwrap_or_default(),
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String], env: Env) -> Result<Cmd, String> {
    let mut output = match env("ANCHORECTL_FORMAT").filter(|v| !v.is_empty()) {
        Some(f) => Output::parse(&f)?,
        None => Output::Text,
    };
    if args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str)
        == Some("event")
    {
        return parse_event(args, output);
    }
    let mut wait = env_bool(env, "ANCHORECTL_IMAGE_WAIT")?;
    let mut force = env_bool(env, "ANCHORECTL_FORCE")?;
    let mut annotations = Vec::new();
    let mut timeout = Duration::from_secs(300);
    let mut services: Vec<String> = DEFAULT_WAIT_SERVICES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut words: Vec<&str> = Vec::new();
    let mut it = args.iter().map(String::as_str);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v)),
            _ => (a, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .map(str::to_string)
                .or_else(|| it.next().map(str::to_string))
                .ok_or_else(|| format!("flag needs an argument: {name}"))
        };
        match flag {
            "-o" | "--output" => output = Output::parse(&value(flag)?)?,
            "-w" | "--wait" => wait = true,
            "-f" | "--force" => force = true,
            "--annotation" => {
                let kv = value(flag)?;
                let (k, v) = kv
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("--annotation must be KEY=VALUE, not {kv:?}"))?;
                annotations.push((k.to_string(), v.to_string()));
            }
            "--timeout" => {
                let v = value(flag)?;
                let secs: u64 = v
                    .trim_end_matches('s')
                    .parse()
                    .map_err(|_| format!("--timeout must be a number of seconds, not {v:?}"))?;
                timeout = Duration::from_secs(secs);
            }
            "--service-list" => {
                services = value(flag)?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            "-h" | "--help" => return Ok(Cmd::Help),
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown flag: {f}")),
            _ => words.push(a),
        }
    }
    match words.as_slice() {
        ["image", "add", image] => Ok(Cmd::ImageAdd {
            image: image.to_string(),
            wait,
            force,
            annotations,
            output,
        }),
        ["image", "get", image] => Ok(Cmd::ImageGet {
            image: image.to_string(),
            output,
        }),
        ["image", "list"] => Ok(Cmd::ImageList { output }),
        ["system", "status"] => Ok(Cmd::SystemStatus { output }),
        ["system", "wait"] => Ok(Cmd::SystemWait { timeout, services }),
        ["version"] => Ok(Cmd::Version),
        [] | ["help"] => Ok(Cmd::Help),
        ["image", "add"] | ["image", "get"] => {
            Err(format!("requires an IMAGE argument\n\n{USAGE}"))
        }
        other => Err(format!("unknown command {:?}\n\n{USAGE}", other.join(" "))),
    }
}

/// `event ...`: the output flag here, the rest in [`super::ctl_events`].
fn parse_event(args: &[String], mut output: Output) -> Result<Cmd, String> {
    let mut rest: Vec<&str> = Vec::new();
    let mut it = args
        .iter()
        .map(String::as_str)
        .skip_while(|a| *a != "event");
    it.next();
    while let Some(a) = it.next() {
        match a.split_once('=') {
            Some(("-o" | "--output", v)) => output = Output::parse(v)?,
            _ if a == "-o" || a == "--output" => {
                let v = it
                    .next()
                    .ok_or_else(|| format!("flag needs an argument: {a}"))?;
                output = Output::parse(v)?;
            }
            _ if a == "-h" || a == "--help" => return Ok(Cmd::Help),
            _ => rest.push(a),
        }
    }
    super::ctl_events::parse(&rest, output).map(Cmd::Event)
}

/// How anchorectl reports errors (hashicorp multierror style, as in its documented output).
pub fn error_text(message: &str) -> String {
    format!("error: 1 error occurred:\n\t* {message}\n")
}

/// `snake_case` to `camelCase`.
pub fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The `-o json` form: keys in camelCase, except inside `annotations`, which are the user's.
pub fn camelize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = if k == "annotations" {
                    v.clone()
                } else {
                    camelize(v)
                };
                out.insert(camel(k), v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(camelize).collect()),
        other => other.clone(),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `analyzed (active)`, `not-analyzed (active)`.
pub fn status_text(image: &Value) -> String {
    format!(
        "{} ({})",
        s(image, "analysis_status").replace('_', "-"),
        s(image, "image_status")
    )
}

/// The `image_detail` entry for the tag asked about, else the first.
fn detail_for<'a>(image: &'a Value, wanted_tag: Option<&str>) -> Option<&'a Value> {
    let details = image.get("image_detail")?.as_array()?;
    wanted_tag
        .and_then(|t| details.iter().find(|d| s(d, "full_tag") == t))
        .or_else(|| details.first())
}

/// The full tag a user's reference names, as the API stores it.
pub fn wanted_tag(reference: &str) -> Option<String> {
    ImageRef::parse(reference).ok().map(|r| r.full_tag())
}

/// `image add` text output.
pub fn add_text(image: &Value, reference: &str) -> String {
    let tag = wanted_tag(reference);
    let detail = detail_for(image, tag.as_deref());
    let shown_tag = detail.map_or(reference, |d| s(d, "full_tag"));
    let mut out = format!(" ✔ Added Image{}{shown_tag}\n", " ".repeat(84));
    out.push_str("Image:\n");
    let mut field = |k: &str, v: &str| out.push_str(&format!("  {:<18}{v}\n", format!("{k}:")));
    field("status", &status_text(image));
    field("tag", shown_tag);
    field("digest", s(image, "image_digest"));
    field("id", detail.map_or("", |d| s(d, "image_id")));
    if let Some(meta) = image.pointer("/image_content/metadata") {
        field(
            "distro",
            &format!(
                "{}@{} ({})",
                s(meta, "distro"),
                s(meta, "distro_version"),
                s(meta, "arch")
            ),
        );
        let layers = meta
            .get("layer_count")
            .and_then(Value::as_u64)
            .map(|n| n.to_string())
            .unwrap_or_default();
        field("layers", &layers);
    }
    out
}

/// `image get` text output.
pub fn get_text(image: &Value, reference: &str) -> String {
    let tag = wanted_tag(reference);
    let detail = detail_for(image, tag.as_deref());
    format!(
        "Tag: {}\nDigest: {}\nParentDigest: {}\nID: {}\nAnalysis: {}\nStatus: {}\n",
        detail.map_or("", |d| s(d, "full_tag")),
        s(image, "image_digest"),
        s(image, "parent_digest"),
        detail.map_or("", |d| s(d, "image_id")),
        s(image, "analysis_status").replace('_', "-"),
        s(image, "image_status"),
    )
}

/// A box-drawn table as anchorectl prints them.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let rule = |l: &str, m: &str, r: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{l}{}{r}\n", parts.join(m))
    };
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let c = cells.get(i).copied().unwrap_or("");
                format!(" {c}{} ", " ".repeat(w - c.chars().count()))
            })
            .collect();
        format!("│{}│\n", parts.join("│"))
    };
    let mut out = rule("┌", "┬", "┐");
    out.push_str(&line(headers.to_vec()));
    out.push_str(&rule("├", "┼", "┤"));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out.push_str(&rule("└", "┴", "┘"));
    out
}

/// `image list` text output: one row per tag.
pub fn list_text(list: &Value) -> String {
    let mut rows = Vec::new();
    for img in list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for d in img
            .get("image_detail")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            rows.push(vec![
                s(d, "full_tag").to_string(),
                s(img, "image_digest").to_string(),
                s(img, "analysis_status").replace('_', "-"),
                s(img, "image_status").to_string(),
            ]);
        }
    }
    format!(
        " ✔ Fetched images\n{}",
        table(&["TAG", "DIGEST", "ANALYSIS", "STATUS"], &rows)
    )
}

/// `system status` text output.
pub fn system_text(system: &Value) -> String {
    let mut rows = Vec::new();
    for svc in system
        .get("service_states")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let detail = svc.get("service_detail").cloned().unwrap_or(Value::Null);
        rows.push(vec![
            s(svc, "service_name").to_string(),
            s(svc, "host_id").to_string(),
            s(svc, "base_url").to_string(),
            svc.get("status")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
            s(svc, "status_message").to_string(),
            s(&detail, "db_version").to_string(),
            s(svc, "version").to_string(),
        ]);
    }
    format!(
        " ✔ Status system\n{}",
        table(
            &[
                "SERVICE",
                "HOST ID",
                "URL",
                "UP",
                "STATUS MESSAGE",
                "DB VERSION",
                "CODE VERSION"
            ],
            &rows
        )
    )
}

/// Which of `wanted` are not registered and up in a `/v2/system` body.
pub fn services_not_up(system: &Value, wanted: &[String]) -> Vec<String> {
    let states: Vec<&Value> = system
        .get("service_states")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    wanted
        .iter()
        .filter(|w| {
            !states.iter().any(|s| {
                s.get("service_name").and_then(Value::as_str) == Some(w.as_str())
                    && s.get("status").and_then(Value::as_bool) == Some(true)
            })
        })
        .cloned()
        .collect()
}

/// `version` output.
pub fn version_text() -> String {
    format!(
        "{:<20}anchorectl\n{:<20}{VERSION}\n{:<20}{}/{}\n",
        "Application:",
        "Version:",
        "Platform:",
        std::env::consts::OS,
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }
    )
}

/// Renders a record or list in the chosen JSON form.
pub fn json_text(v: &Value, output: Output) -> String {
    let v = if output == Output::Json {
        camelize(v)
    } else {
        v.clone()
    };
    format!(
        "{}\n",
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn image(status: &str, analyzed: bool) -> Value {
        let mut v = json!({
            "image_digest": "sha256:07ad",
            "parent_digest": "sha256:07ad",
            "image_status": "active",
            "analysis_status": status,
            "annotations": {"team_name": "x"},
            "image_detail": [
                {"full_tag": "docker.io/postgres:latest", "image_id": "aaaa"},
                {"full_tag": "docker.io/library/postgres:latest", "image_id": "6909"}
            ],
            "image_content": {}
        });
        if analyzed {
            v["image_content"] = json!({"metadata": {"distro": "debian", "distro_version": "12", "arch": "amd64", "layer_count": 14}});
        }
        v
    }

    #[test]
    fn parses_commands_flags_and_env() {
        assert_eq!(
            parse(
                &args(&[
                    "image",
                    "add",
                    "postgres",
                    "--wait",
                    "-o",
                    "json",
                    "--annotation",
                    "a=b=c"
                ]),
                &no_env
            ),
            Ok(Cmd::ImageAdd {
                image: "postgres".into(),
                wait: true,
                force: false,
                annotations: vec![("a".into(), "b=c".into())],
                output: Output::Json
            })
        );
        assert_eq!(
            parse(&args(&["image", "get", "x", "--output=json-raw"]), &no_env),
            Ok(Cmd::ImageGet {
                image: "x".into(),
                output: Output::JsonRaw
            })
        );
        let env = |k: &str| match k {
            "ANCHORECTL_FORMAT" => Some("json".to_string()),
            "ANCHORECTL_IMAGE_WAIT" => Some("true".to_string()),
            _ => None,
        };
        assert!(matches!(
            parse(&args(&["image", "add", "x"]), &env),
            Ok(Cmd::ImageAdd {
                wait: true,
                output: Output::Json,
                ..
            })
        ));
        assert_eq!(
            parse(
                &args(&[
                    "system",
                    "wait",
                    "--timeout",
                    "30",
                    "--service-list",
                    "catalog,apiext"
                ]),
                &no_env
            ),
            Ok(Cmd::SystemWait {
                timeout: Duration::from_secs(30),
                services: vec!["catalog".into(), "apiext".into()]
            })
        );
        assert!(parse(&args(&["image", "add"]), &no_env)
            .unwrap_err()
            .contains("IMAGE"));
        assert!(parse(&args(&["image", "add", "x", "--bogus"]), &no_env)
            .unwrap_err()
            .contains("unknown flag"));
        assert!(parse(&args(&["image", "get", "x", "-o", "yaml"]), &no_env).is_err());
        assert!(parse(&args(&["image", "get", "x", "-o"]), &no_env).is_err());
        assert!(parse(&args(&["policy", "list"]), &no_env).is_err());
    }

    #[test]
    fn settings_default_and_add_v2() {
        let s = settings(&no_env);
        assert_eq!(s.api, "http://localhost:8228/v2");
        assert_eq!(s.username, "admin");
        let env = |k: &str| (k == "ANCHORECTL_URL").then(|| "http://h:1/v2/".to_string());
        assert_eq!(settings(&env).api, "http://h:1/v2");
    }

    #[test]
    fn add_text_matches_the_documented_block() {
        let text = add_text(
            &image("not_analyzed", false),
            "docker.io/library/postgres:latest",
        );
        let want = format!(
            " ✔ Added Image{}docker.io/library/postgres:latest\nImage:\n  status:           not-analyzed (active)\n  tag:              docker.io/library/postgres:latest\n  digest:           sha256:07ad\n  id:               6909\n",
            " ".repeat(84)
        );
        assert_eq!(text, want);
        let text = add_text(
            &image("analyzed", true),
            "docker.io/library/postgres:latest",
        );
        assert!(text.contains("\n  status:           analyzed (active)\n"));
        assert!(text.ends_with("  distro:           debian@12 (amd64)\n  layers:           14\n"));
    }

    #[test]
    fn get_text_matches_the_workshop_sample() {
        let text = get_text(&image("analyzed", true), "postgres");
        assert_eq!(text, "Tag: docker.io/postgres:latest\nDigest: sha256:07ad\nParentDigest: sha256:07ad\nID: aaaa\nAnalysis: analyzed\nStatus: active\n");
    }

    #[test]
    fn json_is_camel_case_except_annotations() {
        let v = camelize(&image("analyzed", true));
        assert_eq!(v["imageDigest"], "sha256:07ad");
        assert_eq!(v["analysisStatus"], "analyzed");
        assert_eq!(
            v["imageDetail"][1]["fullTag"],
            "docker.io/library/postgres:latest"
        );
        assert_eq!(v["imageContent"]["metadata"]["distroVersion"], "12");
        assert_eq!(v["annotations"]["team_name"], "x");
        assert!(json_text(&image("analyzed", true), Output::JsonRaw).contains("\"image_digest\""));
    }

    #[test]
    fn system_table_has_the_documented_columns() {
        let sys = json!({"service_states": [
            {"service_name": "analyzer", "host_id": "c0ffee", "base_url": "http://analyzer:8228", "status": true, "status_message": "available", "service_detail": {"db_version": "5170"}, "version": "5.17.0"},
            {"service_name": "catalog", "host_id": "beef", "base_url": "http://catalog:8228", "status": false, "status_message": "unavailable", "service_detail": {"db_version": "5170"}, "version": "5.17.0"}
        ]});
        let text = system_text(&sys);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], " ✔ Status system");
        assert_eq!(lines[2], "│ SERVICE  │ HOST ID │ URL                  │ UP    │ STATUS MESSAGE │ DB VERSION │ CODE VERSION │");
        assert_eq!(lines[4], "│ analyzer │ c0ffee  │ http://analyzer:8228 │ true  │ available      │ 5170       │ 5.17.0       │");
        assert!(lines[1].starts_with("┌──────────┬") && lines[6].starts_with("└"));
        assert_eq!(
            services_not_up(
                &sys,
                &["analyzer".into(), "catalog".into(), "apiext".into()]
            ),
            vec!["catalog".to_string(), "apiext".to_string()]
        );
    }

    #[test]
    fn list_has_a_row_per_tag() {
        let text = list_text(&json!({"items": [image("analysis_failed", false)]}));
        assert!(text.starts_with(" ✔ Fetched images\n"));
        assert_eq!(text.matches("analysis-failed").count(), 2);
        assert!(version_text()
            .starts_with("Application:        anchorectl\nVersion:            5.17.0\n"));
        assert_eq!(error_text("boom"), "error: 1 error occurred:\n\t* boom\n");
    }
}

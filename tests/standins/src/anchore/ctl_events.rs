//! anchorectl's `event` commands (FACTS.md §11): `event list` with every documented flag,
//! `event get ID` and `event delete ID`, parsed and rendered without I/O.
//!
//! `event list` prints ` ✔ List events` and a table with the columns UUID | EVENT TYPE | LEVEL |
//! RESOURCE ID | RESOURCE TYPE | SOURCE SERVICE | SOURCE HOST | TIMESTAMP, the level in lower case
//! as in the documented sample; `event get` a `Key: value` block. `-o json` is the records with
//! camelCase keys, `-o json-raw` the API's body, `-o id` one event id per line. Without `--all`,
//! `event list` shows one page (`--page`, default 1); with it, every page.

use serde_json::Value;

use super::ctl::{json_text, table, Output};

#[derive(Debug, Clone, PartialEq)]
pub enum EventCmd {
    List {
        /// The query parameters of `GET /v2/events`.
        query: Vec<(String, String)>,
        all: bool,
        output: Output,
    },
    Get {
        id: String,
        output: Output,
    },
    Delete {
        id: String,
    },
}

/// Parses `event ...` (the words after `event`, flags in any place); `output` is the format the
/// common flags and environment chose.
pub fn parse(args: &[&str], output: Output) -> Result<EventCmd, String> {
    let mut query: Vec<(String, String)> = Vec::new();
    let mut all = false;
    let mut words: Vec<&str> = Vec::new();
    let mut it = args.iter().copied();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (a, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .map(str::to_string)
                .or_else(|| it.next().map(str::to_string))
                .ok_or_else(|| format!("flag needs an argument: {name}"))
        };
        let param = match flag {
            "--all" => {
                all = true;
                continue;
            }
            "--since" => "since",
            "--before" => "before",
            "--event-type" => "event_type",
            "--host" => "source_host_id",
            "--service" => "source_service_name",
            "--resource-id" => "resource_id",
            "--resource-type" => "resource_type",
            "--page" => "page",
            "--level" => {
                let l = value(flag)?;
                if !(l.eq_ignore_ascii_case("info") || l.eq_ignore_ascii_case("error")) {
                    return Err(format!("--level must be INFO or ERROR, not {l:?}"));
                }
                query.push(("level".into(), l.to_ascii_uppercase()));
                continue;
            }
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown flag: {f}")),
            _ => {
                words.push(a);
                continue;
            }
        };
        let v = value(flag)?;
        if param == "page" && v.parse::<u32>().ok().filter(|n| *n >= 1).is_none() {
            return Err(format!(
                "--page must be a whole number of at least 1, not {v:?}"
            ));
        }
        query.push((param.to_string(), v));
    }
    match words.as_slice() {
        ["list"] => Ok(EventCmd::List { query, all, output }),
        ["get" | "delete", id] if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            Err(format!(
                "{id:?} is not an event ID (the UUID column of `event list`)"
            ))
        }
        ["get", id] => Ok(EventCmd::Get {
            id: id.to_string(),
            output,
        }),
        ["delete", id] => Ok(EventCmd::Delete { id: id.to_string() }),
        ["get"] | ["delete"] => Err("requires an event ID argument".to_string()),
        other => Err(format!(
            "unknown command \"event {}\" (event list|get|delete)",
            other.join(" ")
        )),
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// One row of the table.
fn row(e: &Value) -> Vec<String> {
    vec![
        s(e, "/event_id").to_string(),
        s(e, "/event/type").to_string(),
        s(e, "/event/level").to_ascii_lowercase(),
        s(e, "/event/resource/id").to_string(),
        s(e, "/event/resource/type").to_string(),
        s(e, "/event/source/service_name").to_string(),
        s(e, "/event/source/host_id").to_string(),
        s(e, "/event/timestamp").to_string(),
    ]
}

pub const COLUMNS: [&str; 8] = [
    "UUID",
    "EVENT TYPE",
    "LEVEL",
    "RESOURCE ID",
    "RESOURCE TYPE",
    "SOURCE SERVICE",
    "SOURCE HOST",
    "TIMESTAMP",
];

/// Renders the events of one or more pages (`EventResponse` records, newest first).
pub fn list_output(events: &[Value], raw_pages: &[Value], output: Output) -> String {
    match output {
        Output::Text => {
            let rows: Vec<Vec<String>> = events.iter().map(row).collect();
            format!(" ✔ List events\n{}", table(&COLUMNS, &rows))
        }
        Output::Id => events
            .iter()
            .map(|e| format!("{}\n", s(e, "/event_id")))
            .collect(),
        Output::Json => json_text(&Value::Array(events.to_vec()), Output::Json),
        Output::JsonRaw => match raw_pages {
            [one] => json_text(one, Output::JsonRaw),
            many => json_text(&Value::Array(many.to_vec()), Output::JsonRaw),
        },
    }
}

/// Renders one event.
pub fn get_output(e: &Value, output: Output) -> String {
    match output {
        Output::Text => {
            let mut out = String::from(" ✔ Fetched event\n");
            let details = e
                .pointer("/event/details")
                .filter(|d| !d.is_null())
                .map(Value::to_string)
                .unwrap_or_default();
            for (k, v) in [
                ("UUID", s(e, "/event_id").to_string()),
                ("Event Type", s(e, "/event/type").to_string()),
                ("Level", s(e, "/event/level").to_ascii_lowercase()),
                ("Message", s(e, "/event/message").to_string()),
                ("Resource ID", s(e, "/event/resource/id").to_string()),
                ("Resource Type", s(e, "/event/resource/type").to_string()),
                ("Account", s(e, "/event/resource/account_name").to_string()),
                (
                    "Source Service",
                    s(e, "/event/source/service_name").to_string(),
                ),
                ("Source Host", s(e, "/event/source/host_id").to_string()),
                ("Source URL", s(e, "/event/source/base_url").to_string()),
                ("Timestamp", s(e, "/event/timestamp").to_string()),
                ("Details", details),
            ] {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out
        }
        Output::Id => format!("{}\n", s(e, "/event_id")),
        other => json_text(e, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "event_id": "b4cf3559e6f64077a7e335225f0945fb",
            "created_at": "2024-08-18T12:59:13.000000Z",
            "event": {
                "source": {"service_name": "catalog", "host_id": "anchore-catalog", "base_url": "http://catalog:8228"},
                "resource": {"account_name": "admin", "id": "docker.io/alpine:3.4", "type": "image_reference"},
                "type": "system.image_analysis.registry_lookup_failed",
                "category": "system",
                "level": "ERROR",
                "message": "Referenced image not found in registry",
                "details": {"message": "manifest unknown"},
                "timestamp": "2024-08-18T12:59:13.000000Z"
            }
        })
    }

    #[test]
    fn every_list_flag_becomes_its_query_parameter() {
        let cmd = parse(
            &[
                "list",
                "--level",
                "error",
                "--event-type=system.image_analysis.",
                "--service",
                "catalog",
                "--host",
                "h1",
                "--resource-id",
                "docker.io/alpine:3.4",
                "--resource-type",
                "image_reference",
                "--since",
                "2024-08-18T00:00:00Z",
                "--before",
                "2024-08-19T00:00:00Z",
                "--page",
                "2",
                "--all",
            ],
            Output::Text,
        )
        .unwrap();
        let EventCmd::List { query, all, .. } = cmd else {
            panic!("{cmd:?}")
        };
        assert!(all);
        let keys: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "level",
                "event_type",
                "source_service_name",
                "source_host_id",
                "resource_id",
                "resource_type",
                "since",
                "before",
                "page"
            ]
        );
        assert_eq!(query[0].1, "ERROR");
        assert!(parse(&["list", "--level", "WARN"], Output::Text).is_err());
        assert!(parse(&["list", "--page", "0"], Output::Text).is_err());
        assert!(parse(&["list", "--colour"], Output::Text).is_err());
        assert!(parse(&["get"], Output::Text).is_err());
        assert_eq!(
            parse(&["get", "abc"], Output::Json).unwrap(),
            EventCmd::Get {
                id: "abc".into(),
                output: Output::Json
            }
        );
    }

    #[test]
    fn the_table_has_the_documented_columns_and_a_lower_case_level() {
        let text = list_output(&[event()], &[], Output::Text);
        assert!(text.starts_with(" ✔ List events\n"), "{text}");
        for c in COLUMNS {
            assert!(text.contains(c), "{c}: {text}");
        }
        assert!(text.contains(" error "), "{text}");
        assert!(text.contains("system.image_analysis.registry_lookup_failed"));
        assert!(text.contains("docker.io/alpine:3.4"));
        let ids = list_output(&[event()], &[], Output::Id);
        assert_eq!(ids, "b4cf3559e6f64077a7e335225f0945fb\n");
        let json: Value =
            serde_json::from_str(&list_output(&[event()], &[], Output::Json)).unwrap();
        assert_eq!(json[0]["eventId"], "b4cf3559e6f64077a7e335225f0945fb");
        assert_eq!(json[0]["event"]["resource"]["type"], "image_reference");
    }

    #[test]
    fn get_shows_every_field() {
        let text = get_output(&event(), Output::Text);
        assert!(text.contains("Event Type: system.image_analysis.registry_lookup_failed\n"));
        assert!(text.contains("Resource ID: docker.io/alpine:3.4\n"));
        assert!(text.contains("Level: error\n"));
        assert!(text.contains("Source Service: catalog\n"));
        assert!(text.contains("manifest unknown"));
    }
}

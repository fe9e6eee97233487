//! Anchore's event log (`GET /v2/events`, FACTS.md §11): reading it, and judging an answer that
//! names a field of one of its events (lab 5's "which event type, which resource").

use super::{Ctx, Observation};
use crate::client::{base, json_answer, message_of, one_line, rejected, with_query};
use crate::model::check::EventField;
use crate::text::clip;
use serde_json::Value;

/// The most pages read (of [`PAGE_SIZE`] events each): the log is bounded, and so is `lab`.
const MAX_PAGES: usize = 10;
const PAGE_SIZE: usize = 500;

/// What `lab` reads of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    /// Upper case: `INFO` or `ERROR`.
    pub level: String,
    pub resource_id: String,
    pub resource_type: String,
    pub source_service: String,
    pub source_host: String,
    pub timestamp: String,
    pub message: String,
}

impl Event {
    fn of(v: &Value) -> Event {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Event {
            id: s("/event_id"),
            event_type: s("/event/type"),
            level: s("/event/level").to_ascii_uppercase(),
            resource_id: s("/event/resource/id"),
            resource_type: s("/event/resource/type"),
            source_service: s("/event/source/service_name"),
            source_host: s("/event/source/host_id"),
            timestamp: s("/event/timestamp"),
            message: s("/event/message"),
        }
    }

    pub fn field(&self, f: EventField) -> &str {
        match f {
            EventField::Type => &self.event_type,
            EventField::ResourceId => &self.resource_id,
            EventField::ResourceType => &self.resource_type,
            EventField::SourceService => &self.source_service,
        }
    }

    /// Whether the event has the level (any case) and a type starting with the prefix.
    pub fn is(&self, level: Option<&str>, type_prefix: Option<&str>) -> bool {
        level.is_none_or(|l| self.level.eq_ignore_ascii_case(l))
            && type_prefix.is_none_or(|p| self.event_type.starts_with(p))
    }
}

/// The deployment's events, newest first, at most `MAX_PAGES` pages; `query` holds extra query
/// parameters of `/v2/events` (`resource_id`, `event_type`, ...).
pub async fn read(ctx: &Ctx, query: &[(&str, &str)]) -> Result<Vec<Event>, String> {
    let ep = &ctx.target.anchore;
    let endpoint = format!("{}/v2/events", ep.url);
    let mut out = Vec::new();
    for page in 1..=MAX_PAGES {
        let page_s = page.to_string();
        let size = PAGE_SIZE.to_string();
        let mut params: Vec<(&str, &str)> = vec![("page", &page_s), ("limit", &size)];
        params.extend_from_slice(query);
        let url = with_query(&endpoint, &params)?;
        let (status, body) = ctx.get(&url, Some(ep)).await?;
        if status == 401 {
            return Err(rejected("Anchore", &url, ep, "LAB_ANCHORE_PASSWORD"));
        }
        let doc = json_answer(&url, status, &body)?;
        if status != 200 {
            let why = message_of(&doc).unwrap_or_else(|| one_line(&body, 100));
            return Err(format!("{} answered HTTP {status}: {why}", base(&url)));
        }
        let results = doc
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                format!(
                    "unexpected answer from {}: {} (no `results` list)",
                    base(&url),
                    one_line(&body, 100)
                )
            })?;
        out.extend(results.iter().map(Event::of));
        if doc.get("next_page").and_then(Value::as_bool) != Some(true) {
            break;
        }
    }
    Ok(out)
}

/// `"user.image…"`, ` User.Image… ` and `user.image…` are one answer.
fn norm(s: &str) -> String {
    s.trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '`')
        .trim()
        .to_ascii_lowercase()
}

/// "an ERROR event", "an event of type system.… ", "an event".
fn which(level: Option<&str>, type_prefix: Option<&str>) -> String {
    let lvl = level.map(|l| format!("{} ", l.to_ascii_uppercase()));
    let article = match &lvl {
        Some(l) if l.starts_with(['E', 'I']) => "an",
        Some(_) => "a",
        None => "an",
    };
    let mut w = format!("{article} {}event", lvl.unwrap_or_default());
    if let Some(p) = type_prefix {
        w.push_str(&format!(" of a type starting {p}"));
    }
    w
}

/// Judges an answer against the events: it must be the `field` of one with `level` and a type
/// starting with `type_prefix`. Each way of getting it wrong has its own hint; the expected
/// value itself is never shown.
pub fn judge(
    answer: &str,
    field: EventField,
    level: Option<&str>,
    type_prefix: Option<&str>,
    events: &[Event],
) -> Observation {
    let a = norm(answer);
    let shown = format!("{:?}", clip(answer.trim(), 80));
    let wanted = which(level, type_prefix);
    let expected = format!("the {} of {wanted} in the event log", field.words());
    let wanted_events: Vec<&Event> = events.iter().filter(|e| e.is(level, type_prefix)).collect();
    if let Some(e) = wanted_events.iter().find(|e| norm(e.field(field)) == a) {
        return Observation::pass(format!(
            "{shown}: the {} of {} event {} from {} at {}",
            field.words(),
            e.level,
            e.id,
            e.source_service,
            e.timestamp
        ));
    }
    let list = match level {
        Some(l) => format!("`anchorectl event list --level {}`", l.to_ascii_uppercase()),
        None => "`anchorectl event list`".to_string(),
    };
    if wanted_events.is_empty() {
        return Observation::fail_because(
            expected,
            format!("the event log has no {} yet", &wanted[wanted.find(' ').map_or(0, |i| i + 1)..]),
            format!(
                "Nothing the question asks about has happened yet: do the exercise's failing step first (it is what records {wanted}), then read it with {list}."
            ),
        );
    }
    if let Some(e) = events
        .iter()
        .find(|e| !e.is(level, type_prefix) && norm(e.field(field)) == a)
    {
        return Observation::fail_because(
            expected,
            format!(
                "{shown} is the {} of an {} event",
                field.words(),
                e.level
            ),
            format!(
                "That event is not the one asked for: it is {} {}. List only the ones asked about with {list}, then read the {} of the one your step caused (`anchorectl event get ID` shows it whole).",
                if e.level == "INFO" { "an INFO event, which reports something that went right, not" } else { "of another level than" },
                wanted,
                field.words()
            ),
        );
    }
    let other_fields = [
        EventField::Type,
        EventField::ResourceId,
        EventField::ResourceType,
        EventField::SourceService,
    ];
    if let Some(f) = other_fields
        .iter()
        .find(|f| **f != field && wanted_events.iter().any(|e| norm(e.field(**f)) == a))
    {
        return Observation::fail_because(
            expected,
            format!("{shown} is the {} of {wanted}", f.words()),
            format!(
                "That is the event's {}; the question asks for its {} (the {} column of {list}).",
                f.words(),
                field.words(),
                field.words().to_ascii_uppercase()
            ),
        );
    }
    if !a.is_empty()
        && wanted_events
            .iter()
            .any(|e| norm(e.field(field)).contains(&a))
    {
        return Observation::fail_because(
            expected,
            format!("{shown} is only part of the {} of {wanted}", field.words()),
            format!(
                "Give the whole {}, as {list} prints it, not a part of it.",
                field.words()
            ),
        );
    }
    Observation::fail_because(
        expected,
        format!(
            "no {} in the event log has the {} {shown}",
            &wanted[wanted.find(' ').map_or(0, |i| i + 1)..],
            field.words()
        ),
        format!(
            "Copy the {} of the event from {list} (or `anchorectl event get ID`) as it is printed.",
            field.words()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: &str, level: &str, resource: &str, rtype: &str, service: &str) -> Event {
        Event {
            id: format!("id-{t}"),
            event_type: t.into(),
            level: level.into(),
            resource_id: resource.into(),
            resource_type: rtype.into(),
            source_service: service.into(),
            source_host: "h".into(),
            timestamp: "2026-11-29T18:00:00Z".into(),
            message: String::new(),
        }
    }

    fn log() -> Vec<Event> {
        vec![
            ev(
                "system.image_analysis.registry_lookup_failed",
                "ERROR",
                "docker.io/alpine:does-not-exist",
                "image_reference",
                "catalog",
            ),
            ev(
                "user.image.analysis.completed",
                "INFO",
                "docker.io/postgres:latest",
                "image_tag",
                "catalog",
            ),
        ]
    }

    fn hint_of(o: &Observation) -> &str {
        o.cause_hint().unwrap_or_else(|| panic!("{o:?}"))
    }

    #[test]
    fn the_error_events_type_and_resource_pass_in_any_case_and_quoting() {
        let l = log();
        for (answer, field) in [
            (
                "system.image_analysis.registry_lookup_failed",
                EventField::Type,
            ),
            (
                " `System.Image_Analysis.Registry_Lookup_Failed` ",
                EventField::Type,
            ),
            ("docker.io/alpine:does-not-exist", EventField::ResourceId),
        ] {
            let o = judge(answer, field, Some("ERROR"), None, &l);
            assert!(matches!(o, Observation::Pass { .. }), "{answer}: {o:?}");
        }
    }

    #[test]
    fn each_mistake_has_its_own_hint_and_never_the_answer() {
        let l = log();
        let secret = "registry_lookup_failed";
        let cases = [
            ("user.image.analysis.completed", "INFO event"),
            ("docker.io/alpine:does-not-exist", "resource id"),
            ("registry_lookup_failed", "whole event type"),
            ("something.else", "Copy the event type"),
        ];
        for (answer, want) in cases {
            let o = judge(answer, EventField::Type, Some("error"), None, &l);
            let h = hint_of(&o);
            assert!(h.contains(want), "{answer}: {h}");
            let Observation::Fail { expected, .. } = &o else {
                unreachable!()
            };
            assert!(!expected.contains(secret) && !h.contains(secret), "{o:?}");
        }
        let o = judge("x", EventField::Type, Some("ERROR"), None, &log()[1..]);
        assert!(hint_of(&o).contains("has happened yet"), "{o:?}");
        let Observation::Fail { actual, .. } = &o else {
            unreachable!()
        };
        assert_eq!(actual, "the event log has no ERROR event yet");
    }

    #[test]
    fn a_type_prefix_narrows_the_events() {
        let l = log();
        let o = judge(
            "docker.io/postgres:latest",
            EventField::ResourceId,
            None,
            Some("user.image."),
            &l,
        );
        assert!(matches!(o, Observation::Pass { .. }), "{o:?}");
        let o = judge(
            "docker.io/alpine:does-not-exist",
            EventField::ResourceId,
            None,
            Some("user.image."),
            &l,
        );
        assert!(o.cause_hint().is_some(), "{o:?}");
    }

    #[test]
    fn events_are_read_from_the_api_shape() {
        let v = serde_json::json!({
            "event_id": "abc",
            "event": {"type": "t", "level": "error", "resource": {"id": "r", "type": "image_reference"},
                      "source": {"service_name": "catalog", "host_id": "h"}, "timestamp": "x", "message": "m"}
        });
        let e = Event::of(&v);
        assert_eq!(e.level, "ERROR");
        assert_eq!(e.field(EventField::ResourceType), "image_reference");
        assert_eq!(e.field(EventField::SourceService), "catalog");
        assert_eq!(Event::of(&serde_json::json!([])).id, "");
    }
}

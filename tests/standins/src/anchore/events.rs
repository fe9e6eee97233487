//! The event log: what the services record when something happens to an image (FACTS.md §11),
//! kept by the state owner and served by the API as `GET /v2/events` (filtered, newest first,
//! paginated), `GET`/`DELETE /v2/events/{event_id}`, `DELETE /v2/events` and
//! `GET /v2/event-types`.
//!
//! Event types are `category.subcategory.event`, named and described as in the open-source
//! engine's `anchore_engine/subsys/events/types.py`; the stand-in raises these:
//!
//! | type | level | resource type | raised by | when |
//! |---|---|---|---|---|
//! | `system.image_analysis.registry_lookup_failed` | ERROR | `image_reference` | catalog | an image is added whose tag the registry does not have |
//! | `system.image_analysis.completed` | INFO | `image_tag` | analyzer | an analysis succeeds |
//! | `user.image.analysis.completed` | INFO | `image_tag` | catalog | the same, for the user |
//! | `system.image_analysis.failed` | ERROR | `image_digest` | analyzer | an analysis fails |
//! | `user.image.analysis.failed` | ERROR | `image_tag` | catalog | the same, for the user |
//!
//! The log keeps the newest [`MAX_EVENTS`] events, so its memory is bounded.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::clock;

/// The most events kept; older ones are dropped first.
pub const MAX_EVENTS: usize = 10_000;
/// `limit` when the request gives none, and the most one page may hold.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// A kind of event: where it sits in the hierarchy, its level, message and resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub category: &'static str,
    pub subcategory: &'static str,
    pub name: &'static str,
    pub level: &'static str,
    pub message: &'static str,
    pub resource_type: &'static str,
}

impl Kind {
    /// The fully qualified type, `system.image_analysis.registry_lookup_failed`.
    pub fn fq_type(&self) -> String {
        format!("{}.{}.{}", self.category, self.subcategory, self.name)
    }
}

const fn kind(
    category: &'static str,
    subcategory: &'static str,
    name: &'static str,
    level: &'static str,
    message: &'static str,
    resource_type: &'static str,
) -> Kind {
    Kind {
        category,
        subcategory,
        name,
        level,
        message,
        resource_type,
    }
}

pub const REGISTRY_LOOKUP_FAILED: Kind = kind(
    "system",
    "image_analysis",
    "registry_lookup_failed",
    "ERROR",
    "Referenced image not found in registry",
    "image_reference",
);
pub const ANALYSIS_COMPLETED: Kind = kind(
    "system",
    "image_analysis",
    "completed",
    "INFO",
    "Image successfully analyzed",
    "image_tag",
);
pub const ANALYSIS_FAILED: Kind = kind(
    "system",
    "image_analysis",
    "failed",
    "ERROR",
    "Failed to analyze image",
    "image_digest",
);
pub const USER_ANALYSIS_COMPLETED: Kind = kind(
    "user",
    "image",
    "analysis.completed",
    "INFO",
    "Image analysis available",
    "image_tag",
);
pub const USER_ANALYSIS_FAILED: Kind = kind(
    "user",
    "image",
    "analysis.failed",
    "ERROR",
    "Failed to analyze image",
    "image_tag",
);

/// Every type `GET /v2/event-types` lists: those the stand-in raises and the engine's other
/// image-analysis and service types.
pub const KINDS: [Kind; 10] = [
    USER_ANALYSIS_FAILED,
    USER_ANALYSIS_COMPLETED,
    REGISTRY_LOOKUP_FAILED,
    ANALYSIS_FAILED,
    ANALYSIS_COMPLETED,
    kind(
        "system",
        "image_analysis",
        "catalog_save_failed",
        "ERROR",
        "Failed to load image analysis from analyzer to catalog",
        "image_digest",
    ),
    kind(
        "system",
        "image_analysis",
        "policy_engine_load_failed",
        "ERROR",
        "Failed to load image analysis from analyzer to policy engine",
        "image_digest",
    ),
    kind(
        "system",
        "image_analysis",
        "manifest_parse_fail",
        "ERROR",
        "Failed to parse image manifest for tag",
        "image_tag",
    ),
    kind(
        "system",
        "service",
        "state_transition.orphaned",
        "ERROR",
        "Service orphaned",
        "service",
    ),
    kind(
        "system",
        "service",
        "state_transition.down",
        "ERROR",
        "Service down",
        "service",
    ),
];

fn category_description(c: &str) -> &'static str {
    match c {
        "user" => "Events of interest to a user, for people and automation",
        _ => "What is happening inside the system: state changes and async processes",
    }
}

fn subcategory_description(s: &str) -> &'static str {
    match s {
        "image" => "Image state and status",
        "image_analysis" => "The image analysis and import process",
        "service" => "Service state transitions",
        _ => "",
    }
}

/// `EventTypesList`: categories, their subcategories and their events.
pub fn event_types() -> Value {
    type Subcategories<'a> = Vec<(&'a str, Vec<&'a Kind>)>;
    let mut cats: Vec<(&str, Subcategories)> = Vec::new();
    for k in &KINDS {
        let ci = match cats.iter().position(|(c, _)| *c == k.category) {
            Some(i) => i,
            None => {
                cats.push((k.category, Vec::new()));
                cats.len() - 1
            }
        };
        let subs = &mut cats[ci].1;
        match subs.iter_mut().find(|(s, _)| *s == k.subcategory) {
            Some((_, ks)) => ks.push(k),
            None => subs.push((k.subcategory, vec![k])),
        }
    }
    Value::Array(
        cats.into_iter()
            .map(|(c, subs)| {
                json!({
                    "category": c,
                    "description": category_description(c),
                    "subcategories": subs.into_iter().map(|(s, ks)| json!({
                        "name": s,
                        "description": subcategory_description(s),
                        "events": ks.into_iter().map(|k| json!({
                            "name": k.name,
                            "type": k.fq_type(),
                            "message": k.message,
                            "resource_type": k.resource_type,
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub service_name: String,
    pub host_id: String,
    pub base_url: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub account_name: String,
    pub id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub source: Source,
    pub resource: Resource,
    #[serde(rename = "type")]
    pub event_type: String,
    pub category: String,
    pub level: String,
    pub message: String,
    pub details: Value,
    pub timestamp: String,
}

/// `EventResponse` of the v2 API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub created_at: String,
    pub event: Body,
}

/// What a service sends to record an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The fully qualified type; it must be one of [`KINDS`].
    pub event_type: String,
    pub source: Source,
    pub account: String,
    pub resource_id: String,
    #[serde(default)]
    pub details: Value,
}

/// The filter of `GET /v2/events` (and, with `since`, `before` and `level` only, of
/// `DELETE /v2/events`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub source_service_name: Option<String>,
    pub source_host_id: Option<String>,
    pub event_type: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// `INFO` or `ERROR`, upper case.
    pub level: Option<String>,
    /// Seconds since the epoch.
    pub since: Option<f64>,
    pub before: Option<f64>,
    pub page: usize,
    pub limit: usize,
}

/// `EventsList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub results: Vec<Event>,
    pub next_page: bool,
    pub item_count: usize,
    pub page: usize,
}

fn timestamp_param(name: &str, v: &str) -> Result<f64, String> {
    clock::parse_timestamp(v.trim())
        .map(clock::unix_seconds)
        .ok_or_else(|| {
            format!("{name} must be a UTC timestamp such as 2024-08-18T12:59:13Z, not {v:?}")
        })
}

fn count_param(name: &str, v: Option<&String>, default: usize) -> Result<usize, String> {
    match v {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{name} must be a whole number of at least 1, not {s:?}")),
    }
}

impl Filter {
    /// Reads and validates the query parameters of `GET /v2/events` (`delete` leaves out the
    /// ones `DELETE /v2/events` does not take).
    pub fn from_query(
        q: &std::collections::HashMap<String, String>,
        delete: bool,
    ) -> Result<Filter, String> {
        let text = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
        let level = match text("level") {
            None => None,
            Some(l) if l.eq_ignore_ascii_case("info") || l.eq_ignore_ascii_case("error") => {
                Some(l.to_ascii_uppercase())
            }
            Some(l) => return Err(format!("level must be INFO or ERROR, not {l:?}")),
        };
        let since = text("since")
            .map(|v| timestamp_param("since", &v))
            .transpose()?;
        let before = text("before")
            .map(|v| timestamp_param("before", &v))
            .transpose()?;
        if delete {
            return Ok(Filter {
                level,
                since,
                before,
                page: 1,
                limit: MAX_EVENTS,
                ..Filter::default()
            });
        }
        let event_type = text("event_type");
        if let Some(t) = &event_type {
            let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.*".contains(&b);
            if !t.bytes().all(ok) {
                return Err(format!(
                    "event_type {t:?} does not match ^[a-z0-9-_.*]+$ (a prefix such as \"user.image.\")"
                ));
            }
        }
        let limit = count_param("limit", q.get("limit"), DEFAULT_LIMIT)?;
        if limit > MAX_LIMIT {
            return Err(format!("limit must be at most {MAX_LIMIT}, not {limit}"));
        }
        Ok(Filter {
            source_service_name: text("source_service_name"),
            source_host_id: text("source_host_id"),
            event_type,
            resource_type: text("resource_type"),
            resource_id: text("resource_id"),
            level,
            since,
            before,
            page: count_param("page", q.get("page"), 1)?,
            limit,
        })
    }
}

/// Whether `pattern` (a prefix in which `*` stands for any run of characters) matches the
/// start of `text`.
pub fn prefix_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        if part.is_empty() {
            continue;
        }
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Serialize, Deserialize)]
struct Entry {
    event: Event,
    at: f64,
}

/// The events, oldest first, at most [`MAX_EVENTS`].
#[derive(Default, Serialize, Deserialize)]
pub struct Log {
    entries: VecDeque<Entry>,
    seq: u64,
    /// Makes ids differ between runs of the owner.
    seed: u128,
}

fn timestamp(t: SystemTime) -> String {
    let c = clock::civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    )
}

impl Log {
    pub fn new() -> Log {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ u128::from(std::process::id());
        Log {
            seed,
            ..Log::default()
        }
    }

    fn next_id(&mut self) -> String {
        self.seq += 1;
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(self.seq.to_le_bytes());
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        hex[..32].to_string()
    }

    /// Records an event of a known type; returns it, or why it was refused.
    pub fn add(&mut self, new: NewEvent, now: SystemTime) -> Result<Event, String> {
        let k = KINDS
            .iter()
            .find(|k| k.fq_type() == new.event_type)
            .ok_or_else(|| format!("unknown event type {:?}", new.event_type))?;
        let ts = timestamp(now);
        let event = Event {
            event_id: self.next_id(),
            created_at: ts.clone(),
            event: Body {
                source: new.source,
                resource: Resource {
                    account_name: new.account,
                    id: new.resource_id,
                    resource_type: k.resource_type.to_string(),
                },
                event_type: k.fq_type(),
                category: k.category.to_string(),
                level: k.level.to_string(),
                message: k.message.to_string(),
                details: new.details,
                timestamp: ts,
            },
        };
        if self.entries.len() >= MAX_EVENTS {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            event: event.clone(),
            at: clock::unix_seconds(now),
        });
        Ok(event)
    }

    fn matches(f: &Filter, e: &Entry) -> bool {
        let b = &e.event.event;
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&f.source_service_name, &b.source.service_name)
            && eq(&f.source_host_id, &b.source.host_id)
            && eq(&f.resource_type, &b.resource.resource_type)
            && eq(&f.resource_id, &b.resource.id)
            && f.level
                .as_deref()
                .is_none_or(|l| l.eq_ignore_ascii_case(&b.level))
            && f.event_type
                .as_deref()
                .is_none_or(|p| prefix_matches(p, &b.event_type))
            && f.since.is_none_or(|s| e.at >= s)
            && f.before.is_none_or(|s| e.at < s)
    }

    /// One page of the events the filter selects, newest first.
    pub fn list(&self, f: &Filter) -> Page {
        let page = f.page.max(1);
        let limit = f.limit.clamp(1, MAX_LIMIT);
        let skip = (page - 1).saturating_mul(limit);
        let mut selected = self.entries.iter().rev().filter(|e| Self::matches(f, e));
        let results: Vec<Event> = selected
            .by_ref()
            .skip(skip)
            .take(limit)
            .map(|e| e.event.clone())
            .collect();
        let next_page = selected.next().is_some();
        Page {
            item_count: results.len(),
            results,
            next_page,
            page,
        }
    }

    pub fn get(&self, id: &str) -> Option<Event> {
        self.entries
            .iter()
            .find(|e| e.event.event_id == id)
            .map(|e| e.event.clone())
    }

    /// Deletes the events the filter selects (its page and limit are ignored); returns their ids.
    pub fn delete(&mut self, f: &Filter) -> Vec<String> {
        let mut gone = Vec::new();
        self.entries.retain(|e| {
            let hit = Self::matches(f, e);
            if hit {
                gone.push(e.event.event_id.clone());
            }
            !hit
        });
        gone
    }

    pub fn delete_one(&mut self, id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.event.event_id != id);
        self.entries.len() != before
    }
}

/// The tags the stand-in's registry does not have, so that adding one fails its registry lookup
/// as it would against a real registry: tags containing one of these words, or the words of
/// `STANDIN_MISSING_TAGS` (comma-separated) on the api service.
pub const MISSING_TAG_WORDS: [&str; 4] = [
    "does-not-exist",
    "doesnotexist",
    "nonexistent",
    "no-such-tag",
];

/// Whether the registry lookup of a tag fails.
pub fn tag_is_missing(tag: &str, extra: &[String]) -> bool {
    MISSING_TAG_WORDS.iter().any(|w| tag.contains(w))
        || extra
            .iter()
            .any(|w| !w.is_empty() && tag.contains(w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn src(service: &str) -> Source {
        Source {
            service_name: service.into(),
            host_id: format!("{service}-host"),
            base_url: format!("http://{service}:8228"),
            request_id: None,
        }
    }

    fn new(kind: Kind, service: &str, resource: &str) -> NewEvent {
        NewEvent {
            event_type: kind.fq_type(),
            source: src(service),
            account: "admin".into(),
            resource_id: resource.into(),
            details: Value::Null,
        }
    }

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_723_985_953 + s)
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn filled() -> Log {
        let mut log = Log::new();
        log.add(
            new(
                USER_ANALYSIS_COMPLETED,
                "catalog",
                "docker.io/postgres:latest",
            ),
            t(0),
        )
        .unwrap();
        log.add(
            new(ANALYSIS_COMPLETED, "analyzer", "docker.io/postgres:latest"),
            t(1),
        )
        .unwrap();
        log.add(
            new(
                REGISTRY_LOOKUP_FAILED,
                "catalog",
                "docker.io/alpine:does-not-exist",
            ),
            t(2),
        )
        .unwrap();
        log
    }

    #[test]
    fn events_take_their_level_message_and_resource_type_from_their_kind() {
        let log = filled();
        let all = log.list(&Filter::from_query(&q(&[]), false).unwrap());
        assert_eq!(all.item_count, 3);
        let newest = &all.results[0];
        assert_eq!(
            newest.event.event_type,
            "system.image_analysis.registry_lookup_failed"
        );
        assert_eq!(newest.event.level, "ERROR");
        assert_eq!(newest.event.resource.resource_type, "image_reference");
        assert_eq!(newest.event.category, "system");
        assert_eq!(newest.event_id.len(), 32);
        assert!(newest.created_at.ends_with('Z'));
        let json = serde_json::to_value(newest).unwrap();
        for p in [
            "/event_id",
            "/created_at",
            "/event/source/service_name",
            "/event/source/host_id",
            "/event/resource/id",
            "/event/resource/type",
            "/event/type",
            "/event/level",
            "/event/message",
            "/event/timestamp",
        ] {
            assert!(json.pointer(p).is_some(), "missing {p}");
        }
        assert!(Log::new()
            .add(
                NewEvent {
                    event_type: "user.image.nope".into(),
                    ..new(ANALYSIS_FAILED, "x", "y")
                },
                t(0)
            )
            .is_err());
    }

    #[test]
    fn every_filter_of_the_spec_selects() {
        let log = filled();
        let n = |pairs: &[(&str, &str)]| {
            log.list(&Filter::from_query(&q(pairs), false).unwrap())
                .item_count
        };
        assert_eq!(n(&[("level", "ERROR")]), 1);
        assert_eq!(n(&[("level", "info")]), 2);
        assert_eq!(n(&[("event_type", "user.image.")]), 1);
        assert_eq!(n(&[("event_type", "system.*completed")]), 1);
        assert_eq!(n(&[("event_type", "system.image_analysis")]), 2);
        assert_eq!(n(&[("source_service_name", "catalog")]), 2);
        assert_eq!(n(&[("source_host_id", "analyzer-host")]), 1);
        assert_eq!(n(&[("resource_type", "image_reference")]), 1);
        assert_eq!(n(&[("resource_id", "docker.io/postgres:latest")]), 2);
        assert_eq!(n(&[("since", "2024-08-18T12:59:14Z")]), 2);
        assert_eq!(n(&[("before", "2024-08-18T12:59:14Z")]), 1);
        for bad in [
            ("level", "WARN"),
            ("event_type", "User.Image"),
            ("since", "yesterday"),
            ("page", "0"),
            ("limit", "x"),
            ("limit", "5000"),
        ] {
            assert!(Filter::from_query(&q(&[bad]), false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pages_are_newest_first_and_say_whether_more_follow() {
        let log = filled();
        let p1 = log.list(&Filter::from_query(&q(&[("limit", "2")]), false).unwrap());
        assert_eq!((p1.item_count, p1.next_page, p1.page), (2, true, 1));
        assert_eq!(
            p1.results[1].event.event_type,
            "system.image_analysis.completed"
        );
        let p2 =
            log.list(&Filter::from_query(&q(&[("limit", "2"), ("page", "2")]), false).unwrap());
        assert_eq!((p2.item_count, p2.next_page), (1, false));
        assert_eq!(
            p2.results[0].event.event_type,
            "user.image.analysis.completed"
        );
        let p9 = log.list(&Filter::from_query(&q(&[("page", "9")]), false).unwrap());
        assert_eq!((p9.item_count, p9.next_page), (0, false));
    }

    #[test]
    fn deleting_by_id_and_by_filter() {
        let mut log = filled();
        let all = log.list(&Filter::from_query(&q(&[]), false).unwrap());
        let id = all.results[2].event_id.clone();
        assert!(log.get(&id).is_some());
        assert!(log.delete_one(&id));
        assert!(!log.delete_one(&id));
        assert!(log.get(&id).is_none());
        let gone = log
            .delete(&Filter::from_query(&q(&[("level", "ERROR"), ("page", "x")]), true).unwrap());
        assert_eq!(gone, vec![all.results[0].event_id.clone()]);
        assert_eq!(
            log.list(&Filter::from_query(&q(&[]), false).unwrap())
                .item_count,
            1
        );
    }

    #[test]
    fn the_log_is_bounded() {
        let mut log = Log::new();
        for i in 0..(MAX_EVENTS + 5) {
            log.add(
                new(ANALYSIS_COMPLETED, "analyzer", &format!("img{i}")),
                t(0),
            )
            .unwrap();
        }
        let f = Filter {
            limit: MAX_LIMIT,
            page: 1,
            ..Filter::default()
        };
        let newest = log.list(&f);
        assert_eq!(
            newest.results[0].event.resource.id,
            format!("img{}", MAX_EVENTS + 4)
        );
        assert_eq!(log.entries.len(), MAX_EVENTS);
        assert_eq!(log.entries[0].event.event.resource.id, "img5");
    }

    #[test]
    fn event_types_group_by_category_and_subcategory() {
        let v = event_types();
        let cats: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["category"].as_str().unwrap())
            .collect();
        assert_eq!(cats, ["user", "system"]);
        let sys = &v[1]["subcategories"];
        assert_eq!(sys[0]["name"], "image_analysis");
        assert!(sys[0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |e| e["type"] == "system.image_analysis.registry_lookup_failed"
                    && e["name"] == "registry_lookup_failed"
                    && e["resource_type"] == "image_reference"
            ));
    }

    #[test]
    fn missing_tags() {
        assert!(tag_is_missing("docker.io/alpine:does-not-exist", &[]));
        assert!(!tag_is_missing("docker.io/alpine:3.20", &[]));
        assert!(tag_is_missing("docker.io/alpine:gone", &["gone".into()]));
        assert!(!tag_is_missing("docker.io/alpine:3.20", &[String::new()]));
    }
}

//! The shared state every role reads and writes through the state owner (the `db` role), as the
//! real services share their Postgres database: image records with their analysis queue, and the
//! service registry behind `/v2/system`.
//!
//! All operations take the current time as an argument so the rules can be tested without a
//! clock, and dequeueing is a single operation under the owner's lock, so two analyzers can never
//! take the same image.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::clock;
use super::events::{self, NewEvent, Source};
use super::image::{
    can_transition, derive_image_id, AnalysisStatus, AnalysisStatusDetail, AnchoreImage,
    ContentMetadata, ImageContent, ImageDetail, ImageRef, ServiceReference, IMAGE_STATUSES,
};

/// Code and schema versions the stand-in reports (Enterprise 5.17.0, as in the S3C workshop deployment, FACTS.md §7).
pub const VERSION: &str = "5.17.0";
pub const DB_VERSION: &str = "5170";

/// Queue names simplequeue reports in `anchore_queue_length` (FACTS.md §4.1).
pub const QUEUE_NAMES: [&str; 11] = [
    "images_to_analyze",
    "event_log",
    "watcher_tasks",
    "feed_sync_tasks",
    "archive_tasks",
    "image_vulnerabilities",
    "repo_update",
    "policy_eval",
    "tag_update",
    "vuln_update",
    "analysis_update",
];

/// A request to add (or re-add) an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewImage {
    pub account: String,
    pub pull_string: String,
    pub annotations: Map<String, Value>,
    pub dockerfile: Option<String>,
    pub force: bool,
    pub source: ServiceReference,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    BadRequest(String),
    Conflict(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound => write!(f, "image not found"),
            StoreError::BadRequest(m) | StoreError::Conflict(m) => write!(f, "{m}"),
        }
    }
}

/// `StatusResponse` of the v2 API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub available: bool,
    pub busy: bool,
    pub up: bool,
    pub message: String,
    pub version: String,
    pub db_version: String,
    pub detail: Map<String, Value>,
}

impl StatusResponse {
    pub fn healthy() -> StatusResponse {
        StatusResponse {
            available: true,
            busy: false,
            up: true,
            message: "all good".to_string(),
            version: VERSION.to_string(),
            db_version: DB_VERSION.to_string(),
            detail: Map::new(),
        }
    }
}

/// `Service` of the v2 API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub host_id: String,
    pub service_name: String,
    pub base_url: String,
    pub status_message: String,
    pub service_detail: StatusResponse,
    pub status: bool,
    pub version: String,
}

/// What a service sends when it registers or heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub host_id: String,
    pub service_name: String,
    pub base_url: String,
    pub version: String,
    /// The catalog's `ANCHORE_ADMIN_PASSWORD`, sent by the catalog only: it sets the
    /// admin's password when the database is first initialised, as the real catalog does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
}

/// Record counts, for the catalog's and the queue's gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub analysis_status: Vec<(String, u64)>,
    pub image_status: Vec<(String, u64)>,
    pub queues: Vec<(String, u64)>,
}

#[derive(Serialize, Deserialize)]
struct ImageEntry {
    image: AnchoreImage,
    /// Position in the analysis queue; lower is older.
    queued: u64,
}

struct ServiceEntry {
    reg: Registration,
    last_seen: Instant,
    stopped: bool,
}

/// Saved whole by the `db` role (see `owner`), as Postgres keeps its tables on its volume; the
/// service registry is not: the running services register again within a heartbeat.
#[derive(Default, Serialize, Deserialize)]
pub struct Store {
    images: Vec<ImageEntry>,
    /// The admin's password, kept in the database like the real one: set once, by the
    /// catalog's first registration; every service checks credentials against it.
    #[serde(default)]
    admin_password: Option<String>,
    #[serde(skip)]
    services: Vec<ServiceEntry>,
    seq: u64,
    /// The event log (see [`events`]).
    pub events: events::Log,
}

fn detail_entry(
    from: AnalysisStatus,
    to: AnalysisStatus,
    source: &ServiceReference,
    now: SystemTime,
) -> AnalysisStatusDetail {
    AnalysisStatusDetail {
        from_status: from,
        to_status: to,
        timestamp: clock::api_timestamp(now),
        source: source.clone(),
    }
}

impl Store {
    pub fn new() -> Store {
        Store {
            admin_password: None,
            events: events::Log::new(),
            ..Store::default()
        }
    }

    /// Where an event raised by `service_name` on `host_id` comes from; with no `host_id`, the
    /// first registered instance of the service (the catalog raises the user's events).
    pub fn event_source(&self, service_name: &str, host_id: Option<&str>) -> Source {
        let known = self.services.iter().find(|s| {
            s.reg.service_name == service_name && host_id.is_none_or(|h| s.reg.host_id == h)
        });
        match known {
            Some(s) => Source {
                service_name: s.reg.service_name.clone(),
                host_id: s.reg.host_id.clone(),
                base_url: s.reg.base_url.clone(),
                request_id: None,
            },
            None => Source {
                service_name: service_name.to_string(),
                host_id: host_id.unwrap_or(service_name).to_string(),
                base_url: format!("http://{service_name}:8228"),
                request_id: None,
            },
        }
    }

    /// The events an analysis's outcome raises: the analyzer's system event and the catalog's
    /// user event.
    fn analysis_events(&mut self, img: &AnchoreImage, by: &ServiceReference, now: SystemTime) {
        let (system, user) = match img.analysis_status {
            AnalysisStatus::Analyzed => {
                (events::ANALYSIS_COMPLETED, events::USER_ANALYSIS_COMPLETED)
            }
            AnalysisStatus::AnalysisFailed => {
                (events::ANALYSIS_FAILED, events::USER_ANALYSIS_FAILED)
            }
            _ => return,
        };
        let tag = img
            .image_detail
            .first()
            .map(|d| d.full_tag.clone())
            .unwrap_or_default();
        let system_resource = if system.resource_type == "image_digest" {
            img.image_digest.clone()
        } else {
            tag.clone()
        };
        let details = serde_json::json!({"image_digest": img.image_digest, "full_tag": tag});
        let analyzer = self.event_source(&by.service_name, Some(&by.host_id));
        let catalog = self.event_source("catalog", None);
        for (kind, source, resource) in [(system, analyzer, system_resource), (user, catalog, tag)]
        {
            let _ = self.events.add(
                NewEvent {
                    event_type: kind.fq_type(),
                    source,
                    account: img.account_name.clone(),
                    resource_id: resource,
                    details: details.clone(),
                },
                now,
            );
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Adds an image, or returns the existing record for its digest: with a new tag for the
    /// same digest the tag is added to `image_detail`; with `force` a finished analysis is
    /// re-queued. The bool is true when a record was created.
    pub fn add_image(
        &mut self,
        new: NewImage,
        now: SystemTime,
    ) -> Result<(AnchoreImage, bool), StoreError> {
        let r = ImageRef::parse(&new.pull_string).map_err(StoreError::BadRequest)?;
        let digest = r.digest();
        let ts = clock::api_timestamp(now);
        let detail = ImageDetail {
            created_at: ts.clone(),
            last_updated: ts.clone(),
            full_tag: r.full_tag(),
            full_digest: r.full_digest(),
            account_name: new.account.clone(),
            image_id: derive_image_id(&digest),
            registry: r.registry.clone(),
            repo: r.repo.clone(),
            dockerfile: new.dockerfile.clone(),
            image_digest: digest.clone(),
            tag: r.tag.clone(),
            tag_detected_at: ts.clone(),
        };
        let seq = self.next_seq();
        if let Some(e) = self
            .images
            .iter_mut()
            .find(|e| e.image.image_digest == digest && e.image.account_name == new.account)
        {
            let img = &mut e.image;
            if !img
                .image_detail
                .iter()
                .any(|d| d.full_tag == detail.full_tag)
            {
                img.image_detail.push(detail);
                img.last_updated = ts.clone();
            }
            if !new.annotations.is_empty() {
                img.annotations = new.annotations;
            }
            if new.force && img.analysis_status.is_final() {
                let from = img.analysis_status;
                img.analysis_status = AnalysisStatus::NotAnalyzed;
                img.analysis_status_detail.push(detail_entry(
                    from,
                    AnalysisStatus::NotAnalyzed,
                    &new.source,
                    now,
                ));
                img.last_updated = ts;
                e.queued = seq;
            }
            return Ok((e.image.clone(), false));
        }
        let image = AnchoreImage {
            image_digest: digest.clone(),
            parent_digest: digest,
            account_name: new.account,
            image_status: "active".to_string(),
            analysis_status: AnalysisStatus::NotAnalyzed,
            analysis_status_detail: Vec::new(),
            image_detail: vec![detail],
            image_content: ImageContent::default(),
            annotations: new.annotations,
            created_at: ts.clone(),
            last_updated: ts,
            record_version: "v1".to_string(),
        };
        self.images.push(ImageEntry {
            image: image.clone(),
            queued: seq,
        });
        Ok((image, true))
    }

    pub fn get(&self, digest: &str) -> Option<AnchoreImage> {
        self.images
            .iter()
            .find(|e| e.image.image_digest == digest)
            .map(|e| e.image.clone())
    }

    /// All records, oldest first.
    pub fn list(&self) -> Vec<AnchoreImage> {
        self.images.iter().map(|e| e.image.clone()).collect()
    }

    /// Takes the oldest queued image and marks it `analyzing` in the same step.
    pub fn dequeue(&mut self, source: &ServiceReference, now: SystemTime) -> Option<AnchoreImage> {
        let e = self
            .images
            .iter_mut()
            .filter(|e| e.image.analysis_status == AnalysisStatus::NotAnalyzed)
            .min_by_key(|e| e.queued)?;
        let img = &mut e.image;
        img.analysis_status_detail.push(detail_entry(
            AnalysisStatus::NotAnalyzed,
            AnalysisStatus::Analyzing,
            source,
            now,
        ));
        img.analysis_status = AnalysisStatus::Analyzing;
        img.last_updated = clock::api_timestamp(now);
        Some(img.clone())
    }

    /// Moves an image along the state machine; `content` is stored on success.
    pub fn transition(
        &mut self,
        digest: &str,
        to: AnalysisStatus,
        source: &ServiceReference,
        content: Option<ContentMetadata>,
        now: SystemTime,
    ) -> Result<AnchoreImage, StoreError> {
        let seq = self.next_seq();
        let e = self
            .images
            .iter_mut()
            .find(|e| e.image.image_digest == digest)
            .ok_or(StoreError::NotFound)?;
        let from = e.image.analysis_status;
        if !can_transition(from, to) {
            return Err(StoreError::Conflict(format!(
                "cannot move image {digest} from {} to {}",
                from.as_str(),
                to.as_str()
            )));
        }
        let img = &mut e.image;
        img.analysis_status_detail
            .push(detail_entry(from, to, source, now));
        img.analysis_status = to;
        img.last_updated = clock::api_timestamp(now);
        if to == AnalysisStatus::Analyzed {
            if let Some(meta) = content {
                img.image_content = ImageContent {
                    metadata: Some(meta),
                };
            }
        }
        if to == AnalysisStatus::NotAnalyzed {
            // An interrupted analysis goes back to the head of the line it had.
            if from != AnalysisStatus::Analyzing {
                e.queued = seq;
            }
        }
        let img = e.image.clone();
        self.analysis_events(&img, source, now);
        Ok(img)
    }

    pub fn counts(&self) -> Counts {
        let analysis_status = AnalysisStatus::ALL
            .iter()
            .map(|s| {
                let n = self
                    .images
                    .iter()
                    .filter(|e| e.image.analysis_status == *s)
                    .count() as u64;
                (s.as_str().to_string(), n)
            })
            .collect();
        let image_status = IMAGE_STATUSES
            .iter()
            .map(|s| {
                let n = self
                    .images
                    .iter()
                    .filter(|e| e.image.image_status == *s)
                    .count() as u64;
                (s.to_string(), n)
            })
            .collect();
        let queued = self
            .images
            .iter()
            .filter(|e| e.image.analysis_status == AnalysisStatus::NotAnalyzed)
            .count() as u64;
        let queues = QUEUE_NAMES
            .iter()
            .map(|q| {
                let n = if *q == "images_to_analyze" { queued } else { 0 };
                (q.to_string(), n)
            })
            .collect();
        Counts {
            analysis_status,
            image_status,
            queues,
        }
    }

    /// The admin's password, once the catalog has set it.
    pub fn admin_password(&self) -> Option<&str> {
        self.admin_password.as_deref()
    }

    /// Records a registration or heartbeat; services are listed in first-registration order.
    /// The catalog's first registration with a password sets the admin's (later ones,
    /// and other services, change nothing: the database keeps the first).
    pub fn register(&mut self, mut reg: Registration, now: Instant) {
        let password = reg.admin_password.take();
        if self.admin_password.is_none() && reg.service_name == "catalog" {
            self.admin_password = password;
        }
        match self
            .services
            .iter_mut()
            .find(|s| s.reg.service_name == reg.service_name && s.reg.host_id == reg.host_id)
        {
            Some(s) => {
                s.reg = reg;
                s.last_seen = now;
                s.stopped = false;
            }
            None => self.services.push(ServiceEntry {
                reg,
                last_seen: now,
                stopped: false,
            }),
        }
    }

    /// Marks a service as stopped (it said so on its way out). False when it was not known.
    pub fn deregister(&mut self, service_name: &str, host_id: &str) -> bool {
        match self
            .services
            .iter_mut()
            .find(|s| s.reg.service_name == service_name && s.reg.host_id == host_id)
        {
            Some(s) => {
                s.stopped = true;
                true
            }
            None => false,
        }
    }

    /// The registry as the API shows it: a service is up while it heartbeats.
    pub fn services(&self, now: Instant, stale_after: Duration) -> Vec<Service> {
        self.services
            .iter()
            .map(|s| {
                let up = !s.stopped && now.duration_since(s.last_seen) <= stale_after;
                let mut detail = StatusResponse::healthy();
                if !up {
                    detail.available = false;
                    detail.up = false;
                    detail.message = "service is not responding".to_string();
                }
                Service {
                    host_id: s.reg.host_id.clone(),
                    service_name: s.reg.service_name.clone(),
                    base_url: s.reg.base_url.clone(),
                    status_message: if up { "available" } else { "unavailable" }.to_string(),
                    service_detail: detail,
                    status: up,
                    version: s.reg.version.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;
    use AnalysisStatus::*;

    fn src(name: &str) -> ServiceReference {
        ServiceReference {
            host_id: format!("{name}-host"),
            service_name: name.to_string(),
        }
    }

    fn new(pull: &str) -> NewImage {
        NewImage {
            account: "admin".to_string(),
            pull_string: pull.to_string(),
            annotations: Map::new(),
            dockerfile: None,
            force: false,
            source: src("apiext"),
        }
    }

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_723_985_953 + s)
    }

    #[test]
    fn add_creates_a_queued_record_shaped_like_the_api() {
        let mut st = Store::new();
        let (img, created) = st
            .add_image(new("docker.io/library/postgres:latest"), t(0))
            .unwrap();
        assert!(created);
        assert_eq!(img.analysis_status, NotAnalyzed);
        assert_eq!(img.image_status, "active");
        let d = &img.image_detail[0];
        assert_eq!(d.full_tag, "docker.io/library/postgres:latest");
        assert_eq!(
            (d.registry.as_str(), d.repo.as_str(), d.tag.as_str()),
            ("docker.io", "library/postgres", "latest")
        );
        assert_eq!(
            d.full_digest,
            format!("docker.io/library/postgres@{}", img.image_digest)
        );
        assert_eq!(img.created_at, "2024-08-18T12:59:13Z");
        let json = serde_json::to_value(&img).unwrap();
        for key in [
            "image_digest",
            "parent_digest",
            "analysis_status",
            "analysis_status_detail",
            "image_detail",
            "image_content",
            "annotations",
            "record_version",
            "last_updated",
            "created_at",
            "account_name",
            "image_status",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["analysis_status"], "not_analyzed");
        assert!(st.add_image(new("Bad Ref"), t(0)).is_err());
    }

    #[test]
    fn re_adding_keeps_one_record_and_collects_tags() {
        let mut st = Store::new();
        let (a, _) = st.add_image(new("postgres"), t(0)).unwrap();
        let (b, created) = st
            .add_image(new("docker.io/library/postgres:latest"), t(1))
            .unwrap();
        assert!(!created);
        assert_eq!(a.image_digest, b.image_digest);
        assert_eq!(b.image_detail.len(), 2);
        assert_eq!(st.list().len(), 1);
    }

    #[test]
    fn dequeue_is_fifo_and_never_hands_out_an_image_twice() {
        let mut st = Store::new();
        let (x, _) = st.add_image(new("x"), t(0)).unwrap();
        let (y, _) = st.add_image(new("y"), t(0)).unwrap();
        let first = st.dequeue(&src("analyzer-1"), t(1)).unwrap();
        let second = st.dequeue(&src("analyzer-2"), t(1)).unwrap();
        assert_eq!(first.image_digest, x.image_digest);
        assert_eq!(second.image_digest, y.image_digest);
        assert!(st.dequeue(&src("analyzer-1"), t(2)).is_none());
        assert_eq!(first.analysis_status, Analyzing);
        assert_eq!(
            first.analysis_status_detail[0].source.host_id,
            "analyzer-1-host"
        );
        assert_eq!(st.counts().queues[0], ("images_to_analyze".to_string(), 0));
    }

    #[test]
    fn analysis_outcomes_follow_the_state_machine() {
        let mut st = Store::new();
        let (x, _) = st.add_image(new("x"), t(0)).unwrap();
        let a = src("analyzer");
        // Cannot finish what was never started.
        assert!(matches!(
            st.transition(&x.image_digest, Analyzed, &a, None, t(1)),
            Err(StoreError::Conflict(_))
        ));
        st.dequeue(&a, t(1)).unwrap();
        let meta = ContentMetadata {
            arch: "amd64".into(),
            distro: "debian".into(),
            distro_version: "12".into(),
            dockerfile_mode: "Guessed".into(),
            image_size: 1,
            layer_count: 14,
        };
        let done = st
            .transition(&x.image_digest, Analyzed, &a, Some(meta), t(4))
            .unwrap();
        assert_eq!(done.analysis_status, Analyzed);
        assert_eq!(
            done.image_content.metadata.as_ref().unwrap().layer_count,
            14
        );
        let steps: Vec<(AnalysisStatus, AnalysisStatus)> = done
            .analysis_status_detail
            .iter()
            .map(|d| (d.from_status, d.to_status))
            .collect();
        assert_eq!(steps, vec![(NotAnalyzed, Analyzing), (Analyzing, Analyzed)]);
        assert_eq!(
            st.transition("sha256:nope", Analyzed, &a, None, t(5)),
            Err(StoreError::NotFound)
        );
        let counts = st.counts();
        assert_eq!(counts.analysis_status[2], ("analyzed".to_string(), 1));
        assert_eq!(counts.image_status[0], ("active".to_string(), 1));
    }

    #[test]
    fn force_requeues_a_finished_image_and_interrupted_work_keeps_its_place() {
        let mut st = Store::new();
        let (x, _) = st.add_image(new("x"), t(0)).unwrap();
        let (y, _) = st.add_image(new("y"), t(0)).unwrap();
        let a = src("analyzer");
        st.dequeue(&a, t(1)).unwrap();
        st.transition(&x.image_digest, NotAnalyzed, &a, None, t(2))
            .unwrap();
        assert_eq!(st.dequeue(&a, t(3)).unwrap().image_digest, x.image_digest);
        st.transition(&x.image_digest, AnalysisFailed, &a, None, t(4))
            .unwrap();
        let mut again = new("x");
        again.force = true;
        let (x2, created) = st.add_image(again, t(5)).unwrap();
        assert!(!created);
        assert_eq!(x2.analysis_status, NotAnalyzed);
        // y was queued before x was forced back in.
        assert_eq!(st.dequeue(&a, t(6)).unwrap().image_digest, y.image_digest);
        // Without force, re-adding a failed image leaves it alone.
        st.transition(&y.image_digest, AnalysisFailed, &a, None, t(7))
            .unwrap();
        let (y2, _) = st.add_image(new("y"), t(8)).unwrap();
        assert_eq!(y2.analysis_status, AnalysisFailed);
    }

    /// One admin account, as the database keeps it: the catalog's first registration
    /// with `ANCHORE_ADMIN_PASSWORD` sets it (Anchore's 5.17 workshop file sets the
    /// variable on the catalog and the queue only); other services' values and later
    /// registrations change nothing, and the store carries it to a restart.
    #[test]
    fn the_catalog_sets_the_one_admin_password_once() {
        let reg = |name: &str, pw: Option<&str>| Registration {
            host_id: format!("{name}-1"),
            service_name: name.into(),
            base_url: format!("http://{name}:8228"),
            version: VERSION.into(),
            admin_password: pw.map(String::from),
        };
        let mut st = Store::new();
        let t0 = Instant::now();
        st.register(reg("queue", Some("from-queue")), t0);
        assert_eq!(st.admin_password(), None);
        st.register(reg("catalog", Some("anchore12345")), t0);
        st.register(reg("catalog", Some("changed-later")), t0);
        st.register(reg("api", None), t0);
        assert_eq!(st.admin_password(), Some("anchore12345"));
        let saved = serde_json::to_string(&st).unwrap();
        assert!(!saved.contains("changed-later") && !saved.contains("from-queue"));
        let back: Store = serde_json::from_str(&saved).unwrap();
        assert_eq!(back.admin_password(), Some("anchore12345"));
    }

    #[test]
    fn services_go_down_when_they_stop_heartbeating_or_say_goodbye() {
        let mut st = Store::new();
        let t0 = Instant::now();
        for name in ["catalog", "analyzer"] {
            st.register(
                Registration {
                    host_id: format!("{name}-1"),
                    service_name: name.into(),
                    base_url: format!("http://{name}:8228"),
                    version: VERSION.into(),
                    admin_password: None,
                },
                t0,
            );
        }
        let stale = Duration::from_secs(6);
        let s = st.services(t0 + Duration::from_secs(1), stale);
        assert_eq!(
            s.iter()
                .map(|s| (s.service_name.as_str(), s.status))
                .collect::<Vec<_>>(),
            vec![("catalog", true), ("analyzer", true)]
        );
        assert_eq!(s[0].status_message, "available");
        assert_eq!(s[0].service_detail.db_version, DB_VERSION);
        assert!(st.deregister("analyzer", "analyzer-1"));
        assert!(!st.deregister("analyzer", "other"));
        let s = st.services(t0 + Duration::from_secs(7), stale);
        assert!(!s[0].status && !s[1].status);
        assert_eq!(s[1].status_message, "unavailable");
    }
}

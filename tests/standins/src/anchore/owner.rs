//! The `db` role's internal HTTP API over the shared [`Store`]: where the other roles keep and
//! read state, as the real ones do in Postgres. Not part of Anchore's API; no authentication,
//! because it is only reachable on the deployment's network.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::client::{AddResponse, DequeueResponse, OwnerMessage, TransitionRequest};
use super::events::{Filter, NewEvent};
use super::image::ServiceReference;
use super::store::{NewImage, Registration, Store, StoreError};

pub struct Owner {
    store: Mutex<Store>,
    /// A service that has not heartbeated for this long is shown as down.
    stale_after: Duration,
    /// Where the store is saved after every change and read at start (`None`: in memory).
    state_file: Option<PathBuf>,
}

type Shared = Arc<Owner>;

/// The file in the data folder that holds the store.
pub const STATE_FILE: &str = "standin-state.json";

impl Owner {
    pub fn new(stale_after: Duration) -> Shared {
        Arc::new(Owner {
            store: Mutex::new(Store::new()),
            stale_after,
            state_file: None,
        })
    }

    /// An owner whose store lives in `data_dir` (the database's volume): read from its
    /// state file when there is one, saved there (atomically) after every change, so the
    /// images and events survive a restart and a copy of the volume carries them.
    pub fn persistent(stale_after: Duration, data_dir: &std::path::Path) -> Result<Shared, String> {
        let file = data_dir.join(STATE_FILE);
        let store = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice::<Store>(&bytes)
                .map_err(|e| format!("{} is not a saved store: {e}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Store::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        Ok(Arc::new(Owner {
            store: Mutex::new(store),
            stale_after,
            state_file: Some(file),
        }))
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A change to the store, saved before the answer goes out (under the lock, so
    /// saves happen in the order of the changes).
    fn change<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        self.change_when(|s| (f(s), true))
    }

    /// A request that may change what is saved: `f` says whether it did, and only then is
    /// the store written. Heartbeats (every service every 2 s) and the analyzer's polls of
    /// an empty queue (every 200 ms) change nothing saved; writing the whole store (images
    /// and event log) for each kept a stack's db busy on 2.5 % of a core, idle.
    fn change_when<T>(&self, f: impl FnOnce(&mut Store) -> (T, bool)) -> T {
        let mut store = self.store();
        let (out, changed) = f(&mut store);
        if let (true, Some(file)) = (changed, &self.state_file) {
            if let Err(e) = save(&store, file) {
                eprintln!("anchore-standin: cannot save the store: {e}");
            }
        }
        out
    }
}

/// Writes the store to `file` atomically (a temporary file beside it, then a rename).
fn save(store: &Store, file: &std::path::Path) -> Result<(), String> {
    let bytes = serde_json::to_vec(store).map_err(|e| e.to_string())?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("{}: {e}", file.display()))
}

fn message(status: StatusCode, m: impl Into<String>) -> Response {
    (status, Json(OwnerMessage { message: m.into() })).into_response()
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad request body: {e}"))
}

fn bad(m: String) -> Response {
    message(StatusCode::BAD_REQUEST, m)
}

fn store_error(e: StoreError) -> Response {
    let status = match e {
        StoreError::NotFound => StatusCode::NOT_FOUND,
        StoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
        StoreError::Conflict(_) => StatusCode::CONFLICT,
    };
    message(status, e.to_string())
}

pub fn router(owner: Shared) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/internal/services", post(register).get(services))
        .route("/internal/services/{name}/{host}", delete(deregister))
        .route("/internal/images", post(add_image).get(list_images))
        .route("/internal/images/{digest}", get(get_image))
        .route("/internal/images/{digest}/transition", post(transition))
        .route("/internal/queues/images_to_analyze/dequeue", post(dequeue))
        .route("/internal/counts", get(counts))
        .route("/internal/events", post(add_event))
        .route("/internal/events/query", post(query_events))
        .route("/internal/events/delete", post(delete_events))
        .route("/internal/events/{id}", get(get_event).delete(delete_event))
        .fallback(|| async { message(StatusCode::NOT_FOUND, "no such internal route") })
        .with_state(owner)
}

async fn register(State(o): State<Shared>, body: Bytes) -> Response {
    match parse::<Registration>(&body) {
        Ok(reg) => {
            // Saved: the admin's password is set by the catalog's first registration.
            let admin = o.change_when(|s| {
                let had = s.admin_password().is_some();
                s.register(reg, Instant::now());
                let admin = s.admin_password().map(str::to_string);
                let set_now = !had && admin.is_some();
                (admin, set_now)
            });
            Json(json!({"admin_password": admin})).into_response()
        }
        Err(m) => bad(m),
    }
}

async fn deregister(
    State(o): State<Shared>,
    Path((name, host)): Path<(String, String)>,
) -> Response {
    if o.store().deregister(&name, &host) {
        Json(json!({})).into_response()
    } else {
        message(
            StatusCode::NOT_FOUND,
            format!("no service {name} on {host}"),
        )
    }
}

async fn services(State(o): State<Shared>) -> Response {
    Json(o.store().services(Instant::now(), o.stale_after)).into_response()
}

async fn add_image(State(o): State<Shared>, body: Bytes) -> Response {
    let new = match parse::<NewImage>(&body) {
        Ok(n) => n,
        Err(m) => return bad(m),
    };
    match o.change(|s| s.add_image(new, SystemTime::now())) {
        Ok((image, created)) => Json(AddResponse { image, created }).into_response(),
        Err(e) => store_error(e),
    }
}

async fn list_images(State(o): State<Shared>) -> Response {
    Json(o.store().list()).into_response()
}

async fn get_image(State(o): State<Shared>, Path(digest): Path<String>) -> Response {
    match o.store().get(&digest) {
        Some(img) => Json(img).into_response(),
        None => store_error(StoreError::NotFound),
    }
}

async fn dequeue(State(o): State<Shared>, body: Bytes) -> Response {
    let source = match parse::<ServiceReference>(&body) {
        Ok(s) => s,
        Err(m) => return bad(m),
    };
    let image = o.change_when(|s| {
        let image = s.dequeue(&source, SystemTime::now());
        let taken = image.is_some();
        (image, taken)
    });
    Json(DequeueResponse { image }).into_response()
}

async fn transition(State(o): State<Shared>, Path(digest): Path<String>, body: Bytes) -> Response {
    let req = match parse::<TransitionRequest>(&body) {
        Ok(r) => r,
        Err(m) => return bad(m),
    };
    match o.change(|s| s.transition(&digest, req.to, &req.source, req.content, SystemTime::now())) {
        Ok(img) => Json(img).into_response(),
        Err(e) => store_error(e),
    }
}

async fn counts(State(o): State<Shared>) -> Response {
    Json(o.store().counts()).into_response()
}

async fn add_event(State(o): State<Shared>, body: Bytes) -> Response {
    match parse::<NewEvent>(&body) {
        Ok(new) => match o.change(|s| s.events.add(new, SystemTime::now())) {
            Ok(e) => Json(e).into_response(),
            Err(m) => bad(m),
        },
        Err(m) => bad(m),
    }
}

async fn query_events(State(o): State<Shared>, body: Bytes) -> Response {
    match parse::<Filter>(&body) {
        Ok(f) => Json(o.store().events.list(&f)).into_response(),
        Err(m) => bad(m),
    }
}

async fn delete_events(State(o): State<Shared>, body: Bytes) -> Response {
    match parse::<Filter>(&body) {
        Ok(f) => Json(o.change(|s| s.events.delete(&f))).into_response(),
        Err(m) => bad(m),
    }
}

async fn get_event(State(o): State<Shared>, Path(id): Path<String>) -> Response {
    match o.store().events.get(&id) {
        Some(e) => Json(e).into_response(),
        None => message(StatusCode::NOT_FOUND, format!("no event {id}")),
    }
}

async fn delete_event(State(o): State<Shared>, Path(id): Path<String>) -> Response {
    if o.change(|s| s.events.delete_one(&id)) {
        Json(json!({})).into_response()
    } else {
        message(StatusCode::NOT_FOUND, format!("no event {id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchore::image::AnalysisStatus;
    use serde_json::Map;

    fn new(pull: &str) -> NewImage {
        NewImage {
            account: "admin".to_string(),
            pull_string: pull.to_string(),
            annotations: Map::new(),
            dockerfile: None,
            force: false,
            source: ServiceReference {
                host_id: "api-host".into(),
                service_name: "apiext".into(),
            },
        }
    }

    #[test]
    fn a_persistent_store_comes_back_from_its_data_folder_with_images_queue_and_events() {
        let dir = std::env::temp_dir().join(format!("owner-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let stale = Duration::from_secs(6);
        let analyzer = ServiceReference {
            host_id: "analyzer-host".into(),
            service_name: "analyzer".into(),
        };
        let (first, second) = {
            let o = Owner::persistent(stale, &dir).unwrap();
            let now = SystemTime::now();
            let (a, _) = o
                .change(|s| s.add_image(new("docker.io/library/alpine:latest"), now))
                .unwrap();
            let (b, _) = o
                .change(|s| s.add_image(new("docker.io/library/nginx:latest"), now))
                .unwrap();
            let taken = o.change(|s| s.dequeue(&analyzer, now)).unwrap();
            assert_eq!(taken.image_digest, a.image_digest);
            o.change(|s| {
                s.transition(
                    &a.image_digest,
                    AnalysisStatus::Analyzed,
                    &analyzer,
                    None,
                    now,
                )
            })
            .unwrap();
            (a, b)
        };
        // No temporary file is left beside the state.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [STATE_FILE]);

        let again = Owner::persistent(stale, &dir).unwrap();
        let images = again.store().list();
        assert_eq!(images.len(), 2);
        let status = |d: &str| {
            images
                .iter()
                .find(|i| i.image_digest == d)
                .map(|i| i.analysis_status)
        };
        assert_eq!(status(&first.image_digest), Some(AnalysisStatus::Analyzed));
        // The queue position came back too: nginx is next.
        let next = again
            .change(|s| s.dequeue(&analyzer, SystemTime::now()))
            .unwrap();
        assert_eq!(next.image_digest, second.image_digest);
        // The analysis's events (the analyzer's and the catalog's) came back too.
        let before = {
            let o = Owner::persistent(stale, &dir).unwrap();
            let n = o
                .store()
                .events
                .list(&Filter {
                    limit: 100,
                    page: 1,
                    ..Filter::default()
                })
                .item_count;
            n
        };
        assert!(before >= 2, "{before} events");
        let page = again.store().events.list(&Filter {
            limit: 100,
            page: 1,
            ..Filter::default()
        });
        assert_eq!(page.item_count, before);
        let text = serde_json::to_string(&page.results).unwrap();
        assert!(text.contains(&first.image_digest), "{text}");

        // A file that is not a store is refused, not silently replaced.
        std::fs::write(dir.join(STATE_FILE), b"{not json").unwrap();
        assert!(Owner::persistent(stale, &dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn heartbeats_and_empty_polls_write_nothing_and_the_first_password_is_written() {
        let dir = std::env::temp_dir().join(format!("owner-quiet-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let o = Owner::persistent(Duration::from_secs(6), &dir).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let register = |service: &str, password: Option<&str>| {
            let body = serde_json::to_vec(&json!({
                "host_id": format!("{service}-host"),
                "service_name": service,
                "base_url": format!("http://{service}:8228"),
                "version": "5.17.0",
                "admin_password": password,
            }))
            .unwrap();
            rt.block_on(register(State(o.clone()), Bytes::from(body)))
                .status()
        };
        let dequeue = || {
            let body =
                serde_json::to_vec(&json!({"host_id": "a", "service_name": "analyzer"})).unwrap();
            rt.block_on(dequeue(State(o.clone()), Bytes::from(body)))
                .status()
        };
        let file = dir.join(STATE_FILE);
        assert_eq!(register("analyzer", None), StatusCode::OK);
        assert_eq!(dequeue(), StatusCode::OK);
        assert!(
            !file.exists(),
            "a heartbeat and an empty poll wrote the store"
        );
        assert_eq!(register("catalog", Some("foobar")), StatusCode::OK);
        let written = std::fs::read(&file).expect("the password set by the catalog is saved");
        assert!(String::from_utf8_lossy(&written).contains("foobar"));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(register("catalog", Some("foobar")), StatusCode::OK);
        assert!(
            !file.exists(),
            "the catalog's next heartbeat wrote the store"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

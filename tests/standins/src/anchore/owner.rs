//! The `db` role's internal HTTP API over the shared [`Store`]: where the other roles keep and
//! read state, as the real ones do in Postgres. Not part of Anchore's API; no authentication,
//! because it is only reachable on the deployment's network.

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
}

type Shared = Arc<Owner>;

impl Owner {
    pub fn new(stale_after: Duration) -> Shared {
        Arc::new(Owner {
            store: Mutex::new(Store::new()),
            stale_after,
        })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
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
            o.store().register(reg, Instant::now());
            Json(json!({})).into_response()
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
    match o.store().add_image(new, SystemTime::now()) {
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
    let image = o.store().dequeue(&source, SystemTime::now());
    Json(DequeueResponse { image }).into_response()
}

async fn transition(State(o): State<Shared>, Path(digest): Path<String>, body: Bytes) -> Response {
    let req = match parse::<TransitionRequest>(&body) {
        Ok(r) => r,
        Err(m) => return bad(m),
    };
    match o
        .store()
        .transition(&digest, req.to, &req.source, req.content, SystemTime::now())
    {
        Ok(img) => Json(img).into_response(),
        Err(e) => store_error(e),
    }
}

async fn counts(State(o): State<Shared>) -> Response {
    Json(o.store().counts()).into_response()
}

async fn add_event(State(o): State<Shared>, body: Bytes) -> Response {
    match parse::<NewEvent>(&body) {
        Ok(new) => match o.store().events.add(new, SystemTime::now()) {
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
        Ok(f) => Json(o.store().events.delete(&f)).into_response(),
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
    if o.store().events.delete_one(&id) {
        Json(json!({})).into_response()
    } else {
        message(StatusCode::NOT_FOUND, format!("no event {id}"))
    }
}

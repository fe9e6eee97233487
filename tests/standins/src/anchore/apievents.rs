//! The event routes of the v2 API (`/v2/events`, `/v2/events/{event_id}`, `/v2/event-types`)
//! and the catalog's registry lookup, which records `registry_lookup_failed` when an image is
//! added whose tag the registry does not have (see [`super::events`]).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::client::OwnerError;
use super::events::{self, Filter, NewEvent, Source};
use super::image::ImageRef;
use super::server::{api_error, authorized, bad_request, unauthorized, App, Shared};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v2/events", get(list_events).delete(delete_events))
        .route("/v2/events/{event_id}", get(get_event).delete(delete_event))
        .route("/v2/event-types", get(list_event_types))
}

type QueryParams = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn failure(e: OwnerError) -> Response {
    match e {
        OwnerError::Status(404, _) => {
            api_error(StatusCode::NOT_FOUND, "ResourceNotFound", "Event not found")
        }
        OwnerError::Status(400, m) => bad_request(m),
        other => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            other.to_string(),
        ),
    }
}

fn filter(q: QueryParams, delete: bool) -> Result<Filter, String> {
    let Query(q) = q.map_err(|e| format!("invalid query string: {e}"))?;
    Filter::from_query(&q, delete)
}

/// An event id is the hex of a UUID; anything else cannot name one.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn list_events(State(app): State<Shared>, headers: HeaderMap, q: QueryParams) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let f = match filter(q, false) {
        Ok(f) => f,
        Err(m) => return bad_request(m),
    };
    match app.owner.events(&f).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => failure(e),
    }
}

async fn delete_events(State(app): State<Shared>, headers: HeaderMap, q: QueryParams) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let f = match filter(q, true) {
        Ok(f) => f,
        Err(m) => return bad_request(m),
    };
    match app.owner.delete_events(&f).await {
        Ok(ids) => Json(ids).into_response(),
        Err(e) => failure(e),
    }
}

async fn get_event(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    if !valid_id(&id) {
        return api_error(StatusCode::NOT_FOUND, "ResourceNotFound", "Event not found");
    }
    match app.owner.event(&id).await {
        Ok(e) => Json(e).into_response(),
        Err(e) => failure(e),
    }
}

async fn delete_event(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    if !valid_id(&id) {
        return api_error(StatusCode::NOT_FOUND, "ResourceNotFound", "Event not found");
    }
    match app.owner.delete_event(&id).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => failure(e),
    }
}

async fn list_event_types(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    Json(events::event_types()).into_response()
}

/// The words of `STANDIN_MISSING_TAGS`, beside the built-in ones.
fn extra_missing_words() -> Vec<String> {
    std::env::var("STANDIN_MISSING_TAGS")
        .unwrap_or_default()
        .split(',')
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The catalog's registry lookup of an image being added. When the registry does not have the
/// tag, records `registry_lookup_failed` (from the catalog, as the engine does) and returns the
/// API's answer; else `None`.
pub async fn registry_lookup(app: &App, account: &str, pull_string: &str) -> Option<Response> {
    let r = ImageRef::parse(pull_string).ok()?;
    if !events::tag_is_missing(&r.tag, &extra_missing_words()) {
        return None;
    }
    let full_tag = r.full_tag();
    let source = match app.owner.services().await {
        Ok(s) => s
            .into_iter()
            .find(|s| s.service_name == "catalog")
            .map(|s| Source {
                service_name: s.service_name,
                host_id: s.host_id,
                base_url: s.base_url,
                request_id: None,
            }),
        Err(_) => None,
    }
    .unwrap_or_else(|| Source {
        service_name: "catalog".into(),
        host_id: "catalog".into(),
        base_url: "http://catalog:8228".into(),
        request_id: None,
    });
    let detail =
        format!("cannot fetch image digest/manifest from registry: {full_tag}: manifest unknown");
    let new = NewEvent {
        event_type: events::REGISTRY_LOOKUP_FAILED.fq_type(),
        source,
        account: account.to_string(),
        resource_id: full_tag.clone(),
        details: json!({"error_code": "REGISTRY_IMAGE_NOT_FOUND", "message": detail}),
    };
    if let Err(e) = app.owner.add_event(&new).await {
        return Some(failure(e));
    }
    Some(api_error(StatusCode::NOT_FOUND, "ResourceNotFound", detail))
}

//! The external v2 API of the `apiext` role: status, system, and adding, listing and getting
//! images, with the request validation and response shapes of the OpenAPI spec (FACTS.md §6).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::analysis;
use super::client::OwnerError;
use super::config::parse_bool;
use super::image::{is_digest, AnalysisStatus, ImageRef, ListFilter, ServiceReference};
use super::server::{api_error, authorized, bad_request, unauthorized, Shared};
use super::store::{NewImage, StatusResponse};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v2/status", get(get_status))
        .route("/v2/system", get(get_service_detail))
        .route("/v2/system/services", get(list_services))
        .route("/v2/images", get(list_images).post(add_image))
        .route("/v2/images/{image_digest}", get(get_image))
        .merge(super::apievents::routes())
}

type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

fn query(q: QueryParams) -> Result<HashMap<String, String>, String> {
    q.map(|Query(m)| m)
        .map_err(|e| format!("invalid query string: {e}"))
}

fn owner_failure(e: OwnerError) -> Response {
    match e {
        OwnerError::Status(404, m) => api_error(StatusCode::NOT_FOUND, "ResourceNotFound", m),
        OwnerError::Status(400, m) => api_error(StatusCode::BAD_REQUEST, "ValidationError", m),
        OwnerError::Status(409, m) => api_error(StatusCode::CONFLICT, "Conflict", m),
        other => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            other.to_string(),
        ),
    }
}

fn bool_param(q: &HashMap<String, String>, name: &str) -> Result<bool, String> {
    match q.get(name) {
        None => Ok(false),
        Some(v) => parse_bool(v)
            .ok_or_else(|| format!("query parameter {name} must be true or false, not {v:?}")),
    }
}

/// What an `ImageAnalysisRequest` asks for, once validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AddRequest {
    /// A pull string, `registry/repo:tag` or `registry/repo:tag@sha256:…`.
    pub pull_string: String,
    pub annotations: Map<String, Value>,
    pub dockerfile: Option<String>,
}

fn string_field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    ctx: &str,
) -> Result<Option<&'a str>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{ctx}.{key} must be a string, not {other}")),
    }
}

fn dockerfile(obj: &Map<String, Value>, ctx: &str) -> Result<Option<String>, String> {
    let d = string_field(obj, "dockerfile", ctx)?;
    if let Some(d) = d {
        let base64_chars = |b: u8| b.is_ascii_alphanumeric() || b"+/=".contains(&b);
        if d.is_empty() || !d.bytes().all(base64_chars) {
            return Err(format!("{ctx}.dockerfile must be base64-encoded"));
        }
    }
    Ok(d.map(str::to_string))
}

/// Validates an `ImageAnalysisRequest` body: exactly one source, of the registry kinds.
pub fn parse_add_request(body: &Value) -> Result<AddRequest, String> {
    let obj = body
        .as_object()
        .ok_or("the request body must be a JSON object (ImageAnalysisRequest)")?;
    if let Some(t) = string_field(obj, "image_type", "request")? {
        if t != "docker" {
            return Err(format!("image_type {t:?} is not supported; use \"docker\""));
        }
    }
    let annotations = match obj.get("annotations") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => return Err(format!("annotations must be an object, not {other}")),
    };
    let source = match obj.get("source") {
        Some(Value::Object(s)) => s,
        None | Some(Value::Null) => return Err("source is required (ImageSource)".to_string()),
        Some(other) => return Err(format!("source must be an object, not {other}")),
    };
    let given: Vec<&str> = ["tag", "digest", "archive", "import"]
        .into_iter()
        .filter(|k| source.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    if given.len() != 1 {
        return Err(
            "exactly one of source.tag, source.digest, source.archive or source.import must be given"
                .to_string(),
        );
    }
    let kind = given[0];
    let inner = match &source[kind] {
        Value::Object(o) => o,
        other => return Err(format!("source.{kind} must be an object, not {other}")),
    };
    let ctx = format!("source.{kind}");
    let pull_string = match kind {
        "tag" => string_field(inner, "pull_string", &ctx)?
            .ok_or("source.tag.pull_string is required")?
            .to_string(),
        "digest" => {
            let pull = string_field(inner, "pull_string", &ctx)?
                .ok_or("source.digest.pull_string is required")?;
            let tag = string_field(inner, "tag", &ctx)?.ok_or("source.digest.tag is required")?;
            let digest = ImageRef::parse(pull)?
                .digest
                .ok_or("source.digest.pull_string must end in @sha256:<digest>")?;
            let tag = ImageRef::parse(tag)?;
            if tag.digest.is_some() {
                return Err("source.digest.tag must be a tag, not a digest reference".to_string());
            }
            format!("{}@{digest}", tag.full_tag())
        }
        other => {
            return Err(format!(
                "source.{other} is not supported by the Anchore stand-in; use source.tag or source.digest"
            ))
        }
    };
    ImageRef::parse(&pull_string)?;
    analysis::check_annotations(&annotations)?;
    Ok(AddRequest {
        pull_string,
        annotations,
        dockerfile: dockerfile(inner, &ctx)?,
    })
}

async fn add_image(
    State(app): State<Shared>,
    headers: HeaderMap,
    q: QueryParams,
    body: Bytes,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let force = match query(q).and_then(|q| {
        bool_param(&q, "auto_subscribe")?;
        bool_param(&q, "force")
    }) {
        Ok(f) => f,
        Err(m) => return bad_request(m),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("the request body is not valid JSON: {e}")),
    };
    let req = match parse_add_request(&value) {
        Ok(r) => r,
        Err(m) => return bad_request(m),
    };
    if let Some(refused) = super::apievents::registry_lookup(&app, "admin", &req.pull_string).await
    {
        return refused;
    }
    let new = NewImage {
        account: "admin".to_string(),
        pull_string: req.pull_string,
        annotations: req.annotations,
        dockerfile: req.dockerfile,
        force,
        source: ServiceReference {
            host_id: app.cfg.host_id.clone(),
            service_name: app.cfg.role.service_name().to_string(),
        },
    };
    match app.owner.add_image(&new).await {
        Ok(added) => Json(added.image).into_response(),
        Err(e) => owner_failure(e),
    }
}

/// The filter of `GET /v2/images` from its query parameters.
pub fn list_filter(q: &HashMap<String, String>) -> Result<ListFilter, String> {
    let image_status = match q.get("image_status").map(String::as_str) {
        None => Some("active".to_string()),
        Some("all") => None,
        Some(s @ ("active" | "deleting")) => Some(s.to_string()),
        Some(other) => {
            return Err(format!(
                "image_status must be one of all, active, deleting, not {other:?}"
            ))
        }
    };
    let analysis_status = match q.get("analysis_status") {
        None => None,
        Some(s) => Some(AnalysisStatus::parse(s).ok_or_else(|| {
            format!("analysis_status must be one of not_analyzed, analyzed, analyzing, analysis_failed, not {s:?}")
        })?),
    };
    if let Some(h) = q.get("history") {
        parse_bool(h).ok_or_else(|| format!("history must be true or false, not {h:?}"))?;
    }
    let full_tag = match q.get("full_tag") {
        None => None,
        Some(t) => Some(ImageRef::parse(t)?.full_tag()),
    };
    Ok(ListFilter {
        image_id: q.get("image_id").cloned(),
        full_tag,
        image_status,
        analysis_status,
    })
}

async fn list_images(State(app): State<Shared>, headers: HeaderMap, q: QueryParams) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let filter = match query(q).and_then(|q| list_filter(&q)) {
        Ok(f) => f,
        Err(m) => return bad_request(m),
    };
    match app.owner.list_images().await {
        Ok(images) => {
            let items: Vec<_> = images.into_iter().filter(|i| filter.matches(i)).collect();
            Json(json!({ "items": items })).into_response()
        }
        Err(e) => owner_failure(e),
    }
}

async fn get_image(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(digest): Path<String>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    if !is_digest(&digest) {
        return bad_request(format!(
            "image_digest {digest:?} does not match ^sha256:[a-fA-F0-9]{{64}}$"
        ));
    }
    match app.owner.get_image(&digest.to_ascii_lowercase()).await {
        Ok(img) => Json(img).into_response(),
        Err(OwnerError::Status(404, _)) => {
            api_error(StatusCode::NOT_FOUND, "ResourceNotFound", "Image not found")
        }
        Err(e) => owner_failure(e),
    }
}

async fn get_status(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    Json(StatusResponse::healthy()).into_response()
}

async fn get_service_detail(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.owner.services().await {
        Ok(s) => Json(json!({ "service_states": s })).into_response(),
        Err(e) => owner_failure(e),
    }
}

async fn list_services(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.owner.services().await {
        Ok(s) => Json(s).into_response(),
        Err(e) => owner_failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_course_request() {
        let r = parse_add_request(
            &json!({"source": {"tag": {"pull_string": "docker.io/library/postgres:latest"}}}),
        )
        .unwrap();
        assert_eq!(r.pull_string, "docker.io/library/postgres:latest");
        assert!(r.annotations.is_empty());
        let r = parse_add_request(&json!({
            "image_type": "docker",
            "annotations": {"standin.analysis_seconds": "3"},
            "source": {"tag": {"pull_string": "nginx", "dockerfile": "RlJPTSBzY3JhdGNo"}}
        }))
        .unwrap();
        assert_eq!(r.annotations["standin.analysis_seconds"], "3");
        assert_eq!(r.dockerfile.as_deref(), Some("RlJPTSBzY3JhdGNo"));
    }

    #[test]
    fn digest_sources_keep_the_digest_and_the_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse_add_request(&json!({"source": {"digest": {"pull_string": format!("docker.io/nginx@{d}"), "tag": "docker.io/nginx:1.27"}}})).unwrap();
        assert_eq!(r.pull_string, format!("docker.io/nginx:1.27@{d}"));
        assert!(parse_add_request(
            &json!({"source": {"digest": {"pull_string": "docker.io/nginx:1", "tag": "nginx:1"}}})
        )
        .is_err());
    }

    #[test]
    fn explains_malformed_requests() {
        let cases = [
            (json!([]), "JSON object"),
            (json!({}), "source is required"),
            (json!({"source": {}}), "exactly one"),
            (
                json!({"source": {"tag": {"pull_string": "a"}, "digest": {"pull_string": "b", "tag": "c"}}}),
                "exactly one",
            ),
            (json!({"source": {"tag": {}}}), "pull_string is required"),
            (
                json!({"source": {"tag": {"pull_string": 5}}}),
                "must be a string",
            ),
            (
                json!({"source": {"tag": {"pull_string": "UPPER"}}}),
                "lowercase",
            ),
            (
                json!({"source": {"archive": {"digest": "x"}}}),
                "not supported",
            ),
            (
                json!({"image_type": "oci", "source": {"tag": {"pull_string": "a"}}}),
                "image_type",
            ),
            (
                json!({"annotations": "x", "source": {"tag": {"pull_string": "a"}}}),
                "annotations",
            ),
            (
                json!({"annotations": {"standin.analysis_seconds": "soon"}, "source": {"tag": {"pull_string": "a"}}}),
                "standin.analysis_seconds",
            ),
            (
                json!({"source": {"tag": {"pull_string": "a", "dockerfile": "not base64!"}}}),
                "base64",
            ),
        ];
        for (body, want) in cases {
            let err = parse_add_request(&body).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn list_filters_default_to_active_and_validate() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let f = list_filter(&q(&[])).unwrap();
        assert_eq!(f.image_status.as_deref(), Some("active"));
        let f = list_filter(&q(&[
            ("image_status", "all"),
            ("analysis_status", "analyzed"),
            ("full_tag", "postgres"),
        ]))
        .unwrap();
        assert_eq!(f.image_status, None);
        assert_eq!(f.analysis_status, Some(AnalysisStatus::Analyzed));
        assert_eq!(f.full_tag.as_deref(), Some("docker.io/postgres:latest"));
        assert!(list_filter(&q(&[("analysis_status", "done")])).is_err());
        assert!(list_filter(&q(&[("image_status", "inactive")])).is_err());
        assert!(list_filter(&q(&[("history", "maybe")])).is_err());
    }
}

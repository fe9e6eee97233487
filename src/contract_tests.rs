//! Contract tests against the vendored upstream API documents
//! (tests/fixtures/contracts/, provenance in PROVENANCE.md there): every request `lab`'s
//! probes send is a documented operation with documented query parameters and a body that
//! fits, and the canned answers they are fed fit the documented answers (so what the probe
//! tests prove holds for the real server's shape).

use crate::model::check::AnchoreImageCheck;
use crate::probe::testserver::{self as ts, Reply, Routes, TestServer};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

#[path = "../tests/fixtures/contracts/openapi.rs"]
mod openapi;
use openapi::Spec;

fn spec(rel: &str) -> Spec {
    Spec::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/contracts")
            .join(rel),
    )
}

pub(crate) fn anchore_spec() -> Spec {
    spec("anchore/anchore-api-v2.7.2-subset.json")
}

/// What does not fit the document among `requests` (as the test server recorded them).
fn undocumented(spec: &Spec, requests: &[ts::Request]) -> Vec<String> {
    let mut errors = Vec::new();
    for r in requests {
        let target = if r.query.is_empty() {
            r.path.clone()
        } else {
            format!("{}?{}", r.path, r.query)
        };
        errors.extend(spec.check_request(&r.method, &target, &r.body));
    }
    errors
}

const DIGEST: &str = "sha256:07ad6d63a1ba8e42bbb3b7b9e7d6a7b3b4f5b2f0e4d3c2b1a0f9e8d7c6b5a4f3";

/// An `AnchoreImage` as the v2 API documents it.
fn anchore_image(status: &str) -> Value {
    json!({
        "account_name": "admin",
        "analysis_status": status,
        "annotations": {},
        "created_at": "2024-08-18T12:59:10Z",
        "image_content": {"metadata": {"arch": "amd64", "distro": "debian", "distro_version": "12", "layer_count": 14}},
        "image_detail": [{
            "account_name": "admin",
            "created_at": "2024-08-18T12:59:10Z",
            "full_digest": format!("docker.io/library/postgres@{DIGEST}"),
            "full_tag": "docker.io/library/postgres:latest",
            "image_digest": DIGEST,
            "image_id": "b781f3a53e61df916d97dcd1d4a3b0c9b8e7f6a5d4c3b2a1f0e9d8c7b6a5f4e3",
            "last_updated": "2024-08-18T13:00:32Z",
            "registry": "docker.io",
            "repo": "library/postgres",
            "tag": "latest",
            "tag_detected_at": "2024-08-18T12:59:10Z"
        }],
        "image_digest": DIGEST,
        "image_status": "active",
        "last_updated": "2024-08-18T13:00:32Z",
        "parent_digest": DIGEST,
        "record_version": "v2"
    })
}

fn events_page() -> Value {
    json!({
        "results": [{
            "event_id": "9b5a1a4e0c6f4f4e9a0e6b3d2c1f0e9d",
            "created_at": "2024-08-18T13:00:32Z",
            "event": {
                "source": {"service_name": "analyzer", "host_id": "anchore-quickstart", "base_url": "http://analyzer:8228", "request_id": "b7f0c9e2a4d14e5f"},
                "resource": {"account_name": "admin", "id": "docker.io/library/postgres:latest", "type": "image_reference"},
                "type": "user.image.analysis.completed",
                "category": "user",
                "level": "INFO",
                "message": "Image analysis available",
                "details": {},
                "timestamp": "2024-08-18T13:00:32Z"
            }
        }],
        "next_page": false,
        "item_count": 1,
        "page": 1
    })
}

fn version() -> Value {
    json!({"service": {"version": "5.17.0"}, "api": {"version": "2.7.2"}, "db": {"schema_version": "5170"}})
}

#[test]
fn the_canned_anchore_answers_fit_the_v2_spec() {
    let s = anchore_spec();
    for (method, path, status, body) in [
        (
            "GET",
            "/v2/images",
            200,
            json!({"items": [anchore_image("analyzed")]}),
        ),
        ("POST", "/v2/images", 200, anchore_image("not_analyzed")),
        ("GET", "/v2/events", 200, events_page()),
        ("GET", "/v2/version", 200, version()),
        (
            "GET",
            "/v2/images",
            500,
            json!({"code": 500, "error_type": "InternalError", "message": "db unavailable", "detail": {}}),
        ),
    ] {
        let e = s.check_response(method, path, status, &body);
        assert!(e.is_empty(), "{method} {path}: {e:#?}");
    }
    // The check can fail: a status outside the enum, a list where an object belongs.
    let mut bad = anchore_image("done");
    bad["image_detail"] = json!({"full_tag": "x"});
    assert_eq!(
        s.check_response("GET", "/v2/images", 200, &json!({"items": [bad]}))
            .len(),
        2
    );
}

#[tokio::test]
async fn every_request_lab_sends_to_anchore_is_in_the_v2_spec() {
    let s = anchore_spec();
    let srv = TestServer::start(
        Routes::new()
            .get(
                "/v2/images",
                Reply::json(200, json!({"items": [anchore_image("analyzed")]})),
            )
            .get("/v2/events", Reply::json(200, events_page()))
            .get("/v2/version", Reply::json(200, version())),
    )
    .await;
    let ctx = ts::ctx(&srv.url, Duration::from_secs(5));
    for c in [
        AnchoreImageCheck {
            tag: Some("postgres".into()),
            status: "analyzed".into(),
            at_least: None,
        },
        AnchoreImageCheck {
            tag: None,
            status: "analyzed".into(),
            at_least: Some(1),
        },
    ] {
        let r = crate::probe::anchore::image(&c, &ctx).await;
        assert!(r.is_ok(), "{r:?}");
    }
    let events = crate::probe::events::read(&ctx, &[]).await.unwrap();
    assert_eq!(events.len(), 1);
    let _ = crate::probe::versions::servers(&ctx).await;
    let anchore_requests: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v2/") || r.path == "/version")
        .collect();
    assert!(anchore_requests.len() >= 4, "{anchore_requests:?}");
    let errors = undocumented(&s, &anchore_requests);
    assert!(errors.is_empty(), "{errors:#?}");
    // The body `lab solve` posts to add an image.
    let body = crate::client::anchore::add_image_body("docker.io/library/nginx:latest").to_string();
    assert_eq!(
        s.check_request("POST", "/v2/images", &body),
        Vec::<String>::new()
    );
    assert_eq!(
        s.check_request(
            "POST",
            "/v2/images",
            r#"{"source": {"tag": {"image": "x"}}}"#
        )
        .len(),
        2,
        "a wrong body is caught"
    );
}

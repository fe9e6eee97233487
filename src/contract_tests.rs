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

pub(crate) fn grafana_spec() -> Spec {
    spec("grafana/grafana-openapi3-subset.json")
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

// ---- Grafana ----

use crate::model::check::{CheckSpec, GrafanaDashboardCheck, GrafanaDatasourceCheck};
use crate::probe::grafana::tests::{
    course_dashboard, health_path, library_element, ok_health, prometheus_ds, search_hit, DASH_UID,
};

/// Requests the Grafana document cannot judge, and why: `/api/health` (what `lab doctor`
/// reads Grafana's release from) is answered by a middleware (`apiHealthHandler`,
/// pkg/api/http_server.go), not a documented route; the `dashboard.grafana.app` routes (the 406 fallback for v2 dashboards,
/// Grafana 12-13) belong to the Kubernetes-style API, which the legacy document does
/// not describe.
fn outside_the_grafana_document(path: &str) -> bool {
    path == "/api/health" || path.starts_with("/apis/")
}

/// One answer of `POST /api/ds/query` with data. Not checked against the document:
/// there `QueryDataResponse` describes Grafana's Go struct (`Responses`, `Frames`,
/// `Fields`), not the JSON Grafana writes (`results`, `frames`, `schema`, `data`).
fn ds_query_answer() -> Value {
    json!({"results": {"A": {"status": 200, "frames": [{
        "schema": {"refId": "A", "meta": {"type": "timeseries-multi", "typeVersion": [0, 1]},
                   "fields": [{"name": "Time", "type": "time"}, {"name": "Value", "type": "number", "labels": {}}]},
        "data": {"values": [[1712345670000i64], [1]]}}]}}})
}

const V2_DASHBOARD: &str =
    "/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/v2dash";

/// A v2 dashboard resource (Grafana 12-13) with one library panel.
fn v2_dashboard() -> Value {
    json!({"kind": "Dashboard", "apiVersion": "dashboard.grafana.app/v2beta1", "metadata": {"name": "v2dash"},
        "spec": {"title": "V2",
            "elements": {"panel-1": {"kind": "LibraryPanel", "spec": {"id": 1, "title": "Queue", "libraryPanel": {"uid": "lib1", "name": "Queue"}}}},
            "layout": {"kind": "GridLayout", "spec": {"items": [
                {"kind": "GridLayoutItem", "spec": {"element": {"kind": "ElementReference", "name": "panel-1"}}}]}}}})
}

/// A session whose Grafana answers at `url` (for the steps).
fn session_at(dir: &Path, url: &str) -> crate::session::Session {
    let mut env =
        crate::env::Environment::new(dir, "labtest-contract", "docker-compose.yaml", false);
    env.state.endpoints.grafana_url = url.to_string();
    crate::session::Session::with_docker(env, std::sync::Arc::new(Err("no Docker here".into())))
}

#[test]
fn the_canned_grafana_answers_fit_grafanas_document() {
    let s = grafana_spec();
    let dashboard_by_uid = format!("/api/dashboards/uid/{DASH_UID}");
    let health = health_path();
    let not_found = json!({"message": "Dashboard not found"});
    let refused = json!({"message": "Invalid username or password"});
    for (method, path, status, body) in [
        (
            "GET",
            "/api/user",
            200,
            json!({"id": 1, "email": "admin@localhost", "name": "", "login": "admin", "theme": "", "orgId": 1, "isGrafanaAdmin": true, "isDisabled": false, "isExternal": false, "authLabels": [], "updatedAt": "2024-08-18T12:59:10Z", "createdAt": "2024-08-18T12:59:10Z", "avatarUrl": "/avatar/46d229b033af06a191ff2267bca9ae56"}),
        ),
        (
            "GET",
            "/api/datasources",
            200,
            json!([prometheus_ds("http://prometheus:9090")]),
        ),
        ("GET", "/api/datasources", 401, refused.clone()),
        (
            "GET",
            "/api/datasources/name/Prometheus",
            200,
            prometheus_ds("http://prometheus:9090"),
        ),
        (
            "GET",
            health.as_str(),
            200,
            serde_json::from_str(&ok_health().body).unwrap(),
        ),
        (
            "GET",
            health.as_str(),
            400,
            json!({"status": "ERROR", "message": "There was an error returned querying the Prometheus API."}),
        ),
        (
            "GET",
            dashboard_by_uid.as_str(),
            200,
            course_dashboard(true),
        ),
        ("GET", dashboard_by_uid.as_str(), 404, not_found),
        (
            "GET",
            "/api/search",
            200,
            json!([search_hit(DASH_UID, "Anchore Enterprise")]),
        ),
        ("GET", "/api/library-elements/lib1", 200, library_element()),
    ] {
        let e = s.check_response(method, path, status, &body);
        assert!(e.is_empty(), "{method} {path} {status}: {e:#?}");
    }
    // Answers lab relies on that the document does not list (the real server gives
    // them: Grafana's pkg/api/datasources.go answers 404 "Data source not found" by
    // name, pkg/api/plugins.go 404 "Not found" for a plugin without a health check).
    assert_eq!(
        s.check_response(
            "GET",
            "/api/datasources/name/Gone",
            404,
            &json!({"message": "Data source not found"})
        ),
        ["GET /datasources/name/{name}: status 404 is not documented"]
    );
    assert_eq!(
        s.check_response(
            "GET",
            health.as_str(),
            404,
            &json!({"message": "Not found"})
        ),
        ["GET /datasources/uid/{uid}/health: status 404 is not documented"]
    );
    // Grafana 12-13's 406 for a v2 dashboard (pkg/api/dashboard.go) is not in this
    // 9.5 document either.
    assert_eq!(
        s.check_response(
            "GET",
            dashboard_by_uid.as_str(),
            406,
            &json!({"message": "dashboard api version not supported"})
        ),
        ["GET /dashboards/uid/{uid}: status 406 is not documented"]
    );
    // The check can fail: a list where an object belongs, a number for a string.
    let mut bad = prometheus_ds("http://prometheus:9090");
    bad["url"] = json!(9090);
    assert_eq!(
        s.check_response("GET", "/api/datasources", 200, &json!([bad]))
            .len(),
        1
    );
    assert_eq!(
        s.check_response("GET", "/api/search", 200, &json!({"uid": DASH_UID}))
            .len(),
        1
    );
}

#[tokio::test]
async fn every_request_lab_sends_to_grafana_is_in_grafanas_document() {
    let s = grafana_spec();
    let ds = prometheus_ds("http://prometheus:9090");
    let library_dashboard = json!({"dashboard": {"uid": "libdash", "title": "Library", "panels": [
        {"id": 1, "type": "stat", "title": "Queue", "libraryPanel": {"uid": "lib1", "name": "Queue"}}]}, "meta": {}});
    let routes = |health: Reply| {
        Routes::new()
            .get("/api/health", Reply::json(200, json!({"database": "ok", "version": "11.1.0"})))
            .get("/api/user", Reply::json(200, json!({"id": 1, "login": "admin"})))
            .get("/api/datasources", Reply::json(200, json!([ds.clone()])))
            .get(&health_path(), health)
            .get("/api/search", Reply::json(200, json!([search_hit(DASH_UID, "Anchore Enterprise")])))
            .get(&format!("/api/dashboards/uid/{DASH_UID}"), Reply::json(200, course_dashboard(true)))
            .get("/api/dashboards/uid/libdash", Reply::json(200, library_dashboard.clone()))
            .get("/api/library-elements/lib1", Reply::json(200, library_element()))
            .get("/api/dashboards/uid/v2dash", Reply::json(406, json!({"message": format!("dashboard api version not supported, use {V2_DASHBOARD} instead")})))
            .get(V2_DASHBOARD, Reply::json(200, v2_dashboard()))
            .post("/api/ds/query", Reply::json(200, ds_query_answer()))
            .get(
                "/api/datasources/name/Prometheus",
                Reply::json(200, json!({"id": 7, "uid": "p1", "name": "Prometheus", "type": "prometheus", "url": "http://old:9090"})),
            )
            .with("PUT", "/api/datasources/uid/p1", |_| Reply::json(404, json!({"message": "Not found"})))
            .with("PUT", "/api/datasources/7", |_| Reply::json(200, json!({"id": 7, "message": "Datasource updated", "name": "Prometheus"})))
            .get("/api/datasources/name/Loki", Reply::json(404, json!({"message": "Data source not found"})))
            .post("/api/datasources", Reply::json(200, json!({"id": 8, "message": "Datasource added", "name": "Loki"})))
            .post("/api/dashboards/import", Reply::json(200, json!({"uid": DASH_UID, "imported": true})))
            .post("/api/dashboards/db", Reply::json(200, json!({"id": 9, "uid": DASH_UID, "status": "success"})))
    };
    let healthy = TestServer::start(routes(ok_health())).await;
    // Grafana 9: no health check for Prometheus, so the probe sends a test query.
    let no_health =
        TestServer::start(routes(Reply::json(404, json!({"message": "Not found"})))).await;

    // The probes: data source (health route, and the test query), dashboard by title
    // with every panel queried, a library panel, the versions `lab doctor` reads.
    for srv in [&healthy, &no_health] {
        let ctx = ts::ctx(&srv.url, Duration::from_secs(5));
        let c = GrafanaDatasourceCheck {
            ds_type: "prometheus".into(),
            url: Some("http://prometheus:9090".into()),
            name: None,
            healthy: true,
        };
        let r = crate::probe::grafana::datasource(&c, &ctx).await;
        assert!(
            matches!(r, Ok(crate::probe::Observation::Pass { .. })),
            "{r:?}"
        );
    }
    let ctx = ts::ctx(&healthy.url, Duration::from_secs(5));
    for c in [
        GrafanaDashboardCheck {
            title: Some("Anchore Enterprise".into()),
            uid: None,
            panels_with_data: vec!["*".into()],
        },
        GrafanaDashboardCheck {
            title: None,
            uid: Some("libdash".into()),
            panels_with_data: vec!["Queue".into()],
        },
        // Grafana 12-13: the legacy route answers 406 and lab follows it to the v2 API.
        GrafanaDashboardCheck {
            title: None,
            uid: Some("v2dash".into()),
            panels_with_data: vec!["Queue".into()],
        },
    ] {
        let r = crate::probe::grafana::dashboard(&c, &ctx).await;
        assert!(
            matches!(r, Ok(crate::probe::Observation::Pass { .. })),
            "{r:?}"
        );
    }
    let _ = crate::probe::versions::servers(&ctx).await;
    // Every `http` check of the course's labs that asks Grafana (lab 4's login check).
    let labs = crate::loader::load(&[crate::loader::Source::Embedded]).labs;
    let mut http_checks = 0;
    for (_, check) in labs.iter().flat_map(|l| l.lab.checks()) {
        if let CheckSpec::Http(h) = &check.spec {
            if let Some(rest) = h.url.strip_prefix("{grafana}") {
                let mut h = h.clone();
                h.url = format!("{}{rest}", healthy.url);
                let r = crate::probe::http::probe(&h, &ctx).await;
                assert!(r.is_ok(), "{}: {r:?}", check.id);
                http_checks += 1;
            }
        }
    }
    assert!(
        http_checks >= 1,
        "the course's labs have a Grafana login check"
    );

    // The steps: a data source updated (by uid, then by id as on 9.x) and one added;
    // the course dashboard imported bound to a data source, and saved as it is.
    let dir = tempfile::tempdir().unwrap();
    let session = session_at(dir.path(), &healthy.url);
    use crate::action::exec::{grafana_datasource, grafana_import};
    grafana_datasource(
        &session,
        "Prometheus",
        "prometheus",
        "http://prometheus:9090",
    )
    .await
    .unwrap();
    grafana_datasource(&session, "Loki", "loki", "http://loki:3100")
        .await
        .unwrap();
    let export = crate::reference::read("grafana/grafana_dashboard_enterprise.json");
    grafana_import(&session, &export, Some("Prometheus"))
        .await
        .unwrap();
    grafana_import(&session, &export, None).await.unwrap();

    // The test context points Anchore and Prometheus at the same server: keep Grafana's.
    let mut sent: Vec<ts::Request> = healthy.requests();
    sent.extend(no_health.requests());
    sent.retain(|r| {
        (r.path.starts_with("/api/") && !r.path.starts_with("/api/v1/"))
            || r.path.starts_with("/apis/")
    });
    let (skipped, judged): (Vec<_>, Vec<_>) = sent
        .into_iter()
        .partition(|r| outside_the_grafana_document(&r.path));
    assert!(
        skipped.iter().any(|r| r.path == "/api/health"),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|r| r.path == V2_DASHBOARD),
        "{skipped:?}"
    );
    let mut operations: Vec<String> = judged
        .iter()
        .filter_map(|r| {
            s.operation(&r.method, &r.path)
                .map(|o| format!("{} {}", r.method, o.template))
        })
        .collect();
    operations.sort();
    operations.dedup();
    assert_eq!(
        operations,
        [
            "GET /dashboards/uid/{uid}",
            "GET /datasources",
            "GET /datasources/name/{name}",
            "GET /datasources/uid/{uid}/health",
            "GET /library-elements/{library_element_uid}",
            "GET /search",
            "GET /user",
            "POST /dashboards/db",
            "POST /dashboards/import",
            "POST /datasources",
            "POST /ds/query",
            "PUT /datasources/uid/{uid}",
            "PUT /datasources/{id}",
        ],
        "every route lab uses was exercised"
    );
    let errors = undocumented(&s, &judged);
    assert!(errors.is_empty(), "{errors:#?}");
    // The checker catches a body Grafana would not take.
    assert_eq!(
        s.check_request(
            "POST",
            "/api/dashboards/import",
            r#"{"dashboard": {}, "inputs": [{"name": "DS", "value": 7}]}"#
        )
        .len(),
        1
    );
    assert_eq!(
        s.check_request(
            "POST",
            "/api/ds/query",
            r#"{"queries": [], "from": "now-1h", "to": "now", "range": true}"#
        ),
        ["POST /ds/query: body: field \"range\" is not documented"]
    );
}

//! The HTTP server: start-up (state, provisioning), routes, authentication, request logging and shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Bytes, HttpBody};
use axum::extract::{ConnectInfo, MatchedPath, Path, RawQuery, Request, State as AxState};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use super::auth::{self, SignedIn};
use super::config::Config;
use super::dashboards::{self, SearchQuery};
use super::datasources;
use super::logfmt;
use super::prometheus;
use super::provisioning;
use super::query;
use super::store::{self, AdminUser, State};
use super::timerange;
use super::{ApiError, GRAFANA_COMMIT};

/// Shared by every request.
pub struct App {
    pub config: Config,
    pub state: Mutex<State>,
    pub state_path: PathBuf,
    pub client: reqwest::Client,
    /// Refused logins (lower-cased login, when), for the brute-force protection.
    pub refused_logins: Mutex<Vec<(String, Instant)>>,
}

/// Grafana's `loginAttemptsWindow`.
const LOGIN_ATTEMPTS_WINDOW: Duration = Duration::from_secs(5 * 60);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

impl App {
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    /// Applies a change to a copy and persists it before it becomes visible, so a failed
    /// write leaves the server and the file agreeing.
    fn mutate<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = guard.clone();
        let out = f(&mut next)?;
        store::save(&self.state_path, &next).map_err(|e| {
            logfmt::emit("sqlstore", "error", "Failed to save state", &[("error", e)]);
            ApiError::message(500, "Failed to save changes")
        })?;
        *guard = next;
        Ok(out)
    }
}

/// Loads or creates the state, applies provisioning, and saves the result.
pub fn prepare(config: Config) -> Result<App, String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    let state_path = store::state_path(&config.data_dir);
    let mut state = match store::load(&state_path)? {
        Some(s) => s,
        None => {
            logfmt::emit(
                "sqlstore",
                "info",
                "Created default admin",
                &[("user", config.admin_user.clone())],
            );
            State::default()
        }
    };
    if state.admin.is_none() {
        state.admin = Some(AdminUser::new(&config.admin_user, &config.admin_password));
    }
    let dir = config.provisioning_dir.join("datasources");
    let env = |k: &str| std::env::var(k).ok();
    let provisioned = provisioning::read_dir(&dir, &env)
        .map_err(|e| format!("Failed to provision data sources: {e}"))?;
    let applied = provisioning::apply(&mut state, provisioned)
        .map_err(|e| format!("Failed to provision data sources: {e}"))?;
    for a in applied {
        let msg = if a.inserted {
            "inserting datasource from configuration"
        } else {
            "updating datasource from configuration"
        };
        logfmt::emit(
            "provisioning.datasources",
            "info",
            msg,
            &[("name", a.name), ("uid", a.uid)],
        );
    }
    store::save(&state_path, &state)?;
    // Proxy variables of the machine running the tests must not reroute data source calls.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))?;
    Ok(App {
        config,
        state: Mutex::new(state),
        state_path,
        client,
        refused_logins: Mutex::new(Vec::new()),
    })
}

/// All routes, with authentication inside and request logging outside.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/user", get(signed_in_user))
        .route("/api/datasources", get(ds_list).post(ds_create))
        .route(
            "/api/datasources/uid/{uid}",
            get(ds_get_uid).put(ds_update_uid).delete(ds_delete_uid),
        )
        .route("/api/datasources/uid/{uid}/health", get(ds_health_uid))
        .route(
            "/api/datasources/name/{name}",
            get(ds_get_name).delete(ds_delete_name),
        )
        .route("/api/datasources/id/{name}", get(ds_id_by_name))
        .route(
            "/api/datasources/{id}",
            get(ds_get_id).put(ds_update_id).delete(ds_delete_id),
        )
        .route("/api/datasources/{id}/health", get(ds_health_id))
        .route("/api/ds/query", post(ds_query))
        .route("/api/dashboards/db", post(dash_save))
        .route("/api/dashboards/import", post(dash_import))
        .route(
            "/api/dashboards/uid/{uid}",
            get(dash_get).delete(dash_delete),
        )
        .route("/api/search", get(search))
        .route("/api/user/password", axum::routing::put(change_password))
        .route(
            "/apis/dashboard.grafana.app/{version}/namespaces/{namespace}/dashboards/{uid}",
            get(dash_resource),
        )
        .fallback(|| async { ApiError::message(404, "Not found") })
        .method_not_allowed_fallback(|| async { ApiError::message(405, "Method Not Allowed") })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(app.clone(), authenticate))
        .layer(middleware::from_fn(log_request))
        .with_state(app)
}

async fn authenticate(AxState(app): AxState<Arc<App>>, mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/api/health" {
        return next.run(req).await;
    }
    let admin = app.read(|s| s.admin.clone());
    let Some(admin) = admin else {
        return ApiError::message(500, "no admin user").into_response();
    };
    let login = auth::basic_credentials(req.headers()).map(|(u, _)| u.to_lowercase());
    if let Some(login) = &login {
        if locked_out(&app, login) {
            logfmt::emit(
                "context",
                "warn",
                "Failed to authenticate request",
                &[
                    ("client", "auth.client.basic".into()),
                    ("error", "too many consecutive incorrect login attempts for user - login for user temporarily blocked".into()),
                ],
            );
            return ApiError::coded(
                401,
                "basic-auth.invalid-credentials",
                "Invalid username or password",
            )
            .into_response();
        }
    }
    match auth::authenticate(req.headers(), &admin) {
        Ok(user) => {
            req.extensions_mut().insert(user.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(user);
            resp
        }
        Err(e) => {
            // Only a known user with a wrong password counts (as in Grafana's basic client).
            if let Some(login) = login.filter(|l| admin.login.eq_ignore_ascii_case(l)) {
                let mut refused = app.refused_logins.lock().unwrap_or_else(|p| p.into_inner());
                refused.push((login, Instant::now()));
            }
            e.into_response()
        }
    }
}

/// Grafana's `loginattempt.Validate`: `max` refusals of this login within the window
/// block it, the right password included, until the oldest leaves the window.
fn locked_out(app: &App, login: &str) -> bool {
    let max = app.config.max_login_attempts;
    if max == 0 {
        return false;
    }
    let mut refused = app.refused_logins.lock().unwrap_or_else(|p| p.into_inner());
    refused.retain(|(_, at)| at.elapsed() < LOGIN_ATTEMPTS_WINDOW);
    refused.iter().filter(|(l, _)| l == login).count() >= max
}

/// One logfmt line per request. Only the method, path (without query string), status,
/// sizes, timing and the login are logged, never headers or bodies.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().replace('{', ":").replace('}', ""))
        .unwrap_or_else(|| path.clone());
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let referer = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let resp = next.run(req).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let uname = resp.extensions().get::<SignedIn>().map(|u| u.0.clone());
    // Handlers answer with complete bodies, so the size is known before it is sent.
    let size = resp.body().size_hint().exact().unwrap_or(0).to_string();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    match uname {
        Some(u) => {
            pairs.push(("userId", "1".into()));
            pairs.push(("orgId", "1".into()));
            pairs.push(("uname", u));
        }
        None => {
            pairs.push(("userId", "0".into()));
            pairs.push(("orgId", "0".into()));
        }
    }
    pairs.extend([
        ("method", method),
        ("path", path),
        ("status", status.to_string()),
        ("remote_addr", remote),
        ("time_ms", elapsed.as_millis().to_string()),
        ("duration", format!("{elapsed:?}")),
        ("size", size),
        ("referer", referer),
        ("handler", handler),
        ("status_source", "server".into()),
    ]);
    let level = if status >= 500 { "error" } else { "info" };
    logfmt::emit("context", level, "Request Completed", &pairs);
    resp
}

async fn health(AxState(app): AxState<Arc<App>>) -> Json<Value> {
    Json(json!({
        "commit": GRAFANA_COMMIT,
        "database": "ok",
        "version": app.config.profile.version,
    }))
}

/// `GET /api/user`: the signed-in user, in the shape of Grafana's `UserProfileDTO`
/// (the fields a client reads; the admin is user 1 of org 1).
async fn signed_in_user(Extension(user): Extension<SignedIn>) -> Json<Value> {
    Json(json!({
        "id": 1,
        "email": format!("{}@localhost", user.0),
        "name": "",
        "login": user.0,
        "theme": "",
        "orgId": 1,
        "isGrafanaAdmin": true,
        "isDisabled": false,
        "isExternal": false,
        "authLabels": [],
    }))
}

// ---- data sources ----

async fn ds_list(AxState(app): AxState<Arc<App>>) -> ApiResult {
    ok(app.read(datasources::list))
}

async fn ds_create(AxState(app): AxState<Arc<App>>, body: Bytes) -> ApiResult {
    let cmd = datasources::parse_command(&body, false)?;
    let ds = app.mutate(|s| datasources::add(s, cmd, false))?;
    ok(json!({
        "datasource": datasources::dto(&ds),
        "id": ds.id,
        "message": "Datasource added",
        "name": ds.name,
    }))
}

fn find_ds(
    app: &App,
    pred: impl Fn(&datasources::DataSource) -> bool,
) -> Result<datasources::DataSource, ApiError> {
    app.read(|s| s.datasources.iter().find(|d| pred(d)).cloned())
        .ok_or_else(|| ApiError::message(404, "Data source not found"))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::message(400, "id is invalid"))
}

async fn ds_get_uid(AxState(app): AxState<Arc<App>>, Path(uid): Path<String>) -> ApiResult {
    ok(datasources::dto(&find_ds(&app, |d| d.uid == uid)?))
}

async fn ds_get_name(AxState(app): AxState<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    ok(datasources::dto(&find_ds(&app, |d| d.name == name)?))
}

async fn ds_id_by_name(AxState(app): AxState<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    ok(json!({ "id": find_ds(&app, |d| d.name == name)?.id }))
}

async fn ds_get_id(AxState(app): AxState<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    ok(datasources::dto(&find_ds(&app, |d| d.id == id)?))
}

async fn ds_update_uid(
    AxState(app): AxState<Arc<App>>,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult {
    if !app.config.profile.put_by_uid {
        return Err(ApiError::message(404, "Not found"));
    }
    let cmd = datasources::parse_command(&body, true)?;
    let ds = app.mutate(|s| datasources::update(s, &uid, cmd))?;
    ok(json!({
        "datasource": datasources::dto(&ds),
        "id": ds.id,
        "message": "Datasource updated",
        "name": ds.name,
    }))
}

async fn ds_update_id(
    AxState(app): AxState<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let uid = find_ds(&app, |d| d.id == id)?.uid;
    let cmd = datasources::parse_command(&body, true)?;
    let ds = app.mutate(|s| datasources::update(s, &uid, cmd))?;
    ok(json!({
        "datasource": datasources::dto(&ds),
        "id": ds.id,
        "message": "Datasource updated",
        "name": ds.name,
    }))
}

fn delete_ds(app: &App, uid: &str) -> ApiResult {
    let ds = app.mutate(|s| datasources::delete(s, uid))?;
    ok(json!({ "message": "Data source deleted", "id": ds.id }))
}

async fn ds_delete_uid(AxState(app): AxState<Arc<App>>, Path(uid): Path<String>) -> ApiResult {
    delete_ds(&app, &uid)
}

async fn ds_delete_name(AxState(app): AxState<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    let uid = find_ds(&app, |d| d.name == name)?.uid;
    delete_ds(&app, &uid)
}

async fn ds_delete_id(AxState(app): AxState<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let uid = find_ds(&app, |d| d.id == id)?.uid;
    app.mutate(|s| datasources::delete(s, &uid))?;
    // The deprecated by-id endpoint answers with the message only.
    ok(json!({ "message": "Data source deleted" }))
}

async fn check_health(app: &App, ds: datasources::DataSource) -> ApiResult {
    if ds.ds_type == "prometheus" && !app.config.profile.prometheus_health {
        // Grafana 9's Prometheus plugin has no backend health check: the plugin
        // client's ErrMethodNotImplemented becomes 404 "Not found".
        return Err(ApiError::message(404, "Not found"));
    }
    if ds.ds_type != "prometheus" {
        return Err(ApiError::message(
            501,
            format!(
                "health checks for data source type {:?} are not supported by the Grafana stand-in",
                ds.ds_type
            ),
        ));
    }
    let (passed, message) = prometheus::health(&app.client, &ds).await;
    if passed {
        ok(json!({ "status": "OK", "message": message }))
    } else {
        Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({ "status": "ERROR", "message": message })),
        )
            .into_response())
    }
}

async fn ds_health_uid(AxState(app): AxState<Arc<App>>, Path(uid): Path<String>) -> ApiResult {
    if !store::is_valid_uid(&uid) {
        return Err(ApiError::message(400, "UID is invalid"));
    }
    let ds = find_ds(&app, |d| d.uid == uid)
        .map_err(|_| ApiError::message(500, "Unable to load datasource metadata"))?;
    check_health(&app, ds).await
}

async fn ds_health_id(AxState(app): AxState<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let ds = find_ds(&app, |d| d.id == id)
        .map_err(|_| ApiError::message(500, "Unable to load datasource metadata"))?;
    check_health(&app, ds).await
}

async fn ds_query(AxState(app): AxState<Arc<App>>, body: Bytes) -> ApiResult {
    let req = app.read(|s| query::parse(&body, s, timerange::now_ms()))?;
    let (status, value) = query::run(&app.client, req, app.config.prometheus_dataplane).await;
    Ok((
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        Json(value),
    )
        .into_response())
}

// ---- dashboards ----

async fn dash_save(
    AxState(app): AxState<Arc<App>>,
    Extension(user): Extension<SignedIn>,
    body: Bytes,
) -> ApiResult {
    let v: Value = serde_json::from_slice(&body).map_err(|_| ApiError::bad_request_data())?;
    let dashboard = v.get("dashboard").cloned().unwrap_or(Value::Null);
    let overwrite = v.get("overwrite").and_then(Value::as_bool).unwrap_or(false);
    let folder = v
        .get("folderUid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let now = timerange::now_ms();
    let d = app.mutate(|s| dashboards::save(s, dashboard, overwrite, &folder, &user.0, now))?;
    ok(dashboards::save_response(&d))
}

async fn dash_import(
    AxState(app): AxState<Arc<App>>,
    Extension(user): Extension<SignedIn>,
    body: Bytes,
) -> ApiResult {
    let now = timerange::now_ms();
    ok(app.mutate(|s| dashboards::import(s, &body, &user.0, now))?)
}

async fn dash_get(AxState(app): AxState<Arc<App>>, Path(uid): Path<String>) -> ApiResult {
    let d = app
        .read(|s| s.dashboards.iter().find(|d| d.uid == uid).cloned())
        .ok_or_else(|| ApiError::message(404, "Dashboard not found"))?;
    if app.config.profile.v2_dashboards {
        return Err(ApiError::message(
            406,
            format!(
                "dashboard api version not supported, use /apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/{} instead",
                d.uid
            ),
        ));
    }
    ok(dashboards::get_response(&d))
}

/// `GET /apis/dashboard.grafana.app/{version}/namespaces/default/dashboards/{uid}`:
/// the dashboard as a resource, its spec in the classic schema (v0alpha1, v1beta1)
/// or the v2 one (v2beta1).
async fn dash_resource(
    AxState(app): AxState<Arc<App>>,
    Path((version, namespace, uid)): Path<(String, String, String)>,
) -> ApiResult {
    let not_found = || ApiError {
        status: 404,
        body: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": format!("dashboards.dashboard.grafana.app \"{uid}\" not found"),
                "reason": "NotFound", "code": 404}),
    };
    if namespace != "default" {
        return Err(not_found());
    }
    let d = app
        .read(|s| s.dashboards.iter().find(|d| d.uid == uid).cloned())
        .ok_or_else(not_found)?;
    let spec = match version.as_str() {
        "v0alpha1" | "v1beta1" => d.data.clone(),
        "v2beta1" => dashboards::to_v2(&d.data),
        _ => return Err(ApiError::message(404, "Not found")),
    };
    ok(json!({
        "kind": "Dashboard",
        "apiVersion": format!("dashboard.grafana.app/{version}"),
        "metadata": {"name": d.uid, "namespace": "default", "generation": d.version},
        "spec": spec,
        "status": {},
    }))
}

/// `PUT /api/user/password`: what the first login's "change password" screen
/// sends. The new password must differ and be confirmed; the old one must be right.
async fn change_password(
    AxState(app): AxState<Arc<App>>,
    Extension(user): Extension<SignedIn>,
    body: Bytes,
) -> ApiResult {
    let v: Value = serde_json::from_slice(&body).map_err(|_| ApiError::bad_request_data())?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (old, new) = (field("oldPassword"), field("newPassword"));
    app.mutate(|s| {
        let admin = s
            .admin
            .as_mut()
            .ok_or_else(|| ApiError::message(500, "no admin user"))?;
        if !admin.verify(&user.0, &old) {
            return Err(ApiError::message(401, "Invalid old password"));
        }
        if new.len() < 4 {
            return Err(ApiError::message(400, "New password is too short"));
        }
        *admin = AdminUser::new(&admin.login, &new);
        Ok(())
    })?;
    ok(json!({"message": "User password changed"}))
}

async fn dash_delete(AxState(app): AxState<Arc<App>>, Path(uid): Path<String>) -> ApiResult {
    ok(app.mutate(|s| dashboards::delete(s, &uid))?)
}

/// Reads `GET /api/search` parameters; `tag`, `type` and `dashboardUIDs` may repeat.
pub fn search_query(raw: Option<&str>) -> SearchQuery {
    let mut q = SearchQuery::default();
    let Ok(url) = reqwest::Url::parse(&format!("http://x/?{}", raw.unwrap_or(""))) else {
        return q;
    };
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "query" => q.query = v.into_owned(),
            "type" => q.types.push(v.into_owned()),
            "tag" => q.tags.push(v.into_owned()),
            "dashboardUIDs" | "dashboardUID" => q.uids.extend(v.split(',').map(str::to_string)),
            "limit" => q.limit = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    q
}

async fn search(AxState(app): AxState<Arc<App>>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = search_query(raw.as_deref());
    ok(app.read(|s| dashboards::search(s, &q)))
}

// ---- process ----

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "terminated",
                _ = tokio::signal::ctrl_c() => "interrupt",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "interrupt"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

/// Serves until SIGTERM/SIGINT; requests still running two seconds later are abandoned so
/// the container stops promptly.
pub async fn run(app: App) -> Result<(), String> {
    let addr = app.config.listen_addr();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    logfmt::emit(
        "http.server",
        "info",
        "HTTP Server Listen",
        &[
            ("address", local),
            ("protocol", "http".into()),
            ("subUrl", String::new()),
            ("socket", String::new()),
        ],
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let reason = shutdown_signal().await;
        logfmt::emit(
            "server",
            "info",
            "Shutdown started",
            &[("reason", format!("System signal: {reason}"))],
        );
        let _ = tx.send(true);
    });
    let mut graceful_rx = rx.clone();
    let mut deadline_rx = rx;
    let app = Arc::new(app);
    let server = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = graceful_rx.wait_for(|v| *v).await;
    });
    let deadline = async move {
        let _ = deadline_rx.wait_for(|v| *v).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    tokio::select! {
        r = std::future::IntoFuture::into_future(server) => r.map_err(|e| e.to_string()),
        _ = deadline => Ok(()),
    }
}

/// The `healthcheck` subcommand: true when this server's `/api/health` answers "ok".
pub async fn healthcheck(config: &Config) -> bool {
    let url = format!("{}/api/health", config.local_url());
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .build()
    else {
        return false;
    };
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => r
            .json::<Value>()
            .await
            .map(|v| v["database"] == "ok")
            .unwrap_or(false),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_parameters_repeat() {
        let q = search_query(Some("type=dash-db&query=Anchore%20Ent&tag=a&tag=b&limit=5"));
        assert_eq!(q.query, "Anchore Ent");
        assert_eq!(q.types, vec!["dash-db"]);
        assert_eq!(q.tags, vec!["a", "b"]);
        assert_eq!(q.limit, 5);
        assert_eq!(search_query(None).query, "");
    }
}

//! Runs one role: reads its configuration, serves its HTTP routes with prometheus_flask_exporter's
//! request metrics, registers it with the state owner, and shuts it down promptly on SIGTERM.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use super::analyzer::{self, AnalyzerMetrics};
use super::client::OwnerClient;
use super::config::{self, Command, Config, Role};
use super::logging;
use super::metrics::{self, Counter, Family, Histogram};
use super::store::{Counts, Registration, DB_VERSION, VERSION};
use super::{apiext, auth, extras, healthcheck, owner, process, profile};

/// Version of the v2 API the stand-in follows (the spec in FACTS.md §6).
pub const API_VERSION: &str = "2.7.2";
/// prometheus_flask_exporter version Anchore pins (FACTS.md §4.2).
const FLASK_EXPORTER_VERSION: &str = "0.12.1";

const SERVICE_MODULE: &str = "anchore_enterprise.service";

/// Everything a role's handlers share.
pub struct App {
    pub cfg: Config,
    pub owner: OwnerClient,
    pub http_duration: Histogram,
    pub http_total: Counter,
    pub analyzer: Option<Arc<AnalyzerMetrics>>,
    /// The last counts read from the owner, served when it cannot be reached, as a gauge keeps
    /// its last value.
    pub last_counts: Mutex<Option<Counts>>,
    /// The admin's password as the database keeps it (read at each heartbeat); `None`
    /// until the catalog has set it, when the service's own `ANCHORE_ADMIN_PASSWORD` counts.
    pub admin_password: Mutex<Option<String>>,
}

pub type Shared = Arc<App>;

impl App {
    pub fn new(cfg: Config) -> App {
        let analyzer = (cfg.role == Role::Analyzer).then(|| Arc::new(AnalyzerMetrics::new()));
        App {
            owner: OwnerClient::new(&cfg.owner_url),
            http_duration: Histogram::new(
                "flask_http_request_duration_seconds",
                "Flask HTTP request duration in seconds",
                &["method", "endpoint", "status"],
                &metrics::DEFAULT_BUCKETS,
            ),
            http_total: Counter::new(
                "flask_http_request",
                "Total number of HTTP requests",
                &["method", "status"],
            ),
            analyzer,
            last_counts: Mutex::new(None),
            admin_password: Mutex::new(None),
            cfg,
        }
    }
}

/// The `ApiErrorResponse` body every error of the stand-in's API has.
pub fn api_error(status: StatusCode, error_type: &str, message: impl Into<String>) -> Response {
    let body = json!({
        "code": status.as_u16(),
        "error_type": error_type,
        "message": message.into(),
        "detail": {},
    });
    (status, Json(body)).into_response()
}

pub fn bad_request(message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, "ValidationError", message)
}

pub fn unauthorized() -> Response {
    let mut r = api_error(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    if let Ok(v) = header::HeaderValue::from_str("Basic realm=\"Authentication required\"") {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Whether the request carries HTTP Basic credentials of the admin.
pub fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let db = app
        .admin_password
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    auth::is_admin(h, db.as_deref().or(app.cfg.admin_password.as_deref()))
}

/// The Flask endpoint name prometheus_flask_exporter puts in the `endpoint` label: the
/// operationId of the route, `prometheus_metrics` for the metrics view, `None` when no route
/// matched (Flask's `request.endpoint` is None then).
pub fn operation_name(method: &Method, matched: Option<&str>) -> &'static str {
    match (matched, method.as_str()) {
        (Some("/health" | "/v2/health"), _) => "health_check",
        (Some("/version" | "/v2/version"), _) => "version_check",
        (Some("/v2/status"), _) => "get_status",
        (Some("/v2/system"), _) => "get_service_detail",
        (Some("/v2/system/services"), _) => "list_services",
        (Some("/v2/images"), "POST") => "add_image",
        (Some("/v2/images"), _) => "list_images",
        (Some("/v2/images/{image_digest}"), _) => "get_image",
        (Some("/v2/events"), "DELETE") => "delete_events",
        (Some("/v2/events"), _) => "list_events",
        (Some("/v2/events/{event_id}"), "DELETE") => "delete_event",
        (Some("/v2/events/{event_id}"), _) => "get_event",
        (Some("/v2/event-types"), _) => "list_event_types",
        (Some("/metrics"), _) => "prometheus_metrics",
        _ => "None",
    }
}

/// Records every request in the flask metrics. A successful scrape is not recorded because the
/// exporter's metrics view is `do_not_track`; a refused one is, because Anchore's auth hook
/// answers before the view runs.
async fn track(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let endpoint = operation_name(
        &method,
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    if !(endpoint == "prometheus_metrics" && resp.status().is_success()) {
        let secs = start.elapsed().as_secs_f64();
        app.http_duration
            .observe(&[method.as_str(), endpoint, &status], secs);
        app.http_total.inc(&[method.as_str(), &status], 1.0);
    }
    resp
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn version(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    Json(json!({
        "service": {"version": VERSION},
        "api": {"version": API_VERSION},
        "db": {"schema_version": DB_VERSION},
    }))
    .into_response()
}

async fn not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The requested URL was not found on the server.",
    )
}

fn info_gauge(name: &str, help: &str, labels: &[(&str, &str)]) -> Family {
    Family::gauge(
        name,
        help,
        vec![(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            1.0,
        )],
    )
}

fn labelled(label: &str, pairs: &[(String, u64)]) -> Vec<(Vec<(String, String)>, f64)> {
    pairs
        .iter()
        .map(|(k, n)| (vec![(label.to_string(), k.clone())], *n as f64))
        .collect()
}

async fn counts(app: &App) -> Option<Counts> {
    match app.owner.counts().await {
        Ok(c) => {
            *app.last_counts.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
            Some(c)
        }
        Err(e) => {
            logging::warn(
                "MainThread",
                &format!("{SERVICE_MODULE}/_collect_metrics():812"),
                &format!("cannot refresh metrics from the database - exception: {e}"),
            );
            app.last_counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        }
    }
}

fn tmpspace(app: &App) -> Family {
    let samples = process::available_bytes(&app.cfg.scratch_dir)
        .map(|b| vec![(vec![], b)])
        .unwrap_or_default();
    Family::gauge("anchore_tmpspace_available_bytes", "", samples)
}

/// All families this role exports, in prometheus_client's registration order.
pub async fn collect(app: &App) -> Vec<Family> {
    let mut fams = Vec::new();
    if let Some(s) = process::read() {
        fams.extend(process::families(&s));
    }
    fams.push(app.http_duration.family());
    fams.push(app.http_total.family());
    fams.push(info_gauge(
        "flask_exporter_info",
        "Information about the Prometheus Flask exporter",
        &[("version", FLASK_EXPORTER_VERSION)],
    ));
    fams.push(info_gauge(
        "anchore_service_info",
        "Anchore Service Static Information",
        &[
            ("version", VERSION),
            ("servicename", app.cfg.role.service_name()),
        ],
    ));
    match app.cfg.role {
        Role::Analyzer => {
            if let Some(a) = &app.analyzer {
                fams.extend(a.families());
            }
            fams.push(tmpspace(app));
        }
        Role::Catalog => {
            let c = counts(app).await.unwrap_or_default();
            fams.push(Family::gauge(
                "anchore_global_images_analysis_status",
                "",
                labelled("analysis_status", &c.analysis_status),
            ));
            fams.push(Family::gauge(
                "anchore_global_images_record_status",
                "",
                labelled("image_status", &c.image_status),
            ));
            fams.push(tmpspace(app));
        }
        Role::Simplequeue => {
            let c = counts(app).await.unwrap_or_default();
            fams.push(Family::gauge(
                "anchore_queue_length",
                "",
                labelled("queuename", &c.queues),
            ));
        }
        _ => {}
    }
    fams
}

async fn metrics_view(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !app.cfg.metrics_auth_disabled && !authorized(&app, &headers) {
        return unauthorized();
    }
    let body = metrics::render(&collect(&app).await);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

/// The router of an Anchore role.
pub fn router(app: Shared) -> Router {
    let mut r: Router<Shared> = Router::new()
        .route("/health", get(health))
        .route("/v2/health", get(health))
        .route("/version", get(version))
        .route("/v2/version", get(version));
    if app.cfg.role == Role::Apiext {
        r = r.merge(apiext::routes());
    }
    if app.cfg.metrics_enabled {
        r = r.route("/metrics", get(metrics_view));
    }
    r.fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Registers with the owner and keeps heartbeating until shutdown, so `/v2/system` shows the
/// service up while it runs.
async fn heartbeat(app: Shared, mut stop: watch::Receiver<bool>) {
    let reg = Registration {
        host_id: app.cfg.host_id.clone(),
        service_name: app.cfg.role.service_name().to_string(),
        base_url: app.cfg.base_url(),
        version: VERSION.to_string(),
        admin_password: (app.cfg.role == Role::Catalog)
            .then(|| app.cfg.admin_password.clone())
            .flatten(),
    };
    let location = format!("{SERVICE_MODULE}/_register():551");
    let mut registered = false;
    let mut complained = false;
    loop {
        match app.owner.register(&reg).await {
            Ok(admin) => {
                if admin.is_some() {
                    *app.admin_password.lock().unwrap_or_else(|e| e.into_inner()) = admin;
                }
                if !registered {
                    logging::info("MainThread", &location, "Service registration complete");
                }
                registered = true;
                complained = false;
            }
            Err(e) => {
                if !complained {
                    logging::warn(
                        "MainThread",
                        &location,
                        &format!("service registration failed, will retry - exception: {e}"),
                    );
                }
                registered = false;
                complained = true;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(app.cfg.heartbeat) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Sets `stop` on SIGTERM or SIGINT (Docker sends SIGTERM to PID 1, which has no default
/// handler, so without this `docker compose down` would wait 10 s and kill).
fn spawn_signal_handler(stop: watch::Sender<bool>, on_signal: fn(&str)) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(i)) => (t, i),
            _ => {
                // Keep `stop` alive: dropping it would read as "stop now" everywhere.
                std::future::pending::<()>().await;
                return;
            }
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        on_signal(name);
        let _ = stop.send(true);
    });
}

pub async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn write_health_file(cfg: &Config, url: &str) {
    // Best effort: without it a bare `healthcheck` still probes the Anchore port.
    let _ = std::fs::write(&cfg.health_file, format!("{url}\n"));
}

/// Binds the role's port on all interfaces.
async fn bind(cfg: &Config) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(("0.0.0.0", cfg.port))
        .await
        .map_err(|e| format!("cannot listen on 0.0.0.0:{}: {e}", cfg.port))
}

/// Serves `router` until stopped, then gives in-flight requests a moment; never blocks exit for
/// more than about a second.
async fn serve_until_stopped(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: watch::Receiver<bool>,
) {
    let server = axum::serve(listener, router).with_graceful_shutdown(stopped(stop.clone()));
    let task = tokio::spawn(async move { server.await });
    stopped(stop).await;
    let _ = tokio::time::timeout(Duration::from_millis(700), task).await;
}

async fn run_anchore(cfg: Config) -> ExitCode {
    let main_loc = format!("{SERVICE_MODULE}/start():703");
    logging::info(
        "MainThread",
        "anchore_enterprise.cli.service/start():184",
        &format!("Starting services: ['{}']", cfg.role.service_name()),
    );
    let listener = match bind(&cfg).await {
        Ok(l) => l,
        Err(e) => {
            logging::error("MainThread", &main_loc, &e);
            return ExitCode::FAILURE;
        }
    };
    if cfg.admin_password.is_none() {
        logging::warn(
            "MainThread",
            &main_loc,
            "ANCHORE_ADMIN_PASSWORD is not set here: requests are checked against the admin password the catalog keeps in the database (none yet: every authenticated request is refused)",
        );
    }
    logging::info(
        "MainThread",
        &format!("{SERVICE_MODULE}/_register():505"),
        &format!(
            "Registering service: {} host_id={} base_url={} database={}",
            cfg.role.service_name(),
            cfg.host_id,
            cfg.base_url(),
            cfg.owner_url
        ),
    );
    let metrics_msg = match (cfg.metrics_enabled, cfg.metrics_auth_disabled) {
        (false, _) => "Prometheus metrics are disabled".to_string(),
        (true, false) => {
            "Prometheus metrics are enabled at /metrics (authentication required)".to_string()
        }
        (true, true) => {
            "Prometheus metrics are enabled at /metrics (authentication disabled)".to_string()
        }
    };
    logging::info(
        "MainThread",
        "anchore_enterprise.subsys.metrics/init_flask_metrics():92",
        &metrics_msg,
    );
    write_health_file(&cfg, &format!("http://127.0.0.1:{}/health", cfg.port));

    let app = Arc::new(App::new(cfg));
    let (stop_tx, stop_rx) = watch::channel(false);
    spawn_signal_handler(stop_tx, |sig| {
        logging::info(
            "MainThread",
            "anchore_enterprise.service/_on_signal():742",
            &format!("Received {sig}, shutting down"),
        );
    });
    if let Err(e) = profile::start(&app, stop_rx.clone()) {
        logging::error("MainThread", &main_loc, &e);
        return ExitCode::FAILURE;
    }
    tokio::spawn(heartbeat(app.clone(), stop_rx.clone()));
    let worker = (app.cfg.role == Role::Analyzer)
        .then(|| tokio::spawn(analyzer::run(app.clone(), stop_rx.clone())));
    logging::info(
        "MainThread",
        &main_loc,
        &format!(
            "Service {} started and listening on 0.0.0.0:{}",
            app.cfg.role.service_name(),
            app.cfg.port
        ),
    );
    serve_until_stopped(listener, router(app.clone()), stop_rx).await;
    if let Some(w) = worker {
        // The analyzer re-queues an interrupted job before it returns.
        let _ = tokio::time::timeout(Duration::from_millis(800), w).await;
    }
    let _ = tokio::time::timeout(
        Duration::from_millis(300),
        app.owner
            .deregister(app.cfg.role.service_name(), &app.cfg.host_id),
    )
    .await;
    let _ = std::fs::remove_file(&app.cfg.health_file);
    logging::info("MainThread", &main_loc, "Service stopped");
    ExitCode::SUCCESS
}

async fn run_other(cfg: Config) -> ExitCode {
    let listener = match bind(&cfg).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let on_signal: fn(&str) = match cfg.role {
        Role::Db => |_| extras::pg_log("received fast shutdown request"),
        Role::Redis => |_| extras::redis_log("Received SIGTERM scheduling shutdown..."),
        _ => |_| {},
    };
    spawn_signal_handler(stop_tx, on_signal);
    match cfg.role {
        Role::Db => {
            write_health_file(&cfg, &format!("http://127.0.0.1:{}/health", cfg.port));
            extras::pg_log(&format!(
                "listening on IPv4 address \"0.0.0.0\", port {}",
                cfg.port
            ));
            extras::pg_log("database system is ready to accept connections");
            // Like Postgres's PGDATA: the store is kept in the data folder when one is given.
            let owner = match std::env::var("STANDIN_DATA_DIR")
                .ok()
                .filter(|d| !d.trim().is_empty())
            {
                Some(dir) => {
                    match owner::Owner::persistent(cfg.heartbeat * 3, std::path::Path::new(&dir)) {
                        Ok(o) => o,
                        Err(e) => {
                            eprintln!("anchore-standin: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                }
                None => owner::Owner::new(cfg.heartbeat * 3),
            };
            let r = owner::router(owner);
            serve_until_stopped(listener, r, stop_rx).await;
        }
        Role::Redis => {
            write_health_file(&cfg, &format!("redis://127.0.0.1:{}", cfg.port));
            extras::redis_log("Ready to accept connections tcp");
            extras::serve_redis(listener, stop_rx).await;
        }
        _ => {
            write_health_file(&cfg, &format!("http://127.0.0.1:{}/health", cfg.port));
            println!(
                "Anchore Enterprise UI (stand-in) listening on port {}",
                cfg.port
            );
            let r = extras::ui_router(cfg.metrics_enabled);
            serve_until_stopped(listener, r, stop_rx).await;
        }
    }
    let _ = std::fs::remove_file(&cfg.health_file);
    ExitCode::SUCCESS
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Entry point of the `anchore-standin` binary; `args` excludes the program name.
pub fn main(args: Vec<String>) -> ExitCode {
    let command = match config::parse_command(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("anchore-standin: {e}");
            return ExitCode::from(2);
        }
    };
    let role = match command {
        Command::Help => {
            println!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("anchore-standin {VERSION} (Anchore Enterprise stand-in)");
            return ExitCode::SUCCESS;
        }
        Command::Healthcheck(target) => return healthcheck::run(target.as_deref(), &env_var),
        Command::Start(role) => role,
    };
    let cfg = match Config::from_env(role, &env_var, &config::hostname()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("anchore-standin: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(&cfg.log_service(), cfg.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("anchore-standin: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async move {
        if role.is_anchore() {
            run_anchore(cfg).await
        } else {
            run_other(cfg).await
        }
    });
    // Do not wait for idle keep-alive connections or blocked tasks: exit now.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_follow_the_operation_ids() {
        let get = Method::GET;
        assert_eq!(operation_name(&get, Some("/health")), "health_check");
        assert_eq!(operation_name(&get, Some("/v2/health")), "health_check");
        assert_eq!(
            operation_name(&Method::POST, Some("/v2/images")),
            "add_image"
        );
        assert_eq!(operation_name(&get, Some("/v2/images")), "list_images");
        assert_eq!(
            operation_name(&get, Some("/v2/images/{image_digest}")),
            "get_image"
        );
        assert_eq!(
            operation_name(&get, Some("/v2/system")),
            "get_service_detail"
        );
        assert_eq!(operation_name(&get, Some("/metrics")), "prometheus_metrics");
        assert_eq!(operation_name(&get, None), "None");
    }
}

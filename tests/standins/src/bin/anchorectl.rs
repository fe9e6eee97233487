//! `anchorectl`: the stand-in for Anchore's CLI, speaking to the v2 API with HTTP Basic
//! credentials from `ANCHORECTL_URL`, `ANCHORECTL_USERNAME` and `ANCHORECTL_PASSWORD`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use lab_standins::anchore::ctl::{self, Cmd, Output, Settings};
use lab_standins::anchore::ctl_events::{self, EventCmd};
use lab_standins::anchore::image::{is_digest, ImageRef};
use serde_json::{json, Map, Value};

/// The innermost cause of an error ("Connection refused" rather than "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

struct Api {
    s: Settings,
    http: reqwest::Client,
}

impl Api {
    fn new(s: Settings) -> Api {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Api { s, http }
    }

    /// Sends a request and returns the JSON body, or an error message fit for the user.
    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value, String> {
        let resp = req
            .basic_auth(&self.s.username, Some(&self.s.password))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "unable to {what}: cannot reach the Anchore API at {}: {}",
                    self.s.api,
                    root_cause(&e)
                )
            })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("unable to {what}: {e}"))?;
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        if status.as_u16() == 401 {
            return Err(format!(
                "unable to {what}: 401 Unauthorized: check ANCHORECTL_USERNAME and ANCHORECTL_PASSWORD"
            ));
        }
        if !status.is_success() {
            let message = value
                .as_ref()
                .and_then(|v| v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
            return Err(format!("unable to {what}: {} {message}", status.as_u16()));
        }
        value
            .ok_or_else(|| format!("unable to {what}: the API answered something that is not JSON"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.s.api)
    }

    async fn get_by_digest(&self, digest: &str) -> Result<Value, String> {
        self.call(
            self.http.get(self.url(&format!("/images/{digest}"))),
            "get image",
        )
        .await
    }

    /// Finds an image by digest, `repo@digest` or tag.
    async fn find(&self, reference: &str) -> Result<Value, String> {
        if is_digest(reference) {
            return self.get_by_digest(reference).await;
        }
        let r = ImageRef::parse(reference).map_err(|e| format!("unable to get image: {e}"))?;
        if let Some(d) = &r.digest {
            return self.get_by_digest(d).await;
        }
        let req = self.http.get(self.url("/images")).query(&[
            ("full_tag", r.full_tag()),
            ("image_status", "all".to_string()),
        ]);
        let list = self.call(req, "get image").await?;
        if let Some(found) = list
            .get("items")
            .and_then(Value::as_array)
            .and_then(|a| a.last())
        {
            return Ok(found.clone());
        }
        // `postgres` and `docker.io/library/postgres` are one repository on Docker Hub: look
        // for the image under the other spelling of its tag.
        let req = self
            .http
            .get(self.url("/images"))
            .query(&[("image_status", "all")]);
        let all = self.call(req, "get image").await?;
        let wanted = r.canonical_tag();
        all.get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .rev()
            .find(|img| {
                img.get("image_detail")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|d| {
                        d.get("full_tag")
                            .and_then(Value::as_str)
                            .and_then(|t| ImageRef::parse(t).ok())
                            .is_some_and(|t| t.canonical_tag() == wanted)
                    })
            })
            .cloned()
            .ok_or_else(|| format!("unable to get image: image not found: {}", r.full_tag()))
    }
}

fn render_image(v: &Value, output: Output, text: impl Fn(&Value) -> String) -> String {
    match output {
        Output::Text => text(v),
        Output::Id => format!(
            "{}\n",
            v.get("image_digest").and_then(Value::as_str).unwrap_or("")
        ),
        json => ctl::json_text(v, json),
    }
}

fn render_other(v: &Value, output: Output, text: impl Fn(&Value) -> String) -> String {
    match output {
        Output::Text | Output::Id => text(v),
        json => ctl::json_text(v, json),
    }
}

async fn run(cmd: Cmd, api: &Api) -> Result<String, String> {
    match cmd {
        Cmd::Help => Ok(format!("{}\n", ctl::USAGE)),
        Cmd::Version => Ok(ctl::version_text()),
        Cmd::ImageAdd {
            image,
            wait,
            force,
            annotations,
            output,
        } => {
            ImageRef::parse(&image).map_err(|e| format!("unable to add image: {e}"))?;
            let annotations: Map<String, Value> = annotations
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let body =
                json!({"source": {"tag": {"pull_string": image}}, "annotations": annotations});
            let mut req = api.http.post(api.url("/images")).json(&body);
            if force {
                req = req.query(&[("force", "true")]);
            }
            let mut record = api.call(req, "add image").await?;
            if wait {
                let digest = record
                    .get("image_digest")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let deadline = Instant::now() + Duration::from_secs(3600);
                while !matches!(
                    record.get("analysis_status").and_then(Value::as_str),
                    Some("analyzed" | "analysis_failed")
                ) {
                    if Instant::now() > deadline {
                        return Err(format!("timed out waiting for the analysis of {image}"));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    record = api.get_by_digest(&digest).await?;
                }
                if record.get("analysis_status").and_then(Value::as_str) == Some("analysis_failed")
                {
                    print!(
                        "{}",
                        render_image(&record, output, |v| ctl::add_text(v, &image))
                    );
                    return Err(format!("failed to analyze image {image}: analysis_failed"));
                }
            }
            Ok(render_image(&record, output, |v| ctl::add_text(v, &image)))
        }
        Cmd::ImageGet { image, output } => {
            let record = api.find(&image).await?;
            Ok(render_image(&record, output, |v| ctl::get_text(v, &image)))
        }
        Cmd::ImageList { output } => {
            let list = api
                .call(api.http.get(api.url("/images")), "list images")
                .await?;
            Ok(render_other(&list, output, ctl::list_text))
        }
        Cmd::SystemStatus { output } => {
            let sys = api
                .call(api.http.get(api.url("/system")), "get system status")
                .await?;
            Ok(render_other(&sys, output, ctl::system_text))
        }
        Cmd::Event(e) => run_event(e, api).await,
        Cmd::SystemWait { timeout, services } => {
            let deadline = Instant::now() + timeout;
            loop {
                let missing = match api
                    .call(api.http.get(api.url("/system")), "get system status")
                    .await
                {
                    Ok(sys) => ctl::services_not_up(&sys, &services),
                    // 401 will not fix itself; anything else may be a system still starting.
                    Err(e) if e.contains("401") => return Err(e),
                    Err(_) => services.clone(),
                };
                if missing.is_empty() {
                    return Ok(format!(
                        " ✔ API available    {}\n ✔ Services available    [{}]\n",
                        api.s.api,
                        services.join(" ")
                    ));
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "timed out waiting for services: {}",
                        missing.join(", ")
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// `event list|get|delete`: every page with `--all` (at most 100 pages), else the one asked for.
async fn run_event(cmd: EventCmd, api: &Api) -> Result<String, String> {
    match cmd {
        EventCmd::List { query, all, output } => {
            let mut events = Vec::new();
            let mut pages = Vec::new();
            let first: u32 = query
                .iter()
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(1);
            let mut query: Vec<(String, String)> =
                query.into_iter().filter(|(k, _)| k != "page").collect();
            query.push(("page".into(), String::new()));
            for page in first..first.saturating_add(100) {
                if let Some(last) = query.last_mut() {
                    last.1 = page.to_string();
                }
                let req = api.http.get(api.url("/events")).query(&query);
                let body = api.call(req, "list events").await?;
                if let Some(r) = body.get("results").and_then(Value::as_array) {
                    events.extend(r.iter().cloned());
                }
                let more = body.get("next_page").and_then(Value::as_bool) == Some(true);
                pages.push(body);
                if !(all && more) {
                    break;
                }
            }
            Ok(ctl_events::list_output(&events, &pages, output))
        }
        EventCmd::Get { id, output } => {
            let req = api.http.get(api.url(&format!("/events/{id}")));
            let e = api.call(req, "get event").await?;
            Ok(ctl_events::get_output(&e, output))
        }
        EventCmd::Delete { id } => {
            let req = api.http.delete(api.url(&format!("/events/{id}")));
            api.call(req, "delete event").await?;
            Ok(format!(" ✔ Deleted event {id}\n"))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |k: &str| std::env::var(k).ok();
    let cmd = match ctl::parse(&args, &env) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", ctl::error_text(&e));
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprint!("{}", ctl::error_text(&format!("cannot start: {e}")));
            return ExitCode::FAILURE;
        }
    };
    let api = Api::new(ctl::settings(&env));
    match rt.block_on(run(cmd, &api)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", ctl::error_text(&e));
            ExitCode::FAILURE
        }
    }
}

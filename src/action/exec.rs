//! Carries out a lab's steps (setup, solution, cleanup) on an environment, saying
//! what each changes. Every step is safe to run again: an edit already made, an
//! asset already written or an image already added changes nothing more.

use super::compose_edit::{self, EditError};
use super::{preflight, pull};
use crate::engine::compose::{self, Compose};
use crate::env::{self, Environment};
use crate::error::{Error, Result};
use crate::files::{backup, write_atomic};
use crate::model::action::{Measured, Written};
use crate::model::{format_duration, LoadedLab, Step};
use crate::probe::Ctx;
use crate::report::Ui;
use crate::session::Session;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const COMPOSE_UP_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const ANALYSIS_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// What a step did, for the caller's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Changed(String),
    Unchanged(String),
}

tokio::task_local! {
    static STEP_TIMES: std::sync::Mutex<StepTimes>;
}

/// Time spent in steps, by step kind (`compose_up`, `wait_check`, ...). A
/// `complete_lab` step's own entry is the whole replay of the earlier lab; the steps
/// it ran are counted under their own kinds too.
pub type StepTimes = std::collections::BTreeMap<&'static str, Duration>;

/// Runs `f` and returns, beside its output, the time each kind of step took in it
/// (for `lab smoke`'s account of where a scenario's time goes). Outside `timed`,
/// steps are not timed.
pub async fn timed<F: std::future::Future>(f: F) -> (F::Output, StepTimes) {
    STEP_TIMES
        .scope(std::sync::Mutex::new(StepTimes::new()), async {
            let out = f.await;
            let times = STEP_TIMES
                .with(|t| std::mem::take(&mut *t.lock().unwrap_or_else(|e| e.into_inner())));
            (out, times)
        })
        .await
}

/// Runs `steps` in order; stops at the first that fails, naming it.
/// `course` is every lab, for `complete_lab` steps.
pub async fn run_steps(
    s: &Session,
    course: &[LoadedLab],
    lab: &LoadedLab,
    steps: &[Step],
    ui: &Ui,
) -> Result<Vec<Done>> {
    let mut done = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let t = Instant::now();
        let d = run_step(s, course, lab, step, ui).await;
        let _ = STEP_TIMES.try_with(|times| {
            *times
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(step.name())
                .or_default() += t.elapsed();
        });
        let d = d.map_err(|e| match e {
            // The labs were validated before any step ran: what fails now
            // failed at run time, not in how `lab` was called.
            Error::Usage(cause) => Error::Step {
                lab: lab.lab.id(),
                step: i + 1,
                name: step.name().to_string(),
                cause,
            },
            other => other,
        })?;
        match &d {
            Done::Changed(m) => ui.status("Changed", m),
            Done::Unchanged(m) => ui.status("Unchanged", m),
        }
        done.push(d);
    }
    Ok(done)
}

/// The environment's compose project: its compose file, and the image map's
/// override file (`.lab/images.override.yaml`) when an image is mapped.
pub async fn compose_for(env: &Environment) -> Result<Compose> {
    let installed = compose::detect().await?;
    // Relative to the environment's folder, where compose runs (the folder itself
    // may be given relative to this one).
    let mut files = vec![env
        .compose_file()
        .strip_prefix(&env.dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| env.compose_file())];
    if let Some(o) = crate::images::write_override(&env.dir, &env.compose_file(), &env.images)? {
        if installed.flavor == compose::Flavor::V1 && crate::ports::load(&env.dir)?.is_some() {
            return Err(Error::Usage(format!(
                "the stack of {} publishes moved ports (.lab/ports.json), which needs Compose v2 \
                 (2.24.4 or later: `ports: !override`); Compose v1 would publish the course's ports too",
                env.dir.display()
            )));
        }
        files.push(o.strip_prefix(&env.dir).map(Path::to_path_buf).unwrap_or(o));
    }
    Ok(Compose::new(
        installed.flavor,
        env.state.project.clone(),
        files,
        env.dir.clone(),
    ))
}

/// The compose file as a document (for the images and ports compose will use).
fn compose_doc(env: &Environment) -> Result<Value> {
    let path = env.compose_file();
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    crate::loader::yaml_value(&text)
        .map_err(|e| Error::Usage(format!("{} is not valid YAML: {e}", path.display())))
}

async fn run_step(
    s: &Session,
    course: &[LoadedLab],
    lab: &LoadedLab,
    step: &Step,
    ui: &Ui,
) -> Result<Done> {
    let env = &s.env;
    match step {
        Step::CompleteLab { lab: n } => {
            let earlier = course
                .iter()
                .find(|l| l.lab.number == *n)
                .ok_or_else(|| Error::Usage(format!("there is no lab {n} in the course")))?;
            ui.status(
                "Completing",
                &format!("lab {} (its setup, then its solution)", earlier.lab.id()),
            );
            let all: Vec<Step> = earlier
                .lab
                .setup
                .iter()
                .chain(&earlier.lab.solve)
                .cloned()
                .collect();
            let inner = Box::pin(run_steps(s, course, earlier, &all, ui)).await?;
            let changed = inner
                .iter()
                .filter(|d| matches!(d, Done::Changed(_)))
                .count();
            let what = format!(
                "lab {} is complete ({changed} of {} steps changed something)",
                earlier.lab.id(),
                inner.len()
            );
            Ok(if changed > 0 {
                Done::Changed(what)
            } else {
                Done::Unchanged(what)
            })
        }
        Step::ComposeUp { services, timeout } => {
            let c = compose_for(env).await?;
            let docker = s.docker().await?;
            // Before compose runs: the host ports, so a taken one is named with its
            // holder, and the images, through the engine with progress bars.
            let doc = compose_doc(env)?;
            let started_services = preflight::services_started(&doc, services);
            let images = preflight::images(&doc, &started_services, &env.images);
            let mut published = preflight::published(&doc, &started_services);
            if let Some(moved) = crate::ports::load(&env.dir)? {
                for p in &mut published {
                    p.port = moved.get(&p.port).copied().unwrap_or(p.port);
                }
            }
            preflight::check_ports(&docker, &env.state.project, &published).await?;
            let pulled = pull::ensure(&docker, &images, env.pull, ui).await?;
            ui.status("Images", &pulled.line());
            ui.status(
                "Starting",
                &format!(
                    "compose project `{}` ({})",
                    env.state.project,
                    c.command_line(&["up", "-d"])
                ),
            );
            let before = running_containers(&docker, &env.state.project).await;
            c.up(services).await?;
            // Every service `up` started, as read from the file above (one compose
            // run less); compose's own list when the file names none we could read.
            let wanted = if !services.is_empty() {
                services.clone()
            } else if !started_services.is_empty() {
                started_services.clone()
            } else {
                c.services().await?
            };
            let limit = timeout.map(|t| t.0).unwrap_or(COMPOSE_UP_TIMEOUT);
            let started = Instant::now();
            let opts = compose::WaitOptions {
                one_shot: preflight::one_shot(&doc),
                ..compose::WaitOptions::new(limit)
            };
            compose::wait_ready_with(&docker, &env.state.project, &wanted, &opts, |svc, state| {
                ui.status("Service", &format!("{svc}: {state}"));
            })
            .await?;
            let msg = format!(
                "{} services ready in {}",
                wanted.len(),
                format_duration(started.elapsed())
            );
            let touched = running_containers(&docker, &env.state.project).await != before;
            Ok(if touched {
                Done::Changed(msg)
            } else {
                Done::Unchanged(msg)
            })
        }
        Step::ComposeDown { volumes } => {
            compose_down(env, &s.docker().await?, *volumes).await?;
            Ok(Done::Changed(format!(
                "compose project `{}` down{}",
                env.state.project,
                if *volumes {
                    " with its volumes"
                } else {
                    "; volumes kept"
                }
            )))
        }
        Step::UncommentBlock {
            file,
            marker,
            otherwise_add,
        } => {
            let name = marker.trim().trim_end_matches(':').trim().to_string();
            let snippet = match otherwise_add {
                Some(s) => Some(asset_text(lab, s)?),
                None => None,
            };
            edit(
                env,
                file,
                &format!("uncommented (or added) the `{marker}` block"),
                |t| match (compose_edit::uncomment_block(t, marker), &snippet) {
                    (Ok(done), _) => Ok(done),
                    (Err(_), Some(snippet)) => compose_edit::add_service(t, &name, snippet),
                    (Err(e), None) => Err(e),
                },
            )
        }
        Step::SetEnv {
            file,
            services,
            name,
            value,
        } => {
            let which = if services.is_empty() {
                "every service that has it".to_string()
            } else {
                services.join(", ")
            };
            // A deployment that takes the value from `.env` (Anchore 6.x) gets it
            // changed there, as its instructions say; one service alone is changed
            // in the compose file (`.env` would change them all).
            let compose_text = std::fs::read_to_string(env.dir.join(file)).unwrap_or_default();
            let from = services
                .is_empty()
                .then(|| compose_edit::interpolated_from(&compose_text, services, name))
                .flatten();
            if let Some(var) = from {
                let dotenv = std::path::Path::new(file)
                    .parent()
                    .map(|p| p.join(".env"))
                    .unwrap_or_else(|| ".env".into());
                let dotenv = dotenv.display().to_string();
                if !env.dir.join(&dotenv).exists() {
                    write_atomic(&env.dir.join(&dotenv), b"").map_err(|source| Error::Write {
                        path: dotenv.clone(),
                        source,
                    })?;
                }
                return edit(
                    env,
                    &dotenv,
                    &format!("set {var}={value} in {dotenv} (which {name} on {which} reads)"),
                    |t| Ok(compose_edit::dotenv_set(t, &var, value)),
                );
            }
            edit(env, file, &format!("set {name}={value} on {which}"), |t| {
                compose_edit::set_env(t, services, name, value)
            })
        }
        Step::AddService {
            file,
            name,
            snippet,
        } => {
            let text = asset_text(lab, snippet)?;
            edit(env, file, &format!("added service `{name}`"), |t| {
                compose_edit::add_service(t, name, &text)
            })
        }
        Step::AddVolume { file, name } => {
            edit(env, file, &format!("declared volume `{name}`"), |t| {
                compose_edit::add_volume(t, name)
            })
        }
        Step::WriteAsset { asset, to } => {
            let bytes = lab
                .files
                .get(asset.trim_start_matches("./"))
                .ok_or_else(|| Error::Usage(format!("asset `{asset}` is missing from the lab")))?;
            // Inside the workspace, however its folders are linked.
            let path = crate::files::inside(&env.dir, to).map_err(|source| Error::Write {
                path: env.dir.join(to).display().to_string(),
                source,
            })?;
            if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
                return Ok(Done::Unchanged(format!(
                    "{to} is already the lab's {asset}"
                )));
            }
            if path.exists() {
                backup(&path, &env.backups_dir()).map_err(|source| Error::Write {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            write_atomic(&path, bytes).map_err(|source| Error::Write {
                path: path.display().to_string(),
                source,
            })?;
            Ok(Done::Changed(format!("wrote {to}")))
        }
        Step::AddImage {
            image,
            wait,
            timeout,
        } => {
            let how = add_image(s, image).await?;
            if *wait {
                let status =
                    wait_analysis(s, image, timeout.map(|t| t.0).unwrap_or(ANALYSIS_TIMEOUT))
                        .await?;
                return Ok(Done::Changed(format!(
                    "added {image} ({how}); analysis {status}"
                )));
            }
            Ok(Done::Changed(format!("added {image} ({how})")))
        }
        Step::WaitAnalysis { image, timeout } => {
            let status =
                wait_analysis(s, image, timeout.map(|t| t.0).unwrap_or(ANALYSIS_TIMEOUT)).await?;
            Ok(Done::Unchanged(format!("analysis of {image}: {status}")))
        }
        Step::GrafanaDatasource { name, ds_type, url } => {
            grafana_datasource(s, name, ds_type, url).await
        }
        Step::GrafanaImport {
            dashboard,
            datasource,
        } => {
            let text = asset_text(lab, dashboard)?;
            grafana_import(s, &text, datasource.as_deref()).await
        }
        Step::WaitCheck { check, timeout } => {
            wait_check(
                s,
                lab,
                check,
                timeout.map(|t| t.0).unwrap_or(COMPOSE_UP_TIMEOUT),
            )
            .await
        }
        Step::Run {
            argv,
            shell,
            env: vars,
        } => run_command(s, argv, *shell, vars).await,
        Step::Answer {
            question,
            value,
            measured,
            written,
        } => {
            let value = match (value, measured) {
                (Some(v), _) => v.clone(),
                (None, Some(m)) => measure(s, m, *written).await?,
                (None, None) => {
                    return Err(Error::Usage(
                        "an answer step needs `value` or `measured`".into(),
                    ))
                }
            };
            let previous = env::update_answers(&env.dir, |answers| {
                answers.insert(question.clone(), value.clone())
            })?;
            if previous.as_ref() == Some(&value) {
                return Ok(Done::Unchanged(format!(
                    "answer to `{question}` already recorded"
                )));
            }
            Ok(Done::Changed(format!(
                "recorded the answer to `{question}`: {}",
                crate::text::clip(&value, 60)
            )))
        }
        Step::ReplaceText {
            file,
            find,
            with,
            all,
        } => edit(
            env,
            file,
            &format!("replaced {find:?} with {with:?}"),
            |t| {
                if t.contains(find.as_str()) {
                    let n = if *all { usize::MAX } else { 1 };
                    Ok(t.replacen(find.as_str(), with, n))
                } else if with.is_empty() || t.contains(with.as_str()) {
                    // Already replaced (or removed) by an earlier run.
                    Ok(t.to_string())
                } else {
                    Err(EditError(format!("the text {find:?} is not in the file")))
                }
            },
        ),
    }
}

/// The analysis's last lines can reach the container's logs after Anchore reports
/// it analyzed (a busy engine delivers logs late): an analysis still unfinished in
/// the logs is read again until it ends or the step's 30 s run out.
async fn analysis_in_logs(
    c: &Ctx,
    service: &str,
    image: &str,
) -> std::result::Result<crate::analyzer_log::Analysis, String> {
    loop {
        let a = crate::probe::answer::completed_analysis(c, service, image).await;
        match &a {
            Err(e) if e.contains("not finished yet") && c.remaining() > Duration::from_secs(1) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => return a,
        }
    }
}

/// Reads an answer off the environment, as a trainee would.
async fn measure(s: &Session, m: &Measured, written: Written) -> Result<String> {
    let env = &s.env;
    let c = s.ctx(Duration::from_secs(30), true).await?;
    let r = match m {
        Measured::AnalysisDuration { service, image } => {
            let a = analysis_in_logs(&c, service, image).await;
            if let Ok(a) = &a {
                keep_analysis(env, service, image, a)?;
            }
            a.map(|a| written.seconds(a.duration.unwrap_or_default()))
        }
        Measured::AnalysisThread { service, image } => {
            let a = analysis_in_logs(&c, service, image).await;
            if let Ok(a) = &a {
                keep_analysis(env, service, image, a)?;
            }
            a.map(|a| written.thread(&a.thread))
        }
        Measured::Prometheus(q) => crate::probe::prometheus::first_value(&c, q)
            .await
            .map(|v| v.to_string()),
        Measured::AnchoreEvent {
            field,
            level,
            event_type,
        } => crate::probe::events::read(&c, &[])
            .await
            .and_then(|events| {
                events
                    .iter()
                    .find(|e| e.is(level.as_deref(), event_type.as_deref()))
                    .map(|e| e.field(*field).to_string())
                    .ok_or_else(|| "the event log has no such event yet".to_string())
            }),
        Measured::PrometheusTop { query, label } => {
            crate::probe::prometheus::ranked(&c, query, label)
                .await
                .map(|r| r[0].0.clone())
        }
    };
    r.map_err(|e| Error::Usage(format!("cannot measure the answer: {e}")))
}

/// Keeps an analysis read from the logs (not one already kept), for when the
/// analyzer's container is replaced.
fn keep_analysis(
    env: &Environment,
    service: &str,
    image: &str,
    a: &crate::analyzer_log::Analysis,
) -> Result<()> {
    if a.events.is_empty() {
        return Ok(()); // it came from the kept file, not from logs
    }
    env::remember_analysis(
        &env.dir,
        service,
        image,
        env::SeenAnalysis {
            thread: a.thread.clone(),
            duration: a.duration,
            source: a.source.clone(),
        },
    )
}

/// The ids of a compose project's running containers: when `up` leaves them all
/// alone (same ids, still running) it changed nothing, whatever compose printed.
/// `compose down`; with `volumes`, also the anonymous volumes compose v2 leaves behind
/// (`engine::containers::anonymous_volumes`), so a project taken down with its volumes
/// leaves none.
pub async fn compose_down(
    env: &Environment,
    docker: &bollard::Docker,
    volumes: bool,
) -> Result<()> {
    let c = compose_for(env).await?;
    let limit = Duration::from_secs(30);
    let anonymous = if volumes {
        crate::engine::containers::anonymous_volumes(docker, &env.state.project, limit).await?
    } else {
        Default::default()
    };
    c.down(volumes).await?;
    match crate::engine::containers::remove_volumes(docker, &anonymous, limit)
        .await
        .into_iter()
        .next()
    {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

async fn running_containers(
    docker: &bollard::Docker,
    project: &str,
) -> std::collections::BTreeSet<String> {
    crate::engine::containers::project_members(docker, project, Duration::from_secs(10))
        .await
        .map(|ms| ms.into_iter().filter(|m| m.running).map(|m| m.id).collect())
        .unwrap_or_default()
}

fn asset_text(lab: &LoadedLab, name: &str) -> Result<String> {
    lab.files
        .get(name.trim_start_matches("./"))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| Error::Usage(format!("asset `{name}` is missing from the lab")))
}

/// Applies a text edit to one of the environment's files: unchanged files are not
/// touched; a changed one is backed up, then written atomically.
fn edit(
    env: &Environment,
    file: &str,
    what: &str,
    f: impl FnOnce(&str) -> std::result::Result<String, EditError>,
) -> Result<Done> {
    let path = env.dir.join(file);
    let before = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    let after = f(&before).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    if after == before {
        return Ok(Done::Unchanged(format!("{file}: already {what}")));
    }
    let b = backup(&path, &env.backups_dir()).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })?;
    write_atomic(&path, after.as_bytes()).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Done::Changed(format!(
        "{file}: {what} (backup: {})",
        b.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    )))
}

/// Adds an image through `anchorectl` when it is installed, else the v2 API.
async fn add_image(s: &Session, image: &str) -> Result<&'static str> {
    let t = s.target()?;
    if crate::engine::system::which("anchorectl").is_some() {
        let out = tokio::time::timeout(
            Duration::from_secs(120),
            tokio::process::Command::new("anchorectl")
                .args(["image", "add", image])
                .env("ANCHORECTL_URL", &t.anchore.url)
                .env("ANCHORECTL_USERNAME", &t.anchore.user)
                .env("ANCHORECTL_PASSWORD", t.anchore.password.expose())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| Error::Usage("`anchorectl image add` did not finish within 2m".into()))?
        .map_err(|e| Error::Usage(format!("cannot run anchorectl: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Usage(format!(
                "`anchorectl image add {image}` failed: {}",
                err.trim()
            )));
        }
        return Ok("anchorectl");
    }
    let c = s.ctx(Duration::from_secs(30), false).await?;
    crate::client::anchore::add_image(c.call(), &t.anchore, image)
        .await
        .map_err(Error::Usage)?;
    Ok("Anchore API")
}

/// Waits until Anchore has analysed `image` (or failed to), polling its record.
async fn wait_analysis(s: &Session, image: &str, limit: Duration) -> Result<String> {
    let t = s.target()?;
    let full = crate::model::image::normalise(image);
    let end = Instant::now() + limit;
    let mut last = String::from("not in Anchore yet");
    while Instant::now() < end {
        let c = s.ctx(Duration::from_secs(10), false).await?;
        if let Ok(crate::client::anchore::Images::Items(items)) =
            crate::client::anchore::images(c.call(), &t.anchore, None).await
        {
            let found = items.iter().find(|i| {
                i["image_detail"].as_array().is_some_and(|d| {
                    d.iter().any(|d| {
                        d["full_tag"]
                            .as_str()
                            .map(crate::model::image::normalise)
                            .as_deref()
                            == Some(full.as_str())
                    })
                })
            });
            if let Some(i) = found {
                last = i["analysis_status"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_string();
                match last.as_str() {
                    "analyzed" => return Ok(last),
                    "analysis_failed" => {
                        return Err(Error::Usage(format!(
                            "the analysis of {image} failed; see `lab trace {image}`"
                        )))
                    }
                    _ => {}
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(Error::Usage(format!(
        "the analysis of {image} did not end within {} (last status: {last})",
        format_duration(limit)
    )))
}

pub(crate) async fn grafana_datasource(
    s: &Session,
    name: &str,
    ds_type: &str,
    url: &str,
) -> Result<Done> {
    use crate::client::grafana;
    let t = s.target()?;
    let c = s.ctx(Duration::from_secs(20), false).await?;
    let g = &t.grafana;
    let have = grafana::datasource_by_name(c.call(), g, name)
        .await
        .map_err(Error::Usage)?;
    let want =
        json!({"name": name, "type": ds_type, "url": url, "access": "proxy", "isDefault": true});
    if let Some(have) = &have {
        if have["url"].as_str().map(|u| u.trim_end_matches('/')) == Some(url.trim_end_matches('/'))
            && have["type"] == ds_type
        {
            return Ok(Done::Unchanged(format!(
                "Grafana data source `{name}` already points at {url}"
            )));
        }
    }
    grafana::save_datasource(c.call(), g, have.as_ref(), &want)
        .await
        .map_err(Error::Usage)?;
    Ok(Done::Changed(match have {
        Some(_) => format!("Grafana data source `{name}` now points at {url}"),
        None => format!("added Grafana data source `{name}` ({ds_type}, {url})"),
    }))
}

/// Imports a dashboard as Grafana's UI does: every `__inputs` entry gets a value,
/// data sources the named one's uid, constants their own value. With no data source
/// named, the export is saved as it is, its `${DS_…}` inputs unresolved, as when a
/// trainee pastes the exported JSON model without choosing a data source.
pub(crate) async fn grafana_import(
    s: &Session,
    dashboard: &str,
    datasource: Option<&str>,
) -> Result<Done> {
    let t = s.target()?;
    let c = s.ctx(Duration::from_secs(30), false).await?;
    let g = &t.grafana;
    let dash: Value = serde_json::from_str(dashboard)
        .map_err(|e| Error::Usage(format!("the dashboard is not valid JSON: {e}")))?;
    let uid = match datasource {
        Some(name) => crate::client::grafana::datasource_by_name(c.call(), g, name)
            .await
            .map_err(Error::Usage)?
            .ok_or_else(|| {
                Error::Usage(format!(
                    "Grafana has no data source `{name}` to bind the dashboard to"
                ))
            })?["uid"]
            .as_str()
            .map(String::from),
        None => None,
    };
    let inputs: Vec<Value> = dash["__inputs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    // A data source input takes the chosen data source; a constant, its
                    // own value (what Grafana's import dialog fills in).
                    let value = if i["type"] == "datasource" {
                        json!(uid.clone()?)
                    } else {
                        i["value"].clone()
                    };
                    let mut input = json!({"name": i["name"], "type": i["type"], "value": value});
                    if let Some(p) = i["pluginId"].as_str() {
                        input["pluginId"] = json!(p);
                    }
                    Some(input)
                })
                .collect()
        })
        .unwrap_or_default();
    let title = dash["title"].as_str().unwrap_or("dashboard").to_string();
    // Without a data source the export is saved as it is: its `${DS_…}` placeholders
    // stay unresolved.
    crate::client::grafana::save_dashboard(c.call(), g, &dash, datasource.map(|_| inputs))
        .await
        .map_err(Error::Usage)?;
    Ok(Done::Changed(match datasource {
        Some(name) => format!("imported dashboard \"{title}\" bound to data source `{name}`"),
        None => format!("imported dashboard \"{title}\" without choosing a data source"),
    }))
}

async fn wait_check(s: &Session, lab: &LoadedLab, id: &str, limit: Duration) -> Result<Done> {
    let Some((ex, check)) = lab.lab.checks().find(|(_, c)| c.id == id) else {
        return Err(Error::Usage(format!(
            "no check `{id}` in lab {}",
            lab.lab.id()
        )));
    };
    let mut check = check.clone();
    check.needs.clear();
    check.eventually = Some(crate::model::check::Eventually {
        within: crate::model::Dur(limit),
        every: crate::model::Dur(Duration::from_secs(1)),
    });
    let plan = crate::runner::Plan {
        lab_id: lab.lab.id(),
        lab_title: lab.lab.title.clone(),
        checks: vec![crate::runner::Planned {
            exercise: ex.id.clone(),
            check,
        }],
    };
    let docker = if plan.checks[0].check.spec.needs_docker() {
        s.docker_handle().await
    } else {
        Arc::new(Err("not needed".into()))
    };
    let res = crate::runner::Resources::of(s, docker)?;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let results = crate::runner::run(&plan, &res, crate::runner::Options::default(), tx).await;
    let r = &results[0];
    if r.status == crate::runner::Status::Passed {
        return Ok(Done::Unchanged(format!("check `{id}` passes")));
    }
    Err(Error::Usage(format!(
        "check `{id}` did not pass within {}: {}",
        format_duration(limit),
        r.actual.clone().or(r.message.clone()).unwrap_or_default()
    )))
}

async fn run_command(
    s: &Session,
    argv: &[String],
    shell: bool,
    vars: &std::collections::BTreeMap<String, String>,
) -> Result<Done> {
    let (program, args): (&str, Vec<&str>) = if shell {
        (
            "sh",
            vec!["-c", argv.first().map(String::as_str).unwrap_or("")],
        )
    } else {
        let (p, rest) = argv
            .split_first()
            .ok_or_else(|| Error::Usage("argv is empty".into()))?;
        (p.as_str(), rest.iter().map(String::as_str).collect())
    };
    let shown = argv.join(" ");
    // anchorectl finds the environment's Anchore without the lab file naming a password.
    let env = &s.env;
    let t = s.target()?;
    // A step's own URL to a course port follows the port when the stack's are moved.
    let vars: std::collections::BTreeMap<&String, String> = vars
        .iter()
        .map(|(k, v)| (k, crate::ports::rewrite_url(v, &t.moved_ports)))
        .collect();
    let out = tokio::process::Command::new(program)
        .args(&args)
        .env("ANCHORECTL_URL", &t.anchore.url)
        .env("ANCHORECTL_USERNAME", &t.anchore.user)
        .env("ANCHORECTL_PASSWORD", t.anchore.password.expose())
        .env("COMPOSE_PROJECT_NAME", &env.state.project)
        .env("COMPOSE_FILE", compose_file_var(env))
        .envs(&vars)
        .current_dir(&env.dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::Usage(format!("cannot run `{shown}`: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(Error::Usage(format!(
            "`{shown}` exited with {}: {}",
            out.status,
            tail.join(" / ")
        )));
    }
    Ok(Done::Changed(format!("ran `{shown}`")))
}

/// `COMPOSE_FILE` for a step's command: the compose file and, when images are
/// mapped, the override, so `docker compose …` in a step sees what `lab` runs.
fn compose_file_var(env: &Environment) -> std::ffi::OsString {
    let mut v = env.compose_file().into_os_string();
    let o = crate::images::override_path(&env.dir);
    let moving = crate::ports::path(&env.dir).is_file();
    if (!env.images.is_empty() || moving) && o.is_file() {
        v.push(":");
        v.push(o);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{load, Source};

    /// A step that fails while it runs is the deployment's failure (exit 5) and
    /// names the lab, the step and the cause; it is no usage error (exit 2).
    #[tokio::test]
    async fn a_step_failing_at_run_time_exits_5_naming_lab_step_and_cause() {
        let labs = load(&[Source::Embedded]).labs;
        let lab = labs.iter().find(|l| l.lab.number == 1).expect("lab 1");
        let dir = tempfile::tempdir().unwrap();
        let env = Environment::new(dir.path(), "p", "docker-compose.yaml", false);
        let steps = [Step::CompleteLab { lab: 99 }];
        let e = run_steps(&Session::new(env), &labs, lab, &steps, &Ui::plain())
            .await
            .expect_err("there is no lab 99");
        assert_eq!(e.exit_code(), crate::error::exit::ENVIRONMENT, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("step 1 (complete_lab) of lab {}: ", lab.lab.id())),
            "{text}"
        );
        assert!(text.contains("there is no lab 99"), "{text}");
    }

    use crate::probe::testserver::{Reply, Routes, TestServer};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A session on a fresh environment whose Anchore and Grafana answer at `url`.
    fn session_at(dir: &Path, url: &str) -> Session {
        let mut env = Environment::new(dir, "labtest-exec", "docker-compose.yaml", false);
        env.state.endpoints.anchore_url = url.to_string();
        env.state.endpoints.grafana_url = url.to_string();
        Session::with_docker(env, Arc::new(Err("no Docker in step tests".into())))
    }

    #[tokio::test]
    async fn a_missing_data_source_is_added_and_an_equal_one_left_alone() {
        let server = TestServer::start(
            Routes::new()
                .get("/api/datasources/name/Prometheus", Reply::text(404, "{}"))
                .post("/api/datasources", Reply::json(200, json!({"id": 1}))),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let s = session_at(dir.path(), &server.url);
        let done = grafana_datasource(&s, "Prometheus", "prometheus", "http://prometheus:9090")
            .await
            .unwrap();
        assert!(matches!(done, Done::Changed(_)), "{done:?}");
        let posted = server
            .requests()
            .into_iter()
            .find(|r| r.method == "POST")
            .expect("a POST");
        assert_eq!(posted.json()["url"], "http://prometheus:9090");
        assert_eq!(posted.json()["type"], "prometheus");
        assert_eq!(posted.json()["access"], "proxy");

        let same = TestServer::start(Routes::new().get(
            "/api/datasources/name/Prometheus",
            Reply::json(
                200,
                json!({"id": 3, "uid": "p1", "type": "prometheus", "url": "http://prometheus:9090/"}),
            ),
        ))
        .await;
        let s = session_at(dir.path(), &same.url);
        let done = grafana_datasource(&s, "Prometheus", "prometheus", "http://prometheus:9090")
            .await
            .unwrap();
        assert!(matches!(done, Done::Unchanged(_)), "{done:?}");
        assert!(same.requests().iter().all(|r| r.method == "GET"));
    }

    /// Grafana 9 has no `PUT /api/datasources/uid/…`: the data source is updated by id.
    #[tokio::test]
    async fn a_data_source_is_updated_by_id_where_the_uid_route_is_missing() {
        let server = TestServer::start(
            Routes::new()
                .get(
                    "/api/datasources/name/Prometheus",
                    Reply::json(
                        200,
                        json!({"id": 7, "uid": "p1", "type": "prometheus", "url": "http://old:9090"}),
                    ),
                )
                .with("PUT", "/api/datasources/uid/p1", |_| Reply::text(404, "Not found"))
                .with("PUT", "/api/datasources/7", |_| Reply::json(200, json!({}))),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let s = session_at(dir.path(), &server.url);
        let done = grafana_datasource(&s, "Prometheus", "prometheus", "http://prometheus:9090")
            .await
            .unwrap();
        assert!(matches!(done, Done::Changed(_)), "{done:?}");
        let puts: Vec<String> = server
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .map(|r| r.path)
            .collect();
        assert_eq!(puts, ["/api/datasources/uid/p1", "/api/datasources/7"]);
    }

    /// A refused password is sent once: Grafana locks the account after 5 failures.
    #[tokio::test]
    async fn a_refused_grafana_password_is_not_sent_again() {
        let server = TestServer::start(
            Routes::new().get("/api/datasources/name/Prometheus", Reply::text(401, "{}")),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let s = session_at(dir.path(), &server.url);
        for _ in 0..2 {
            let e = grafana_datasource(&s, "Prometheus", "prometheus", "http://p:9090")
                .await
                .unwrap_err();
            assert!(e.to_string().to_lowercase().contains("lock"), "{e}");
        }
        let with_password = server
            .requests()
            .iter()
            .filter(|r| r.header("authorization").is_some())
            .count();
        assert!(
            with_password <= 1,
            "{with_password} requests carried the password"
        );
    }

    #[tokio::test]
    async fn an_analysis_is_waited_for_until_anchore_says_analyzed_or_failed() {
        let polls = Arc::new(AtomicUsize::new(0));
        let seen = polls.clone();
        let server = TestServer::start(Routes::new().with("GET", "/v2/images", move |_| {
            let status = if seen.fetch_add(1, Ordering::SeqCst) < 1 {
                "analyzing"
            } else {
                "analyzed"
            };
            Reply::json(
                200,
                json!({"items": [{"analysis_status": status,
                    "image_detail": [{"full_tag": "docker.io/library/nginx:latest"}]}]}),
            )
        }))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let s = session_at(dir.path(), &server.url);
        // Named as a trainee would: Docker's normalisation finds it.
        let status = wait_analysis(&s, "nginx", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(status, "analyzed");
        assert!(polls.load(Ordering::SeqCst) >= 2);

        let failed = TestServer::start(Routes::new().get(
            "/v2/images",
            Reply::json(
                200,
                json!({"items": [{"analysis_status": "analysis_failed",
                    "image_detail": [{"full_tag": "docker.io/library/nginx:latest"}]}]}),
            ),
        ))
        .await;
        let s = session_at(dir.path(), &failed.url);
        let e = wait_analysis(
            &s,
            "docker.io/library/nginx:latest",
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("failed"), "{e}");
        assert!(e.to_string().contains("lab trace"), "{e}");
    }

    #[test]
    fn io_errors_are_no_usage_errors() {
        let e = crate::error::write_err(Path::new("/x"))(std::io::Error::other("disk full"));
        assert_eq!(e.exit_code(), crate::error::exit::IO);
    }
}

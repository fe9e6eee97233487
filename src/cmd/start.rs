//! `lab start N`: lab N's prerequisites (as `lab doctor N` checks them), then its
//! setup steps, then its instructions and where things answer. Running it again
//! changes nothing more: every step is idempotent.

use crate::action::exec;
use crate::cli::{DoctorArgs, LabTargetArgs};
use crate::env::Environment;
use crate::error::{exit, Error, Result};
use crate::loader::{self, Loaded};
use crate::model::LoadedLab;
use crate::report::{course, Ui};
use crate::session::Session;

pub async fn run(labs: &Loaded, args: LabTargetArgs, ui: &Ui) -> Result<i32> {
    // Listening before anything starts: from here on Ctrl-C stops `lab` cleanly.
    let mut sigint = Sigint::listen()?;
    let lab = loader::find(&labs.labs, &args.lab)?;
    let session = super::prelude::session(&args.target, &args.images)?;
    let doctor = (!args.skip_doctor).then(|| args.images.map.clone());
    let snapshot = session.env.clone();
    tokio::select! {
        r = start_lab(labs, lab, session, doctor, ui) => r,
        _ = sigint.recv() => Ok(on_interrupt(&snapshot, &format!("lab {}", lab.lab.id()), lab.lab.number, ui).await),
    }
}

/// Ctrl-C (SIGINT) and SIGTERM as an event. Once listening, the signal no longer
/// kills `lab` at once: the command in progress is dropped (its compose child killed
/// with it), and the caller says what is left and how to go on.
pub struct Sigint {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Sigint {
    pub fn listen() -> Result<Sigint> {
        use tokio::signal::unix::{signal, SignalKind};
        let err = |e| Error::Internal(format!("cannot listen for Ctrl-C and SIGTERM: {e}"));
        Ok(Sigint {
            interrupt: signal(SignalKind::interrupt()).map_err(err)?,
            terminate: signal(SignalKind::terminate()).map_err(err)?,
        })
    }

    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// After Ctrl-C: what is still running (compose's own `ps`), and how to go on
/// (`lab start {lab}` again). `what` names what was interrupted. Returns the exit
/// code, 130.
pub async fn on_interrupt(env: &Environment, what: &str, lab: u32, ui: &Ui) -> i32 {
    ui.interrupted(&format!(
        "{what} was interrupted before it finished; no file was left half-written \
         (every write is atomic, with backups in {})",
        env.backups_dir().display()
    ));
    let ps = async {
        let c = exec::compose_for(env).await?;
        c.ps().await
    };
    let project = &env.state.project;
    ui.tell(
        &match tokio::time::timeout(std::time::Duration::from_secs(20), ps).await {
            Ok(Ok(table)) if table.lines().filter(|l| !l.trim().is_empty()).count() > 1 => {
                format!(
                    "Still there in compose project `{project}`:\n{}",
                    table.trim_end()
                )
            }
            Ok(Ok(_)) => format!("Nothing is running in compose project `{project}`."),
            Ok(Err(e)) => format!("Cannot list what is still running: {e}"),
            Err(_) => {
                "Cannot list what is still running: `compose ps` took longer than 20s".to_string()
            }
        },
    );
    ui.tell(&format!(
        "To continue: `lab start {lab}` again (the steps already done change nothing); to stop everything: `lab stop`."
    ));
    exit::INTERRUPTED
}

/// Lab `lab` on the session's environment: its prerequisites (unless `doctor` is
/// `None`; else with these `--image` mappings), its setup steps, then its
/// instructions and URLs. The prerequisites and the steps share the session's one
/// Docker connection.
pub async fn start_lab(
    labs: &Loaded,
    lab: &LoadedLab,
    mut session: Session,
    doctor: Option<Vec<String>>,
    ui: &Ui,
) -> Result<i32> {
    if let Some(images) = doctor {
        let env = &session.env;
        let doctor = DoctorArgs {
            lab: Some(lab.lab.id()),
            no_pull: false,
            project: Some(env.state.project.clone()),
            workspace: Some(env.dir.clone()),
            images,
        };
        let quiet = Ui {
            quiet: true,
            json: false,
            ..ui.clone()
        };
        let engine = session.docker_handle().await;
        let code = super::doctor::run_on(labs, doctor, &quiet, Some(engine)).await?;
        if code != exit::OK {
            return Err(Error::Prerequisite(format!(
                "lab {} cannot start until the problems above are fixed",
                lab.lab.id()
            )));
        }
    }

    ui.status(
        "Starting",
        &format!(
            "lab {} in {} (compose project `{}`)",
            lab.lab.id(),
            session.env.dir.display(),
            session.env.state.project
        ),
    );
    // Saved first, so an interrupted start still says which lab was being started.
    // Read, changed and written under the state lock: a `lab check` saving its
    // totals at the same moment keeps them.
    let number = lab.lab.number;
    Environment::update(&session.env.dir, |s| s.lab = Some(number))?;
    session.env.state.lab = Some(number);
    exec::run_steps(&session, &labs.labs, lab, &lab.lab.setup, ui)
        .await
        .map_err(|e| interrupted(e, &session.env, &lab.lab.id()))?;
    let env = &mut session.env;

    let done: Vec<usize> = (0..lab.lab.setup.len()).collect();
    Environment::update(&env.dir, |s| {
        s.steps_done.insert(lab.lab.id(), done.clone());
    })?;
    env.state.steps_done.insert(lab.lab.id(), done);

    if !ui.quiet {
        let urls = urls(env);
        ui.out(&course::started(lab, &urls, course::width(), ui));
    }
    Ok(exit::OK)
}

/// The URLs a trainee uses, for the services the deployment defines.
pub fn urls(env: &Environment) -> Vec<(&'static str, String)> {
    let compose = std::fs::read_to_string(env.compose_file())
        .ok()
        .and_then(|t| loader::yaml_value(&t).ok())
        .unwrap_or_default();
    let has = |s: &str| compose["services"].get(s).is_some();
    let e = &env.state.endpoints;
    let mut out = vec![("Anchore API", e.anchore_url.clone())];
    if has("prometheus") {
        out.push(("Prometheus", e.prometheus_url.clone()));
    }
    if has("grafana") {
        out.push(("Grafana", e.grafana_url.clone()));
    }
    out
}

/// A failed step: its own error (message, hint and exit code), and how to go on.
fn interrupted(e: Error, env: &Environment, lab: &str) -> Error {
    match e {
        Error::Prerequisite(_)
        | Error::DockerUnreachable { .. }
        | Error::ComposeMissing { .. }
        | Error::Pull { .. }
        | Error::PortTaken { .. } => e,
        _ => Error::Stopped {
            cause: Box::new(e),
            next: format!(
                "nothing was left half-written (edits are atomic, with backups in {}); \
                 the services already started are still running (`lab status`); \
                 fix the cause and run `lab start {lab}` again, or `lab stop` to stop them",
                env.backups_dir().display()
            ),
        },
    }
}

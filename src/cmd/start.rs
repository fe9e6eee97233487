//! `lab start N`: lab N's prerequisites (as `lab doctor N` checks them), then its
//! setup steps, then its instructions and where things answer. Running it again
//! changes nothing more: every step is idempotent.

use crate::action::exec;
use crate::cli::{DoctorArgs, LabTargetArgs};
use crate::env::Environment;
use crate::error::{exit, Error, Result};
use crate::loader::{self, Loaded};
use crate::model::LoadedLab;
use crate::report::{markdown, Ui};
use console::Style;

pub async fn run(labs: &Loaded, args: LabTargetArgs, ui: &Ui) -> Result<i32> {
    // Listening before anything starts: from here on Ctrl-C stops `lab` cleanly.
    let mut sigint = Sigint::listen()?;
    let lab = loader::find(&labs.labs, &args.lab)?;
    let (dir, found) = super::check::environment(&args.target)?;
    let mut env = found.ok_or_else(|| Error::NoEnvironment {
        dir: dir.display().to_string(),
    })?;
    env.images = crate::images::ImageMap::for_env(Some(&env.dir), &args.images.map)?;
    env.pull = args.images.pull;
    let doctor = (!args.skip_doctor).then(|| args.images.map.clone());
    let snapshot = env.clone();
    tokio::select! {
        r = start_lab(labs, lab, env, doctor, ui) => r,
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
    let warn = ui.style(Style::new().yellow().bold());
    eprintln!(
        "{} {what} was interrupted before it finished; no file was left half-written \
         (every write is atomic, with backups in {})",
        warn.apply_to("interrupted:"),
        env.backups_dir().display()
    );
    let ps = async {
        let c = exec::compose_for(env).await?;
        c.ps().await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(20), ps).await {
        Ok(Ok(table)) if table.lines().filter(|l| !l.trim().is_empty()).count() > 1 => {
            eprintln!(
                "Still there in compose project `{}`:\n{}",
                env.state.project,
                table.trim_end()
            );
        }
        Ok(Ok(_)) => eprintln!(
            "Nothing is running in compose project `{}`.",
            env.state.project
        ),
        Ok(Err(e)) => eprintln!("Cannot list what is still running: {e}"),
        Err(_) => eprintln!("Cannot list what is still running: `compose ps` took longer than 20s"),
    }
    eprintln!(
        "To continue: `lab start {lab}` again (the steps already done change nothing); to stop everything: `lab stop`."
    );
    exit::INTERRUPTED
}

/// Lab `lab` on `env`: its prerequisites (unless `doctor` is `None`; else with
/// these `--image` mappings), its setup steps, then its instructions and URLs.
pub async fn start_lab(
    labs: &Loaded,
    lab: &LoadedLab,
    mut env: Environment,
    doctor: Option<Vec<String>>,
    ui: &Ui,
) -> Result<i32> {
    if let Some(images) = doctor {
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
        let code = super::doctor::run(labs, doctor, &quiet).await?;
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
            env.dir.display(),
            env.state.project
        ),
    );
    // Saved first, so an interrupted start still says which lab was being started.
    // Read, changed and written under the state lock: a `lab check` saving its
    // totals at the same moment keeps them.
    let number = lab.lab.number;
    Environment::update(&env.dir, |s| s.lab = Some(number))?;
    env.state.lab = Some(number);
    exec::run_steps(&env, &labs.labs, lab, &lab.lab.setup, ui)
        .await
        .map_err(|e| interrupted(e, &env, &lab.lab.id()))?;
    let done: Vec<usize> = (0..lab.lab.setup.len()).collect();
    Environment::update(&env.dir, |s| {
        s.steps_done.insert(lab.lab.id(), done.clone());
    })?;
    env.state.steps_done.insert(lab.lab.id(), done);

    if !ui.quiet {
        let bold = ui.style(Style::new().bold());
        let width = console::Term::stdout()
            .size_checked()
            .map(|(_, w)| w as usize)
            .unwrap_or(80);
        println!(
            "{}\n",
            bold.apply_to(format!("Lab {:02}: {}", lab.lab.number, lab.lab.title))
        );
        crate::redact::print(&markdown::render(&lab.instructions, width, ui));
        println!();
        for (name, url) in urls(&env) {
            println!(
                "{} {}",
                bold.apply_to(format!("{name:>12}")),
                crate::redact::url(&url)
            );
        }
        println!("\nWhen you are done: lab check {}", lab.lab.number);
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

//! `lab start N`: lab N's prerequisites (as `lab doctor N` checks them), then its
//! setup steps, then its instructions and where things answer. Running it again
//! changes nothing more: every step is idempotent.

use crate::action::exec;
use crate::cli::{DoctorArgs, LabTargetArgs};
use crate::env::Environment;
use crate::error::{exit, Error, Result};
use crate::loader::{self, Loaded};
use crate::report::{markdown, Ui};
use console::Style;

pub async fn run(labs: &Loaded, args: LabTargetArgs, ui: &Ui) -> Result<i32> {
    let lab = loader::find(&labs.labs, &args.lab)?;
    let (dir, found) = super::check::environment(&args.target)?;
    let mut env = found.ok_or_else(|| Error::NoEnvironment {
        dir: dir.display().to_string(),
    })?;
    env.images = crate::images::ImageMap::for_env(Some(&env.dir), &args.images.map)?;
    env.pull = args.images.pull;

    if !args.skip_doctor {
        let doctor = DoctorArgs {
            lab: Some(lab.lab.id()),
            no_pull: false,
            project: Some(env.state.project.clone()),
            workspace: Some(env.dir.clone()),
            images: args.images.map.clone(),
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
    env.state.lab = Some(lab.lab.number);
    env.save()?;
    exec::run_steps(&env, lab, &lab.lab.setup, ui)
        .await
        .map_err(|e| interrupted(e, &env, &lab.lab.id()))?;
    env.state
        .steps_done
        .insert(lab.lab.id(), (0..lab.lab.setup.len()).collect());
    env.save()?;

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
        print!("{}", markdown::render(&lab.instructions, width, ui));
        println!();
        for (name, url) in urls(&env) {
            println!("{} {url}", bold.apply_to(format!("{name:>12}")));
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

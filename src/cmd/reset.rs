//! `lab reset [N]`: back to lab N's starting state. The stack goes down (its
//! volumes too, once the trainee agrees), the compose file goes back to what `lab
//! init` made or adopted, the files the labs write (their assets) are moved into
//! the backups, and lab N's setup runs as `lab start N` runs it. Every file that is
//! replaced or removed is backed up first; the recorded answers are kept unless
//! `--forget-answers` is given.

use super::start::{self, Sigint};
use crate::action::exec;
use crate::cli::ResetArgs;
use crate::env::Environment;
use crate::error::{exit, write_err, Error, Result};
use crate::files::{backup, write_atomic};
use crate::loader::{self, Loaded};
use crate::model::{LoadedLab, Step};
use crate::report::Ui;
use crate::session::Session;
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal};
use std::path::Path;

pub async fn run(labs: &Loaded, args: ResetArgs, ui: &Ui) -> Result<i32> {
    let mut sigint = Sigint::listen()?;
    let session = super::prelude::session(&args.target, &args.images)?;
    let env = &session.env;

    let lab: Option<&LoadedLab> = match (&args.lab, env.state.lab) {
        (Some(q), _) => Some(loader::find(&labs.labs, q)?),
        (None, Some(n)) => labs.labs.iter().find(|l| l.lab.number == n),
        (None, None) => None,
    };
    let what = match lab {
        Some(l) => format!("lab {}'s starting state", l.lab.id()),
        None => "the state `lab init` made (before lab 1)".to_string(),
    };
    let volumes = remove_volumes(&args, env, ui)?;
    let snapshot = env.clone();
    let interrupted = match lab {
        Some(l) => (format!("lab reset to lab {}", l.lab.id()), l.lab.number),
        None => ("lab reset".to_string(), 1),
    };
    tokio::select! {
        r = reset(labs, lab, session, volumes, &args, &what, ui) => r,
        _ = sigint.recv() => Ok(start::on_interrupt(&snapshot, &interrupted.0, interrupted.1, ui).await),
    }
}

async fn reset(
    labs: &Loaded,
    lab: Option<&LoadedLab>,
    mut session: Session,
    volumes: bool,
    args: &ResetArgs,
    what: &str,
    ui: &Ui,
) -> Result<i32> {
    let docker = session.docker().await?;
    let env = &mut session.env;
    ui.status(
        "Resetting",
        &format!(
            "{} to {what} (compose project `{}`)",
            env.dir.display(),
            env.state.project
        ),
    );
    exec::compose_down(env, &docker, volumes).await?;
    ui.status(
        "Down",
        &format!(
            "compose project `{}`{}",
            env.state.project,
            if volumes {
                ", with its volumes"
            } else {
                "; volumes kept"
            }
        ),
    );
    restore_compose_file(env, ui)?;
    remove_assets(env, labs, ui)?;
    if args.forget_answers {
        forget_answers(env, ui)?;
    }
    Environment::update(&env.dir, |s| {
        s.lab = None;
        s.steps_done.clear();
    })?;
    env.state.lab = None;
    env.state.steps_done.clear();

    let Some(lab) = lab else {
        ui.status(
            "Reset",
            &format!(
                "{} to the state `lab init` made; `lab start 1` begins the course",
                env.dir.display()
            ),
        );
        return Ok(exit::OK);
    };
    let doctor = (!args.skip_doctor).then(|| args.images.map.clone());
    start::start_lab(labs, lab, session, doctor, ui).await
}

/// Whether the volumes go: `--keep-volumes` keeps them, `--yes` removes them, a
/// terminal is asked (y/N). Without a terminal and without either flag, nothing is
/// decided for the trainee: the reset is refused before anything changes.
fn remove_volumes(args: &ResetArgs, env: &Environment, ui: &Ui) -> Result<bool> {
    if args.keep_volumes {
        return Ok(false);
    }
    if args.yes {
        return Ok(true);
    }
    let project = &env.state.project;
    if !std::io::stdin().is_terminal() || ui.json {
        return Err(Error::Usage(format!(
            "lab reset removes the volumes of compose project `{project}` (Anchore's database, \
             Grafana's dashboards) and cannot ask whether that is wanted: no terminal to ask on; \
             pass --yes to remove them, or --keep-volumes to keep them; nothing was changed"
        )));
    }
    ui.prompt(&format!(
        "Remove the volumes of compose project `{project}` (Anchore's database, Grafana's dashboards)? [y/N] "
    ));
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("cannot read the answer: {e}")))?;
    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        ui.status("Keeping", "the volumes");
    }
    Ok(yes)
}

/// The compose file as `lab init` made it: its pristine copy; for environments made
/// before copies were kept, the built-in deployment (made by `lab init`) or the
/// first backup (taken when adopting).
fn pristine_compose(env: &Environment) -> Result<Vec<u8>> {
    let name = env.state.compose_files.first().cloned().unwrap_or_default();
    let copy = env.pristine_dir().join(&name);
    if let Ok(b) = std::fs::read(&copy) {
        return Ok(b);
    }
    if !env.state.adopted && name == "docker-compose.yaml" {
        return Ok(super::init::template().as_bytes().to_vec());
    }
    let file_name = Path::new(&name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut backups: Vec<_> = std::fs::read_dir(env.backups_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&file_name))
                // `<name>.<UTC stamp>[.<n>]`, as `files::backup` names them.
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|stamp| stamp.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    backups.sort();
    let first = backups.first().ok_or_else(|| {
        Error::Usage(format!(
            "no copy of {name} as `lab init` left it (looked in {} and {}); \
             run `lab init --adopt {} --force` to take the current file as the starting point",
            env.pristine_dir().display(),
            env.backups_dir().display(),
            env.dir.display()
        ))
    })?;
    std::fs::read(first).map_err(|source| Error::Read {
        path: first.display().to_string(),
        source,
    })
}

fn restore_compose_file(env: &Environment, ui: &Ui) -> Result<()> {
    let want = pristine_compose(env)?;
    let path = env.compose_file();
    let name = env.state.compose_files.first().cloned().unwrap_or_default();
    match std::fs::read(&path) {
        Ok(have) if have == want => {
            ui.status("Unchanged", &format!("{name} is as `lab init` left it"));
            return Ok(());
        }
        Ok(_) => {
            let b = backup(&path, &env.backups_dir()).map_err(write_err(&path))?;
            write_atomic(&path, &want).map_err(write_err(&path))?;
            ui.status(
                "Restored",
                &format!("{name} as `lab init` left it (yours: {})", b.display()),
            );
        }
        Err(_) => {
            write_atomic(&path, &want).map_err(write_err(&path))?;
            ui.status("Restored", &format!("{name} as `lab init` left it"));
        }
    }
    Ok(())
}

/// Every file a lab's step writes (`write_asset`), in any lab.
fn asset_targets(labs: &Loaded) -> BTreeSet<String> {
    labs.labs
        .iter()
        .flat_map(|l| l.lab.setup.iter().chain(&l.lab.solve).chain(&l.lab.cleanup))
        .filter_map(|s| match s {
            Step::WriteAsset { to, .. } => Some(to.trim_start_matches("./").to_string()),
            _ => None,
        })
        .collect()
}

/// Moves the labs' asset files out of the way (into the backups): lab N's setup
/// writes back those it starts with.
fn remove_assets(env: &Environment, labs: &Loaded, ui: &Ui) -> Result<()> {
    let compose = env.state.compose_files.first().cloned().unwrap_or_default();
    for to in asset_targets(labs) {
        if to == compose {
            continue;
        }
        let path = env.dir.join(&to);
        if !path.is_file() {
            continue;
        }
        let b = backup(&path, &env.backups_dir()).map_err(write_err(&path))?;
        std::fs::remove_file(&path).map_err(write_err(&path))?;
        ui.status("Removed", &format!("{to} (backup: {})", b.display()));
    }
    Ok(())
}

fn forget_answers(env: &Environment, ui: &Ui) -> Result<()> {
    // Under the state lock: an answer recorded at this moment is either in the backup
    // or recorded after the reset, never lost between the two.
    let _lock = crate::env::lock(&env.dir)?;
    let path = Environment::answers_path(&env.dir);
    if !path.is_file() {
        return Ok(());
    }
    let b = backup(&path, &env.backups_dir()).map_err(write_err(&path))?;
    std::fs::remove_file(&path).map_err(write_err(&path))?;
    ui.status(
        "Forgot",
        &format!("the recorded answers (backup: {})", b.display()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::TempDir;

    #[test]
    fn the_starting_compose_file_is_the_pristine_copy_else_the_template_or_first_backup() {
        let dir = TempDir::new();
        let fresh = Environment::new(dir.path(), "p", "docker-compose.yaml", false);
        assert_eq!(
            pristine_compose(&fresh).unwrap(),
            super::super::init::template().as_bytes()
        );

        let adopted = Environment::new(dir.path(), "p", "compose.yaml", true);
        let e = pristine_compose(&adopted).unwrap_err().to_string();
        assert!(
            e.starts_with("no copy of compose.yaml as `lab init` left it"),
            "{e}"
        );
        std::fs::create_dir_all(adopted.backups_dir()).unwrap();
        for (name, text) in [
            ("compose.yaml.20261124T100000Z", "first"),
            ("compose.yaml.20261124T110000Z", "second"),
            ("compose.yaml.-old", "not a backup of it"),
            ("other.yaml.20261124T080000Z", "another file"),
        ] {
            std::fs::write(adopted.backups_dir().join(name), text).unwrap();
        }
        assert_eq!(pristine_compose(&adopted).unwrap(), b"first");

        std::fs::create_dir_all(adopted.pristine_dir()).unwrap();
        std::fs::write(adopted.pristine_dir().join("compose.yaml"), "pristine").unwrap();
        assert_eq!(pristine_compose(&adopted).unwrap(), b"pristine");
    }
}

//! What every command does with its arguments before its own work, in one place
//! (as cargo's `command_prelude`): find the environment the flags name, apply the
//! flags over what it recorded, map its images, and build the one [`Session`] the
//! command then passes down.

use crate::cli::{ImageArgs, TargetArgs};
use crate::env::{self, Environment};
use crate::error::{Error, Result};
use crate::loader;
use crate::model::Target;
use crate::session::Session;
use std::path::{Path, PathBuf};

/// The session of a command that works on an environment made by `lab init`:
/// the environment (flags over its state), its image map (`--image` over
/// `LAB_IMAGE_MAP` over `.lab/images.yaml`) and `--pull`. No environment there is
/// an error that says how to make one.
pub fn session(target: &TargetArgs, images: &ImageArgs) -> Result<Session> {
    let mut env = require(target)?;
    env.images = crate::images::ImageMap::for_env(Some(&env.dir), &images.map)?;
    env.pull = images.pull;
    Ok(Session::new(env))
}

/// The environment the flags name, which must exist.
pub fn require(target: &TargetArgs) -> Result<Environment> {
    let (dir, found) = environment(target)?;
    found.ok_or_else(|| Error::NoEnvironment {
        dir: dir.display().to_string(),
    })
}

/// The environment the flags name, with its folder; `None` for the environment when
/// the folder holds no `lab init` state (a plain folder checked as it is).
pub fn environment(a: &TargetArgs) -> Result<(PathBuf, Option<Environment>)> {
    let dir = env::workspace_dir(a.workspace.as_deref());
    let found = if Environment::exists(&dir) {
        let mut e = Environment::open(&dir)?;
        apply_overrides(&mut e, a);
        Some(e)
    } else {
        None
    };
    Ok((dir, found))
}

/// Flags and their variables win over what the environment recorded (for this run only).
fn apply_overrides(env: &mut Environment, a: &TargetArgs) {
    if let Some(f) = &a.compose_file {
        env.state.compose_files = vec![f.display().to_string()];
    }
    if let Some(p) = &a.project {
        env.state.project = p.clone();
    }
    let e = &mut env.state.endpoints;
    for (flag, slot) in [
        (&a.anchore_url, &mut e.anchore_url),
        (&a.anchore_user, &mut e.anchore_user),
        (&a.prometheus_url, &mut e.prometheus_url),
        (&a.grafana_url, &mut e.grafana_url),
        (&a.grafana_user, &mut e.grafana_user),
    ] {
        if let Some(v) = flag {
            *slot = v.clone();
        }
    }
}

/// The session of a command that reads an environment (`lab check`, `lab trace`):
/// the one `lab init` made there, or, in a folder that holds none, the folder
/// checked as it is (its compose file, the default project name and URLs); flags
/// win over both.
pub fn open(a: &TargetArgs) -> Result<Session> {
    let (dir, found) = environment(a)?;
    let mut env = match found {
        Some(e) => e,
        None => {
            let file = a.compose_file.clone().unwrap_or_else(|| {
                env::find_compose_file(&dir)
                    .and_then(|p| p.file_name().map(PathBuf::from))
                    .unwrap_or_else(|| PathBuf::from("docker-compose.yaml"))
            });
            let compose = std::fs::read_to_string(dir.join(&file))
                .ok()
                .and_then(|t| loader::yaml_value(&t).ok())
                .unwrap_or_default();
            let project = std::env::var("COMPOSE_PROJECT_NAME")
                .ok()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| env::project_name(&dir, &compose));
            Environment::new(&dir, &project, &file.display().to_string(), false)
        }
    };
    apply_overrides(&mut env, a);
    Ok(Session::new(env))
}

/// Where the checks look: the environment's own settings, overridden by flags.
pub fn target(a: &TargetArgs) -> Result<Target> {
    open(a)?.target()
}

/// Writes a report file (JUnit, gradebook) atomically (see `files::write_atomic`).
/// The text is redacted first ([`crate::redact::text`]).
pub fn write_report(path: &Path, bytes: &[u8]) -> Result<()> {
    let text = crate::redact::text(&String::from_utf8_lossy(bytes));
    crate::files::write_atomic(path, text.as_bytes()).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })
}

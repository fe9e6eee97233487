//! `lab init`: an environment for the course. Either the course's own Anchore
//! Enterprise deployment written into a folder, or a trainee's existing deployment
//! adopted in place (after a backup of its compose file).

use super::interrupt::{Interrupts, Undo};
use crate::cli::InitArgs;
use crate::env::{self, Environment, DEFAULT_PROJECT};
use crate::error::{exit, write_err, Error, Result};
use crate::files::backup;
use crate::loader;
use crate::report::Ui;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// The course's starting deployment, built into the binary.
const TEMPLATE: &str = include_str!("../../labs/deployment/docker-compose.yaml");
const LICENSE: &str = "license.yaml";

/// What one `lab init` run needs to stop cleanly: the signals it listens to and
/// what it wrote, to put back when one comes.
struct Run {
    signals: Interrupts,
    undo: Undo,
}

pub fn run(args: InitArgs, ui: &Ui) -> Result<i32> {
    // From here on Ctrl-C and SIGTERM no longer kill `lab init` half-way.
    let mut run = Run {
        signals: Interrupts::catch()?,
        undo: Undo::default(),
    };
    let result = match &args.adopt {
        Some(path) => adopt(path, &args, ui, &mut run),
        None => fresh(&args, ui, &mut run),
    };
    // A signal wins over whatever the run returned: the run stopped because of it.
    let Some(sig) = run.signals.caught() else {
        return result;
    };
    let problems = run.undo.roll_back();
    let name = if sig == libc::SIGTERM {
        "SIGTERM"
    } else {
        "Ctrl-C"
    };
    if problems.is_empty() {
        ui.interrupted(&format!(
            "`lab init` was stopped ({name}) before it finished; what it had written is \
             undone and no file was left half-written. Run it again to make the environment."
        ));
    } else {
        ui.interrupted(&format!(
            "`lab init` was stopped ({name}) before it finished; these could not be put back:\n  {}",
            problems.join("\n  ")
        ));
    }
    Ok(exit::INTERRUPTED)
}

fn fresh(args: &InitArgs, ui: &Ui, run: &mut Run) -> Result<i32> {
    let dir = args.workspace.clone().unwrap_or_else(env::default_dir);
    run.undo.dir(&dir)?;
    let compose = dir.join("docker-compose.yaml");
    if compose.exists() && !args.force {
        return Err(Error::Usage(format!(
            "{} already exists; `lab init --adopt {}` uses it as it is, `lab init --force` replaces it (after a backup)",
            compose.display(),
            dir.display()
        )));
    }
    if Environment::exists(&dir) && !args.force {
        return Err(Error::Usage(format!(
            "{} already holds a lab environment; use --force to start it again",
            dir.display()
        )));
    }
    let project = args
        .project
        .clone()
        .unwrap_or_else(|| DEFAULT_PROJECT.to_string());
    let env = Environment::new(&dir, &project, "docker-compose.yaml", false);
    if compose.exists() {
        let b = keep_backup(&compose, &env, run)?;
        ui.status("Backed up", &b.display().to_string());
    }
    run.undo.write(&compose, TEMPLATE.as_bytes())?;
    run.signals.check()?;
    keep_pristine(&env, "docker-compose.yaml", TEMPLATE.as_bytes(), run)?;
    ui.status(
        "Wrote",
        &format!("{} (Anchore Enterprise v5, metrics off)", compose.display()),
    );
    let licensed = license(args, &dir, ui, run)?;
    save_state(&env, run)?;
    ui.status(
        "Created",
        &format!(
            "environment in {} (compose project `{project}`)",
            dir.display()
        ),
    );
    next_steps(&dir, licensed, ui);
    Ok(exit::OK)
}

/// Writes the course's deployment into the environment's folder, with the pristine
/// copy `lab reset` restores (`lab init` and `lab smoke` make environments this way).
pub fn write_deployment(env: &Environment) -> Result<()> {
    let compose = env.compose_file();
    crate::files::write_atomic(&compose, TEMPLATE.as_bytes()).map_err(write_err(&compose))?;
    let pristine = env.pristine_dir().join("docker-compose.yaml");
    std::fs::create_dir_all(env.pristine_dir()).map_err(write_err(&pristine))?;
    crate::files::write_atomic(&pristine, TEMPLATE.as_bytes()).map_err(write_err(&pristine))
}

/// Keeps the file as `lab init` left it in `.lab/pristine/`, for `lab reset`.
fn keep_pristine(env: &Environment, name: &str, bytes: &[u8], run: &mut Run) -> Result<()> {
    run.undo.write(&env.pristine_dir().join(name), bytes)?;
    run.signals.check()
}

/// A copy of the trainee's `compose` in the environment's backups, before anything
/// is written over it.
fn keep_backup(compose: &Path, env: &Environment, run: &mut Run) -> Result<PathBuf> {
    run.undo.dir(&env.backups_dir())?;
    let b = backup(compose, &env.backups_dir()).map_err(write_err(compose))?;
    run.undo.made(&b);
    run.signals.check()?;
    Ok(b)
}

/// The state file, last: until it is there, the folder is not an environment. Written
/// under the state lock, like every other update of it.
fn save_state(env: &Environment, run: &mut Run) -> Result<()> {
    run.undo.dir(&env.dir.join(env::STATE_DIR))?;
    run.undo.before_write(&Environment::state_path(&env.dir));
    env.create()?;
    run.signals.check()
}

/// The built-in deployment, for environments made before `lab init` kept a pristine copy.
pub fn template() -> &'static str {
    TEMPLATE
}

/// Copies the license into the environment, asking for its path on a terminal.
/// Returns whether the environment now has one.
fn license(args: &InitArgs, dir: &Path, ui: &Ui, run: &mut Run) -> Result<bool> {
    let target = dir.join(LICENSE);
    let source = match &args.license {
        Some(p) => Some(p.clone()),
        None if target.is_file() => return Ok(true),
        None if std::io::stdin().is_terminal() && !ui.json => ask(
            "Path to your Anchore Enterprise license file (empty to skip): ",
            &run.signals,
            ui,
        )?,
        None => None,
    };
    let Some(source) = source else {
        return Ok(false);
    };
    let bytes = std::fs::read(&source).map_err(|e| {
        Error::Usage(format!(
            "cannot read the license file {}: {e}",
            source.display()
        ))
    })?;
    run.undo.write(&target, &bytes)?;
    run.signals.check()?;
    ui.status("Copied", &format!("license to {}", target.display()));
    Ok(true)
}

fn ask(prompt: &str, signals: &Interrupts, ui: &Ui) -> Result<Option<PathBuf>> {
    ui.prompt(prompt);
    let line = signals.read_line()?.unwrap_or_default();
    let line = line.trim();
    Ok((!line.is_empty()).then(|| PathBuf::from(line)))
}

fn next_steps(dir: &Path, licensed: bool, ui: &Ui) {
    if !licensed {
        ui.warn(&format!(
            "Anchore Enterprise needs a license: copy yours to {} (or run `lab init --workspace {} --force --license FILE`) before `lab start`",
            dir.join(LICENSE).display(),
            dir.display()
        ));
    }
    ui.note(NEXT);
}

const NEXT: &str = "Next: `lab doctor`, then `lab show 1` and `lab start 1`.";

fn adopt(path: &Path, args: &InitArgs, ui: &Ui, run: &mut Run) -> Result<i32> {
    let (dir, compose) = if path.is_file() {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        (dir, path.to_path_buf())
    } else {
        let found = env::find_compose_file(path).ok_or_else(|| {
            Error::Usage(format!(
                "no compose file in {} (looked for {})",
                path.display(),
                env::COMPOSE_NAMES.join(", ")
            ))
        })?;
        (path.to_path_buf(), found)
    };
    let text = std::fs::read_to_string(&compose).map_err(|source| Error::Read {
        path: compose.display().to_string(),
        source,
    })?;
    let doc = loader::yaml_value(&text)
        .map_err(|e| Error::Usage(format!("{} is not valid YAML: {e}", compose.display())))?;
    run.signals.check()?;
    let services: Vec<String> = doc
        .get("services")
        .and_then(|s| s.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if services.is_empty() {
        return Err(Error::Usage(format!(
            "{} defines no services",
            compose.display()
        )));
    }
    let anchore: Vec<&String> = services.iter().filter(|s| is_anchore(&doc, s)).collect();
    if anchore.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no Anchore service (none runs an anchore image or `anchore-*-manager service start`)",
            compose.display()
        )));
    }
    if Environment::exists(&dir) && !args.force {
        return Err(Error::Usage(format!(
            "{} already holds a lab environment; use --force to adopt it again",
            dir.display()
        )));
    }
    let project = args
        .project
        .clone()
        .unwrap_or_else(|| env::project_name(&dir, &doc));
    let file_name = compose
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let env = Environment::new(&dir, &project, &file_name, true);
    let b = keep_backup(&compose, &env, run)?;
    ui.status(
        "Backed up",
        &format!("{} to {}", compose.display(), b.display()),
    );
    keep_pristine(&env, &file_name, text.as_bytes(), run)?;
    save_state(&env, run)?;
    ui.status(
        "Adopted",
        &format!(
            "{} (compose project `{project}`; {} services, Anchore: {})",
            compose.display(),
            services.len(),
            anchore
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    ui.note(NEXT);
    Ok(exit::OK)
}

/// A service runs Anchore when its image is Anchore's or its command starts an
/// Anchore service.
fn is_anchore(doc: &serde_json::Value, service: &str) -> bool {
    let s = &doc["services"][service];
    let image = s["image"].as_str().unwrap_or("");
    let command = match &s["command"] {
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        serde_json::Value::String(c) => c.clone(),
        _ => String::new(),
    };
    (image.contains("anchore/") && !image.contains("-ui")) || command.contains("service start")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchore_services_are_found_in_every_reference_compose_file() {
        let dir = crate::reference::path("compose");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let doc = loader::yaml_value(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            let services: Vec<String> = doc["services"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let anchore: Vec<&String> = services.iter().filter(|s| is_anchore(&doc, s)).collect();
            assert!(
                anchore.iter().any(|s| *s == "api"),
                "{}: {anchore:?}",
                e.path().display()
            );
            assert!(
                anchore.iter().any(|s| *s == "analyzer"),
                "{}",
                e.path().display()
            );
            assert!(
                !anchore
                    .iter()
                    .any(|s| s.contains("db") || s.contains("redis")),
                "{}: {anchore:?}",
                e.path().display()
            );
        }
    }

    #[test]
    fn the_template_is_a_valid_quickstart_with_metrics_off() {
        let doc = loader::yaml_value(TEMPLATE).unwrap();
        for s in [
            "api",
            "catalog",
            "queue",
            "policy-engine",
            "analyzer",
            "reports",
            "reports_worker",
            "notifications",
            "anchore-db",
            "ui-redis",
            "ui",
        ] {
            assert!(doc["services"].get(s).is_some(), "{s}");
        }
        assert!(TEMPLATE.contains("#  prometheus:\n"));
        assert_eq!(
            TEMPLATE.matches("- ANCHORE_ENABLE_METRICS=false").count(),
            9,
            "eight Anchore services and the UI"
        );
    }
}

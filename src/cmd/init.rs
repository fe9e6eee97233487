//! `lab init`: an environment for the course. Either the course's own Anchore
//! Enterprise deployment written into a folder, or a trainee's existing deployment
//! adopted in place (after a backup of its compose file).

use crate::cli::InitArgs;
use crate::env::{self, Environment, DEFAULT_PROJECT};
use crate::error::{exit, write_err, Error, Result};
use crate::files::{backup, write_atomic};
use crate::loader;
use crate::report::Ui;
use console::Style;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The course's starting deployment, built into the binary.
const TEMPLATE: &str = include_str!("../../labs/deployment/docker-compose.yaml");
const LICENSE: &str = "license.yaml";

pub fn run(args: InitArgs, ui: &Ui) -> Result<i32> {
    match &args.adopt {
        Some(path) => adopt(path, &args, ui),
        None => fresh(&args, ui),
    }
}

fn fresh(args: &InitArgs, ui: &Ui) -> Result<i32> {
    let dir = args.workspace.clone().unwrap_or_else(env::default_dir);
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
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
        let b = backup(&compose, &env.backups_dir()).map_err(write_err(&compose))?;
        ui.status("Backed up", &b.display().to_string());
    }
    write_deployment(&env)?;
    ui.status(
        "Wrote",
        &format!("{} (Anchore Enterprise v5, metrics off)", compose.display()),
    );
    let licensed = license(args, &dir, ui)?;
    env.save()?;
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
    write_atomic(&compose, TEMPLATE.as_bytes()).map_err(write_err(&compose))?;
    keep_pristine(env, "docker-compose.yaml", TEMPLATE.as_bytes())
}

/// Keeps the file as `lab init` left it in `.lab/pristine/`, for `lab reset`.
fn keep_pristine(env: &Environment, name: &str, bytes: &[u8]) -> Result<()> {
    let path = env.pristine_dir().join(name);
    std::fs::create_dir_all(env.pristine_dir()).map_err(write_err(&path))?;
    write_atomic(&path, bytes).map_err(write_err(&path))
}

/// The built-in deployment, for environments made before `lab init` kept a pristine copy.
pub fn template() -> &'static str {
    TEMPLATE
}

/// Copies the license into the environment, asking for its path on a terminal.
/// Returns whether the environment now has one.
fn license(args: &InitArgs, dir: &Path, ui: &Ui) -> Result<bool> {
    let target = dir.join(LICENSE);
    let source = match &args.license {
        Some(p) => Some(p.clone()),
        None if target.is_file() => return Ok(true),
        None if std::io::stdin().is_terminal() && !ui.json => {
            ask("Path to your Anchore Enterprise license file (empty to skip): ")?
        }
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
    write_atomic(&target, &bytes).map_err(write_err(&target))?;
    ui.status("Copied", &format!("license to {}", target.display()));
    Ok(true)
}

fn ask(prompt: &str) -> Result<Option<PathBuf>> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("cannot read the answer: {e}")))?;
    let line = line.trim();
    Ok((!line.is_empty()).then(|| PathBuf::from(line)))
}

fn next_steps(dir: &Path, licensed: bool, ui: &Ui) {
    let warn = ui.style(Style::new().yellow().bold());
    if !licensed {
        eprintln!(
            "{} Anchore Enterprise needs a license: copy yours to {} (or run `lab init --workspace {} --force --license FILE`) before `lab start`",
            warn.apply_to("warning:"),
            dir.join(LICENSE).display(),
            dir.display()
        );
    }
    if !ui.quiet {
        eprintln!("Next: `lab doctor`, then `lab show 1` and `lab start 1`.");
    }
}

fn adopt(path: &Path, args: &InitArgs, ui: &Ui) -> Result<i32> {
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
    let b = backup(&compose, &env.backups_dir()).map_err(write_err(&compose))?;
    ui.status(
        "Backed up",
        &format!("{} to {}", compose.display(), b.display()),
    );
    keep_pristine(&env, &file_name, text.as_bytes())?;
    env.save()?;
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
    if !ui.quiet {
        eprintln!("Next: `lab doctor`, then `lab show 1` and `lab start 1`.");
    }
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

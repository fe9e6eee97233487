//! `lab check N`: run a lab's checks against the environment and report.

use crate::cli::{CheckArgs, TargetArgs};
use crate::error::{exit, Error, Result};
use crate::loader::{self, Loaded};
use crate::probe::{Endpoint, Target};
use crate::report::{human, json, junit, Ui};
use crate::runner::{self, Plan, Resources, Summary};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

pub async fn run(labs: &Loaded, args: CheckArgs, ui: &Ui) -> Result<i32> {
    let lab = loader::find(&labs.labs, &args.lab)?;
    if let Some(ex) = &args.exercise {
        if !lab.lab.exercises.iter().any(|e| &e.id == ex) {
            return Err(Error::UnknownExercise {
                lab: lab.lab.id(),
                exercise: ex.clone(),
                suggestion: crate::error::nearest(
                    ex,
                    lab.lab.exercises.iter().map(|e| e.id.as_str()),
                ),
            });
        }
    }
    let plan = Plan::new(lab, args.exercise.as_deref());
    let target = target(&args.target)?;
    let docker = if plan.checks.iter().any(|p| p.check.spec.needs_docker()) {
        crate::docker::connect().await
    } else {
        Err("not needed by these checks".into())
    };
    let res = Resources::new(target, docker);

    if !ui.json {
        ui.status(
            "Checking",
            &format!(
                "lab {} ({})",
                plan.lab_id,
                crate::text::count(plan.checks.len(), "check")
            ),
        );
    }
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut live = human::Live::new(ui, &plan);
    let opts = runner::Options {
        concurrency: args.jobs as usize,
    };
    let run = runner::run(&plan, &res, opts, tx);
    let listen = async {
        while let Some(ev) = rx.recv().await {
            live.handle(&ev);
        }
    };
    let (results, ()) = tokio::join!(run, listen);
    let elapsed = started.elapsed();
    let summary = Summary::of(&results);

    if let Some(path) = &args.junit {
        write_atomic(
            path,
            junit::render(&plan.lab_id, &results, elapsed).as_bytes(),
        )?;
    }
    if ui.json {
        let report = json::CheckReport {
            schema_version: json::SCHEMA_VERSION,
            lab: json::LabRef {
                id: &plan.lab_id,
                title: &plan.lab_title,
            },
            duration_ms: elapsed.as_millis() as u64,
            summary,
            checks: &results,
        };
        print!("{}", json::render(&report));
    } else {
        if !live.printed_live() {
            print!("{}", human::render_all(&results, ui));
        }
        print!(
            "{}",
            human::render_summary(&plan.lab_id, &summary, elapsed, ui)
        );
    }
    Ok(if summary.ok() {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    })
}

/// The environment named by flags and variables.
pub fn target(a: &TargetArgs) -> Result<Target> {
    let workdir = a.workdir.clone();
    let compose_file = if a.compose_file.is_absolute() {
        a.compose_file.clone()
    } else {
        workdir.join(&a.compose_file)
    };
    let project = match &a.project {
        Some(p) => p.clone(),
        None => default_project(&workdir, &compose_file),
    };
    let secret = |names: &[&str], default: &str| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| default.to_string())
    };
    Ok(Target {
        answers: read_answers(&workdir)?,
        workdir,
        compose_file,
        project,
        anchore: Endpoint::new(
            &a.anchore_url,
            &a.anchore_user,
            &secret(&["LAB_ANCHORE_PASSWORD", "ANCHORECTL_PASSWORD"], "foobar"),
        ),
        prometheus: Endpoint::new(&a.prometheus_url, "", ""),
        grafana: Endpoint::new(
            &a.grafana_url,
            &a.grafana_user,
            &secret(&["LAB_GRAFANA_PASSWORD"], "admin"),
        ),
    })
}

/// Compose's own rule: COMPOSE_PROJECT_NAME, else the file's `name:`, else the
/// folder's name, lower-cased with characters compose rejects removed.
fn default_project(workdir: &Path, compose_file: &Path) -> String {
    if let Ok(p) = std::env::var("COMPOSE_PROJECT_NAME") {
        if !p.is_empty() {
            return p;
        }
    }
    if let Ok(text) = std::fs::read_to_string(compose_file) {
        if let Ok(v) = loader::yaml_value(&text) {
            if let Some(n) = v.get("name").and_then(|n| n.as_str()) {
                return n.to_string();
            }
        }
    }
    let dir = std::fs::canonicalize(workdir).unwrap_or_else(|_| workdir.to_path_buf());
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect()
}

/// The trainee's recorded answers: `.lab/answers.json` in the working folder.
fn read_answers(workdir: &Path) -> Result<BTreeMap<String, String>> {
    let path = workdir.join(".lab").join("answers.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "{}:{}:{}: cannot read the recorded answers: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(Error::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes a report file atomically (see `action::files::write_atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::action::files::write_atomic(path, bytes).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })
}

//! `lab check N`: run a lab's checks against the environment and report.

use crate::cli::CheckArgs;
use crate::env::{self, Environment};
use crate::error::{exit, Error, Result};
use crate::loader::{self, Loaded};
use crate::report::{human, json, junit, Ui};
use crate::runner::{self, Plan, Resources, Summary};
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
    let session = super::prelude::open(&args.target)?;
    let docker = if plan.checks.iter().any(|p| p.check.spec.needs_docker()) {
        session.docker_handle().await
    } else {
        std::sync::Arc::new(Err("not needed by these checks".into()))
    };
    let res = Resources::of(&session, docker)?;

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
    keep_analyses(&plan, &res).await;

    remember(&res.target.workdir, &plan.lab_id, &summary)?;
    if let Some(path) = &args.junit {
        super::prelude::write_report(
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
        ui.out(&json::render(&report));
    } else {
        if !live.printed_live() {
            ui.out(&human::render_all(&results, ui));
        }
        ui.out(&human::render_summary(&plan.lab_id, &summary, elapsed, ui));
    }
    Ok(if summary.ok() {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    })
}

/// Keeps each analysis an answer check is judged against while the analyzer's logs
/// still show it (`.lab/analyses.json`): lab 2 recreates the analyzer, and its new
/// container's logs start empty. Best effort: the check's result stands either way.
async fn keep_analyses(plan: &Plan, res: &Resources) {
    use crate::model::check::{AnswerExpect, Computed};
    use crate::model::CheckSpec;
    if !Environment::exists(&res.target.workdir) {
        return;
    }
    let ctx = crate::probe::Ctx {
        target: res.target.clone(),
        http: res.http.clone(),
        docker: res.docker.clone(),
        deadline: Instant::now() + std::time::Duration::from_secs(10),
    };
    // Lab 1 asks the thread and the duration of one analysis: read its logs once.
    let mut analyses = std::collections::BTreeSet::new();
    for p in &plan.checks {
        let CheckSpec::Answer(a) = &p.check.spec else {
            continue;
        };
        match &a.expect {
            AnswerExpect::AnalysisThread { service, image }
            | AnswerExpect::Number {
                of: Computed::AnalysisDuration { service, image },
                ..
            } => {
                analyses.insert((service, image));
            }
            _ => {}
        }
    }
    for (service, image) in analyses {
        if let Ok(found) = crate::probe::answer::in_logs(&ctx, service, image).await {
            let _ = env::remember_analysis(
                &res.target.workdir,
                service,
                image,
                env::SeenAnalysis {
                    thread: found.thread,
                    duration: found.duration,
                    source: found.source,
                },
            );
        }
    }
}

/// Keeps the totals in the environment's state, for `lab status`.
fn remember(dir: &Path, lab_id: &str, s: &Summary) -> Result<()> {
    if !Environment::exists(dir) {
        return Ok(());
    }
    Environment::update(dir, |state| {
        state.results.insert(
            lab_id.to_string(),
            env::LastResult {
                at: crate::model::time::utc_compact(std::time::SystemTime::now()),
                passed: s.passed,
                failed: s.failed,
                errors: s.errors,
                skipped: s.skipped,
                pending: s.pending,
                points: s.points,
                possible: s.possible,
            },
        );
    })
}

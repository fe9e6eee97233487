//! `lab submit`: run the labs' checks on this environment and write a submission
//! signed with the course key, for an instructor who cannot reach it.

use crate::cli::SubmitArgs;
use crate::error::{exit, Error, Result};
use crate::grade::bundle::{self, BundleLab, Key, Payload};
use crate::grade::GradedCheck;
use crate::loader::Loaded;
use crate::report::Ui;
use crate::runner::{self, Plan, Resources, Summary};
use std::path::PathBuf;

pub async fn run(labs: &Loaded, args: SubmitArgs, ui: &Ui) -> Result<i32> {
    let chosen = super::grade::choose(labs, &args.labs)?;
    if args.trainee.trim().is_empty() {
        return Err(Error::Usage(
            "--trainee is empty: give your name as your instructor's roster spells it".into(),
        ));
    }
    // The key first: without it the checks would run for nothing.
    let key = Key::load(
        args.key_file.as_deref(),
        std::env::var("LAB_COURSE_KEY").ok(),
    )
    .map_err(Error::Usage)?;
    let session = super::prelude::open(&args.target)?;
    let plans: Vec<Plan> = chosen.iter().map(|l| Plan::new(l, None)).collect();
    let docker = if plans
        .iter()
        .flat_map(|p| &p.checks)
        .any(|p| p.check.spec.needs_docker())
    {
        session.docker_handle().await
    } else {
        std::sync::Arc::new(Err("not needed by these checks".into()))
    };
    let res = Resources::of(&session, docker)?;
    let answers = res.target.answers.clone();

    ui.status(
        "Checking",
        &format!(
            "{} for the submission",
            crate::text::count(chosen.len(), "lab")
        ),
    );
    let runs = plans.iter().map(|plan| {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        runner::run(plan, &res, runner::Options::default(), tx)
    });
    let results = futures_util::future::join_all(runs).await;

    let mut out_labs = Vec::new();
    let mut all_ok = true;
    for ((lab, plan), results) in chosen.iter().zip(&plans).zip(&results) {
        let s = Summary::of(results);
        all_ok &= s.ok();
        ui.status(
            "Checked",
            &format!("lab {}: {}/{} points", plan.lab_id, s.points, s.possible),
        );
        out_labs.push(BundleLab {
            id: plan.lab_id.clone(),
            title: plan.lab_title.clone(),
            digest: bundle::digest(lab),
            checks: results
                .iter()
                .map(|r| GradedCheck::from_result(r, false))
                .collect(),
        });
    }
    // Only the answers to the submitted labs' questions travel.
    let answers: std::collections::BTreeMap<String, String> = answers
        .into_iter()
        .filter(|(q, _)| chosen.iter().any(|l| l.lab.questions().any(|x| &x.id == q)))
        .collect();
    // The answers are the trainee's own text: redacted like the evidence.
    let answers = answers
        .into_iter()
        .map(|(q, a): (String, String)| (q, crate::redact::clean(&a)))
        .collect();
    let payload = Payload {
        trainee: crate::redact::clean_line(args.trainee.trim()),
        tool: concat!("lab ", env!("CARGO_PKG_VERSION")).to_string(),
        created_at: crate::model::time::utc_compact(std::time::SystemTime::now()),
        labs: out_labs,
        answers,
    };
    let path = args.output.unwrap_or_else(|| {
        PathBuf::from(format!(
            "lab-submission-{}.json",
            file_safe(&payload.trainee)
        ))
    });
    // Not through `check::write_atomic`: the payload is redacted before it is signed,
    // and redacting the signed text could break its signature.
    let signed = bundle::sign(&payload, &key).map_err(Error::Usage)?;
    crate::files::write_atomic(&path, signed.as_bytes()).map_err(crate::error::write_err(&path))?;
    ui.status(
        "Wrote",
        &format!("{} (signed; send it to your instructor)", path.display()),
    );
    ui.out(&format!("{}\n", path.display()));
    Ok(if all_ok {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    })
}

/// A name fit for a file name on every system.
pub(crate) fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

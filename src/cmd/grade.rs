//! `lab grade`: every trainee of a roster (their environments) and every signed
//! submission in a folder, graded into one gradebook.

use crate::cli::{Format, GradeArgs};
use crate::error::{exit, Error, Result};
pub use crate::grade::class::Class;
use crate::grade::{self, bundle, Gradebook, TraineeGrade};
use crate::loader::{self, Loaded};
use crate::model::LoadedLab;
pub use crate::report::gradebook::render;
use crate::report::gradebook::Show;
use crate::report::Ui;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Instant;

pub async fn run(labs: &Loaded, args: GradeArgs, format: Format, ui: &Ui) -> Result<i32> {
    let chosen = choose(labs, &args.labs)?;
    let var = |name: &str| std::env::var(name).ok();

    let roster =
        match &args.roster {
            Some(path) => Some(loader::roster::roster(path, &var).map_err(|problems| {
                Error::BadInput {
                    problems,
                    hint: "fix the roster; the README's \"Grading a class\" describes its fields"
                        .into(),
                }
            })?),
            None => None,
        };

    let mut from_bundles = Vec::new();
    let mut bundles = None;
    if let Some(dir) = &args.bundles {
        let key = bundle::Key::load(
            args.key_file.as_deref(),
            std::env::var("LAB_COURSE_KEY").ok(),
        )
        .map_err(Error::Usage)?;
        from_bundles = bundle::grade_dir(dir, &key, &chosen, &labs.labs).map_err(Error::Usage)?;
        bundles = Some((dir.clone(), key));
    }

    let mut names: Vec<String> = roster
        .iter()
        .flat_map(|r| r.trainees.iter().map(|t| t.name.clone()))
        .collect();
    names.extend(
        from_bundles
            .iter()
            .filter(|t| !t.rejected)
            .map(|t| t.trainee.clone()),
    );
    let manual = match &args.manual {
        Some(path) => Some(
            loader::roster::manual_scores(path, &names, &labs.labs).map_err(|problems| {
                Error::BadInput {
                    problems,
                    hint: "fix the manual scores; trainees are the roster's (or the bundles') \
                           names, labs and checks those of `lab show`"
                        .into(),
                }
            })?,
        ),
        None => None,
    };
    let opts = grade::Options {
        jobs: args.jobs as usize,
        probe_timeout: args.probe_timeout,
        deadline: args.deadline,
        connect_timeout: args.connect_timeout,
        ..grade::Options::default()
    };
    let class = Class {
        chosen,
        all: &labs.labs,
        roster,
        bundles,
        manual,
        opts,
    };
    if args.watch || args.serve.is_some() {
        return super::watch::run(&class, &args, format, ui).await;
    }
    if args.every.is_some() || args.stuck_after.is_some() {
        return Err(Error::Usage(
            "--every and --stuck-after are for a watch: add --watch (or --serve ADDR)".into(),
        ));
    }
    let chosen = &class.chosen;

    let started = Instant::now();
    let mut trainees: Vec<TraineeGrade> = Vec::new();
    if let Some(roster) = &class.roster {
        let possible: i64 = chosen.iter().map(|l| l.lab.possible_points()).sum();
        let bar = (ui.interactive && !ui.quiet).then(|| {
            let pb = ProgressBar::with_draw_target(
                Some(roster.trainees.len() as u64),
                ProgressDrawTarget::stderr(),
            );
            pb.set_style(
                ProgressStyle::with_template("     Grading [{bar:30}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            pb
        });
        if bar.is_none() {
            ui.status(
                "Grading",
                &format!(
                    "{} on {}",
                    crate::text::count(roster.trainees.len(), "environment"),
                    crate::text::count(chosen.len(), "lab")
                ),
            );
        }
        let done = |t: &TraineeGrade| match &bar {
            Some(pb) => {
                pb.inc(1);
                pb.set_message(t.trainee.clone());
            }
            None => ui.status(
                "Graded",
                &format!(
                    "{}: {}/{possible} from the checks{}",
                    t.trainee,
                    t.points(),
                    if t.problems.is_empty() {
                        ""
                    } else {
                        " (see Problems)"
                    }
                ),
            ),
        };
        trainees = grade::grade_roster(roster, chosen, class.opts, &var, &done).await;
        if let Some(pb) = bar {
            pb.finish_and_clear();
        }
    }
    trainees.extend(from_bundles);

    let mut book = Gradebook::new(chosen, trainees);
    if let Some(m) = &class.manual {
        book.apply_manual(m, chosen);
    }
    let show = Show {
        detail: args.detail,
        answers: args.answers,
    };
    let text = render(&book, format, ui, show);
    match &args.output {
        Some(path) => {
            super::prelude::write_report(path, text.as_bytes())?;
            ui.status("Wrote", &format!("the gradebook to {}", path.display()));
        }
        None => ui.out(&text),
    }
    ui.status(
        "Finished",
        &format!(
            "{} in {}",
            crate::text::count(book.trainees.len(), "trainee"),
            crate::model::format_duration(started.elapsed())
        ),
    );
    Ok(if book.complete() {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    })
}

/// The labs named (each once, in the course's order), or all of them but lab 0 (the
/// lab format's tour for authors, not part of what a trainee is graded on) when there
/// are others.
pub fn choose<'a>(labs: &'a Loaded, names: &[String]) -> Result<Vec<&'a LoadedLab>> {
    if names.is_empty() {
        let course: Vec<&LoadedLab> = labs.labs.iter().filter(|l| l.lab.number > 0).collect();
        return Ok(if course.is_empty() {
            labs.labs.iter().collect()
        } else {
            course
        });
    }
    let mut chosen = Vec::new();
    for n in names {
        let l = loader::find(&labs.labs, n)?;
        if !chosen
            .iter()
            .any(|c: &&LoadedLab| c.lab.number == l.lab.number)
        {
            chosen.push(l);
        }
    }
    chosen.sort_by_key(|l| l.lab.number);
    Ok(chosen)
}

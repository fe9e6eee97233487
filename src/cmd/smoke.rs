//! `lab smoke`: self-tests lab material. For each lab, a fresh environment, its
//! setup, its checks (which must fail), its solution, its checks (which must pass),
//! then cleanup; then each of its variants in a fresh environment of its own, which
//! must fail exactly the checks it names. `crate::smoke` judges; this runs.

use crate::action::exec;
use crate::action::files::write_atomic;
use crate::cli::SmokeArgs;
use crate::env::{self, Environment};
use crate::error::{exit, write_err, Error, Result};
use crate::loader::{self, Loaded};
use crate::model::{format_duration, LoadedLab, Step};
use crate::report::Ui;
use crate::runner::{self, CheckResult, Plan, Resources};
use crate::smoke::{self, Outcome, Scenario};
use console::Style;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::Path;
use std::time::{Duration, Instant};

pub async fn run(labs: &Loaded, args: SmokeArgs, ui: &Ui) -> Result<i32> {
    let chosen: Vec<&LoadedLab> = if args.all {
        labs.labs.iter().collect()
    } else if args.labs.is_empty() {
        return Err(Error::Usage(
            "name the labs to smoke-test (`lab smoke 2 3`), or use --all".into(),
        ));
    } else {
        let mut v = Vec::new();
        for q in &args.labs {
            v.push(loader::find(&labs.labs, q)?);
        }
        v
    };
    let root = match &args.workspace_root {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("lab-smoke-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root).map_err(write_err(&root))?;
    let docker = crate::docker::connect().await;
    let plan: Vec<(&LoadedLab, Scenario)> = chosen
        .iter()
        .flat_map(|l| {
            smoke::scenarios(&l.lab, args.no_variants)
                .into_iter()
                .map(move |s| (*l, s))
        })
        .collect();
    ui.status(
        "Smoke",
        &format!(
            "{} ({} in fresh environments{}) under {}",
            crate::text::count(chosen.len(), "lab"),
            crate::text::count(plan.len(), "scenario"),
            if args.repeat > 1 {
                format!(", {} times", args.repeat)
            } else {
                String::new()
            },
            root.display()
        ),
    );
    let steps_ui = Ui {
        quiet: ui.verbose == 0,
        ..ui.clone()
    };

    let started = Instant::now();
    let mut outcomes = Vec::new();
    let mut kept = None;
    'all: for round in 1..=args.repeat {
        for (i, (lab, scenario)) in plan.iter().enumerate() {
            let dir = root.join(format!(
                "{}-{}",
                lab.lab.id(),
                match scenario {
                    Scenario::Solution => "solution".to_string(),
                    Scenario::Variant(id) => id.clone(),
                }
            ));
            let last = round == args.repeat && i + 1 == plan.len();
            let o = scenario_run(
                labs, lab, scenario, &dir, &args, &docker, &steps_ui, ui, last,
            )
            .await;
            print_outcome(&o, ui);
            let failed = !o.ok();
            outcomes.push(o);
            if args.keep && (failed || last) {
                kept = Some(dir);
                break 'all;
            }
        }
    }
    let elapsed = started.elapsed();

    if let Some(path) = &args.junit {
        super::check::write_atomic(path, junit(&outcomes, elapsed).as_bytes())?;
    }
    if args.repeat > 1 {
        print_rates(&outcomes, ui);
    }
    let bad = outcomes.iter().filter(|o| !o.ok()).count();
    let summary = format!(
        "{} of {} passed in {}",
        outcomes.len() - bad,
        crate::text::count(outcomes.len(), "scenario"),
        format_duration(elapsed)
    );
    if bad == 0 {
        ui.status("Finished", &summary);
    } else {
        ui.status("Failed", &format!("{summary}; {bad} broken"));
    }
    match kept {
        Some(dir) => eprintln!(
            "Kept the environment in {} (compose project `{}`): `lab status --workspace {0}`, \
             then `lab stop --workspace {0}` and remove the folder",
            dir.display(),
            args.project
        ),
        None => {
            let _ = std::fs::remove_dir_all(&root);
        }
    }
    Ok(if bad == 0 {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    })
}

/// One scenario, from a fresh environment to its cleanup.
#[allow(clippy::too_many_arguments)]
async fn scenario_run(
    labs: &Loaded,
    lab: &LoadedLab,
    scenario: &Scenario,
    dir: &Path,
    args: &SmokeArgs,
    docker: &std::result::Result<bollard::Docker, String>,
    steps_ui: &Ui,
    ui: &Ui,
    last: bool,
) -> Outcome {
    let mut o = Outcome {
        lab: lab.lab.id(),
        scenario: scenario.clone(),
        phases: Vec::new(),
        defects: Vec::new(),
        results: Vec::new(),
        error: None,
    };
    ui.status(
        "Running",
        &format!("lab {} {}", lab.lab.id(), scenario.name()),
    );
    let env = match fresh(dir, &args.project, args.license.as_deref()) {
        Ok(e) => e,
        Err(e) => {
            o.error = Some(e.to_string());
            return o;
        }
    };
    let uses_compose = uses_compose(labs, lab);
    if uses_compose {
        // A stack left by an earlier run under the same project would not be fresh.
        let _ = exec::run_steps(
            &env,
            &labs.labs,
            lab,
            &[Step::ComposeDown { volumes: true }],
            steps_ui,
        )
        .await;
    }

    let body = async {
        let t = Instant::now();
        exec::run_steps(&env, &labs.labs, lab, &lab.lab.setup, steps_ui)
            .await
            .map_err(|e| format!("setup: {e}"))?;
        o.phases.push(("setup", t.elapsed()));

        let steps: Vec<Step> = match scenario {
            Scenario::Solution => {
                let t = Instant::now();
                let before = checks(lab, &env, docker).await?;
                o.defects.extend(smoke::before_solution(&before));
                o.phases.push(("checks before", t.elapsed()));
                lab.lab.solve.clone()
            }
            Scenario::Variant(id) => {
                let v = lab
                    .lab
                    .variants
                    .iter()
                    .find(|v| &v.id == id)
                    .ok_or_else(|| format!("no variant `{id}`"))?;
                v.steps(&lab.lab).into_iter().cloned().collect()
            }
        };
        let t = Instant::now();
        exec::run_steps(&env, &labs.labs, lab, &steps, steps_ui)
            .await
            .map_err(|e| format!("steps: {e}"))?;
        o.phases.push(("steps", t.elapsed()));

        let t = Instant::now();
        let after = checks(lab, &env, docker).await?;
        o.phases.push(("checks", t.elapsed()));
        o.defects.extend(match scenario {
            Scenario::Solution => smoke::after_solution(&after),
            Scenario::Variant(id) => {
                let v = lab.lab.variants.iter().find(|v| &v.id == id);
                v.map(|v| smoke::after_variant(v, &after))
                    .unwrap_or_default()
            }
        });
        o.results = after;
        Ok::<(), String>(())
    };
    if let Err(e) = body.await {
        o.error = Some(e);
    }

    let keep = args.keep && (!o.ok() || last);
    if !keep {
        let t = Instant::now();
        let mut down: Vec<Step> = lab.lab.cleanup.clone();
        if uses_compose {
            down.push(Step::ComposeDown { volumes: true });
        }
        if let Err(e) = exec::run_steps(&env, &labs.labs, lab, &down, steps_ui).await {
            if o.error.is_none() {
                o.error = Some(format!("cleanup: {e}"));
            }
        }
        let _ = std::fs::remove_dir_all(dir);
        o.phases.push(("cleanup", t.elapsed()));
    }
    o
}

/// A new environment in `dir`: the course's deployment, as `lab init` writes it.
fn fresh(dir: &Path, project: &str, license: Option<&Path>) -> Result<Environment> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(write_err(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let env = Environment::new(dir, project, "docker-compose.yaml", false);
    super::init::write_deployment(&env)?;
    if let Some(l) = license {
        let bytes = std::fs::read(l).map_err(|e| {
            Error::Usage(format!("cannot read the license file {}: {e}", l.display()))
        })?;
        let to = dir.join("license.yaml");
        write_atomic(&to, &bytes).map_err(write_err(&to))?;
    }
    env.save()?;
    Ok(env)
}

/// Whether the lab (or an earlier lab it completes) brings up a compose stack.
fn uses_compose(labs: &Loaded, lab: &LoadedLab) -> bool {
    let l = &lab.lab;
    let variant_steps = l
        .variants
        .iter()
        .flat_map(|v| v.instead.iter().flatten().chain(v.after.iter().flatten()));
    l.setup
        .iter()
        .chain(&l.solve)
        .chain(variant_steps)
        .any(|s| match s {
            Step::ComposeUp { .. } | Step::ComposeDown { .. } => true,
            Step::CompleteLab { lab: n } => labs
                .labs
                .iter()
                .find(|o| o.lab.number == *n)
                .is_some_and(|o| uses_compose(labs, o)),
            _ => false,
        })
}

/// The lab's checks against the environment, as `lab check` runs them.
async fn checks(
    lab: &LoadedLab,
    env: &Environment,
    docker: &std::result::Result<bollard::Docker, String>,
) -> std::result::Result<Vec<CheckResult>, String> {
    let plan = Plan::new(lab, None);
    let answers = env::read_answers(&env.dir).map_err(|e| e.to_string())?;
    let res = Resources::new(env.target(answers), docker.clone());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    Ok(runner::run(&plan, &res, runner::Options::default(), tx).await)
}

fn print_outcome(o: &Outcome, ui: &Ui) {
    let times: Vec<String> = o
        .phases
        .iter()
        .map(|(name, d)| format!("{name} {}", format_duration(*d)))
        .collect();
    let what = format!(
        "lab {} {} ({})",
        o.lab,
        o.scenario.name(),
        if times.is_empty() {
            "-".to_string()
        } else {
            times.join(", ")
        }
    );
    if o.ok() {
        ui.status("Passed", &what);
        return;
    }
    let red = ui.style(Style::new().red().bold());
    eprintln!("{} {what}", red.apply_to(format!("{:>12}", "Broken")));
    if let Some(e) = &o.error {
        eprintln!("             {e}");
    }
    for d in &o.defects {
        match &d.check {
            Some(c) => eprintln!("             check `{c}` {}", d.message),
            None => eprintln!("             {}", d.message),
        }
    }
}

fn print_rates(outcomes: &[Outcome], ui: &Ui) {
    let rates = smoke::pass_rates(outcomes);
    let flaky: Vec<_> = rates.iter().filter(|(_, (ok, n))| ok < n).collect();
    if flaky.is_empty() {
        ui.status(
            "Stable",
            &format!("every check gave the same result in each of the {} runs", {
                rates.values().map(|(_, n)| *n).max().unwrap_or(0)
            }),
        );
        return;
    }
    eprintln!("Checks that did not always behave as they should:");
    for ((lab, scenario, check), (ok, n)) in flaky {
        eprintln!(
            "  lab {lab} {scenario}: `{check}` as expected in {ok} of {n} runs ({:.0}%)",
            f64::from(*ok) * 100.0 / f64::from(*n)
        );
    }
}

/// JUnit XML: a lab is a suite, a scenario (per repeat) a test case.
fn junit(outcomes: &[Outcome], elapsed: Duration) -> String {
    let mut report = Report::new("lab smoke");
    let mut order: Vec<&str> = Vec::new();
    for o in outcomes {
        if !order.contains(&o.lab.as_str()) {
            order.push(&o.lab);
        }
    }
    let mut suites: Vec<TestSuite> = order.iter().map(|l| TestSuite::new(*l)).collect();
    for o in outcomes {
        let status = if let Some(e) = &o.error {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(e.clone());
            s
        } else if o.defects.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(crate::text::count(o.defects.len(), "defect"));
            s.set_description(
                o.defects
                    .iter()
                    .map(|d| match &d.check {
                        Some(c) => format!("check `{c}` {}", d.message),
                        None => d.message.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            s
        };
        let mut case = TestCase::new(o.scenario.name(), status);
        case.set_classname(o.lab.clone());
        case.set_time(o.total());
        let phases = o
            .phases
            .iter()
            .map(|(n, d)| format!("{n}: {}", format_duration(*d)))
            .collect::<Vec<_>>()
            .join(", ");
        case.set_system_out(phases);
        if let Some(i) = order.iter().position(|l| *l == o.lab) {
            suites[i].add_test_case(case);
        }
    }
    for mut s in suites {
        let t: Duration = outcomes
            .iter()
            .filter(|o| o.lab == s.name.as_str())
            .map(Outcome::total)
            .sum();
        s.set_time(t);
        report.add_test_suite(s);
    }
    report.set_time(elapsed);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot render the report: {e} -->\n"))
}

//! What `lab smoke` says as it goes: each scenario's verdict as it finishes, the
//! summary in the course's order, where the time went, and the checks that did not
//! behave the same in every run.

use super::Ui;
use crate::model::format_duration;
use crate::smoke::Outcome;
use console::Style;
use std::time::Duration;

/// Every scenario's verdict in one line each, in the course's order (the lines above
/// came as the scenarios finished).
pub fn summary(outcomes: &[Outcome], ui: &Ui) {
    ui.status("Summary", "in the course's order:");
    let red = ui.style(Style::new().red().bold());
    for o in outcomes {
        let line = format!(
            "lab {} {} in {}",
            o.lab,
            o.name(),
            format_duration(o.total())
        );
        if o.ok() {
            ui.status("passed", &line);
        } else {
            say(
                &red.apply_to(format!("{:>12} ", "broken")).to_string(),
                &line,
            );
        }
    }
}

pub fn outcome(o: &Outcome, ui: &Ui, (n, of): (usize, usize)) {
    let times: Vec<String> = o
        .phases
        .iter()
        .map(|(name, d)| format!("{name} {}", format_duration(*d)))
        .collect();
    let what = format!(
        "lab {} {} ({}{}){}",
        o.lab,
        o.name(),
        if times.is_empty() {
            "-".to_string()
        } else {
            times.join(", ")
        },
        o.shared
            .iter()
            .map(|first| format!("in the environment of the {first}"))
            .chain(o.remarks.iter().cloned())
            .map(|r| format!("; {r}"))
            .collect::<String>(),
        format_args!(", {n} of {of} done")
    );
    if o.ok() {
        ui.status("Passed", &what);
        for w in &o.warnings {
            say("", &format!("             note: {w}"));
        }
        return;
    }
    let red = ui.style(Style::new().red().bold());
    say(
        &red.apply_to(format!("{:>12} ", "Broken")).to_string(),
        &what,
    );
    if let Some(e) = &o.error {
        say("", &format!("             {e}"));
    }
    for d in &o.defects {
        match &d.check {
            Some(c) => say("", &format!("             check `{c}` {}", d.message)),
            None => say("", &format!("             {}", d.message)),
        }
    }
    for w in &o.warnings {
        say("", &format!("             note: {w}"));
    }
}

/// Where the time went, summed over the scenarios (as shares of their summed time,
/// which is `jobs` times the wall time when the pool stays full).
pub fn account(a: &crate::smoke::TimeAccount, wall: Duration, jobs: usize, ui: &Ui) {
    if a.total.is_zero() {
        return;
    }
    let share = |d: Duration| {
        format!(
            "{} ({:.0}%)",
            format_duration(d),
            d.as_secs_f64() * 100.0 / a.total.as_secs_f64()
        )
    };
    let phases: Vec<String> = a
        .phases
        .iter()
        .map(|(n, d)| format!("{n} {}", share(*d)))
        .collect();
    ui.status(
        "Time",
        &format!(
            "{} summed over the scenarios ({:.1}x the wall time {}, {jobs} at once): {}",
            format_duration(a.total),
            a.total.as_secs_f64() / wall.as_secs_f64().max(0.001),
            format_duration(wall),
            phases.join(", ")
        ),
    );
    let mut kinds: Vec<(&&str, &Duration)> = a.steps.iter().collect();
    kinds.sort_by(|x, y| y.1.cmp(x.1));
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(k, d)| format!("{k} {}", share(**d)))
        .collect();
    ui.status(
        "Steps",
        &format!(
            "by kind (complete_lab is the replay of earlier labs, its steps also counted \
             under their kinds): {}",
            kinds.join(", ")
        ),
    );
}

pub fn rates(outcomes: &[Outcome], ui: &Ui) {
    let rates = crate::smoke::pass_rates(outcomes);
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
    say("", "Checks that did not always behave as they should:");
    for ((lab, scenario, check), (ok, n)) in flaky {
        say(
            "",
            &format!(
                "  lab {lab} {scenario}: `{check}` as expected in {ok} of {n} runs ({:.0}%)",
                f64::from(*ok) * 100.0 / f64::from(*n)
            ),
        );
    }
}

/// One line on stderr: a styled prefix as it is, then the text redacted (a step's
/// error may quote a server's answer).
fn say(styled_prefix: &str, text: &str) {
    eprintln!("{styled_prefix}{}", crate::redact::clean(text));
}

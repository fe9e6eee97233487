//! `lab solve N`: runs lab N's solution steps on the environment, saying what each
//! changes (for instructors and smoke tests).

use crate::action::exec::{self, Done};
use crate::cli::LabTargetArgs;
use crate::error::{exit, Result};
use crate::loader::{self, Loaded};
use crate::report::Ui;

pub async fn run(labs: &Loaded, args: LabTargetArgs, ui: &Ui) -> Result<i32> {
    let lab = loader::find(&labs.labs, &args.lab)?;
    let session = super::prelude::session(&args.target, &args.images)?;
    ui.status(
        "Solving",
        &format!(
            "lab {} ({})",
            lab.lab.id(),
            crate::text::count(lab.lab.solve.len(), "step")
        ),
    );
    let done = exec::run_steps(&session, &labs.labs, lab, &lab.lab.solve, ui).await?;
    let changed = done
        .iter()
        .filter(|d| matches!(d, Done::Changed(_)))
        .count();
    ui.status(
        "Solved",
        &format!(
            "lab {}: {changed} of {} steps changed something; check it with `lab check {}`",
            lab.lab.id(),
            done.len(),
            lab.lab.number
        ),
    );
    Ok(exit::OK)
}

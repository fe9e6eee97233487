//! `lab solve N`: runs lab N's solution steps on the environment, saying what each
//! changes (for instructors and smoke tests).

use crate::action::exec::{self, Done};
use crate::cli::LabTargetArgs;
use crate::error::{exit, Error, Result};
use crate::loader::{self, Loaded};
use crate::report::Ui;

pub async fn run(labs: &Loaded, args: LabTargetArgs, ui: &Ui) -> Result<i32> {
    let lab = loader::find(&labs.labs, &args.lab)?;
    let (dir, found) = super::check::environment(&args.target)?;
    let mut env = found.ok_or_else(|| Error::NoEnvironment {
        dir: dir.display().to_string(),
    })?;
    env.images = crate::images::ImageMap::for_env(Some(&env.dir), &args.images.map)?;
    env.pull = args.images.pull;
    ui.status(
        "Solving",
        &format!(
            "lab {} ({})",
            lab.lab.id(),
            crate::text::count(lab.lab.solve.len(), "step")
        ),
    );
    let done = exec::run_steps(&env, &labs.labs, lab, &lab.lab.solve, ui).await?;
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

//! `lab stop`: takes the environment's compose project down; its data (volumes),
//! files and answers are kept.

use crate::cli::TargetArgs;
use crate::error::{exit, Error, Result};
use crate::report::Ui;

pub async fn run(args: &TargetArgs, ui: &Ui) -> Result<i32> {
    let (dir, found) = super::check::environment(args)?;
    let mut env = found.ok_or_else(|| Error::NoEnvironment {
        dir: dir.display().to_string(),
    })?;
    env.images = crate::images::ImageMap::for_env(Some(&env.dir), &[])?;
    let c = crate::action::exec::compose_for(&env).await?;
    ui.status(
        "Stopping",
        &format!("compose project `{}`", env.state.project),
    );
    c.down(false).await?;
    ui.status(
        "Stopped",
        &format!(
            "compose project `{}`; volumes, files and answers kept (`lab start` brings it back)",
            env.state.project
        ),
    );
    Ok(exit::OK)
}

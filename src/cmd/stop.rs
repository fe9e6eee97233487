//! `lab stop`: takes the environment's compose project down; its data (volumes),
//! files and answers are kept.

use crate::cli::TargetArgs;
use crate::error::{exit, Result};
use crate::report::Ui;

pub async fn run(args: &TargetArgs, ui: &Ui) -> Result<i32> {
    // With the environment's own image map (`--image` is for commands that start).
    let session = super::prelude::session(args, &Default::default())?;
    let env = &session.env;
    let c = crate::action::exec::compose_for(env).await?;
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

//! `lab`: parse the command line, run the subcommand, turn the outcome into an exit code.

use clap::Parser;
use lab::{cli, cmd, report};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    lab::redact::register_from_env();
    let ui = report::Ui::new(&cli.global);
    let code = match cmd::run(cli, &ui) {
        Ok(code) => code,
        Err(e) => {
            ui.error(&e);
            e.exit_code()
        }
    };
    ui.engine_use(
        lab::engine::docker::connections(),
        lab::engine::compose::detections(),
    );
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

//! One module per subcommand: arguments -> plan -> run -> report -> exit code.

pub mod answer;
pub mod check;
pub mod doctor;
pub mod grade;
pub mod init;
pub mod interrupt;
pub mod key;
pub mod list;
pub mod prelude;
pub mod reset;
pub mod show;
pub mod smoke;
pub mod solve;
pub mod start;
pub mod status;
pub mod stop;
pub mod submit;
pub mod trace;
pub mod validate;
pub mod watch;

use crate::cli::{Cli, Command, Global};
use crate::error::{Error, Result};
use crate::loader::{self, Loaded, Source};
use crate::report::Ui;

pub fn run(cli: Cli, ui: &Ui) -> Result<i32> {
    let g = &cli.global;
    let csv_here = g.format == crate::cli::Format::Csv && matches!(cli.command, Command::Trace(_));
    if matches!(
        g.format,
        crate::cli::Format::Csv | crate::cli::Format::Junit | crate::cli::Format::Markdown
    ) && !matches!(cli.command, Command::Grade(_))
        && !csv_here
    {
        return Err(Error::Usage(
            "`--format csv`, `junit` and `markdown` are for `lab grade`; use `--format human` or `json` here".into(),
        ));
    }
    match cli.command {
        Command::List => list::run(&load(g)?, ui),
        Command::Show { lab } => show::run(&load(g)?, &lab, ui),
        Command::Check(args) => {
            let labs = load(g)?;
            block_on(check::run(&labs, *args, ui))
        }
        Command::Validate { paths } => validate::run(g, &paths, ui),
        Command::Doctor(args) => {
            let labs = load(g)?;
            block_on(doctor::run(&labs, args, ui))
        }
        Command::Init(args) => init::run(args, ui),
        Command::Trace(args) => {
            let csv = g.format == crate::cli::Format::Csv;
            block_on(trace::run(args, csv, ui))
        }
        Command::Answer(args) => answer::run(&load(g)?, args, ui),
        Command::Start(args) => {
            let labs = load(g)?;
            block_on(start::run(&labs, args, ui))
        }
        Command::Solve(args) => {
            let labs = load(g)?;
            block_on(solve::run(&labs, args, ui))
        }
        Command::Smoke(args) => {
            let labs = load(g)?;
            block_on(smoke::run(&labs, args, ui))
        }
        Command::Reset(args) => {
            let labs = load(g)?;
            block_on(reset::run(&labs, args, ui))
        }
        Command::Stop(args) => block_on(stop::run(&args, ui)),
        Command::Status(args) => block_on(status::run(&args, ui)),
        Command::Grade(args) => {
            let labs = load(g)?;
            block_on(grade::run(&labs, *args, g.format, ui))
        }
        Command::Submit(args) => {
            let labs = load(g)?;
            block_on(submit::run(&labs, *args, ui))
        }
        Command::Key(args) => key::run(&args, ui),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "lab", &mut std::io::stdout());
            Ok(crate::error::exit::OK)
        }
    }
}

/// The labs in use: `--labs-dir` (or LAB_LABS_DIR) when given, else the built-in course.
/// Any problem in them stops the command: a check against a broken lab means nothing.
fn load(g: &Global) -> Result<Loaded> {
    let loaded = loader::load(&[sources(g)]);
    if !loaded.problems.is_empty() {
        return Err(Error::InvalidLabs(loaded.problems));
    }
    Ok(loaded)
}

fn sources(g: &Global) -> Source {
    match &g.labs_dir {
        Some(d) => Source::Path(d.clone()),
        None => Source::Embedded,
    }
}

/// Runs a command on a new async runtime. When it returns, the runtime is shut down
/// without waiting for blocking work still running: a trainee's file whose parse
/// outlived its check's timeout (or `lab grade --deadline`) must not hold the
/// verdict, already printed, from exiting.
fn block_on(command: impl std::future::Future<Output = Result<i32>>) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let code = rt.block_on(command);
    rt.shutdown_background();
    code
}

#[cfg(test)]
mod tests {
    /// Commands print through the report layer (`Ui` and `report::*`), never with
    /// print macros of their own.
    #[test]
    fn commands_print_only_through_the_report_layer() {
        let macros = ["println", "eprintln", "print", "eprint"].map(|m| format!("{m}!("));
        let mut found = Vec::new();
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cmd")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    if macros.iter().any(|m| code.contains(m.as_str())) {
                        found.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "print macros in cmd/:\n{}",
            found.join("\n")
        );
    }
}

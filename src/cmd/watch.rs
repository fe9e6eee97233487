//! `lab grade --watch` and `--serve ADDR`: grading rounds every `--every`, the live
//! table after each, and (with `--serve`) the HTTP server showing the last round.
//! Ctrl-C ends it: the round in progress is dropped, the server stops, and the last
//! gradebook is written to `--output` when given.

use crate::cli::{Format, GradeArgs};
use crate::error::{exit, Error, Result};
use crate::grade::class::Class;
use crate::grade::watch::{Snapshot, Tracker};
use crate::grade::Gradebook;
use crate::report::gradebook::Show;
use crate::report::live::{until_next, Live};
use crate::report::serve::{self, Board, Rendered};
use crate::report::Ui;
use std::time::{Duration, Instant, SystemTime};

const EVERY: Duration = Duration::from_secs(15);
const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);

pub async fn run(class: &Class<'_>, args: &GradeArgs, format: Format, ui: &Ui) -> Result<i32> {
    let every = args.every.unwrap_or(EVERY);
    if every < Duration::from_secs(1) {
        return Err(Error::Usage(
            "--every must be 1s or more: each round grades every environment".into(),
        ));
    }
    let stuck_after = args.stuck_after.unwrap_or(STUCK_AFTER);
    let token = match &args.serve_token_env {
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            _ => {
                return Err(Error::Usage(format!(
                "--serve-token-env {var}: the environment variable {var} is not set (or empty); \
                     export the token there, e.g. `export {var}=$(openssl rand -hex 16)`"
            )))
            }
        },
        None => None,
    };

    let board = Board::new(Rendered::new(Snapshot::empty(
        Gradebook::new(&class.chosen, Vec::new()),
        every,
        stuck_after,
    )));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = match &args.serve {
        Some(addr) => {
            let addr = serve::address(addr).map_err(Error::Usage)?;
            if !addr.ip().is_loopback() && token.is_none() {
                return Err(Error::Usage(format!(
                    "--serve {addr} listens beyond this machine, and the pages show trainees' \
                     answers: add --serve-token-env VAR (the token in VAR), or listen on 127.0.0.1"
                )));
            }
            let listener = serve::bind(addr).await.map_err(Error::Usage)?;
            let local = listener
                .local_addr()
                .map_err(|e| Error::Internal(format!("the listener has no address: {e}")))?;
            ui.status(
                "Serving",
                &format!("http://{local}/ (the class), http://{local}/metrics (Prometheus)"),
            );
            Some(tokio::spawn(serve::run(
                listener,
                board.clone(),
                token,
                async move {
                    let _ = stopped.await;
                },
            )))
        }
        None => None,
    };

    let mut sigint = super::start::Sigint::listen()?;
    let mut tracker = Tracker::new(every, stuck_after);
    let mut live = Live::new(ui);
    let ended: Result<()> = loop {
        let started = Instant::now();
        let book = tokio::select! {
            b = class.round(&|_| {}) => b,
            _ = sigint.recv() => break Ok(()),
        };
        let book = match book {
            Ok(b) => b,
            Err(e) => break Err(e),
        };
        let snapshot = tracker.observe(book, SystemTime::now(), started.elapsed());
        live.show(&snapshot);
        board.set(Rendered::new(snapshot));
        tokio::select! {
            _ = tokio::time::sleep(until_next(started, every)) => {}
            _ = sigint.recv() => break Ok(()),
        }
    };

    let _ = stop.send(());
    if let Some(server) = server {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => ui.warn(&format!("the server stopped with an error: {e}")),
            Err(e) => ui.warn(&format!("the server stopped with an error: {e}")),
        }
    }
    ended?;

    let last = board.get();
    if let Some(path) = &args.output {
        if last.snapshot.round == 0 {
            ui.warn("stopped before the first round finished: no gradebook written");
        } else {
            let show = Show {
                detail: args.detail,
                answers: args.answers,
            };
            let text = crate::report::gradebook::render(&last.snapshot.book, format, ui, show);
            super::prelude::write_report(path, text.as_bytes())?;
            ui.status(
                "Wrote",
                &format!(
                    "the gradebook of round {} to {}",
                    last.snapshot.round,
                    path.display()
                ),
            );
        }
    }
    ui.status("Stopped", &format!("after {} rounds", last.snapshot.round));
    Ok(exit::OK)
}

//! Reporters: the only place that prints results. Human text (with spinners on a
//! terminal), JSON with a versioned schema, and JUnit XML.

pub mod course;
pub mod doctor;
pub mod gradebook;
pub mod human;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod metrics;
pub mod page;
pub mod pull;
pub mod scrub;
pub mod serve;
pub mod smoke;
pub mod status;
#[cfg(test)]
mod tests;
pub mod trace;

use crate::cli::{ColorChoice, Global};
use crate::error::Error;
use console::{Style, Term};

/// How output looks here: colours, terminal, verbosity.
#[derive(Debug, Clone)]
pub struct Ui {
    pub color: bool,
    /// Spinners and progress bars only when stderr is a terminal (and not in CI).
    pub interactive: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub json: bool,
}

impl Ui {
    pub fn new(g: &Global) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match g.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && Term::stdout().features().colors_supported(),
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        let ci = std::env::var_os("CI").is_some();
        Ui {
            color,
            interactive: Term::stderr().is_term() && !ci,
            quiet: g.quiet,
            verbose: g.verbose,
            json: g.format == crate::cli::Format::Json,
        }
    }

    /// A plain Ui for tests and snapshots.
    #[cfg(test)]
    pub fn plain() -> Ui {
        Ui {
            color: false,
            interactive: false,
            quiet: false,
            verbose: 0,
            json: false,
        }
    }

    pub fn style(&self, s: Style) -> Style {
        if self.color {
            s.force_styling(true)
        } else {
            Style::new().force_styling(false)
        }
    }

    /// `error: …` then `hint: …` on stderr.
    pub fn error(&self, e: &Error) {
        eprint!("{}", self.render_error(e));
    }

    /// An error as [`Ui::error`] prints it: each line of the message after
    /// `error:`, then the hint for its cause after `hint:`. Redacted.
    pub fn render_error(&self, e: &Error) -> String {
        let red = self.style(Style::new().red().bold());
        let cyan = self.style(Style::new().cyan().bold());
        let msg = crate::redact::clean(&e.to_string());
        let mut out = String::new();
        for l in msg.lines() {
            out.push_str(&format!("{} {l}\n", red.apply_to("error:")));
        }
        if let Some(h) = e.hint() {
            out.push_str(&format!(
                "{} {}\n",
                cyan.apply_to("hint:"),
                crate::redact::clean(&h)
            ));
        }
        out
    }

    /// A command's result on stdout (a list, a page, a report), redacted.
    pub fn out(&self, text: &str) {
        crate::redact::print(text);
    }

    /// A line for the person at the terminal, on stderr (what to do next, what was
    /// kept), redacted; not shown with `--quiet`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", crate::redact::clean(text));
        }
    }

    /// A line on stderr whatever `--quiet` says (after an interruption or a
    /// failure, what is left and how to go on), redacted.
    pub fn tell(&self, text: &str) {
        eprintln!("{}", crate::redact::clean(text));
    }

    /// `interrupted: …` on stderr, whatever `--quiet` says: the command did not finish.
    pub fn interrupted(&self, message: &str) {
        let warn = self.style(Style::new().yellow().bold());
        eprintln!(
            "{} {}",
            warn.apply_to("interrupted:"),
            crate::redact::clean(message)
        );
    }

    /// A question on stderr, without a newline: the answer is typed after it.
    pub fn prompt(&self, question: &str) {
        use std::io::Write;
        eprint!("{}", crate::redact::clean(question));
        let _ = std::io::stderr().flush();
    }

    /// `error: …` on stderr: what a command found wrong (not an error of `lab`).
    pub fn failure(&self, message: &str) {
        let red = self.style(Style::new().red().bold());
        eprintln!(
            "{} {}",
            red.apply_to("error:"),
            crate::redact::clean(message)
        );
    }

    /// `warning: …` on stderr.
    pub fn warn(&self, message: &str) {
        let yellow = self.style(Style::new().yellow().bold());
        eprintln!(
            "{} {}",
            yellow.apply_to("warning:"),
            crate::redact::clean(message)
        );
    }

    /// A cargo-style status line on stderr: the verb right-aligned in 12 columns.
    pub fn status(&self, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        let green = self.style(Style::new().green().bold());
        eprintln!(
            "{} {}",
            green.apply_to(format!("{verb:>12}")),
            crate::redact::clean(message)
        );
    }

    /// With `-v`, at the end of a command: how many times it connected to Docker and
    /// ran compose to detect it (each once per command: they are shared).
    pub fn engine_use(&self, connections: usize, detections: usize) {
        if self.verbose == 0 || connections + detections == 0 {
            return;
        }
        self.status(
            "Engine",
            &format!(
                "{} to Docker, {} of compose",
                crate::text::count(connections, "connection"),
                crate::text::count(detections, "detection")
            ),
        );
    }
}

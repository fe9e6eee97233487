//! The one error type of `lab`: each variant knows its exit code and its hint.

use std::fmt;
use std::path::Path;

/// Maps an I/O error on `path` to [`Error::Write`], naming the file.
pub fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.display().to_string(),
        source,
    }
}

/// Exit codes, documented in the README ("Exit codes"). Keep the two in step.
pub mod exit {
    /// Everything asked for passed.
    pub const OK: i32 = 0;
    /// The run completed and at least one check failed (or erred).
    pub const CHECKS_FAILED: i32 = 1;
    /// Bad command line, unknown lab, or an invalid lab definition.
    pub const USAGE: i32 = 2;
    /// A prerequisite is missing (`lab doctor` found a problem).
    pub const PREREQUISITE: i32 = 3;
    /// The Docker engine could not be reached.
    pub const DOCKER_UNREACHABLE: i32 = 4;
    /// The deployment could not be driven: a compose command failed, or services did
    /// not become ready in time.
    pub const ENVIRONMENT: i32 = 5;
    /// A file could not be read or written (missing, permissions, disk full).
    pub const IO: i32 = 6;
    /// A bug in `lab`.
    pub const INTERNAL: i32 = 10;
    /// Interrupted (Ctrl-C, SIGINT): 128 + the signal's number, as shells report it.
    pub const INTERRUPTED: i32 = 130;
}

/// One problem in a lab definition, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the user named it (or `<embedded>/...` for built-in labs).
    pub file: String,
    /// 1-based line and column; `None` when the problem is the file as a whole.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The field path, e.g. `exercises[1].checks[2].timeout`; empty for the document.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", render_diagnostics(.0))]
    InvalidLabs(Vec<Diagnostic>),

    /// A roster or manual-scores file with mistakes, each located.
    #[error("{}", render_diagnostics(.problems))]
    BadInput {
        problems: Vec<Diagnostic>,
        hint: String,
    },

    #[error("no lab named `{query}`{}", did_you_mean(.suggestion))]
    UnknownLab {
        query: String,
        suggestion: Option<String>,
    },

    #[error("no exercise `{exercise}` in lab {lab}{}", did_you_mean(.suggestion))]
    UnknownExercise {
        lab: String,
        exercise: String,
        suggestion: Option<String>,
    },

    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot reach the Docker engine at {host}: {reason}")]
    DockerUnreachable { host: String, reason: String },

    #[error("no lab environment in {dir}")]
    NoEnvironment { dir: String },

    /// Neither compose flavour answers (or the one `LAB_COMPOSE` forces does not).
    #[error("Docker Compose not found{}: {tried}", forced_note(.forced))]
    ComposeMissing {
        tried: String,
        /// `v1` or `v2` when `LAB_COMPOSE` forced a flavour.
        forced: Option<&'static str>,
    },

    /// A compose command failed; `message` is compose's own words.
    #[error("`{command}` failed: {message}")]
    Compose {
        command: String,
        message: String,
        hint: String,
    },

    /// Services did not become ready (or one exited); says which, how, and their logs.
    #[error("{0}")]
    NotReady(Box<crate::model::compose::NotReady>),

    /// An image could not be pulled; `message` is the registry's (or engine's) own words.
    #[error("cannot pull image `{image}`: {message}")]
    Pull {
        image: String,
        registry: String,
        message: String,
    },

    /// A host port the stack publishes is held by something else, found before compose ran.
    #[error("host port {port} (service `{service}`) is already taken{}", holder.as_deref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortTaken {
        port: u16,
        service: String,
        holder: Option<String>,
    },

    /// A setup or solution step failed while it ran: which lab, which step, why.
    #[error("step {step} ({name}) of lab {lab}: {cause}")]
    Step {
        lab: String,
        /// 1-based, in the order the lab lists its steps.
        step: usize,
        name: String,
        cause: String,
    },

    /// A command stopped part way (a step failed): the cause, and what to do next
    /// with what is left (`next`, added to the cause's hint).
    #[error("{cause}")]
    Stopped { cause: Box<Error>, next: String },

    #[error("{0}")]
    Usage(String),

    #[error("prerequisites missing: {0}")]
    Prerequisite(String),

    #[error("internal error: {0}")]
    Internal(String),
}

fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

fn forced_note(forced: &Option<&'static str>) -> String {
    match forced {
        Some(f) => format!(" ({} is set to {f})", crate::model::compose::FORCE_ENV),
        None => String::new(),
    }
}

fn render_diagnostics(d: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in d.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.to_string());
    }
    out
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidLabs(_)
            | Error::UnknownLab { .. }
            | Error::UnknownExercise { .. }
            | Error::Usage(_)
            | Error::BadInput { .. }
            | Error::NoEnvironment { .. } => exit::USAGE,
            Error::Read { .. } | Error::Write { .. } => exit::IO,
            Error::DockerUnreachable { .. } => exit::DOCKER_UNREACHABLE,
            Error::Prerequisite(_)
            | Error::ComposeMissing { .. }
            | Error::Pull { .. }
            | Error::PortTaken { .. } => exit::PREREQUISITE,
            Error::Compose { .. } | Error::NotReady(_) | Error::Step { .. } => exit::ENVIRONMENT,
            Error::Internal(_) => exit::INTERNAL,
            Error::Stopped { cause, .. } => cause.exit_code(),
        }
    }

    /// A line that tells the user what to do next, chosen from the cause.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidLabs(d) => Some(format!(
                "{} problem{} found; fix {} and run `lab validate` again",
                d.len(),
                if d.len() == 1 { "" } else { "s" },
                if d.len() == 1 { "it" } else { "them" }
            )),
            Error::BadInput { hint, .. } => Some(hint.clone()),
            Error::UnknownLab { .. } => Some("run `lab list` to see the labs".into()),
            Error::UnknownExercise { lab, .. } => {
                Some(format!("run `lab show {lab}` to see its exercises"))
            }
            Error::DockerUnreachable { .. } => Some(
                "start the Docker daemon (`sudo systemctl start docker`, or `dockerd &`), \
                 or point DOCKER_HOST at a running engine"
                    .into(),
            ),
            Error::Prerequisite(_) => Some("run `lab doctor` for the details and fixes".into()),
            Error::NoEnvironment { dir } => Some(format!(
                "run `lab init --workspace {dir}` for a new deployment, or `lab init --adopt {dir}` to use the one there"
            )),

            Error::ComposeMissing {
                forced: Some(_), ..
            } => Some(format!(
                "unset {} to use whichever compose is installed, or install the one it names",
                crate::model::compose::FORCE_ENV
            )),
            Error::ComposeMissing { forced: None, .. } => Some(
                "install the Docker Compose plugin (`sudo apt-get install docker-compose-plugin`, \
                 or Docker Desktop, which includes it); `lab doctor` checks it"
                    .into(),
            ),
            Error::Compose { hint, .. } => Some(hint.clone()),
            // A failed step's own hint only says to run the command again, which
            // `next` says better (which command, and what is left running).
            Error::Stopped { cause, next } => Some(match (cause.as_ref(), cause.hint()) {
                (Error::Step { .. }, _) | (_, None) => next.clone(),
                (_, Some(h)) => format!("{h}\n{next}"),
            }),
            Error::Pull {
                image, registry, ..
            } => Some(format!(
                "map it to an image you have or can pull: `--image {image}=OTHER` (or LAB_IMAGE_MAP, \
                 or .lab/images.yaml); or, if {registry} needs a login, `docker login {registry}`"
            )),
            Error::PortTaken { port, holder, .. } => Some(format!(
                "{}, or change the port mapping of the service in the compose file; \
                 `lab doctor` lists every port",
                match holder {
                    Some(h) => format!("stop {h}"),
                    None => format!("stop whatever listens on port {port} (`ss -ltnp 'sport = :{port}'` names it)"),
                }
            )),
            Error::NotReady(n) => Some(n.hint()),
            Error::Read { path, .. } => Some(format!(
                "check that {path} exists and that you may read it (`ls -l {path}`)"
            )),
            Error::Write { path, .. } => Some(format!(
                "check that the folder of {path} exists, that you may write there, and that the disk has room (`df -h`)"
            )),
            // Inside `lab start N` a step may be an earlier lab's (its replay): the
            // command to run again is the one the person ran, not lab {lab}'s.
            Error::Step { .. } => Some(
                "fix the cause above and run the same command again: the steps already done change nothing; with `-v` it shows each step".into(),
            ),
            Error::Internal(_) => {
                Some("this is a bug in lab; please report it with the command you ran".into())
            }
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Levenshtein distance, for "did you mean".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate nearest to `query`, if it is near enough to be a plausible typo.
pub fn nearest<'a>(query: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(query, c), c))
        .filter(|(d, c)| *d <= (c.len().max(query.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_close_names_only() {
        let names = ["prometheus", "grafana", "tracing-logs"];
        assert_eq!(nearest("promethues", names).as_deref(), Some("prometheus"));
        assert_eq!(nearest("grafan", names).as_deref(), Some("grafana"));
        assert_eq!(nearest("kubernetes", names), None);
    }

    #[test]
    fn diagnostic_renders_file_line_column_and_path() {
        let d = Diagnostic {
            file: "labs/02-prometheus/lab.yaml".into(),
            line: Some(41),
            column: Some(7),
            path: "exercises[1].checks[2].timeout".into(),
            message: "invalid duration \"5 sec\"".into(),
        };
        assert_eq!(
            d.to_string(),
            "labs/02-prometheus/lab.yaml:41:7: exercises[1].checks[2].timeout: invalid duration \"5 sec\""
        );
    }
}

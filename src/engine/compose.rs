//! Drives Docker Compose for one project (the v2 `docker compose` plugin or the v1
//! `docker-compose` program) and waits, event by event, until its services are ready.
//!
//! Every compose run has a time limit, runs in the project's folder with `-p` and
//! `-f` given explicitly (so neither `COMPOSE_PROJECT_NAME` nor `COMPOSE_FILE` nor the
//! folder's name can pick another project), and its output is captured: nothing is
//! printed here. A failure keeps compose's own words. The environment compose sees is
//! the caller's, untouched; no value from it enters a message.

mod ready;
#[cfg(test)]
mod tests;

pub use ready::{
    project_services, wait_ready, wait_ready_with, NotReady, ServiceState, Stuck, WaitOptions,
};

use crate::error::{Error, Result};
use crate::model::format_duration;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Which compose program runs. `V1` is the `docker-compose` program; a machine may
/// have a v2 build installed under that name, which `Installed::version` then shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// `docker compose`, the Docker CLI plugin (Compose v2).
    V2,
    /// `docker-compose`, the standalone program (Compose v1).
    V1,
}

impl Flavor {
    /// The program and the arguments that come before compose's own.
    fn program(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Flavor::V2 => ("docker", &["compose"]),
            Flavor::V1 => ("docker-compose", &[]),
        }
    }

    /// The command as a person types it.
    pub fn command(self) -> &'static str {
        match self {
            Flavor::V2 => "docker compose",
            Flavor::V1 => "docker-compose",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.command())
    }
}

/// The compose found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub flavor: Flavor,
    /// As the program reports it: `2.26.1-4`, `v2.27.0`, `1.29.2`.
    pub version: String,
}

impl fmt::Display for Installed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.flavor, self.version)
    }
}

/// The environment variable that forces a flavour (`v1` or `v2`); tests use it to
/// run the same scenario with both.
pub use crate::model::compose::FORCE_ENV;

/// What `LAB_COMPOSE` asks for: `None` when unset or empty (try v2, then v1).
pub fn forced_flavor(value: Option<&str>) -> Result<Option<Flavor>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("v2") => Ok(Some(Flavor::V2)),
        Some(v) if v.eq_ignore_ascii_case("v1") => Ok(Some(Flavor::V1)),
        Some(v) => Err(Error::Usage(format!(
            "{FORCE_ENV}={v} is not a compose flavour: use `v2` (docker compose) or `v1` (docker-compose), or unset it"
        ))),
    }
}

/// The version in `docker compose version` / `docker-compose version` output:
/// `Docker Compose version v2.27.0` -> `v2.27.0`; `docker-compose version 1.29.2, build x` -> `1.29.2`.
pub fn parse_version(output: &str) -> Option<String> {
    let line = output.lines().find(|l| !l.trim().is_empty())?;
    line.split(|c: char| c.is_whitespace() || c == ',')
        .find(|w| {
            let w = w.strip_prefix('v').unwrap_or(w);
            w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.')
        })
        .map(str::to_string)
}

/// How long `version` may take: a CLI plugin that hangs must not hang `lab`.
const DETECT_LIMIT: Duration = Duration::from_secs(15);

/// Finds compose: `docker compose` (v2), else `docker-compose` (v1), unless
/// `LAB_COMPOSE` names one, in which case only that one is tried.
pub async fn detect() -> Result<Installed> {
    detect_as(forced_flavor(std::env::var(FORCE_ENV).ok().as_deref())?).await
}

/// `detect` with the choice given rather than read from `LAB_COMPOSE`. A compose
/// found once is remembered for the rest of the process: every check, step and
/// environment of one command asks the same question, and each answer costs a
/// program start (a `lab grade` of twelve environments asked it twelve times at once
/// and ran out of its probe time). A failure is not remembered: it is asked again.
pub async fn detect_as(forced: Option<Flavor>) -> Result<Installed> {
    static FOUND: tokio::sync::Mutex<Vec<(Option<Flavor>, Installed)>> =
        tokio::sync::Mutex::const_new(Vec::new());
    // Held while detecting, so callers at the same moment wait for one answer.
    let mut found = FOUND.lock().await;
    if let Some((_, installed)) = found.iter().find(|(f, _)| *f == forced) {
        return Ok(installed.clone());
    }
    let installed = detect_uncached(forced).await?;
    found.push((forced, installed.clone()));
    Ok(installed)
}

static DETECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times this process has run compose to learn its flavour and version
/// (not the answers [`detect`] gave from memory).
pub fn detections() -> usize {
    DETECTIONS.load(std::sync::atomic::Ordering::Relaxed)
}

async fn detect_uncached(forced: Option<Flavor>) -> Result<Installed> {
    DETECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let order: &[Flavor] = match forced {
        Some(Flavor::V2) => &[Flavor::V2],
        Some(Flavor::V1) => &[Flavor::V1],
        None => &[Flavor::V2, Flavor::V1],
    };
    let mut tried = Vec::new();
    for &flavor in order {
        match version_of(flavor).await {
            Ok(version) => return Ok(Installed { flavor, version }),
            Err(why) => tried.push(format!("`{flavor} version`: {why}")),
        }
    }
    Err(Error::ComposeMissing {
        tried: tried.join("; "),
        forced: forced.map(|f| match f {
            Flavor::V2 => "v2",
            Flavor::V1 => "v1",
        }),
    })
}

async fn version_of(flavor: Flavor) -> std::result::Result<String, String> {
    let (program, pre) = flavor.program();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(pre)
        .arg("version")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(DETECT_LIMIT, cmd.output()).await {
        Err(_) => {
            return Err(format!(
                "no answer within {}",
                format_duration(DETECT_LIMIT)
            ))
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{program} is not on PATH"))
        }
        Ok(Err(e)) => return Err(format!("cannot run {program}: {e}")),
        Ok(Ok(o)) => o,
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // `docker compose` without the plugin: "docker: 'compose' is not a docker command."
        return Err(first_line(&stderr)
            .or_else(|| first_line(&stdout))
            .unwrap_or_else(|| format!("failed ({})", out.status)));
    }
    parse_version(&stdout).ok_or_else(|| {
        format!(
            "unexpected answer: {}",
            crate::text::clip(stdout.trim(), 80)
        )
    })
}

fn first_line(s: &str) -> Option<String> {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| crate::text::clip(l, 160))
}

/// How long each kind of compose run may take before it is stopped and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `up`: may pull images (Anchore's are large), so generous.
    pub up: Duration,
    /// `down`: each container gets compose's stop grace period (10 s) first.
    pub down: Duration,
    /// `config`, `ps`, `logs`: read-only and quick.
    pub quick: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            up: Duration::from_secs(15 * 60),
            down: Duration::from_secs(3 * 60),
            quick: Duration::from_secs(60),
        }
    }
}

/// What a successful compose run wrote. Compose writes its progress and warnings to
/// stderr, so a success may have both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// One compose project: the program, the project name, its files and its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    pub flavor: Flavor,
    pub project: String,
    /// Passed as `-f`, in order; relative paths are relative to `workdir`.
    pub files: Vec<PathBuf>,
    /// Where compose runs: relative paths inside the files (bind mounts, `.env`) resolve here.
    pub workdir: PathBuf,
    pub timeouts: Timeouts,
}

impl Compose {
    pub fn new(
        flavor: Flavor,
        project: impl Into<String>,
        files: Vec<PathBuf>,
        workdir: impl Into<PathBuf>,
    ) -> Compose {
        Compose {
            flavor,
            project: project.into(),
            files,
            workdir: workdir.into(),
            timeouts: Timeouts::default(),
        }
    }

    /// `up -d --remove-orphans [services]`: creates and starts, returns once compose
    /// has started the containers (readiness is `wait_ready`'s job).
    pub async fn up(&self, services: &[String]) -> Result<Output> {
        let mut args = vec!["up", "-d", "--remove-orphans"];
        args.extend(services.iter().map(String::as_str));
        self.run(&args, self.timeouts.up).await
    }

    /// `up --no-start --remove-orphans`: creates the containers, networks and volumes
    /// without starting anything (to put data into the volumes first).
    pub async fn create(&self) -> Result<Output> {
        self.run(&["up", "--no-start", "--remove-orphans"], self.timeouts.up)
            .await
    }

    /// `down --remove-orphans`, and `-v` when `volumes` (named volumes hold the
    /// trainee's database and dashboards: removed only when asked).
    pub async fn down(&self, volumes: bool) -> Result<Output> {
        let mut args = vec!["down", "--remove-orphans"];
        if volumes {
            args.push("-v");
        }
        self.run(&args, self.timeouts.down).await
    }

    /// Validates the files as compose reads them (`config -q`): the error carries
    /// compose's message, e.g. an undefined volume.
    pub async fn config(&self) -> Result<()> {
        self.run(&["config", "-q"], self.timeouts.quick)
            .await
            .map(|_| ())
    }

    /// The project as compose resolves it (`.env` and environment interpolation,
    /// profiles, `extends`, `include`, merged files): v2's `config --format json`,
    /// v1's `config` (YAML). Holds every value of the files, secrets included: the
    /// caller reads what it needs and shows nothing else.
    pub async fn resolved(&self) -> Result<String> {
        let args: &[&str] = match self.flavor {
            Flavor::V2 => &["config", "--format", "json"],
            Flavor::V1 => &["config"],
        };
        Ok(self.run(args, self.timeouts.quick).await?.stdout)
    }

    /// The services the files define (`config --services`), sorted. Only names:
    /// `config` without `--services` would print environment values.
    pub async fn services(&self) -> Result<Vec<String>> {
        let out = self
            .run(&["config", "--services"], self.timeouts.quick)
            .await?;
        let mut names: Vec<String> = out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// `ps -a`: compose's table of the project's containers, as compose prints it.
    pub async fn ps(&self) -> Result<String> {
        Ok(self.run(&["ps", "-a"], self.timeouts.quick).await?.stdout)
    }

    /// The last `tail` lines `service` logged (`logs --no-color --tail N`), stdout
    /// and stderr together, each line prefixed by compose with its container.
    pub async fn logs(&self, service: &str, tail: usize) -> Result<String> {
        let tail = tail.to_string();
        let out = self
            .run(
                &["logs", "--no-color", "--tail", &tail, service],
                self.timeouts.quick,
            )
            .await?;
        Ok(out.stdout)
    }

    /// `-p` and each `-f`: what names the project, in every command and message.
    fn project_args(&self) -> Vec<String> {
        let mut v = vec!["-p".to_string(), self.project.clone()];
        for f in &self.files {
            v.push("-f".into());
            v.push(f.display().to_string());
        }
        v
    }

    /// The command as a person would type it in `workdir`, for messages.
    pub fn command_line(&self, args: &[&str]) -> String {
        let mut words = vec![self.flavor.command().to_string()];
        words.extend(self.project_args().into_iter().map(shell_word));
        words.extend(args.iter().map(|a| shell_word(a.to_string())));
        words.join(" ")
    }

    async fn run(&self, args: &[&str], limit: Duration) -> Result<Output> {
        let (program, pre) = self.flavor.program();
        let shown = self.command_line(args);
        let mut cmd = tokio::process::Command::new(program);
        // `--ansi never` keeps colour codes out of messages (both flavours know it
        // since 1.28); it is left out of the command shown, which is for a terminal.
        cmd.args(pre)
            .args(["--ansi", "never"])
            .args(self.project_args())
            .args(args)
            .current_dir(&self.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A run that overstays its limit is dropped, and with it the process.
            .kill_on_drop(true);
        let out = match tokio::time::timeout(limit, cmd.output()).await {
            Err(_) => {
                return Err(Error::Compose {
                    command: shown.clone(),
                    message: format!("no result within {}; stopped", format_duration(limit)),
                    hint: format!(
                        "is the Docker engine busy, or pulling large images? run `{shown}` in {} to watch it",
                        display_dir(&self.workdir)
                    ),
                })
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if self.workdir.is_dir() {
                    Error::ComposeMissing {
                        tried: format!("`{}`: {program} is not on PATH", self.flavor),
                        forced: None,
                    }
                } else {
                    Error::Compose {
                        command: shown,
                        message: format!("the folder {} does not exist", display_dir(&self.workdir)),
                        hint: "run lab in the folder that holds the compose file, or pass --workdir".into(),
                    }
                })
            }
            Ok(Err(e)) => {
                return Err(Error::Compose {
                    command: shown,
                    message: format!("cannot run {program}: {e}"),
                    hint: format!("check that `{} version` works here", self.flavor),
                })
            }
            Ok(Ok(o)) => o,
        };
        let output = Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if out.status.success() {
            return Ok(output);
        }
        Err(Error::Compose {
            message: failure_message(self.flavor, &output, out.status.code()),
            hint: format!(
                "run `{shown}` in {} to see compose's full output",
                display_dir(&self.workdir)
            ),
            command: shown,
        })
    }
}

fn display_dir(p: &Path) -> String {
    if p.as_os_str().is_empty() {
        ".".into()
    } else {
        p.display().to_string()
    }
}

/// A word quoted for a POSIX shell when it needs it, so a printed command can be pasted.
fn shell_word(w: String) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        w
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The most lines of compose's stderr a message keeps (the end holds the error).
const MESSAGE_LINES: usize = 20;

/// Compose's own account of a failure: its stderr trimmed, without v2's progress lines
/// (` Container x  Creating`), which say what it did, not what went wrong. The last
/// lines are kept when it is long. Falls back to stdout, then to the exit status.
pub fn failure_message(flavor: Flavor, out: &Output, code: Option<i32>) -> String {
    let keep = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .filter(|l| flavor == Flavor::V1 || !is_v2_progress(l))
            .map(str::to_string)
            .collect()
    };
    let mut lines = keep(&out.stderr);
    if lines.is_empty() {
        // Everything was progress: better all of it than nothing.
        lines = out
            .stderr
            .lines()
            .chain(out.stdout.lines())
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
    }
    if lines.is_empty() {
        return match code {
            Some(c) => format!("exit status {c}, no message"),
            None => "killed by a signal, no message".into(),
        };
    }
    let dropped = lines.len().saturating_sub(MESSAGE_LINES);
    let mut kept: Vec<String> = lines.split_off(dropped);
    if dropped > 0 {
        kept.insert(0, format!("… ({dropped} earlier lines)"));
    }
    kept.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n")
}

/// A v2 progress line: ` Container labt-api-1  Started`, ` Network x_default  Creating`.
fn is_v2_progress(line: &str) -> bool {
    const OBJECTS: [&str; 4] = ["Container", "Network", "Volume", "Image"];
    const STATES: [&str; 17] = [
        "Creating",
        "Created",
        "Starting",
        "Started",
        "Stopping",
        "Stopped",
        "Removing",
        "Removed",
        "Running",
        "Recreate",
        "Recreated",
        "Waiting",
        "Healthy",
        "Exited",
        "Pulling",
        "Pulled",
        "Error",
    ];
    let mut words = line.split_whitespace();
    let (Some(object), Some(_name), Some(state)) = (words.next(), words.next(), words.next())
    else {
        return false;
    };
    OBJECTS.contains(&object) && STATES.contains(&state) && words.next().is_none()
}

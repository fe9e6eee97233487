//! The command line: global options and one subcommand per job.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "Run, check and grade the course \"Monitoring an Anchore deployment with Prometheus and Grafana\"",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// A folder of lab definitions to use instead of the built-in course (for authors).
    #[arg(long, global = true, env = "LAB_LABS_DIR", value_name = "DIR")]
    pub labs_dir: Option<PathBuf>,

    /// Output format: human text, or JSON for scripts (`lab grade` also writes csv,
    /// junit and markdown; `lab trace` also csv).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// When to use colours (NO_COLOR is honoured under `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Print only problems and the summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more: passing checks' observations, timings of every attempt.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// `lab grade` and `lab trace` only.
    Csv,
    /// `lab grade` only.
    Junit,
    /// `lab grade` only.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the labs.
    List,
    /// Show a lab's instructions, exercises and questions.
    Show {
        /// The lab: its number (2 or 02) or its slug.
        lab: String,
    },
    /// Check a lab's exercises against the environment.
    Check(Box<CheckArgs>),
    /// Validate lab definitions and print every problem found.
    Validate {
        /// Lab folders, `lab.yaml` files, or folders of labs (default: the labs in use).
        paths: Vec<PathBuf>,
    },
    /// Check the prerequisites of the course, or of one lab.
    Doctor(DoctorArgs),
    /// Make an environment: the course's deployment in a folder, or adopt your own.
    Init(InitArgs),
    /// Record your answer to a lab's question (a duration such as 1m19s, a number, or text).
    Answer(AnswerArgs),
    /// Follow an image's analysis through the analyzer's logs (containers or log files).
    Trace(TraceArgs),
    /// Start a lab: its prerequisites, then its setup, then its instructions and URLs.
    Start(LabTargetArgs),
    /// Run a lab's solution on the environment (for instructors and smoke tests).
    Solve(LabTargetArgs),
    /// Self-test labs (authors, CI): each lab's checks must fail before its solution
    /// and pass after it, and each variant must fail exactly the checks it names.
    Smoke(SmokeArgs),
    /// Stop the environment's services; data, files and answers are kept.
    Stop(TargetArgs),
    /// Back to a lab's starting state: stack down (volumes after asking), the files
    /// `lab init` made restored (yours backed up), then the lab's setup.
    Reset(ResetArgs),
    /// The environment: the lab in progress, each service's state and health, URLs, last results.
    Status(TargetArgs),
    /// Grade a class: every trainee's environment on the roster, or signed
    /// submissions, into one gradebook (trainee x lab).
    Grade(Box<GradeArgs>),
    /// Run the checks and write a signed submission for an instructor who cannot
    /// reach this environment.
    Submit(Box<SubmitArgs>),
    /// Instructors: each trainee's own signing key for `lab submit`, derived from the
    /// course key (one trainee cannot sign as another).
    Key(KeyArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The labs: numbers (2 or 02) or slugs.
    pub labs: Vec<String>,

    /// Every lab of the course.
    #[arg(long, conflicts_with = "labs")]
    pub all: bool,

    /// Only each lab's model solution, not its variants.
    #[arg(long)]
    pub no_variants: bool,

    /// Run everything this many times and report each check's pass rate (flaky checks show).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,

    /// Also write a JUnit XML report here (lab = suite, scenario = case).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Stop at the first broken scenario and leave its environment running for
    /// inspection (when all pass, the last one is left).
    #[arg(long)]
    pub keep: bool,

    /// Replay every scenario's setup instead of starting the other scenarios of a lab
    /// from a snapshot of its first scenario's starting state (files and volumes);
    /// the snapshot cache is neither read nor written.
    #[arg(long)]
    pub no_snapshots: bool,

    /// Give every scenario an environment of its own, even those whose steps differ
    /// only in the answers they record at the end (by default these share one: the
    /// others are judged in it, one after another, each with its own answers).
    #[arg(long)]
    pub isolated: bool,

    /// Where snapshots are kept across runs, keyed by the replayed lab files, the image
    /// maps and the IDs of the images the stack ran (default:
    /// $XDG_CACHE_HOME/lab/smoke-snapshots, else ~/.cache/lab/smoke-snapshots). Entries
    /// unused for 7 days, and the least recently used beyond 4 GiB, are pruned.
    #[arg(long, env = "LAB_SNAPSHOT_CACHE", value_name = "DIR")]
    pub snapshot_cache: Option<PathBuf>,

    /// Take every snapshot again, replacing the cached ones, instead of starting from them.
    #[arg(long, conflicts_with = "no_snapshots")]
    pub fresh_snapshots: bool,

    /// How many scenarios run at once (default: two per core, as many stacks as
    /// the available memory holds at the labs' `memory_mib` each).
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,

    /// The prefix of the smoke environments' compose projects (each scenario has its
    /// own: `lab-smoke-02-prometheus-solution`).
    #[arg(long, default_value = "lab-smoke")]
    pub project: String,

    /// Where the environments' folders go (default: a new folder in the temp dir).
    #[arg(long, value_name = "DIR")]
    pub workspace_root: Option<PathBuf>,

    /// An Anchore Enterprise license file to copy into each environment.
    #[arg(long, value_name = "FILE")]
    pub license: Option<PathBuf>,

    /// Use image TO wherever the stack uses FROM, in every scenario (repeatable; wins
    /// over LAB_IMAGE_MAP), e.g. a Grafana release:
    /// `docker.io/grafana/grafana:latest=lab-bench/grafana:12`.
    #[arg(long = "image", value_name = "FROM=TO")]
    pub images: Vec<String>,

    /// Also run the solution of LABS on other images, as scenarios of their own in the
    /// same pool (repeatable; several maps separated by `,`), e.g. every Grafana
    /// release: `--matrix 4@docker.io/grafana/grafana:latest=lab-bench/grafana:12`.
    /// Each is reported (and named in JUnit) with its images: `solution [grafana:12]`.
    /// With no labs named (and no --all), only these scenarios run.
    #[arg(long = "matrix", value_name = "LABS@FROM=TO")]
    pub matrix: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The lab: its number (2 or 02) or its slug.
    pub lab: String,

    /// Only this exercise's checks (and the checks they need).
    #[arg(long, short)]
    pub exercise: Option<String>,

    /// Also write a JUnit XML report here (lab = suite, check = case).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// How many probes may run at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: u16,

    #[command(flatten)]
    pub target: TargetArgs,
}

/// Where the environment is. Each URL and user defaults to the environment's own
/// (`lab init` records them), else the course's. Passwords come only from the
/// environment variables or the compose file, never from flags (which other users
/// can read in the process list).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Environment")]
pub struct TargetArgs {
    /// The environment's folder (default: this folder if it holds one, else the
    /// default environment made by `lab init`).
    #[arg(
        long,
        visible_alias = "workdir",
        env = "LAB_WORKSPACE",
        value_name = "DIR"
    )]
    pub workspace: Option<PathBuf>,

    /// The compose file, relative to the environment's folder.
    #[arg(long, env = "LAB_COMPOSE_FILE", value_name = "FILE")]
    pub compose_file: Option<PathBuf>,

    /// The compose project name.
    #[arg(long, env = "LAB_PROJECT", value_name = "NAME")]
    pub project: Option<String>,

    /// The Anchore API, e.g. http://localhost:8228 (password: LAB_ANCHORE_PASSWORD or ANCHORECTL_PASSWORD).
    #[arg(long, env = "LAB_ANCHORE_URL", value_name = "URL")]
    pub anchore_url: Option<String>,

    #[arg(long, env = "LAB_ANCHORE_USER", value_name = "USER")]
    pub anchore_user: Option<String>,

    /// Prometheus, e.g. http://localhost:9090.
    #[arg(long, env = "LAB_PROMETHEUS_URL", value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// Grafana, e.g. http://localhost:3001 (password: LAB_GRAFANA_PASSWORD).
    #[arg(long, env = "LAB_GRAFANA_URL", value_name = "URL")]
    pub grafana_url: Option<String>,

    #[arg(long, env = "LAB_GRAFANA_USER", value_name = "USER")]
    pub grafana_user: Option<String>,
}

#[derive(Debug, Args)]
pub struct LabTargetArgs {
    /// The lab: its number (2 or 02) or its slug.
    pub lab: String,
    /// Do not check the prerequisites first (`lab start` only).
    #[arg(long)]
    pub skip_doctor: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Which images the stack runs, and whether present ones are pulled again.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Images")]
pub struct ImageArgs {
    /// Use image TO wherever the stack uses FROM (repeatable; wins over LAB_IMAGE_MAP
    /// `from=to,from=to`, which wins over the environment's .lab/images.yaml).
    #[arg(long = "image", value_name = "FROM=TO")]
    pub map: Vec<String>,
    /// Pull every image of the stack, also those already present.
    #[arg(long)]
    pub pull: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The lab whose starting state to restore (default: the lab in progress; with
    /// none, the state `lab init` made, before lab 1).
    pub lab: Option<String>,
    /// Remove the volumes (databases, dashboards) without asking.
    #[arg(long, short = 'y', conflicts_with = "keep_volumes")]
    pub yes: bool,
    /// Keep the volumes: only the files and the containers go back.
    #[arg(long)]
    pub keep_volumes: bool,
    /// Also forget the recorded answers (they are backed up first).
    #[arg(long)]
    pub forget_answers: bool,
    /// Do not check the prerequisites before the lab's setup.
    #[arg(long)]
    pub skip_doctor: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The lab: its number (2 or 02) or its slug.
    pub lab: String,
    /// The question's id (see `lab show N`).
    pub question: String,
    /// The answer; several words are joined with spaces.
    #[arg(required = true, num_args = 1..)]
    pub value: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The image, by tag (`postgres:latest`) or digest (`sha256:07ad…`): its timeline,
    /// line by line; without it, every analysis is listed (or summed up with --summary).
    pub image: Option<String>,
    /// Read these instead of the analyzer containers: log files, folders (a support
    /// bundle unpacked; analyzer logs are found by their content), .gz/.zst/.xz files,
    /// .tar, .tar.gz/.tgz or .zip bundles (read in place), or `-` for standard input.
    #[arg(long, value_name = "PATH")]
    pub log: Vec<PathBuf>,
    /// The compose services whose logs to read (default: every service named like `analyzer`).
    #[arg(long, value_name = "SERVICE")]
    pub service: Vec<String>,
    /// Figures instead of the list: counts, analysis time percentiles, the slowest
    /// images, failures by message, per hour and per analyzer, a histogram and a
    /// timeline of analyses running, and Prometheus's _sum/_count for the same analyses.
    #[arg(long)]
    pub summary: bool,
    /// Only analyses dequeued at or after this time (`2024-08-18T12:00:00+02:00`,
    /// `2024-08-18 12:00`, `2024-08-18`; UTC unless an offset is given).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only analyses dequeued at or before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only analyses of this image (tag or digest); repeat for several.
    #[arg(long = "image", value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Only failed analyses.
    #[arg(long)]
    pub failed: bool,
    /// Only finished analyses that took longer than this (`90s`, `2m`).
    #[arg(long, value_name = "DURATION")]
    pub slower_than: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The environment's folder (default: ~/.local/share/lab/env).
    #[arg(
        long,
        env = "LAB_WORKSPACE",
        value_name = "DIR",
        conflicts_with = "adopt"
    )]
    pub workspace: Option<PathBuf>,

    /// Take over an existing deployment (a folder or its compose file) in place,
    /// after a timestamped backup of its compose file.
    #[arg(long, value_name = "PATH")]
    pub adopt: Option<PathBuf>,

    /// The compose project name (default: `anchore-lab`; when adopting, the file's own).
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,

    /// Your Anchore Enterprise license file, copied into the environment.
    #[arg(long, value_name = "FILE")]
    pub license: Option<PathBuf>,

    /// Replace an existing compose file in the folder (it is backed up first).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only this lab's prerequisites (default: the whole course's).
    pub lab: Option<String>,

    /// Check that images are present instead of pulling them.
    #[arg(long)]
    pub no_pull: bool,

    /// The compose project whose own containers may hold the course's ports.
    #[arg(long, env = "LAB_PROJECT", value_name = "NAME")]
    pub project: Option<String>,

    /// The environment whose image map (.lab/images.yaml) applies (default: this
    /// folder if it holds one, else the default environment).
    #[arg(long, env = "LAB_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Use image TO instead of FROM (repeatable; wins over LAB_IMAGE_MAP and .lab/images.yaml).
    #[arg(long = "image", value_name = "FROM=TO")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The labs to grade (number, slug or id; default: all).
    pub labs: Vec<String>,

    /// The roster: trainees and how to reach each environment (YAML; see the README).
    #[arg(long, value_name = "FILE", required_unless_present = "bundles")]
    pub roster: Option<PathBuf>,

    /// Grade the signed submissions (`*.json` from `lab submit`) in this folder.
    #[arg(long, value_name = "DIR")]
    pub bundles: Option<PathBuf>,

    /// The course key that signed the submissions (else LAB_COURSE_KEY).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// The instructor's scores (YAML: trainee -> lab -> check or question -> points).
    #[arg(long, value_name = "FILE")]
    pub manual: Option<PathBuf>,

    /// Every check: status, points, expected, actual and hint.
    #[arg(long)]
    pub detail: bool,

    /// Every question with the model answer beside each trainee's answer.
    #[arg(long)]
    pub answers: bool,

    /// Write the gradebook here (atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// How many environments are graded at once. Grading waits on the network, not
    /// the CPU: 32 at once cost 16 MB (see the README's Performance).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// The longest one environment may take; checks still running then are errors.
    #[arg(long, default_value = "60s", value_parser = duration_arg)]
    pub deadline: std::time::Duration,

    /// The longest one probe may take (a check's own timeout when shorter).
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub probe_timeout: std::time::Duration,

    /// How long a Docker engine has to answer its first ping.
    #[arg(long, default_value = "3s", value_parser = duration_arg)]
    pub connect_timeout: std::time::Duration,

    /// Grade again and again and keep a live table (trainee x lab, the exercise each
    /// is on, time since their last progress, who is stuck); Ctrl-C ends it and writes
    /// the last gradebook to --output when given.
    #[arg(long)]
    pub watch: bool,

    /// How often a watch grades, from the start of one round to the next (default 15s).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub every: Option<std::time::Duration>,

    /// A trainee on an exercise without progress this long is marked stuck (default 15m).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub stuck_after: Option<std::time::Duration>,

    /// Watch, and serve /metrics (Prometheus), the live page (/), each trainee's page
    /// (/trainee/NAME) and /healthz on ADDR: PORT (on loopback) or HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,

    /// Require the token held by this environment variable on every page (as
    /// `Authorization: Bearer TOKEN` or `?token=TOKEN`); needed to listen beyond loopback.
    #[arg(long, value_name = "VAR", requires = "serve")]
    pub serve_token_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The trainees, as the roster spells their names.
    #[arg(required = true)]
    pub trainees: Vec<String>,

    /// The course key (else LAB_COURSE_KEY).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// The folder to write NAME.key into, one per trainee.
    #[arg(long, short, value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The labs to submit (number, slug or id; default: all).
    pub labs: Vec<String>,

    /// Your name, as your instructor's roster spells it.
    #[arg(long, env = "LAB_TRAINEE", value_name = "NAME")]
    pub trainee: String,

    /// The key your instructor handed out: yours (`lab key`) or the course key
    /// (else LAB_COURSE_KEY).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Where to write the submission (default: lab-submission-NAME.json here).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub target: TargetArgs,
}

/// A duration flag: `500ms`, `10s`, `2m`.
fn duration_arg(s: &str) -> Result<std::time::Duration, String> {
    match crate::model::parse_duration(s) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("`{s}` is not a duration such as 500ms, 10s or 2m")),
    }
}

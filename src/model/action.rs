//! Steps: what `lab start`, `lab solve` and cleanup do to an environment.
//! This module only describes them; carrying them out belongs to the environments work.

use super::duration::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One step of a lab's setup, solution or cleanup, tagged by `action`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// `docker compose up -d`, then wait until every service is running (and healthy
    /// where it has a healthcheck).
    ComposeUp {
        #[serde(default)]
        services: Vec<String>,
        #[serde(default)]
        timeout: Option<Dur>,
    },
    /// `docker compose down`; volumes are kept unless `volumes: true`.
    ComposeDown {
        #[serde(default)]
        volumes: bool,
    },
    /// Uncomment the commented-out block that starts with `marker` (e.g. `prometheus:`);
    /// in a file without that block, add the service from the snippet `otherwise_add`
    /// (the course: "uncomment (or add and then uncomment)").
    UncommentBlock {
        file: String,
        marker: String,
        #[serde(default)]
        otherwise_add: Option<String>,
    },
    /// Set an environment variable on the named services (empty: every service that has it).
    SetEnv {
        file: String,
        #[serde(default)]
        services: Vec<String>,
        name: String,
        value: String,
    },
    /// Add a service from a snippet file of the lab.
    AddService {
        file: String,
        name: String,
        snippet: String,
    },
    /// Declare a top-level volume.
    AddVolume { file: String, name: String },
    /// Copy one of the lab's asset files into the environment.
    WriteAsset { asset: String, to: String },
    /// Add an image to Anchore (anchorectl when installed, else the v2 API).
    AddImage {
        image: String,
        #[serde(default)]
        wait: bool,
        #[serde(default)]
        timeout: Option<Dur>,
    },
    /// Wait until an image's analysis ends.
    WaitAnalysis {
        image: String,
        #[serde(default)]
        timeout: Option<Dur>,
    },
    /// Create a Grafana data source.
    GrafanaDatasource {
        name: String,
        #[serde(rename = "type")]
        ds_type: String,
        url: String,
    },
    /// Import a dashboard (an asset of the lab), binding its inputs to a data source.
    GrafanaImport {
        dashboard: String,
        #[serde(default)]
        datasource: Option<String>,
    },
    /// Wait until a check of this lab passes.
    WaitCheck {
        check: String,
        #[serde(default)]
        timeout: Option<Dur>,
    },
    /// Run a program (no shell unless `shell: true`).
    Run {
        argv: Vec<String>,
        #[serde(default)]
        shell: bool,
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    /// Record an answer to a question (solutions use it): a fixed `value`, or one
    /// `measured` on the environment as a trainee would read it.
    Answer {
        question: String,
        #[serde(default)]
        value: Option<String>,
        #[serde(default)]
        measured: Option<Measured>,
        /// How a measured answer is written, as a person might (`lab smoke` proves
        /// each form is accepted): default as `lab` measures it.
        #[serde(default)]
        written: Written,
    },
    /// Replace a piece of text in one of the environment's files (wrong solutions use
    /// it to make one mistake); the rest of the file is kept byte for byte.
    ReplaceText {
        file: String,
        find: String,
        with: String,
        /// Every occurrence, not only the first.
        #[serde(default)]
        all: bool,
    },
    /// Bring the environment to the end of an earlier lab: that lab's setup, then its
    /// solution (a later lab's setup starts where the earlier labs leave off).
    CompleteLab { lab: u32 },
}

/// How a measured answer is written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    /// `Thread-55181`, `79.123s`.
    #[default]
    AsMeasured,
    /// `55181`, `79.123`.
    Bare,
    /// `[Thread-55181]`, `1:19.123`.
    Clock,
    /// `[Thread-55181]`, `PT1M19.123S`.
    Iso8601,
}

impl Written {
    /// A measured thread written this way.
    pub fn thread(self, thread: &str) -> String {
        let number = thread.rsplit('-').next().unwrap_or(thread);
        match self {
            Written::AsMeasured => thread.to_string(),
            Written::Bare => number.to_string(),
            Written::Clock | Written::Iso8601 => format!("[{thread}]"),
        }
    }

    /// A measured number of seconds written this way.
    pub fn seconds(self, secs: f64) -> String {
        let whole = secs.trunc() as u64;
        let (m, s) = (whole / 60, secs - (whole / 60 * 60) as f64);
        match self {
            Written::AsMeasured => format!("{secs:.3}s"),
            Written::Bare => format!("{secs:.3}"),
            Written::Clock => format!("{m}:{s:06.3}"),
            Written::Iso8601 => format!("PT{m}M{s:.3}S"),
        }
    }
}

/// An answer read off the environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Measured {
    /// The seconds between an image's `dequeued` and `analysis complete` log lines.
    AnalysisDuration { service: String, image: String },
    /// The thread that analysed an image (`Thread-55181`).
    AnalysisThread { service: String, image: String },
    /// The first value of an instant query.
    Prometheus(String),
    /// A field of the newest event of the event log with this level and type prefix (what
    /// `anchorectl event list --level ERROR` shows first).
    AnchoreEvent {
        field: crate::model::check::EventField,
        #[serde(default)]
        level: Option<String>,
        #[serde(default)]
        event_type: Option<String>,
    },
    /// The `label` of the series an instant query gives the highest value.
    PrometheusTop { query: String, label: String },
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::ComposeUp { .. } => "compose_up",
            Step::ComposeDown { .. } => "compose_down",
            Step::UncommentBlock { .. } => "uncomment_block",
            Step::SetEnv { .. } => "set_env",
            Step::AddService { .. } => "add_service",
            Step::AddVolume { .. } => "add_volume",
            Step::WriteAsset { .. } => "write_asset",
            Step::AddImage { .. } => "add_image",
            Step::WaitAnalysis { .. } => "wait_analysis",
            Step::GrafanaDatasource { .. } => "grafana_datasource",
            Step::GrafanaImport { .. } => "grafana_import",
            Step::WaitCheck { .. } => "wait_check",
            Step::Run { .. } => "run",
            Step::Answer { .. } => "answer",
            Step::ReplaceText { .. } => "replace_text",
            Step::CompleteLab { .. } => "complete_lab",
        }
    }

    /// Lab files (relative to the lab's folder) that this step reads.
    pub fn assets(&self) -> Vec<&str> {
        match self {
            Step::AddService { snippet, .. } => vec![snippet],
            Step::UncommentBlock {
                otherwise_add: Some(snippet),
                ..
            } => vec![snippet],
            Step::WriteAsset { asset, .. } => vec![asset],
            Step::GrafanaImport { dashboard, .. } => vec![dashboard],
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Written;
    use crate::probe::answer::{parse_number, same_thread};

    #[test]
    fn every_written_form_reads_back_as_the_measured_value() {
        for w in [
            Written::AsMeasured,
            Written::Bare,
            Written::Clock,
            Written::Iso8601,
        ] {
            let t = w.thread("Thread-55181");
            assert!(same_thread(&t, "Thread-55181"), "{w:?}: {t}");
            for secs in [79.123, 5.0, 3601.5] {
                let d = w.seconds(secs);
                let back = parse_number(&d).unwrap_or(f64::NAN);
                assert!((back - secs).abs() < 0.001, "{w:?}: {d} read as {back}");
            }
        }
        assert_eq!(Written::Clock.seconds(79.123), "1:19.123");
        assert_eq!(Written::Iso8601.seconds(79.123), "PT1M19.123S");
        assert_eq!(Written::Bare.thread("Thread-55181"), "55181");
    }
}

//! One image analysis as an analyzer's logs tell it: plain data, no I/O.
//! `analyzer_log` builds these from log lines; `lab trace`, `lab check` and the
//! reports read them.

use serde::Serialize;

/// What a log line says about an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Dequeued,
    Performing,
    Analyzing,
    Pulling,
    AnalysisDone,
    Complete,
    Failed,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Complete,
    Failed,
    /// Dequeued but neither complete nor failed in these lines.
    #[default]
    Unfinished,
}

/// One image's analysis.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Analysis {
    /// Where the lines came from: a container, a file, or `bundle.tar.gz:logs/analyzer.log`.
    pub source: String,
    /// Which analyzer within the source wrote it, when lines carry a prefix such as
    /// `docker compose logs`'s `analyzer-1  |`; empty otherwise.
    pub analyzer: String,
    pub thread: String,
    pub digest: Option<String>,
    /// `docker.io/library/postgres@sha256:…`
    pub pull_string: Option<String>,
    /// `docker.io/library/postgres:latest`
    pub tag: Option<String>,
    /// The lines of the analysis, first to last.
    pub events: Vec<Event>,
    /// The dequeue line's timestamp as written; `None` when the logs start after it.
    pub dequeued_at: Option<String>,
    /// Seconds since the epoch at dequeue.
    #[serde(skip)]
    pub started: Option<f64>,
    /// Seconds since the epoch of the last line (completion or failure when finished).
    #[serde(skip)]
    pub ended: Option<f64>,
    /// Seconds from dequeue to completion or failure; `None` while it runs or
    /// when the dequeue is not in the logs.
    pub duration: Option<f64>,
    pub outcome: Outcome,
    /// The failure's message (`problem analyzing image - exception: …`).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub step: Step,
    pub stamp: String,
    #[serde(skip)]
    pub time: f64,
    pub message: String,
}

impl Analysis {
    /// The analyzer as a person would name it: the source, and the prefix when there is one.
    pub fn analyzer_name(&self) -> String {
        if self.analyzer.is_empty() {
            self.source.clone()
        } else {
            format!("{} {}", self.source, self.analyzer)
        }
    }

    /// The image as best known: tag, else pull string, else digest.
    pub fn image(&self) -> &str {
        self.tag
            .as_deref()
            .or(self.pull_string.as_deref())
            .or(self.digest.as_deref())
            .unwrap_or("?")
    }
}

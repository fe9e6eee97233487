//! A lab: its identity, prerequisites, steps, exercises and questions.

use super::action::Step;
use super::check::Check;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub number: u32,
    pub slug: String,
    pub title: String,
    pub summary: String,
    /// The instructions, a Markdown file beside `lab.yaml` (default `README.md`).
    #[serde(default = "readme")]
    pub instructions: String,
    #[serde(default)]
    pub prerequisites: Prerequisites,
    #[serde(default)]
    pub setup: Vec<Step>,
    #[serde(default)]
    pub solve: Vec<Step>,
    #[serde(default)]
    pub cleanup: Vec<Step>,
    pub exercises: Vec<Exercise>,
}

fn readme() -> String {
    "README.md".into()
}

/// What must hold on the machine before the lab can start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prerequisites {
    /// Images the lab pulls (mapped through the image map when one is set).
    #[serde(default)]
    pub images: Vec<String>,
    /// Host ports the lab publishes.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Memory the stack needs, in MiB.
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// Free disk the stack needs, in MiB.
    #[serde(default)]
    pub disk_mib: Option<u64>,
    /// Programs that must be on PATH.
    #[serde(default)]
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub hints: Vec<String>,
    #[serde(default)]
    pub questions: Vec<Question>,
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// A question the trainee answers with `lab answer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub prompt: String,
    #[serde(default)]
    pub answer_type: AnswerType,
    /// The model answer the instructor sees beside the trainee's.
    #[serde(default)]
    pub model_answer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerType {
    Duration,
    Number,
    #[default]
    Text,
}

impl Lab {
    /// `02-prometheus`: the folder name and the id used in reports.
    pub fn id(&self) -> String {
        format!("{:02}-{}", self.number, self.slug)
    }

    pub fn checks(&self) -> impl Iterator<Item = (&Exercise, &Check)> {
        self.exercises
            .iter()
            .flat_map(|e| e.checks.iter().map(move |c| (e, c)))
    }

    pub fn questions(&self) -> impl Iterator<Item = &Question> {
        self.exercises.iter().flat_map(|e| e.questions.iter())
    }

    pub fn possible_points(&self) -> i64 {
        self.checks().map(|(_, c)| c.points).sum()
    }
}

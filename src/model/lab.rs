//! A lab: its identity, prerequisites, steps, exercises and questions.

use super::action::Step;
use super::check::Check;
use serde::Deserialize;

/// The most points one check may be worth.
pub const MAX_CHECK_POINTS: i64 = 10_000;

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
    /// Other ways to do the lab, each with the checks it must fail: deliberate
    /// mistakes (`lab smoke` proves each is caught by the check that names it) and
    /// correct alternatives (`fails: []`).
    #[serde(default)]
    pub variants: Vec<Variant>,
}

/// A way of doing the lab other than the model solution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub id: String,
    /// The mistake (or the alternative) in words.
    pub description: String,
    /// Steps run instead of the solution.
    #[serde(default)]
    pub instead: Option<Vec<Step>>,
    /// Steps run after the solution.
    #[serde(default)]
    pub after: Option<Vec<Step>>,
    /// The checks that must fail; every other check must pass, wait for grading, or
    /// be skipped because one of these failed. Empty: a correct alternative.
    #[serde(default)]
    pub fails: Vec<String>,
}

impl Variant {
    /// The steps that follow the lab's setup.
    pub fn steps<'a>(&'a self, lab: &'a Lab) -> Vec<&'a Step> {
        match (&self.instead, &self.after) {
            (Some(steps), _) => steps.iter().collect(),
            (None, Some(after)) => lab.solve.iter().chain(after).collect(),
            (None, None) => lab.solve.iter().collect(),
        }
    }
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

    /// The lab's points; checked arithmetic (validation keeps each check at most
    /// [`MAX_CHECK_POINTS`], so only an unvalidated lab can reach the cap).
    pub fn possible_points(&self) -> i64 {
        self.checks()
            .try_fold(0i64, |sum, (_, c)| sum.checked_add(c.points))
            .unwrap_or(i64::MAX)
    }
}

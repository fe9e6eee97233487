//! `lab answer N QUESTION VALUE`: records a trainee's answer in the environment
//! (`.lab/answers.json`), checked against the question's type; `lab check` reads it.

use crate::cli::AnswerArgs;
use crate::env;
use crate::error::{exit, Error, Result};
use crate::loader::{self, Loaded};
use crate::model::AnswerType;
use crate::report::Ui;

pub fn run(labs: &Loaded, args: AnswerArgs, ui: &Ui) -> Result<i32> {
    let lab = loader::find(&labs.labs, &args.lab)?;
    let Some(q) = lab.lab.questions().find(|q| q.id == args.question) else {
        let ids: Vec<&str> = lab.lab.questions().map(|q| q.id.as_str()).collect();
        let hint = crate::error::nearest(&args.question, ids.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(Error::Usage(format!(
            "lab {} has no question `{}`{hint}; its questions: {}",
            lab.lab.id(),
            args.question,
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        )));
    };
    let value = args.value.join(" ");
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::Usage("the answer is empty".into()));
    }
    match q.answer_type {
        AnswerType::Duration if crate::probe::answer::parse_number(value).is_none() => {
            return Err(Error::Usage(format!(
                "`{value}` is not a duration: write it as 79s, 1m19s or 79"
            )));
        }
        AnswerType::Number
            if value
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .is_none() =>
        {
            return Err(Error::Usage(format!("`{value}` is not a number")));
        }
        _ => {}
    }
    let env = super::prelude::require(&args.target)?;
    let previous = env::update_answers(&env.dir, |answers| {
        answers.insert(q.id.clone(), value.to_string())
    })?;
    let verb = if previous.is_some() {
        "Replaced"
    } else {
        "Recorded"
    };
    ui.status(
        verb,
        &format!("answer to `{}` in lab {}: {value}", q.id, lab.lab.id()),
    );
    Ok(exit::OK)
}

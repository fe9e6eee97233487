//! `lab show N`: a lab's instructions rendered for the terminal, then its exercises,
//! checks with their points, and questions.

use crate::error::{exit, Result};
use crate::loader::{self, Loaded};
use crate::report::{course, Ui};

pub fn run(labs: &Loaded, query: &str, ui: &Ui) -> Result<i32> {
    let l = loader::find(&labs.labs, query)?;
    ui.out(&course::page(l, course::width(), ui));
    Ok(exit::OK)
}

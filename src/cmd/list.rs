//! `lab list`: the labs, one line each.

use crate::error::{exit, Result};
use crate::loader::Loaded;
use crate::report::{course, Ui};

pub fn run(labs: &Loaded, ui: &Ui) -> Result<i32> {
    let rows: Vec<course::Row> = labs.labs.iter().map(course::Row::of).collect();
    ui.out(&course::list(&rows, ui));
    Ok(exit::OK)
}

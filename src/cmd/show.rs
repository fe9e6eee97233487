//! PLACEHOLDER
use crate::error::Result;
use crate::loader::Loaded;
use crate::report::Ui;
pub fn run(_labs: &Loaded, _lab: &str, _ui: &Ui) -> Result<i32> {
    Ok(0)
}

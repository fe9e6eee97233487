//! PLACEHOLDER (helper B replaces this file).
use crate::cli::DoctorArgs;
use crate::error::Result;
use crate::loader::Loaded;
use crate::report::Ui;
pub async fn run(_labs: &Loaded, _args: DoctorArgs, _ui: &Ui) -> Result<i32> {
    Ok(0)
}

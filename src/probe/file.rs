//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::FileCheck;
pub async fn probe(_c: &FileCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

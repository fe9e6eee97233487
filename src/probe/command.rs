//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::CommandCheck;
pub async fn probe(_c: &CommandCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

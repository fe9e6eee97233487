//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::AnswerCheck;
pub async fn probe(_c: &AnswerCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

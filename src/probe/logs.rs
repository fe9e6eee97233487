//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::LogsCheck;
pub async fn probe(_c: &LogsCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

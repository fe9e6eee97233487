//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::ComposeCheck;
pub async fn probe(_c: &ComposeCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

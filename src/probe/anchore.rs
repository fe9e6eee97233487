//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::AnchoreImageCheck;
pub async fn image(_c: &AnchoreImageCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::ContainerCheck;
pub async fn probe(_c: &ContainerCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

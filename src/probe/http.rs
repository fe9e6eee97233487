//! PLACEHOLDER (replaced before the first commit that lands).
use super::{Ctx, ProbeResult};
use crate::model::check::HttpCheck;
pub async fn probe(_c: &HttpCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

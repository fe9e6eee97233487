//! PLACEHOLDER (helper A replaces this file).
use super::{Ctx, ProbeResult};
use crate::model::check::{GrafanaDashboardCheck, GrafanaDatasourceCheck};
pub async fn datasource(_c: &GrafanaDatasourceCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}
pub async fn dashboard(_c: &GrafanaDashboardCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

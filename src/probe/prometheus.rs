//! PLACEHOLDER (helper A replaces this file).
use super::{Ctx, ProbeResult};
use crate::model::check::{PrometheusQueryCheck, PrometheusTargetsCheck};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison;
impl Comparison {
    pub fn parse(_s: &str) -> Option<Comparison> {
        Some(Comparison)
    }
}
pub async fn query(_c: &PrometheusQueryCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}
pub async fn targets(_c: &PrometheusTargetsCheck, _ctx: &Ctx) -> ProbeResult {
    Err("placeholder".into())
}

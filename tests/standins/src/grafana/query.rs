//! `POST /api/ds/query`: resolves each query's data source, computes step and built-in variables as Grafana's Prometheus backend does, runs the queries and assembles the results.

use serde_json::{json, Map, Value};

use super::datasources::DataSource;
use super::durations::{self, MS, SEC};
use super::frames::{DataResponse, QueryInfo};
use super::prometheus::{self, Target};
use super::store::State;
use super::timerange;
use super::ApiError;

/// Grafana's safe resolution: at most this many points per range query.
const SAFE_RESOLUTION: i64 = 11_000;

/// A query ready to send: the interpolated PromQL and its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub ref_id: String,
    pub expr: String,
    pub step_ns: i64,
    pub legend_format: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub instant: bool,
    pub range: bool,
    pub utc_offset_sec: i64,
}

fn is_rate_interval(s: &str) -> bool {
    s == "$__rate_interval" || s == "${__rate_interval}"
}

fn is_interval(s: &str) -> bool {
    s == "$__interval" || s == "${__interval}"
}

fn is_variable_interval(s: &str) -> bool {
    is_rate_interval(s)
        || is_interval(s)
        || matches!(
            s,
            "$__interval_ms" | "${__interval_ms}" | "$__rate_interval_ms" | "${__rate_interval_ms}"
        )
}

/// `calculateRateInterval`: max(interval + scrape, 4 × scrape), scrape defaulting to 15s.
fn rate_interval(query_interval_ns: i64, min_step: &str) -> i64 {
    let scrape = if min_step.is_empty() { "15s" } else { min_step };
    match durations::parse_interval_string(scrape) {
        Some(s) => query_interval_ns.saturating_add(s).max(s.saturating_mul(4)),
        None => 0,
    }
}

fn str_field<'a>(q: &'a Value, key: &str) -> &'a str {
    q.get(key).and_then(Value::as_str).unwrap_or("")
}

fn int_field(q: &Value, key: &str, default: i64) -> i64 {
    match q.get(key) {
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .unwrap_or(default),
        None => default,
    }
}

/// Builds the plan for one query model against a data source whose scrape interval
/// (`jsonData.timeInterval`) is `ds_interval`, over `[from_ms, to_ms]`.
pub fn plan(q: &Value, ds_interval: &str, from_ms: i64, to_ms: i64) -> Result<Plan, String> {
    let expr = str_field(q, "expr");
    let model_interval = str_field(q, "interval");
    let interval_ms = int_field(q, "intervalMs", 1000);
    let interval_factor = int_field(q, "intervalFactor", 0);
    let max_points = int_field(q, "maxDataPoints", 100);
    // Saturating arithmetic throughout: every number here comes from the request.
    let range_ns = to_ms.saturating_sub(from_ms).saturating_mul(MS);

    // calculatePrometheusInterval
    let mut query_interval = if is_variable_interval(model_interval) {
        ""
    } else {
        model_interval
    };
    if query_interval == "0s" {
        query_interval = "";
    }
    let min_interval = if query_interval.is_empty() && interval_ms != 0 {
        interval_ms.saturating_mul(MS)
    } else if query_interval.is_empty() && !ds_interval.is_empty() {
        durations::parse_interval_string(ds_interval)
            .ok_or_else(|| format!("invalid interval {ds_interval:?}"))?
    } else if query_interval.is_empty() {
        15 * SEC
    } else {
        durations::parse_interval_string(query_interval)
            .ok_or_else(|| format!("invalid interval {query_interval:?}"))?
    };
    let resolution = if max_points == 0 { 1500 } else { max_points };
    let raw = range_ns / resolution.max(1);
    let calculated = if raw < min_interval {
        min_interval
    } else {
        durations::round_interval(raw)
    };
    let safe = durations::round_interval(range_ns / SAFE_RESOLUTION);
    let adjusted = calculated.max(safe);
    let step = if is_rate_interval(model_interval) {
        rate_interval(adjusted, ds_interval)
    } else {
        adjusted.saturating_mul(if interval_factor == 0 {
            1
        } else {
            interval_factor
        })
    };
    if step <= 0 {
        return Err("step must be positive".into());
    }

    // interpolateVariables
    let rate = if is_rate_interval(model_interval) {
        step
    } else {
        let mut min_step = model_interval.to_string();
        if is_interval(&min_step) {
            min_step = durations::go_string(step);
        }
        if min_step.is_empty() {
            min_step = ds_interval.to_string();
        }
        rate_interval(interval_ms.saturating_mul(MS), &min_step)
    };
    let range_ms = to_ms.saturating_sub(from_ms);
    let range_s = (range_ms as f64 / 1000.0).round() as i64;
    let mut e = expr.to_string();
    for (alt, (var, value)) in [false, true].into_iter().flat_map(|alt| {
        [
            ("__interval_ms", (step / MS).to_string()),
            ("__interval", durations::format_interval(step)),
            ("__range_ms", range_ms.to_string()),
            ("__range_s", range_s.to_string()),
            ("__range", format!("{range_s}s")),
            ("__rate_interval_ms", (rate / MS).to_string()),
            ("__rate_interval", durations::go_string(rate)),
        ]
        .into_iter()
        .map(move |v| (alt, v))
    }) {
        let pattern = if alt {
            format!("${{{var}}}")
        } else {
            format!("${var}")
        };
        e = e.replace(&pattern, &value);
    }

    let instant = q.get("instant").and_then(Value::as_bool).unwrap_or(false);
    let mut range = q.get("range").and_then(Value::as_bool).unwrap_or(false);
    if !instant && !range {
        // Older dashboards set neither; Grafana runs them as range queries.
        range = true;
    }
    Ok(Plan {
        ref_id: q
            .get("refId")
            .and_then(Value::as_str)
            .unwrap_or("A")
            .to_string(),
        expr: e,
        step_ns: step,
        legend_format: str_field(q, "legendFormat").to_string(),
        start_ms: from_ms,
        end_ms: to_ms,
        instant,
        range,
        utc_offset_sec: int_field(q, "utcOffsetSec", 0),
    })
}

/// Grafana's `AlignTimeRange`: rounds down to a multiple of the step (shifted by the UTC offset).
pub fn align(t_ms: i64, step_ns: i64, offset_sec: i64) -> i64 {
    let t_ns = t_ms as i128 * MS as i128;
    let off = offset_sec as i128 * SEC as i128;
    let step = step_ns as i128;
    (((t_ns + off).div_euclid(step)) * step - off).div_euclid(MS as i128) as i64
}

/// The parsed request: each query with its data source, and the time range.
#[derive(Debug)]
pub struct Request {
    pub queries: Vec<(Value, DataSource)>,
    pub from_ms: i64,
    pub to_ms: i64,
}

fn time_value(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Binds the body and finds every query's data source; one unknown data source fails the
/// whole request with 404, as in Grafana.
pub fn parse(body: &[u8], state: &State, now_ms: i64) -> Result<Request, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::bad_request_data())?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request_data());
    };
    let queries = match obj.get("queries") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::bad_request_data()),
    };
    if queries.is_empty() {
        return Err(ApiError::coded(400, "query.noQueries", "No queries found"));
    }
    let (from_ms, to_ms) = timerange::resolve_range(
        &time_value(obj.get("from")),
        &time_value(obj.get("to")),
        now_ms,
    );
    let mut out = Vec::new();
    for q in queries {
        if !q.is_object() {
            return Err(ApiError::bad_request_data());
        }
        let uid = match &q["datasource"] {
            Value::Object(m) => m.get("uid").and_then(Value::as_str).unwrap_or(""),
            // Before Grafana 8.3 the data source could be a bare string.
            Value::String(s) => s.as_str(),
            _ => "",
        }
        .to_string();
        if uid == "__expr__" || uid == "-100" || uid == "grafana" {
            return Err(ApiError::message(
                400,
                format!("data source {uid:?} is not supported by the Grafana stand-in"),
            ));
        }
        let ds = if !uid.is_empty() {
            state.datasources.iter().find(|d| d.uid == uid)
        } else {
            match q["datasourceId"].as_i64().filter(|id| *id > 0) {
                Some(id) => state.datasources.iter().find(|d| d.id == id),
                None => {
                    return Err(ApiError::coded(
                        400,
                        "query.invalidDatasourceId",
                        "Query does not contain a valid data source identifier",
                    ))
                }
            }
        };
        let Some(ds) = ds else {
            return Err(ApiError::message(404, "Data source not found"));
        };
        out.push((q, ds.clone()));
    }
    Ok(Request {
        queries: out,
        from_ms,
        to_ms,
    })
}

/// Runs one query against its data source.
pub async fn run_one(
    client: &reqwest::Client,
    q: &Value,
    ds: &DataSource,
    from_ms: i64,
    to_ms: i64,
    dataplane: bool,
) -> (String, DataResponse) {
    let ref_id = q
        .get("refId")
        .and_then(Value::as_str)
        .unwrap_or("A")
        .to_string();
    if ds.ds_type != "prometheus" {
        return (
            ref_id,
            DataResponse::failed(
                500,
                format!(
                    "data source type {:?} is not supported by the Grafana stand-in",
                    ds.ds_type
                ),
            ),
        );
    }
    let ds_interval = ds.json_data["timeInterval"].as_str().unwrap_or("");
    let p = match plan(q, ds_interval, from_ms, to_ms) {
        Ok(p) => p,
        Err(e) => return (ref_id, DataResponse::failed(400, e)),
    };
    let info = QueryInfo {
        ref_id: p.ref_id.clone(),
        expr: p.expr.clone(),
        step_ns: p.step_ns,
        legend_format: p.legend_format.clone(),
        dataplane,
    };
    let target = Target::for_datasource(ds);
    let mut out = DataResponse {
        status: 200,
        ..DataResponse::default()
    };
    // Grafana runs the instant query first, then the range query, and joins the two.
    if p.instant {
        out.merge(prometheus::instant(client, &target, &info, p.end_ms).await);
    }
    if p.range {
        let start = align(p.start_ms, p.step_ns, p.utc_offset_sec);
        let end = align(p.end_ms, p.step_ns, p.utc_offset_sec);
        out.merge(prometheus::range(client, &target, &info, start, end).await);
    }
    if out.error.is_none() {
        out.status = 200;
    }
    (p.ref_id, out)
}

/// Runs all queries in order; the HTTP status is 400 when any query failed.
pub async fn run(client: &reqwest::Client, req: Request, dataplane: bool) -> (u16, Value) {
    let mut results = Map::new();
    let mut failed = false;
    for (q, ds) in &req.queries {
        let (ref_id, resp) = run_one(client, q, ds, req.from_ms, req.to_ms, dataplane).await;
        failed |= resp.error.is_some();
        results.insert(ref_id, resp.to_json());
    }
    (
        if failed { 400 } else { 200 },
        json!({ "results": results }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;
    const TO: i64 = 1_723_985_953_476;

    fn q(v: Value) -> Value {
        let mut base = json!({
            "refId": "A", "expr": "", "range": true, "instant": false,
            "intervalMs": 15000, "maxDataPoints": 500,
        });
        for (k, x) in v.as_object().unwrap() {
            base[k] = x.clone();
        }
        base
    }

    #[test]
    fn rate_interval_is_four_scrape_intervals_in_gos_format() {
        let p = plan(
            &q(json!({"expr": "sum(rate(flask_http_request_total{job=\"api\"}[$__rate_interval]))"})),
            "",
            TO - HOUR_MS,
            TO,
        )
        .unwrap();
        assert_eq!(
            p.expr,
            "sum(rate(flask_http_request_total{job=\"api\"}[1m0s]))"
        );
        assert_eq!(p.step_ns, 15 * SEC);
        assert!(p.range && !p.instant);
    }

    #[test]
    fn interval_and_range_variables() {
        let p = plan(
            &q(json!({"expr": "a[$__interval] b[$__range] c[${__range_s}] d[$__interval_ms] e[${__rate_interval_ms}]"})),
            "",
            TO - HOUR_MS,
            TO,
        )
        .unwrap();
        assert_eq!(p.expr, "a[15s] b[3600s] c[3600] d[15000] e[60000]");
        // A day with 500 points: 172.8 s rounds to 2m.
        let p = plan(
            &q(json!({"expr": "x[$__interval]"})),
            "",
            TO - 24 * HOUR_MS,
            TO,
        )
        .unwrap();
        assert_eq!(p.expr, "x[2m]");
        assert_eq!(p.step_ns, 120 * SEC);
        // A scrape interval configured on the data source feeds $__rate_interval.
        let p = plan(
            &q(json!({"expr": "[$__rate_interval]"})),
            "30s",
            TO - HOUR_MS,
            TO,
        )
        .unwrap();
        assert_eq!(p.expr, "[2m0s]");
    }

    #[test]
    fn step_follows_min_interval_and_factor() {
        // A min interval on the query beats intervalMs, which beats the data source's.
        let p = plan(&q(json!({"interval": "1m"})), "30s", TO - HOUR_MS, TO).unwrap();
        assert_eq!(p.step_ns, 60 * SEC);
        let p = plan(&q(json!({})), "30s", TO - HOUR_MS, TO).unwrap();
        assert_eq!(p.step_ns, 15 * SEC);
        let p = plan(&q(json!({"intervalMs": 0})), "30s", TO - HOUR_MS, TO).unwrap();
        assert_eq!(p.step_ns, 30 * SEC);
        let p = plan(&q(json!({"intervalFactor": 2})), "", TO - HOUR_MS, TO).unwrap();
        assert_eq!(p.step_ns, 30 * SEC);
        let p = plan(
            &q(json!({"interval": "$__rate_interval"})),
            "",
            TO - HOUR_MS,
            TO,
        )
        .unwrap();
        assert_eq!(p.step_ns, 60 * SEC);
        assert!(plan(
            &q(json!({"interval": "bogus", "intervalMs": 0})),
            "",
            0,
            HOUR_MS
        )
        .is_err());
        // Absurd numbers are answered, not a panic.
        let huge = q(
            json!({"intervalMs": i64::MAX, "intervalFactor": i64::MAX, "maxDataPoints": -5,
            "expr": "x[$__rate_interval]"}),
        );
        assert!(plan(&huge, "99999999y", i64::MIN, i64::MAX).is_ok());
        // A reversed range still gets Grafana's smallest safe step; Prometheus rejects it.
        let reversed = plan(&q(json!({"intervalMs": -1})), "", TO, TO - HOUR_MS).unwrap();
        assert_eq!(reversed.step_ns, MS);
        let neither = plan(&json!({"expr": "up"}), "", TO - HOUR_MS, TO).unwrap();
        assert!(neither.range && !neither.instant);
        assert_eq!(neither.ref_id, "A");
    }

    #[test]
    fn alignment_rounds_down_to_the_step() {
        assert_eq!(align(TO, 15 * SEC, 0), 1_723_985_940_000);
        assert_eq!(align(1_000, 15 * SEC, 0), 0);
        assert_eq!(align(-1, 15 * SEC, 0), -15_000);
        // With a +1h offset the grid is shifted by the offset.
        assert_eq!(align(TO, HOUR_MS * MS, 3600), 1_723_982_400_000);
    }

    #[test]
    fn parsing_finds_data_sources_or_fails_like_grafana() {
        let mut s = State::default();
        let ds = crate::grafana::datasources::add(
            &mut s,
            serde_json::from_value(
                json!({"name": "p", "type": "prometheus", "access": "proxy", "uid": "abc"}),
            )
            .unwrap(),
            false,
        )
        .unwrap();
        let body =
            |queries: Value| json!({"queries": queries, "from": "now-1h", "to": "now"}).to_string();
        let r = parse(
            body(json!([{"refId": "A", "datasource": {"uid": "abc"}}])).as_bytes(),
            &s,
            TO,
        )
        .unwrap();
        assert_eq!((r.from_ms, r.to_ms), (TO - HOUR_MS, TO));
        assert_eq!(r.queries[0].1.id, ds.id);
        let by_id = parse(body(json!([{"datasourceId": ds.id}])).as_bytes(), &s, TO).unwrap();
        assert_eq!(by_id.queries[0].1.uid, "abc");
        let e = parse(
            body(json!([{"datasource": {"uid": "${DS_PROMETHEUS}"}}])).as_bytes(),
            &s,
            TO,
        )
        .unwrap_err();
        assert_eq!(e, ApiError::message(404, "Data source not found"));
        let e = parse(body(json!([{"expr": "up"}])).as_bytes(), &s, TO).unwrap_err();
        assert_eq!(e.body["messageId"], "query.invalidDatasourceId");
        let e = parse(body(json!([])).as_bytes(), &s, TO).unwrap_err();
        assert_eq!(e.body["message"], "No queries found");
        assert_eq!(
            parse(b"nope", &s, TO).unwrap_err(),
            ApiError::bad_request_data()
        );
        let epoch =
            json!({"queries": [{"datasource": {"uid": "abc"}}], "from": "1000", "to": 2000})
                .to_string();
        let r = parse(epoch.as_bytes(), &s, TO).unwrap();
        assert_eq!((r.from_ms, r.to_ms), (1000, 2000));
    }
}

//! Conversion of Prometheus HTTP API answers into Grafana data frames, as Grafana's Prometheus backend (promlib) encodes them for `/api/ds/query`.
//!
//! One frame per series: a `Time` field (epoch milliseconds) and a `Value` field carrying
//! the series labels. The frame is named after the legend (`legendFormat`, else the
//! series' `metric{labels}`, else the expression) unless the `prometheusDataplane`
//! feature is on, which instead names the value field after `__name__`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::durations;

/// What the frames need to know about the query that produced them.
#[derive(Debug, Clone)]
pub struct QueryInfo {
    pub ref_id: String,
    pub expr: String,
    pub step_ns: i64,
    pub legend_format: String,
    pub dataplane: bool,
}

/// One query's part of the answer (`backend.DataResponse`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataResponse {
    pub status: u16,
    pub frames: Vec<Value>,
    pub error: Option<String>,
}

impl DataResponse {
    pub fn failed(status: u16, error: String) -> DataResponse {
        DataResponse {
            status,
            frames: Vec::new(),
            error: Some(error),
        }
    }

    /// Grafana's `addDataResponse`: errors are joined, frames appended.
    pub fn merge(&mut self, other: DataResponse) {
        if let Some(e) = other.error {
            self.error = Some(match self.error.take() {
                Some(prev) => format!("{prev} {e}"),
                None => e,
            });
            self.status = other.status;
        }
        self.frames.extend(other.frames);
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status));
        m.insert("frames".into(), Value::Array(self.frames.clone()));
        if let Some(e) = &self.error {
            m.insert("error".into(), json!(e));
            m.insert("errorSource".into(), json!("downstream"));
        }
        Value::Object(m)
    }
}

/// Parses a Prometheus answer (`{"status":"success","data":{…}}` or an error) into frames.
pub fn from_prometheus(body: &[u8], http_status: u16, q: &QueryInfo) -> DataResponse {
    let mut resp = match serde_json::from_slice::<Value>(body) {
        Ok(v) => read_result(&v, q),
        Err(e) => DataResponse::failed(http_status, format!("invalid Prometheus response: {e}")),
    };
    resp.status = http_status;
    // Grafana attaches the query metadata to an empty frame when there is no series.
    if resp.frames.is_empty() {
        resp.frames
            .push(frame(None, q, Vec::new(), Vec::new(), json!({}), &[]));
    }
    if let Some(first) = resp.frames.first_mut() {
        first["schema"]["meta"]["executedQueryString"] = json!(format!(
            "Expr: {}\nStep: {}",
            q.expr,
            durations::go_string(q.step_ns)
        ));
    }
    resp
}

fn read_result(v: &Value, q: &QueryInfo) -> DataResponse {
    if v["status"] == "error" {
        return DataResponse::failed(
            0,
            format!(
                "{}: {}",
                v["errorType"].as_str().unwrap_or(""),
                v["error"].as_str().unwrap_or("")
            ),
        );
    }
    let data = &v["data"];
    let result_type = data["resultType"].as_str().unwrap_or("");
    let mut out = DataResponse::default();
    match result_type {
        "matrix" | "vector" => {
            for series in data["result"].as_array().into_iter().flatten() {
                let labels = series["metric"].clone();
                let points: Vec<&Value> = if result_type == "matrix" {
                    series["values"].as_array().into_iter().flatten().collect()
                } else {
                    vec![&series["value"]]
                };
                let (times, values) = match points_of(&points) {
                    Ok(tv) => tv,
                    Err(e) => return DataResponse::failed(0, e),
                };
                out.frames
                    .push(series_frame(q, result_type, labels, times, values));
            }
        }
        "scalar" => match points_of(&[&data["result"]]) {
            Ok((t, v)) => {
                let mut f = series_frame(q, "scalar", json!({}), t, v);
                f["schema"]["meta"]["type"] = json!("numeric-multi");
                out.frames.push(f);
            }
            Err(e) => return DataResponse::failed(0, e),
        },
        "string" => {
            let pair = &data["result"];
            let t = time_ms(&pair[0]).unwrap_or(0);
            let meta = json!({"type": "timeseries-multi", "typeVersion": [0, 0], "custom": {"resultType": "string"}});
            let mut f = frame(None, q, vec![json!(t)], vec![pair[1].clone()], meta, &[]);
            f["schema"]["fields"][1]["type"] = json!("string");
            f["schema"]["fields"][1]["typeInfo"] = json!({"frame": "string"});
            out.frames.push(f);
        }
        other => {
            return DataResponse::failed(
                0,
                if other.is_empty() {
                    "no resultType found".into()
                } else {
                    format!("unknown result type: {other}")
                },
            )
        }
    }
    out
}

/// Timestamps (seconds, as floats) to milliseconds, and values (strings) to numbers.
fn points_of(points: &[&Value]) -> Result<(Vec<Value>, Vec<f64>), String> {
    let mut times = Vec::new();
    let mut values = Vec::new();
    for p in points {
        let t = time_ms(&p[0]).ok_or("expected a [time, value] pair")?;
        let v = parse_value(&p[1]).ok_or("expected a numeric sample value")?;
        times.push(json!(t));
        values.push(v);
    }
    Ok((times, values))
}

fn time_ms(v: &Value) -> Option<i64> {
    v.as_f64().map(|s| (s * 1000.0).round() as i64)
}

/// Prometheus sends sample values as strings, including `NaN`, `+Inf` and `-Inf`.
fn parse_value(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn series_frame(
    q: &QueryInfo,
    result_type: &str,
    labels: Value,
    times: Vec<Value>,
    values: Vec<f64>,
) -> Value {
    let labels = match labels {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    let mut meta = json!({
        "type": "timeseries-multi",
        "typeVersion": [0, 0],
        "custom": {"resultType": result_type},
    });
    if q.dataplane {
        meta["typeVersion"] = json!([0, 1]);
        if result_type == "vector" {
            meta["type"] = json!("numeric-multi");
        }
    }
    // NaN and infinities cannot be JSON numbers: the SDK writes null and lists them as entities.
    let mut entities: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let encoded: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let kind = if v.is_nan() {
                Some("NaN")
            } else if *v == f64::INFINITY {
                Some("Inf")
            } else if *v == f64::NEG_INFINITY {
                Some("NegInf")
            } else {
                None
            };
            match kind {
                Some(k) => {
                    entities.entry(k).or_default().push(i);
                    Value::Null
                }
                None => json!(v),
            }
        })
        .collect();
    let name = legend(q, &labels);
    let mut f = frame(
        Some(&labels),
        q,
        times,
        encoded,
        meta,
        &entities.into_iter().collect::<Vec<_>>(),
    );
    if !name.is_empty() {
        f["schema"]["fields"][1]["config"] = json!({"displayNameFromDS": name});
    }
    if q.dataplane {
        if let Some(n) = labels["__name__"].as_str() {
            f["schema"]["fields"][1]["name"] = json!(n);
        }
    } else if !name.is_empty() {
        f["schema"]["name"] = json!(name);
    }
    f
}

fn frame(
    labels: Option<&Value>,
    q: &QueryInfo,
    times: Vec<Value>,
    values: Vec<Value>,
    meta: Value,
    entities: &[(&str, Vec<usize>)],
) -> Value {
    let mut value_field = json!({
        "name": "Value",
        "type": "number",
        "typeInfo": {"frame": "float64"},
    });
    if let Some(l) = labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty())) {
        value_field["labels"] = l.clone();
    }
    let fields = if labels.is_none() && times.is_empty() {
        // The empty metadata frame has no fields.
        json!([])
    } else {
        json!([
            {
                "name": "Time",
                "type": "time",
                "typeInfo": {"frame": "time.Time"},
                "config": {"interval": q.step_ns / durations::MS},
            },
            value_field,
        ])
    };
    let data_values = if fields.as_array().is_some_and(|a| a.is_empty()) {
        json!([])
    } else {
        json!([times, values])
    };
    let mut data = json!({ "values": data_values });
    if !entities.is_empty() {
        let e: Map<String, Value> = entities
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        data["entities"] = json!([null, e]);
    }
    json!({
        "schema": {"refId": q.ref_id, "meta": meta, "fields": fields},
        "data": data,
    })
}

/// Grafana's `getName`: the legend format with `{{label}}` filled in, else `metric{a="b", …}`,
/// and the expression itself when that would be an empty `{}`.
pub fn legend(q: &QueryInfo, labels: &Value) -> String {
    let empty = Map::new();
    let map = labels.as_object().unwrap_or(&empty);
    let mut legend = metric_name(map);
    if q.legend_format == "__auto" {
        if !map.is_empty() {
            legend = String::new();
        }
    } else if !q.legend_format.is_empty() {
        legend = fill_legend(&q.legend_format, map);
    }
    if legend == "{}" {
        return q.expr.clone();
    }
    legend
}

fn metric_name(labels: &Map<String, Value>) -> String {
    let name = labels.get("__name__").and_then(Value::as_str);
    let mut pairs: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| {
            format!(
                "{k}={}",
                serde_json::to_string(v.as_str().unwrap_or("")).unwrap_or_default()
            )
        })
        .collect();
    if pairs.is_empty() {
        return name.map_or_else(|| "{}".to_string(), str::to_string);
    }
    pairs.sort();
    format!("{}{{{}}}", name.unwrap_or(""), pairs.join(", "))
}

/// Replaces `{{ label }}` with the label's value, or nothing when the series lacks it.
fn fill_legend(format: &str, labels: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = format;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        match after.find("}}") {
            Some(close) if !after[..close].trim().is_empty() => {
                out.push_str(&rest[..open]);
                let key = after[..close].trim();
                out.push_str(labels.get(key).and_then(Value::as_str).unwrap_or(""));
                rest = &after[close + 2..];
            }
            _ => {
                out.push_str(&rest[..open + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(legend: &str) -> QueryInfo {
        QueryInfo {
            ref_id: "A".into(),
            expr: "up".into(),
            step_ns: 15 * durations::SEC,
            legend_format: legend.into(),
            dataplane: false,
        }
    }

    // Grafana's own converter fixture (pkg/promlib/converter/testdata/prom-matrix.json).
    const MATRIX: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"up","job":"prometheus","instance":"localhost:9090"},
         "values":[[1435781430.781,"1"],[1435781445.781,"1"],[1435781460.781,"1"]]},
        {"metric":{"__name__":"up","job":"node","instance":"localhost:9091"},
         "values":[[1435781430.781,"0"],[1435781445.781,"0"],[1435781460.781,"1"]]}]}}"#;

    #[test]
    fn a_matrix_becomes_one_frame_per_series() {
        let r = from_prometheus(MATRIX.as_bytes(), 200, &q(""));
        assert_eq!(r.status, 200);
        assert_eq!(r.error, None);
        assert_eq!(r.frames.len(), 2);
        let f = &r.frames[0];
        assert_eq!(f["schema"]["refId"], "A");
        assert_eq!(
            f["schema"]["name"],
            "up{instance=\"localhost:9090\", job=\"prometheus\"}"
        );
        assert_eq!(f["schema"]["meta"]["type"], "timeseries-multi");
        assert_eq!(f["schema"]["meta"]["custom"]["resultType"], "matrix");
        assert_eq!(
            f["schema"]["meta"]["executedQueryString"],
            "Expr: up\nStep: 15s"
        );
        assert!(r.frames[1]["schema"]["meta"]
            .get("executedQueryString")
            .is_none());
        let fields = &f["schema"]["fields"];
        assert_eq!(fields[0]["name"], "Time");
        assert_eq!(fields[0]["type"], "time");
        assert_eq!(fields[0]["config"]["interval"], 15000);
        assert_eq!(fields[1]["name"], "Value");
        assert_eq!(fields[1]["labels"]["job"], "prometheus");
        assert_eq!(
            f["data"]["values"],
            json!([
                [1435781430781i64, 1435781445781i64, 1435781460781i64],
                [1.0, 1.0, 1.0]
            ])
        );
        assert_eq!(r.frames[1]["data"]["values"][1], json!([0.0, 0.0, 1.0]));
    }

    #[test]
    fn legends_follow_the_legend_format() {
        let labels = json!({"state": "waiting", "instance": "analyzer:8228"});
        assert_eq!(legend(&q("PollingQueue"), &labels), "PollingQueue");
        assert_eq!(
            legend(&q("{{ state }} on {{instance}}"), &labels),
            "waiting on analyzer:8228"
        );
        assert_eq!(legend(&q("{{missing}}x"), &labels), "x");
        assert_eq!(legend(&q("__auto"), &labels), "");
        assert_eq!(legend(&q("__auto"), &json!({})), "up");
        assert_eq!(legend(&q(""), &json!({})), "up");
        assert_eq!(legend(&q(""), &json!({"__name__": "x"})), "x");
    }

    #[test]
    fn vectors_scalars_and_special_values() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"value":[1700000000,"NaN"]}]}}"#;
        let r = from_prometheus(vector.as_bytes(), 200, &q(""));
        let f = &r.frames[0];
        assert_eq!(f["schema"]["meta"]["custom"]["resultType"], "vector");
        assert_eq!(f["data"]["values"], json!([[1700000000000i64], [null]]));
        assert_eq!(f["data"]["entities"], json!([null, {"NaN": [0]}]));
        assert!(f["schema"]["fields"][1].get("labels").is_none());
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#;
        let r = from_prometheus(scalar.as_bytes(), 200, &q(""));
        assert_eq!(r.frames[0]["schema"]["meta"]["type"], "numeric-multi");
        assert_eq!(r.frames[0]["data"]["values"], json!([[4000], [2.0]]));
    }

    #[test]
    fn errors_and_empty_results_keep_a_metadata_frame() {
        let err = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <EOF>"}"#;
        let r = from_prometheus(err.as_bytes(), 400, &q(""));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.error.as_deref(),
            Some("bad_data: 1:5: parse error: unexpected <EOF>")
        );
        let json = r.to_json();
        assert_eq!(
            json["error"],
            "bad_data: 1:5: parse error: unexpected <EOF>"
        );
        assert_eq!(json["status"], 400);
        let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        let r = from_prometheus(empty.as_bytes(), 200, &q(""));
        assert_eq!(r.frames.len(), 1);
        assert_eq!(r.frames[0]["schema"]["fields"], json!([]));
        assert_eq!(r.frames[0]["data"]["values"], json!([]));
        assert!(from_prometheus(b"<html>", 502, &q("")).error.is_some());
        let bad = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["x","1"]]}]}}"#;
        assert!(from_prometheus(bad.as_bytes(), 200, &q("")).error.is_some());
    }

    #[test]
    fn dataplane_names_the_value_field_after_the_metric() {
        let mut info = q("");
        info.dataplane = true;
        let r = from_prometheus(MATRIX.as_bytes(), 200, &info);
        let f = &r.frames[0];
        assert_eq!(f["schema"]["fields"][1]["name"], "up");
        assert!(f["schema"].get("name").is_none());
        assert_eq!(f["schema"]["meta"]["typeVersion"], json!([0, 1]));
    }

    #[test]
    fn merged_responses_join_errors() {
        let mut a = DataResponse {
            status: 200,
            frames: vec![json!(1)],
            error: None,
        };
        a.merge(DataResponse::failed(502, "x".into()));
        a.merge(DataResponse::failed(400, "y".into()));
        assert_eq!(a.error.as_deref(), Some("x y"));
        assert_eq!(a.status, 400);
        assert_eq!(a.frames.len(), 1);
    }
}

//! `grafana_datasource` (a data source exists, points where it should and passes
//! Grafana's health check) and `grafana_dashboard` (a dashboard exists and its
//! panels return data), through Grafana's HTTP API.

use super::grafana_schema as schema;
use super::{Ctx, Observation, ProbeResult};
pub use crate::client::grafana::refusal;
use crate::client::{base, json_answer, message_of, one_line, segment};
use crate::model::check::{GrafanaDashboardCheck, GrafanaDatasourceCheck};
use crate::text::count;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// How many panel queries run at once.
const PARALLEL_PANELS: usize = 4;

/// GET or POST to Grafana with its credentials; the answer as JSON. A 401 is an error
/// naming the user and the variable with the password.
async fn call(ctx: &Ctx, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let ep = &ctx.target.grafana;
    let url = format!("{}{path}", ep.url);
    let (status, text) = match body {
        None => ctx.get(&url, Some(ep)).await?,
        Some(b) => {
            ctx.send(ctx.http.post(&url).json(b), &url, Some(ep))
                .await?
        }
    };
    if status == 401 {
        return Err(refusal(ep, false));
    }
    Ok((status, json_answer(&url, status, &text)?))
}

fn http_failure(ctx: &Ctx, path: &str, status: u16, doc: &Value) -> String {
    let url = format!("{}{path}", ctx.target.grafana.url);
    let why = message_of(doc).unwrap_or_else(|| one_line(&doc.to_string(), 100));
    format!("{} answered HTTP {status}: {why}", base(&url))
}

/// A data source as `/api/datasources` lists it.
#[derive(Debug, Clone)]
struct DataSource {
    uid: String,
    name: String,
    ds_type: String,
    url: String,
    is_default: bool,
}

impl DataSource {
    fn of(v: &Value) -> DataSource {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        DataSource {
            uid: s("uid"),
            name: s("name"),
            ds_type: s("type"),
            url: s("url"),
            is_default: v.get("isDefault").and_then(Value::as_bool).unwrap_or(false),
        }
    }

    fn show(&self) -> String {
        if self.url.is_empty() {
            format!("`{}` (no URL)", self.name)
        } else {
            format!("`{}` ({})", self.name, self.url)
        }
    }
}

async fn datasources(ctx: &Ctx) -> Result<Vec<DataSource>, String> {
    let path = "/api/datasources";
    let (status, doc) = call(ctx, path, None).await?;
    if status != 200 {
        return Err(http_failure(ctx, path, status, &doc));
    }
    let list = doc.as_array().ok_or_else(|| {
        format!(
            "unexpected answer from {}{path}: {}",
            ctx.target.grafana.url,
            one_line(&doc.to_string(), 100)
        )
    })?;
    Ok(list.iter().map(DataSource::of).collect())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

pub async fn datasource(c: &GrafanaDatasourceCheck, ctx: &Ctx) -> ProbeResult {
    let mut expected = format!("a {} data source", c.ds_type);
    if let Some(n) = &c.name {
        expected.push_str(&format!(" named `{n}`"));
    }
    if let Some(u) = &c.url {
        expected.push_str(&format!(" with URL {u}"));
    }
    if c.healthy {
        expected.push_str(" that passes Grafana's health check");
    }

    let all = datasources(ctx).await?;
    let typed: Vec<&DataSource> = all.iter().filter(|d| d.ds_type == c.ds_type).collect();
    if typed.is_empty() {
        let others: Vec<String> = all
            .iter()
            .map(|d| format!("{} {}", d.ds_type, d.show()))
            .collect();
        let actual = if others.is_empty() {
            "Grafana has no data sources".to_string()
        } else {
            format!(
                "no {} data source (there is {})",
                c.ds_type,
                others.join(", ")
            )
        };
        return Ok(Observation::fail(expected, actual));
    }
    let named: Vec<&DataSource> = match &c.name {
        Some(n) => typed.iter().copied().filter(|d| &d.name == n).collect(),
        None => typed.clone(),
    };
    if named.is_empty() {
        let seen: Vec<String> = typed.iter().map(|d| d.show()).collect();
        return Ok(Observation::fail(
            expected,
            format!("{} data sources: {}", c.ds_type, seen.join(", ")),
        ));
    }
    let fitting: Vec<&DataSource> = match &c.url {
        Some(u) => named
            .iter()
            .copied()
            .filter(|d| same_url(&d.url, u))
            .collect(),
        None => named.clone(),
    };
    if fitting.is_empty() {
        let seen: Vec<String> = named
            .iter()
            .map(|d| format!("`{}` uses URL {}", d.name, show_url(&d.url)))
            .collect();
        return Ok(Observation::fail(expected, seen.join("; ")));
    }
    if !c.healthy {
        let d = fitting[0];
        return Ok(Observation::pass(format!("{} {}", d.ds_type, d.show())));
    }
    let mut failures = Vec::new();
    for d in fitting {
        let path = format!("/api/datasources/uid/{}/health", segment(&d.uid));
        let (status, doc) = call(ctx, &path, None).await?;
        let state = doc.get("status").and_then(Value::as_str).unwrap_or("");
        let msg = message_of(&doc).unwrap_or_default();
        match status {
            200 if state.eq_ignore_ascii_case("OK") => {
                return Ok(Observation::pass(format!(
                    "{} {}: {}",
                    d.ds_type,
                    d.show(),
                    if msg.is_empty() { "healthy" } else { &msg }
                )));
            }
            // No health check here (Grafana 9's Prometheus plugin has none: its
            // "Save & test" runs a query in the browser): run a real query instead.
            404 => match test_query(ctx, d).await? {
                Ok(how) => {
                    return Ok(Observation::pass(format!(
                        "{} {}: {how}",
                        d.ds_type,
                        d.show()
                    )))
                }
                Err(why) => {
                    failures.push(format!("{} fails a test query: {why}", d.show()));
                }
            },
            200 | 400 | 500 | 502 | 503 if !state.is_empty() || !msg.is_empty() => {
                let why = if msg.is_empty() {
                    state.to_string()
                } else {
                    msg
                };
                failures.push(format!("{} fails Grafana's health check: {why}", d.show()));
            }
            _ => return Err(http_failure(ctx, &path, status, &doc)),
        }
    }
    Ok(Observation::fail(expected, failures.join("; ")))
}

/// What Grafana's own "Save & test" does where the server has no health check: an
/// instant query through the data source. `Ok` says how it answered, `Err` why not.
async fn test_query(ctx: &Ctx, d: &DataSource) -> Result<Result<String, String>, String> {
    let query = json!({
        "refId": "A", "datasource": {"type": d.ds_type, "uid": d.uid},
        "expr": "1+1", "instant": true, "range": false,
        "intervalMs": 15000, "maxDataPoints": 100
    });
    Ok(match query_panel(ctx, &[query]).await? {
        None => {
            Ok("a test query through it answered (this Grafana has no health check for it)".into())
        }
        Some(Problem::QueryFailed(why)) => Err(why),
        Some(_) => Err("the test query returned nothing".into()),
    })
}

fn show_url(u: &str) -> &str {
    if u.is_empty() {
        "(none)"
    } else {
        u
    }
}

pub async fn dashboard(c: &GrafanaDashboardCheck, ctx: &Ctx) -> ProbeResult {
    let uids: Vec<String> = match (&c.uid, &c.title) {
        (Some(uid), _) => vec![uid.clone()],
        (None, Some(title)) => {
            let path = format!("/api/search?type=dash-db&query={}", segment(title));
            let (status, doc) = call(ctx, &path, None).await?;
            if status != 200 {
                return Err(http_failure(ctx, "/api/search", status, &doc));
            }
            let hits = doc.as_array().cloned().unwrap_or_default();
            let exact: Vec<String> = hits
                .iter()
                .filter(|h| h.get("title").and_then(Value::as_str) == Some(title.as_str()))
                .filter_map(|h| h.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect();
            if exact.is_empty() {
                let near: Vec<String> = hits
                    .iter()
                    .filter_map(|h| h.get("title").and_then(Value::as_str))
                    .take(5)
                    .map(|t| format!("{t:?}"))
                    .collect();
                let mut actual = format!("no dashboard titled {title:?}");
                if !near.is_empty() {
                    actual.push_str(&format!(" (found {})", near.join(", ")));
                }
                return Ok(Observation::fail(
                    format!("a dashboard titled {title:?}"),
                    actual,
                ));
            }
            exact
        }
        (None, None) => return Err("the check names neither a dashboard uid nor a title".into()),
    };

    let mut first_failure = None;
    let several = uids.len() > 1;
    for uid in &uids {
        let Some(dash) = read_dashboard(ctx, uid).await? else {
            return Ok(Observation::fail(
                format!("a dashboard with uid {uid}"),
                format!("no dashboard with uid {uid}"),
            ));
        };
        let dash = &dash;
        match judge_dashboard(c, dash, uid, ctx).await? {
            pass @ Observation::Pass { .. } => return Ok(pass),
            fail => {
                if first_failure.is_none() {
                    first_failure = Some(fail);
                }
            }
        }
    }
    Ok(match first_failure {
        Some(Observation::Fail {
            expected,
            actual,
            cause,
            reference,
        }) if several => Observation::Fail {
            expected,
            actual: format!(
                "{actual} ({} dashboards have this title; none passes)",
                uids.len()
            ),
            cause,
            reference,
        },
        Some(f) => f,
        None => Observation::fail("a dashboard", "no dashboard"),
    })
}

/// A dashboard in the classic shape, through whichever API the server answers: the
/// legacy one, or (where it answers 406 for a v2 dashboard, Grafana 12-13) the
/// `dashboard.grafana.app` one; library panels filled in. `None`: no such dashboard.
async fn read_dashboard(ctx: &Ctx, uid: &str) -> Result<Option<Value>, String> {
    let path = format!("/api/dashboards/uid/{}", segment(uid));
    let (status, doc) = call(ctx, &path, None).await?;
    let mut dash = match status {
        404 => return Ok(None),
        200 => doc.get("dashboard").cloned().unwrap_or(Value::Null),
        406 => {
            let v2 = schema::v2_path(&message_of(&doc).unwrap_or_default(), &segment(uid));
            let (status, resource) = call(ctx, &v2, None).await?;
            match status {
                404 => return Ok(None),
                200 => schema::from_resource(&resource),
                _ => return Err(http_failure(ctx, &v2, status, &resource)),
            }
        }
        _ => return Err(http_failure(ctx, &path, status, &doc)),
    };
    let uids = schema::library_uids(&dash);
    if !uids.is_empty() {
        let mut models = BTreeMap::new();
        for lib in uids {
            let path = format!("/api/library-elements/{}", segment(&lib));
            let (status, doc) = call(ctx, &path, None).await?;
            match status {
                // A library panel deleted since: it stays a panel without queries.
                404 => {}
                200 => {
                    if let Some(m) = doc.pointer("/result/model") {
                        models.insert(lib, m.clone());
                    }
                }
                _ => return Err(http_failure(ctx, &path, status, &doc)),
            }
        }
        schema::fill_library_panels(&mut dash, &models);
    }
    Ok(Some(dash))
}

/// Why a panel does not count as returning data.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Missing,
    NoQueries,
    NoData,
    QueryFailed(String),
    UnknownDataSource(String),
    NoDefaultDataSource,
}

/// One sentence for the panels sharing a problem.
fn describe(problem: &Problem, titles: &[String]) -> String {
    let one = titles.len() == 1;
    let names = titles
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let panels = if one { "panel" } else { "panels" };
    let s = if one { "s" } else { "" };
    match problem {
        Problem::Missing => format!("no {panels} titled {names}"),
        Problem::NoQueries => format!(
            "{panels} {names} {} no queries",
            if one { "has" } else { "have" }
        ),
        Problem::NoData => format!("{panels} {names} return{s} no data"),
        Problem::QueryFailed(m) => format!("{panels} {names} fail{s}: {m}"),
        Problem::UnknownDataSource(ds) => format!(
            "{panels} {names} use{s} data source {ds}, which does not exist: re-import the dashboard and choose the Prometheus data source"
        ),
        Problem::NoDefaultDataSource => format!(
            "{panels} {names} use{s} the default data source, but Grafana has none: add the Prometheus data source"
        ),
    }
}

/// The panels of a dashboard, with those inside rows (collapsed rows keep theirs).
fn collect_panels<'a>(list: Option<&'a Value>, out: &mut Vec<&'a Value>) {
    for p in list.and_then(Value::as_array).into_iter().flatten() {
        if p.get("type").and_then(Value::as_str) != Some("row") {
            out.push(p);
        }
        collect_panels(p.get("panels"), out);
    }
}

fn title_of(p: &Value) -> String {
    p.get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn visible_targets(p: &Value) -> Vec<&Value> {
    p.get("targets")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter(|t| t.get("hide").and_then(Value::as_bool) != Some(true))
                .collect()
        })
        .unwrap_or_default()
}

async fn judge_dashboard(
    c: &GrafanaDashboardCheck,
    dash: &Value,
    uid: &str,
    ctx: &Ctx,
) -> ProbeResult {
    let title = dash
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or(uid)
        .to_string();
    let mut panels = Vec::new();
    collect_panels(dash.get("panels"), &mut panels);
    // Dashboards older than schema 16 keep panels in `rows`.
    for row in dash
        .get("rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_panels(row.get("panels"), &mut panels);
    }
    if c.panels_with_data.is_empty() {
        return Ok(Observation::pass(format!(
            "dashboard {title:?} (uid {uid}, {})",
            count(panels.len(), "panel")
        )));
    }
    let every = c.panels_with_data.iter().any(|p| p == "*");
    let expected = if every {
        format!("every panel of {title:?} returns data")
    } else {
        let names: Vec<String> = c
            .panels_with_data
            .iter()
            .map(|t| format!("{t:?}"))
            .collect();
        if names.len() == 1 {
            format!("panel {} of {title:?} returns data", names[0])
        } else {
            format!("panels {} of {title:?} return data", names.join(", "))
        }
    };

    // (title, panel) for each panel to query; problems found before any query.
    let mut outcomes: Vec<(String, Option<Problem>)> = Vec::new();
    let mut chosen: Vec<&Value> = Vec::new();
    if every {
        chosen = panels
            .iter()
            .copied()
            .filter(|p| !visible_targets(p).is_empty())
            .collect();
    } else {
        for name in &c.panels_with_data {
            match panels.iter().find(|p| &title_of(p) == name) {
                Some(p) if visible_targets(p).is_empty() => {
                    outcomes.push((name.clone(), Some(Problem::NoQueries)))
                }
                Some(p) => chosen.push(p),
                None => outcomes.push((name.clone(), Some(Problem::Missing))),
            }
        }
    }
    if every && chosen.is_empty() {
        return Ok(Observation::fail(
            expected,
            format!("dashboard {title:?} has no panel with queries"),
        ));
    }

    let sources = if chosen.is_empty() {
        Vec::new()
    } else {
        datasources(ctx).await?
    };
    let vars = Variables::of(dash);
    let mut requests = Vec::new();
    for p in &chosen {
        match panel_queries(p, &vars, &sources) {
            Ok(queries) => requests.push((title_of(p), queries)),
            Err(problem) => outcomes.push((title_of(p), Some(problem))),
        }
    }
    let results: Vec<Result<(String, Option<Problem>), String>> = stream::iter(requests)
        .map(|(t, queries)| async move { query_panel(ctx, &queries).await.map(|r| (t, r)) })
        .buffered(PARALLEL_PANELS)
        .collect()
        .await;
    for r in results {
        outcomes.push(r?);
    }

    let mut groups: Vec<(Problem, Vec<String>)> = Vec::new();
    let mut with_data = Vec::new();
    for (t, problem) in outcomes {
        match problem {
            None => with_data.push(t),
            Some(p) => match groups.iter_mut().find(|(q, _)| *q == p) {
                Some((_, ts)) => ts.push(t),
                None => groups.push((p, vec![t])),
            },
        }
    }
    if groups.is_empty() {
        let actual = if every {
            format!(
                "{title:?}: {} with queries, all return data",
                count(with_data.len(), "panel")
            )
        } else {
            format!("{title:?}: {} return data", with_data.join(", "))
        };
        return Ok(Observation::pass(actual));
    }
    let sentences: Vec<String> = groups.iter().map(|(p, ts)| describe(p, ts)).collect();
    Ok(Observation::fail(expected, sentences.join("; ")))
}

/// The dashboard's template variables: their values for query text, and the
/// data-source variables.
struct Variables {
    values: BTreeMap<String, String>,
    datasource: BTreeMap<String, Value>,
}

impl Variables {
    fn of(dash: &Value) -> Variables {
        let mut values = BTreeMap::new();
        let mut datasource = BTreeMap::new();
        let list = dash
            .get("templating")
            .and_then(|t| t.get("list"))
            .and_then(Value::as_array);
        for v in list.into_iter().flatten() {
            let Some(name) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
            match kind {
                "constant" | "custom" | "interval" | "textbox" => {
                    if let Some(value) = variable_value(v, kind) {
                        values.insert(name.to_string(), value);
                    }
                }
                "datasource" => {
                    datasource.insert(name.to_string(), v.clone());
                }
                _ => {}
            }
        }
        Variables { values, datasource }
    }

    /// `text` with `$name`, `${name}`, `${name:format}` and `[[name]]` replaced by the
    /// values of known variables. Unknown names (Grafana's `$__interval`,
    /// `$__rate_interval`, …, and PromQL's `$1`) stay for the server.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find(['$', '[']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some((name, len)) = reference(tail) {
                let bare = name.split(':').next().unwrap_or(name);
                if let Some(v) = self.values.get(bare) {
                    out.push_str(v);
                    rest = &tail[len..];
                    continue;
                }
            }
            let ch = tail.chars().next().map(char::len_utf8).unwrap_or(1);
            out.push_str(&tail[..ch]);
            rest = &tail[ch..];
        }
        out.push_str(rest);
        out
    }
}

/// The variable a text starting with `$` or `[[` refers to, and the length of the reference.
fn reference(s: &str) -> Option<(&str, usize)> {
    if let Some(inner) = s.strip_prefix("${") {
        let end = inner.find('}')?;
        return Some((&inner[..end], end + 3));
    }
    if let Some(inner) = s.strip_prefix("[[") {
        let end = inner.find("]]")?;
        return Some((&inner[..end], end + 4));
    }
    let inner = s.strip_prefix('$')?;
    let len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    (len > 0).then(|| (&inner[..len], len + 1))
}

/// The variable a whole string names (`$ds`, `${DS_PROMETHEUS}`), if it is one.
fn whole_reference(s: &str) -> Option<&str> {
    let (name, len) = reference(s)?;
    (len == s.len()).then_some(name)
}

fn variable_value(v: &Value, kind: &str) -> Option<String> {
    let current = v.get("current").and_then(|c| c.get("value"));
    let picked = match current {
        Some(Value::String(s)) if s == "$__all" => Some(all_value(v)),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Array(items)) => {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            match items.as_slice() {
                [] => None,
                ["$__all"] => Some(all_value(v)),
                [one] => Some(one.to_string()),
                many => Some(format!("({})", many.join("|"))),
            }
        }
        _ => None,
    };
    picked.or_else(|| {
        let query = v.get("query").and_then(Value::as_str)?;
        match kind {
            // Lists: the first option.
            "custom" | "interval" => query
                .split(',')
                .map(str::trim)
                .find(|s| !s.is_empty())
                .map(str::to_string),
            _ => Some(query.to_string()),
        }
    })
}

fn all_value(v: &Value) -> String {
    if let Some(a) = v.get("allValue").and_then(Value::as_str) {
        return a.to_string();
    }
    let opts: Vec<&str> = v
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("value").and_then(Value::as_str))
        .filter(|s| *s != "$__all")
        .collect();
    format!("({})", opts.join("|"))
}

/// The `{type, uid}` a panel's or target's data source reference resolves to.
fn resolve(
    reference: Option<&Value>,
    vars: &Variables,
    sources: &[DataSource],
) -> Result<Value, Problem> {
    let by_key = |key: &str| {
        sources
            .iter()
            .find(|d| d.uid == key)
            .or_else(|| sources.iter().find(|d| d.name == key))
    };
    let default_of = |ds_type: Option<&str>| {
        let fits = |d: &&DataSource| ds_type.is_none_or(|t| d.ds_type == t);
        sources
            .iter()
            .filter(fits)
            .find(|d| d.is_default)
            .or_else(|| sources.iter().find(fits))
    };
    let found = |d: &DataSource| json!({"type": d.ds_type, "uid": d.uid});
    let (key, ds_type) = match reference {
        None | Some(Value::Null) => {
            return default_of(None)
                .map(found)
                .ok_or(Problem::NoDefaultDataSource)
        }
        Some(Value::String(s)) => (s.clone(), None),
        Some(Value::Object(o)) => {
            let t = o.get("type").and_then(Value::as_str).map(str::to_string);
            match o.get("uid").and_then(Value::as_str) {
                Some(uid) => (uid.to_string(), t),
                None => {
                    return default_of(t.as_deref())
                        .map(found)
                        .ok_or(Problem::NoDefaultDataSource)
                }
            }
        }
        Some(other) => return Err(Problem::UnknownDataSource(other.to_string())),
    };
    // Grafana's own pseudo data sources are passed on as they are.
    if matches!(key.as_str(), "grafana" | "-- Grafana --" | "__expr__") {
        return Ok(json!({"type": ds_type.unwrap_or_else(|| "datasource".into()), "uid": key}));
    }
    if let Some(name) = whole_reference(&key) {
        let var = vars.datasource.get(name.split(':').next().unwrap_or(name));
        let picked = var.and_then(|v| {
            let current = v
                .get("current")
                .and_then(|c| c.get("value"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && *s != "default");
            match current {
                Some(value) => by_key(value),
                None => default_of(v.get("query").and_then(Value::as_str)),
            }
        });
        return picked.map(found).ok_or(Problem::UnknownDataSource(key));
    }
    by_key(&key)
        .map(found)
        .ok_or(Problem::UnknownDataSource(key))
}

/// The queries Grafana would send for a panel, variables substituted.
fn panel_queries(
    panel: &Value,
    vars: &Variables,
    sources: &[DataSource],
) -> Result<Vec<Value>, Problem> {
    let panel_ds = panel.get("datasource").filter(|d| {
        // A mixed panel names its data sources per target.
        d.get("uid").and_then(Value::as_str) != Some("-- Mixed --")
    });
    let mut queries = Vec::new();
    for (i, target) in visible_targets(panel).into_iter().enumerate() {
        let reference = target.get("datasource").or(panel_ds);
        let ds = resolve(reference, vars, sources)?;
        let mut q: Map<String, Value> = match substitute_all(target, vars) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let ref_id = target
            .get("refId")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| ref_letter(i));
        q.insert("refId".into(), json!(ref_id));
        q.insert("datasource".into(), ds);
        q.entry("intervalMs").or_insert(json!(15000));
        q.entry("maxDataPoints").or_insert(json!(500));
        if !q.contains_key("range") && !q.contains_key("instant") {
            q.insert("range".into(), json!(true));
        }
        queries.push(Value::Object(q));
    }
    Ok(queries)
}

fn ref_letter(i: usize) -> String {
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    match letters.get(i) {
        Some(c) => (*c as char).to_string(),
        None => format!("Q{i}"),
    }
}

fn substitute_all(v: &Value, vars: &Variables) -> Value {
    match v {
        Value::String(s) => Value::String(vars.substitute(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_all(x, vars)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute_all(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Sends a panel's queries; `None` when at least one returns data.
async fn query_panel(ctx: &Ctx, queries: &[Value]) -> Result<Option<Problem>, String> {
    let path = "/api/ds/query";
    let body = json!({"queries": queries, "from": "now-1h", "to": "now"});
    let (status, doc) = call(ctx, path, Some(&body)).await?;
    let Some(results) = doc.get("results").and_then(Value::as_object) else {
        if (400..500).contains(&status) {
            let why = message_of(&doc).unwrap_or_else(|| format!("HTTP {status}"));
            return Ok(Some(Problem::QueryFailed(why)));
        }
        return Err(http_failure(ctx, path, status, &doc));
    };
    let mut errors = Vec::new();
    for r in results.values() {
        let frames = r.get("frames").and_then(Value::as_array);
        let has_values = frames.into_iter().flatten().any(|f| {
            f.get("data")
                .and_then(|d| d.get("values"))
                .and_then(Value::as_array)
                .is_some_and(|cols| {
                    cols.iter()
                        .any(|c| c.as_array().is_some_and(|vals| !vals.is_empty()))
                })
        });
        if has_values {
            return Ok(None);
        }
        if let Some(e) = r
            .get("error")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
        {
            errors.push(e.to_string());
        }
    }
    Ok(Some(match errors.first() {
        Some(e) => Problem::QueryFailed(e.clone()),
        None => Problem::NoData,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probe::testserver::{self as ts, Reply, Request, Routes, TestServer};
    use std::time::{Duration, Instant};

    const DS_UID: &str = "ddpsargv3rx8gb";
    pub(crate) const DASH_UID: &str = "bdpa7hticyha8e";

    pub(crate) fn prometheus_ds(url: &str) -> Value {
        json!({
            "id": 1, "uid": DS_UID, "orgId": 1, "name": "prometheus", "type": "prometheus",
            "typeName": "Prometheus",
            "typeLogoUrl": "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg",
            "access": "proxy", "url": url, "user": "", "database": "", "basicAuth": false,
            "isDefault": true, "jsonData": {"httpMethod": "POST"}, "readOnly": false
        })
    }

    fn ds_check(url: Option<&str>, healthy: bool) -> GrafanaDatasourceCheck {
        GrafanaDatasourceCheck {
            ds_type: "prometheus".into(),
            url: url.map(str::to_string),
            name: None,
            healthy,
        }
    }

    /// A library panel as `GET /api/library-elements/lib1` answers it.
    pub(crate) fn library_element() -> Value {
        json!({"result": {"uid": "lib1", "name": "Queue", "kind": 1, "type": "stat",
            "model": {"type": "stat", "title": "Queue", "datasource": {"type": "prometheus", "uid": DS_UID},
                      "targets": [{"refId": "A", "expr": "anchore_queue_length"}]}}})
    }

    /// One hit of `GET /api/search`.
    pub(crate) fn search_hit(uid: &str, title: &str) -> Value {
        json!({"id": 3, "uid": uid, "title": title, "uri": "db/x", "url": format!("/d/{uid}/x"),
        "slug": "", "type": "dash-db", "tags": [], "isStarred": false, "folderUid": "", "sortMeta": 0})
    }

    pub(crate) fn health_path() -> String {
        format!("/api/datasources/uid/{DS_UID}/health")
    }

    pub(crate) fn ok_health() -> Reply {
        Reply::json(
            200,
            json!({"status": "OK", "message": "Successfully queried the Prometheus API."}),
        )
    }

    async fn run_ds(c: &GrafanaDatasourceCheck, srv: &TestServer) -> ProbeResult {
        let r = datasource(c, &ts::ctx(&srv.url, Duration::from_secs(3))).await;
        ts::assert_no_password(&r);
        r
    }

    #[tokio::test]
    async fn datasource_healthy_prometheus_passes_with_grafanas_message() {
        let srv = TestServer::start(
            Routes::new()
                .get(
                    "/api/datasources",
                    Reply::json(200, json!([prometheus_ds("http://prometheus:9090")])),
                )
                .get(&health_path(), ok_health()),
        )
        .await;
        let r = run_ds(&ds_check(Some("http://prometheus:9090"), true), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                "prometheus `prometheus` (http://prometheus:9090): Successfully queried the Prometheus API."
            ))
        );
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(
            reqs[1].header("authorization"),
            Some(ts::basic("admin", ts::GRAFANA_PASSWORD).as_str())
        );
    }

    #[tokio::test]
    async fn datasource_wrong_url_fails_showing_both_urls() {
        let srv = TestServer::start(
            Routes::new()
                .get(
                    "/api/datasources",
                    Reply::json(200, json!([prometheus_ds("http://localhost:9090")])),
                )
                .get(&health_path(), ok_health()),
        )
        .await;
        let r = run_ds(&ds_check(Some("http://prometheus:9090"), true), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a prometheus data source with URL http://prometheus:9090 that passes Grafana's health check",
                "`prometheus` uses URL http://localhost:9090"
            ))
        );
    }

    #[tokio::test]
    async fn datasource_url_comparison_ignores_a_trailing_slash() {
        let srv = TestServer::start(Routes::new().get(
            "/api/datasources",
            Reply::json(200, json!([prometheus_ds("http://prometheus:9090/")])),
        ))
        .await;
        let r = run_ds(&ds_check(Some("http://prometheus:9090"), false), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                "prometheus `prometheus` (http://prometheus:9090/)"
            ))
        );
    }

    #[tokio::test]
    async fn datasource_health_error_fails_with_grafanas_message() {
        let msg = "Post \"http://localhost:9090/api/v1/query\": dial tcp 127.0.0.1:9090: connect: connection refused - There was an error returned querying the Prometheus API.";
        let srv = TestServer::start(
            Routes::new()
                .get(
                    "/api/datasources",
                    Reply::json(200, json!([prometheus_ds("http://localhost:9090")])),
                )
                .get(
                    &health_path(),
                    Reply::json(400, json!({"status": "ERROR", "message": msg})),
                ),
        )
        .await;
        let r = run_ds(&ds_check(None, true), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a prometheus data source that passes Grafana's health check",
                format!("`prometheus` (http://localhost:9090) fails Grafana's health check: {msg}")
            ))
        );
    }

    #[tokio::test]
    async fn datasource_missing_type_or_name_fails_listing_what_exists() {
        let loki = json!({"id": 2, "uid": "loki1", "name": "Loki", "type": "loki", "url": "http://loki:3100", "isDefault": false});
        let srv = TestServer::start(
            Routes::new().get("/api/datasources", Reply::json(200, json!([loki]))),
        )
        .await;
        let r = run_ds(&ds_check(None, true), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a prometheus data source that passes Grafana's health check",
                "no prometheus data source (there is loki `Loki` (http://loki:3100))"
            ))
        );
        let empty =
            TestServer::start(Routes::new().get("/api/datasources", Reply::json(200, json!([]))))
                .await;
        let r = run_ds(&ds_check(None, false), &empty).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a prometheus data source",
                "Grafana has no data sources"
            ))
        );
        let srv = TestServer::start(Routes::new().get(
            "/api/datasources",
            Reply::json(200, json!([prometheus_ds("http://prometheus:9090")])),
        ))
        .await;
        let mut c = ds_check(None, false);
        c.name = Some("Prometheus".into());
        let r = run_ds(&c, &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a prometheus data source named `Prometheus`",
                "prometheus data sources: `prometheus` (http://prometheus:9090)"
            ))
        );
    }

    #[tokio::test]
    async fn datasource_rejected_credentials_err_without_password() {
        let srv = TestServer::start(Routes::new().get(
            "/api/datasources",
            Reply::json(401, json!({"message": "Invalid username or password"})),
        ))
        .await;
        let ctx = ts::ctx(&srv.url, Duration::from_secs(5));
        let e = datasource(&ds_check(None, true), &ctx)
            .await
            .expect_err("401");
        assert!(
            e.contains(&format!(
                "Grafana at {} refused the password of user `admin` (HTTP 401)",
                srv.url
            )),
            "{e}"
        );
        assert!(e.contains("LAB_GRAFANA_PASSWORD"), "{e}");
        assert!(e.contains("locks the account"), "{e}");
        assert!(!e.contains(ts::GRAFANA_PASSWORD), "{e}");
        // The same run never sends the refused password again: 5 would lock the account.
        let again = dashboard(&dash_check(&["*"]), &ctx)
            .await
            .expect_err("latched");
        assert!(again.contains("not asking Grafana"), "{again}");
        assert_eq!(srv.requests().len(), 1);
    }

    /// Grafana 12-13: the legacy API answers 406 for a v2 dashboard and names the
    /// `dashboard.grafana.app` path; panels live in `elements`, placed by `layout`;
    /// a library panel is filled in from the library elements API.
    #[tokio::test]
    async fn dashboard_in_the_v2_schema_is_judged_like_a_classic_one() {
        let v2 =
            format!("/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/{DASH_UID}");
        let query = |expr: &str| {
            json!({"kind": "PanelQuery", "spec": {"refId": "A", "hidden": false,
            "query": {"kind": "DataQuery", "group": "prometheus", "version": "v0",
                      "datasource": {"name": DS_UID}, "spec": {"expr": expr}}}})
        };
        let resource = json!({"kind": "Dashboard", "apiVersion": "dashboard.grafana.app/v2beta1",
            "metadata": {"name": DASH_UID},
            "spec": {"title": "Anchore Enterprise",
                "variables": [{"kind": "ConstantVariable", "spec": {"name": "window", "query": "1m", "current": {"text": "1m", "value": "1m"}}}],
                "elements": {
                    "panel-1": {"kind": "Panel", "spec": {"id": 1, "title": "CPU Usage",
                        "data": {"kind": "QueryGroup", "spec": {"queries": [query("rate(process_cpu_seconds_total[$window]) * 100")]}},
                        "vizConfig": {"kind": "VizConfig", "group": "timeseries", "spec": {}}}},
                    "panel-2": {"kind": "LibraryPanel", "spec": {"id": 2, "title": "Queue",
                        "libraryPanel": {"uid": "lib1", "name": "Queue"}}}},
                "layout": {"kind": "RowsLayout", "spec": {"rows": [{"kind": "RowsLayoutRow", "spec": {"title": "Analyzer", "collapse": true,
                    "layout": {"kind": "GridLayout", "spec": {"items": [
                        {"kind": "GridLayoutItem", "spec": {"element": {"kind": "ElementReference", "name": "panel-2"}}},
                        {"kind": "GridLayoutItem", "spec": {"element": {"kind": "ElementReference", "name": "panel-1"}}}]}}}}]}}},
            "status": {}});
        let library = library_element();
        let routes = Routes::new()
            .get("/api/datasources", Reply::json(200, json!([prometheus_ds("http://prometheus:9090")])))
            .get(
                &format!("/api/dashboards/uid/{DASH_UID}"),
                Reply::json(406, json!({"message": format!("dashboard api version not supported, use {v2} instead")})),
            )
            .get(&v2, Reply::json(200, resource))
            .get("/api/library-elements/lib1", Reply::json(200, library))
            .with("POST", "/api/ds/query", ds_query(|_| Answer::Data));
        let srv = TestServer::start(routes).await;
        let r = run_dash(&dash_check(&["CPU Usage", "Queue"]), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                "\"Anchore Enterprise\": CPU Usage, Queue return data"
            ))
        );
        let exprs: Vec<Value> = sent_queries(&srv)
            .iter()
            .map(|q| q["expr"].clone())
            .collect();
        assert_eq!(
            exprs,
            [
                json!("rate(process_cpu_seconds_total[1m]) * 100"),
                json!("anchore_queue_length")
            ]
        );
        for q in sent_queries(&srv) {
            assert_eq!(
                q["datasource"],
                json!({"type": "prometheus", "uid": DS_UID})
            );
        }
    }

    /// Grafana 9's Prometheus data source has no health check (404 "Not found"):
    /// a real query through it decides.
    #[tokio::test]
    async fn datasource_without_a_health_route_is_tested_with_a_query() {
        let health = format!("/api/datasources/uid/{DS_UID}/health");
        let routes = |answer: Answer| {
            Routes::new()
                .get(
                    "/api/datasources",
                    Reply::json(200, json!([prometheus_ds("http://prometheus:9090")])),
                )
                .get(&health, Reply::json(404, json!({"message": "Not found"})))
                .with("POST", "/api/ds/query", ds_query(move |_| answer))
        };
        let srv = TestServer::start(routes(Answer::Data)).await;
        let r = run_ds(&ds_check(Some("http://prometheus:9090"), true), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass("prometheus `prometheus` (http://prometheus:9090): a test query through it answered (this Grafana has no health check for it)"))
        );
        let sent = sent_queries(&srv);
        assert_eq!(sent[0]["expr"], json!("1+1"));
        assert_eq!(sent[0]["datasource"]["uid"], json!(DS_UID));
        let srv = TestServer::start(routes(Answer::Error(
            "Post \"http://prometheus:9090/api/v1/query\": dial tcp: connection refused",
        )))
        .await;
        let r = run_ds(&ds_check(Some("http://prometheus:9090"), true), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a prometheus data source with URL http://prometheus:9090 that passes Grafana's health check",
                "`prometheus` (http://prometheus:9090) fails a test query: Post \"http://prometheus:9090/api/v1/query\": dial tcp: connection refused"
            ))
        );
    }

    #[tokio::test]
    async fn datasource_unreachable_or_hanging_grafana_errs() {
        let url = ts::refused_url().await;
        let r = datasource(
            &ds_check(None, true),
            &ts::ctx(&url, Duration::from_secs(2)),
        )
        .await;
        ts::assert_no_password(&r);
        let e = r.expect_err("refused");
        assert!(
            e.starts_with(&format!("cannot connect to {url}/api/datasources")),
            "{e}"
        );
        let srv = TestServer::hanging().await;
        let started = Instant::now();
        let r = datasource(
            &ds_check(None, true),
            &ts::ctx(&srv.url, Duration::from_millis(300)),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(2));
        ts::assert_no_password(&r);
        assert!(r.expect_err("hang").contains("no answer from"));
    }

    // ---- dashboards ----

    fn course_dashboard_text() -> String {
        crate::reference::read("grafana/grafana_dashboard_enterprise.json")
    }

    /// The course dashboard as `/api/dashboards/uid/…` returns it after an import that
    /// chose the Prometheus data source (or, with `imported: false`, after a raw
    /// upload that left `${DS_PROMETHEUS}` in place).
    pub(crate) fn course_dashboard(imported: bool) -> Value {
        let mut text = course_dashboard_text();
        if imported {
            text = text
                .replace("${DS_PROMETHEUS}", DS_UID)
                .replace("${VAR_ANALYSIS_HISTORY_WINDOW}", "3h");
        }
        let mut dash: Value = serde_json::from_str(&text).expect("the course dashboard is JSON");
        if let Some(m) = dash.as_object_mut() {
            m.remove("__inputs");
            m.remove("__elements");
            m.remove("__requires");
            m.insert("id".into(), json!(7));
        }
        json!({
            "dashboard": dash,
            "meta": {"type": "db", "canSave": true, "canEdit": true, "slug": "anchore-enterprise",
                     "url": format!("/d/{DASH_UID}/anchore-enterprise"), "folderUid": "", "provisioned": false}
        })
    }

    #[derive(Clone, Copy)]
    enum Answer {
        Data,
        Empty,
        Error(&'static str),
    }

    /// A `/api/ds/query` that answers each query by its expression.
    fn ds_query(
        answer: impl Fn(&str) -> Answer + Send + Sync + 'static,
    ) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
        move |req| {
            let body = req.json();
            let mut results = Map::new();
            for q in body["queries"].as_array().into_iter().flatten() {
                let ref_id = q["refId"].as_str().unwrap_or("A").to_string();
                let expr = q["expr"].as_str().unwrap_or("");
                let r = match answer(expr) {
                    Answer::Data => json!({"status": 200, "frames": [{
                        "schema": {"name": expr, "refId": ref_id, "meta": {"type": "timeseries-multi", "typeVersion": [0, 1]},
                                   "fields": [{"name": "Time", "type": "time", "typeInfo": {"frame": "time.Time"}},
                                              {"name": "Value", "type": "number", "typeInfo": {"frame": "float64"}, "labels": {}}]},
                        "data": {"values": [[1712345670000i64, 1712345685000i64], [1, 1]]}}]}),
                    Answer::Empty => json!({"status": 200, "frames": [{
                        "schema": {"refId": ref_id, "meta": {"typeVersion": [0, 0], "executedQueryString": format!("Expr: {expr}")}, "fields": []},
                        "data": {"values": []}}]}),
                    Answer::Error(e) => {
                        json!({"status": 400, "error": e, "errorSource": "downstream"})
                    }
                };
                results.insert(ref_id, r);
            }
            let failed = results.values().all(|r| r["status"] == json!(400));
            Reply::json(if failed { 400 } else { 200 }, json!({"results": results}))
        }
    }

    fn grafana_with(
        dashboard: Value,
        answer: impl Fn(&str) -> Answer + Send + Sync + 'static,
    ) -> Routes {
        Routes::new()
            .get(
                "/api/datasources",
                Reply::json(200, json!([prometheus_ds("http://prometheus:9090")])),
            )
            .get(
                &format!("/api/dashboards/uid/{DASH_UID}"),
                Reply::json(200, dashboard),
            )
            .with("POST", "/api/ds/query", ds_query(answer))
    }

    fn dash_check(panels: &[&str]) -> GrafanaDashboardCheck {
        GrafanaDashboardCheck {
            title: None,
            uid: Some(DASH_UID.into()),
            panels_with_data: panels.iter().map(|p| p.to_string()).collect(),
        }
    }

    async fn run_dash(c: &GrafanaDashboardCheck, srv: &TestServer) -> ProbeResult {
        let r = dashboard(c, &ts::ctx(&srv.url, Duration::from_secs(5))).await;
        ts::assert_no_password(&r);
        r
    }

    fn sent_queries(srv: &TestServer) -> Vec<Value> {
        srv.requests()
            .iter()
            .filter(|r| r.path == "/api/ds/query")
            .flat_map(|r| r.json()["queries"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn dashboard_course_panels_are_queried_with_their_real_promql() {
        let srv = TestServer::start(grafana_with(course_dashboard(true), |_| Answer::Data)).await;
        let r = run_dash(&dash_check(&["Analyzer: Status", "CPU Usage"]), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                "\"Anchore Enterprise\": Analyzer: Status, CPU Usage return data"
            ))
        );
        let queries = sent_queries(&srv);
        let exprs: Vec<&str> = queries.iter().filter_map(|q| q["expr"].as_str()).collect();
        assert_eq!(
            exprs,
            [
                "sum(anchore_analyzer_status{state=\"processing\"})",
                "sum(anchore_analyzer_status{state=\"waiting\"})",
                "sum(anchore_analyzer_status{state=\"error\"})",
                "rate(process_cpu_seconds_total[1m]) * 100",
            ]
        );
        for q in &queries {
            assert_eq!(
                q["datasource"],
                json!({"type": "prometheus", "uid": DS_UID})
            );
            assert_eq!(q["intervalMs"], json!(15000));
            assert_eq!(q["maxDataPoints"], json!(500));
        }
        assert_eq!(queries[0]["refId"], json!("AnalyzingImage"));
        let post = srv
            .requests()
            .into_iter()
            .find(|r| r.path == "/api/ds/query")
            .expect("a query");
        assert_eq!(post.json()["from"], json!("now-1h"));
        assert_eq!(post.json()["to"], json!("now"));
        assert_eq!(
            post.header("authorization"),
            Some(ts::basic("admin", ts::GRAFANA_PASSWORD).as_str())
        );
    }

    #[tokio::test]
    async fn dashboard_every_panel_lists_the_panels_without_data() {
        // Nothing scrapes cAdvisor in the course, so container_memory_rss has no data.
        let srv = TestServer::start(grafana_with(course_dashboard(true), |expr| {
            if expr.contains("container_memory_rss") {
                Answer::Empty
            } else {
                Answer::Data
            }
        }))
        .await;
        let r = run_dash(&dash_check(&["*"]), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "every panel of \"Anchore Enterprise\" returns data",
                "panels \"Memory: Container RSS\", \"Memory: Container Type RSS\" return no data"
            ))
        );
        let srv = TestServer::start(grafana_with(course_dashboard(true), |_| Answer::Data)).await;
        let r = run_dash(&dash_check(&["*"]), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                "\"Anchore Enterprise\": 15 panels with queries, all return data"
            ))
        );
        let panels_queried = srv
            .requests()
            .iter()
            .filter(|r| r.path == "/api/ds/query")
            .count();
        assert_eq!(panels_queried, 15);
    }

    #[tokio::test]
    async fn dashboard_imported_without_a_data_source_says_to_reimport() {
        let srv = TestServer::start(grafana_with(course_dashboard(false), |_| Answer::Data)).await;
        let r = run_dash(&dash_check(&["CPU Usage"]), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "panel \"CPU Usage\" of \"Anchore Enterprise\" returns data",
                "panel \"CPU Usage\" uses data source ${DS_PROMETHEUS}, which does not exist: re-import the dashboard and choose the Prometheus data source"
            ))
        );
        assert!(sent_queries(&srv).is_empty());
    }

    #[tokio::test]
    async fn dashboard_template_variables_are_substituted_but_builtins_left() {
        let srv = TestServer::start(grafana_with(course_dashboard(true), |_| Answer::Data)).await;
        let r = run_dash(
            &dash_check(&[
                "Analysis: Image Analysis Times (Import)",
                "API: API Workload",
            ]),
            &srv,
        )
        .await;
        assert!(matches!(r, Ok(Observation::Pass { .. })), "{r:?}");
        let queries = sent_queries(&srv);
        let exprs: Vec<&str> = queries.iter().filter_map(|q| q["expr"].as_str()).collect();
        assert!(exprs.contains(&"histogram_quantile(0.9, sum by(le) (rate(anchore_import_time_seconds_bucket{status=\"success\"}[3h])))"), "{exprs:?}");
        assert!(exprs.contains(&"sum by(endpoint) (rate(flask_http_request_duration_seconds_count{job=~\"api.*\", status=\"200\"}[$__rate_interval]))"), "{exprs:?}");
        assert!(
            exprs
                .iter()
                .all(|e| !e.contains("$analysis_history_window")),
            "{exprs:?}"
        );
    }

    #[tokio::test]
    async fn dashboard_query_error_is_reported_with_grafanas_message() {
        let srv = TestServer::start(grafana_with(course_dashboard(true), |_| {
            Answer::Error("bad_data: 1:6: parse error: unexpected \"}\"")
        }))
        .await;
        let r = run_dash(&dash_check(&["CPU Usage"]), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "panel \"CPU Usage\" of \"Anchore Enterprise\" returns data",
                "panel \"CPU Usage\" fails: bad_data: 1:6: parse error: unexpected \"}\""
            ))
        );
    }

    #[tokio::test]
    async fn dashboard_collapsed_row_panels_are_included_and_missing_panels_named() {
        let dash = json!({"dashboard": {
            "uid": DASH_UID, "title": "Rows",
            "templating": {"list": [{"name": "ds", "type": "datasource", "query": "prometheus", "current": {"value": DS_UID}}]},
            "panels": [
                {"type": "row", "title": "Analyzer", "collapsed": true, "panels": [
                    {"type": "timeseries", "title": "Queue", "datasource": {"type": "prometheus", "uid": "${ds}"},
                     "targets": [{"expr": "anchore_queue_length"}]}
                ]},
                {"type": "text", "title": "Notes"},
                {"type": "stat", "title": "Legacy", "datasource": "prometheus",
                 "targets": [{"refId": "A", "expr": "up", "hide": true}, {"refId": "B", "expr": "up == 1"}]}
            ]}, "meta": {}});
        let srv = TestServer::start(grafana_with(dash, |e| {
            if e == "anchore_queue_length" {
                Answer::Data
            } else {
                Answer::Empty
            }
        }))
        .await;
        let r = run_dash(&dash_check(&["Queue", "Notes", "Legacy", "Gone"]), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "panels \"Queue\", \"Notes\", \"Legacy\", \"Gone\" of \"Rows\" return data",
                "panel \"Notes\" has no queries; no panel titled \"Gone\"; panel \"Legacy\" returns no data"
            ))
        );
        let queries = sent_queries(&srv);
        assert_eq!(queries.len(), 2, "{queries:?}");
        assert_eq!(queries[0]["refId"], json!("A"));
        assert_eq!(queries[0]["range"], json!(true));
        assert_eq!(queries[0]["datasource"]["uid"], json!(DS_UID));
        // The hidden target is not sent; the legacy name resolves to the uid.
        assert_eq!(queries[1]["expr"], json!("up == 1"));
        assert_eq!(queries[1]["datasource"]["uid"], json!(DS_UID));
    }

    #[tokio::test]
    async fn dashboard_by_uid_that_does_not_exist_fails() {
        let srv = TestServer::start(Routes::new().get(
            "/api/dashboards/uid/nope",
            Reply::json(404, json!({"message": "Dashboard not found"})),
        ))
        .await;
        let mut c = dash_check(&["*"]);
        c.uid = Some("nope".into());
        let r = run_dash(&c, &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a dashboard with uid nope",
                "no dashboard with uid nope"
            ))
        );
    }

    #[tokio::test]
    async fn dashboard_by_title_needs_an_exact_match_and_encodes_the_search() {
        let hit = search_hit;
        let srv = TestServer::start(grafana_with(course_dashboard(true), |_| Answer::Data).get(
            "/api/search",
            Reply::json(
                200,
                json!([
                    hit("copy1", "Anchore Enterprise (copy)"),
                    hit(DASH_UID, "Anchore Enterprise")
                ]),
            ),
        ))
        .await;
        let mut c = dash_check(&[]);
        c.uid = None;
        c.title = Some("Anchore Enterprise".into());
        let r = run_dash(&c, &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(format!(
                "dashboard \"Anchore Enterprise\" (uid {DASH_UID}, 15 panels)"
            )))
        );
        let search = &srv.requests()[0];
        assert_eq!(search.param("query").as_deref(), Some("Anchore Enterprise"));
        assert_eq!(search.param("type").as_deref(), Some("dash-db"));
        c.title = Some("Anchore".into());
        let r = run_dash(&c, &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a dashboard titled \"Anchore\"",
                "no dashboard titled \"Anchore\" (found \"Anchore Enterprise (copy)\", \"Anchore Enterprise\")"
            ))
        );
    }

    #[tokio::test]
    async fn dashboard_slow_panel_query_errs_at_the_deadline() {
        let srv = TestServer::start(
            Routes::new()
                .get(
                    "/api/datasources",
                    Reply::json(200, json!([prometheus_ds("http://prometheus:9090")])),
                )
                .get(
                    &format!("/api/dashboards/uid/{DASH_UID}"),
                    Reply::json(200, course_dashboard(true)),
                )
                .post(
                    "/api/ds/query",
                    Reply::json(200, json!({"results": {}})).after(Duration::from_secs(10)),
                ),
        )
        .await;
        let started = Instant::now();
        let r = dashboard(
            &dash_check(&["*"]),
            &ts::ctx(&srv.url, Duration::from_millis(500)),
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        ts::assert_no_password(&r);
        let e = r.expect_err("timeout");
        assert!(
            e.contains(&format!("no answer from {}/api/ds/query", srv.url)),
            "{e}"
        );
    }

    #[test]
    fn variables_replace_every_reference_form_and_keep_builtins() {
        let dash = json!({"templating": {"list": [
            {"name": "window", "type": "constant", "query": "3h", "current": {"value": "3h"}},
            {"name": "job", "type": "custom", "query": "api,catalog", "current": {"value": ["api", "catalog"]}},
            {"name": "step", "type": "interval", "query": "1m,5m"},
            {"name": "q", "type": "query", "query": "label_values(job)", "current": {"value": "x"}}
        ]}});
        let v = Variables::of(&dash);
        assert_eq!(
            v.substitute("rate(x{job=~\"$job\"}[$window]) + rate(y[${window}]) + z[[[step]]] + w[${window:text}]"),
            "rate(x{job=~\"(api|catalog)\"}[3h]) + rate(y[3h]) + z[1m] + w[3h]"
        );
        assert_eq!(
            v.substitute("rate(a[$__rate_interval]) $windows $q $1 ${DS_PROMETHEUS} é$"),
            "rate(a[$__rate_interval]) $windows $q $1 ${DS_PROMETHEUS} é$"
        );
    }

    #[test]
    fn data_source_references_resolve_by_uid_name_variable_or_default() {
        let sources = vec![DataSource::of(&prometheus_ds("http://prometheus:9090"))];
        let vars = Variables::of(&json!({"templating": {"list": [
            {"name": "ds", "type": "datasource", "query": "prometheus", "current": {}}
        ]}}));
        let want = Ok(json!({"type": "prometheus", "uid": DS_UID}));
        assert_eq!(
            resolve(
                Some(&json!({"type": "prometheus", "uid": DS_UID})),
                &vars,
                &sources
            ),
            want
        );
        assert_eq!(resolve(Some(&json!("prometheus")), &vars, &sources), want);
        assert_eq!(resolve(Some(&json!("${ds}")), &vars, &sources), want);
        assert_eq!(resolve(None, &vars, &sources), want);
        assert_eq!(
            resolve(Some(&json!({"type": "prometheus"})), &vars, &sources),
            want
        );
        assert_eq!(
            resolve(Some(&json!({"uid": "${DS_PROMETHEUS}"})), &vars, &sources),
            Err(Problem::UnknownDataSource("${DS_PROMETHEUS}".into()))
        );
        assert_eq!(
            resolve(Some(&json!({"uid": "gone"})), &vars, &sources),
            Err(Problem::UnknownDataSource("gone".into()))
        );
        assert_eq!(resolve(None, &vars, &[]), Err(Problem::NoDefaultDataSource));
    }
}

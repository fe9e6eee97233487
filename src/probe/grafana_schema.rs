//! Grafana's dashboard schemas, read into one shape. Grafana 12 and 13 keep a
//! dashboard in the v2 schema (`dashboard.grafana.app/v2alpha1` or `v2beta1`):
//! panels are `elements` placed by a `layout` (grids, rows, tabs), queries are
//! `PanelQuery` kinds, variables are `…Variable` kinds. The legacy API answers
//! 406 for such a dashboard. `lab` judges both schemas the same way, so the v2
//! one is read into the classic shape (`panels`, `targets`, `templating.list`)
//! that the dashboard check already knows. Library panels (a reference by uid in
//! either schema) are filled in from `/api/library-elements/{uid}`.
//!
//! Shapes follow Grafana's own conversion test data
//! (`apps/dashboard/pkg/migration/conversion/testdata/`, see
//! tests/fixtures/grafana/PROVENANCE.md).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The path the legacy API's 406 names (`… use /apis/dashboard.grafana.app/v2beta1/
/// namespaces/default/dashboards/UID instead`), or the v2beta1 one for the default
/// organisation when the message names none.
pub fn v2_path(message: &str, uid: &str) -> String {
    message
        .split_whitespace()
        .find(|w| w.starts_with("/apis/dashboard.grafana.app/"))
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!("/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/{uid}")
        })
}

/// A dashboard resource of the `/apis` API (any version) in the classic shape.
pub fn from_resource(resource: &Value) -> Value {
    let spec = resource.get("spec").unwrap_or(&Value::Null);
    if spec.get("elements").is_none() && spec.get("layout").is_none() {
        // v0/v1: the spec is the classic dashboard JSON.
        return spec.clone();
    }
    from_v2(spec)
}

/// A v2 spec in the classic shape: its panels in layout order (then any element no
/// layout places), library panels as references, its variables as `templating.list`.
pub fn from_v2(spec: &Value) -> Value {
    let elements = spec.get("elements").and_then(Value::as_object);
    let mut order = Vec::new();
    referenced(spec.get("layout"), &mut order);
    if let Some(all) = elements {
        for name in all.keys() {
            if !order.contains(name) {
                order.push(name.clone());
            }
        }
    }
    let panels: Vec<Value> = order
        .iter()
        .filter_map(|name| elements.and_then(|e| e.get(name)))
        .filter_map(element)
        .collect();
    let variables: Vec<Value> = spec
        .get("variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(variable)
        .collect();
    json!({
        "title": spec.get("title").cloned().unwrap_or(Value::Null),
        "panels": panels,
        "templating": {"list": variables},
    })
}

/// The element names a layout refers to, depth first (grids, rows, tabs, auto grids).
fn referenced(layout: Option<&Value>, out: &mut Vec<String>) {
    match layout {
        Some(Value::Object(o)) => {
            if o.get("kind").and_then(Value::as_str) == Some("ElementReference") {
                if let Some(n) = o.get("name").and_then(Value::as_str) {
                    if !out.iter().any(|x| x == n) {
                        out.push(n.to_string());
                    }
                }
                return;
            }
            for v in o.values() {
                referenced(Some(v), out);
            }
        }
        Some(Value::Array(a)) => {
            for v in a {
                referenced(Some(v), out);
            }
        }
        _ => {}
    }
}

fn element(e: &Value) -> Option<Value> {
    let spec = e.get("spec")?;
    let title = spec.get("title").cloned().unwrap_or(json!(""));
    match e.get("kind").and_then(Value::as_str)? {
        "Panel" => {
            let viz = spec.get("vizConfig");
            // v2beta1: `group` is the plugin id; v2alpha1: `kind` is.
            let viz_type = viz
                .and_then(|v| v.get("group").and_then(Value::as_str))
                .or_else(|| viz.and_then(|v| v.get("kind").and_then(Value::as_str)))
                .unwrap_or("");
            let targets: Vec<Value> = spec
                .pointer("/data/spec/queries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|q| q.get("spec"))
                .map(target)
                .collect();
            Some(json!({"type": viz_type, "title": title, "targets": targets}))
        }
        "LibraryPanel" => Some(json!({
            "title": title,
            "libraryPanel": spec.get("libraryPanel").cloned().unwrap_or(Value::Null),
        })),
        _ => None,
    }
}

/// A `PanelQuery` spec as a classic target: the query's own fields, `refId`,
/// `hide`, and the data source as `{type, uid}`.
fn target(pq: &Value) -> Value {
    let query = pq.get("query").unwrap_or(&Value::Null);
    let mut t: Map<String, Value> = query
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(r) = pq.get("refId") {
        t.insert("refId".into(), r.clone());
    }
    if pq.get("hidden").and_then(Value::as_bool) == Some(true) {
        t.insert("hide".into(), json!(true));
    }
    let is_data_query = query.get("kind").and_then(Value::as_str) == Some("DataQuery");
    let ds = if is_data_query {
        // v2beta1: the plugin is `group`, the data source's uid `datasource.name`.
        let ds_type = query.get("group").and_then(Value::as_str).unwrap_or("");
        match query.pointer("/datasource/name").and_then(Value::as_str) {
            Some(uid) => Some(json!({"type": ds_type, "uid": uid})),
            None if !ds_type.is_empty() => Some(json!({"type": ds_type})),
            None => None,
        }
    } else {
        // v2alpha1: the plugin is the query's `kind`, the reference `datasource`.
        pq.get("datasource").cloned()
    };
    if let Some(ds) = ds {
        t.insert("datasource".into(), ds);
    }
    Value::Object(t)
}

/// A `…Variable` kind as a classic `templating.list` entry.
fn variable(v: &Value) -> Option<Value> {
    let kind = v.get("kind").and_then(Value::as_str)?;
    let mut spec = v.get("spec")?.as_object()?.clone();
    let classic = match kind {
        "QueryVariable" => "query",
        "CustomVariable" => "custom",
        "ConstantVariable" => "constant",
        "IntervalVariable" => "interval",
        "TextVariable" => "textbox",
        "DatasourceVariable" => {
            if let Some(p) = spec.get("pluginId").cloned() {
                spec.insert("query".into(), p);
            }
            "datasource"
        }
        "AdhocVariable" => "adhoc",
        "GroupByVariable" => "groupby",
        other => other,
    };
    spec.insert("type".into(), json!(classic));
    Some(Value::Object(spec))
}

/// The library panels a classic dashboard refers to without their queries.
pub fn library_uids(dash: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(dash, &mut |p| {
        if let Some(uid) = unresolved_library_uid(p) {
            if !out.contains(&uid) {
                out.push(uid);
            }
        }
    });
    out
}

fn unresolved_library_uid(p: &Value) -> Option<String> {
    if p.get("targets").is_some() {
        return None;
    }
    p.pointer("/libraryPanel/uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
}

/// Replaces each library panel reference with the library element's model (its
/// type, data source and queries), keeping the title the dashboard gives it.
pub fn fill_library_panels(dash: &mut Value, models: &BTreeMap<String, Value>) {
    walk_mut(dash, &mut |p| {
        let Some(uid) = unresolved_library_uid(p) else {
            return;
        };
        let Some(Value::Object(model)) = models.get(&uid) else {
            return;
        };
        let title = p
            .get("title")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let mut filled = model.clone();
        if let Some(t) = title {
            filled.insert("title".into(), json!(t));
        }
        filled.insert("libraryPanel".into(), p["libraryPanel"].clone());
        *p = Value::Object(filled);
    });
}

/// Every panel of a classic dashboard: `panels`, their nested row panels, and the
/// `rows[].panels` of dashboards older than schema 16.
fn walk(dash: &Value, f: &mut impl FnMut(&Value)) {
    fn panels(list: Option<&Value>, f: &mut impl FnMut(&Value)) {
        for p in list.and_then(Value::as_array).into_iter().flatten() {
            f(p);
            panels(p.get("panels"), f);
        }
    }
    panels(dash.get("panels"), f);
    for row in dash
        .get("rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        panels(row.get("panels"), f);
    }
}

fn walk_mut(dash: &mut Value, f: &mut impl FnMut(&mut Value)) {
    fn panels(list: Option<&mut Value>, f: &mut impl FnMut(&mut Value)) {
        for p in list.and_then(Value::as_array_mut).into_iter().flatten() {
            f(p);
            panels(p.get_mut("panels"), f);
        }
    }
    panels(dash.get_mut("panels"), f);
    if let Some(rows) = dash.get_mut("rows").and_then(Value::as_array_mut) {
        for row in rows {
            panels(row.get_mut("panels"), f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_406_message_names_the_path_to_read() {
        let m = "dashboard api version not supported, use /apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/abc instead";
        assert_eq!(
            v2_path(m, "abc"),
            "/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/abc"
        );
        assert_eq!(
            v2_path("Not acceptable", "x"),
            "/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/x"
        );
    }

    /// Grafana's own conversion test data (see tests/fixtures/reference/PROVENANCE.md).
    #[test]
    fn grafanas_v2beta1_test_dashboard_reads_as_classic_panels() {
        let text = include_str!(
            "../../tests/fixtures/reference/grafana/v2beta1.v27.repeated_panels_and_constant_variable.json"
        );
        let resource: Value = serde_json::from_str(text).expect("upstream JSON");
        let d = from_resource(&resource);
        assert_eq!(
            d["title"],
            json!("V27 Repeated Panels and Constant Variable Migration Test Dashboard")
        );
        assert_eq!(
            d["panels"],
            json!([
                {"type": "timeseries", "title": "Normal Panel", "targets": [
                    {"refId": "A", "datasource": {"type": "prometheus", "uid": "default-ds-uid"}}]},
                {"type": "timeseries", "title": "Normal nested panel", "targets": []}
            ])
        );
        assert_eq!(d["templating"]["list"][0]["type"], json!("textbox"));
        assert_eq!(
            d["templating"]["list"][0]["current"]["value"],
            json!("default_value")
        );
    }

    #[test]
    fn a_v1_resource_is_its_spec() {
        let r = json!({"apiVersion": "dashboard.grafana.app/v1beta1", "spec": {"title": "T", "panels": []}});
        assert_eq!(from_resource(&r), json!({"title": "T", "panels": []}));
    }

    #[test]
    fn v2alpha1_queries_carry_their_datasource_reference() {
        let spec = json!({
            "title": "A",
            "elements": {"panel-1": {"kind": "Panel", "spec": {"id": 1, "title": "P",
                "data": {"kind": "QueryGroup", "spec": {"queries": [{"kind": "PanelQuery", "spec": {
                    "refId": "A", "hidden": true,
                    "datasource": {"type": "prometheus", "uid": "ds1"},
                    "query": {"kind": "prometheus", "spec": {"expr": "up"}}}}]}},
                "vizConfig": {"kind": "timeseries", "spec": {}}}}},
            "layout": {"kind": "GridLayout", "spec": {"items": []}}
        });
        let d = from_v2(&spec);
        assert_eq!(
            d["panels"][0],
            json!({"type": "timeseries", "title": "P", "targets": [
                {"expr": "up", "refId": "A", "hide": true, "datasource": {"type": "prometheus", "uid": "ds1"}}]})
        );
    }

    #[test]
    fn library_panels_are_filled_in_and_keep_their_dashboard_title() {
        let mut d = json!({"panels": [
            {"type": "row", "title": "R", "panels": [
                {"id": 3, "title": "Mine", "libraryPanel": {"uid": "lib1", "name": "CPU"}}]},
            {"id": 4, "title": "", "libraryPanel": {"uid": "lib2", "name": "Mem"}},
            {"id": 5, "title": "Plain", "targets": []}
        ]});
        assert_eq!(library_uids(&d), ["lib1", "lib2"]);
        let models = BTreeMap::from([
            (
                "lib1".to_string(),
                json!({"type": "stat", "title": "CPU", "targets": [{"expr": "a"}]}),
            ),
            (
                "lib2".to_string(),
                json!({"type": "stat", "title": "Mem", "targets": [{"expr": "b"}]}),
            ),
        ]);
        fill_library_panels(&mut d, &models);
        assert_eq!(d["panels"][0]["panels"][0]["title"], json!("Mine"));
        assert_eq!(
            d["panels"][0]["panels"][0]["targets"],
            json!([{"expr": "a"}])
        );
        assert_eq!(d["panels"][1]["title"], json!("Mem"));
        assert!(library_uids(&d).is_empty());
    }
}

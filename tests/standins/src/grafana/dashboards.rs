//! Dashboards: Grafana's save rules (uid/title conflicts, versions), import input resolution, search, and the API's response shapes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::store::{self, State};
use super::timerange;
use super::ApiError;

/// A stored dashboard; `data` is the dashboard JSON with `id`, `uid`, `title` and `version` kept in step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub slug: String,
    pub version: i64,
    pub folder_uid: String,
    pub data: Value,
    pub created: i64,
    pub updated: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl Dashboard {
    pub fn url(&self) -> String {
        format!("/d/{}/{}", self.uid, self.slug)
    }

    pub fn tags(&self) -> Vec<String> {
        self.data["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Grafana's slug: lower case, runs of anything but ASCII letters and digits become one `-`.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in title.trim().chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    out
}

fn dash_err(status: u16, message: &str, code: Option<&str>) -> ApiError {
    match code {
        Some(c) => ApiError {
            status,
            body: json!({ "message": message, "status": c }),
        },
        None => ApiError::message(status, message),
    }
}

fn version_mismatch() -> ApiError {
    dash_err(
        412,
        "The dashboard has been changed by someone else",
        Some("version-mismatch"),
    )
}

/// Saves a dashboard as `POST /api/dashboards/db` and the import API do.
pub fn save(
    state: &mut State,
    mut data: Value,
    overwrite: bool,
    folder_uid: &str,
    user: &str,
    now: i64,
) -> Result<Dashboard, ApiError> {
    let Some(obj) = data.as_object_mut() else {
        return Err(ApiError::bad_request_data());
    };
    let title = obj
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if title.is_empty() {
        return Err(dash_err(
            400,
            "Dashboard title cannot be empty",
            Some("empty-name"),
        ));
    }
    let mut uid = obj
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !uid.is_empty() && !store::is_valid_uid(&uid) {
        return Err(if uid.len() > 40 {
            dash_err(400, "uid too long, max 40 characters", None)
        } else {
            dash_err(400, "uid contains illegal characters", None)
        });
    }
    if !folder_uid.is_empty() {
        // The stand-in has no folders API, so any folder is one Grafana would not find.
        return Err(ApiError::message(400, "folder not found"));
    }
    let mut id = obj.get("id").and_then(Value::as_i64).unwrap_or(0);
    let mut version = obj.get("version").and_then(Value::as_i64).unwrap_or(0);

    // Grafana's getExistingDashboardByIDOrUIDForUpdate.
    let by_id = if id > 0 {
        let found = state.dashboards.iter().find(|d| d.id == id).cloned();
        let Some(found) = found else {
            return Err(dash_err(404, "Dashboard not found", Some("not-found")));
        };
        if uid.is_empty() {
            uid = found.uid.clone();
        }
        Some(found)
    } else {
        None
    };
    let by_uid = if uid.is_empty() {
        None
    } else {
        state.dashboards.iter().find(|d| d.uid == uid).cloned()
    };
    if let (Some(a), Some(b)) = (&by_id, &by_uid) {
        if a.id != b.id {
            return Err(dash_err(
                400,
                "A dashboard with the same uid already exists",
                None,
            ));
        }
    }
    if let Some(existing) = by_id.as_ref().or(by_uid.as_ref()) {
        id = existing.id;
        uid = existing.uid.clone();
        if version != existing.version {
            if overwrite {
                version = existing.version;
            } else {
                return Err(version_mismatch());
            }
        }
    }
    // Grafana's getExistingDashboardByTitleAndFolder.
    let same_title = state
        .dashboards
        .iter()
        .find(|d| d.title == title && d.folder_uid == folder_uid && d.id != id)
        .cloned();
    if let Some(other) = same_title {
        if overwrite {
            id = other.id;
            uid = other.uid.clone();
            version = other.version;
        } else {
            return Err(dash_err(
                412,
                "A dashboard with the same name in the folder already exists",
                Some("name-exists"),
            ));
        }
    }

    let previous = state.dashboards.iter().position(|d| d.id == id && id > 0);
    let (id, version, created, created_by) = match previous {
        Some(i) => {
            let p = &state.dashboards[i];
            (p.id, version + 1, p.created, p.created_by.clone())
        }
        None => (state.next_dash_id(), 1, now, user.to_string()),
    };
    if uid.is_empty() {
        uid = store::new_uid();
    }
    obj.insert("id".into(), json!(id));
    obj.insert("uid".into(), json!(uid));
    obj.insert("title".into(), json!(title));
    obj.insert("version".into(), json!(version));
    let dash = Dashboard {
        id,
        slug: slugify(&title),
        uid,
        title,
        version,
        folder_uid: folder_uid.to_string(),
        data,
        created,
        updated: now,
        created_by,
        updated_by: user.to_string(),
    };
    match previous {
        Some(i) => state.dashboards[i] = dash.clone(),
        None => state.dashboards.push(dash.clone()),
    }
    Ok(dash)
}

/// The answer to a successful `POST /api/dashboards/db`.
pub fn save_response(d: &Dashboard) -> Value {
    json!({
        "id": d.id,
        "uid": d.uid,
        "url": d.url(),
        "status": "success",
        "version": d.version,
        "slug": d.slug,
        "folderUid": d.folder_uid,
    })
}

/// `GET /api/dashboards/uid/{uid}`: the dashboard and its meta.
pub fn get_response(d: &Dashboard) -> Value {
    json!({
        "dashboard": d.data,
        "meta": {
            "type": "db",
            "canSave": true,
            "canEdit": true,
            "canAdmin": true,
            "canStar": true,
            "canDelete": true,
            "slug": d.slug,
            "url": d.url(),
            "expires": "0001-01-01T00:00:00Z",
            "created": timerange::rfc3339(d.created),
            "updated": timerange::rfc3339(d.updated),
            "updatedBy": d.updated_by,
            "createdBy": d.created_by,
            "version": d.version,
            "hasAcl": false,
            "isFolder": false,
            "folderId": 0,
            "folderUid": d.folder_uid,
            "provisioned": false,
            "provisionedExternalId": "",
        }
    })
}

/// One entry of an import request's `inputs`. Like Go's JSON decoding into Grafana's
/// `ImportDashboardInput`, a `null` field is the empty string.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ImportInput {
    #[serde(deserialize_with = "null_as_empty")]
    pub name: String,
    #[serde(rename = "type", deserialize_with = "null_as_empty")]
    pub input_type: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub plugin_id: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub value: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Grafana's `DashTemplateEvaluator`: every `__inputs` entry needs an input of the same type
/// whose name matches (or is `*`), else the import fails; each `${NAME}` is then replaced
/// everywhere, and `${…}` that names no input stays as it is. Returns the missing input's
/// name on failure.
pub fn resolve_inputs(template: &Value, inputs: &[ImportInput]) -> Result<Value, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let defs = template["__inputs"].as_array().cloned().unwrap_or_default();
    for def in &defs {
        let name = def["name"].as_str().unwrap_or("");
        let ty = def["type"].as_str().unwrap_or("");
        let value = if def["pluginId"].as_str() == Some("__expr__") {
            // Server-side expressions are bound to themselves, as in Grafana.
            Some("__expr__".to_string())
        } else {
            inputs
                .iter()
                .find(|i| i.input_type == ty && (i.name == name || i.name == "*"))
                .map(|i| i.value.clone())
        };
        match value {
            Some(v) => vars.push((format!("${{{name}}}"), v)),
            None => return Err(name.to_string()),
        }
    }
    Ok(eval(template, &vars, true))
}

fn eval(v: &Value, vars: &[(String, String)], top: bool) -> Value {
    match v {
        Value::String(s) => Value::String(interpolate(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| eval(x, vars, false)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !(top && k.as_str() == "__inputs"))
                .map(|(k, x)| (k.clone(), eval(x, vars, false)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces matches of Grafana's `\$\{.+?\}` that name a known variable.
fn interpolate(s: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with("${") {
            // `.+?` needs at least one character, and `.` does not match a newline.
            let body_start = i + 2;
            let first = s[body_start..].chars().next();
            if let Some(first) = first.filter(|c| *c != '\n') {
                let search_from = body_start + first.len_utf8();
                let rest = &s[search_from..];
                let end = rest.find(['}', '\n']);
                if let Some(e) = end.filter(|&e| rest.as_bytes()[e] == b'}') {
                    let whole = &s[i..search_from + e + 1];
                    match vars.iter().find(|(k, _)| k == whole) {
                        Some((_, v)) => out.push_str(v),
                        None => out.push_str(whole),
                    }
                    i = search_from + e + 1;
                    continue;
                }
            }
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The import request body (`ImportDashboardRequest`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ImportRequest {
    pub plugin_id: String,
    pub path: String,
    pub overwrite: bool,
    pub dashboard: Option<Value>,
    pub inputs: Vec<ImportInput>,
    pub folder_uid: String,
}

/// `POST /api/dashboards/import`: resolve inputs, drop the export-only keys, save.
pub fn import(state: &mut State, body: &[u8], user: &str, now: i64) -> Result<Value, ApiError> {
    let req: ImportRequest =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request_data())?;
    if !req.plugin_id.is_empty() {
        return Err(ApiError::message(404, "Plugin not found"));
    }
    let Some(template) = req.dashboard.filter(|d| !d.is_null()) else {
        return Err(ApiError::message(422, "Dashboard must be set"));
    };
    // A missing input is not a client error in Grafana: it falls through to the generic
    // "Failed to save dashboard" 500 of ToDashboardErrorResponse.
    let mut resolved = resolve_inputs(&template, &req.inputs)
        .map_err(|_| ApiError::message(500, "Failed to save dashboard"))?;
    if let Some(obj) = resolved.as_object_mut() {
        obj.remove("__elements");
        obj.remove("__inputs");
        obj.remove("__requires");
    }
    let d = save(state, resolved, req.overwrite, &req.folder_uid, user, now)?;
    Ok(json!({
        "uid": d.uid,
        "pluginId": "",
        "title": d.title,
        "imported": true,
        "importedUri": format!("db/{}", d.slug),
        "importedUrl": d.url(),
        "slug": d.slug,
        "dashboardId": d.id,
        "folderId": 0,
        "folderUid": d.folder_uid,
        "description": "",
        "path": "",
        "removed": false,
    }))
}

/// `DELETE /api/dashboards/uid/{uid}`.
pub fn delete(state: &mut State, uid: &str) -> Result<Value, ApiError> {
    let idx = state
        .dashboards
        .iter()
        .position(|d| d.uid == uid)
        .ok_or_else(|| ApiError::message(404, "Dashboard not found"))?;
    let d = state.dashboards.remove(idx);
    Ok(json!({
        "title": d.title,
        "message": format!("Dashboard {} deleted", d.title),
        "id": d.id,
        "uid": d.uid,
    }))
}

/// Filters of `GET /api/search`.
#[derive(Debug, Default, Clone)]
pub struct SearchQuery {
    pub query: String,
    pub types: Vec<String>,
    pub tags: Vec<String>,
    pub uids: Vec<String>,
    pub limit: usize,
}

/// `GET /api/search`: dashboards whose title contains `query` (ignoring case), by title.
pub fn search(state: &State, q: &SearchQuery) -> Value {
    let wants_dashboards = q.types.is_empty() || q.types.iter().any(|t| t == "dash-db");
    if !wants_dashboards {
        // The stand-in has no folders, so a folder-only search finds nothing.
        return json!([]);
    }
    let needle = q.query.to_lowercase();
    let mut hits: Vec<&Dashboard> = state
        .dashboards
        .iter()
        .filter(|d| d.title.to_lowercase().contains(&needle))
        .filter(|d| q.tags.iter().all(|t| d.tags().contains(t)))
        .filter(|d| q.uids.is_empty() || q.uids.contains(&d.uid))
        .collect();
    hits.sort_by_key(|d| d.title.to_lowercase());
    let limit = if q.limit == 0 {
        1000
    } else {
        q.limit.min(5000)
    };
    Value::Array(
        hits.into_iter()
            .take(limit)
            .map(|d| {
                json!({
                    "id": d.id,
                    "uid": d.uid,
                    "title": d.title,
                    "uri": format!("db/{}", d.slug),
                    "url": d.url(),
                    "slug": "",
                    "type": "dash-db",
                    "tags": d.tags(),
                    "isStarred": false,
                    "sortMeta": 0,
                })
            })
            .collect(),
    )
}

/// A classic dashboard in Grafana 12-13's v2 schema (`dashboard.grafana.app/v2beta1`,
/// the shape of Grafana's conversion test data): each panel an element, rows a
/// `RowsLayout` of `GridLayout`s, each target a `PanelQuery` whose `DataQuery` names
/// the plugin as `group` and the data source's uid as `datasource.name` (a target
/// without a reference takes the panel's), variables as `…Variable` kinds.
pub fn to_v2(classic: &Value) -> Value {
    let mut elements = serde_json::Map::new();
    let mut rows: Vec<(String, bool, Vec<String>)> = vec![(String::new(), false, vec![])];
    let mut add = |p: &Value, rows: &mut Vec<(String, bool, Vec<String>)>| {
        let id = p["id"].as_i64().unwrap_or(elements.len() as i64 + 1);
        let name = format!("panel-{id}");
        let panel_ds = p.get("datasource").cloned().unwrap_or(Value::Null);
        let queries: Vec<Value> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let mut spec = t.as_object().cloned().unwrap_or_default();
                let ref_id = spec.remove("refId").unwrap_or(json!("A"));
                let hidden = spec.remove("hide").and_then(|h| h.as_bool()).unwrap_or(false);
                let ds = spec.remove("datasource").filter(|d| !d.is_null()).unwrap_or(panel_ds.clone());
                let (group, uid) = match &ds {
                    Value::Object(o) => (
                        o.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
                        o.get("uid").and_then(Value::as_str).map(str::to_string),
                    ),
                    Value::String(s) => (String::new(), Some(s.clone())),
                    _ => (String::new(), None),
                };
                let mut query = json!({"kind": "DataQuery", "group": group, "version": "v0", "spec": spec});
                if let Some(uid) = uid {
                    query["datasource"] = json!({"name": uid});
                }
                json!({"kind": "PanelQuery", "spec": {"query": query, "refId": ref_id, "hidden": hidden}})
            })
            .collect();
        elements.insert(
            name.clone(),
            json!({"kind": "Panel", "spec": {
                "id": id, "title": p["title"].clone(), "description": p.get("description").cloned().unwrap_or(json!("")),
                "links": [],
                "data": {"kind": "QueryGroup", "spec": {"queries": queries, "transformations": [], "queryOptions": {}}},
                "vizConfig": {"kind": "VizConfig", "group": p["type"].clone(), "version": "", "spec": {"options": {}, "fieldConfig": {"defaults": {}, "overrides": []}}}
            }}),
        );
        if let Some(last) = rows.last_mut() {
            last.2.push(name);
        }
    };
    for p in classic["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            let title = p["title"].as_str().unwrap_or("").to_string();
            let collapsed = p["collapsed"].as_bool().unwrap_or(false);
            rows.push((title, collapsed, vec![]));
            for inner in p["panels"].as_array().into_iter().flatten() {
                add(inner, &mut rows);
            }
        } else {
            add(p, &mut rows);
        }
    }
    let grid = |names: &[String]| {
        json!({"kind": "GridLayout", "spec": {"items": names.iter().map(|n| json!({"kind": "GridLayoutItem",
            "spec": {"x": 0, "y": 0, "width": 12, "height": 8, "element": {"kind": "ElementReference", "name": n}}})).collect::<Vec<_>>()}})
    };
    let row_kinds: Vec<Value> = rows
        .iter()
        .enumerate()
        .filter(|(i, (_, _, names))| *i > 0 || !names.is_empty())
        .map(|(i, (title, collapsed, names))| {
            let mut spec = json!({"title": title, "collapse": collapsed, "layout": grid(names)});
            if i == 0 {
                spec["hideHeader"] = json!(true);
            }
            json!({"kind": "RowsLayoutRow", "spec": spec})
        })
        .collect();
    let variables: Vec<Value> = classic["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let mut spec = v.as_object()?.clone();
            let kind = match spec.remove("type")?.as_str()? {
                "query" => "QueryVariable",
                "custom" => "CustomVariable",
                "constant" => "ConstantVariable",
                "interval" => "IntervalVariable",
                "textbox" => "TextVariable",
                "datasource" => {
                    if let Some(q) = spec.remove("query") {
                        spec.insert("pluginId".into(), q);
                    }
                    "DatasourceVariable"
                }
                "adhoc" => "AdhocVariable",
                _ => return None,
            };
            Some(json!({"kind": kind, "spec": spec}))
        })
        .collect();
    json!({
        "title": classic["title"].clone(),
        "tags": classic.get("tags").cloned().unwrap_or(json!([])),
        "editable": true,
        "elements": elements,
        "layout": {"kind": "RowsLayout", "spec": {"rows": row_kinds}},
        "variables": variables,
        "links": [],
        "timeSettings": {"from": "now-6h", "to": "now", "timezone": "", "autoRefresh": ""},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn course_dashboard() -> Value {
        let text = crate::reference::read("grafana/grafana_dashboard_enterprise.json");
        serde_json::from_str(&text).unwrap()
    }

    fn input(name: &str, ty: &str, value: &str) -> ImportInput {
        ImportInput {
            name: name.into(),
            input_type: ty.into(),
            plugin_id: String::new(),
            value: value.into(),
        }
    }

    /// Every `datasource.uid` of every panel and panel target.
    fn target_uids(d: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(t["datasource"]["uid"].as_str().unwrap().to_string());
            }
            out.push(p["datasource"]["uid"].as_str().unwrap().to_string());
        }
        out
    }

    #[test]
    fn importing_the_course_dashboard_binds_every_panel_to_the_data_source() {
        let d = course_dashboard();
        assert!(d.to_string().contains("${DS_PROMETHEUS}"));
        let out = resolve_inputs(
            &d,
            &[
                input("DS_PROMETHEUS", "datasource", "ddpsargv3rx8gb"),
                input("VAR_ANALYSIS_HISTORY_WINDOW", "constant", "3h"),
            ],
        )
        .unwrap();
        let text = out.to_string();
        assert!(!text.contains("${DS_PROMETHEUS}"));
        assert!(!text.contains("${VAR_ANALYSIS_HISTORY_WINDOW}"));
        assert!(out.get("__inputs").is_none());
        let uids = target_uids(&out);
        assert!(uids.len() > 20, "{uids:?}");
        assert!(uids.iter().all(|u| u == "ddpsargv3rx8gb"), "{uids:?}");
        assert_eq!(out["templating"]["list"][0]["query"], "3h");
        // A dashboard variable that is not an import input is left for the frontend.
        assert!(text.contains("$analysis_history_window"));
    }

    #[test]
    fn an_input_without_a_value_is_refused_and_the_raw_file_keeps_placeholders() {
        let d = course_dashboard();
        // Grafana requires every `__inputs` entry, constants included.
        let missing = resolve_inputs(&d, &[input("DS_PROMETHEUS", "datasource", "x")]);
        assert_eq!(missing.unwrap_err(), "VAR_ANALYSIS_HISTORY_WINDOW");
        let missing = resolve_inputs(
            &d,
            &[input("VAR_ANALYSIS_HISTORY_WINDOW", "constant", "3h")],
        );
        assert_eq!(missing.unwrap_err(), "DS_PROMETHEUS");
        // Saving the export as-is (POST /api/dashboards/db) resolves nothing: every panel
        // keeps `${DS_PROMETHEUS}`, which Grafana then reports as a missing data source.
        let mut s = State::default();
        let saved = save(&mut s, d, false, "", "admin", 0).unwrap();
        let uids = target_uids(&saved.data);
        assert!(uids.iter().all(|u| u == "${DS_PROMETHEUS}"), "{uids:?}");
    }

    #[test]
    fn the_wildcard_input_and_unknown_placeholders() {
        let t = json!({
            "__inputs": [{"name": "DS_NAME", "type": "datasource"}],
            "a": "${DS_NAME}_${DS_NAME}",
            "b": ["${OTHER}", "${}x}", 3, null, true],
        });
        let out = resolve_inputs(&t, &[input("*", "datasource", "srv")]).unwrap();
        assert_eq!(out["a"], "srv_srv");
        assert_eq!(out["b"], json!(["${OTHER}", "${}x}", 3, null, true]));
        // An empty value is still a value: Grafana substitutes the empty string.
        let out = resolve_inputs(&t, &[input("DS_NAME", "datasource", "")]).unwrap();
        assert_eq!(out["a"], "_");
        // The type must match too.
        assert!(resolve_inputs(&t, &[input("DS_NAME", "constant", "srv")]).is_err());
    }

    #[test]
    fn import_response_and_missing_inputs() {
        let mut s = State::default();
        let body = json!({
            "dashboard": course_dashboard(),
            "overwrite": true,
            "inputs": [
                {"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus", "value": "abc"},
                {"name": "VAR_NULLS", "type": "constant", "pluginId": null, "value": null},
                {"name": "VAR_ANALYSIS_HISTORY_WINDOW", "type": "constant", "value": "3h"},
            ],
            "folderUid": "",
        });
        let r = import(&mut s, body.to_string().as_bytes(), "admin", 1_000).unwrap();
        assert_eq!(r["uid"], "bdpa7hticyha8e");
        assert_eq!(r["title"], "Anchore Enterprise");
        assert_eq!(r["importedUrl"], "/d/bdpa7hticyha8e/anchore-enterprise");
        assert_eq!(r["imported"], true);
        let stored = &s.dashboards[0].data;
        assert!(stored.get("__requires").is_none() && stored.get("__inputs").is_none());
        assert_eq!(stored["version"], 1);
        // Re-importing over it bumps the version.
        import(&mut s, body.to_string().as_bytes(), "admin", 2_000).unwrap();
        assert_eq!(s.dashboards.len(), 1);
        assert_eq!(s.dashboards[0].version, 2);

        let mut partial = body.clone();
        partial["inputs"].as_array_mut().unwrap().truncate(1);
        let err = import(&mut s, partial.to_string().as_bytes(), "admin", 0).unwrap_err();
        assert_eq!(err, ApiError::message(500, "Failed to save dashboard"));
        let err = import(&mut s, b"{}", "admin", 0).unwrap_err();
        assert_eq!(err.status, 422);
        assert_eq!(import(&mut s, b"[", "admin", 0).unwrap_err().status, 400);
    }

    #[test]
    fn save_conflicts_follow_grafana() {
        let mut s = State::default();
        let d = json!({"title": "Prod", "uid": "u1", "version": 0});
        let first = save(&mut s, d.clone(), false, "", "admin", 0).unwrap();
        assert_eq!((first.id, first.version), (1, 1));
        // Same uid, stale version, no overwrite: 412 version-mismatch.
        let err = save(&mut s, d.clone(), false, "", "admin", 0).unwrap_err();
        assert_eq!(err.status, 412);
        assert_eq!(err.body["status"], "version-mismatch");
        // With the current version it is an update.
        let mut cur = d.clone();
        cur["version"] = json!(1);
        assert_eq!(save(&mut s, cur, false, "", "admin", 0).unwrap().version, 2);
        // Same title, another uid: 412 name-exists, or replaces it with overwrite.
        let other = json!({"title": "Prod", "uid": "u2"});
        let err = save(&mut s, other.clone(), false, "", "admin", 0).unwrap_err();
        assert_eq!(
            err.body,
            json!({"message": "A dashboard with the same name in the folder already exists", "status": "name-exists"})
        );
        let replaced = save(&mut s, other, true, "", "admin", 0).unwrap();
        assert_eq!(
            (replaced.id, replaced.uid.as_str(), replaced.version),
            (1, "u1", 3)
        );
        // Validation.
        assert_eq!(
            save(&mut s, json!({"title": " "}), false, "", "a", 0)
                .unwrap_err()
                .body["status"],
            "empty-name"
        );
        assert_eq!(
            save(
                &mut s,
                json!({"title": "x", "uid": "a b"}),
                false,
                "",
                "a",
                0
            )
            .unwrap_err()
            .status,
            400
        );
        assert_eq!(
            save(&mut s, json!({"title": "x", "id": 99}), false, "", "a", 0)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            save(&mut s, json!({"title": "x"}), false, "f", "a", 0)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            save(&mut s, json!([1]), false, "", "a", 0)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn search_matches_titles_case_insensitively() {
        let mut s = State::default();
        save(
            &mut s,
            json!({"title": "Anchore Enterprise", "tags": ["anchore"]}),
            false,
            "",
            "a",
            0,
        )
        .unwrap();
        save(&mut s, json!({"title": "Another"}), false, "", "a", 0).unwrap();
        let q = |query: &str| SearchQuery {
            query: query.into(),
            types: vec!["dash-db".into()],
            ..Default::default()
        };
        let hits = search(&s, &q("ENTERPRISE"));
        assert_eq!(hits.as_array().unwrap().len(), 1);
        assert_eq!(
            hits[0]["url"],
            format!("/d/{}/anchore-enterprise", hits[0]["uid"].as_str().unwrap())
        );
        assert_eq!(hits[0]["type"], "dash-db");
        assert_eq!(search(&s, &q("")).as_array().unwrap().len(), 2);
        assert_eq!(search(&s, &q("nothing")), json!([]));
        let tagged = SearchQuery {
            tags: vec!["anchore".into()],
            ..Default::default()
        };
        assert_eq!(search(&s, &tagged).as_array().unwrap().len(), 1);
        let folders = SearchQuery {
            types: vec!["dash-folder".into()],
            ..Default::default()
        };
        assert_eq!(search(&s, &folders), json!([]));
        assert_eq!(delete(&mut s, "nope").unwrap_err().status, 404);
        assert_eq!(
            slugify("  Anchore Enterprise: v5!  "),
            "anchore-enterprise-v5"
        );
    }
}

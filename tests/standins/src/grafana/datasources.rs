//! Data source records and the rules Grafana's data source API applies when adding, updating, deleting and listing them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::store::{self, State};
use super::ApiError;

/// A stored data source. `secure_json_data` holds secrets (e.g. `basicAuthPassword`) that
/// are used to reach the data source and never returned: responses list only their keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    pub id: i64,
    pub uid: String,
    pub org_id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub ds_type: String,
    pub access: String,
    pub url: String,
    pub user: String,
    pub database: String,
    pub basic_auth: bool,
    pub basic_auth_user: String,
    pub with_credentials: bool,
    pub is_default: bool,
    pub json_data: Value,
    pub secure_json_data: BTreeMap<String, String>,
    pub version: i64,
    pub read_only: bool,
}

/// The display name and logo Grafana's plugin registry gives a data source type.
pub fn plugin_info(ds_type: &str) -> Option<(&'static str, &'static str)> {
    match ds_type {
        "prometheus" => Some((
            "Prometheus",
            "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg",
        )),
        "loki" => Some((
            "Loki",
            "public/app/plugins/datasource/loki/img/loki_icon.svg",
        )),
        "grafana-testdata-datasource" => Some((
            "TestData",
            "public/app/plugins/datasource/grafana-testdata-datasource/img/testdata.svg",
        )),
        _ => None,
    }
}

/// Grafana shows this logo for a type no installed plugin provides.
const UNKNOWN_LOGO: &str = "public/img/icn-datasource.svg";

/// An item of `GET /api/datasources`.
pub fn list_item(ds: &DataSource) -> Value {
    let (type_name, logo) = match plugin_info(&ds.ds_type) {
        Some((n, l)) => (n.to_string(), l),
        None => (ds.ds_type.clone(), UNKNOWN_LOGO),
    };
    json!({
        "id": ds.id,
        "uid": ds.uid,
        "orgId": ds.org_id,
        "name": ds.name,
        "type": ds.ds_type,
        "typeName": type_name,
        "typeLogoUrl": logo,
        "access": ds.access,
        "url": ds.url,
        "user": ds.user,
        "database": ds.database,
        "basicAuth": ds.basic_auth,
        "isDefault": ds.is_default,
        "jsonData": ds.json_data,
        "readOnly": ds.read_only,
    })
}

/// The full record of `GET /api/datasources/uid/{uid}` and of create/update answers.
pub fn dto(ds: &DataSource) -> Value {
    let logo = plugin_info(&ds.ds_type).map_or(UNKNOWN_LOGO, |(_, l)| l);
    let secure: BTreeMap<&str, bool> = ds
        .secure_json_data
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| (k.as_str(), true))
        .collect();
    json!({
        "id": ds.id,
        "uid": ds.uid,
        "orgId": ds.org_id,
        "name": ds.name,
        "type": ds.ds_type,
        "typeLogoUrl": logo,
        "access": ds.access,
        "url": ds.url,
        "user": ds.user,
        "database": ds.database,
        "basicAuth": ds.basic_auth,
        "basicAuthUser": ds.basic_auth_user,
        "withCredentials": ds.with_credentials,
        "isDefault": ds.is_default,
        "jsonData": ds.json_data,
        "secureJsonFields": secure,
        "version": ds.version,
        "readOnly": ds.read_only,
    })
}

/// The list as Grafana sorts it: by name, ignoring case.
pub fn list(state: &State) -> Value {
    let mut all: Vec<&DataSource> = state.datasources.iter().collect();
    all.sort_by_key(|d| d.name.to_lowercase());
    Value::Array(all.into_iter().map(list_item).collect())
}

/// The body of an add or update request (`AddDataSourceCommand` / `UpdateDataSourceCommand`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Command {
    pub name: String,
    #[serde(rename = "type")]
    pub ds_type: String,
    pub access: String,
    pub url: String,
    pub user: String,
    pub database: String,
    pub basic_auth: bool,
    pub basic_auth_user: String,
    pub with_credentials: bool,
    pub is_default: bool,
    pub json_data: Option<Value>,
    pub secure_json_data: Option<BTreeMap<String, String>>,
    pub uid: String,
    pub version: i64,
}

/// Binds a request body. `type` and `access` are `binding:"Required"` in Grafana, and so is
/// `name` on update; a body that does not bind is a 400 "bad request data".
pub fn parse_command(body: &[u8], update: bool) -> Result<Command, ApiError> {
    let cmd: Command = serde_json::from_slice(body).map_err(|_| ApiError::bad_request_data())?;
    if cmd.ds_type.is_empty() || cmd.access.is_empty() || (update && cmd.name.is_empty()) {
        return Err(ApiError::bad_request_data());
    }
    if let Some(j) = &cmd.json_data {
        if !(j.is_object() || j.is_null()) {
            return Err(ApiError::bad_request_data());
        }
    }
    Ok(cmd)
}

/// Grafana's URL check: prefix `http://` when no scheme is given, then it must parse.
pub fn validate_url(url: &str) -> Result<(), ApiError> {
    if url.is_empty() {
        return Ok(());
    }
    let with_scheme = match url.find("://") {
        Some(i) if i > 0 && !url[..i].contains(':') => url.to_string(),
        _ => format!("http://{url}"),
    };
    reqwest::Url::parse(&with_scheme)
        .map(|_| ())
        .map_err(|_| ApiError::message(400, "Validation error, invalid URL"))
}

/// `type`, then `type-1`, `type-2`… : the first name no data source uses (case-insensitively).
pub fn available_name(ds_type: &str, state: &State) -> String {
    let taken = |n: &str| {
        state
            .datasources
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(n))
    };
    let mut name = ds_type.to_string();
    let mut n = 0;
    while taken(&name) {
        n += 1;
        name = format!("{ds_type}-{n}");
    }
    name
}

fn json_object(v: Option<Value>) -> Value {
    match v {
        Some(Value::Object(m)) => Value::Object(m),
        _ => json!({}),
    }
}

/// Adds a data source. `read_only` is set for provisioned ones only.
pub fn add(state: &mut State, cmd: Command, read_only: bool) -> Result<DataSource, ApiError> {
    validate_url(&cmd.url)?;
    let name = if cmd.name.is_empty() {
        available_name(&cmd.ds_type, state)
    } else {
        cmd.name.clone()
    };
    if state.datasources.iter().any(|d| d.name == name) {
        return Err(ApiError::message(
            409,
            "data source with the same name already exists",
        ));
    }
    let uid = if cmd.uid.is_empty() {
        store::new_uid()
    } else if !store::is_valid_uid(&cmd.uid) {
        return Err(ApiError::message(
            400,
            "Failed to add datasource: invalid UID",
        ));
    } else {
        cmd.uid.clone()
    };
    if state.datasources.iter().any(|d| d.uid == uid) {
        return Err(ApiError::message(
            409,
            "data source with the same uid already exists",
        ));
    }
    if cmd.is_default {
        for d in &mut state.datasources {
            d.is_default = false;
        }
    }
    let ds = DataSource {
        id: state.next_ds_id(),
        uid,
        org_id: 1,
        name,
        ds_type: cmd.ds_type,
        access: cmd.access,
        url: cmd.url,
        user: cmd.user,
        database: cmd.database,
        basic_auth: cmd.basic_auth,
        basic_auth_user: cmd.basic_auth_user,
        with_credentials: cmd.with_credentials,
        is_default: cmd.is_default,
        json_data: json_object(cmd.json_data),
        secure_json_data: cmd.secure_json_data.unwrap_or_default(),
        version: 1,
        read_only,
    };
    state.datasources.push(ds.clone());
    Ok(ds)
}

/// Updates the data source with `uid` from an API request.
pub fn update(state: &mut State, uid: &str, cmd: Command) -> Result<DataSource, ApiError> {
    let idx = state
        .datasources
        .iter()
        .position(|d| d.uid == uid)
        .ok_or_else(|| ApiError::message(404, "Data source not found"))?;
    if state.datasources[idx].read_only {
        return Err(ApiError::message(
            403,
            "Cannot update read-only data source",
        ));
    }
    validate_url(&cmd.url)?;
    replace(state, idx, cmd, false)
}

/// Overwrites the record at `idx`; shared by API updates and provisioning.
pub fn replace(
    state: &mut State,
    idx: usize,
    cmd: Command,
    read_only: bool,
) -> Result<DataSource, ApiError> {
    let id = state.datasources[idx].id;
    if state
        .datasources
        .iter()
        .any(|d| d.id != id && d.name == cmd.name)
    {
        return Err(ApiError::message(
            409,
            "Failed to update datasource: data source with the same name already exists",
        ));
    }
    if cmd.version != 0 && state.datasources[idx].version > cmd.version {
        return Err(ApiError::message(
            409,
            "Datasource has already been updated by someone else. Please reload and try again",
        ));
    }
    if !cmd.uid.is_empty() {
        if !store::is_valid_uid(&cmd.uid) {
            return Err(ApiError::message(
                400,
                "Failed to update datasource: invalid UID",
            ));
        }
        if state
            .datasources
            .iter()
            .any(|d| d.id != id && d.uid == cmd.uid)
        {
            return Err(ApiError::message(
                409,
                "data source with the same uid already exists",
            ));
        }
    }
    if cmd.is_default {
        for d in &mut state.datasources {
            d.is_default = false;
        }
    }
    let ds = &mut state.datasources[idx];
    if !cmd.uid.is_empty() {
        ds.uid = cmd.uid;
    }
    ds.name = cmd.name;
    ds.ds_type = cmd.ds_type;
    ds.access = cmd.access;
    ds.url = cmd.url;
    ds.user = cmd.user;
    ds.database = cmd.database;
    ds.basic_auth = cmd.basic_auth;
    ds.basic_auth_user = cmd.basic_auth_user;
    ds.with_credentials = cmd.with_credentials;
    ds.is_default = cmd.is_default;
    ds.json_data = json_object(cmd.json_data);
    // Secrets not sent again are kept, as Grafana does: the UI never has them to resend.
    if let Some(secrets) = cmd.secure_json_data {
        ds.secure_json_data.extend(secrets);
    }
    ds.version += 1;
    ds.read_only = read_only;
    Ok(ds.clone())
}

/// Deletes by uid; provisioned (read-only) data sources cannot be deleted through the API.
pub fn delete(state: &mut State, uid: &str) -> Result<DataSource, ApiError> {
    let idx = state
        .datasources
        .iter()
        .position(|d| d.uid == uid)
        .ok_or_else(|| ApiError::message(404, "Data source not found"))?;
    if state.datasources[idx].read_only {
        return Err(ApiError::message(
            403,
            "Cannot delete read-only data source",
        ));
    }
    Ok(state.datasources.remove(idx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(name: &str, url: &str) -> Command {
        parse_command(
            json!({"name": name, "type": "prometheus", "access": "proxy", "url": url})
                .to_string()
                .as_bytes(),
            false,
        )
        .unwrap()
    }

    #[test]
    fn binding_rejects_bad_bodies() {
        assert_eq!(
            parse_command(b"{nope", false).unwrap_err(),
            ApiError::bad_request_data()
        );
        assert_eq!(
            parse_command(br#"{"name":"x","access":"proxy"}"#, false).unwrap_err(),
            ApiError::bad_request_data()
        );
        assert_eq!(
            parse_command(br#"{"name":3,"type":"prometheus","access":"proxy"}"#, false)
                .unwrap_err(),
            ApiError::bad_request_data()
        );
        assert!(parse_command(br#"{"type":"prometheus","access":"proxy"}"#, true).is_err());
    }

    #[test]
    fn add_generates_uid_and_enforces_unique_names() {
        let mut s = State::default();
        let a = add(&mut s, cmd("prometheus", "http://prometheus:9090"), false).unwrap();
        assert_eq!(a.id, 1);
        assert_eq!(a.uid.len(), 14);
        assert_eq!(a.json_data, json!({}));
        let err = add(&mut s, cmd("prometheus", "http://other:9090"), false).unwrap_err();
        assert_eq!(err.status, 409);
        assert_eq!(
            err.body,
            json!({"message": "data source with the same name already exists"})
        );
        let mut unnamed = cmd("", "http://x:9090");
        unnamed.name.clear();
        assert_eq!(add(&mut s, unnamed, false).unwrap().name, "prometheus-1");
    }

    #[test]
    fn default_flag_moves_and_read_only_blocks_changes() {
        let mut s = State::default();
        let mut c = cmd("a", "http://a:9090");
        c.is_default = true;
        let a = add(&mut s, c.clone(), true).unwrap();
        c.name = "b".into();
        let b = add(&mut s, c, false).unwrap();
        assert!(!s.datasources[0].is_default && s.datasources[1].is_default);
        assert_eq!(delete(&mut s, &a.uid).unwrap_err().status, 403);
        assert_eq!(
            update(&mut s, &a.uid, cmd("a", "")).unwrap_err().status,
            403
        );
        let updated = update(&mut s, &b.uid, cmd("b", "http://prometheus:9090")).unwrap();
        assert_eq!(updated.version, 2);
        assert_eq!(updated.url, "http://prometheus:9090");
        assert_eq!(delete(&mut s, &b.uid).unwrap().id, b.id);
        assert_eq!(delete(&mut s, "nope").unwrap_err().status, 404);
    }

    #[test]
    fn responses_never_carry_secrets() {
        let mut s = State::default();
        let mut c = cmd("p", "http://p:9090");
        c.basic_auth = true;
        c.secure_json_data = Some(BTreeMap::from([(
            "basicAuthPassword".to_string(),
            "hunter2".to_string(),
        )]));
        let ds = add(&mut s, c, false).unwrap();
        let text = format!("{}{}", dto(&ds), list(&s));
        assert!(!text.contains("hunter2"));
        assert_eq!(
            dto(&ds)["secureJsonFields"],
            json!({"basicAuthPassword": true})
        );
        assert_eq!(list(&s)[0]["typeName"], "Prometheus");
    }

    #[test]
    fn urls_are_validated_like_grafana() {
        assert!(validate_url("http://prometheus:9090").is_ok());
        assert!(validate_url("prometheus:9090").is_ok());
        assert!(validate_url("").is_ok());
        assert_eq!(validate_url("http://a b").unwrap_err().status, 400);
    }
}

//! Grafana over HTTP: what its answers mean for the caller.

use crate::model::Endpoint;

/// Why a request with Grafana's credentials is not sent again, or failed: the
/// message for a 401. Names the user and the variable, never the password.
pub fn refusal(ep: &Endpoint, again: bool) -> String {
    let what = if again {
        format!(
            "not asking Grafana at {} again: it refused the password of user `{}` earlier in this run",
            ep.url, ep.user
        )
    } else {
        format!(
            "Grafana at {} refused the password of user `{}` (HTTP 401)",
            ep.url, ep.user
        )
    };
    format!(
        "{what}; lab sends a refused password only once per run, because Grafana locks the account for 5 minutes after 5 failed logins (then even the right password fails): set LAB_GRAFANA_PASSWORD to the password you log in with (admin on a fresh Grafana, or the one you chose when it asked you to change it)"
    )
}

use super::{body_hint, json_answer, segment, Call};
use serde_json::Value;

/// The data source named `name` (`GET /api/datasources/name/:name`), `None` when
/// Grafana has none by that name. A 401 is the refusal above.
pub async fn datasource_by_name(
    call: Call<'_>,
    g: &Endpoint,
    name: &str,
) -> Result<Option<Value>, String> {
    let url = format!("{}/api/datasources/name/{}", g.url, segment(name));
    let (status, body) = call.get(&url, Some(g)).await?;
    match status {
        200 => json_answer(&url, status, &body).map(Some),
        404 => Ok(None),
        401 => Err(refusal(g, false)),
        s => Err(format!("GET {url} answered HTTP {s}{}", body_hint(&body))),
    }
}

/// Saves data source `want`: a new one (`POST /api/datasources`), or `existing`
/// updated by uid (`PUT /api/datasources/uid/:uid`), by id where Grafana has no
/// uid route (9.x answers 404).
pub async fn save_datasource(
    call: Call<'_>,
    g: &Endpoint,
    existing: Option<&Value>,
    want: &Value,
) -> Result<(), String> {
    let mut url = match existing {
        None => format!("{}/api/datasources", g.url),
        Some(have) => format!(
            "{}/api/datasources/uid/{}",
            g.url,
            segment(have["uid"].as_str().unwrap_or_default())
        ),
    };
    let request = |url: &str| match existing {
        None => call.http.post(url).json(want),
        Some(_) => call.http.put(url).json(want),
    };
    let (mut status, mut body) = call.send(request(&url), &url, Some(g)).await?;
    if let (404, Some(id)) = (status, existing.and_then(|h| h["id"].as_i64())) {
        url = format!("{}/api/datasources/{id}", g.url);
        (status, body) = call.send(request(&url), &url, Some(g)).await?;
    }
    match status {
        200 => Ok(()),
        401 => Err(refusal(g, false)),
        s => Err(format!(
            "{} {url} answered HTTP {s}{}",
            if existing.is_some() { "PUT" } else { "POST" },
            body_hint(&body)
        )),
    }
}

/// Saves a dashboard: through the import API with `inputs` filled in (as Grafana's
/// import dialog does), or as it is (`POST /api/dashboards/db`) when `inputs` is `None`.
pub async fn save_dashboard(
    call: Call<'_>,
    g: &Endpoint,
    dashboard: &Value,
    inputs: Option<Vec<Value>>,
) -> Result<(), String> {
    let (url, body) = match inputs {
        Some(inputs) => (
            format!("{}/api/dashboards/import", g.url),
            serde_json::json!({"dashboard": dashboard, "overwrite": true, "inputs": inputs, "folderUid": ""}),
        ),
        None => (
            format!("{}/api/dashboards/db", g.url),
            serde_json::json!({"dashboard": dashboard, "overwrite": true, "folderUid": ""}),
        ),
    };
    let (status, answer) = call
        .send(call.http.post(&url).json(&body), &url, Some(g))
        .await?;
    match status {
        200 => Ok(()),
        401 => Err(refusal(g, false)),
        s => Err(format!(
            "POST {url} answered HTTP {s}{}",
            body_hint(&answer)
        )),
    }
}

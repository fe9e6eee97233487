//! Anchore Enterprise's v2 API: the image list the probes read and the steps wait
//! on, and adding an image.

use super::{base, json_answer, message_of, one_line, rejected, with_query, Call};
use crate::model::Endpoint;
use serde_json::{json, Value};

/// What `GET /v2/images` answered.
#[derive(Debug)]
pub enum Images {
    /// The records (`AnchoreImage`), as the server listed them.
    Items(Vec<Value>),
    /// A tag filter that matched nothing, answered "not found" with this message.
    NoSuchTag(String),
}

/// The images Anchore knows, filtered by `full_tag` when one is given (the server
/// filters; callers match again in case it does not). A 401 names the variable
/// that holds the password.
pub async fn images(call: Call<'_>, ep: &Endpoint, tag: Option<&str>) -> Result<Images, String> {
    let endpoint = format!("{}/v2/images", ep.url);
    let url = match tag {
        Some(tag) => with_query(&endpoint, &[("full_tag", tag)])?,
        None => endpoint,
    };
    let (status, body) = call.get(&url, Some(ep)).await?;
    if status == 401 {
        return Err(rejected("Anchore", &url, ep, "LAB_ANCHORE_PASSWORD"));
    }
    let doc = json_answer(&url, status, &body)?;
    if let (404, Some(_)) = (status, tag) {
        if let Some(msg) = message_of(&doc) {
            return Ok(Images::NoSuchTag(msg));
        }
    }
    if status != 200 {
        let why = message_of(&doc).unwrap_or_else(|| one_line(&body, 100));
        return Err(format!("{} answered HTTP {status}: {why}", base(&url)));
    }
    doc.get("items")
        .and_then(Value::as_array)
        .or_else(|| doc.as_array())
        .map(|items| Images::Items(items.clone()))
        .ok_or_else(|| {
            format!(
                "unexpected answer from {}: {}",
                base(&url),
                one_line(&body, 100)
            )
        })
}

/// The body of `POST /v2/images` (`ImageAnalysisRequest`) that adds `image` by tag.
pub fn add_image_body(image: &str) -> Value {
    json!({"source": {"tag": {"pull_string": image}}})
}

/// Adds `image` for analysis (`POST /v2/images`).
pub async fn add_image(call: Call<'_>, ep: &Endpoint, image: &str) -> Result<(), String> {
    let url = format!("{}/v2/images", ep.url);
    let (status, body) = call
        .send(
            call.http.post(&url).json(&add_image_body(image)),
            &url,
            Some(ep),
        )
        .await?;
    match status {
        200 => Ok(()),
        401 => Err(rejected("Anchore", &url, ep, "LAB_ANCHORE_PASSWORD")),
        s => Err(format!(
            "POST {url} answered HTTP {s}: {}",
            crate::text::clip(&body, 200)
        )),
    }
}

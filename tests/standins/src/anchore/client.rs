//! The services' client for the state owner's internal API (`/internal/...` on the `db` role),
//! the stand-in's equivalent of their database connection.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::events::{Event, Filter, NewEvent, Page};
use super::image::{AnalysisStatus, AnchoreImage, ContentMetadata, ServiceReference};
use super::store::{Counts, NewImage, Registration, Service};

/// Why a call to the owner did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerError {
    /// No HTTP answer (connection refused, timeout, bad body).
    Unreachable(String),
    /// The owner answered with this status and message.
    Status(u16, String),
}

impl std::fmt::Display for OwnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnerError::Unreachable(m) => write!(f, "cannot reach the database: {m}"),
            OwnerError::Status(code, m) => write!(f, "database answered {code}: {m}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddResponse {
    pub image: AnchoreImage,
    pub created: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DequeueResponse {
    pub image: Option<AnchoreImage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransitionRequest {
    pub to: AnalysisStatus,
    pub source: ServiceReference,
    #[serde(default)]
    pub content: Option<ContentMetadata>,
}

/// The owner's error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnerMessage {
    pub message: String,
}

/// The innermost cause of an error ("Connection refused" rather than "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[derive(Clone)]
pub struct OwnerClient {
    base: String,
    http: reqwest::Client,
}

impl OwnerClient {
    pub fn new(base: &str) -> OwnerClient {
        // Short timeouts: the owner is on the same network, and a hung call must not hold an
        // API request or an analyzer poll for long.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        OwnerClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, OwnerError> {
        let resp = req
            .send()
            .await
            .map_err(|e| OwnerError::Unreachable(format!("{} ({})", self.base, root_cause(&e))))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| OwnerError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<OwnerMessage>(&bytes)
                .map(|m| m.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(OwnerError::Status(status.as_u16(), msg));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            OwnerError::Unreachable(format!("unexpected answer from {}: {e}", self.base))
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers (or heartbeats); answers the admin's password the database keeps.
    pub async fn register(&self, reg: &Registration) -> Result<Option<String>, OwnerError> {
        self.send::<serde_json::Value>(self.http.post(self.url("/internal/services")).json(reg))
            .await
            .map(|v| v["admin_password"].as_str().map(str::to_string))
    }

    pub async fn deregister(&self, service_name: &str, host_id: &str) -> Result<(), OwnerError> {
        let url = self.url(&format!("/internal/services/{service_name}/{host_id}"));
        self.send::<serde_json::Value>(self.http.delete(url))
            .await
            .map(|_| ())
    }

    pub async fn services(&self) -> Result<Vec<Service>, OwnerError> {
        self.send(self.http.get(self.url("/internal/services")))
            .await
    }

    pub async fn add_image(&self, new: &NewImage) -> Result<AddResponse, OwnerError> {
        self.send(self.http.post(self.url("/internal/images")).json(new))
            .await
    }

    pub async fn list_images(&self) -> Result<Vec<AnchoreImage>, OwnerError> {
        self.send(self.http.get(self.url("/internal/images"))).await
    }

    pub async fn get_image(&self, digest: &str) -> Result<AnchoreImage, OwnerError> {
        self.send(
            self.http
                .get(self.url(&format!("/internal/images/{digest}"))),
        )
        .await
    }

    pub async fn dequeue(
        &self,
        source: &ServiceReference,
    ) -> Result<Option<AnchoreImage>, OwnerError> {
        let url = self.url("/internal/queues/images_to_analyze/dequeue");
        self.send::<DequeueResponse>(self.http.post(url).json(source))
            .await
            .map(|r| r.image)
    }

    pub async fn transition(
        &self,
        digest: &str,
        req: &TransitionRequest,
    ) -> Result<AnchoreImage, OwnerError> {
        let url = self.url(&format!("/internal/images/{digest}/transition"));
        self.send(self.http.post(url).json(req)).await
    }

    pub async fn counts(&self) -> Result<Counts, OwnerError> {
        self.send(self.http.get(self.url("/internal/counts"))).await
    }

    pub async fn add_event(&self, new: &NewEvent) -> Result<Event, OwnerError> {
        self.send(self.http.post(self.url("/internal/events")).json(new))
            .await
    }

    pub async fn events(&self, f: &Filter) -> Result<Page, OwnerError> {
        self.send(self.http.post(self.url("/internal/events/query")).json(f))
            .await
    }

    pub async fn delete_events(&self, f: &Filter) -> Result<Vec<String>, OwnerError> {
        self.send(self.http.post(self.url("/internal/events/delete")).json(f))
            .await
    }

    pub async fn event(&self, id: &str) -> Result<Event, OwnerError> {
        self.send(self.http.get(self.url(&format!("/internal/events/{id}"))))
            .await
    }

    pub async fn delete_event(&self, id: &str) -> Result<(), OwnerError> {
        self.send::<serde_json::Value>(
            self.http
                .delete(self.url(&format!("/internal/events/{id}"))),
        )
        .await
        .map(|_| ())
    }
}

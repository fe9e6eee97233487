//! A stand-in for Grafana (11.1 by default; 9.5 to 13 by profile, see `profile`) that speaks the HTTP API the course's lab 4 uses, for tests on machines where Grafana cannot be installed.

pub mod auth;
pub mod config;
pub mod dashboards;
pub mod datasources;
pub mod durations;
pub mod frames;
pub mod logfmt;
pub mod profile;
pub mod prometheus;
pub mod provisioning;
pub mod query;
pub mod server;
pub mod store;
pub mod timerange;

/// Reported as `commit` in `/api/health`: the short-hash form Grafana uses, marking the build
/// as the stand-in's rather than pretending to be a real Grafana commit.
pub const GRAFANA_COMMIT: &str = "standin";

/// An HTTP error in Grafana's shape: a status and a JSON body, usually `{"message": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub body: serde_json::Value,
}

impl ApiError {
    /// `{"message": msg}`, the body of Grafana's `response.Error` in production mode.
    pub fn message(status: u16, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: serde_json::json!({ "message": msg.into() }),
        }
    }

    /// The body of Grafana's `errutil` errors: message, messageId and statusCode.
    pub fn coded(status: u16, message_id: &str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: serde_json::json!({
                "message": msg.into(),
                "messageId": message_id,
                "statusCode": status,
            }),
        }
    }

    /// What Grafana answers when a request body does not bind to the expected command.
    pub fn bad_request_data() -> ApiError {
        ApiError::message(400, "bad request data")
    }
}

//! Verifies a stored credential with the daemon's `POST /auth` (what `docker login`
//! does). bollard 0.21 has no call for that endpoint and keeps its generic request
//! path private, so this sends it through bollard's public request modifier: a
//! one-off clone of the connection turns its `GET /_ping` into `POST /auth` with the
//! credential as the body. That keeps every transport bollard speaks (unix socket,
//! TCP, TLS, SSH) and its error handling. If the rewrite ever stopped applying, the
//! answer would be `OK` rather than JSON and is reported as unverifiable, never as
//! a success.

use super::verdict::{classify_auth_error, AuthOutcome};
use crate::engine::creds::{server_address, Credential};
use bollard::Docker;
use std::time::Duration;

pub async fn verify(
    docker: &Docker,
    registry: &str,
    cred: &Credential,
    limit: Duration,
) -> AuthOutcome {
    let mut body = serde_json::json!({
        "username": cred.username,
        "serveraddress": server_address(registry),
    });
    if cred.identity_token {
        body["identitytoken"] = cred.secret.expose().into();
    } else {
        body["password"] = cred.secret.expose().into();
    }
    let payload = body.to_string().into_bytes();
    let auth = docker.clone().with_request_modifier(move |mut req| {
        let uri = req.uri().to_string();
        if let Some(prefix) = uri.strip_suffix("/_ping") {
            if let (Ok(u), Ok(m)) = (format!("{prefix}/auth").parse(), "POST".parse()) {
                *req.uri_mut() = u;
                *req.method_mut() = m;
                *req.body_mut() = bollard::body_full(payload.clone().into());
            }
        }
        req
    });
    let secret = cred.secret.expose().to_string();
    // Nothing a registry says should echo a secret, but make sure nothing shown does.
    let redact = |m: &str| {
        if secret.is_empty() {
            m.to_string()
        } else {
            m.replace(&secret, "***")
        }
    };
    match tokio::time::timeout(limit, auth.ping()).await {
        Err(_) => AuthOutcome::Unverified(format!(
            "the Docker engine gave no answer within {}",
            crate::model::format_duration(limit)
        )),
        Ok(Ok(answer)) => judge_answer(&redact(&answer)),
        Ok(Err(bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        })) => classify_auth_error(status_code, &redact(&message)),
        Ok(Err(e)) => AuthOutcome::Unverified(redact(&crate::engine::docker::short(&e))),
    }
}

/// A 2xx answer: `{"Status":"Login Succeeded",...}` is the only success.
pub fn judge_answer(body: &str) -> AuthOutcome {
    let status = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("Status").and_then(|s| s.as_str()).map(str::to_string));
    match status {
        Some(s) if s.to_lowercase().contains("login succeeded") => AuthOutcome::Accepted,
        Some(s) => {
            AuthOutcome::Unverified(format!("unexpected answer from the auth endpoint: {s}"))
        }
        None => AuthOutcome::Unverified(format!(
            "unexpected answer from the auth endpoint: {}",
            crate::text::clip(body.trim(), 80)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_login_succeeded_is_a_success() {
        assert_eq!(
            judge_answer(r#"{"IdentityToken":"","Status":"Login Succeeded"}"#),
            AuthOutcome::Accepted
        );
        assert!(matches!(judge_answer("OK"), AuthOutcome::Unverified(m) if m.contains("OK")));
        assert!(matches!(
            judge_answer(r#"{"Status":"Maybe"}"#),
            AuthOutcome::Unverified(_)
        ));
    }
}

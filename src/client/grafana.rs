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

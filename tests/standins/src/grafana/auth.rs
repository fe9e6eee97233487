//! HTTP Basic authentication against the admin user, answering failures with Grafana's JSON bodies.

use axum::http::HeaderMap;
use base64::Engine;

use super::store::AdminUser;
use super::ApiError;

/// The signed-in user's login, put in request and response extensions for handlers and the log.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn(pub String);

/// `(user, password)` from an `Authorization: Basic …` header, if there is a well-formed one.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Checks a request's credentials: no (usable) credentials and wrong ones get Grafana's two different 401 bodies.
pub fn authenticate(headers: &HeaderMap, admin: &AdminUser) -> Result<SignedIn, ApiError> {
    let Some((user, pass)) = basic_credentials(headers) else {
        return Err(ApiError::coded(401, "auth.unauthorized", "Unauthorized"));
    };
    if admin.verify(&user, &pass) {
        Ok(SignedIn(admin.login.clone()))
    } else {
        Err(ApiError::coded(
            401,
            "password-auth.failed",
            "Invalid username or password",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn basic_auth_is_checked() {
        let admin = AdminUser::new("admin", "admin");
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:admin")
        );
        assert_eq!(
            authenticate(&with_auth(&good), &admin).unwrap(),
            SignedIn("admin".into())
        );
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:wrong")
        );
        let e = authenticate(&with_auth(&bad), &admin).unwrap_err();
        assert_eq!(e.status, 401);
        assert_eq!(e.body["message"], "Invalid username or password");
        let none = authenticate(&HeaderMap::new(), &admin).unwrap_err();
        assert_eq!(none.body["message"], "Unauthorized");
        assert!(basic_credentials(&with_auth("Basic %%%")).is_none());
        assert!(basic_credentials(&with_auth("Bearer abc")).is_none());
    }
}

//! HTTP Basic authentication as the Anchore API does it for the stand-in: user `admin` with
//! `ANCHORE_ADMIN_PASSWORD`.

use base64::Engine;

pub const ADMIN_USER: &str = "admin";

/// Decodes an `Authorization: Basic …` header value into (user, password); `None` for any other
/// scheme or malformed content.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The header value for a user and password.
pub fn basic_header(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Whether the header authenticates the admin. With no configured password nothing does, so a
/// missing `ANCHORE_ADMIN_PASSWORD` cannot open the API to an empty password.
pub fn is_admin(header: Option<&str>, admin_password: Option<&str>) -> bool {
    let (Some(header), Some(expected)) = (header, admin_password) else {
        return false;
    };
    match parse_basic(header) {
        Some((user, password)) => user == ADMIN_USER && password == expected,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks() {
        let h = basic_header("admin", "foobar");
        assert_eq!(h, "Basic YWRtaW46Zm9vYmFy");
        assert_eq!(parse_basic(&h), Some(("admin".into(), "foobar".into())));
        assert!(is_admin(Some(&h), Some("foobar")));
        assert!(!is_admin(Some(&h), Some("other")));
        assert!(!is_admin(
            Some(&basic_header("bob", "foobar")),
            Some("foobar")
        ));
        assert!(!is_admin(None, Some("foobar")));
        assert!(!is_admin(Some(&basic_header("admin", "")), None));
    }

    #[test]
    fn passwords_may_contain_colons_and_schemes_are_case_insensitive() {
        let h = basic_header("admin", "a:b:c").replace("Basic", "basic");
        assert_eq!(parse_basic(&h), Some(("admin".into(), "a:b:c".into())));
    }

    #[test]
    fn rejects_malformed_headers() {
        for bad in [
            "",
            "Basic",
            "Basic !!!",
            "Bearer YWRtaW46Zm9vYmFy",
            "Basic YWRtaW4=",
            "Basic /w==",
        ] {
            assert_eq!(parse_basic(bad), None, "{bad:?}");
        }
    }
}

//! What the live views (`report::live`, `report::metrics`, `report::page`) pass every
//! shown text through: URLs without their userinfo (`http://user:password@host` shows
//! as `http://host`) and no control characters (a server's or a trainee's text
//! cannot drive the terminal), and every secret `lab` knows masked: a thin name for
//! [`crate::redact::clean`].

use std::borrow::Cow;

/// Through the one redaction layer ([`crate::redact::clean`]): every registered
/// secret and its encodings masked too.
pub fn redact(s: &str) -> Cow<'_, str> {
    let clean = crate::redact::clean(s);
    if clean == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(clean)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn userinfo_and_control_characters_go() {
        assert_eq!(
            redact("GET http://admin:s3cret@10.0.0.5:9090/api failed"),
            "GET http://10.0.0.5:9090/api failed"
        );
        assert_eq!(redact("a\x1b[2Jb\nc"), "a[2Jb\nc");
        assert_eq!(redact("mail me: a@b.c"), "mail me: a@b.c");
    }
}

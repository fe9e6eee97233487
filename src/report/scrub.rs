//! What the live views (`report::live`, `report::metrics`, `report::page`) pass every
//! shown text through: URLs without their userinfo (`http://user:password@host` shows
//! as `http://host`) and no control characters (a server's or a trainee's text
//! cannot drive the terminal).

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s]+@").expect("static regex")
});

pub fn redact(s: &str) -> Cow<'_, str> {
    let clean = if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        Cow::Owned(
            s.chars()
                .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    };
    if !clean.contains('@') {
        return clean;
    }
    match USERINFO.replace_all(&clean, "$1") {
        Cow::Borrowed(_) => clean,
        Cow::Owned(o) => Cow::Owned(o),
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

//! Redaction: the one place secrets are taken out of text before it leaves the
//! process (terminal, JSON, JUnit, Markdown, CSV, gradebooks, bundles, logs, files).
//!
//! How to use it:
//! - Where a secret is read (a password from the environment, the roster or a compose
//!   file, the course key, a URL's userinfo), call [`register`] (or
//!   [`register_credentials`] when a user name goes with it). `Endpoint::new` (in the
//!   model) does it for every endpoint, so most code needs nothing.
//! - Where text leaves the process, pass it through [`text`] (rendered output) or
//!   [`clean`] (untrusted text from a server, a log, a trainee: also stripped of
//!   control characters, so it cannot drive a terminal or break Markdown).
//! - Server bodies go through [`body`] before they are kept: clipped, then cleaned.
//!
//! Each secret is also removed in the encodings it travels in: percent-encoded,
//! base64 of `user:password` (what an `Authorization: Basic` header holds, which a
//! server may echo), base64 of the secret alone, and JSON- and XML-escaped. URLs are
//! shown without their userinfo. The course's documented defaults (`foobar`,
//! `admin`) are public, printed in the README, and not treated as secrets.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use std::sync::{LazyLock, RwLock};

/// What a secret becomes.
pub const MASK: &str = "***";
/// Passwords the course documents (the quickstart's and Grafana's defaults).
const PUBLIC: [&str; 2] = ["foobar", "admin"];
/// Shorter values are not masked: masking every `ab` in the output would hide more
/// than it protects, and `lab` refuses nothing shorter as a course key anyway.
const MIN_LEN: usize = 3;

struct Registry {
    patterns: Vec<String>,
    matcher: Option<AhoCorasick>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    RwLock::new(Registry {
        patterns: Vec::new(),
        matcher: None,
    })
});

static USERINFO: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@?#]*)@").expect("static regex")
});

/// The variables that hold secrets `lab` reads (a roster names more; they are
/// registered as they are read).
pub const SECRET_VARS: [&str; 4] = [
    "LAB_ANCHORE_PASSWORD",
    "ANCHORECTL_PASSWORD",
    "LAB_GRAFANA_PASSWORD",
    "LAB_COURSE_KEY",
];

/// Registers the secrets of [`SECRET_VARS`] that are set; `main` calls it first.
pub fn register_from_env() {
    for v in SECRET_VARS {
        if let Ok(s) = std::env::var(v) {
            register(s.trim());
        }
    }
}

/// Marks `secret` (and its encodings) as never to be shown.
pub fn register(secret: &str) {
    register_with(None, secret);
}

/// Marks `password` as secret, with the encodings of `user:password` too.
pub fn register_credentials(user: &str, password: &str) {
    register_with(Some(user), password);
}

fn register_with(user: Option<&str>, secret: &str) {
    if secret.chars().count() < MIN_LEN || PUBLIC.contains(&secret) {
        return;
    }
    let mut forms = encodings(secret);
    if let Some(user) = user {
        let pair = format!("{user}:{secret}");
        forms.extend(base64_forms(pair.as_bytes()));
    }
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let before = reg.patterns.len();
    for f in forms {
        if f.len() >= MIN_LEN && !reg.patterns.contains(&f) {
            reg.patterns.push(f);
        }
    }
    if reg.patterns.len() != before {
        reg.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&reg.patterns)
            .ok();
    }
}

/// The forms a secret can take in output.
fn encodings(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    let pct: String =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    forms.push(pct.clone());
    forms.push(pct.replace("%20", "+"));
    // Lower-case hex, as some clients write it.
    forms.push(lower_hex(&pct));
    let json = serde_json::to_string(secret).unwrap_or_default();
    forms.push(json.trim_matches('"').to_string());
    forms.push(
        secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;"),
    );
    forms.extend(base64_forms(secret.as_bytes()));
    forms.sort();
    forms.dedup();
    forms
}

fn lower_hex(pct: &str) -> String {
    let mut out = String::with_capacity(pct.len());
    let mut hex_left = 0;
    for c in pct.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn base64_forms(bytes: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    vec![
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
    ]
}

/// `s` with every registered secret masked and URLs without their userinfo.
pub fn text(s: &str) -> String {
    let s = without_userinfo(s);
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    match &reg.matcher {
        Some(m) => m.replace_all(&s, &vec![MASK; reg.patterns.len()]),
        None => s.into_owned(),
    }
}

/// `url` without its userinfo (`http://user:pw@host/` becomes `http://host/`).
pub fn url(u: &str) -> String {
    without_userinfo(u).into_owned()
}

/// An HTTP URL loses its whole userinfo (a lone name may be a token); other
/// schemes (`ssh://alice@host`) only a `:password`.
fn without_userinfo(s: &str) -> std::borrow::Cow<'_, str> {
    USERINFO.replace_all(s, |c: &regex::Captures| {
        let scheme = &c[1];
        let info = &c[2];
        if scheme.to_ascii_lowercase().starts_with("http") {
            scheme.to_string()
        } else if let Some((user, _)) = info.split_once(':') {
            format!("{scheme}{user}@")
        } else {
            format!("{scheme}{info}@")
        }
    })
}

/// Untrusted text made fit to show: [`text`], then control characters removed
/// (newlines and tabs kept).
pub fn clean(s: &str) -> String {
    strip_controls(&text(s))
}

/// Untrusted text for one line: [`clean`], and newlines and tabs turned into spaces.
pub fn clean_line(s: &str) -> String {
    clean(s)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect()
}

/// Control characters (C0 but newline and tab, DEL, C1, and the bidirectional
/// overrides that reorder what a terminal shows) removed.
pub fn strip_controls(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            c == '\n'
                || c == '\t'
                || !(c.is_control()
                    || ('\u{202a}'..='\u{202e}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c))
        })
        .collect()
}

/// How much of a server's body is kept for messages.
pub const BODY_KEEP: usize = 2048;

/// A server's body as it may be kept: cut to [`BODY_KEEP`] bytes (at a character
/// boundary), then cleaned.
pub fn body(b: &str) -> String {
    let mut end = b.len().min(BODY_KEEP);
    while !b.is_char_boundary(end) {
        end -= 1;
    }
    clean(&b[..end])
}

/// Every string in a JSON value, redacted in place (keys too).
pub fn json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => *s = text(s),
        Value::Array(a) => a.iter_mut().for_each(json),
        Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut x) in old {
                json(&mut x);
                o.insert(text(&k), x);
            }
        }
        _ => {}
    }
}

/// Prints rendered output on stdout, redacted (a closed pipe is not an error).
pub fn print(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text(s).as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn secrets_and_their_encodings_are_masked() {
        register_credentials("admin", "Canary-red4ct%pw!");
        let b64 = STANDARD.encode("admin:Canary-red4ct%pw!");
        let pct = "Canary%2Dred4ct%25pw%21";
        for leak in [
            "Canary-red4ct%pw!".to_string(),
            b64.clone(),
            format!("Basic {b64}"),
            pct.to_string(),
            "Canary%2dred4ct%25pw%21".to_string(),
        ] {
            let out = text(&format!("server said: {leak} (end)"));
            assert!(
                !out.contains("Canary-red4ct") && !out.contains(&b64),
                "{out}"
            );
            assert!(out.contains(MASK), "{out}");
        }
    }

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            url("see http://admin:pw@host:8228/v2?x=1 and https://tok@h/"),
            "see http://host:8228/v2?x=1 and https://h/"
        );
        assert_eq!(text("http://host/a@b"), "http://host/a@b");
        assert_eq!(text("mail me@example.org"), "mail me@example.org");
        assert_eq!(text("ssh://alice@lab-7"), "ssh://alice@lab-7");
        assert_eq!(text("tcp://alice:pw@lab-7"), "tcp://alice@lab-7");
    }

    #[test]
    fn public_defaults_and_short_values_are_left_alone() {
        register("admin");
        register("ab");
        assert_eq!(text("user admin, ab"), "user admin, ab");
    }

    #[test]
    fn control_characters_are_stripped() {
        assert_eq!(
            clean("al\u{1b}[2Jice\u{7}\u{202e}x\r\ny\tz"),
            "al[2Jicex\ny\tz"
        );
        assert_eq!(clean_line("a\nb\tc"), "a b c");
    }

    #[test]
    fn bodies_are_clipped_at_a_character_boundary() {
        let long = "é".repeat(BODY_KEEP);
        let b = body(&long);
        assert!(b.len() <= BODY_KEEP && b.chars().all(|c| c == 'é'));
    }

    #[test]
    fn json_values_are_redacted_in_place() {
        register("Json-canary-9");
        let mut v = serde_json::json!({"a": ["x Json-canary-9"], "Json-canary-9": 1});
        json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x ***"], "***": 1}));
    }
}

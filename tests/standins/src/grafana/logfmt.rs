//! Grafana-style logfmt lines (`logger=context t=… level=info msg="Request Completed" …`) written to stdout.
//!
//! Callers pass only values they chose to log; nothing here sees headers or bodies, so
//! passwords and `Authorization` values cannot reach the log by accident.

use std::io::Write;

use super::timerange;

/// Quotes a value when logfmt needs it (spaces, quotes, `=`), escaping like Go's `%q`.
pub fn value(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control())
    {
        return v.to_string();
    }
    if v.is_empty() {
        return String::new();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One line: `logger=<logger> t=<now> level=<level> msg=<msg>` then the given pairs.
pub fn line(logger: &str, level: &str, msg: &str, pairs: &[(&str, String)]) -> String {
    let mut out = format!(
        "logger={} t={} level={} msg={}",
        value(logger),
        timerange::rfc3339_ms(timerange::now_ms()),
        level,
        value(msg)
    );
    for (k, v) in pairs {
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&value(v));
    }
    out
}

/// Writes a line to stdout; a closed stdout must not take the server down, so errors are dropped.
pub fn emit(logger: &str, level: &str, msg: &str, pairs: &[(&str, String)]) {
    let text = line(logger, level, msg, pairs);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_only_when_needed() {
        assert_eq!(value("/api/health"), "/api/health");
        assert_eq!(value(""), "");
        assert_eq!(value("Request Completed"), "\"Request Completed\"");
        assert_eq!(value("a=\"b\""), "\"a=\\\"b\\\"\"");
    }

    #[test]
    fn a_line_has_logger_time_level_and_pairs() {
        let l = line(
            "context",
            "info",
            "Request Completed",
            &[
                ("method", "GET".into()),
                ("path", "/api/health".into()),
                ("status", "200".into()),
                ("referer", String::new()),
            ],
        );
        assert!(l.starts_with("logger=context t="), "{l}");
        assert!(
            l.ends_with(
                "level=info msg=\"Request Completed\" method=GET path=/api/health status=200 referer="
            ),
            "{l}"
        );
    }
}

//! Writes log lines to stdout in Anchore Enterprise's format, filtered by `ANCHORE_LOG_LEVEL`.
//!
//! The format is the course's sample (FACTS.md §8.1):
//! `[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | message`.
//! Lines go to stdout because the course reads them with `docker logs … | grep`, which only
//! pipes the container's stdout.

use std::io::Write;
use std::sync::OnceLock;
use std::time::SystemTime;

use super::clock;

/// Log levels in increasing severity; Anchore's logger also has SPEW below DEBUG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Spew,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// Parses an `ANCHORE_LOG_LEVEL` value (case-insensitive; `WARNING` and `CRITICAL` too).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_uppercase().as_str() {
            "SPEW" => Some(Level::Spew),
            "DEBUG" => Some(Level::Debug),
            "INFO" => Some(Level::Info),
            "WARN" | "WARNING" => Some(Level::Warn),
            "ERROR" => Some(Level::Error),
            "FATAL" | "CRITICAL" => Some(Level::Fatal),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Spew => "SPEW",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }
}

/// One formatted line, without the trailing newline.
pub fn format_line(
    service: &str,
    at: SystemTime,
    thread: &str,
    level: Level,
    location: &str,
    message: &str,
) -> String {
    format!(
        "[service:{service}] [{}] [MainProcess] [{thread}] [{}] [{location}] | {message}",
        clock::log_timestamp(at),
        level.as_str()
    )
}

/// A parsed log line; graders and tests use it to follow one analysis by its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub service: &'a str,
    pub timestamp: &'a str,
    pub thread: &'a str,
    pub level: &'a str,
    pub location: &'a str,
    pub message: &'a str,
}

/// Splits a line written by [`format_line`]; `None` when it is not in that format.
pub fn parse_line(line: &str) -> Option<Line<'_>> {
    let rest = line.strip_prefix("[service:")?;
    let (service, rest) = rest.split_once("] [")?;
    let (timestamp, rest) = rest.split_once("] [")?;
    let (_process, rest) = rest.split_once("] [")?;
    let (thread, rest) = rest.split_once("] [")?;
    let (level, rest) = rest.split_once("] [")?;
    let (location, message) = rest.split_once("] | ")?;
    Some(Line {
        service,
        timestamp,
        thread,
        level,
        location,
        message,
    })
}

struct Logger {
    service: String,
    min: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the service name (`anchore-enterprise-<role>`) and minimum level for this process.
/// Only the first call counts.
pub fn init(service: &str, min: Level) {
    let _ = LOGGER.set(Logger {
        service: service.to_string(),
        min,
    });
}

/// Whether a line at this level would be written.
pub fn enabled(level: Level) -> bool {
    LOGGER.get().is_some_and(|l| level >= l.min)
}

/// Writes one line now. Write errors (a closed stdout) are ignored: logging must never take
/// a service down.
pub fn log(thread: &str, level: Level, location: &str, message: &str) {
    let Some(logger) = LOGGER.get() else { return };
    if level < logger.min {
        return;
    }
    let line = format_line(
        &logger.service,
        SystemTime::now(),
        thread,
        level,
        location,
        message,
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub fn info(thread: &str, location: &str, message: &str) {
    log(thread, Level::Info, location, message);
}

pub fn warn(thread: &str, location: &str, message: &str) {
    log(thread, Level::Warn, location, message);
}

pub fn error(thread: &str, location: &str, message: &str) {
    log(thread, Level::Error, location, message);
}

pub fn debug(thread: &str, location: &str, message: &str) {
    log(thread, Level::Debug, location, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_the_course_sample_line() {
        let at = UNIX_EPOCH + Duration::from_micros(1_723_985_953_476_831);
        let line = format_line(
            "anchore-enterprise-analyzer",
            at,
            "Thread-55181",
            Level::Info,
            "anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415",
            "image dequeued for analysis: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b",
        );
        assert_eq!(
            line,
            "[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b"
        );
        let parsed = parse_line(&line).unwrap();
        assert_eq!(parsed.thread, "Thread-55181");
        assert_eq!(parsed.level, "INFO");
        assert_eq!(parsed.timestamp, "2024-08-18T12:59:13.476831+00:00");
        assert!(parsed.location.ends_with("process_analyzer_job():415"));
        assert!(parsed
            .message
            .starts_with("image dequeued for analysis: admin : sha256:"));
    }

    #[test]
    fn message_may_contain_brackets_and_bars() {
        let line = format_line("s", UNIX_EPOCH, "T", Level::Error, "m/f():1", "a] | [b");
        assert_eq!(parse_line(&line).unwrap().message, "a] | [b");
        assert_eq!(parse_line("not a log line"), None);
    }

    #[test]
    fn parses_levels() {
        assert_eq!(Level::parse("info"), Some(Level::Info));
        assert_eq!(Level::parse(" WARNING "), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Debug < Level::Info && Level::Info < Level::Error);
    }
}

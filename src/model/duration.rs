//! Durations as lab files write them: `500ms`, `5s`, `2m`, `1m30s`, `1h`.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A duration read from a lab file; deserializes from strings such as `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }
}

/// Parses `1m30s`, `500ms`, `2.5s`, `79s`, `1h`. No spaces, at least one unit.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total = 0f64;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number: f64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let factor = match &s[ustart..i] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * factor;
    }
    if !total.is_finite() || !(0.0..=1e9).contains(&total) {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// Formats a duration the way `parse_duration` reads it, rounded to milliseconds.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        let s = format!("{secs:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{s}s");
    }
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 500ms, 5s, 2m or 1m30s")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).ok_or_else(|| {
                    E::custom(format!(
                        "invalid duration \"{v}\" (write it as 500ms, 5s, 2m or 1m30s)"
                    ))
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: give a unit, e.g. \"{v}s\""
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: give a unit, e.g. \"{v}s\""
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: give a unit, e.g. \"{v}s\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_lab_files_use() {
        let cases = [
            ("500ms", 0.5),
            ("5s", 5.0),
            ("2m", 120.0),
            ("1m30s", 90.0),
            ("1m19s", 79.0),
            ("1h", 3600.0),
            ("2.5s", 2.5),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_spaces_missing_units_and_unknown_units() {
        for bad in ["5 sec", "5", "", "s", "5x", "1m 30s", "-5s", "5sec"] {
            assert_eq!(parse_duration(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["500ms", "5s", "2m", "1m30s", "1h", "1h1m1s", "2.5s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
    }
}

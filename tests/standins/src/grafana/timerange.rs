//! Parsing of `/api/ds/query` `from`/`to` values as Grafana's SDK does it, plus UTC calendar arithmetic.
//!
//! Grafana accepts epoch milliseconds, a bare Go duration meaning "that long ago", and
//! datemath (`now`, `now-1h`, `now-1d/d`). A value it cannot parse silently becomes the
//! Unix epoch (`MustGetFrom`), so a bad range yields an empty answer, not an error.

use super::durations;

/// Milliseconds in each fixed unit datemath knows.
const UNIT_MS: &[(&str, i64)] = &[
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// One end of a time range; `round_up` is true for `to`, so `now/d` means the end of today.
pub fn parse_time(raw: &str, now_ms: i64, round_up: bool) -> Option<i64> {
    let s = raw.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    if let Some(ns) = durations::parse_go(&format!("-{s}")) {
        return Some(now_ms + ns / durations::MS);
    }
    datemath(s, now_ms, round_up)
}

/// Both ends, each falling back to the epoch when unparsable, as Grafana's query service does.
pub fn resolve_range(from: &str, to: &str, now_ms: i64) -> (i64, i64) {
    (
        parse_time(from, now_ms, false).unwrap_or(0),
        parse_time(to, now_ms, true).unwrap_or(0),
    )
}

fn datemath(s: &str, now_ms: i64, round_up: bool) -> Option<i64> {
    let mut rest = s.strip_prefix("now")?;
    let mut t = now_ms;
    while !rest.is_empty() {
        let op = rest.chars().next()?;
        rest = &rest[op.len_utf8()..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(digits);
        let unit_len = after.chars().next()?.len_utf8();
        let (unit, after) = after.split_at(unit_len);
        rest = after;
        match op {
            '+' | '-' => {
                let n: i64 = if num.is_empty() { 1 } else { num.parse().ok()? };
                let n = if op == '-' { -n } else { n };
                t = add_unit(t, n, unit)?;
            }
            '/' if num.is_empty() => t = round(t, unit, round_up)?,
            _ => return None,
        }
    }
    Some(t)
}

fn add_unit(t: i64, n: i64, unit: &str) -> Option<i64> {
    match unit {
        "M" => add_months(t, n),
        "y" => add_months(t, n.checked_mul(12)?),
        _ => {
            let per = UNIT_MS.iter().find(|(u, _)| *u == unit)?.1;
            t.checked_add(n.checked_mul(per)?)
        }
    }
}

/// Rounds down to the start of the unit, or with `up` to its last millisecond. Weeks start
/// on Monday, the datemath library's default.
fn round(t: i64, unit: &str, up: bool) -> Option<i64> {
    let (y, m, _, _, _, _) = civil_from_ms(t);
    let days = t.div_euclid(86_400_000);
    let start = match unit {
        "s" | "m" | "h" | "d" => {
            let per = UNIT_MS.iter().find(|(u, _)| *u == unit)?.1;
            t.div_euclid(per) * per
        }
        // 1970-01-01 was a Thursday: days since the last Monday is (days + 3) mod 7.
        "w" => (days - (days + 3).rem_euclid(7)) * 86_400_000,
        "M" => ms_from_civil(y, m, 1),
        "y" => ms_from_civil(y, 1, 1),
        _ => return None,
    };
    if !up {
        return Some(start);
    }
    let next = match unit {
        "M" => add_months(start, 1)?,
        "y" => add_months(start, 12)?,
        _ => start + UNIT_MS.iter().find(|(u, _)| *u == unit)?.1,
    };
    Some(next - 1)
}

/// Adds calendar months, normalising an overflowing day the way Go's `AddDate` does;
/// `None` beyond a million years either way, where the arithmetic could overflow.
pub fn add_months(t: i64, months: i64) -> Option<i64> {
    const LIMIT: i64 = 12_000_000;
    if !(-LIMIT..=LIMIT).contains(&months) {
        return None;
    }
    let (y, m, d, hh, mm, ss) = civil_from_ms(t);
    let frac = t.rem_euclid(1_000);
    let total = y * 12 + (m - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    Some(
        ms_from_civil(ny, nm, 1)
            + (d - 1) * 86_400_000
            + hh * 3_600_000
            + mm * 60_000
            + ss * 1_000
            + frac,
    )
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn ms_from_civil(y: i64, m: i64, d: i64) -> i64 {
    days_from_civil(y, m, d) * 86_400_000
}

/// (year, month, day, hour, minute, second) in UTC for epoch milliseconds.
pub fn civil_from_ms(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400_000);
    let in_day = t.rem_euclid(86_400_000) / 1_000;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, in_day / 3_600, in_day % 3_600 / 60, in_day % 60)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2024-08-18T12:59:13.476Z`.
pub fn rfc3339_ms(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_ms(t);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        t.rem_euclid(1_000)
    )
}

/// RFC 3339 in UTC to the second, the form Grafana uses for `created`/`updated`.
pub fn rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_ms(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-08-18T12:59:13.476Z, a Sunday.
    const NOW: i64 = 1_723_985_953_476;

    #[test]
    fn relative_and_absolute_times() {
        assert_eq!(parse_time("now", NOW, false), Some(NOW));
        assert_eq!(parse_time("now-1h", NOW, false), Some(NOW - 3_600_000));
        assert_eq!(parse_time("now-5m", NOW, false), Some(NOW - 300_000));
        assert_eq!(parse_time("now+2d", NOW, false), Some(NOW + 172_800_000));
        assert_eq!(parse_time("1723985953476", NOW, false), Some(NOW));
        // A bare Go duration means that long ago.
        assert_eq!(parse_time("30m", NOW, false), Some(NOW - 1_800_000));
    }

    #[test]
    fn rounding_to_units() {
        let day_start = ms_from_civil(2024, 8, 18);
        assert_eq!(parse_time("now/d", NOW, false), Some(day_start));
        assert_eq!(
            parse_time("now/d", NOW, true),
            Some(day_start + 86_400_000 - 1)
        );
        assert_eq!(
            parse_time("now-1d/d", NOW, false),
            Some(day_start - 86_400_000)
        );
        assert_eq!(
            parse_time("now/w", NOW, false),
            Some(ms_from_civil(2024, 8, 12))
        );
        assert_eq!(
            parse_time("now/M", NOW, false),
            Some(ms_from_civil(2024, 8, 1))
        );
        assert_eq!(
            parse_time("now-1M", NOW, false),
            Some(NOW - 31 * 86_400_000)
        );
    }

    #[test]
    fn unparsable_values_become_the_epoch() {
        assert_eq!(parse_time("yesterday", NOW, false), None);
        assert_eq!(parse_time("now-", NOW, false), None);
        assert_eq!(parse_time("now-1q", NOW, false), None);
        assert_eq!(parse_time("now€", NOW, false), None);
        assert_eq!(parse_time("now-1€", NOW, false), None);
        assert_eq!(parse_time("now-99999999999999999y", NOW, false), None);
        assert_eq!(parse_time("now-99999999999999999M", NOW, false), None);
        assert_eq!(parse_time("now+99999999999999999d", NOW, false), None);
        assert_eq!(resolve_range("garbage", "now", NOW), (0, NOW));
        assert_eq!(resolve_range("", "", NOW), (0, 0));
    }

    #[test]
    fn calendar_round_trip_and_formatting() {
        assert_eq!(civil_from_ms(NOW), (2024, 8, 18, 12, 59, 13));
        assert_eq!(rfc3339_ms(NOW), "2024-08-18T12:59:13.476Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // Jan 31 + 1 month overflows into March, as Go's AddDate does.
        let jan31 = ms_from_civil(2023, 1, 31);
        assert_eq!(add_months(jan31, 1), Some(ms_from_civil(2023, 3, 3)));
    }
}

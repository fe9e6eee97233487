//! Go and Grafana duration parsing and formatting, in nanoseconds, as Grafana's Go code does them.
//!
//! The strings matter: `$__rate_interval` is replaced with Go's `time.Duration.String()`
//! (`1m0s`, not `1m`), `$__interval` with Grafana's `FormatInterval` (`15s`), and the
//! executed query string shows `Step: 15s`. Matching them lets a test compare the PromQL
//! the stand-in sends with what a real Grafana would send.

pub const NS: i64 = 1;
pub const US: i64 = 1_000;
pub const MS: i64 = 1_000_000;
pub const SEC: i64 = 1_000_000_000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

/// Parses a Go `time.ParseDuration` string ("1m0s", "1.5h", "300ms", "-2s"); `None` when invalid.
pub fn parse_go(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => NS,
            "us" | "µs" | "μs" => US,
            "ms" => MS,
            "s" => SEC,
            "m" => MIN,
            "h" => HOUR,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * unit as f64;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// Grafana's `gtime.ParseDuration`: Go durations plus whole `d`, `w`, `M` (a twelfth of a
/// Julian year) and `y` units.
pub fn parse_grafana(s: &str) -> Option<i64> {
    let (unit_at, _) = s.char_indices().last()?;
    let (digits, unit) = s.split_at(unit_at);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = digits.parse().ok()?;
        let year = (DAY as f64 * 365.25) as i64;
        let per = match unit {
            "d" => Some(DAY),
            "w" => Some(7 * DAY),
            "M" => Some(year / 12),
            "y" => Some(year),
            _ => None,
        };
        if let Some(per) = per {
            return n.checked_mul(per);
        }
    }
    parse_go(s)
}

/// Grafana's `ParseIntervalStringToTimeDuration`: strips `<` and `>` and reads a bare number as seconds.
pub fn parse_interval_string(s: &str) -> Option<i64> {
    let trimmed = s.replacen('<', "", 1).replacen('>', "", 1);
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return parse_grafana(&format!("{trimmed}s"));
    }
    parse_grafana(&trimmed)
}

/// Go's `time.Duration.String()`.
pub fn go_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < SEC as u64 {
        // Sub-second durations use the largest unit that keeps a non-zero integer part.
        let (div, unit) = if u < US as u64 {
            (1u64, "ns")
        } else if u < MS as u64 {
            (US as u64, "µs")
        } else {
            (MS as u64, "ms")
        };
        out.push_str(&fraction(u, div));
        out.push_str(unit);
    } else {
        let hours = u / HOUR as u64;
        let rem = u % HOUR as u64;
        let mins = rem / MIN as u64;
        let secs_ns = rem % MIN as u64;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if hours > 0 || mins > 0 {
            out.push_str(&format!("{mins}m"));
        }
        out.push_str(&fraction(secs_ns, SEC as u64));
        out.push('s');
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

/// `value / div` printed with the trailing zeros of the fraction removed, as Go does.
fn fraction(value: u64, div: u64) -> String {
    let whole = value / div;
    let frac = value % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Grafana's `gtime.FormatInterval`: the largest whole unit, as used for `$__interval`.
pub fn format_interval(ns: i64) -> String {
    let year = 365 * DAY;
    if ns >= year {
        format!("{}y", ns / year)
    } else if ns >= DAY {
        format!("{}d", ns / DAY)
    } else if ns >= HOUR {
        format!("{}h", ns / HOUR)
    } else if ns >= MIN {
        format!("{}m", ns / MIN)
    } else if ns >= SEC {
        format!("{}s", ns / SEC)
    } else if ns >= MS {
        format!("{}ms", ns / MS)
    } else {
        "1ms".into()
    }
}

/// Grafana's `gtime.RoundInterval`: a predetermined, rounder duration no larger than asked.
pub fn round_interval(ns: i64) -> i64 {
    // (upper bound in ms, result in ms), checked in order, as in the SDK's switch.
    const TABLE: &[(i64, i64)] = &[
        (10, 1),
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1_500, 1_000),
        (3_500, 2_000),
        (7_500, 5_000),
        (12_500, 10_000),
        (17_500, 15_000),
        (25_000, 20_000),
        (45_000, 30_000),
        (90_000, 60_000),
        (210_000, 120_000),
        (450_000, 300_000),
        (750_000, 600_000),
        (1_050_000, 900_000),
        (1_500_000, 1_200_000),
        (2_700_000, 1_800_000),
        (5_400_000, 3_600_000),
        (9_000_000, 7_200_000),
        (16_200_000, 10_800_000),
        (32_400_000, 21_600_000),
        (86_400_000, 43_200_000),
        (172_800_000, 86_400_000),
        (604_800_000, 86_400_000),
        (1_814_400_000, 604_800_000),
    ];
    for &(bound, result) in TABLE {
        if ns <= bound * MS {
            return result * MS;
        }
    }
    if ns < 3_628_800_000 * MS {
        2_592_000_000 * MS
    } else {
        31_536_000_000 * MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_strings_match_go() {
        assert_eq!(go_string(60 * SEC), "1m0s");
        assert_eq!(go_string(15 * SEC), "15s");
        assert_eq!(go_string(HOUR), "1h0m0s");
        assert_eq!(go_string(90 * SEC), "1m30s");
        assert_eq!(go_string(1_500 * MS), "1.5s");
        assert_eq!(go_string(200 * MS), "200ms");
        assert_eq!(go_string(1_500 * US), "1.5ms");
        assert_eq!(go_string(0), "0s");
        assert_eq!(go_string(-2 * SEC), "-2s");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go("1m0s"), Some(60 * SEC));
        assert_eq!(parse_go("1.5h"), Some(90 * MIN));
        assert_eq!(parse_go("300ms"), Some(300 * MS));
        assert_eq!(parse_go("0"), Some(0));
        assert_eq!(parse_go("-1h"), Some(-HOUR));
        assert_eq!(parse_go(""), None);
        assert_eq!(parse_go("1d"), None);
        assert_eq!(parse_go("h"), None);
        assert_eq!(parse_go("10"), None);
    }

    #[test]
    fn grafana_units_and_bare_numbers() {
        assert_eq!(parse_grafana("1d"), Some(DAY));
        assert_eq!(parse_grafana("2w"), Some(14 * DAY));
        assert_eq!(parse_grafana("15s"), Some(15 * SEC));
        assert_eq!(parse_interval_string("30"), Some(30 * SEC));
        assert_eq!(parse_interval_string(">10s"), Some(10 * SEC));
        assert_eq!(parse_interval_string("x"), None);
        assert_eq!(parse_grafana("1€"), None);
        assert_eq!(parse_grafana(""), None);
        assert_eq!(parse_go("1€"), None);
    }

    #[test]
    fn intervals_format_and_round_like_grafana() {
        assert_eq!(format_interval(15 * SEC), "15s");
        assert_eq!(format_interval(90 * SEC), "1m");
        assert_eq!(format_interval(200 * MS), "200ms");
        assert_eq!(round_interval(7_200 * MS), 5 * SEC);
        assert_eq!(round_interval(327 * MS), 200 * MS);
        assert_eq!(round_interval(30 * DAY), 30 * DAY);
        assert_eq!(round_interval(100 * DAY), 365 * DAY);
    }
}

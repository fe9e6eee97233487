//! UTC calendar arithmetic, the one copy: day counts to dates and back (Howard
//! Hinnant's algorithms), and the timestamp forms `lab` writes.

use std::time::{SystemTime, UNIX_EPOCH};

/// Year, month, day of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a date; the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Date and time of day (hours, minutes, seconds) of whole seconds since the epoch.
pub fn utc_parts(secs: i64) -> ((i64, i64, i64), (i64, i64, i64)) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    (
        civil_from_days(days),
        (rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// `2024-08-18T12:59:13.476Z` for seconds since the epoch.
pub fn utc_millis(t: f64) -> String {
    let secs = t.floor() as i64;
    let millis = ((t - t.floor()) * 1000.0).round().min(999.0) as i64;
    let ((y, m, d), (h, mi, s)) = utc_parts(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
}

/// `20261124T164530Z`: sortable, and valid in file names everywhere.
pub fn utc_compact(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ((y, m, d), (h, mi, s)) = utc_parts(secs);
    format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `2024-08-18T12:00Z` for an hour since the epoch.
pub fn utc_hour(hour: i64) -> String {
    let (y, m, d) = civil_from_days(hour.div_euclid(24));
    format!("{y:04}-{m:02}-{d:02}T{:02}:00Z", hour.rem_euclid(24))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn days_and_dates_round_trip() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (11_016, (2000, 2, 29)),
            (19_953, (2024, 8, 18)),
            (-719_468, (0, 3, 1)),
        ] {
            assert_eq!(civil_from_days(days), date, "{days}");
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
        }
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn the_forms_lab_writes() {
        assert_eq!(utc_millis(1_723_985_953.476_8), "2024-08-18T12:59:13.477Z");
        assert_eq!(utc_millis(-0.5), "1969-12-31T23:59:59.500Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_538_730);
        assert_eq!(utc_compact(t), "20261124T164530Z");
        assert_eq!(utc_compact(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            utc_compact(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
        assert_eq!(utc_hour(478_884), "2024-08-18T12:00Z");
    }
}

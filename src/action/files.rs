//! Writing a trainee's files safely: a timestamped backup first, then the new content
//! through a temporary file renamed into place, so no reader ever sees half a file and
//! an interrupted write loses nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed
/// to disk, then renamed over the target (rename is atomic within a file system).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        // Keep the file's permissions when it exists (a trainee's script may be executable).
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies `path` to `<backups>/<name>.<UTC timestamp>` and returns the copy's path.
pub fn backup(path: &Path, backups: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(backups)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let stamp = utc_stamp(SystemTime::now());
    let mut target = backups.join(format!("{name}.{stamp}"));
    // Two edits within one second keep both backups.
    let mut n = 1;
    while target.exists() {
        target = backups.join(format!("{name}.{stamp}.{n}"));
        n += 1;
    }
    std::fs::copy(path, &target)?;
    Ok(target)
}

/// `20261124T164530Z`: sortable, and valid in file names everywhere.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        // 2024-08-18T12:59:13Z, the course's sample analysis.
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_723_985_953)),
            "20240818T125913Z"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = crate::probe::testing::tempdir();
        let p = dir.path().join("docker-compose.yaml");
        std::fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["docker-compose.yaml"]);
    }

    #[test]
    fn backups_keep_every_version() {
        let dir = crate::probe::testing::tempdir();
        let p = dir.path().join("docker-compose.yaml");
        let backups = dir.path().join(".lab/backups");
        std::fs::write(&p, "v1").unwrap();
        let b1 = backup(&p, &backups).unwrap();
        std::fs::write(&p, "v2").unwrap();
        let b2 = backup(&p, &backups).unwrap();
        assert_ne!(b1, b2);
        assert_eq!(std::fs::read_to_string(b1).unwrap(), "v1");
        assert_eq!(std::fs::read_to_string(b2).unwrap(), "v2");
    }
}

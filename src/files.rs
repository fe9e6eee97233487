//! Writing a trainee's files safely: a timestamped backup first, then the new content
//! through a temporary file renamed into place, so no reader ever sees half a file and
//! an interrupted write loses nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{seq}", std::process::id()));
    let result = (|| {
        // A new file, never through a link someone left at its name.
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?
        };
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

/// `root/rel`, refused unless it stays inside `root` once every link in its folders
/// is resolved (a symlinked folder must not carry a write out of the workspace). The
/// folders are made as needed. The last component may be a link: the atomic rename
/// replaces the link itself, never what it points to.
pub fn inside(root: &Path, rel: &str) -> std::io::Result<PathBuf> {
    use std::io::{Error, ErrorKind};
    let rel_path = Path::new(rel);
    if rel_path.is_absolute()
        || rel_path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("`{rel}` is not a path inside the workspace"),
        ));
    }
    let path = root.join(rel_path);
    let parent = path.parent().unwrap_or(root);
    std::fs::create_dir_all(parent)?;
    let real_root = std::fs::canonicalize(root)?;
    let real_parent = std::fs::canonicalize(parent)?;
    if !real_parent.starts_with(&real_root) {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "`{rel}` leads out of the workspace through a symbolic link (to {});                  remove the link",
                real_parent.display()
            ),
        ));
    }
    Ok(real_parent.join(path.file_name().unwrap_or_default()))
}

/// Removes the temporary files (`.NAME.tmp-PID-N`) that a process killed mid-write
/// left in `dir`: those whose process is gone.
pub fn clean_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .starts_with('.')
            .then(|| name.rsplit_once(".tmp-"))
            .flatten()
            .and_then(|(_, rest)| rest.split('-').next()?.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let alive = pid > 0
            && (unsafe { libc::kill(pid, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM));
        if !alive && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Copies `path` to `<backups>/<name>.<UTC timestamp>` and returns the copy's path.
pub fn backup(path: &Path, backups: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(backups)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let stamp = crate::model::time::utc_compact(SystemTime::now());
    let mut target = backups.join(format!("{name}.{stamp}"));
    // Two edits within one second keep both backups.
    let mut n = 1;
    while target.exists() {
        target = backups.join(format!("{name}.{stamp}.{n}"));
        n += 1;
    }
    // Copied under a temporary name, then renamed: a killed `lab` never leaves half a
    // backup behind (its temporary is removed by the next `lab` that takes the lock).
    let tmp = backups.join(format!(
        ".{}.tmp-{}-b",
        target.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let copied = std::fs::copy(path, &tmp).and_then(|_| std::fs::rename(&tmp, &target));
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    copied.map(|()| target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::TempDir;

    #[test]
    fn a_symlinked_folder_cannot_carry_a_write_out_of_the_workspace() {
        // Found by issue 14: write_asset followed a linked folder out of the workspace.
        let ws = TempDir::new();
        let outside = TempDir::new();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("grafana")).unwrap();
        let e = inside(ws.path(), "grafana/datasource.yaml").unwrap_err();
        assert!(e.to_string().contains("out of the workspace"), "{e}");
        assert!(inside(ws.path(), "../x").is_err());
        assert!(inside(ws.path(), "/etc/x").is_err());
        let ok = inside(ws.path(), "prometheus/prometheus.yml").unwrap();
        assert!(ok.starts_with(std::fs::canonicalize(ws.path()).unwrap()));
    }

    #[test]
    fn temporaries_of_dead_writers_are_removed_and_live_ones_kept() {
        // Found by issue 14: an interrupted adoption left `.tmp-PID` files forever.
        let ws = TempDir::new();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = ws.path().join(format!(".state.json.tmp-{dead}-0"));
        let live = ws
            .path()
            .join(format!(".state.json.tmp-{}-0", std::process::id()));
        let old_style = ws.path().join(format!(".docker-compose.yaml.tmp-{dead}"));
        for f in [&stale, &live, &old_style] {
            std::fs::write(f, "x").unwrap();
        }
        clean_stale_temporaries(ws.path());
        assert!(!stale.exists() && !old_style.exists());
        assert!(live.exists());
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = TempDir::new();
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
        let dir = TempDir::new();
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

//! The machine: Docker Compose, memory, free disk, programs on PATH.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs a program with a time limit; `Ok` holds stdout and stderr of a successful run,
/// `Err` says what went wrong in one line.
pub async fn run(program: &str, args: &[&str], limit: Duration) -> Result<String, String> {
    let shown = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(limit, cmd.output()).await {
        Err(_) => {
            return Err(format!(
                "`{shown}` gave no answer within {}",
                crate::model::format_duration(limit)
            ))
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{program} is not on PATH"))
        }
        Ok(Err(e)) => return Err(format!("cannot run `{shown}`: {e}")),
        Ok(Ok(o)) => o,
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(format!("{stdout}{stderr}"))
    } else {
        let first = stderr
            .lines()
            .chain(stdout.lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            crate::text::clip(first.trim(), 120)
        ))
    }
}

/// The compose `lab` will drive, found the one way every command finds it
/// ([`crate::engine::compose::detect`], which honours `LAB_COMPOSE`).
pub async fn compose() -> ComposeFacts {
    use crate::engine::compose::{detect, Flavor};
    match detect().await {
        Ok(i) => match i.flavor {
            Flavor::V2 => ComposeFacts::V2(i.version),
            Flavor::V1 => ComposeFacts::V1(i.version),
        },
        Err(e) => ComposeFacts::Missing {
            message: e.to_string(),
            hint: e.hint().unwrap_or_default(),
        },
    }
}

pub fn memory() -> Result<MemFacts, String> {
    let text = std::fs::read_to_string("/proc/meminfo").map_err(|e| e.to_string())?;
    parse_meminfo(&text)
}

/// Free space for an unprivileged user on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} holds a NUL byte", path.display()))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(format!(
            "statvfs {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Disk space where Docker keeps images, else in the current folder (saying why).
pub fn disk(docker_root: Result<String, String>) -> Result<DiskFacts, String> {
    let fallback = |why: String| -> Result<DiskFacts, String> {
        let cwd = std::env::current_dir().map_err(|e| format!("no current folder: {e}"))?;
        Ok(DiskFacts {
            free_bytes: free_bytes(&cwd)?,
            what: format!(
                "the current folder {} (Docker's root dir unknown: {why})",
                cwd.display()
            ),
        })
    };
    match docker_root {
        Ok(root) => match free_bytes(Path::new(&root)) {
            Ok(free) => Ok(DiskFacts {
                what: format!("Docker's root dir {root}"),
                free_bytes: free,
            }),
            Err(e) => fallback(format!("{root} is not readable here: {e}")),
        },
        Err(why) => fallback(why),
    }
}

/// The program's path on PATH, like `command -v`.
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeFacts {
    /// `docker compose version` answered: the plugin, Compose v2.
    V2(String),
    /// Only `docker-compose version` answered: the standalone Compose v1.
    V1(String),
    /// Neither (or not the one `LAB_COMPOSE` forces): what was tried, and the hint.
    Missing { message: String, hint: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemFacts {
    pub total_kib: u64,
    pub available_kib: u64,
}

/// MemTotal and MemAvailable from /proc/meminfo.
pub fn parse_meminfo(text: &str) -> Result<MemFacts, String> {
    let field = |name: &str| -> Result<u64, String> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} line"))
    };
    Ok(MemFacts {
        total_kib: field("MemTotal")?,
        available_kib: field("MemAvailable")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFacts {
    /// What was measured, in words: `Docker root dir /var/lib/docker`.
    pub what: String,
    pub free_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_of_an_existing_folder_is_measured() {
        assert!(free_bytes(Path::new("/")).is_ok());
        let e = free_bytes(Path::new("/no/such/folder")).unwrap_err();
        assert!(e.contains("/no/such/folder"), "{e}");
    }

    #[test]
    fn an_unreadable_docker_root_falls_back_to_the_current_folder() {
        let d = disk(Ok("/no/such/docker/root".into())).unwrap();
        assert!(d.what.starts_with("the current folder"), "{}", d.what);
        assert!(d.what.contains("/no/such/docker/root"), "{}", d.what);
        let d = disk(Ok("/".into())).unwrap();
        assert_eq!(d.what, "Docker's root dir /");
    }

    #[test]
    fn programs_are_found_on_path() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-lab-xyz").is_none());
    }

    #[tokio::test]
    async fn commands_report_failures_in_one_line() {
        assert!(run("sh", &["-c", "echo hi"], Duration::from_secs(5))
            .await
            .unwrap()
            .contains("hi"));
        let e = run(
            "sh",
            &["-c", "echo boom >&2; exit 3"],
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(e.contains("boom") && e.contains("exit status: 3"), "{e}");
        let e = run("no-such-program-lab-xyz", &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e, "no-such-program-lab-xyz is not on PATH");
        let e = run("sh", &["-c", "sleep 5"], Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
    }
}

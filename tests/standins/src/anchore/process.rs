//! Reads this process's real resource figures from /proc (and free disk space with statvfs), for
//! the `process_*` families prometheus_client's process collector exports.

use std::path::Path;

use super::metrics::Family;

/// What prometheus_client's `ProcessCollector` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub virtual_memory_bytes: f64,
    pub resident_memory_bytes: f64,
    pub start_time_seconds: f64,
    pub cpu_seconds: f64,
    pub open_fds: f64,
    pub max_fds: Option<f64>,
}

/// (utime, stime, starttime) in clock ticks from the text of `/proc/<pid>/stat`. The command name
/// in field 2 may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<(u64, u64, u64)> {
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field N is at index N - 3.
    let utime = fields.get(14 - 3)?.parse().ok()?;
    let stime = fields.get(15 - 3)?.parse().ok()?;
    let start = fields.get(22 - 3)?.parse().ok()?;
    Some((utime, stime, start))
}

/// (size, resident) in pages from the text of `/proc/<pid>/statm`.
pub fn parse_statm(text: &str) -> Option<(u64, u64)> {
    let mut it = text.split_whitespace();
    let size = it.next()?.parse().ok()?;
    let resident = it.next()?.parse().ok()?;
    Some((size, resident))
}

/// Boot time in seconds since the epoch from the text of /proc/stat.
pub fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft "Max open files" limit from the text of `/proc/<pid>/limits`.
pub fn parse_max_fds(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(f64::INFINITY);
    }
    soft.parse().ok()
}

fn sysconf(name: libc::c_int, fallback: f64) -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let v = unsafe { libc::sysconf(name) };
    if v > 0 {
        v as f64
    } else {
        fallback
    }
}

/// Reads the figures for this process; `None` when /proc is not there (not Linux).
pub fn read() -> Option<Stats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let (utime, stime, start) = parse_stat(&stat)?;
    let (size, resident) = parse_statm(&statm)?;
    let page = sysconf(libc::_SC_PAGESIZE, 4096.0);
    let ticks = sysconf(libc::_SC_CLK_TCK, 100.0);
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_btime(&t))
        .unwrap_or(0);
    let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()) as f64;
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| parse_max_fds(&t));
    Some(Stats {
        virtual_memory_bytes: size as f64 * page,
        resident_memory_bytes: resident as f64 * page,
        start_time_seconds: btime as f64 + start as f64 / ticks,
        cpu_seconds: (utime + stime) as f64 / ticks,
        open_fds,
        max_fds,
    })
}

/// The families in the order and with the help texts of prometheus_client's process collector.
pub fn families(s: &Stats) -> Vec<Family> {
    let mut out = vec![
        Family::gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            vec![(vec![], s.virtual_memory_bytes)],
        ),
        Family::gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            vec![(vec![], s.resident_memory_bytes)],
        ),
        Family::gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            vec![(vec![], s.start_time_seconds)],
        ),
        Family::plain_counter(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            s.cpu_seconds,
        ),
        Family::gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            vec![(vec![], s.open_fds)],
        ),
    ];
    if let Some(max) = s.max_fds {
        out.push(Family::gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            vec![(vec![], max)],
        ));
    }
    out
}

/// Bytes available to an unprivileged user on the filesystem holding `path`
/// (`anchore_tmpspace_available_bytes` is statvfs of the scratch directory).
pub fn available_bytes(path: &Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    Some(st.f_bavail as f64 * st.f_frsize as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_hostile_command_name() {
        // Fields 14, 15, 22 are utime=7, stime=3, starttime=12345.
        let text = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 1000 200 18446744073709551615";
        assert_eq!(parse_stat(text), Some((7, 3, 12345)));
        assert_eq!(parse_stat("42 (x) S 1"), None);
        assert_eq!(parse_stat("no parens"), None);
    }

    #[test]
    fn parses_statm_btime_and_limits() {
        assert_eq!(parse_statm("2500 700 300 1 0 500 0\n"), Some((2500, 700)));
        assert_eq!(parse_statm("x"), None);
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 1048576              files\n";
        assert_eq!(parse_max_fds(limits), Some(1024.0));
    }

    #[test]
    fn reads_real_figures_for_this_process() {
        let s = read().expect("/proc is available on Linux");
        assert!(s.resident_memory_bytes > 1_000_000.0, "{s:?}");
        assert!(s.virtual_memory_bytes >= s.resident_memory_bytes);
        let now = super::super::clock::unix_seconds(std::time::SystemTime::now());
        assert!(s.start_time_seconds > now - 7200.0 && s.start_time_seconds <= now + 1.0);
        assert!(s.open_fds >= 3.0);
        let names: Vec<String> = families(&s).into_iter().map(|f| f.name).collect();
        assert_eq!(
            names[..4],
            [
                "process_virtual_memory_bytes",
                "process_resident_memory_bytes",
                "process_start_time_seconds",
                "process_cpu_seconds"
            ]
        );
        assert!(available_bytes(Path::new("/")).is_some_and(|b| b >= 0.0));
        assert_eq!(available_bytes(Path::new("/no/such/dir")), None);
    }
}

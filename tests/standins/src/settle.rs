//! Health probes that go quiet once a container is healthy: the bench's stand-in for
//! Docker's `--start-interval`, which engine 20.10 lacks.
//!
//! Docker runs a container's HEALTHCHECK every `--interval` for the container's whole
//! life, and each probe is a `docker exec` (a runc start, tens of milliseconds of the
//! engine's CPU). At the 1-2 s a stack needs to be healthy within seconds of starting,
//! a dozen idle containers cost the engine a third of a core, and four smoke stacks
//! side by side the whole of a 2-core machine. Docker starts the next probe an
//! interval after the previous one *ends*; so with `STANDIN_HEALTH_SETTLE=N` (seconds)
//! a probe of a container that already passed one waits N seconds before it probes:
//! probes come every interval until the first pass, then about every N seconds. A probe
//! that has not passed yet keeps trying within itself (every 200 ms, up to [`RISE`]), so
//! one exec sees a starting container healthy.
//!
//! "Already passed" is remembered in a marker file holding the start time of the
//! container's PID 1, so a restarted container (a new PID 1) is probed at once again,
//! and a failing probe removes the marker, so recovery is seen within an interval. Only a
//! recent pass counts (the marker written less than [`RECENT`] ago, as it is when Docker
//! starts the next probe an interval after the last one ended): Docker stops probing a
//! paused container and calls it unhealthy, and after `docker unpause` the next probe must
//! say otherwise at once, not a settle later. For the same reason a probe that finds the
//! previous one's "waiting" file (written before its wait, removed after it: Docker killed
//! or gave up on that probe) does not wait either, and a probe frozen in its wait by the
//! pause stops waiting once unpaused ([`wait_unless_frozen`]): a `lab smoke` snapshot
//! waited up to 19 s for the paused containers to be called healthy again.
//! Without the variable (the stand-ins run outside the bench images) nothing waits.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variable the bench images set.
pub const VAR: &str = "STANDIN_HEALTH_SETTLE";

/// How long a probe of a healthy container waits first (`None`: unset or 0).
pub fn from_env(value: Option<String>) -> Result<Option<Duration>, String> {
    let Some(v) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let secs: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{VAR} must be a number of seconds, not {v:?}"))?;
    if !(0.0..=3600.0).contains(&secs) {
        return Err(format!("{VAR} must be between 0 and 3600 seconds, not {v}"));
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// The start time (clock ticks after boot, field 22 of `/proc/PID/stat`) in a stat line:
/// it names one run of the process. The command name may hold spaces and parentheses,
/// so the fields are counted after its last `)`.
pub fn start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // Field 3 (the state) is the first after the name: field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This run of the container: its PID 1's start time.
fn incarnation() -> Option<u64> {
    start_time(&std::fs::read_to_string("/proc/1/stat").ok()?)
}

/// Where the marker lives (the container's temp folder).
pub fn marker() -> PathBuf {
    std::env::temp_dir().join("standin-health-passed")
}

/// How recent the last pass must be for the next probe to wait first.
pub const RECENT: Duration = Duration::from_secs(5);

/// Whether the marker says this run of the container passed the probe just before this one.
pub fn passed_before(marker: &Path, now: Option<u64>) -> bool {
    let recent = std::fs::metadata(marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < RECENT);
    match (std::fs::read_to_string(marker), now) {
        (Ok(text), Some(now)) => recent && text.trim().parse::<u64>().ok() == Some(now),
        _ => false,
    }
}

/// Records a probe's result: a pass writes the marker (atomically), a failure removes it.
pub fn record(marker: &Path, now: Option<u64>, healthy: bool) {
    match (healthy, now) {
        (true, Some(now)) => {
            let tmp = marker.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, now.to_string()).is_ok()
                && std::fs::rename(&tmp, marker).is_err()
            {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        _ => {
            let _ = std::fs::remove_file(marker);
        }
    }
}

/// The settle's wait is slept in steps this long.
const STEP: Duration = Duration::from_millis(250);

/// Waits `total` in steps of `step` (`sleep` sleeps one and says how long it really
/// took, on the monotonic clock, which runs on while a container is frozen) and stops
/// early when a step took a second more than asked: the container was paused meanwhile
/// (a `lab smoke` snapshot), Docker calls it unhealthy until a probe passes, and the
/// probe must answer now, not when the rest of the settle is over (up to a minute later).
/// Says whether it stopped early.
pub fn wait_unless_frozen(
    total: Duration,
    step: Duration,
    mut sleep: impl FnMut(Duration) -> Duration,
) -> bool {
    let mut waited = Duration::ZERO;
    while waited < total {
        let ask = step.min(total - waited);
        let took = sleep(ask);
        if took > ask + Duration::from_secs(1) {
            return true;
        }
        waited += took;
    }
    false
}

/// How long a probe that has not passed yet in this run of the container keeps trying
/// before it reports a failure (well within Docker's timeout, the settle plus 5 s).
pub const RISE: Duration = Duration::from_secs(10);

/// How often it tries meanwhile.
const RETRY: Duration = Duration::from_millis(200);

/// Runs one probe the settled way: waits `settle` first when this container already
/// passed one, then probes once and records the result. A container that has not
/// passed yet (just started, or unpaused, or failing) is probed again every 200 ms
/// within the same probe until it passes or [`RISE`] is over: one `docker exec` sees a
/// starting stand-in healthy, where probing once every interval took three on average
/// (1,047 for the 336 containers of a `lab smoke --all`, about 70 ms of the engine's CPU
/// each). `f` says what failed; the last failure is returned.
pub fn probe(
    settle: Option<Duration>,
    f: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    probe_at(&marker(), settle, RISE, f)
}

fn probe_at(
    marker: &Path,
    settle: Option<Duration>,
    rise: Duration,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let Some(settle) = settle else {
        return f();
    };
    let now = incarnation();
    // Present only while a probe waits: found by the next probe, it says Docker
    // abandoned that one (killed it when pausing the container, or timed it out).
    let waiting = marker.with_extension("waiting");
    let abandoned = std::fs::remove_file(&waiting).is_ok();
    let result = if !abandoned && passed_before(marker, now) {
        let _ = std::fs::write(&waiting, std::process::id().to_string());
        wait_unless_frozen(settle, STEP, |d| {
            let t = std::time::Instant::now();
            std::thread::sleep(d);
            t.elapsed()
        });
        let _ = std::fs::remove_file(&waiting);
        // Healthy before: a failure now is told at once.
        f()
    } else {
        let started = std::time::Instant::now();
        loop {
            match f() {
                Ok(()) => break Ok(()),
                Err(e) if started.elapsed() + RETRY >= rise => break Err(e),
                Err(_) => std::thread::sleep(RETRY),
            }
        }
    };
    record(marker, now, result.is_ok());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_stops_at_a_freeze_and_otherwise_lasts_the_settle() {
        let step = Duration::from_millis(250);
        // Never frozen: the whole settle, in steps (the last one shorter).
        let mut asked = Vec::new();
        let early = wait_unless_frozen(Duration::from_millis(600), step, |d| {
            asked.push(d);
            d
        });
        assert!(!early);
        assert_eq!(
            asked,
            [step, step, Duration::from_millis(100)],
            "steps of 250 ms up to 600 ms"
        );
        // Frozen during the third step (it took 4 s): stops there, 12 s before the end.
        let mut n = 0;
        let early = wait_unless_frozen(Duration::from_secs(15), step, |d| {
            n += 1;
            if n == 3 {
                Duration::from_secs(4)
            } else {
                d
            }
        });
        assert!(early);
        assert_eq!(n, 3);
        // A step a little late (a busy machine) is no freeze.
        let mut n = 0;
        let early = wait_unless_frozen(Duration::from_secs(1), step, |d| {
            n += 1;
            d + Duration::from_millis(900)
        });
        assert!(!early);
        assert_eq!(n, 1, "the late step counts as waited");
    }

    #[test]
    fn the_variable_is_seconds_or_nothing() {
        assert_eq!(from_env(None), Ok(None));
        assert_eq!(from_env(Some(" ".into())), Ok(None));
        assert_eq!(from_env(Some("0".into())), Ok(None));
        assert_eq!(
            from_env(Some("15".into())),
            Ok(Some(Duration::from_secs(15)))
        );
        assert_eq!(
            from_env(Some("0.5".into())),
            Ok(Some(Duration::from_millis(500)))
        );
        assert!(from_env(Some("soon".into())).is_err());
        assert!(from_env(Some("-1".into())).is_err());
    }

    #[test]
    fn the_start_time_is_field_22_whatever_the_name() {
        let line = "1 (anchore (x) y) S 0 1 1 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 3 0 98765 1000 10";
        assert_eq!(start_time(line), Some(98765));
        assert_eq!(start_time("1 (sh) S 0"), None);
        assert_eq!(start_time("garbage"), None);
    }

    #[test]
    fn a_pass_is_remembered_for_this_run_only_and_a_failure_forgets_it() {
        let dir = std::env::temp_dir().join(format!("settle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = dir.join("passed");
        assert!(!passed_before(&m, Some(7)));
        record(&m, Some(7), true);
        assert!(passed_before(&m, Some(7)));
        // A restarted container: a new PID 1.
        assert!(!passed_before(&m, Some(8)));
        // Without /proc, never settled.
        assert!(!passed_before(&m, None));
        // An old pass (the container was paused, and not probed meanwhile) does not count.
        let old = std::time::SystemTime::now() - RECENT - Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&m)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!passed_before(&m, Some(7)));
        record(&m, Some(7), true);
        assert!(passed_before(&m, Some(7)));
        record(&m, Some(7), false);
        assert!(!passed_before(&m, Some(7)));
        assert!(!m.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unset_settle_probes_at_once_and_a_set_one_waits_after_a_pass() {
        let t = std::time::Instant::now();
        assert!(probe(None, || Ok(())).is_ok());
        assert!(t.elapsed() < Duration::from_millis(100));
        // In this process PID 1 is the machine's or the container's init: a real
        // incarnation. The first settled probe does not wait; the second does.
        let m = std::env::temp_dir().join(format!("settle-probe-{}", std::process::id()));
        let _ = std::fs::remove_file(&m);
        let settle = Some(Duration::from_millis(300));
        let rise = Duration::ZERO;
        let t = std::time::Instant::now();
        assert!(probe_at(&m, settle, rise, || Ok(())).is_ok());
        let first = t.elapsed();
        let t = std::time::Instant::now();
        assert!(probe_at(&m, settle, rise, || Err("down".into())).is_err());
        let second = t.elapsed();
        // A probe that finds the previous one still waiting (abandoned by Docker, as
        // when the container was paused) does not wait.
        record(&m, incarnation(), true);
        std::fs::write(m.with_extension("waiting"), "1").unwrap();
        let t = std::time::Instant::now();
        assert!(probe_at(&m, settle, rise, || Ok(())).is_ok());
        let beside = t.elapsed();
        assert!(!m.with_extension("waiting").exists());
        record(&m, incarnation(), false);
        // The failure forgot the pass: the next probe does not wait.
        let t = std::time::Instant::now();
        assert!(probe_at(&m, settle, rise, || Ok(())).is_ok());
        let third = t.elapsed();
        let _ = std::fs::remove_file(&m);
        let _ = std::fs::remove_file(m.with_extension("waiting"));
        if incarnation().is_some() {
            assert!(first < Duration::from_millis(300), "{first:?}");
            assert!(second >= Duration::from_millis(300), "{second:?}");
            assert!(third < Duration::from_millis(300), "{third:?}");
            assert!(beside < Duration::from_millis(300), "{beside:?}");
        }
    }

    #[test]
    fn a_probe_not_yet_passed_tries_again_until_it_passes_or_the_rise_is_over() {
        let m = std::env::temp_dir().join(format!("settle-rise-{}", std::process::id()));
        let _ = std::fs::remove_file(&m);
        let settle = Some(Duration::from_millis(300));
        let rise = Duration::from_secs(5);
        // Starting: fails twice, then answers; one probe sees it healthy.
        let mut calls = 0;
        let t = std::time::Instant::now();
        let r = probe_at(&m, settle, rise, || {
            calls += 1;
            if calls < 3 {
                Err(format!("refused {calls}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Ok(()));
        assert_eq!(calls, 3);
        assert!(t.elapsed() >= 2 * RETRY, "{:?}", t.elapsed());
        assert!(t.elapsed() < rise);
        // Never answering: gives up once the rise is over, with the last failure.
        let _ = std::fs::remove_file(&m);
        let mut calls = 0;
        let t = std::time::Instant::now();
        let r = probe_at(&m, settle, Duration::from_millis(700), || {
            calls += 1;
            Err(format!("refused {calls}"))
        });
        assert_eq!(r, Err(format!("refused {calls}")));
        assert!((3..=5).contains(&calls), "{calls} tries in 700 ms");
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        // Healthy before, failing now: told at once, after the settle, one try.
        if incarnation().is_some() {
            record(&m, incarnation(), true);
            let mut calls = 0;
            let r = probe_at(&m, settle, rise, || {
                calls += 1;
                Err("down".into())
            });
            assert!(r.is_err());
            assert_eq!(calls, 1);
        }
        let _ = std::fs::remove_file(&m);
    }
}

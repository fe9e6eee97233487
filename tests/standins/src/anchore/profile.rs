//! How much memory and CPU each service uses, so the panels the course reads in its "customer
//! use case" (FACTS.md §12) look as they did for the course's author: the catalog the most
//! memory-hungry service and the policy engine next, and the API's CPU rising while images wait
//! for an analyzer and falling as each analysis completes.
//!
//! Both are real, not reported figures: the resident memory is a block the role allocates and
//! touches at start (so `process_resident_memory_bytes` reads it from /proc like any other), and
//! the API's CPU is work it does once a second per waiting image (so `process_cpu_seconds_total`
//! grows). `STANDIN_RSS_MB` sets the block's size for any role.

use std::time::Duration;

use tokio::sync::watch;

use super::config::Role;
use super::server::Shared;

/// The extra resident memory of a role, in MiB, when `STANDIN_RSS_MB` does not say.
pub fn default_rss_mib(role: Role) -> usize {
    match role {
        Role::Catalog => 96,
        Role::PolicyEngine => 32,
        _ => 0,
    }
}

/// CPU time the API spends per waiting image each second (at most three images count).
pub const API_CPU_PER_QUEUED_IMAGE: Duration = Duration::from_millis(120);

fn rss_mib(role: Role, env: &dyn Fn(&str) -> Option<String>) -> Result<usize, String> {
    match env("STANDIN_RSS_MB").filter(|v| !v.trim().is_empty()) {
        None => Ok(default_rss_mib(role)),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 4096)
            .ok_or_else(|| {
                format!("STANDIN_RSS_MB must be a whole number of MiB up to 4096, not {v:?}")
            }),
    }
}

/// Allocates and touches `mib` MiB that stay resident for the life of the process.
fn hold_resident(mib: usize) {
    if mib == 0 {
        return;
    }
    let mut block = vec![0u8; mib << 20];
    // Writing one byte per page makes the kernel back every page with memory.
    for i in (0..block.len()).step_by(4096) {
        block[i] = 1;
    }
    std::hint::black_box(&block);
    Box::leak(block.into_boxed_slice());
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime writes into the zeroed struct we own.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Busy work until this thread has used `d` of CPU time (on a busy machine that takes longer
/// than `d`; never more than four times `d` of wall time).
fn burn(d: Duration) {
    let wall = std::time::Instant::now();
    let start = thread_cpu();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while thread_cpu().saturating_sub(start) < d && wall.elapsed() < d * 4 {
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x);
    }
}

/// Applies the role's profile: its resident memory now, and for the API the CPU work while
/// images wait. Returns an error for a bad `STANDIN_RSS_MB`.
pub fn start(app: &Shared, stop: watch::Receiver<bool>) -> Result<(), String> {
    let env = |k: &str| std::env::var(k).ok();
    hold_resident(rss_mib(app.cfg.role, &env)?);
    if app.cfg.role == Role::Apiext {
        tokio::spawn(api_load(app.clone(), stop));
    }
    Ok(())
}

async fn api_load(app: Shared, mut stop: watch::Receiver<bool>) {
    loop {
        let waiting = match app.owner.counts().await {
            Ok(c) => c
                .analysis_status
                .iter()
                .filter(|(s, _)| s == "not_analyzed" || s == "analyzing")
                .map(|(_, n)| *n)
                .sum::<u64>(),
            Err(_) => 0,
        };
        if waiting > 0 {
            let d = API_CPU_PER_QUEUED_IMAGE * waiting.min(3) as u32;
            let _ = tokio::task::spawn_blocking(move || burn(d)).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_holds_the_most_memory_unless_told_otherwise() {
        let none = |_: &str| None;
        let roles = [
            Role::Apiext,
            Role::Catalog,
            Role::Simplequeue,
            Role::PolicyEngine,
            Role::Analyzer,
        ];
        let most = roles
            .iter()
            .max_by_key(|r| rss_mib(**r, &none).unwrap())
            .unwrap();
        assert_eq!(*most, Role::Catalog);
        assert!(default_rss_mib(Role::PolicyEngine) > default_rss_mib(Role::Analyzer));
        let set = |_: &str| Some("5".to_string());
        assert_eq!(rss_mib(Role::Analyzer, &set), Ok(5));
        let bad = |_: &str| Some("lots".to_string());
        assert!(rss_mib(Role::Catalog, &bad).is_err());
    }

    #[test]
    fn held_memory_is_resident_and_burnt_cpu_is_counted() {
        let before = super::super::process::read().unwrap();
        hold_resident(16);
        burn(Duration::from_millis(150));
        let after = super::super::process::read().unwrap();
        assert!(
            after.resident_memory_bytes - before.resident_memory_bytes >= 15.0 * 1048576.0,
            "{before:?} {after:?}"
        );
        assert!(
            after.cpu_seconds - before.cpu_seconds >= 0.05,
            "{before:?} {after:?}"
        );
    }
}

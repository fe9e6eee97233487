//! `lab smoke`: self-tests lab material. For each lab, a fresh environment, its
//! setup, its checks (which must fail), its solution, its checks (which must pass),
//! then cleanup; then each of its variants in a fresh environment of its own, which
//! must fail exactly the checks it names. `crate::smoke` judges; this runs.

use crate::action::exec;
use crate::cli::SmokeArgs;
use crate::env::{self, Environment};
use crate::error::{exit, write_err, Error, Result};
use crate::files::write_atomic;
use crate::loader::{self, Loaded};
use crate::model::{format_duration, LoadedLab, Step};
use crate::report::Ui;
use crate::runner::{self, CheckResult, Plan, Resources};
use crate::session::Session;
use crate::smoke::{self, Outcome, Profile, Scenario};
use futures_util::StreamExt;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use smoke_snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[path = "smoke_snapshot.rs"]
mod smoke_snapshot;

#[path = "smoke_cache.rs"]
mod smoke_cache;

#[path = "smoke_places.rs"]
mod smoke_places;

/// What a snapshot's watchers see: not yet taken, taken, or none (its leader failed).
type Published = Option<Option<Arc<Snapshot>>>;

/// A scenario's part in the snapshot it starts from.
enum SnapRole {
    /// Replays the setup, then takes the snapshot the others restore.
    Leader(Produce),
    /// Starts from another scenario's snapshot (or replays the setup when there is none).
    Follower {
        rx: tokio::sync::watch::Receiver<Published>,
        /// Waits, after the snapshot, until the scenario that goes first has restored it
        /// (the head: `smoke::SnapPlan::head`).
        behind: Option<tokio::sync::watch::Receiver<bool>>,
    },
    /// Starts from a snapshot an earlier run left in the cache.
    Cached(Arc<Snapshot>),
}

/// A scenario's solution ends where others start: it takes that snapshot, of key
/// `base`, into `to` (with a cache, into one of its temporary folders, then stores it).
struct Produce {
    base: String,
    to: std::path::PathBuf,
    tx: Arc<tokio::sync::watch::Sender<Published>>,
}

/// Where an environment starts, once the snapshot it waits for (if any) is published.
enum Start {
    /// Its lab's setup, replayed.
    Setup,
    /// Its lab's setup, replayed; then the snapshot others start from (`SnapRole::Leader`).
    Leader(Produce),
    /// A snapshot of this run, published after `waited` (`None`: its taker failed, and
    /// the setup is replayed).
    Published {
        snap: Option<Arc<Snapshot>>,
        waited: Duration,
    },
    /// A snapshot an earlier run left in the cache.
    Cached(Arc<Snapshot>),
    /// The environment of the solution whose end it starts from, handed over after that
    /// solution was judged (see [`Handoff`]), after `waited`.
    Handed { waited: Duration },
}

/// The environment of a lab's solution, handed to the next lab's solution, which starts
/// where it ends (`smoke::plan_handovers`; on the run's longest path). After its steps and its own answers the solution took the
/// snapshot, and then only its members' answers and checks ran: checks only read, and
/// its answers are put back as the snapshot holds them. So the environment is in the
/// state the snapshot holds, and the next solution goes on in it instead of waiting for
/// a restore into a fresh one (a stack created, its volumes copied in, brought up).
struct Handoff {
    dir: std::path::PathBuf,
    project: String,
}

/// The snapshot cache of a run, and what the run leaves to remove at its end.
struct CacheUse {
    cache: smoke_cache::Cache,
    /// `--fresh-snapshots`: cached snapshots are replaced, not used.
    replace: bool,
    /// Snapshots that stayed in their temporary folders (another run stored the key).
    leftovers: Mutex<Vec<std::path::PathBuf>>,
}

pub async fn run(labs: &Loaded, args: SmokeArgs, ui: &Ui) -> Result<i32> {
    let chosen: Vec<&LoadedLab> = if args.all {
        labs.labs.iter().collect()
    } else if args.labs.is_empty() && args.matrix.is_empty() {
        return Err(Error::Usage(
            "name the labs to smoke-test (`lab smoke 2 3`), or use --all \
             (or give only --matrix, to run only its scenarios)"
                .into(),
        ));
    } else {
        let mut v = Vec::new();
        for q in &args.labs {
            v.push(loader::find(&labs.labs, q)?);
        }
        v
    };
    // The --matrix profiles, each lab they name resolved now (a typo is a usage error).
    let mut profiles: Vec<(Profile, Vec<&LoadedLab>)> = Vec::new();
    for m in &args.matrix {
        let p = smoke::parse_profile(m).map_err(|e| Error::Usage(format!("--matrix {e}")))?;
        crate::images::check_pairs(&p.images, "--matrix")?;
        let mut ls = Vec::new();
        for q in &p.labs {
            ls.push(loader::find(&labs.labs, q)?);
        }
        profiles.push((p, ls));
    }
    let root = match &args.workspace_root {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("lab-smoke-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root).map_err(write_err(&root))?;
    let docker = crate::engine::docker::connect().await;
    // Each entry is one environment and the scenarios judged in it: one, or several
    // whose steps differ only in their answers (`smoke::share`).
    let mut plan: Vec<(&LoadedLab, Vec<Scenario>, Option<&Profile>)> = chosen
        .iter()
        .flat_map(|l| {
            let all = smoke::scenarios(&l.lab, args.no_variants);
            let groups = if args.isolated {
                all.into_iter().map(|s| vec![s]).collect()
            } else {
                smoke::share(&l.lab, all)
            };
            groups.into_iter().map(move |g| (*l, g, None))
        })
        .collect();
    // Each profile's solutions share the pool (and the order) with the others.
    for (p, ls) in &profiles {
        plan.extend(ls.iter().map(|l| (*l, vec![Scenario::Solution], Some(p))));
    }
    let in_matrix = plan.iter().filter(|(_, _, p)| p.is_some()).count();
    let scenario_count: usize = plan.iter().map(|(_, g, _)| g.len()).sum();
    // --keep keeps the first broken scenario: one at a time unless --jobs says otherwise.
    let jobs = args.jobs.map(usize::from).unwrap_or_else(|| {
        if args.keep {
            return 1;
        }
        let need = plan
            .iter()
            .filter_map(|(l, _, _)| l.lab.prerequisites.memory_mib)
            .max()
            .unwrap_or(super::doctor::DEFAULT_MEMORY_MIB);
        smoke::default_jobs(cores(), available_mib(), need)
    });
    let jobs = jobs.clamp(1, plan.len().max(1) * args.repeat as usize);
    let mut lab_ids: Vec<u32> = plan.iter().map(|(l, _, _)| l.lab.number).collect();
    lab_ids.sort_unstable();
    lab_ids.dedup();
    ui.status(
        "Smoke",
        &format!(
            "{} ({} in {}{}{}), {} at once, under {}",
            crate::text::count(lab_ids.len(), "lab"),
            crate::text::count(scenario_count, "scenario"),
            crate::text::count(plan.len(), "fresh environment"),
            if in_matrix > 0 {
                format!(
                    ", {in_matrix} of them on the images of {}",
                    crate::text::count(profiles.len(), "--matrix profile")
                )
            } else {
                String::new()
            },
            if args.repeat > 1 {
                format!(", {} times", args.repeat)
            } else {
                String::new()
            },
            jobs,
            root.display()
        ),
    );
    // Step lines only when one scenario runs at a time: several would interleave.
    let steps_ui = Ui {
        quiet: ui.verbose == 0 || jobs > 1,
        ..ui.clone()
    };

    let started = Instant::now();
    let runs: Vec<(u32, &LoadedLab, &[Scenario], Option<&Profile>)> = (1..=args.repeat)
        .flat_map(|round| {
            plan.iter()
                .map(move |(l, g, p)| (round, *l, g.as_slice(), *p))
        })
        .collect();
    let total = runs.len();
    let total_scenarios = scenario_count * args.repeat as usize;
    // With --keep, the first broken scenario keeps its environment and no new one starts.
    let stop = AtomicBool::new(false);
    // How many have started: the last to start is the one --keep keeps when all pass
    // (one waiting for a snapshot can start after one placed later in the order).
    let starts_made = std::sync::atomic::AtomicUsize::new(0);
    let kept: Mutex<Option<(std::path::PathBuf, String)>> = Mutex::new(None);
    // Snapshots. A scenario starts from the state its lab's setup leaves or, for a
    // variant that adds steps after the solution, from the state the solution ends in;
    // a solution's end is also where a later lab whose setup completes this one starts
    // (`smoke_snapshot::end_key`). Who takes which snapshot, and who waits for whom:
    // `smoke::plan_snapshots`.
    let images_of = |i: usize| scenario_images(args.images.as_slice(), runs[i].3);
    let ends: Vec<Option<String>> = (0..total)
        .map(|i| {
            let (_, l, members, _) = runs[i];
            (!args.no_snapshots && members[0] == Scenario::Solution)
                .then(|| smoke_snapshot::end_key(&labs.labs, l, &images_of(i)))
        })
        .collect();
    let solved: BTreeSet<&str> = ends.iter().flatten().map(String::as_str).collect();
    // The key each scenario starts from, and what it runs after a restore.
    let starts: Vec<Option<(String, Resume)>> = (0..total)
        .map(|i| {
            let (_, l, members, _) = runs[i];
            if args.no_snapshots {
                return None;
            }
            if smoke::adds_after_solution(&l.lab, &members[0]) {
                let end = smoke_snapshot::end_key(&labs.labs, l, &images_of(i));
                if solved.contains(end.as_str()) {
                    let resume = Resume {
                        setup_from: l.lab.setup.len(),
                        skip_steps: l.lab.solve.len(),
                    };
                    return Some((end, resume));
                }
            }
            smoke_snapshot::key(&labs.labs, l, &images_of(i)).map(|(k, held)| {
                let resume = Resume {
                    setup_from: held,
                    skip_steps: 0,
                };
                (k, resume)
            })
        })
        .collect();
    let start_keys: Vec<Option<&str>> = starts
        .iter()
        .map(|s| s.as_ref().map(|(k, _)| k.as_str()))
        .collect();
    let wanted: BTreeSet<&str> = start_keys.iter().flatten().copied().collect();
    // The cache, when some scenario starts from a snapshot: the snapshots an earlier run
    // stored whose images are still those the engine has under the same names.
    let cache: Option<CacheUse> = match (args.no_snapshots, wanted.is_empty()) {
        (false, false) => match args
            .snapshot_cache
            .clone()
            .or_else(smoke_cache::default_dir)
        {
            Some(dir) => match smoke_cache::Cache::open(&dir) {
                Ok(cache) => Some(CacheUse {
                    cache,
                    replace: args.fresh_snapshots,
                    leftovers: Mutex::new(Vec::new()),
                }),
                Err(e) => {
                    ui.warn(&format!(
                        "cannot use the snapshot cache {}: {e}; snapshots are kept for this run only",
                        dir.display()
                    ));
                    None
                }
            },
            None => None,
        },
        _ => None,
    };
    let mut cached: BTreeMap<&str, Arc<Snapshot>> = BTreeMap::new();
    if let Some(c) = cache.as_ref().filter(|c| !c.replace) {
        for k in &wanted {
            let candidates = c.cache.candidates(k);
            if candidates.is_empty() {
                continue;
            }
            let mut names: Vec<String> = candidates
                .iter()
                .flat_map(|(_, m)| m.images.iter().map(|(n, _)| n.clone()))
                .collect();
            names.sort();
            names.dedup();
            let ids = smoke_snapshot::image_ids(&names).await;
            if let Some(hit) = c.cache.lookup(k, &ids) {
                let snap = Snapshot::at(&hit.dir, &hit.manifest, Some(Arc::new(hit.lock)));
                cached.insert(k, Arc::new(snap));
            }
        }
        if !cached.is_empty() {
            ui.status(
                "Cached",
                &format!(
                    "{} from {}",
                    crate::text::count(cached.len(), "starting state"),
                    c.cache.dir.display()
                ),
            );
        }
    }
    let end_keys: Vec<Option<&str>> = ends.iter().map(Option::as_deref).collect();
    let plan = smoke::plan_snapshots(
        &start_keys,
        &end_keys,
        &cached.keys().copied().collect(),
        cache.is_some(),
    );
    // One channel per snapshot taken in this run, and one per head; only the takers
    // (and heads) hold the senders, so one that ends without taking its snapshot (or
    // before its restore) closes the channel: the scenarios waiting for it replay the
    // setup (or go on).
    let snapshot = |k: &str| Produce {
        base: k.to_string(),
        to: root.join(".snapshots").join(k),
        tx: Arc::new(tokio::sync::watch::channel(None).0),
    };
    // A leader takes the snapshot it starts from; a solution, the one where it ends (one
    // scenario can do both: `lab smoke 2` alone, lab 2's solution replays lab 1 and takes
    // where it starts, then where it ends, for its variants).
    let mut leader: Vec<Option<Produce>> = (0..total)
        .map(|i| (plan.start[i] == smoke::SnapStart::Leader).then(|| start_keys[i].map(snapshot)))
        .map(Option::flatten)
        .collect();
    let mut produce: Vec<Option<Produce>> = (0..total)
        .map(|i| end_keys[i].filter(|_| plan.produce[i]).map(snapshot))
        .collect();
    let channel = |k: &str| {
        leader
            .iter()
            .chain(&produce)
            .flatten()
            .find(|p| p.base == k)
            .map(|p| p.tx.subscribe())
    };
    let mut head: Vec<Option<Arc<tokio::sync::watch::Sender<bool>>>> = (0..total)
        .map(|i| plan.head[i].then(|| Arc::new(tokio::sync::watch::channel(false).0)))
        .collect();
    let mut roles: Vec<Option<SnapRole>> = (0..total)
        .map(|i| match &plan.start[i] {
            smoke::SnapStart::Setup | smoke::SnapStart::Leader => None,
            smoke::SnapStart::Cached => start_keys[i]
                .and_then(|k| cached.get(k))
                .map(|s| SnapRole::Cached(s.clone())),
            smoke::SnapStart::Follower { behind, .. } => {
                start_keys[i]
                    .and_then(channel)
                    .map(|rx| SnapRole::Follower {
                        rx,
                        behind: behind.and_then(|h| head[h].as_ref().map(|tx| tx.subscribe())),
                    })
            }
        })
        .collect();
    for i in 0..total {
        if let Some(p) = leader[i].take() {
            roles[i] = Some(SnapRole::Leader(p));
        }
    }
    // The order: by how many snapshots stand between a scenario and the run's start (a
    // scenario waits only for ones nearer the start), then the longest expected first
    // (`smoke::expected_length`: the replayed labs, the steps, the windows failing checks
    // wait out), so the run does not end waiting on one of them. Those that take a
    // snapshot others wait for start without waiting for one of the `jobs` places (with
    // one at a time, as --keep runs, none goes ahead of its turn). The report keeps the
    // course's order.
    let length: Vec<Duration> = (0..total)
        .map(|i| {
            let (_, lab, members, _) = runs[i];
            let replayed = match plan.start[i] {
                smoke::SnapStart::Follower { .. } | smoke::SnapStart::Cached => 0,
                _ => replays(labs, lab),
            };
            // --keep stops at the first broken scenario in the course's order.
            if args.keep {
                Duration::ZERO
            } else {
                smoke::expected_length(&lab.lab, members, replayed)
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..total).collect();
    order.sort_by_key(|&i| (plan.depth(i), std::cmp::Reverse(length[i])));
    // Who gets the next free place among those waiting for one (`smoke_places`): all of
    // them can start now, so the longest expected first, wherever it stands (ranking the
    // farthest from the run's start first starved lab 2's variant that waits out a 30 s
    // window: a CI run ended on it, 3m3s). With --keep, the order above.
    let mut by_need: Vec<usize> = order.clone();
    if !args.keep {
        by_need.sort_by_key(|&i| std::cmp::Reverse(length[i]));
    }
    let mut rank = vec![0; total];
    for (r, &i) in by_need.iter().enumerate() {
        rank[i] = r;
    }
    let urgent: Vec<bool> = (0..total)
        .map(|i| jobs > 1 && (plan.produce[i] || plan.start[i] == smoke::SnapStart::Leader))
        .collect();
    // The checks before a solution's steps, judged by another environment starting in
    // the same state (`smoke::before_hosts`), so that the solution, on the run's longest
    // path, goes straight to its steps. The solution waits for their verdict after
    // giving back its place. With one at a time (--keep) each judges its own.
    let seats: Vec<smoke::BeforeSeat<_>> = (0..total)
        .map(|i| {
            let (round, lab, members, profile) = runs[i];
            let solution = members[0] == Scenario::Solution && profile.is_none();
            let can_host = !solution
                && profile.is_none()
                && match &starts[i] {
                    Some((_, r)) if uses_compose(labs, lab) => {
                        let own = members[0].steps(&lab.lab).unwrap_or_default();
                        !r.brings_stack_up_first(lab, own)
                    }
                    _ => true,
                };
            smoke::BeforeSeat {
                solution,
                start: (round, lab.lab.number, starts[i].clone()),
                can_host,
            }
        })
        .collect();
    let hosts = match jobs > 1 && !args.keep {
        true => smoke::before_hosts(&seats),
        false => vec![None; total],
    };
    let mut before: Vec<Before> = (0..total).map(|_| Before::Here).collect();
    let mut before_rx: Vec<Option<(BeforeRx, String)>> = (0..total).map(|_| None).collect();
    for (i, host) in hosts.iter().enumerate() {
        if let Some(j) = *host {
            let (tx, rx) = tokio::sync::oneshot::channel();
            before[i] = Before::Elsewhere;
            before[j] = Before::For(tx);
            let (_, lab, members, _) = runs[j];
            before_rx[i] = Some((rx, format!("lab {} {}", lab.lab.id(), members[0].name())));
        }
    }
    // Each solution whose end the next lab's solution starts from hands its environment
    // over to it (`Handoff`), in the same round, on the same images. Not with --keep: it
    // keeps environments as they were judged.
    let mut hand_to: Vec<Option<tokio::sync::oneshot::Sender<Handoff>>> =
        (0..total).map(|_| None).collect();
    let mut handed: Vec<Option<tokio::sync::oneshot::Receiver<Handoff>>> =
        (0..total).map(|_| None).collect();
    if !args.keep {
        let solution: Vec<bool> = runs
            .iter()
            .map(|(_, _, members, _)| members[0] == Scenario::Solution)
            .collect();
        let group: Vec<_> = runs
            .iter()
            .map(|(round, _, _, p)| (*round, p.map(|p| &p.name)))
            .collect();
        let takers = smoke::plan_handovers(&plan, &solution, &group);
        for (i, j) in takers.iter().enumerate() {
            if let Some(j) = *j {
                let (tx, rx) = tokio::sync::oneshot::channel();
                hand_to[i] = Some(tx);
                handed[j] = Some(rx);
            }
        }
    }
    let order: Vec<(usize, Option<SnapRole>, Option<Produce>)> = order
        .into_iter()
        .map(|i| (i, roles[i].take(), produce[i].take()))
        .collect();
    let places = smoke_places::Places::new(jobs);
    // Each scenario's report as it finishes; the summary, the JUnit report and the
    // rates keep the course's order (the index in `runs`).
    let mut finished: Vec<Option<Vec<Outcome>>> = vec![None; total];
    // The scenarios under way, with their environments, for Ctrl-C.
    let running: Mutex<BTreeMap<usize, Underway>> = Mutex::new(BTreeMap::new());
    let mut sigint = super::start::Sigint::listen()?;
    let interrupted = {
        let mut results = futures_util::stream::iter(order)
            .map(|(i, role, produce)| {
                let (round, lab, members, profile) = runs[i];
                let (urgent, places, rank, resume, head) = (
                    urgent[i],
                    &places,
                    &rank,
                    starts[i].as_ref().map(|(_, r)| *r).unwrap_or_default(),
                    head[i].take(),
                );
                let (before, before_rx) = (
                    std::mem::replace(&mut before[i], Before::Here),
                    before_rx[i].take(),
                );
                let (hand_to, handed) = (hand_to[i].take(), handed[i].take());
                let name = scenario_name(lab, &members[0], profile, round, args.repeat);
                let dir = root.join(&name);
                let project = format!("{}-{name}", args.project);
                let (stop, starts_made, kept, steps_ui, docker, args, running, cache) = (
                    &stop,
                    &starts_made,
                    &kept,
                    &steps_ui,
                    &docker,
                    &args,
                    &running,
                    cache.as_ref(),
                );
                async move {
                    // The snapshot to start from first, then a place among the `jobs`
                    // (unless others wait for this one's snapshot).
                    let t = Instant::now();
                    // The previous solution's environment, once it was judged; when it
                    // is not handed over (its steps failed), its snapshot.
                    let handed = match handed {
                        Some(rx) => rx.await.ok(),
                        None => None,
                    };
                    let (dir, project) = match &handed {
                        Some(h) => (h.dir.clone(), h.project.clone()),
                        None => (dir, project),
                    };
                    let start = match role {
                        _ if handed.is_some() => Start::Handed {
                            waited: t.elapsed(),
                        },
                        None => Start::Setup,
                        Some(SnapRole::Cached(snap)) => Start::Cached(snap),
                        Some(SnapRole::Leader(p)) => Start::Leader(p),
                        Some(SnapRole::Follower { mut rx, behind }) => {
                            let snap = rx
                                .wait_for(Option::is_some)
                                .await
                                .map(|v| v.clone().flatten())
                                .unwrap_or(None);
                            if let (Some(_), Some(mut behind)) = (&snap, behind) {
                                let _ = behind.wait_for(|restored| *restored).await;
                            }
                            Start::Published {
                                snap,
                                waited: t.elapsed(),
                            }
                        }
                    };
                    // A handed-over environment is already running: it takes no place.
                    let place = match urgent || handed.is_some() {
                        true => None,
                        false => Some(places.acquire(rank[i]).await),
                    };
                    if stop.load(Ordering::SeqCst) {
                        return (i, None);
                    }
                    let what = format!(
                        "lab {} {}",
                        lab.lab.id(),
                        match profile {
                            Some(p) => format!("{} [{}]", members[0].name(), p.name),
                            None => members
                                .iter()
                                .map(Scenario::name)
                                .collect::<Vec<_>>()
                                .join(", "),
                        }
                    );
                    let underway = Underway {
                        what,
                        scenarios: members.len(),
                        dir: dir.clone(),
                        project: project.clone(),
                        compose: uses_compose(labs, lab),
                    };
                    lock(running).insert(i, underway);
                    // The last to start (with --keep it is kept even when it passes).
                    let last = starts_made.fetch_add(1, Ordering::SeqCst) + 1 == total;
                    let keep =
                        |ok: bool| args.keep && (!ok || last) && !stop.swap(true, Ordering::SeqCst);
                    let (mut outs, step_times) = exec::timed(environment_run(
                        labs,
                        lab,
                        members,
                        profile,
                        &dir,
                        &project,
                        args,
                        docker,
                        steps_ui,
                        keep,
                        Snapshots {
                            start,
                            resume,
                            produce,
                            head,
                            cache,
                            hand_to,
                        },
                        before,
                    ))
                    .await;
                    drop(place);
                    if let Some((rx, host)) = before_rx {
                        let o = &mut outs[0];
                        o.remarks
                            .push(format!("its checks before in the environment of {host}"));
                        match rx.await {
                            Ok(Ok(defects)) => o.defects.extend(defects),
                            Ok(Err(e)) => {
                                o.error.get_or_insert(format!(
                                    "checks before the solution (in the environment of {host}): {e}"
                                ));
                            }
                            Err(_) => o.warnings.push(format!(
                                "the checks before the solution did not run: the environment \
                                 of {host} that judges them ended before them"
                            )),
                        }
                    }
                    // The steps ran in the first scenario's time (the others' are
                    // their answers and checks).
                    outs[0].step_times = step_times;
                    if outs[0].kept {
                        *lock(kept) = Some((dir, project));
                    }
                    lock(running).remove(&i);
                    (i, Some(outs))
                }
            })
            .buffer_unordered(total.max(1));
        let mut done = 0;
        loop {
            tokio::select! {
                next = results.next() => match next {
                    Some((i, Some(outs))) => {
                        for o in &outs {
                            done += 1;
                            crate::report::smoke::outcome(o, ui, (done, total_scenarios));
                        }
                        finished[i] = Some(outs);
                    }
                    Some((_, None)) => {}
                    None => break false,
                },
                _ = sigint.recv() => break true,
            }
        }
        // Leaving the block drops the scenarios under way (and their compose children).
    };
    let outcomes: Vec<Outcome> = finished.into_iter().flatten().flatten().collect();
    if let Some(c) = &cache {
        for p in lock(&c.leftovers).drain(..) {
            let _ = std::fs::remove_dir_all(p);
        }
        // The entries this run holds (`cached`) are in use and stay.
        let pruned = c.cache.prune(
            std::time::SystemTime::now(),
            smoke_cache::MAX_AGE,
            smoke_cache::MAX_BYTES,
        );
        if ui.verbose > 0 {
            for p in &pruned {
                ui.status(
                    "Pruned",
                    &format!(
                        "snapshot {} from the cache ({}, {} MB)",
                        p.name,
                        p.why,
                        p.bytes / 1_000_000
                    ),
                );
            }
        }
    }
    drop(cached);
    if interrupted {
        let cut: Vec<Underway> = lock(&running).values().cloned().collect();
        return Ok(on_interrupt(
            &outcomes,
            total_scenarios,
            &cut,
            &root,
            args.keep,
            ui,
            &mut sigint,
        )
        .await);
    }
    let kept = kept.into_inner().unwrap_or_else(|e| e.into_inner());
    let elapsed = started.elapsed();

    if let Some(path) = &args.junit {
        super::prelude::write_report(path, junit(&outcomes, elapsed).as_bytes())?;
    }
    if outcomes.len() > 1 {
        crate::report::smoke::summary(&outcomes, ui);
    }
    if args.repeat > 1 {
        crate::report::smoke::rates(&outcomes, ui);
    }
    crate::report::smoke::account(&smoke::time_account(&outcomes), elapsed, jobs, ui);
    let bad = outcomes.iter().filter(|o| !o.ok()).count();
    let summary = format!(
        "{} of {} passed in {}",
        outcomes.len() - bad,
        crate::text::count(outcomes.len(), "scenario"),
        format_duration(elapsed)
    );
    if bad == 0 {
        ui.status("Finished", &summary);
    } else {
        ui.status("Failed", &format!("{summary}; {bad} broken"));
    }
    match kept {
        Some((dir, project)) => ui.tell(&format!(
            "Kept the environment in {} (compose project `{project}`; its ports: {}): \
             `lab status --workspace {0}`, then `lab stop --workspace {0}` and remove the folder",
            dir.display(),
            crate::ports::path(&dir).display()
        )),
        None => {
            let _ = std::fs::remove_dir_all(&root);
        }
    }
    Ok(if bad == 0 {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    })
}

/// One fresh environment, from its creation to its cleanup, and the scenarios judged in
/// it: its setup (or a start from the lab's snapshot), the steps its scenarios share,
/// then each scenario's own answers and checks, one after another (one scenario unless
/// several differ only in their answers: `smoke::share`).
#[allow(clippy::too_many_arguments)]
async fn environment_run(
    labs: &Loaded,
    lab: &LoadedLab,
    members: &[Scenario],
    profile: Option<&Profile>,
    dir: &Path,
    project: &str,
    args: &SmokeArgs,
    docker: &std::result::Result<bollard::Docker, String>,
    steps_ui: &Ui,
    keep: impl FnOnce(bool) -> bool,
    snaps: Snapshots<'_>,
    before: Before,
) -> Vec<Outcome> {
    let Snapshots {
        start,
        resume,
        produce,
        head,
        cache,
        hand_to,
    } = snaps;
    let is_handed = matches!(start, Start::Handed { .. });
    let mut outs: Vec<Outcome> = members
        .iter()
        .map(|scenario| Outcome {
            lab: lab.lab.id(),
            scenario: scenario.clone(),
            profile: profile.map(|p| p.name.clone()),
            phases: Vec::new(),
            defects: Vec::new(),
            results: Vec::new(),
            error: None,
            kept: false,
            warnings: Vec::new(),
            step_times: Default::default(),
            shared: None,
            remarks: Vec::new(),
        })
        .collect();
    let images = scenario_images(&args.images, profile);
    // A handed-over environment is the previous solution's, as it left it.
    let made = match is_handed {
        true => Environment::open(dir),
        false => fresh(dir, project, args.license.as_deref()),
    };
    let session = match made.and_then(|mut e| {
        e.images = crate::images::ImageMap::for_env(Some(&e.dir), &images)?;
        Ok(e)
    }) {
        // The run's one Docker connection, shared by every scenario.
        Ok(e) => Session::with_docker(e, std::sync::Arc::new(docker.clone())),
        Err(e) => {
            for o in &mut outs {
                o.error = Some(e.to_string());
            }
            return outs;
        }
    };
    let env = &session.env;
    let uses_compose = uses_compose(labs, lab);
    let leftovers = match docker {
        _ if is_handed => Ok(false),
        Ok(d) => {
            crate::engine::containers::project_leftovers(d, project, Duration::from_secs(30)).await
        }
        Err(_) => Ok(true),
    };
    if uses_compose && !matches!(leftovers, Ok(false)) {
        // A stack left by an earlier run under the same project would not be fresh.
        let _ = exec::run_steps(
            &session,
            &labs.labs,
            lab,
            &[Step::ComposeDown { volumes: true }],
            steps_ui,
        )
        .await;
    }

    // The steps every member runs, and each member's answers at their end.
    let plans: std::result::Result<Vec<StepsAndAnswers>, String> = members
        .iter()
        .map(|scenario| {
            let steps = scenario
                .steps(&lab.lab)
                .ok_or_else(|| format!("no {}", scenario.name()))?;
            Ok(match smoke::split_answers(&steps) {
                Some((work, answers)) if members.len() > 1 => (
                    work.into_iter().cloned().collect(),
                    answers.into_iter().cloned().collect(),
                ),
                _ => (steps.into_iter().cloned().collect(), Vec::new()),
            })
        })
        .collect();
    // The checks before the solution judge the lab's checks, once, on the default
    // images: a release of the matrix cannot change them where the solution's own
    // steps are the first to bring the stack up (before them the stack is the
    // snapshot's, whatever the release). Such a scenario, restored from a snapshot,
    // leaves its stack created but not started for its steps to start once.
    // Restored, an environment runs the setup's steps the snapshot does not hold, then
    // its steps (only those after the solution's, restored where the solution ends).
    let restored = matches!(
        start,
        Start::Cached(_) | Start::Published { snap: Some(_), .. } | Start::Handed { .. }
    );
    let setup_from = resume.setup_from.min(lab.lab.setup.len());
    // Not restored: the whole setup ran, and every step follows.
    let resumed = match restored {
        true => resume,
        false => Resume {
            setup_from: lab.lab.setup.len(),
            skip_steps: 0,
        },
    };
    let (rest_of_setup, skipped) = (resumed.rest_of_setup(lab), resumed.skip_steps);
    let steps_bring_stack_up = uses_compose
        && plans
            .as_ref()
            .is_ok_and(|p| resumed.brings_stack_up_first(lab, &p[0].0));
    let (checks_before, mut host_for) = match before {
        Before::Here => (
            members[0] == Scenario::Solution && !(profile.is_some() && steps_bring_stack_up),
            None,
        ),
        Before::Elsewhere => (false, None),
        Before::For(tx) => (false, Some(tx)),
    };
    let up_at_restore = !steps_bring_stack_up || checks_before || host_for.is_some();
    // The answers file where the solution ends (`None` inside: none), once it got there.
    let mut end_answers: Option<Option<Vec<u8>>> = None;
    let body = async {
        let plans = plans?;
        let o = &mut outs[0];
        let t = Instant::now();
        // The setup's steps in `part` (all of them, or those a snapshot holds, or the rest).
        let setup = |part: std::ops::Range<usize>| {
            let steps = &lab.lab.setup[part];
            let session = &session;
            async move {
                exec::run_steps(session, &labs.labs, lab, steps, steps_ui)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("setup: {e}"))
            }
        };
        // From a snapshot: its files and volumes, then the stack up.
        let sess = &session;
        let from = |snap: Arc<Snapshot>| async move {
            smoke_snapshot::restore(&snap, env, uses_compose)
                .await
                .map_err(|e| format!("setup from the snapshot: {e}"))?;
            if !rest_of_setup.is_empty() {
                exec::run_steps(sess, &labs.labs, lab, rest_of_setup, steps_ui)
                    .await
                    .map_err(|e| format!("setup after the snapshot: {e}"))?;
            }
            if uses_compose && up_at_restore {
                let up = [Step::ComposeUp {
                    services: Vec::new(),
                    timeout: None,
                }];
                exec::run_steps(sess, &labs.labs, lab, &up, steps_ui)
                    .await
                    .map_err(|e| format!("setup from the snapshot: {e}"))?;
            }
            Ok::<(), String>(())
        };
        match start {
            Start::Setup => {
                setup(0..lab.lab.setup.len()).await?;
                o.phases.push(("setup", t.elapsed()));
            }
            Start::Cached(snap) => {
                from(snap).await.map_err(|e| {
                    format!("{e} (a snapshot from the cache: --fresh-snapshots takes it again)")
                })?;
                o.phases.push(("restore from cache", t.elapsed()));
            }
            Start::Leader(p) => {
                let done = setup(0..setup_from).await;
                o.phases.push(("setup", t.elapsed()));
                let t = Instant::now();
                let phase =
                    publish(p, done.is_ok(), env, uses_compose, cache, &mut o.warnings).await;
                o.phases.push((phase, t.elapsed()));
                done?;
                let t = Instant::now();
                if setup_from < lab.lab.setup.len() {
                    setup(setup_from..lab.lab.setup.len()).await?;
                    o.phases.push(("setup", t.elapsed()));
                }
            }
            Start::Handed { waited } => {
                o.phases.push(("handover wait", waited));
                o.remarks
                    .push("in the environment the previous lab's solution handed over".into());
                if let Some(head) = &head {
                    head.send_replace(true);
                }
                if !rest_of_setup.is_empty() {
                    exec::run_steps(sess, &labs.labs, lab, rest_of_setup, steps_ui)
                        .await
                        .map_err(|e| format!("setup after the handover: {e}"))?;
                    o.phases.push(("setup", t.elapsed()));
                }
            }
            Start::Published { snap, waited } => {
                o.phases.push(("snapshot wait", waited));
                match snap {
                    Some(snap) => {
                        from(snap).await?;
                        o.phases.push(("restore", t.elapsed()));
                        if let Some(head) = &head {
                            head.send_replace(true);
                        }
                    }
                    None => {
                        setup(0..lab.lab.setup.len()).await?;
                        o.phases.push(("setup", t.elapsed()));
                    }
                }
            }
        }

        // Only the solution's own run (the first member when it is one) sees the
        // checks before any step.
        if checks_before {
            let t = Instant::now();
            let before = checks(lab, env, docker).await?;
            o.defects.extend(smoke::before_solution(&before));
            o.phases.push(("checks before", t.elapsed()));
        }
        // Another environment's solution starts in this state: its checks before.
        if let Some(tx) = host_for.take() {
            let t = Instant::now();
            let before = checks(lab, env, docker).await;
            o.phases.push(("checks before the solution", t.elapsed()));
            let _ = tx.send(before.map(|b| smoke::before_solution(&b)));
        }
        let t = Instant::now();
        let work = plans[0].0.get(skipped..).unwrap_or_default();
        let done = exec::run_steps(&session, &labs.labs, lab, work, steps_ui)
            .await
            .map(|_| ())
            .map_err(|e| format!("steps: {e}"));
        o.phases.push(("steps", t.elapsed()));
        // The answers as the steps left them: each member records its own from there.
        let answers = std::fs::read(Environment::answers_path(&env.dir)).ok();
        // Where the solution ends, for the scenarios that start there: with its own
        // answers, which it records first when it shares the environment.
        if let Some(p) = produce {
            let mut ok = done.is_ok();
            if ok && !plans[0].1.is_empty() {
                ok = exec::run_steps(&session, &labs.labs, lab, &plans[0].1, steps_ui)
                    .await
                    .is_ok();
            }
            if ok {
                end_answers = Some(std::fs::read(Environment::answers_path(&env.dir)).ok());
            }
            let t = Instant::now();
            let phase = publish(p, ok, env, uses_compose, cache, &mut o.warnings).await;
            o.phases.push((phase, t.elapsed()));
        }
        done?;
        Ok::<_, String>((plans, answers))
    };
    match body.await {
        Err(e) => {
            for o in &mut outs {
                o.error = Some(e.clone());
            }
        }
        Ok((plans, answers)) => {
            let run = Members {
                labs,
                lab,
                session: &session,
                steps_ui,
                docker,
            };
            run.judge(members, &plans, answers.as_deref(), &mut outs)
                .await
        }
    }

    let ok = outs.iter().all(Outcome::ok);
    let kept = keep(ok);
    for o in &mut outs {
        o.kept = kept;
    }
    // Handed over where the solution ends: its answers as they were there.
    let handed = match (hand_to, end_answers) {
        (Some(tx), Some(bytes)) if !kept => {
            let file = Environment::answers_path(dir);
            let reset = put_answers(&file, bytes.as_deref());
            let to = Handoff {
                dir: dir.to_path_buf(),
                project: project.to_string(),
            };
            reset.is_ok() && tx.send(to).is_ok()
        }
        _ => false,
    };
    if handed {
        let last = outs.len() - 1;
        outs[last]
            .remarks
            .push("its environment handed over to the next lab's solution".into());
    } else if !kept {
        let t = Instant::now();
        let mut down: Vec<Step> = lab.lab.cleanup.clone();
        if uses_compose {
            down.push(Step::ComposeDown { volumes: true });
        }
        let last = outs.len() - 1;
        let o = &mut outs[last];
        if let Err(e) = exec::run_steps(&session, &labs.labs, lab, &down, steps_ui).await {
            let e = e.to_string();
            if e.contains("has active endpoints") {
                // The engine still counts an endpoint on a network every container
                // has left (moby/moby#43286): a defect of the engine, not of the lab.
                o.warnings.push(format!(
                    "cleanup left the compose project's network behind: {e} \
                     (an engine bug, moby/moby#43286; restarting the engine frees it)"
                ));
            } else if o.error.is_none() {
                o.error = Some(format!("cleanup: {e}"));
            }
        }
        let _ = std::fs::remove_dir_all(dir);
        o.phases.push(("cleanup", t.elapsed()));
    }
    outs
}

/// The verdict on a solution's checks before its steps, from the environment that
/// judged them.
type BeforeVerdict = std::result::Result<Vec<smoke::Defect>, String>;
type BeforeRx = tokio::sync::oneshot::Receiver<BeforeVerdict>;

/// Who judges a lab's checks before its solution's steps (`smoke::before_hosts`).
enum Before {
    /// This environment, when it runs the solution.
    Here,
    /// Another environment starting in the same state: this one runs none.
    Elsewhere,
    /// This one, before its own steps, for a solution run elsewhere.
    For(tokio::sync::oneshot::Sender<BeforeVerdict>),
}

/// How an environment uses the run's snapshots.
struct Snapshots<'a> {
    start: Start,
    /// What a restored environment runs.
    resume: Resume,
    /// The snapshot of where its solution ends, for the scenarios that start there.
    produce: Option<Produce>,
    /// Goes first among those restoring its snapshot: says when it has restored.
    head: Option<Arc<tokio::sync::watch::Sender<bool>>>,
    cache: Option<&'a CacheUse>,
    /// Where to hand its environment over once judged, instead of removing it.
    hand_to: Option<tokio::sync::oneshot::Sender<Handoff>>,
}

/// What an environment restored from a snapshot runs: the lab's setup from step
/// `setup_from` (the snapshot holds the steps before it), then its own steps after the
/// first `skip_steps` (the solution's, restored where the solution ends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Resume {
    setup_from: usize,
    skip_steps: usize,
}

impl Resume {
    /// The setup's steps a restored environment still runs.
    fn rest_of_setup<'a>(&self, lab: &'a LoadedLab) -> &'a [Step] {
        &lab.lab.setup[self.setup_from.min(lab.lab.setup.len())..]
    }

    /// Whether a restored environment's first step that does more than edit files brings
    /// the whole stack up (`smoke::brings_stack_up_first`): the rest of the setup, then
    /// `steps` after the first `skip_steps`.
    fn brings_stack_up_first<'a>(
        &self,
        lab: &LoadedLab,
        steps: impl IntoIterator<Item = &'a Step>,
    ) -> bool {
        let next: Vec<Step> = self
            .rest_of_setup(lab)
            .iter()
            .cloned()
            .chain(steps.into_iter().skip(self.skip_steps).cloned())
            .collect();
        smoke::brings_stack_up_first(&next)
    }
}

/// Takes the snapshot `p` of `env` (when `ok`: the state it is of was reached) and
/// publishes it to the scenarios waiting for it; published as none when it could not
/// be taken (they replay the setup). The phase's name for the report.
async fn publish(
    p: Produce,
    ok: bool,
    env: &Environment,
    uses_compose: bool,
    cache: Option<&CacheUse>,
    warnings: &mut Vec<String>,
) -> &'static str {
    let Produce { base, to, tx } = p;
    let to = match cache.map(|c| c.cache.tmp(&base)) {
        Some(Ok(tmp)) => tmp,
        Some(Err(e)) => {
            warnings.push(format!(
                "cannot write into the snapshot cache ({e}): the snapshot is kept for this run only"
            ));
            to
        }
        None => to,
    };
    let in_cache = cache.is_some_and(|c| to.starts_with(&c.cache.dir));
    let (snap, unpaused) = match ok {
        true => match smoke_snapshot::take(env, &to, uses_compose).await {
            Ok((s, unpaused)) if in_cache => {
                let cache = cache.expect("in_cache");
                let s = store(s, &base, &to, cache, warnings);
                (Some(Arc::new(s)), Some(unpaused))
            }
            Ok((s, unpaused)) => (Some(Arc::new(s)), Some(unpaused)),
            Err(e) => {
                warnings.push(format!(
                    "no snapshot of the state other scenarios start from ({e}): they replay the setup"
                ));
                (None, None)
            }
        },
        false => (None, None),
    };
    if in_cache && snap.is_none() {
        let _ = std::fs::remove_dir_all(&to);
    }
    // Published as soon as it is whole: those waiting restore it while this
    // environment's containers become healthy again after their pause.
    tx.send_replace(Some(snap));
    if let Some(u) = unpaused {
        if let Err(e) = u.healthy().await {
            warnings.push(e);
        }
    }
    if in_cache {
        "snapshot to cache"
    } else {
        "snapshot"
    }
}

/// Puts the answers file back as it was (`None`: there was none).
fn put_answers(file: &Path, bytes: Option<&[u8]>) -> std::io::Result<()> {
    match bytes {
        Some(b) => write_atomic(file, b),
        None => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// A member's steps that change the environment, and the answers it records after them.
type StepsAndAnswers = (Vec<Step>, Vec<Step>);

/// What judging the members of one environment needs.
struct Members<'a> {
    labs: &'a Loaded,
    lab: &'a LoadedLab,
    session: &'a Session,
    steps_ui: &'a Ui,
    docker: &'a std::result::Result<bollard::Docker, String>,
}

impl Members<'_> {
    /// Each member in turn: the answers as the shared steps left them, its own answers,
    /// its checks, its verdict. A member that cannot be judged does not stop the others.
    async fn judge(
        &self,
        members: &[Scenario],
        plans: &[StepsAndAnswers],
        after_steps: Option<&[u8]>,
        outs: &mut [Outcome],
    ) {
        let env = &self.session.env;
        let file = Environment::answers_path(&env.dir);
        for (k, (scenario, o)) in members.iter().zip(outs.iter_mut()).enumerate() {
            let judged = async {
                if k > 0 {
                    o.shared = Some(members[0].name());
                    put_answers(&file, after_steps).map_err(|e| {
                        format!("cannot reset the answers in {}: {e}", file.display())
                    })?;
                }
                let answers = &plans[k].1;
                if !answers.is_empty() {
                    let t = Instant::now();
                    exec::run_steps(
                        self.session,
                        &self.labs.labs,
                        self.lab,
                        answers,
                        self.steps_ui,
                    )
                    .await
                    .map_err(|e| format!("steps: {e}"))?;
                    o.phases.push(("answers", t.elapsed()));
                }
                let t = Instant::now();
                let after = checks(self.lab, env, self.docker).await?;
                o.phases.push(("checks", t.elapsed()));
                o.defects.extend(match scenario {
                    Scenario::Solution => smoke::after_solution(&after),
                    Scenario::Variant(id) => {
                        let v = self.lab.lab.variants.iter().find(|v| &v.id == id);
                        v.map(|v| smoke::after_variant(v, &after))
                            .unwrap_or_default()
                    }
                });
                o.results = after;
                Ok::<(), String>(())
            };
            if let Err(e) = judged.await {
                o.error = Some(e);
            }
        }
    }
}

/// Stores the snapshot the leader took into the cache's temporary folder `tmp`; the
/// snapshot as its followers find it (in the cache, or still in `tmp` when another run
/// stored the same key, removed at the end of this run).
fn store(
    s: Snapshot,
    base: &str,
    tmp: &Path,
    c: &CacheUse,
    warnings: &mut Vec<String>,
) -> Snapshot {
    let m = s.manifest(base, tmp);
    match c.cache.store(tmp, &m, c.replace) {
        Ok(smoke_cache::Stored::At(dir)) => {
            let held = c.cache.hold(&dir).map(Arc::new);
            Snapshot::at(&dir, &m, held)
        }
        Ok(smoke_cache::Stored::Kept(dir)) => {
            lock(&c.leftovers).push(dir);
            s
        }
        Err(e) => {
            warnings.push(format!(
                "cannot store the snapshot in the cache ({e}): it is kept for this run only"
            ));
            lock(&c.leftovers).push(tmp.to_path_buf());
            s
        }
    }
}

/// The image maps of a scenario: the profile's after --image's (a later map of one
/// image wins).
fn scenario_images(images: &[String], profile: Option<&Profile>) -> Vec<String> {
    images
        .iter()
        .chain(profile.iter().flat_map(|p| &p.images))
        .cloned()
        .collect()
}

/// The scenario's folder and compose project suffix: `02-prometheus-solution`,
/// `03-metrics-two-more-images-r2`, `04-grafana-solution-grafana-12`.
fn scenario_name(
    lab: &LoadedLab,
    scenario: &Scenario,
    profile: Option<&Profile>,
    round: u32,
    rounds: u32,
) -> String {
    let mut name = format!(
        "{}-{}",
        lab.lab.id(),
        match scenario {
            Scenario::Solution => "solution",
            Scenario::Variant(id) => id,
        }
    );
    if let Some(p) = profile {
        name.push('-');
        name.push_str(&p.name);
    }
    if rounds > 1 {
        name.push_str(&format!("-r{round}"));
    }
    // A compose project name: lower-case letters, digits, `-` and `_`.
    name.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

/// MemAvailable, in MiB (`None` when /proc/meminfo cannot be read).
fn available_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    super::doctor::verdict::parse_meminfo(&text)
        .ok()
        .map(|m| m.available_kib / 1024)
}

/// A new environment in `dir`: the course's deployment, as `lab init` writes it,
/// its stack on free loopback ports (`crate::ports`) so that scenarios run side by side.
fn fresh(dir: &Path, project: &str, license: Option<&Path>) -> Result<Environment> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(write_err(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let env = Environment::new(dir, project, "docker-compose.yaml", false);
    super::init::write_deployment(&env)?;
    if let Some(l) = license {
        let bytes = std::fs::read(l).map_err(|e| {
            Error::Usage(format!("cannot read the license file {}: {e}", l.display()))
        })?;
        let to = dir.join("license.yaml");
        write_atomic(&to, &bytes).map_err(write_err(&to))?;
    }
    env.create()?;
    crate::ports::enable(dir)?;
    Ok(env)
}

/// How many earlier labs the lab's setup replays (`complete_lab`, recursively).
fn replays(labs: &Loaded, lab: &LoadedLab) -> usize {
    fn walk(labs: &Loaded, steps: &[Step], seen: &mut Vec<u32>) {
        for s in steps {
            if let Step::CompleteLab { lab: n } = s {
                if seen.contains(n) {
                    continue;
                }
                seen.push(*n);
                if let Some(l) = labs.labs.iter().find(|l| l.lab.number == *n) {
                    walk(labs, &l.lab.setup, seen);
                    walk(labs, &l.lab.solve, seen);
                }
            }
        }
    }
    let mut seen = Vec::new();
    walk(labs, &lab.lab.setup, &mut seen);
    seen.len()
}

/// Whether the lab (or an earlier lab it completes) brings up a compose stack.
fn uses_compose(labs: &Loaded, lab: &LoadedLab) -> bool {
    let l = &lab.lab;
    let variant_steps = l
        .variants
        .iter()
        .flat_map(|v| v.instead.iter().flatten().chain(v.after.iter().flatten()));
    l.setup
        .iter()
        .chain(&l.solve)
        .chain(variant_steps)
        .any(|s| match s {
            Step::ComposeUp { .. } | Step::ComposeDown { .. } => true,
            Step::CompleteLab { lab: n } => labs
                .labs
                .iter()
                .find(|o| o.lab.number == *n)
                .is_some_and(|o| uses_compose(labs, o)),
            _ => false,
        })
}

/// The lab's checks against the environment, as `lab check` runs them.
async fn checks(
    lab: &LoadedLab,
    env: &Environment,
    docker: &std::result::Result<bollard::Docker, String>,
) -> std::result::Result<Vec<CheckResult>, String> {
    let plan = Plan::new(lab, None);
    let answers = env::read_answers(&env.dir).map_err(|e| e.to_string())?;
    let res = Resources::new(env.target(answers), docker.clone());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    Ok(runner::run(&plan, &res, runner::Options::default(), tx).await)
}

/// A scenario under way: its name for the report, its folder and compose project,
/// and whether it brings up a stack (to take down when the run is interrupted).
#[derive(Debug, Clone)]
struct Underway {
    what: String,
    /// How many scenarios it judges.
    scenarios: usize,
    dir: std::path::PathBuf,
    project: String,
    compose: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// After Ctrl-C (or SIGTERM): what finished, in the course's order, and what was cut
/// short; the stacks of the scenarios under way are taken down with their volumes
/// (kept with --keep; a second Ctrl-C leaves them). Returns the exit code, 130.
async fn on_interrupt(
    outcomes: &[Outcome],
    total: usize,
    cut: &[Underway],
    root: &Path,
    keep: bool,
    ui: &Ui,
    sigint: &mut super::start::Sigint,
) -> i32 {
    let bad = outcomes.iter().filter(|o| !o.ok()).count();
    ui.interrupted(&format!(
        "{} of {} finished ({bad} broken) when the run was interrupted",
        outcomes.len(),
        crate::text::count(total, "scenario"),
    ));
    if !outcomes.is_empty() {
        crate::report::smoke::summary(outcomes, ui);
    }
    for u in cut {
        ui.tell(&format!(
            "  {}: cut short (compose project `{}`, folder {})",
            u.what,
            u.project,
            u.dir.display()
        ));
    }
    let never =
        total.saturating_sub(outcomes.len() + cut.iter().map(|u| u.scenarios).sum::<usize>());
    if never > 0 {
        ui.tell(&format!(
            "  {} not started",
            crate::text::count(never, "scenario")
        ));
    }
    if keep {
        ui.tell(&format!(
            "Kept their environments (--keep): `lab stop --workspace FOLDER` for each, then remove {}",
            root.display()
        ));
        return exit::INTERRUPTED;
    }
    let stacks: Vec<&Underway> = cut.iter().filter(|u| u.compose).collect();
    if !stacks.is_empty() {
        ui.status(
            "Removing",
            &format!(
                "the stacks of the {} cut short, with their volumes (Ctrl-C again leaves them)",
                crate::text::count(stacks.len(), "scenario")
            ),
        );
        let docker = crate::engine::docker::connect().await;
        let docker = &docker;
        let downs = futures_util::future::join_all(stacks.iter().map(|u| async move {
            let env = Environment::new(&u.dir, &u.project, "docker-compose.yaml", false);
            match docker {
                Ok(d) => exec::compose_down(&env, d, true).await,
                Err(_) => exec::compose_for(&env).await?.down(true).await.map(|_| ()),
            }
        }));
        tokio::select! {
            results = downs => {
                for (u, r) in stacks.iter().zip(results) {
                    if let Err(e) = r {
                        ui.tell(&format!("  {}: cannot take compose project `{}` down: {e}", u.what, u.project));
                    }
                }
            }
            _ = sigint.recv() => {
                ui.tell("Left them: `docker compose -p PROJECT down --volumes` for each project above.");
                return exit::INTERRUPTED;
            }
        }
    }
    let _ = std::fs::remove_dir_all(root);
    exit::INTERRUPTED
}

/// JUnit XML: a lab is a suite, a scenario (per repeat) a test case.
fn junit(outcomes: &[Outcome], elapsed: Duration) -> String {
    let mut report = Report::new("lab smoke");
    let mut order: Vec<&str> = Vec::new();
    for o in outcomes {
        if !order.contains(&o.lab.as_str()) {
            order.push(&o.lab);
        }
    }
    let mut suites: Vec<TestSuite> = order.iter().map(|l| TestSuite::new(*l)).collect();
    for o in outcomes {
        let status = if let Some(e) = &o.error {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(e.clone());
            s
        } else if o.defects.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(crate::text::count(o.defects.len(), "defect"));
            s.set_description(
                o.defects
                    .iter()
                    .map(|d| match &d.check {
                        Some(c) => format!("check `{c}` {}", d.message),
                        None => d.message.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            s
        };
        let mut case = TestCase::new(o.name(), status);
        case.set_classname(o.lab.clone());
        case.set_time(o.total());
        let phases = o
            .phases
            .iter()
            .map(|(n, d)| format!("{n}: {}", format_duration(*d)))
            .collect::<Vec<_>>()
            .join(", ");
        case.set_system_out(phases);
        if let Some(i) = order.iter().position(|l| *l == o.lab) {
            suites[i].add_test_case(case);
        }
    }
    for mut s in suites {
        let t: Duration = outcomes
            .iter()
            .filter(|o| o.lab == s.name.as_str())
            .map(Outcome::total)
            .sum();
        s.set_time(t);
        report.add_test_suite(s);
    }
    report.set_time(elapsed);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot render the report: {e} -->\n"))
}

//! `lab smoke`'s snapshots: scenarios start from one copy of the state they start in
//! instead of each replaying the earlier labs (and, for a variant that adds steps after
//! the solution, the solution).
//!
//! A snapshot is taken by the scenario of a lab's solution where it ends (the next lab
//! starts there, and the lab's `after:` variants), or, for a start no solution of the
//! run ends in, by the first scenario starting there after its setup (the leader); who
//! takes which is `crate::smoke::plan_snapshots`. It holds the work folder (the compose
//! file as the earlier labs left it, their assets and answers, `.lab/`'s records) and
//! every volume of the stack, copied out of the containers (`docker cp`) while they are
//! paused. The scenarios starting there (followers) start from a fresh folder of their
//! own (their own compose project and loopback ports), take the files, create the stack
//! without starting it, copy the volumes in, and bring it up: the database, Prometheus's
//! TSDB and Grafana's state are where the earlier steps left them. A follower whose
//! snapshot could not be taken replays the setup itself.
//!
//! A snapshot is keyed by the digest of every lab file that leads there (the lab's own
//! and, through `complete_lab`, the earlier labs', recursively) and the image maps that
//! can touch it: a scenario only starts from a snapshot of exactly what its own replay
//! would have built ([`key`], [`end_key`]). A map whose image no replayed file names (nor
//! the course's deployment) cannot change it: lab 4's solution on another Grafana release
//! starts from the same snapshot as on the default one, since labs 1-3 run no Grafana.

use super::smoke_cache::{Manifest, VolumeEntry};
use crate::env::Environment;
use crate::model::{LoadedLab, Step};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

/// Files of the work folder that belong to one environment, not to the lab's state:
/// the project's name and endpoints, the moved ports, the override written from them,
/// the lock; and the license `--license` copies into each environment (never into a
/// snapshot, which the cache keeps on disk: each scenario copies its own).
const OWN_FILES: [&str; 5] = [
    ".lab/state.json",
    ".lab/ports.json",
    ".lab/images.override.yaml",
    ".lab/lock",
    "license.yaml",
];

const PROJECT_LABEL: &str = "com.docker.compose.project";

/// A lab's starting state, on disk under `dir`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The work folder as the setup left it.
    pub work: PathBuf,
    /// Each volume: the service's container path and the tar of its content.
    pub volumes: Vec<Volume>,
    /// Each image the stack ran: its name (after the image maps) and the engine's ID.
    pub images: Vec<(String, String)>,
    /// The cache's shared lock on the entry it lives in, held while it is used.
    #[expect(dead_code, reason = "held for its lock, never read")]
    pub held: Option<Arc<std::fs::File>>,
}

impl Snapshot {
    /// What the cache keeps beside the files, for the snapshot key `base`.
    pub fn manifest(&self, base: &str, dir: &Path) -> Manifest {
        Manifest {
            base: base.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            images: self.images.clone(),
            volumes: self
                .volumes
                .iter()
                .map(|v| VolumeEntry {
                    service: v.service.clone(),
                    path: v.path.clone(),
                    file: v
                        .tar
                        .strip_prefix(dir)
                        .unwrap_or(&v.tar)
                        .display()
                        .to_string(),
                })
                .collect(),
        }
    }

    /// The snapshot in folder `dir` (taken there, or a cache entry) as `m` describes it.
    pub fn at(dir: &Path, m: &Manifest, held: Option<Arc<std::fs::File>>) -> Snapshot {
        Snapshot {
            work: dir.join("work"),
            volumes: m
                .volumes
                .iter()
                .map(|v| Volume {
                    service: v.service.clone(),
                    path: v.path.clone(),
                    tar: dir.join(&v.file),
                })
                .collect(),
            images: m.images.clone(),
            held,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Volume {
    pub service: String,
    /// Where the volume is mounted in the service's container.
    pub path: String,
    pub tar: PathBuf,
}

/// The snapshot key of a lab's setup on an image map, and how many of the setup's
/// steps the snapshot holds (a scenario restored from it runs the rest); `None` when
/// the setup replays no earlier lab (bringing the stack up fresh costs what a restore
/// would). A setup that completes lab N and then only edits files starts where lab N's
/// solution ends: its key is lab N's [`end_key`] (the scenario of lab N's solution can
/// take that snapshot) and the edits are made after the restore.
pub fn key(course: &[LoadedLab], lab: &LoadedLab, images: &[String]) -> Option<(String, usize)> {
    if !replays(&lab.lab.setup) {
        return None;
    }
    if let [Step::CompleteLab { lab: n }, rest @ ..] = lab.lab.setup.as_slice() {
        let edits_only = rest.iter().all(|s| {
            matches!(
                s,
                Step::UncommentBlock { .. }
                    | Step::SetEnv { .. }
                    | Step::AddService { .. }
                    | Step::AddVolume { .. }
                    | Step::WriteAsset { .. }
                    | Step::ReplaceText { .. }
            )
        });
        if let Some(earlier) = course
            .iter()
            .find(|l| l.lab.number == *n)
            .filter(|_| edits_only)
        {
            return Some((end_key(course, earlier, images), 1));
        }
    }
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    let mut seen = Vec::new();
    digest_lab(course, lab, &mut h, &mut seen);
    let text = setup_text(course, lab);
    for i in images.iter().filter(|m| names_image(&text, m)) {
        h.update(b"\0image\0");
        h.update(i.as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some((
        format!("{}-{}", lab.lab.id(), &hex[..16]),
        lab.lab.setup.len(),
    ))
}

/// The key of the state a lab's solution ends in (its setup, then its solve steps, as
/// `complete_lab` replays them), on an image map: where a later lab whose setup only
/// completes this one starts, and where this lab's variants that add steps after the
/// solution (`after:`) start. Keyed by the files of the lab and of every lab it
/// completes, and the image maps any of them (or the deployment) can name.
pub fn end_key(course: &[LoadedLab], lab: &LoadedLab, images: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0end\0");
    let mut seen = Vec::new();
    digest_lab(course, lab, &mut h, &mut seen);
    let mut text = String::from(DEPLOYMENT);
    completed_text(course, lab.lab.number, &mut text, &mut Vec::new());
    for i in images.iter().filter(|m| names_image(&text, m)) {
        h.update(b"\0image\0");
        h.update(i.as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-end-{}", lab.lab.id(), &hex[..16])
}

/// The course's deployment, as `lab init` writes it.
const DEPLOYMENT: &str = include_str!("../../labs/deployment/docker-compose.yaml");

/// Every text a setup can take an image name from: the deployment, every file of the
/// labs it completes (recursively), and the lab's own setup steps with the files they
/// name.
fn setup_text(course: &[LoadedLab], lab: &LoadedLab) -> String {
    let mut text = String::from(DEPLOYMENT);
    let mut seen = vec![lab.lab.number];
    for step in &lab.lab.setup {
        let shown = format!("{step:?}");
        for (name, bytes) in &lab.files {
            if shown.contains(name.as_str()) {
                text.push_str(&String::from_utf8_lossy(bytes));
            }
        }
        text.push_str(&shown);
        if let Step::CompleteLab { lab: n } = step {
            completed_text(course, *n, &mut text, &mut seen);
        }
    }
    text
}

fn completed_text(course: &[LoadedLab], n: u32, text: &mut String, seen: &mut Vec<u32>) {
    if seen.contains(&n) {
        return;
    }
    seen.push(n);
    let Some(l) = course.iter().find(|l| l.lab.number == n) else {
        return;
    };
    for bytes in l.files.values() {
        text.push_str(&String::from_utf8_lossy(bytes));
    }
    for s in l.lab.setup.iter().chain(&l.lab.solve) {
        if let Step::CompleteLab { lab } = s {
            completed_text(course, *lab, text, seen);
        }
    }
}

/// Whether `text` names the image a `FROM=TO` map replaces (its repository, without
/// registry, `library/` or tag: `grafana/grafana`, `postgres`).
fn names_image(text: &str, map: &str) -> bool {
    let from = map.split_once('=').map_or(map, |(f, _)| f).trim();
    let from = from.split('@').next().unwrap_or(from);
    let repo = match from.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => from,
    };
    let repo = repo.strip_prefix("docker.io/").unwrap_or(repo);
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    repo.is_empty() || text.contains(repo)
}

fn replays(steps: &[Step]) -> bool {
    steps.iter().any(|s| matches!(s, Step::CompleteLab { .. }))
}

/// The lab's files, and those of every lab its setup and (for the labs it completes)
/// solution replay, each once.
fn digest_lab(course: &[LoadedLab], lab: &LoadedLab, h: &mut Sha256, seen: &mut Vec<u32>) {
    if seen.contains(&lab.lab.number) {
        return;
    }
    seen.push(lab.lab.number);
    h.update(b"\0lab\0");
    h.update(lab.lab.id().as_bytes());
    for (name, bytes) in &lab.files {
        h.update(b"\0file\0");
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    for s in lab.lab.setup.iter().chain(&lab.lab.solve) {
        if let Step::CompleteLab { lab: n } = s {
            if let Some(earlier) = course.iter().find(|l| l.lab.number == *n) {
                digest_lab(course, earlier, h, seen);
            }
        }
    }
}

async fn docker(args: &[&str]) -> Result<String, String> {
    docker_bytes(args)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// `docker ARGS`, its standard output (a tar from `docker cp … -`), or its error.
async fn docker_bytes(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = tokio::process::Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The IDs of the compose project's containers, one per word.
async fn project_ids(project: &str) -> Result<String, String> {
    docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label={PROJECT_LABEL}={project}"),
    ])
    .await
}

/// The project's containers with their service and volume mounts.
async fn containers(project: &str) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let ids = project_ids(project).await?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec![
        "inspect",
        "--format",
        "{{.Id}}\t{{index .Config.Labels \"com.docker.compose.service\"}}\t{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Destination}}\t{{end}}{{end}}",
    ];
    args.extend(&ids);
    let text = docker(&args).await?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t').filter(|s| !s.is_empty());
            let id = f.next()?.to_string();
            let service = f.next()?.to_string();
            Some((id, service, f.map(String::from).collect()))
        })
        .collect())
}

/// Each container's image, as the stack names it, and the engine's ID of it.
async fn images(project: &str) -> Result<Vec<(String, String)>, String> {
    let ids = project_ids(project).await?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect", "--format", "{{.Config.Image}}\t{{.Image}}"];
    args.extend(&ids);
    let mut found: Vec<(String, String)> = docker(&args)
        .await?
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, i)| (n.to_string(), i.to_string()))
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// The engine's ID of each image named (an image the engine does not have is left out).
pub async fn image_ids(names: &[String]) -> std::collections::BTreeMap<String, String> {
    let mut ids = std::collections::BTreeMap::new();
    for n in names {
        if let Ok(id) = docker(&["image", "inspect", "--format", "{{.Id}}", n]).await {
            ids.insert(n.clone(), id.trim().to_string());
        }
    }
    ids
}

/// The containers a snapshot paused, unpaused again: Docker may call them unhealthy
/// until their next probe passes. The snapshot is whole already (others can restore it);
/// the environment it was taken of goes on once [`Unpaused::healthy`] returns.
#[must_use = "the environment goes on only once its containers are healthy again"]
pub struct Unpaused(Vec<String>);

impl Unpaused {
    /// Waits until none of the containers is unhealthy or starting (a `service_healthy`
    /// dependency of the environment's next `compose up` would fail on one).
    pub async fn healthy(self) -> Result<(), String> {
        if self.0.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = self.0.iter().map(String::as_str).collect();
        healthy_again(&ids, std::time::Duration::from_secs(60)).await
    }
}

/// Takes the snapshot of `env` (its setup done; its stack up when `compose`) into `to`.
pub async fn take(
    env: &Environment,
    to: &Path,
    compose: bool,
) -> Result<(Snapshot, Unpaused), String> {
    let _ = std::fs::remove_dir_all(to);
    let work = to.join("work");
    copy_tree(&env.dir, &work, &env.dir)
        .map_err(|e| format!("cannot copy the work folder: {e}"))?;
    if !compose {
        let snap = Snapshot {
            work,
            volumes: Vec::new(),
            images: Vec::new(),
            held: None,
        };
        return Ok((snap, Unpaused(Vec::new())));
    }
    let images = images(&env.state.project).await?;
    let with_volumes: Vec<_> = containers(&env.state.project)
        .await?
        .into_iter()
        .filter(|(_, _, mounts)| !mounts.is_empty())
        .collect();
    let ids: Vec<&str> = with_volumes.iter().map(|(id, _, _)| id.as_str()).collect();
    // Paused, the services write nothing while their files are read.
    // The engine's freezer can fail for a moment ("unable to freeze" while a process
    // of the container is in the middle of I/O): undo the part that was paused, and
    // try again, up to three times.
    let mut paused = Ok(String::new());
    for attempt in 1..=3u32 {
        if ids.is_empty() {
            break;
        }
        let mut args = vec!["pause"];
        args.extend(&ids);
        paused = docker(&args).await;
        if paused.is_ok() || attempt == 3 {
            break;
        }
        unpause(&ids).await?;
        tokio::time::sleep(std::time::Duration::from_millis(500) * attempt).await;
    }
    let copied = async {
        paused?;
        let mut volumes = Vec::new();
        for (id, service, mounts) in &with_volumes {
            for path in mounts {
                let tar = to.join(format!("volume-{}.tar", volumes.len()));
                let out = docker_bytes(&["cp", "-a", &format!("{id}:{path}"), "-"]).await;
                let bytes = out.map_err(|e| format!("cannot copy {service}:{path} out: {e}"))?;
                if bytes.is_empty() {
                    return Err(format!(
                        "cannot copy {service}:{path} out: docker cp gave nothing"
                    ));
                }
                std::fs::write(&tar, bytes).map_err(|e| format!("{}: {e}", tar.display()))?;
                volumes.push(Volume {
                    service: service.clone(),
                    path: path.clone(),
                    tar,
                });
            }
        }
        Ok(volumes)
    }
    .await;
    if !ids.is_empty() {
        // Every container is unpaused whatever failed above (a pause that failed
        // part-way leaves the others paused): a scenario must never go on with a
        // frozen analyzer. `unpause` errs for one that was not paused, so the
        // containers' state decides.
        unpause(&ids).await?;
    }
    let snap = Snapshot {
        work,
        volumes: copied?,
        images,
        held: None,
    };
    Ok((
        snap,
        Unpaused(ids.iter().map(|id| id.to_string()).collect()),
    ))
}

/// Unpauses the containers; an error names those still paused after a second try.
async fn unpause(ids: &[&str]) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..2 {
        let mut args = vec!["unpause"];
        args.extend(ids);
        if let Err(e) = docker(&args).await {
            last = e;
        }
        let mut args = vec!["inspect", "--format", "{{.Name}} {{.State.Paused}}"];
        args.extend(ids);
        let text = docker(&args).await?;
        let still: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_suffix(" true"))
            .collect();
        if still.is_empty() {
            return Ok(());
        }
        last = format!("still paused: {} ({last})", still.join(", "));
    }
    Err(format!("cannot unpause after the snapshot: {last}"))
}

/// Waits until none of the containers is unhealthy or starting (those without a
/// healthcheck are ready as they run).
async fn healthy_again(ids: &[&str], limit: std::time::Duration) -> Result<(), String> {
    let end = tokio::time::Instant::now() + limit;
    loop {
        let mut args = vec![
            "inspect",
            "--format",
            "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
        ];
        args.extend(ids);
        let text = docker(&args).await?;
        let waiting: Vec<&str> = text
            .lines()
            .filter(|l| l.ends_with(" unhealthy") || l.ends_with(" starting"))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= end {
            return Err(format!(
                "not healthy again within {limit:?} after the snapshot: {}",
                waiting.join(", ")
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Puts the snapshot into `env`, a fresh environment (its own project, ports and state):
/// the work files, then (when the lab runs a stack) the stack created (not started) with
/// the volumes copied in. The caller brings the stack up.
pub async fn restore(snap: &Snapshot, env: &Environment, compose: bool) -> Result<(), String> {
    copy_tree(&snap.work, &env.dir, &snap.work)
        .map_err(|e| format!("cannot copy the work folder: {e}"))?;
    if !compose {
        return Ok(());
    }
    let c = crate::action::exec::compose_for(env)
        .await
        .map_err(|e| e.to_string())?;
    c.create().await.map_err(|e| e.to_string())?;
    let found = containers(&env.state.project).await?;
    for v in &snap.volumes {
        let Some((id, _, _)) = found.iter().find(|(_, s, _)| *s == v.service) else {
            return Err(format!(
                "no {} container to copy {} into",
                v.service, v.path
            ));
        };
        let parent = Path::new(&v.path)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "/".into());
        let file = std::fs::File::open(&v.tar).map_err(|e| format!("{}: {e}", v.tar.display()))?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(format!("{} is empty", v.tar.display()));
        }
        let out = tokio::process::Command::new("docker")
            .args(["cp", "-a", "-", &format!("{id}:{parent}")])
            .stdin(file)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("cannot run docker cp: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot copy {}:{} in: {}",
                v.service,
                v.path,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

/// Copies the files and folders under `from` into `to` (created), leaving out the
/// environment's own files (`OWN_FILES`, relative to `root`); symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path, root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let rel = src.strip_prefix(root).unwrap_or(&src);
        if OWN_FILES.iter().any(|o| rel == Path::new(o)) {
            continue;
        }
        let dst = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst, root)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src)?;
            let _ = std::fs::remove_file(&dst);
            std::os::unix::fs::symlink(target, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_folder_is_copied_without_the_environments_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join(".lab/pristine")).unwrap();
        for f in [
            "docker-compose.yaml",
            "anchore-prometheus.yml",
            ".lab/answers.json",
            ".lab/pristine/docker-compose.yaml",
            ".lab/state.json",
            ".lab/ports.json",
            ".lab/images.override.yaml",
            "license.yaml",
        ] {
            std::fs::write(from.join(f), f).unwrap();
        }
        let to = dir.path().join("to");
        std::fs::create_dir_all(to.join(".lab")).unwrap();
        std::fs::write(to.join(".lab/ports.json"), "mine").unwrap();
        copy_tree(&from, &to, &from).unwrap();
        for kept in [
            "docker-compose.yaml",
            "anchore-prometheus.yml",
            ".lab/answers.json",
            ".lab/pristine/docker-compose.yaml",
        ] {
            assert_eq!(std::fs::read_to_string(to.join(kept)).unwrap(), kept);
        }
        assert_eq!(
            std::fs::read_to_string(to.join(".lab/ports.json")).unwrap(),
            "mine"
        );
        assert!(!to.join(".lab/state.json").exists());
        assert!(!to.join(".lab/images.override.yaml").exists());
        assert!(!to.join("license.yaml").exists(), "a license in a snapshot");
    }

    #[test]
    fn the_key_follows_every_replayed_lab_file_and_the_images() {
        let labs = crate::loader::load(&[crate::loader::Source::Embedded]);
        assert!(labs.problems.is_empty(), "{:?}", labs.problems);
        let find = |n: u32| labs.labs.iter().find(|l| l.lab.number == n).unwrap();
        // Lab 1's setup replays nothing: no snapshot.
        assert_eq!(key(&labs.labs, find(1), &[]).map(|k| k.0), None);
        let (four, holds) = key(&labs.labs, find(4), &[]).expect("lab 4 replays labs 1-3");
        // Lab 4's setup completes lab 3, then writes a file: it starts where lab 3's
        // solution ends, and writes the file after the restore.
        assert!(four.starts_with("03-metrics-end-"), "{four}");
        assert_eq!(four, end_key(&labs.labs, find(3), &[]));
        assert_eq!(holds, 1);
        assert_eq!(find(4).lab.setup.len(), 2);
        assert_eq!(
            key(&labs.labs, find(5), &[]),
            Some((end_key(&labs.labs, find(4), &[]), 1))
        );
        assert_eq!(
            key(&labs.labs, find(4), &[]).map(|k| k.0).as_deref(),
            Some(four.as_str())
        );
        assert_ne!(
            key(&labs.labs, find(4), &["a=b".into()])
                .map(|k| k.0)
                .as_deref(),
            Some(four.as_str())
        );
        // A change to lab 2 (replayed by lab 4's setup) changes lab 4's key.
        let mut changed = labs.labs.clone();
        let two = changed.iter_mut().find(|l| l.lab.number == 2).unwrap();
        two.files
            .insert("assets/anchore-prometheus.yml".into(), b"changed".to_vec());
        assert_ne!(
            key(&changed, find(4), &[]).map(|k| k.0).as_deref(),
            Some(four.as_str())
        );
        let four_in_changed = changed.iter().find(|l| l.lab.number == 4).unwrap();
        assert_ne!(
            key(&changed, four_in_changed, &[]).map(|k| k.0).as_deref(),
            Some(four.as_str())
        );
        // A map of an image the setup never runs leaves the key; one it runs changes it.
        let grafana = "docker.io/grafana/grafana:latest=lab-bench/grafana:12".to_string();
        let prometheus = "docker.io/prom/prometheus:latest=lab-bench/prometheus:3".to_string();
        assert_eq!(
            key(&labs.labs, find(4), std::slice::from_ref(&grafana))
                .map(|k| k.0)
                .as_deref(),
            Some(four.as_str())
        );
        assert_ne!(
            key(&labs.labs, find(4), std::slice::from_ref(&prometheus))
                .map(|k| k.0)
                .as_deref(),
            Some(four.as_str())
        );
        assert_ne!(
            key(&labs.labs, find(5), &[]),
            key(&labs.labs, find(5), std::slice::from_ref(&grafana))
        );
        assert_ne!(
            key(&labs.labs, find(3), &[]),
            key(&labs.labs, find(3), std::slice::from_ref(&prometheus))
        );
        assert_eq!(
            key(&labs.labs, find(3), &[]),
            key(&labs.labs, find(3), std::slice::from_ref(&grafana))
        );
        // Lab 4's own files are not its setup (it only completes lab 3), nor lab 5's.
        let mut four_changed = labs.labs.clone();
        four_changed
            .iter_mut()
            .find(|l| l.lab.number == 4)
            .unwrap()
            .files
            .insert("README.md".into(), b"other".to_vec());
        let four_again = four_changed.iter().find(|l| l.lab.number == 4).unwrap();
        assert_eq!(
            key(&four_changed, four_again, &[]).map(|k| k.0).as_deref(),
            Some(four.as_str())
        );
        assert_ne!(
            end_key(&four_changed, four_again, &[]),
            end_key(&labs.labs, find(4), &[])
        );
        // Lab 5's own files are not lab 4's setup.
        let mut five_changed = labs.labs.clone();
        five_changed
            .iter_mut()
            .find(|l| l.lab.number == 5)
            .unwrap()
            .files
            .insert("README.md".into(), b"other".to_vec());
        let four_again = five_changed.iter().find(|l| l.lab.number == 4).unwrap();
        assert_eq!(
            key(&five_changed, four_again, &[]).map(|k| k.0).as_deref(),
            Some(four.as_str())
        );
    }
}

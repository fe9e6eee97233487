//! `lab smoke`'s snapshot cache: each lab's snapshot (`smoke_snapshot`) kept across
//! runs in a folder of its own, so that a later run's scenarios of that lab start from
//! it instead of replaying the earlier labs.
//!
//! An entry is a folder named by its full key: the snapshot key (`smoke_snapshot::key`:
//! every replayed lab file, the image maps that touch the setup, lab's version) and a
//! digest of every image the snapshot's stack ran, by name and the engine's image ID
//! (`{base}-{16 hex}`). A rebuilt image has another ID, so another key: the entry is not
//! found, and is pruned once unused. An entry is written into `.tmp-…` inside the cache
//! and renamed into place complete (its manifest written last), so a lookup never sees
//! one half-written: a crash leaves a `.tmp-…` folder, which no lookup reads and the
//! next prune removes. Readers hold a shared `flock` on the entry's `lock` while they
//! use it; whoever removes or replaces an entry takes the exclusive lock without
//! waiting (skipping an entry in use) and renames the entry away before deleting it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Entries not used for this long are pruned.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The cache's bound: the most recently used entries that fit (the newest is always
/// kept). Lab 5's snapshot of the course's stack on the bench is about 100 MB.
pub const MAX_BYTES: u64 = 4 << 30;
/// Leftovers of a crashed store (or of a removal cut short) older than this are removed.
const STALE_TMP: Duration = Duration::from_secs(6 * 3600);

const MANIFEST: &str = "manifest.json";
const USED: &str = "used";
const LOCK: &str = "lock";
const TMP: &str = ".tmp-";
const OLD: &str = ".old-";

/// What an entry holds besides its work folder (`work/`) and volume tars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The snapshot key it was taken for.
    pub base: String,
    /// lab's version that took it.
    pub version: String,
    /// Each image the stack ran: its name as the stack named it (after the image maps)
    /// and the engine's image ID then.
    pub images: Vec<(String, String)>,
    pub volumes: Vec<VolumeEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeEntry {
    pub service: String,
    pub path: String,
    /// The tar's file name inside the entry.
    pub file: String,
}

/// The cache folder when none is named: `$XDG_CACHE_HOME/lab/smoke-snapshots`, else
/// `~/.cache/lab/smoke-snapshots` (`None` without either).
pub fn default_dir() -> Option<PathBuf> {
    dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

fn dir_from(xdg: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> Option<PathBuf> {
    // The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
    let base = xdg
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("lab").join("smoke-snapshots"))
}

/// The entry's name: the snapshot key and a digest of lab's version and every image
/// the stack ran (name and ID; order does not matter).
pub fn full_key(base: &str, images: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = images.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0base\0");
    h.update(base.as_bytes());
    for (name, id) in sorted {
        h.update(b"\0image\0");
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(id.as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{base}-{}", &hex[..16])
}

/// An entry found valid, held (shared lock) as long as this lives.
#[derive(Debug)]
pub struct Hit {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub lock: fs::File,
}

/// Where a stored snapshot ended up.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Renamed into the cache under its full key.
    At(PathBuf),
    /// Another run holds (or just stored) the same key: the snapshot stayed in its
    /// temporary folder, which this run uses and removes.
    Kept(PathBuf),
}

/// An entry removed by `prune`, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Pruned {
    pub name: String,
    pub bytes: u64,
    pub why: &'static str,
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

/// Creates `p` (and missing parents) readable by its owner only: the cache holds
/// databases. A folder that exists keeps its mode (`--snapshot-cache /tmp` must not
/// change /tmp); the entries inside are 0700 themselves.
fn mkdir_private(p: &Path) -> io::Result<()> {
    if p.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(p)
}

fn flock(f: &fs::File, how: libc::c_int) -> bool {
    // SAFETY: flock on a descriptor `f` owns for the duration of the call.
    unsafe { libc::flock(f.as_raw_fd(), how) == 0 }
}

fn lock_file(entry: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(entry.join(LOCK))
}

fn read_manifest(entry: &Path) -> Option<Manifest> {
    serde_json::from_slice(&fs::read(entry.join(MANIFEST)).ok()?).ok()
}

fn unique(prefix: &str, name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}{name}-{}-{nanos}", std::process::id())
}

impl Cache {
    /// The cache in `dir`, created (0700) when missing.
    pub fn open(dir: &Path) -> io::Result<Cache> {
        mkdir_private(dir)?;
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    /// A new temporary folder (0700) to take a snapshot of `base` into.
    pub fn tmp(&self, base: &str) -> io::Result<PathBuf> {
        let p = self.dir.join(unique(TMP, base));
        mkdir_private(&p)?;
        Ok(p)
    }

    /// The complete entries of `base` (any image IDs), with their manifests.
    pub fn candidates(&self, base: &str) -> Vec<(PathBuf, Manifest)> {
        let Ok(read) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let prefix = format!("{base}-");
        let mut found: Vec<(PathBuf, Manifest)> = read
            .flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with(&prefix) && n.len() == prefix.len() + 16
            })
            .filter_map(|e| {
                let m = read_manifest(&e.path())?;
                (m.base == base).then(|| (e.path(), m))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// The entry of `base` whose images have, on the engine now, the IDs they had when
    /// it was taken (`ids`: image name to the engine's ID; a missing name is no match).
    /// Held with a shared lock and marked used.
    pub fn lookup(&self, base: &str, ids: &BTreeMap<String, String>) -> Option<Hit> {
        for (dir, manifest) in self.candidates(base) {
            let now: Option<Vec<(String, String)>> = manifest
                .images
                .iter()
                .map(|(n, _)| ids.get(n).map(|id| (n.clone(), id.clone())))
                .collect();
            let Some(now) = now else { continue };
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.as_deref() != Some(full_key(base, &now).as_str()) {
                continue;
            }
            let Ok(lock) = lock_file(&dir) else { continue };
            if !flock(&lock, libc::LOCK_SH) {
                continue;
            }
            // Removed (renamed away) between the read and the lock: not this one.
            let same = fs::metadata(dir.join(LOCK))
                .ok()
                .zip(lock.metadata().ok())
                .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
            if !same || read_manifest(&dir).as_ref() != Some(&manifest) {
                continue;
            }
            touch(&dir);
            return Some(Hit {
                dir,
                manifest,
                lock,
            });
        }
        None
    }

    /// A shared lock on the entry in `dir`, so that no other run removes it while this
    /// one reads it.
    pub fn hold(&self, dir: &Path) -> Option<fs::File> {
        let lock = lock_file(dir).ok()?;
        flock(&lock, libc::LOCK_SH).then_some(lock)
    }

    /// Stores the snapshot taken into `tmp` (a folder from `Cache::tmp`) under its full
    /// key. With `replace`, an entry of the same key is replaced when nobody uses it.
    pub fn store(&self, tmp: &Path, manifest: &Manifest, replace: bool) -> io::Result<Stored> {
        let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
        fs::File::create(tmp.join(LOCK))?;
        fs::File::create(tmp.join(USED))?;
        // Last: an entry without its manifest is never read.
        crate::files::write_atomic(&tmp.join(MANIFEST), &json)?;
        fs::set_permissions(tmp, fs::Permissions::from_mode(0o700))?;
        let dest = self.dir.join(full_key(&manifest.base, &manifest.images));
        if fs::rename(tmp, &dest).is_ok() {
            return Ok(Stored::At(dest));
        }
        if !dest.exists() {
            // Not a conflict: the rename itself failed.
            fs::rename(tmp, &dest)?;
            return Ok(Stored::At(dest));
        }
        if replace && self.remove(&dest).is_some() && fs::rename(tmp, &dest).is_ok() {
            return Ok(Stored::At(dest));
        }
        Ok(Stored::Kept(tmp.to_path_buf()))
    }

    /// Removes an entry nobody holds: renamed away (atomically, so no lookup sees it
    /// half-deleted), then deleted. `None` when it is in use.
    fn remove(&self, entry: &Path) -> Option<()> {
        let lock = lock_file(entry).ok()?;
        if !flock(&lock, libc::LOCK_EX | libc::LOCK_NB) {
            return None;
        }
        let name = entry.file_name()?.to_string_lossy().into_owned();
        let away = self.dir.join(unique(OLD, &name));
        fs::rename(entry, &away).ok()?;
        drop(lock);
        let _ = fs::remove_dir_all(&away);
        Some(())
    }

    /// Removes the entries not used for `max_age`, then the least recently used ones
    /// beyond `max_bytes` (the most recent is kept whatever its size), and leftovers of
    /// crashed stores. Entries in use are left.
    pub fn prune(&self, now: SystemTime, max_age: Duration, max_bytes: u64) -> Vec<Pruned> {
        let Ok(read) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf, String)> = Vec::new();
        for e in read.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(TMP) || name.starts_with(OLD) {
                let age = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok());
                if age.is_some_and(|a| a > STALE_TMP) {
                    let _ = fs::remove_dir_all(&path);
                }
                continue;
            }
            if !path.is_dir() {
                continue;
            }
            let used = fs::metadata(path.join(USED))
                .or_else(|_| e.metadata())
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push((used, size(&path), path, name));
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut kept_bytes = 0u64;
        let mut pruned = Vec::new();
        for (i, (used, bytes, path, name)) in entries.into_iter().enumerate() {
            let old = now.duration_since(used).unwrap_or_default() > max_age;
            let why = if old {
                "not used for 7 days"
            } else if i > 0 && kept_bytes + bytes > max_bytes {
                "over the cache's size bound"
            } else {
                kept_bytes += bytes;
                continue;
            };
            match self.remove(&path) {
                Some(()) => pruned.push(Pruned { name, bytes, why }),
                None => kept_bytes += bytes,
            }
        }
        pruned
    }
}

fn touch(entry: &Path) {
    if let Ok(f) = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(entry.join(USED))
    {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// The bytes of the files under `p`.
fn size(p: &Path) -> u64 {
    let Ok(m) = fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    fs::read_dir(p)
        .map(|r| r.flatten().map(|e| size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(base: &str, images: &[(&str, &str)]) -> Manifest {
        Manifest {
            base: base.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            images: images
                .iter()
                .map(|(n, i)| (n.to_string(), i.to_string()))
                .collect(),
            volumes: vec![VolumeEntry {
                service: "db".into(),
                path: "/var/lib/postgresql/data".into(),
                file: "volume-0.tar".into(),
            }],
        }
    }

    fn ids(images: &[(&str, &str)]) -> BTreeMap<String, String> {
        images
            .iter()
            .map(|(n, i)| (n.to_string(), i.to_string()))
            .collect()
    }

    /// A snapshot taken into a temporary folder of the cache, as the leader does.
    fn taken(c: &Cache, base: &str, content: &str) -> PathBuf {
        let t = c.tmp(base).unwrap();
        fs::create_dir_all(t.join("work")).unwrap();
        fs::write(t.join("work/docker-compose.yaml"), content).unwrap();
        fs::write(t.join("volume-0.tar"), content).unwrap();
        t
    }

    #[test]
    fn the_full_key_follows_the_image_ids_and_nothing_else() {
        let a = [("lab-bench/anchore:5".into(), "sha256:aaa".into())];
        let b = [("lab-bench/anchore:5".into(), "sha256:bbb".into())];
        let k = full_key("04-grafana-0123456789abcdef", &a);
        assert_eq!(k, full_key("04-grafana-0123456789abcdef", &a));
        assert!(k.starts_with("04-grafana-0123456789abcdef-"), "{k}");
        assert_ne!(
            k,
            full_key("04-grafana-0123456789abcdef", &b),
            "a rebuilt image"
        );
        assert_ne!(
            k,
            full_key("04-grafana-fedcba9876543210", &a),
            "another setup"
        );
        assert_ne!(k, full_key("04-grafana-0123456789abcdef", &[]));
        let two = [
            ("x".to_string(), "sha256:1".to_string()),
            ("y".to_string(), "sha256:2".to_string()),
        ];
        let swapped = [two[1].clone(), two[0].clone()];
        assert_eq!(full_key("b", &two), full_key("b", &swapped));
    }

    #[test]
    fn the_default_folder_follows_xdg_then_home() {
        let p = |x: Option<&str>, h: Option<&str>| dir_from(x.map(Into::into), h.map(Into::into));
        assert_eq!(
            p(Some("/c"), Some("/home/u")),
            Some(PathBuf::from("/c/lab/smoke-snapshots"))
        );
        assert_eq!(
            p(Some("rel"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.cache/lab/smoke-snapshots"))
        );
        assert_eq!(
            p(None, Some("/home/u")),
            Some(PathBuf::from("/home/u/.cache/lab/smoke-snapshots"))
        );
        assert_eq!(p(None, None), None);
    }

    #[test]
    fn a_stored_snapshot_is_found_only_with_the_same_image_ids() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(&dir.path().join("cache")).unwrap();
        let mode = fs::metadata(&c.dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // An existing folder is used as it is.
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        Cache::open(&shared).unwrap();
        let mode = fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        let images = [("lab-bench/anchore:5", "sha256:aaa")];
        let m = manifest("03-metrics-0123456789abcdef", &images);
        assert!(c.lookup(&m.base, &ids(&images)).is_none());
        let t = taken(&c, &m.base, "one");
        let Stored::At(at) = c.store(&t, &m, false).unwrap() else {
            panic!("not stored");
        };
        assert!(!t.exists());
        assert_eq!(
            fs::metadata(&at).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let hit = c.lookup(&m.base, &ids(&images)).expect("found");
        assert_eq!(hit.dir, at);
        assert_eq!(hit.manifest, m);
        assert_eq!(
            fs::read_to_string(hit.dir.join("work/docker-compose.yaml")).unwrap(),
            "one"
        );
        // The image rebuilt (another ID), or gone: not found.
        assert!(c
            .lookup(&m.base, &ids(&[("lab-bench/anchore:5", "sha256:bbb")]))
            .is_none());
        assert!(c.lookup(&m.base, &BTreeMap::new()).is_none());
        // Another setup's key: not found.
        assert!(c
            .lookup("03-metrics-fedcba9876543210", &ids(&images))
            .is_none());
    }

    #[test]
    fn a_half_written_snapshot_is_never_used_and_is_pruned_once_stale() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path()).unwrap();
        let images = [("a", "sha256:1")];
        let m = manifest("02-prometheus-0123456789abcdef", &images);
        // A crash before the rename: a temporary folder with everything but the rename.
        let t = taken(&c, &m.base, "crashed");
        fs::write(t.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(c.lookup(&m.base, &ids(&images)).is_none());
        // An entry under the right name whose manifest was never written.
        let named = c.dir.join(full_key(&m.base, &m.images));
        fs::create_dir_all(named.join("work")).unwrap();
        assert!(c.lookup(&m.base, &ids(&images)).is_none());
        fs::remove_dir_all(&named).unwrap();
        // A fresh leftover may be a store under way: kept; a stale one is removed.
        assert!(c.prune(SystemTime::now(), MAX_AGE, MAX_BYTES).is_empty());
        assert!(t.exists());
        c.prune(SystemTime::now() + STALE_TMP * 2, MAX_AGE, MAX_BYTES);
        assert!(!t.exists());
    }

    #[test]
    fn a_concurrent_store_of_the_same_key_keeps_the_first_and_replace_waits_for_readers() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path()).unwrap();
        let images = [("a", "sha256:1")];
        let m = manifest("04-grafana-0123456789abcdef", &images);
        let first = taken(&c, &m.base, "first");
        let second = taken(&c, &m.base, "second");
        let Stored::At(at) = c.store(&first, &m, false).unwrap() else {
            panic!("not stored");
        };
        // The second run keeps its own copy; the stored one is untouched.
        assert_eq!(
            c.store(&second, &m, false).unwrap(),
            Stored::Kept(second.clone())
        );
        assert_eq!(
            fs::read_to_string(at.join("work/docker-compose.yaml")).unwrap(),
            "first"
        );
        // --fresh-snapshots replaces it, but not while a run reads it.
        let hit = c.lookup(&m.base, &ids(&images)).unwrap();
        assert_eq!(
            c.store(&second, &m, true).unwrap(),
            Stored::Kept(second.clone())
        );
        assert_eq!(
            fs::read_to_string(hit.dir.join("work/docker-compose.yaml")).unwrap(),
            "first"
        );
        drop(hit);
        assert_eq!(c.store(&second, &m, true).unwrap(), Stored::At(at.clone()));
        assert_eq!(
            fs::read_to_string(at.join("work/docker-compose.yaml")).unwrap(),
            "second"
        );
        // Nothing left beside the entry.
        let names: Vec<String> = fs::read_dir(&c.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![full_key(&m.base, &m.images)]);
    }

    #[test]
    fn pruning_removes_the_unused_and_the_least_recently_used_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path()).unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(24 * 3600);
        let store = |base: &str, content: &str, used_ago: Duration| {
            let m = manifest(base, &[("a", "sha256:1")]);
            let t = taken(&c, base, content);
            let Stored::At(at) = c.store(&t, &m, false).unwrap() else {
                panic!("not stored")
            };
            fs::File::options()
                .write(true)
                .open(at.join(USED))
                .unwrap()
                .set_modified(now - used_ago)
                .unwrap();
            at
        };
        let old = store("02-prometheus-0000000000000000", "x", day * 8);
        let newest = store("05-event-log-0000000000000000", &"n".repeat(3000), day);
        let middle = store("04-grafana-0000000000000000", &"m".repeat(1000), day * 2);
        let oldest_fitting = store("03-metrics-0000000000000000", &"o".repeat(1000), day * 3);
        let held = c
            .lookup("03-metrics-0000000000000000", &ids(&[("a", "sha256:1")]))
            .unwrap();
        // Touched by the lookup: now the most recent.
        fs::File::options()
            .write(true)
            .open(oldest_fitting.join(USED))
            .unwrap()
            .set_modified(now - day * 3)
            .unwrap();
        let size_of = |p: &Path| size(p);
        let bound = size_of(&newest) + size_of(&middle);
        let pruned = c.prune(now, MAX_AGE, bound);
        let names: Vec<(&str, &str)> = pruned.iter().map(|p| (p.name.as_str(), p.why)).collect();
        // The old one goes; the one over the bound is in use (held) and stays.
        assert_eq!(
            names,
            vec![(
                old.file_name().unwrap().to_str().unwrap(),
                "not used for 7 days"
            )]
        );
        assert!(oldest_fitting.exists());
        drop(held);
        let pruned = c.prune(now, MAX_AGE, bound);
        assert_eq!(pruned.len(), 1, "{pruned:?}");
        assert_eq!(pruned[0].why, "over the cache's size bound");
        assert!(!oldest_fitting.exists());
        assert!(newest.exists() && middle.exists());
        // The newest is kept even alone over the bound.
        assert!(c
            .prune(now, MAX_AGE, 1)
            .iter()
            .all(|p| p.name != newest.file_name().unwrap().to_str().unwrap()));
        assert!(newest.exists());
    }
}

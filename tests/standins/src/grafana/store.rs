//! The stand-in's database: data sources, dashboards and the admin user, kept in one JSON file under the data directory.
//!
//! Real Grafana keeps these in `grafana.db` under `/var/lib/grafana`, so they survive a
//! container restart only when a volume is mounted there; the stand-in keeps the same
//! contract with `grafana-standin.json`. Writes go to a temporary file that is then
//! renamed over the old one, so a crash never leaves a half-written state.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dashboards::Dashboard;
use super::datasources::DataSource;

/// The state file's name inside the data directory.
pub const STATE_FILE: &str = "grafana-standin.json";

/// Everything the stand-in persists.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Set on first start only: like Grafana, later changes to `GF_SECURITY_ADMIN_*` do not
    /// change the password of an existing database.
    pub admin: Option<AdminUser>,
    pub next_datasource_id: i64,
    pub next_dashboard_id: i64,
    pub datasources: Vec<DataSource>,
    pub dashboards: Vec<Dashboard>,
}

/// The admin login with a salted password hash (never the password itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdminUser {
    pub login: String,
    pub salt: String,
    pub hash: String,
}

impl AdminUser {
    pub fn new(login: &str, password: &str) -> AdminUser {
        let salt = random_token(16);
        let hash = hash_password(&salt, password);
        AdminUser {
            login: login.to_string(),
            salt,
            hash,
        }
    }

    /// Grafana matches logins case-insensitively.
    pub fn verify(&self, login: &str, password: &str) -> bool {
        self.login.eq_ignore_ascii_case(login) && hash_password(&self.salt, password) == self.hash
    }
}

fn hash_password(salt: &str, password: &str) -> String {
    let mut digest = Sha256::digest(format!("{salt}:{password}").as_bytes());
    // A few rounds so the stored hash is not a single cheap SHA-256 of the password.
    for _ in 0..1_000 {
        digest = Sha256::digest(digest);
    }
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl State {
    pub fn next_ds_id(&mut self) -> i64 {
        self.next_datasource_id = self
            .next_datasource_id
            .max(self.datasources.iter().map(|d| d.id).max().unwrap_or(0))
            + 1;
        self.next_datasource_id
    }

    pub fn next_dash_id(&mut self) -> i64 {
        self.next_dashboard_id = self
            .next_dashboard_id
            .max(self.dashboards.iter().map(|d| d.id).max().unwrap_or(0))
            + 1;
        self.next_dashboard_id
    }
}

/// The path of the state file in `data_dir`.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATE_FILE)
}

/// Reads the state; `Ok(None)` when there is none yet (a fresh data directory).
pub fn load(path: &Path) -> Result<Option<State>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{} is not a valid state file: {e}", path.display()))
}

/// Writes the state atomically: a temporary file in the same directory, synced, then renamed.
pub fn save(path: &Path, state: &State) -> Result<(), String> {
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Random lowercase alphanumerics. Not cryptographic: uids and salts only need to differ.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut block = Vec::new();
    while out.len() < len {
        if block.is_empty() {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.write_u32(std::process::id());
            block = Sha256::digest(h.finish().to_le_bytes()).to_vec();
        }
        if let Some(b) = block.pop() {
            // 252 is the largest multiple of 36 below 256: rejecting above it keeps it uniform.
            if b < 252 {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    out
}

/// A 14-character uid shaped like Grafana 11's `GenerateShortUID` (a letter, then alphanumerics).
pub fn new_uid() -> String {
    let first = random_token(8)
        .chars()
        .find(|c| c.is_ascii_lowercase())
        .unwrap_or('a');
    format!("{first}{}", random_token(13))
}

/// Grafana's `IsValidShortUID`: letters, digits, `-` and `_`, at most 40 characters.
pub fn is_valid_uid(uid: &str) -> bool {
    uid.len() <= 40
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "grafana-store-{name}-{}-{}",
            std::process::id(),
            random_token(6)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn uids_look_like_grafanas() {
        let a = new_uid();
        let b = new_uid();
        assert_eq!(a.len(), 14);
        assert!(a.chars().next().unwrap().is_ascii_lowercase());
        assert!(is_valid_uid(&a));
        assert_ne!(a, b);
        assert!(!is_valid_uid("has space"));
        assert!(!is_valid_uid(&"x".repeat(41)));
    }

    #[test]
    fn state_round_trips_and_a_missing_file_is_none() {
        let dir = temp_dir("rt");
        let path = state_path(&dir);
        assert_eq!(load(&path).unwrap(), None);
        let mut s = State {
            admin: Some(AdminUser::new("admin", "admin")),
            ..State::default()
        };
        assert_eq!(s.next_ds_id(), 1);
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), Some(s));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
        std::fs::write(&path, "{not json").unwrap();
        assert!(load(&path).unwrap_err().contains("not a valid state file"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn passwords_are_hashed_and_logins_case_insensitive() {
        let a = AdminUser::new("admin", "s3cret");
        assert!(!a.hash.contains("s3cret"));
        assert!(a.verify("Admin", "s3cret"));
        assert!(!a.verify("admin", "S3cret"));
        assert!(!a.verify("root", "s3cret"));
    }
}

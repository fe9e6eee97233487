//! Submissions: a trainee's check results, answers and the evidence the checks saw,
//! in one JSON file signed with the course's HMAC-SHA256 key, so an instructor who
//! cannot reach the environment can still grade it and know it was not edited.
//!
//! The file is `{"format": "lab-submission", "version": 1, "payload": {…},
//! "signature": "hmac-sha256:<hex>"}`. The MAC covers a fixed domain line and the
//! payload serialized compactly in the file's own key order, so reformatting the
//! file keeps it valid while changing any value, key or order does not.

use super::{GradedCheck, LabGrade, Origin, TraineeGrade};
use crate::model::LoadedLab;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "lab-submission";
pub const VERSION: u32 = 1;
const DOMAIN: &[u8] = b"lab-submission-v1\n";
const SIG_PREFIX: &str = "hmac-sha256:";
/// Shorter keys are refused: a guessable key makes every signature worthless.
pub const MIN_KEY_LEN: usize = 16;
/// No honest bundle is near this; it stops a huge file from being read whole.
const MAX_BUNDLE: u64 = 16 << 20;

/// The course key: never printed, never written.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(***)")
    }
}

impl Key {
    /// The key from a file (surrounding whitespace ignored) or, without one, from
    /// `LAB_COURSE_KEY`. Errors say where it was looked for, never what it holds.
    pub fn load(file: Option<&Path>, env: Option<String>) -> Result<Key, String> {
        let (bytes, from) = match (file, env) {
            (Some(f), _) => (
                std::fs::read(f)
                    .map_err(|e| format!("cannot read the course key file {}: {e}", f.display()))?,
                f.display().to_string(),
            ),
            (None, Some(v)) if !v.is_empty() => (v.into_bytes(), "LAB_COURSE_KEY".to_string()),
            _ => {
                return Err(
                    "no course key: pass --key-file FILE or set LAB_COURSE_KEY (the key your \
                     instructor handed out)"
                        .into(),
                )
            }
        };
        let key = bytes.trim_ascii().to_vec();
        crate::redact::register(&String::from_utf8_lossy(&key));
        if key.len() < MIN_KEY_LEN {
            return Err(format!(
                "the course key in {from} is too short ({} bytes; at least {MIN_KEY_LEN})",
                key.len()
            ));
        }
        Ok(Key(key))
    }

    #[cfg(test)]
    pub fn for_tests(k: &str) -> Key {
        Key(k.as_bytes().to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        m.update(DOMAIN);
        m
    }
}

/// What a bundle holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub trainee: String,
    /// `lab 0.1.0`: the tool that ran the checks.
    pub tool: String,
    /// UTC, `20261124T164530Z`.
    pub created_at: String,
    pub labs: Vec<BundleLab>,
    /// Question id -> answer, for the labs submitted.
    pub answers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleLab {
    pub id: String,
    pub title: String,
    /// `sha256:…` of the lab definition the checks came from (`digest`).
    pub digest: String,
    /// Each check with what it saw (`expected`, `actual`, `message`): the evidence.
    pub checks: Vec<GradedCheck>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    payload: serde_json::Value,
    signature: String,
}

/// The digest of a lab definition: every file of its folder, by path.
pub fn digest(lab: &LoadedLab) -> String {
    let mut h = Sha256::new();
    for (path, bytes) in &lab.files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    format!("sha256:{}", hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The signed file's text.
pub fn sign(payload: &Payload, key: &Key) -> String {
    let value = serde_json::to_value(payload).expect("payloads serialize");
    let mut mac = key.mac();
    mac.update(&serde_json::to_vec(&value).expect("values serialize"));
    let file = File {
        format: FORMAT.into(),
        version: VERSION,
        payload: value,
        signature: format!("{SIG_PREFIX}{}", hex(&mac.finalize().into_bytes())),
    };
    serde_json::to_string_pretty(&file).expect("bundles serialize") + "\n"
}

/// Checks a bundle's signature (in constant time) and reads its payload. The error
/// says why it is rejected, in words for the gradebook.
pub fn verify(text: &str, key: &Key) -> Result<Payload, String> {
    let file: File =
        serde_json::from_str(text).map_err(|e| format!("not a submission bundle ({e})"))?;
    if file.format != FORMAT || file.version != VERSION {
        return Err(format!(
            "not a version {VERSION} submission bundle (format `{}`, version {})",
            file.format, file.version
        ));
    }
    let sig = file
        .signature
        .strip_prefix(SIG_PREFIX)
        .and_then(unhex)
        .ok_or("its signature is not an hmac-sha256 signature")?;
    let mut mac = key.mac();
    mac.update(&serde_json::to_vec(&file.payload).expect("values serialize"));
    mac.verify_slice(&sig).map_err(|_| {
        "its signature does not match: the bundle was edited after signing, or signed with another course key"
            .to_string()
    })?;
    serde_json::from_value(file.payload).map_err(|e| format!("signed, but unreadable: {e}"))
}

/// Reads, verifies and grades every `*.json` bundle in `dir`, by file name. A
/// rejected bundle gives a row with the reason, and no points.
pub fn grade_dir(dir: &Path, key: &Key, labs: &[&LoadedLab]) -> Result<Vec<TraineeGrade>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the bundles folder {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    Ok(files.iter().map(|f| grade_file(f, key, labs)).collect())
}

fn grade_file(path: &Path, key: &Key, labs: &[&LoadedLab]) -> TraineeGrade {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let origin = Origin::Bundle { file: name.clone() };
    let text = std::fs::metadata(path)
        .map_err(|e| e.to_string())
        .and_then(|m| {
            if m.len() > MAX_BUNDLE {
                Err(format!("{} bytes is too big for a bundle", m.len()))
            } else {
                std::fs::read_to_string(path).map_err(|e| e.to_string())
            }
        });
    let payload = text.and_then(|t| verify(&t, key));
    let payload = match payload {
        Ok(p) => p,
        Err(why) => {
            return TraineeGrade {
                trainee: name.trim_end_matches(".json").to_string(),
                origin,
                problems: vec![format!("bundle {name} rejected: {why}")],
                rejected: true,
                labs: labs.iter().map(|l| not_graded(l)).collect(),
                answers: BTreeMap::new(),
            };
        }
    };
    let mut problems = Vec::new();
    let grades = labs
        .iter()
        .map(|l| {
            let id = l.lab.id();
            match payload.labs.iter().find(|b| b.id == id) {
                None => not_graded(l),
                Some(b) => {
                    if b.digest != digest(l) {
                        problems.push(format!(
                            "lab {id} was checked against another version of its definition \
                             ({}); graded as submitted",
                            b.digest
                        ));
                    }
                    LabGrade {
                        lab: id,
                        graded: true,
                        checks: b.checks.clone(),
                    }
                }
            }
        })
        .collect();
    TraineeGrade {
        trainee: payload.trainee,
        origin,
        problems,
        rejected: false,
        labs: grades,
        answers: payload.answers,
    }
}

/// A lab with no results: every check at zero points.
fn not_graded(l: &LoadedLab) -> LabGrade {
    LabGrade {
        lab: l.lab.id(),
        graded: false,
        checks: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            trainee: "alice".into(),
            tool: "lab 0.1.0".into(),
            created_at: "20261124T164530Z".into(),
            labs: vec![BundleLab {
                id: "01-metrics".into(),
                title: "Metrics".into(),
                digest: "sha256:00".into(),
                checks: vec![GradedCheck {
                    id: "app-running".into(),
                    exercise: "enable".into(),
                    kind: "container".into(),
                    description: "The app service runs".into(),
                    status: super::super::Mark::Failed,
                    expected: Some("running".into()),
                    actual: Some("exited".into()),
                    message: None,
                    hint: None,
                    points: 0,
                    possible: 1,
                    manual: None,
                }],
            }],
            answers: BTreeMap::from([("job-name".into(), "app".into())]),
        }
    }

    const KEY: &str = "course-key-0123456789";

    #[test]
    fn a_signed_bundle_verifies_and_reformatting_keeps_it_valid() {
        let text = sign(&payload(), &Key::for_tests(KEY));
        assert!(!text.contains(KEY));
        assert_eq!(verify(&text, &Key::for_tests(KEY)).unwrap(), payload());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let compact = serde_json::to_string(&v).unwrap();
        assert_eq!(verify(&compact, &Key::for_tests(KEY)).unwrap(), payload());
    }

    #[test]
    fn an_edited_bundle_is_rejected() {
        let text = sign(&payload(), &Key::for_tests(KEY));
        for edited in [
            text.replace("\"points\": 0", "\"points\": 1"),
            text.replace("\"failed\"", "\"passed\""),
            text.replace("\"app\"", "\"ap\""),
            text.replace("alice", "mallory"),
        ] {
            assert_ne!(edited, text);
            let e = verify(&edited, &Key::for_tests(KEY)).unwrap_err();
            assert!(e.contains("edited after signing"), "{e}");
        }
    }

    #[test]
    fn another_key_or_a_mangled_signature_is_rejected() {
        let text = sign(&payload(), &Key::for_tests(KEY));
        let e = verify(&text, &Key::for_tests("another-key-0123456789")).unwrap_err();
        assert!(e.contains("another course key"), "{e}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let sig = v["signature"].as_str().unwrap();
        let cut = text.replace(sig, &sig[..sig.len() - 2]);
        assert!(verify(&cut, &Key::for_tests(KEY)).is_err());
        let junk = text.replace(sig, "hmac-sha256:zz");
        assert!(verify(&junk, &Key::for_tests(KEY)).is_err());
        assert!(verify("{}", &Key::for_tests(KEY))
            .unwrap_err()
            .contains("not a submission bundle"));
    }

    #[test]
    fn keys_are_never_shown_and_short_keys_are_refused() {
        let k = Key::load(None, Some(format!("{KEY}\n"))).unwrap();
        assert_eq!(format!("{k:?}"), "Key(***)");
        let e = Key::load(None, Some("short".into())).unwrap_err();
        assert!(e.contains("too short") && !e.contains("short\""), "{e}");
        assert!(Key::load(None, None).unwrap_err().contains("--key-file"));
    }
}

//! Submissions: a trainee's check results, answers and the evidence the checks saw,
//! in one JSON file signed with HMAC-SHA256, so an instructor who cannot reach the
//! environment can still grade it and know it was not edited after signing.
//!
//! The file is `{"format": "lab-submission", "version": 2, "payload": {…},
//! "signature": "hmac-sha256:<hex>"}`. The MAC covers a fixed domain line and the
//! payload serialized compactly in the file's own key order, so reformatting the
//! file keeps it valid while changing any value, key or order does not.
//!
//! The signing key is the trainee's own: HMAC-SHA256 of their name under the course
//! key ([`Key::for_trainee`], what `lab key` hands out), so one trainee cannot sign
//! as another. What a signature proves: the bundle was made by someone holding that
//! trainee's key (or the course key) and not changed since. What it does not: that
//! the checks ran, or ran against a real deployment; a trainee holds their key and
//! can forge their own results. Points are never read from a bundle: they are
//! recomputed from the lab definition and each check's status, and a bundle naming
//! a lab or check that does not exist is rejected.

use super::{GradedCheck, LabGrade, Origin, TraineeGrade};
use crate::model::LoadedLab;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "lab-submission";
pub const VERSION: u32 = 2;
const DOMAIN: &[u8] = b"lab-submission-v2\n";
const TRAINEE_DOMAIN: &[u8] = b"lab-trainee-key-v1\n";
/// The first field of a trainee key file: `lab-trainee-key:v1:<hex>:<name>`.
const TRAINEE_PREFIX: &str = "lab-trainee-key:v1:";
const SIG_PREFIX: &str = "hmac-sha256:";
/// Shorter keys are refused: a guessable key makes every signature worthless.
pub const MIN_KEY_LEN: usize = 16;
/// No honest bundle is near this; it stops a huge file from being read whole.
const MAX_BUNDLE: u64 = 16 << 20;

/// A signing key: the course's (the instructor's), or one trainee's, derived from
/// it. Never printed; only a trainee's key is ever written (`lab key`).
#[derive(Clone)]
pub enum Key {
    Course(Vec<u8>),
    Trainee { name: String, key: Vec<u8> },
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Course(_) => f.write_str("Key(***)"),
            Key::Trainee { name, .. } => write!(f, "Key({name}: ***)"),
        }
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
        if let Some(rest) = String::from_utf8_lossy(&key).strip_prefix(TRAINEE_PREFIX) {
            let (hex_key, name) = rest
                .split_once(':')
                .ok_or_else(|| format!("the trainee key in {from} is damaged"))?;
            let key = unhex(hex_key)
                .filter(|k| k.len() == 32)
                .ok_or_else(|| format!("the trainee key in {from} is damaged"))?;
            crate::redact::register(hex_key);
            return Ok(Key::Trainee {
                name: name.to_string(),
                key,
            });
        }
        if key.len() < MIN_KEY_LEN {
            return Err(format!(
                "the course key in {from} is too short ({} bytes; at least {MIN_KEY_LEN})",
                key.len()
            ));
        }
        Ok(Key::Course(key))
    }

    #[cfg(test)]
    pub fn for_tests(k: &str) -> Key {
        Key::Course(k.as_bytes().to_vec())
    }

    /// The key of trainee `name`: HMAC-SHA256 of the name under the course key.
    /// `None` for a trainee's key (only the course key derives others).
    pub fn for_trainee(&self, name: &str) -> Option<Key> {
        let Key::Course(course) = self else {
            return None;
        };
        let mut m = Hmac::<Sha256>::new_from_slice(course).expect("HMAC takes keys of any length");
        m.update(TRAINEE_DOMAIN);
        m.update(name.as_bytes());
        Some(Key::Trainee {
            name: name.to_string(),
            key: m.finalize().into_bytes().to_vec(),
        })
    }

    /// A trainee key's file text (`lab key` writes it); `None` for the course key.
    pub fn trainee_file(&self) -> Option<String> {
        match self {
            Key::Trainee { name, key } => Some(format!("{TRAINEE_PREFIX}{}:{name}\n", hex(key))),
            Key::Course(_) => None,
        }
    }

    /// The key that signs `trainee`'s bundle: theirs, derived when this is the
    /// course key. A trainee's key signs for that trainee only.
    fn signing(&self, trainee: &str) -> Result<Vec<u8>, String> {
        match self {
            Key::Course(_) => match self.for_trainee(trainee) {
                Some(Key::Trainee { key, .. }) => Ok(key),
                _ => unreachable!("the course key derives a trainee key"),
            },
            Key::Trainee { name, key } if name == trainee => Ok(key.clone()),
            Key::Trainee { name, .. } => Err(format!(
                "this key is {name}'s; it cannot sign for `{trainee}`"
            )),
        }
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(DOMAIN);
    m
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

/// The signed file's text, signed with the trainee's key.
pub fn sign(payload: &Payload, key: &Key) -> Result<String, String> {
    let value = serde_json::to_value(payload).expect("payloads serialize");
    let mut mac = mac(&key.signing(&payload.trainee)?);
    mac.update(&serde_json::to_vec(&value).expect("values serialize"));
    let file = File {
        format: FORMAT.into(),
        version: VERSION,
        payload: value,
        signature: format!("{SIG_PREFIX}{}", hex(&mac.finalize().into_bytes())),
    };
    Ok(serde_json::to_string_pretty(&file).expect("bundles serialize") + "\n")
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
    // The trainee it names decides the key: signed by anyone else, it fails.
    let trainee = file
        .payload
        .get("trainee")
        .and_then(serde_json::Value::as_str)
        .ok_or("it names no trainee")?;
    let mut mac = mac(&key.signing(trainee)?);
    mac.update(&serde_json::to_vec(&file.payload).expect("values serialize"));
    mac.verify_slice(&sig).map_err(|_| {
        "its signature does not match: the bundle was edited after signing, signed with \
         another trainee's key, or with another course key"
            .to_string()
    })?;
    serde_json::from_value(file.payload).map_err(|e| format!("signed, but unreadable: {e}"))
}

/// Reads, verifies and grades every `*.json` bundle in `dir`, by file name. A
/// rejected bundle gives a row with the reason, and no points.
/// `all`: every lab of the course, to tell a lab not graded this time from one
/// that does not exist.
pub fn grade_dir(
    dir: &Path,
    key: &Key,
    labs: &[&LoadedLab],
    all: &[LoadedLab],
) -> Result<Vec<TraineeGrade>, String> {
    if matches!(key, Key::Trainee { .. }) {
        return Err(
            "this is a trainee's key; grading needs the course key (it derives every trainee's)"
                .into(),
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the bundles folder {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    Ok(files
        .iter()
        .map(|f| grade_file(f, key, labs, all))
        .collect())
}

fn grade_file(path: &Path, key: &Key, labs: &[&LoadedLab], all: &[LoadedLab]) -> TraineeGrade {
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
    let payload = text
        .and_then(|t| verify(&t, key))
        .and_then(|p| recompute(p, labs, all));
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

/// The payload with every check checked against its lab's definition and its
/// points recomputed from the definition and the status: a bundle's own numbers are
/// never trusted. A lab the course does not have, a check its lab does not have,
/// or a check given twice rejects the bundle.
fn recompute(mut p: Payload, labs: &[&LoadedLab], all: &[LoadedLab]) -> Result<Payload, String> {
    for b in &mut p.labs {
        let Some(lab) = all.iter().find(|l| l.lab.id() == b.id) else {
            return Err(format!(
                "it holds lab `{}`, which this course does not have",
                b.id
            ));
        };
        // A lab not graded this time is still checked: nothing in a bundle goes unchecked.
        let _graded = labs.iter().any(|l| l.lab.id() == b.id);
        let mut seen = std::collections::HashSet::new();
        for c in &mut b.checks {
            let Some((ex, def)) = lab.lab.checks().find(|(_, d)| d.id == c.id) else {
                return Err(format!("lab {} has no check `{}`", b.id, c.id));
            };
            if !seen.insert(c.id.clone()) {
                return Err(format!("check `{}` of lab {} is given twice", c.id, b.id));
            }
            c.exercise = ex.id.clone();
            c.kind = def.spec.kind().to_string();
            c.description = def.description.clone();
            c.possible = def.points;
            c.points = if c.status == super::Mark::Passed {
                def.points
            } else {
                0
            };
        }
    }
    Ok(p)
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
        let text = sign(&payload(), &Key::for_tests(KEY)).unwrap();
        assert!(!text.contains(KEY));
        assert_eq!(verify(&text, &Key::for_tests(KEY)).unwrap(), payload());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let compact = serde_json::to_string(&v).unwrap();
        assert_eq!(verify(&compact, &Key::for_tests(KEY)).unwrap(), payload());
    }

    #[test]
    fn an_edited_bundle_is_rejected() {
        let text = sign(&payload(), &Key::for_tests(KEY)).unwrap();
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
        let text = sign(&payload(), &Key::for_tests(KEY)).unwrap();
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

    fn fixture_labs() -> Vec<LoadedLab> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grade-labs");
        crate::loader::load(&[crate::loader::Source::Path(dir)]).labs
    }

    /// The bundle a trainee holding the course key forges: re-signed after editing.
    fn forged(edit: impl Fn(&mut Payload)) -> TraineeGrade {
        let mut p = payload();
        edit(&mut p);
        let tmp = crate::probe::testing::TempDir::new();
        let f = tmp.path().join("alice.json");
        std::fs::write(&f, sign(&p, &Key::for_tests(KEY)).unwrap()).unwrap();
        let all = fixture_labs();
        let chosen: Vec<&LoadedLab> = all.iter().collect();
        grade_file(&f, &Key::for_tests(KEY), &chosen, &all)
    }

    #[test]
    fn points_come_from_the_lab_definition_never_from_the_bundle() {
        // Found by issue 14: a re-signed bundle claimed 1,000,000 points, negative
        // points, and an i64 overflow wrapped the totals.
        for claimed in [1_000_000, -5, i64::MAX] {
            let g = forged(|p| {
                let c = &mut p.labs[0].checks[0];
                c.status = super::super::Mark::Passed;
                c.points = claimed;
                c.possible = claimed;
                let mut twin = c.clone();
                twin.id = "metrics-on".into();
                p.labs[0].checks.push(twin);
            });
            assert!(!g.rejected, "{:?}", g.problems);
            let lab = &g.labs[0];
            // app-running is worth 1 point, metrics-on 2, in the fixture lab.
            assert_eq!(
                lab.checks
                    .iter()
                    .map(|c| (c.points, c.possible))
                    .collect::<Vec<_>>(),
                vec![(1, 1), (2, 2)]
            );
            assert_eq!(g.points(), 3);
        }
    }

    #[test]
    fn unknown_labs_checks_and_repeated_checks_reject_the_bundle() {
        let g = forged(|p| p.labs[0].id = "09-bonus".into());
        assert!(
            g.rejected && g.problems[0].contains("`09-bonus`"),
            "{:?}",
            g.problems
        );
        let g = forged(|p| p.labs[0].checks[0].id = "free-points".into());
        assert!(
            g.rejected && g.problems[0].contains("`free-points`"),
            "{:?}",
            g.problems
        );
        let g = forged(|p| {
            let c = p.labs[0].checks[0].clone();
            p.labs[0].checks.push(c);
        });
        assert!(
            g.rejected && g.problems[0].contains("twice"),
            "{:?}",
            g.problems
        );
    }

    #[test]
    fn a_trainee_key_signs_for_its_trainee_only() {
        let course = Key::for_tests(KEY);
        let alice = course.for_trainee("alice").unwrap();
        let text = sign(&payload(), &alice).unwrap();
        assert_eq!(verify(&text, &course).unwrap(), payload());
        // Alice's key cannot sign as bob, nor can her signature be moved to bob.
        let mut as_bob = payload();
        as_bob.trainee = "bob".into();
        assert!(sign(&as_bob, &alice).unwrap_err().contains("alice's"));
        let moved = text.replace("\"alice\"", "\"bob\"");
        assert!(verify(&moved, &course).is_err());
        // The key file round-trips, and never holds the course key.
        let file = alice.trainee_file().unwrap();
        assert!(!file.contains(KEY));
        let back = Key::load(None, Some(file)).unwrap();
        assert_eq!(sign(&payload(), &back).unwrap(), text);
        assert!(back.for_trainee("bob").is_none());
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

//! What one analysis does in the stand-in: how long it takes, whether it fails, the log lines it
//! writes in order, and the image metadata it produces.
//!
//! # Making an analysis slow or failing
//!
//! Per image, by annotations on the add request (they are validated when the image is added):
//! * `"standin.analysis_seconds": "3"`: the analysis takes 3 s from dequeue to completion
//!   (a number ≥ 0 and ≤ 86400, as a string or a JSON number);
//! * `"standin.fail": "pull failed"`: the analysis fails with that reason, after the same time.
//!
//! Per analyzer, by environment:
//! * `STANDIN_IMAGE_RULES`: a JSON array of rules, e.g.
//!   `[{"match": "postgres", "seconds": 3}, {"match": "broken", "fail": "pull failed"}]`;
//!   the first rule whose `match` is a substring of the image's full tag applies;
//! * `STANDIN_ANALYSIS_SECONDS`: the time when nothing else says (default 2).
//!
//! Annotations win over rules, rules over the default, field by field.
//!
//! # Log lines
//!
//! The order and wording follow FACTS.md §8.1 and §8.2. Only five locations are known from the
//! course's Enterprise sample (process_analyzer_job():415 and ():508, perform_analyze():280 and
//! ():287, pull_image():679); the other lines keep the engine's function names with line numbers
//! chosen by the stand-in.

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::image::ContentMetadata;
use super::logging::Level;

pub const ANNOTATION_SECONDS: &str = "standin.analysis_seconds";
pub const ANNOTATION_FAIL: &str = "standin.fail";
pub const DEFAULT_SECONDS: f64 = 2.0;
const MAX_SECONDS: f64 = 86_400.0;

const ANALYSIS: &str = "anchore_enterprise.services.analyzer.analysis";
const STANDALONE: &str = "anchore_enterprise.services.analyzer.localanchore_standalone";

/// One rule of `STANDIN_IMAGE_RULES`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "match")]
    pub pattern: String,
    #[serde(default)]
    pub seconds: Option<f64>,
    #[serde(default)]
    pub fail: Option<String>,
}

fn check_seconds(v: f64, what: &str) -> Result<f64, String> {
    if v.is_finite() && (0.0..=MAX_SECONDS).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{what} must be a number of seconds between 0 and {MAX_SECONDS}, not {v}"
        ))
    }
}

/// Parses `STANDIN_IMAGE_RULES`.
pub fn parse_rules(json: &str) -> Result<Vec<Rule>, String> {
    let rules: Vec<Rule> = serde_json::from_str(json)
        .map_err(|e| format!("STANDIN_IMAGE_RULES is not a JSON array of {{\"match\", \"seconds\", \"fail\"}} rules: {e}"))?;
    for r in &rules {
        if let Some(s) = r.seconds {
            check_seconds(s, &format!("the seconds of rule {:?}", r.pattern))?;
        }
    }
    Ok(rules)
}

/// Parses `STANDIN_ANALYSIS_SECONDS`.
pub fn parse_default_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("STANDIN_ANALYSIS_SECONDS must be a number, not {s:?}"))?;
    check_seconds(v, "STANDIN_ANALYSIS_SECONDS")
}

fn annotation_seconds(annotations: &Map<String, Value>) -> Result<Option<f64>, String> {
    let what = format!("annotation {ANNOTATION_SECONDS}");
    match annotations.get(ANNOTATION_SECONDS) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| format!("{what} is not a number"))
            .and_then(|v| check_seconds(v, &what))
            .map(Some),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{what} must be a number of seconds, not {s:?}"))
            .and_then(|v| check_seconds(v, &what))
            .map(Some),
        Some(other) => Err(format!("{what} must be a number of seconds, not {other}")),
    }
}

fn annotation_fail(annotations: &Map<String, Value>) -> Result<Option<String>, String> {
    match annotations.get(ANNOTATION_FAIL) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "annotation {ANNOTATION_FAIL} must be a non-empty failure reason, not {other}"
        )),
    }
}

/// Checks the stand-in's annotations when an image is added, so a typo is a 400, not a
/// surprise later.
pub fn check_annotations(annotations: &Map<String, Value>) -> Result<(), String> {
    annotation_seconds(annotations)?;
    annotation_fail(annotations)?;
    Ok(())
}

/// How one analysis will go.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub seconds: f64,
    pub fail: Option<String>,
}

/// Decides the plan for an image from its annotations, the rules and the default.
pub fn plan(
    full_tag: &str,
    annotations: &Map<String, Value>,
    rules: &[Rule],
    default_seconds: f64,
) -> Result<Plan, String> {
    let rule = rules.iter().find(|r| full_tag.contains(&r.pattern));
    let seconds = annotation_seconds(annotations)?
        .or(rule.and_then(|r| r.seconds))
        .unwrap_or(default_seconds);
    let fail = annotation_fail(annotations)?.or_else(|| rule.and_then(|r| r.fail.clone()));
    Ok(Plan { seconds, fail })
}

/// What the analyzer knows about the job it dequeued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub account: String,
    pub digest: String,
    pub image_id: String,
    /// `registry/repo@sha256:…`
    pub pull_string: String,
    /// `registry/repo:tag`
    pub full_tag: String,
}

/// One log line of an analysis, at a fraction (0..=1) of its planned duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: f64,
    pub level: Level,
    pub location: String,
    pub message: String,
}

fn step(at: f64, location: String, message: String) -> Step {
    Step {
        at,
        level: Level::Info,
        location,
        message,
    }
}

/// The first line, written as soon as the job is dequeued.
pub fn dequeued_step(job: &Job) -> Step {
    step(
        0.0,
        format!("{ANALYSIS}/process_analyzer_job():415"),
        format!(
            "image dequeued for analysis: {} : {}",
            job.account, job.digest
        ),
    )
}

/// The lines between dequeue and the outcome. `scratch` is the analysis's scratch directory
/// (`/analysis_scratch/<uuid>`).
pub fn middle_steps(job: &Job, failing: bool, hints_enabled: bool, scratch: &str) -> Vec<Step> {
    let mut v = vec![
        step(
            0.0,
            format!("{ANALYSIS}/perform_analyze():280"),
            format!(
                "performing analysis on image: ['{}', '{}', '{}']",
                job.account, job.pull_string, job.full_tag
            ),
        ),
        step(
            0.0,
            format!("{ANALYSIS}/perform_analyze():287"),
            format!("analyzing image: {}", job.pull_string),
        ),
        step(
            0.0,
            format!("{STANDALONE}/pull_image():679"),
            format!(
                "Downloading image {} for analysis to {scratch}/raw",
                job.pull_string
            ),
        ),
    ];
    if failing {
        return v;
    }
    let ids = format!(
        "account={} imageId={} imageDigest={}",
        job.account, job.image_id, job.digest
    );
    let hints = if hints_enabled { "enabled" } else { "disabled" };
    v.extend([
        step(
            0.05,
            format!("{STANDALONE}/analyze_image():906"),
            format!("image content hints status: {hints}"),
        ),
        step(
            0.70,
            format!("{ANALYSIS}/perform_analyze():301"),
            format!("performing analysis on image complete: {}", job.pull_string),
        ),
        step(
            0.75,
            format!("{ANALYSIS}/store_analysis_results():540"),
            format!("adding image analysis data to catalog: {ids}"),
        ),
        step(
            0.78,
            format!("{ANALYSIS}/store_analysis_results():553"),
            "Saving raw syft output data to catalog object store".to_string(),
        ),
        step(
            0.80,
            format!("{ANALYSIS}/store_analysis_results():561"),
            "Saving raw analysis data to catalog object store".to_string(),
        ),
        step(
            0.85,
            format!("{ANALYSIS}/store_analysis_results():570"),
            "Extracting and normalizing image content data locally".to_string(),
        ),
        step(
            0.90,
            format!("{ANALYSIS}/store_analysis_results():582"),
            "Adding image content data to archive".to_string(),
        ),
        step(
            0.93,
            format!("{ANALYSIS}/store_analysis_results():597"),
            format!("adding image to policy engine: {ids}"),
        ),
        step(
            0.95,
            format!("{ANALYSIS}/import_to_policy_engine():236"),
            format!(
                "loading image into policy engine: account={} image_id={} image_digest={}",
                job.account, job.image_id, job.digest
            ),
        ),
    ]);
    v
}

/// The last line of a successful analysis.
pub fn complete_step(job: &Job) -> Step {
    step(
        1.0,
        format!("{ANALYSIS}/process_analyzer_job():508"),
        format!("analysis complete: {} : {}", job.account, job.digest),
    )
}

/// The line of a failed analysis.
pub fn failed_step(reason: &str) -> Step {
    Step {
        at: 1.0,
        level: Level::Error,
        location: format!("{ANALYSIS}/process_analyzer_job():497"),
        message: format!("problem analyzing image - exception: {reason}"),
    }
}

/// Distro, version and layer count the stand-in reports for well-known official images; other
/// images get Debian 12 and a layer count derived from the digest (so it is stable).
fn profile(repo: &str, digest_byte: u8) -> (&'static str, &'static str, u32) {
    let name = repo.rsplit('/').next().unwrap_or(repo);
    match name {
        "postgres" => ("debian", "12", 14),
        "nginx" => ("debian", "12", 7),
        "redis" => ("debian", "12", 8),
        "python" | "node" => ("debian", "12", 8),
        "debian" => ("debian", "12", 1),
        "alpine" => ("alpine", "3.20.3", 1),
        "ubuntu" => ("ubuntu", "24.04", 1),
        "busybox" => ("busybox", "1.36.1", 1),
        _ => ("debian", "12", 3 + u32::from(digest_byte % 10)),
    }
}

/// `image_content.metadata` for an analyzed image.
pub fn content_for(repo: &str, digest: &str) -> ContentMetadata {
    let h = Sha256::digest(digest.as_bytes());
    let (distro, version, layers) = profile(repo, h[0]);
    let size = 5_000_000 + u64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]])) % 400_000_000;
    ContentMetadata {
        arch: "amd64".to_string(),
        distro: distro.to_string(),
        distro_version: version.to_string(),
        dockerfile_mode: "Guessed".to_string(),
        image_size: size,
        layer_count: layers,
    }
}

/// A random-looking version-4 UUID for the scratch directory, without a uuid crate: hashed
/// from the time, the process id and a counter.
pub fn scratch_uuid(seed: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(seed.to_le_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ann(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn job() -> Job {
        let d = format!("sha256:{}", "07ad".repeat(16));
        Job {
            account: "admin".into(),
            digest: d.clone(),
            image_id: "69".repeat(32),
            pull_string: format!("docker.io/library/postgres@{d}"),
            full_tag: "docker.io/library/postgres:latest".into(),
        }
    }

    #[test]
    fn annotations_beat_rules_beat_the_default() {
        let rules = parse_rules(r#"[{"match":"postgres","seconds":3},{"match":"broken","fail":"pull failed"},{"match":"post","seconds":9}]"#).unwrap();
        let none = Map::new();
        assert_eq!(
            plan("docker.io/library/postgres:latest", &none, &rules, 2.0).unwrap(),
            Plan {
                seconds: 3.0,
                fail: None
            }
        );
        assert_eq!(
            plan("docker.io/broken:1", &none, &rules, 2.0).unwrap(),
            Plan {
                seconds: 2.0,
                fail: Some("pull failed".into())
            }
        );
        assert_eq!(
            plan("docker.io/nginx:1", &none, &rules, 2.0).unwrap(),
            Plan {
                seconds: 2.0,
                fail: None
            }
        );
        let a = ann(json!({"standin.analysis_seconds": "0.5", "standin.fail": "manifest unknown"}));
        assert_eq!(
            plan("docker.io/library/postgres:latest", &a, &rules, 2.0).unwrap(),
            Plan {
                seconds: 0.5,
                fail: Some("manifest unknown".into())
            }
        );
        let a = ann(json!({"standin.analysis_seconds": 4}));
        assert_eq!(plan("x", &a, &[], 2.0).unwrap().seconds, 4.0);
    }

    #[test]
    fn bad_configuration_is_explained() {
        assert!(parse_rules("{}").is_err());
        assert!(parse_rules(r#"[{"match":"a","secs":1}]"#)
            .unwrap_err()
            .contains("STANDIN_IMAGE_RULES"));
        assert!(parse_rules(r#"[{"match":"a","seconds":-1}]"#).is_err());
        assert!(parse_default_seconds("fast").is_err());
        assert_eq!(parse_default_seconds(" 1.5 ").unwrap(), 1.5);
        for bad in [
            json!({"standin.analysis_seconds": "soon"}),
            json!({"standin.analysis_seconds": "-2"}),
            json!({"standin.analysis_seconds": true}),
            json!({"standin.fail": ""}),
            json!({"standin.fail": 3}),
        ] {
            assert!(check_annotations(&ann(bad.clone())).is_err(), "{bad}");
        }
        assert!(check_annotations(&ann(
            json!({"owner": "team-a", "standin.analysis_seconds": "3"})
        ))
        .is_ok());
    }

    #[test]
    fn a_successful_analysis_logs_the_course_sequence() {
        let j = job();
        let mut lines = vec![dequeued_step(&j)];
        lines.extend(middle_steps(
            &j,
            false,
            true,
            "/analysis_scratch/17b02621-8234-4815-93cc-1ae10fe6a75f",
        ));
        lines.push(complete_step(&j));
        assert_eq!(
            lines[0].message,
            format!("image dequeued for analysis: admin : {}", j.digest)
        );
        assert!(lines[0]
            .location
            .ends_with("analysis/process_analyzer_job():415"));
        assert_eq!(lines[1].message, format!("performing analysis on image: ['admin', 'docker.io/library/postgres@{}', 'docker.io/library/postgres:latest']", j.digest));
        assert!(lines[1].location.ends_with("perform_analyze():280"));
        assert!(lines[2].location.ends_with("perform_analyze():287"));
        assert_eq!(
            lines[3].location,
            "anchore_enterprise.services.analyzer.localanchore_standalone/pull_image():679"
        );
        assert_eq!(lines[3].message, format!("Downloading image docker.io/library/postgres@{} for analysis to /analysis_scratch/17b02621-8234-4815-93cc-1ae10fe6a75f/raw", j.digest));
        assert_eq!(lines[4].message, "image content hints status: enabled");
        let last = lines.last().unwrap();
        assert_eq!(
            last.message,
            format!("analysis complete: admin : {}", j.digest)
        );
        assert!(last.location.ends_with("process_analyzer_job():508"));
        // Offsets never go backwards, start at 0 and end at 1.
        assert!(lines.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!((lines[0].at, last.at), (0.0, 1.0));
        assert!(lines.iter().all(|l| l.level == Level::Info));
    }

    #[test]
    fn a_failing_analysis_stops_after_the_download_with_an_error() {
        let j = job();
        let mid = middle_steps(&j, true, false, "/analysis_scratch/x");
        assert_eq!(mid.len(), 3);
        let f = failed_step("pull failed");
        assert_eq!(f.level, Level::Error);
        assert_eq!(
            f.message,
            "problem analyzing image - exception: pull failed"
        );
    }

    #[test]
    fn content_is_stable_and_known_images_look_right() {
        let d = "sha256:abc";
        assert_eq!(content_for("library/postgres", d).layer_count, 14);
        assert_eq!(content_for("library/postgres", d).distro, "debian");
        assert_eq!(content_for("alpine", d).distro_version, "3.20.3");
        assert_eq!(content_for("team/app", d), content_for("team/app", d));
        let other = content_for("team/app", d).layer_count;
        assert!((3..=12).contains(&other));
    }

    #[test]
    fn scratch_uuids_are_version_4_and_differ() {
        let a = scratch_uuid(1);
        let b = scratch_uuid(2);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }
}

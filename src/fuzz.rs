//! Fuzzing (issue 14): property tests (proptest, on stable) that feed random text and
//! mutations of real inputs to every reader of untrusted input: the lab loader and
//! validator, the roster, manual scores, submission bundles (re-signed after each
//! mutation, so the payload reader is reached), the compose reader, the analyzer
//! log reader of `lab trace` (blocks, prefilter and assembler, over mutated logs and
//! over damaged `.tar.gz`, `.zip`, `.zst` and `.xz` bundles), and the Prometheus,
//! Grafana and Anchore probes against a loopback server answering the mutated body.
//! Nothing may panic; each must answer `Ok` or a located error.
//!
//! `cargo test` runs a short round of each (64 cases); `LAB_FUZZ_CASES=N cargo test
//! --release fuzz` runs a long one (README, "Safe under hostile input").

use crate::model::check::Check;
use crate::probe::testserver::{Reply, Routes, TestServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn config() -> Config {
    let cases = std::env::var("LAB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Tokens that reach the corners of YAML, JSON and the lab format.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "- ",
    ": ",
    "\n",
    "\n  ",
    "\"",
    "'",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "~",
    "null",
    "1e999999",
    "NaN",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "é",
    "\u{1b}[2J",
    "\0",
    "\t",
    "#",
    "%",
    ",",
    "---\n",
    "...",
    "\u{feff}",
    "\\u0000",
    "true",
    "0x1F",
    "\"\\ud800\"",
    "{\"a\":",
    "[[[[[[[[",
    "passed",
    "points",
    "id",
    "checks",
    "labs",
];

/// `seed` mutated: truncated, tokens inserted (some repeated), bytes removed or
/// flipped, tails duplicated.
fn mutated(seed: String) -> impl Strategy<Value = String> {
    let op = (
        any::<prop::sample::Index>(),
        0u8..6,
        prop::sample::select(TOKENS),
    );
    prop::collection::vec(op, 0..10).prop_map(move |ops| {
        let mut s = seed.clone().into_bytes();
        for (i, kind, tok) in ops {
            let at = i.index(s.len() + 1);
            match kind {
                0 => s.truncate(at),
                1 => {
                    s.splice(at..at, tok.bytes());
                }
                2 if at < s.len() => {
                    s.remove(at);
                }
                3 => {
                    let tail = s[at..].to_vec();
                    s.extend(tail);
                }
                4 if at < s.len() => s[at] ^= 0x80,
                _ => {
                    s.splice(at..at, tok.repeat(64).bytes());
                }
            }
        }
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// Mutations of `seed`, and random text.
fn inputs(seed: &str) -> impl Strategy<Value = String> {
    prop_oneof![3 => mutated(seed.to_string()), 1 => any::<String>()]
}

fn run(seed: &str, test: impl Fn(&str)) {
    let mut runner = TestRunner::new(config());
    runner
        .run(&inputs(seed), |text| {
            test(&text);
            Ok(())
        })
        .unwrap();
}

const LAB: &str = include_str!("../tests/fixtures/grade-labs/01-metrics/lab.yaml");

#[test]
fn fuzz_lab_loader() {
    run(LAB, |text| {
        let _ = crate::loader::tests_support::parse_and_validate("lab.yaml", text);
    });
}

const ROSTER: &str = "trainees:\n  - name: alice\n    project: anchore-lab\n    docker: tcp://10.0.0.5:2376\n    tls_dir: certs/alice\n    workdir: work/alice\n    anchore: {url: \"http://10.0.0.5:8228\", user: admin, password_env: ALICE_PW}\n    prometheus: {url: \"http://10.0.0.5:9090\"}\n  - name: bob\n    project: p\n";

#[test]
fn fuzz_roster() {
    let var = |n: &str| (n == "ALICE_PW").then(|| "pw".to_string());
    run(ROSTER, |text| {
        let _ = crate::loader::roster::parse_roster("roster.yaml", text, &var);
    });
}

fn fixture_labs() -> Vec<crate::model::LoadedLab> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grade-labs");
    crate::loader::load(&[crate::loader::Source::Path(dir)]).labs
}

#[test]
fn fuzz_manual_scores() {
    let labs = fixture_labs();
    let trainees = ["alice".to_string(), "bob".to_string()];
    run(
        "alice:\n  02:\n    graph: {points: 2, comment: clear}\n  metrics:\n    app-scraped: 1\nbob:\n  1: {metrics-on: 0}\n",
        |text| {
            let _ = crate::loader::roster::parse_manual_scores("m.yaml", text, &trainees, &labs);
        },
    );
}

#[test]
fn fuzz_bundles() {
    use crate::grade::bundle::{self, Key};
    let labs = fixture_labs();
    let chosen: Vec<&crate::model::LoadedLab> = labs.iter().collect();
    let key = Key::for_tests("fuzz-course-key-0123456789");
    let tmp = crate::probe::testing::TempDir::new();
    let payload = r#"{"trainee":"alice","tool":"lab 0.1.0","created_at":"20261124T164530Z","labs":[{"id":"01-metrics","title":"M","digest":"sha256:00","checks":[{"id":"app-running","exercise":"enable","kind":"container","description":"d","status":"passed","expected":null,"actual":"running","message":null,"hint":null,"points":1,"possible":1}]}],"answers":{"job-name":"app"}}"#;
    run(payload, |text| {
        // Unsigned text straight to the verifier, then the same payload re-signed
        // (what a trainee holding a key can do) through the whole grading path.
        let _ = bundle::verify(text, &key);
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        let Ok(p) = serde_json::from_value::<bundle::Payload>(value) else {
            return;
        };
        let Ok(signed) = bundle::sign(&p, &key) else {
            return;
        };
        std::fs::write(tmp.path().join("b.json"), signed).unwrap();
        let graded = bundle::grade_dir(tmp.path(), &key, &chosen, &labs).unwrap();
        let book = crate::grade::Gradebook::new(&chosen, graded);
        let _ = crate::report::gradebook::json(&book);
    });
}

fn check(yaml: &str) -> Check {
    serde_yaml::from_str(yaml).expect("a valid check")
}

#[test]
fn fuzz_compose_reader() {
    let c = check(
        "id: c\ndescription: d\nkind: compose\nservices: [api, analyzer]\nenv: {ANCHORE_ENABLE_METRICS: \"true\"}\nports: [\"8228:8228\"]\n",
    );
    let crate::model::CheckSpec::Compose(cc) = &c.spec else {
        unreachable!()
    };
    let seed = include_str!(
        "../tests/fixtures/reference/anchore/compose/enterprise-5.17.0-s3c-anchore-compose.yaml"
    );
    run(seed, |text| {
        if let Ok(doc) = crate::loader::yaml_value(text) {
            let _ = crate::probe::compose::judge(cc, &doc);
            for (_, svc) in doc["services"].as_object().into_iter().flatten() {
                let _ = crate::model::compose::environment(svc);
            }
        }
    });
}

/// Runs `checks` against a loopback server whose every answer is the fuzzed body.
fn fuzz_probe(seed: &str, checks: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = Arc::new(Mutex::new(String::new()));
    let status = Arc::new(Mutex::new(200u16));
    let (b, s) = (body.clone(), status.clone());
    let srv = rt.block_on(TestServer::start(
        Routes::new()
            .with("GET", "*", {
                let (b, s) = (b.clone(), s.clone());
                move |_| Reply::text(*s.lock().unwrap(), &b.lock().unwrap())
            })
            .with("POST", "*", move |_| {
                Reply::text(*s.lock().unwrap(), &b.lock().unwrap())
            }),
    ));
    let specs: Vec<Check> = checks.iter().map(|c| check(c)).collect();
    let mut runner = TestRunner::new(config());
    runner
        .run(
            &(
                inputs(seed),
                prop::sample::select(&[200u16, 200, 400, 500][..]),
            ),
            |(text, code)| {
                *body.lock().unwrap() = text;
                *status.lock().unwrap() = code;
                for c in &specs {
                    let ctx = crate::probe::testserver::ctx(&srv.url, Duration::from_secs(5));
                    let _ = rt.block_on(crate::probe::probe(&c.spec, &ctx));
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn fuzz_prometheus_responses() {
    fuzz_probe(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"api"},"value":[1700000000.1,"1"]}],"activeTargets":[{"labels":{"job":"api","instance":"api:8228"},"scrapePool":"api","health":"up","lastError":"","scrapeUrl":"http://api:8228/metrics"}]}}"#,
        &[
            "id: q\ndescription: d\nkind: prometheus_query\nquery: up\nvalue: \">= 1\"\n",
            "id: t\ndescription: d\nkind: prometheus_targets\njobs: [api, analyzer]\nhealth: up\n",
        ],
    );
}

#[test]
fn fuzz_grafana_responses() {
    fuzz_probe(
        r#"[{"id":1,"uid":"prom","name":"prometheus","type":"prometheus","url":"http://prometheus:9090","access":"proxy","isDefault":true,"dashboard":{"uid":"anchore-tour","title":"T","templating":{"list":[{"name":"job","type":"query","current":{"value":"api"}}]},"panels":[{"title":"Analyzer status","type":"timeseries","datasource":{"uid":"prom"},"targets":[{"refId":"A","expr":"up{job=\"$job\"}"}],"panels":[]}]},"results":{"A":{"status":200,"frames":[{"data":{"values":[[1],[1]]}}]}},"status":"OK","message":"ok"}]"#,
        &[
            "id: ds\ndescription: d\nkind: grafana_datasource\ntype: prometheus\nname: prometheus\nurl: http://prometheus:9090\nhealthy: true\n",
            "id: db\ndescription: d\nkind: grafana_dashboard\nuid: anchore-tour\npanels_with_data: [\"Analyzer status\"]\n",
        ],
    );
}

#[test]
fn fuzz_anchore_responses() {
    fuzz_probe(
        r#"{"items":[{"imageDigest":"sha256:abc","analysisStatus":"analyzed","imageStatus":"active","imageDetail":[{"fullTag":"docker.io/library/postgres:latest","registry":"docker.io","repo":"library/postgres","tag":"latest"}]}]}"#,
        &[
            "id: i\ndescription: d\nkind: anchore_image\ntag: docker.io/library/postgres:latest\nstatus: analyzed\n",
            "id: n\ndescription: d\nkind: anchore_image\nstatus: analyzed\nat_least: 1\n",
        ],
    );
}

/// Two analyzers' lines interleaved on one reused thread name, one failure, and a
/// line of another service: the corners of `lab trace`'s reader.
const ANALYZER_LOG: &str = "\
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00] [MainProcess] [Thread-1] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:07ad
analyzer-2  | [2024-08-18T14:59:14+02:00] [MainProcess] [Thread-1] [INFO] [m/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:b0b0
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.569659+00:00] [MainProcess] [Thread-1] [INFO] [m/perform_analyze():280] | performing analysis on image: ['admin', 'docker.io/library/postgres@sha256:07ad', 'docker.io/library/postgres:latest']
[service:policy-engine] [2024-08-18T12:59:20+00:00] [MainProcess] [Thread-9] [WARN] [m/x():1] | something else
analyzer-2  | [2024-08-18T13:00:01+00:00] [MainProcess] [Thread-1] [ERROR] [m/process_analyzer_job():470] | problem analyzing image - exception: Failed to pull image sha256:b0b0
[2024-08-18T13:00:32.494336+00:00] [MainProcess] [Thread-1] [INFO] [m/process_analyzer_job():508] | analysis complete: admin : sha256:07ad
";

/// The whole reader of `lab trace` (blocks, workers, prefilter, assembler) over a
/// file, in both modes: every analysis it gives has a finite duration.
fn trace_file(path: &std::path::Path) {
    for mode in [
        crate::trace::scan::Mode::Key,
        crate::trace::scan::Mode::Every,
    ] {
        let mut found = Vec::new();
        let _ = crate::trace::scan::run(&[path.to_path_buf()], mode, &mut |a| found.push(a));
        for a in &found {
            assert!(
                a.duration.is_none_or(|d| d.is_finite() && d >= 0.0),
                "{a:?}"
            );
        }
    }
}

#[test]
fn fuzz_analyzer_log() {
    let dir = crate::probe::testing::TempDir::new();
    let path = dir.path().join("analyzer.log");
    run(ANALYZER_LOG, |text| {
        std::fs::write(&path, text).unwrap();
        trace_file(&path);
        let _ = crate::analyzer_log::analyses(text.lines().map(|l| ("fuzz", l)));
    });
}

/// A support bundle as `lab trace` meets it: the log in a `.tar.gz`, a `.zip`, a
/// `.zst` and an `.xz`.
fn bundles() -> Vec<(&'static str, Vec<u8>)> {
    use std::io::Write;
    let log = ANALYZER_LOG.as_bytes();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(log.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "bundle/logs/analyzer.log", log)
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "logs/analyzer.log",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(log).unwrap();
    let zip = zip.finish().unwrap().into_inner();
    let zst = zstd::encode_all(log, 1).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(log).unwrap();
    vec![
        ("bundle.tar.gz", gz.finish().unwrap()),
        ("bundle.zip", zip),
        ("analyzer.log.zst", zst),
        ("analyzer.log.xz", xz.finish().unwrap()),
    ]
}

#[test]
fn fuzz_trace_bundles() {
    // Byte mutations of compressed files and archives: a damaged bundle is an error
    // or a partial list, never a panic.
    let dir = crate::probe::testing::TempDir::new();
    let mut runner = TestRunner::new(config());
    for (name, bytes) in bundles() {
        let path = dir.path().join(name);
        let ops = prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 0..8);
        runner
            .run(&ops, |ops| {
                let mut b = bytes.clone();
                for (i, kind, byte) in ops {
                    let at = i.index(b.len() + 1);
                    match kind {
                        0 => b.truncate(at),
                        1 => b.insert(at, byte),
                        2 if at < b.len() => b[at] ^= byte | 1,
                        _ if at < b.len() => {
                            b.remove(at);
                        }
                        _ => {}
                    }
                }
                std::fs::write(&path, &b).unwrap();
                trace_file(&path);
                Ok(())
            })
            .unwrap();
    }
}

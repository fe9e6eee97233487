//! `lab trace` on support-bundle log files: interleaved analyzers and threads, the
//! course's line format, unfinished and failed analyses, JSON.

use crate::commands::tempdir::Dir;
use crate::support::{lab, run};

const BUNDLE: &str = "\
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.500000+00:00] [MainProcess] [Thread-9] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:aaaa
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.569659+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():280] | performing analysis on image: ['admin', 'docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b', 'docker.io/library/postgres:latest']
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.600000+00:00] [MainProcess] [Thread-9] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():280] | performing analysis on image: ['admin', 'docker.io/library/nginx@sha256:aaaa', 'docker.io/library/nginx:latest']
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:14.100000+00:00] [MainProcess] [Thread-9] [ERROR] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():470] | problem analyzing image - exception: failed to pull image
[service:anchore-enterprise-analyzer] [2024-08-18T13:00:32.494336+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():508] | analysis complete: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b
";

const SECOND_ANALYZER: &str = "\
[service:anchore-enterprise-analyzer] [2024-08-18T13:01:00.000000+00:00] [MainProcess] [Thread-3] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:bbbb
[service:anchore-enterprise-analyzer] [2024-08-18T13:01:00.100000+00:00] [MainProcess] [Thread-3] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():280] | performing analysis on image: ['admin', 'docker.io/library/redis@sha256:bbbb', 'docker.io/library/redis:7']
";

fn files() -> (Dir, std::path::PathBuf, std::path::PathBuf) {
    let d = Dir::new("trace");
    let a = d.path().join("analyzer-1.log");
    let b = d.path().join("analyzer-2.log");
    std::fs::write(&a, BUNDLE).unwrap();
    std::fs::write(&b, SECOND_ANALYZER).unwrap();
    (d, a, b)
}

#[test]
fn every_analysis_of_several_files_is_listed_without_an_image() {
    let (_d, a, b) = files();
    let r = run(lab().args(["trace", "--log"]).arg(&a).arg("--log").arg(&b));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "dequeued                 analyzer          thread        outcome   duration  image\n\
         2024-08-18 12:59:13.476  analyzer-1.log    Thread-55181  complete     1m19s  docker.io/library/postgres:latest\n\
         2024-08-18 12:59:13.500  analyzer-1.log    Thread-9      failed       600ms  docker.io/library/nginx:latest  problem analyzing image - exception: failed to pull image\n\
         2024-08-18 13:01:00.000  analyzer-2.log    Thread-3      running          -  docker.io/library/redis:7\n"
    );
}

#[test]
fn the_timeline_of_one_image_follows_its_thread_and_gives_the_duration() {
    let (_d, a, _b) = files();
    let r = run(lab().args(["trace", "postgres:latest", "--log"]).arg(&a));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "Analysis of docker.io/library/postgres:latest (sha256:07ad6d638531, Thread-55181 on "
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "  13:00:32.494   +79.018s  complete   analysis complete: admin : sha256:07ad"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("  took 79.018s (1m19s) from dequeue to analysis complete"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("Thread-9"),
        "other threads stay out: {}",
        r.stdout
    );
}

#[test]
fn unfinished_and_failed_analyses_say_so_and_stdin_is_read() {
    let (_d, a, b) = files();
    let r = run(lab()
        .args(["trace", "redis:7", "--log", "-"])
        .stdin(std::fs::File::open(&b).unwrap()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("not finished: no `analysis complete` or failure line yet"),
        "{}",
        r.stdout
    );
    let r = run(lab().args(["trace", "sha256:aaaa", "--log"]).arg(&a));
    assert!(
        r.stdout
            .contains("FAILED     problem analyzing image - exception: failed to pull image"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("failed after 0.600s"), "{}", r.stdout);
}

#[test]
fn an_image_not_in_the_logs_is_an_error_and_json_has_every_event() {
    let (_d, a, _b) = files();
    let r = run(lab().args(["trace", "alpine", "--log"]).arg(&a));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no analysis of alpine in the given logs (2 analyses found)"),
        "{}",
        r.stderr
    );
    let r = run(lab()
        .args(["trace", "postgres", "--format", "json", "--log"])
        .arg(&a));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let an = &doc["analyses"][0];
    assert_eq!(an["thread"], "Thread-55181");
    assert_eq!(an["outcome"], "complete");
    assert!((an["duration"].as_f64().unwrap() - 79.0175).abs() < 0.001);
    let steps: Vec<&str> = an["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["dequeued", "performing", "complete"]);
}

#[path = "../common/analyzer_logs.rs"]
mod analyzer_logs;

use analyzer_logs::{interleaved, Analyzer, Expected};
use std::io::Write;
use std::path::Path;

/// Two analyzers in one file with the same thread names, the second dequeuing while
/// the first's analysis runs; the first's last analysis unfinished, the second failing
/// now and then. Its analyses are added to `expect`.
fn shared_threads(expect: &mut Vec<Expected>) -> String {
    interleaved(
        &[
            Analyzer {
                seed: 1,
                analyses: 24,
                last_unfinished: true,
                ..Analyzer::default()
            },
            Analyzer {
                seed: 2,
                analyses: 24,
                lag: 30.0,
                failures: true,
                ..Analyzer::default()
            },
        ],
        expect,
    )
}

/// A support bundle's logs: two analyzers in one file with the same thread names
/// (the second dequeues while the first's analysis runs), an engine-format analyzer
/// at +02:00 in a rotated, gzipped file, and two compose replicas at -05:00 in one
/// `docker compose logs` dump. Returns the files (name, bytes) and every analysis.
fn bundle() -> (Vec<(String, Vec<u8>)>, Vec<Expected>) {
    let mut expect = Vec::new();
    let shared = shared_threads(&mut expect);
    let engine = interleaved(
        &[Analyzer {
            seed: 3,
            engine: true,
            offset_minutes: 120,
            failures: true,
            analyses: 20,
            ..Analyzer::default()
        }],
        &mut expect,
    );
    let compose = interleaved(
        &[
            Analyzer {
                seed: 4,
                prefix: "analyzer-1  | ".into(),
                offset_minutes: -300,
                failures: true,
                analyses: 15,
                ..Analyzer::default()
            },
            Analyzer {
                seed: 5,
                prefix: "analyzer-2  | ".into(),
                offset_minutes: -300,
                failures: true,
                lag: 10.0,
                analyses: 15,
                ..Analyzer::default()
            },
        ],
        &mut expect,
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(engine.as_bytes()).unwrap();
    let files = vec![
        ("logs/anchore/analyzer.log".to_string(), shared.into_bytes()),
        ("logs/anchore/old/analyzer.log.1.gz".to_string(), gz.finish().unwrap()),
        ("logs/compose.txt".to_string(), compose.into_bytes()),
        // Not analyzer logs: found by content, so skipped whatever their names.
        ("logs/anchore/catalog.log".to_string(), b"[service:catalog] [2024-08-18T12:00:00+00:00] [MainProcess] [Thread-1] [INFO] [catalog/x():1] | analysis complete: admin : sha256:ff\n".to_vec()),
        ("config/analyzer.yaml".to_string(), b"services:\n  analyzer:\n    enabled: true\n".to_vec()),
        ("bin/core".to_string(), (0..=255u8).cycle().take(70_000).collect()),
    ];
    (files, expect)
}

fn write_dir(root: &Path, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    t.into_inner().unwrap()
}

/// Each expected analysis, found once, with its outcome and duration (to the microsecond).
fn assert_found(json: &str, expect: &[Expected]) {
    let doc: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let got = doc["analyses"].as_array().unwrap();
    assert_eq!(got.len(), expect.len(), "every analysis, once");
    for e in expect {
        let mine: Vec<_> = got
            .iter()
            .filter(|a| a["digest"] == e.digest.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{} found once", e.digest);
        let a = mine[0];
        assert_eq!(a["outcome"], e.outcome, "{e:?}: {a}");
        assert_eq!(a["tag"], e.tag.as_str(), "{e:?}");
        match e.duration {
            Some(d) => {
                let got = a["duration"].as_f64().unwrap_or(-1.0);
                assert!((got - d).abs() < 1e-5, "{e:?}: {got}");
            }
            None => assert!(a["duration"].is_null(), "{e:?}"),
        }
    }
}

fn json_list(args: &[&std::ffi::OsStr], stdin: Option<std::fs::File>) -> String {
    let mut c = lab();
    c.args(["trace", "--format", "json"]);
    for a in args {
        c.arg("--log").arg(a);
    }
    if let Some(f) = stdin {
        c.stdin(f);
    }
    let r = run(&mut c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
}

#[test]
fn a_bundle_folder_yields_every_analysis_with_its_duration_and_outcome() {
    let (files, expect) = bundle();
    assert!(
        expect.iter().any(|e| e.outcome == "failed")
            && expect.iter().any(|e| e.outcome == "unfinished")
    );
    let d = Dir::new("trace-bundle");
    write_dir(d.path(), &files);
    let out = json_list(&[d.path().as_os_str()], None);
    assert_found(&out, &expect);
    let r = run(lab().args(["trace", "--log"]).arg(d.path()));
    assert!(
        r.stderr
            .contains(&format!("{} analyses in 3 analyzer logs", expect.len()))
            && r.stderr
                .contains("3 files that are not analyzer logs skipped"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_list_of_several_logs_is_in_dequeue_order_across_analyzers() {
    // Two analyzers' logs whose analyses run at the same hours: read one after the
    // other (the later-starting one named first), their rows interleave by dequeue.
    let d = Dir::new("trace-order");
    let mut expect = Vec::new();
    let early = interleaved(
        &[Analyzer {
            seed: 21,
            analyses: 40,
            failures: true,
            ..Analyzer::default()
        }],
        &mut expect,
    );
    let late = interleaved(
        &[Analyzer {
            seed: 22,
            analyses: 40,
            lag: 45.0,
            offset_minutes: 60,
            ..Analyzer::default()
        }],
        &mut expect,
    );
    let a = d.path().join("a-late.log");
    let b = d.path().join("b-early.log");
    std::fs::write(&a, late).unwrap();
    std::fs::write(&b, early).unwrap();
    let r = run(lab().args(["trace", "--log"]).arg(&a).arg("--log").arg(&b));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), expect.len(), "{}", r.stdout);
    // The human list shows local stamps; the CSV's carry their offsets.
    let csv = run(lab()
        .args(["trace", "--format", "csv", "--log"])
        .arg(&a)
        .arg("--log")
        .arg(&b));
    let times: Vec<f64> = csv
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let stamp = l.split(',').next().unwrap_or("");
            ::lab::analyzer_log::parse_time(stamp).unwrap_or_else(|| panic!("{l}"))
        })
        .collect();
    assert_eq!(times.len(), expect.len());
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "not in dequeue order:\n{}",
        csv.stdout
    );
    // Both logs' rows alternate, not one log after the other.
    let from_a: Vec<bool> = csv
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.contains("a-late.log"))
        .collect();
    let switches = from_a.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches > 10, "{switches} switches:\n{}", csv.stdout);
    // JSON lists them in the same order.
    let doc: serde_json::Value =
        serde_json::from_str(&json_list(&[a.as_os_str(), b.as_os_str()], None)).unwrap();
    let json_from_a: Vec<bool> = doc["analyses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["source"].as_str().unwrap_or("").ends_with("a-late.log"))
        .collect();
    assert_eq!(json_from_a, from_a);
}

#[test]
fn a_restarted_analyzer_and_a_replica_over_several_read_blocks_keep_every_analysis() {
    // One log file larger than two of the reader's blocks (lines cut across blocks
    // and read by different workers): an analyzer whose last analysis is cut by a
    // restart, the restarted analyzer reusing the same thread names from Thread-1
    // again, and a compose replica with the same thread names interleaved with both.
    let mut expect = Vec::new();
    let first = Analyzer {
        seed: 71,
        analyses: 450,
        noise: 20,
        last_unfinished: true,
        failures: true,
        ..Analyzer::default()
    };
    let restarted = Analyzer {
        seed: 72,
        analyses: 450,
        noise: 20,
        failures: true,
        // After the first one's last line: 450 / 3 slots of 200 s, plus its duration.
        lag: 450.0 / 3.0 * 200.0 + 500.0,
        ..Analyzer::default()
    };
    let replica = Analyzer {
        seed: 73,
        prefix: "analyzer-2  | ".into(),
        analyses: 900,
        noise: 6,
        failures: true,
        lag: 7.0,
        ..Analyzer::default()
    };
    let text = interleaved(&[first, restarted, replica], &mut expect);
    assert!(
        text.len() > 2 * ::lab::trace::scan::BLOCK + 1000,
        "{} bytes",
        text.len()
    );
    assert!(expect.iter().filter(|e| e.outcome == "unfinished").count() == 1);
    assert!(expect.iter().filter(|e| e.outcome == "failed").count() > 100);
    let d = Dir::new("trace-restart");
    let log = d.path().join("analyzer.log");
    std::fs::write(&log, &text).unwrap();
    assert_found(&json_list(&[log.as_os_str()], None), &expect);
}

#[test]
fn tar_gz_zip_zstd_xz_and_stdin_are_read_in_place() {
    let (files, expect) = bundle();
    let d = Dir::new("trace-archives");
    let tar = tar_of(&files);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let tgz = d.path().join("support-bundle.tgz");
    std::fs::write(&tgz, gz.finish().unwrap()).unwrap();
    let zst = d.path().join("bundle.tar.zst");
    std::fs::write(&zst, zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
    let zip_path = d.path().join("bundle.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        for (name, bytes) in &files {
            z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    for p in [&tgz, &zst, &zip_path] {
        assert_found(&json_list(&[p.as_os_str()], None), &expect);
    }
    // One log alone, xz-compressed, and a .tgz on standard input.
    let mut one = Vec::new();
    let shared = shared_threads(&mut one);
    let xz = d.path().join("analyzer.log.xz");
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
    enc.write_all(shared.as_bytes()).unwrap();
    std::fs::write(&xz, enc.finish().unwrap()).unwrap();
    assert_found(&json_list(&[xz.as_os_str()], None), &one);
    let stdin = std::fs::File::open(&tgz).unwrap();
    assert_found(
        &json_list(&[std::ffi::OsStr::new("-")], Some(stdin)),
        &expect,
    );
}

#[test]
fn the_summary_counts_times_failures_and_prometheus_figures() {
    let (files, expect) = bundle();
    let d = Dir::new("trace-summary");
    write_dir(d.path(), &files);
    let r = run(lab()
        .args(["trace", "--summary", "--format", "json", "--log"])
        .arg(d.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let s = &doc["summary"];
    let count = |o: &str| expect.iter().filter(|e| e.outcome == o).count() as u64;
    assert_eq!(s["analyses"], expect.len() as u64);
    assert_eq!(s["complete"], count("complete"));
    assert_eq!(s["failed"], count("failed"));
    assert_eq!(s["unfinished"], count("unfinished"));
    let mut done: Vec<f64> = expect
        .iter()
        .filter(|e| e.outcome == "complete")
        .filter_map(|e| e.duration)
        .collect();
    done.sort_by(f64::total_cmp);
    let rank = |q: f64| done[((q * done.len() as f64).ceil() as usize).max(1) - 1];
    let t = &s["analysis_time"];
    for (k, want) in [
        ("min", done[0]),
        ("p50", rank(0.5)),
        ("p90", rank(0.9)),
        ("max", *done.last().unwrap()),
    ] {
        assert!((t[k].as_f64().unwrap() - want).abs() < 1e-5, "{k}: {t}");
    }
    let sum: f64 = done.iter().sum();
    assert!((s["prometheus"]["success_sum"].as_f64().unwrap() - sum).abs() < 1e-3);
    assert_eq!(s["prometheus"]["success_count"], done.len() as u64);
    // Every failure has the same message but for the image: one group.
    assert_eq!(
        s["failures"].as_array().unwrap().len(),
        1,
        "{}",
        s["failures"]
    );
    assert_eq!(s["failures"][0]["count"], count("failed"));
    assert_eq!(
        s["per_analyzer"].as_array().unwrap().len(),
        4,
        "{}",
        s["per_analyzer"]
    );
    assert_eq!(s["slowest"].as_array().unwrap().len(), 10);

    let r = run(lab().args(["trace", "--summary", "--log"]).arg(d.path()));
    for part in [
        "Analyses: ",
        "p99",
        "sum(anchore_analysis_time_seconds_sum) / sum(anchore_analysis_time_seconds_count) = ",
        "Slowest images:",
        "Failures by message:",
        "Per hour (UTC, by dequeue):",
        "Per analyzer:",
        "compose.txt analyzer-2",
        "histogram",
        "Analyses running over time",
    ] {
        assert!(r.stdout.contains(part), "{part}: {}", r.stdout);
    }
    // Not a terminal: plain ASCII bars.
    assert!(!r.stdout.contains('█'), "{}", r.stdout);
    let r = run(lab()
        .args(["trace", "--summary", "--format", "csv", "--log"])
        .arg(d.path()));
    assert!(
        r.stdout
            .starts_with("section,name,analyses,complete,failed,unfinished,seconds\ntotal,,"),
        "{}",
        r.stdout
    );
}

#[test]
fn filters_pick_failed_slow_timed_and_named_analyses() {
    let (files, expect) = bundle();
    let d = Dir::new("trace-filters");
    write_dir(d.path(), &files);
    let list = |extra: &[&str]| {
        let r = run(lab()
            .args(["trace", "--format", "csv"])
            .args(extra)
            .arg("--log")
            .arg(d.path()));
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let failed = list(&["--failed"]);
    assert_eq!(
        failed.len(),
        expect.iter().filter(|e| e.outcome == "failed").count()
    );
    assert!(failed.iter().all(|l| l.contains(",failed,")));
    let slow = list(&["--slower-than", "2m"]);
    assert_eq!(
        slow.len(),
        expect
            .iter()
            .filter(|e| e.duration.is_some_and(|d| d > 120.0))
            .count()
    );
    let first_hour = list(&["--until", "2024-08-18T12:10:00Z"]);
    let later = list(&["--since", "2024-08-18 12:10:00.000001"]);
    assert_eq!(first_hour.len() + later.len(), expect.len());
    assert!(!first_hour.is_empty() && !later.is_empty());
    let two = list(&[
        "--image",
        &expect[0].tag,
        "--image",
        &expect[5].digest[..20],
    ]);
    assert_eq!(two.len(), 2, "{two:?}");
    let r = run(lab()
        .args(["trace", "--since", "yesterday", "--log"])
        .arg(d.path()));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--since yesterday: not a time"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_truncated_gzip_keeps_the_lines_before_the_damage_and_says_so() {
    let d = Dir::new("trace-truncated");
    let mut one = Vec::new();
    let text = interleaved(
        &[Analyzer {
            seed: 7,
            analyses: 60,
            ..Analyzer::default()
        }],
        &mut one,
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let mut bytes = gz.finish().unwrap();
    bytes.truncate(bytes.len() / 2);
    let p = d.path().join("analyzer.log.gz");
    std::fs::write(&p, bytes).unwrap();
    let r = run(lab().args(["trace", "--format", "json", "--log"]).arg(&p));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("cannot decompress"), "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let n = doc["analyses"].as_array().unwrap().len();
    assert!(n > 5 && n < 60, "{n}");
}

/// A loopback server playing Anchore's `/v2/events` and Prometheus's `query_range` for the
/// postgres analysis of `BUNDLE` (12:59:13.476 to 13:00:32.494 on 2024-08-18).
fn signals_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                match r.read_line(&mut h) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if h == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            let matrix = |labels: &str, values: &str| {
                format!(
                    r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{{labels}}},"values":[{values}]}}]}}}}"#
                )
            };
            let body = if path.starts_with("/v2/events") {
                r#"{"results":[
                  {"event_id":"e2","created_at":"x","event":{"type":"user.image.analysis.completed","level":"INFO",
                   "resource":{"id":"docker.io/postgres:latest","type":"image_tag","account_name":"admin"},
                   "source":{"service_name":"catalog","host_id":"c1"},"message":"Image analysis available",
                   "timestamp":"2024-08-18T13:00:32.600000Z"}},
                  {"event_id":"e1","created_at":"x","event":{"type":"system.image_analysis.registry_lookup_failed","level":"ERROR",
                   "resource":{"id":"docker.io/library/alpine:nope","type":"image_reference","account_name":"admin"},
                   "source":{"service_name":"catalog","host_id":"c1"},"message":"m","timestamp":"2024-08-18T12:59:00Z"}}
                 ],"next_page":false,"item_count":2,"page":1}"#
                    .to_string()
            } else if path.contains("anchore_analyzer_status") {
                matrix("", r#"[1723985950,"0"],[1723985955,"1"],[1723986035,"0"]"#)
            } else if path.contains("_sum") {
                matrix(
                    r#""status":"success""#,
                    r#"[1723986030,"0"],[1723986035,"79.018"]"#,
                )
            } else if path.contains("_count") {
                matrix(
                    r#""status":"success""#,
                    r#"[1723986030,"0"],[1723986035,"1"]"#,
                )
            } else {
                r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.to_string()
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn events_and_metrics_join_the_log_lines_on_one_time_axis() {
    let (d, a, _b) = files();
    let url = signals_server();
    let trace = |format: &str| {
        run(lab()
            .current_dir(d.path())
            .args(["--format", format, "trace", "postgres:latest", "--log"])
            .arg(&a)
            .args(["--anchore-url", &url, "--prometheus-url", &url]))
    };
    let r = trace("human");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = &r.stdout;
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{out}"))
    };
    // In time order, each with its source; the other image's error event is not there.
    let dequeued = at("[log       ] Thread-55181 image dequeued for analysis");
    let processing = at("[prometheus] anchore_analyzer_status: 1 analyzer(s) processing");
    let complete = at("[log       ] Thread-55181 analysis complete");
    let observed = at(
        "[prometheus] anchore_analysis_time_seconds observed 1 analysis (status=success), 79.018s each",
    );
    let event = at("[events    ] INFO user.image.analysis.completed (image_tag from catalog, e2)");
    assert!(
        dequeued < processing && processing < complete && complete < event,
        "{out}"
    );
    assert!(event < observed, "{out}");
    assert!(!out.contains("registry_lookup_failed"), "{out}");

    let r = trace("json");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let sources: std::collections::BTreeSet<&str> = v["signals"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources.into_iter().collect::<Vec<_>>(),
        ["events", "log", "prometheus"]
    );
    assert!(v["signals"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["available"] == true));
}

#[test]
fn a_source_that_does_not_answer_is_named_and_the_others_still_show() {
    let (d, a, _b) = files();
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let r = run(lab()
        .current_dir(d.path())
        .args(["trace", "postgres:latest", "--log"])
        .arg(&a)
        .args(["--anchore-url", &dead, "--prometheus-url", &dead]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("[log       ] Thread-55181"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("(events not shown: cannot connect to"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("(prometheus not shown: cannot connect to"),
        "{}",
        r.stdout
    );
}

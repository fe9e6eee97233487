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
        "dequeued                 thread        outcome       duration  image\n\
         2024-08-18 12:59:13.476  Thread-55181  complete         1m19s  docker.io/library/postgres:latest\n\
         2024-08-18 12:59:13.500  Thread-9      failed           600ms  docker.io/library/nginx:latest\n\
         2024-08-18 13:01:00.000  Thread-3      running              -  docker.io/library/redis:7\n"
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

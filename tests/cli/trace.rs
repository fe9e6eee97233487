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

//! Every test that needs the Docker engine says so, so that a machine without one
//! reports it as ignored instead of failing it (or, worse, passing it unrun).

use crate::support::repo;

/// The test functions in `text` that call `enabled(…)` (the Docker gate) without the
/// `cfg_attr(not(lab_docker), ignore = …)` attribute.
fn ungated(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(rest) = t
            .strip_prefix("fn ")
            .or_else(|| t.strip_prefix("async fn "))
        else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let attrs: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with("#["))
            .copied()
            .collect();
        let is_test = attrs.iter().any(|a| a.contains("test"));
        // The body's first statements: the gate comes first in every Docker test.
        let head: String = lines[i + 1..lines.len().min(i + 6)].join("\n");
        let gated = head.contains("enabled(");
        if is_test && gated && !attrs.iter().any(|a| a.contains("not(lab_docker)")) {
            out.push(name);
        }
    }
    out
}

#[test]
fn every_docker_test_is_ignored_without_an_engine() {
    let mut missing = Vec::new();
    let mut gated = 0;
    for dir in ["tests/cli", "tests/standins/tests"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap().flatten() {
            let path = e.path();
            // This file's own example is not a test of the engine.
            if path.extension().is_some_and(|x| x == "rs") && !path.ends_with("docker_gate.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                gated += text.matches("not(lab_docker)").count();
                for f in ungated(&text) {
                    missing.push(format!("{}: {f}", path.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add #[cfg_attr(not(lab_docker), ignore = \"needs a Docker engine\")] to: {missing:#?}"
    );
    assert!(
        gated >= 20,
        "only {gated} gated tests found: is the scan still right?"
    );
}

#[test]
fn the_scan_finds_a_docker_test_without_the_attribute() {
    let text = "#[test]\nfn a() {\n    if !enabled(\"a\") {\n        return;\n    }\n}\n\n#[cfg_attr(not(lab_docker), ignore = \"needs a Docker engine\")]\n#[test]\nfn b() {\n    if !enabled(\"b\") {\n        return;\n    }\n}\n\n#[test]\nfn c() {}\n";
    assert_eq!(ungated(text), ["a"]);
}

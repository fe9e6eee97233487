use super::*;
use crate::loader::{load, Source};

fn var(name: &str) -> Option<String> {
    (name == "SET_VAR").then(|| "x".to_string())
}

fn roster_errors(text: &str) -> String {
    match parse_roster("roster.yaml", text, &var) {
        Ok(_) => "ok".into(),
        Err(d) => d
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn labs() -> Vec<LoadedLab> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grade-labs");
    let l = load(&[Source::Path(dir)]);
    assert!(l.problems.is_empty(), "{:?}", l.problems);
    l.labs
}

fn score_errors(text: &str) -> String {
    let trainees = vec!["alice".to_string(), "bob".to_string()];
    match parse_manual_scores("scores.yaml", text, &trainees, &labs()) {
        Ok(_) => "ok".into(),
        Err(d) => d
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn a_good_roster_reads() {
    let r = parse_roster(
        "roster.yaml",
        "trainees:\n  - name: alice\n    docker: tcp://10.0.0.5:2376\n    tls_dir: certs/alice\n    project: anchore-lab\n    anchore: {url: 'http://10.0.0.5:8228', user: admin, password_env: SET_VAR}\n  - name: bob\n    project: bob\n",
        &var,
    )
    .unwrap();
    assert_eq!(r.trainees.len(), 2);
    assert_eq!(
        r.trainees[0]
            .anchore
            .as_ref()
            .unwrap()
            .password_env
            .as_deref(),
        Some("SET_VAR")
    );
}

#[test]
fn roster_mistakes_name_file_line_column_and_field() {
    let cases = [
        // unknown field
        "trainees:\n  - name: alice\n    project: p\n    pasword_env: X\n",
        // missing project
        "trainees:\n  - name: alice\n",
        // ssh
        "trainees:\n  - name: alice\n    project: p\n    docker: ssh://me@host\n",
        // unset variable, bad url, duplicate name, tcp without port
        "trainees:\n  - name: alice\n    project: p\n    grafana: {url: 'http://g:3000', password_env: UNSET_VAR}\n  - name: alice\n    project: q\n    docker: tcp://host\n    prometheus: {url: 'localhost:9090'}\n",
        // tls_dir on a unix socket; a wrong type
        "trainees:\n  - name: alice\n    project: p\n    tls_dir: certs\n",
        "trainees:\n  - name: bob\n    project: [a]\n",
        "",
    ];
    let out: Vec<String> = cases.iter().map(|c| roster_errors(c)).collect();
    insta::assert_snapshot!(out.join("\n---\n"));
}

#[test]
fn manual_scores_read_and_resolve_questions_to_checks() {
    let s = parse_manual_scores(
        "scores.yaml",
        "alice:\n  02:\n    graph: {points: 2, comment: clear and right}\n  metrics:\n    app-scraped: 1\n",
        &["alice".to_string()],
        &labs(),
    )
    .unwrap();
    assert_eq!(s["alice"]["02"]["graph"].points, 2);
    let labs = labs();
    assert_eq!(resolve(&labs[1], "graph").unwrap().id, "graph-described");
}

#[test]
fn manual_score_mistakes_name_file_line_column_and_field() {
    let cases = [
        "carol:\n  02:\n    graph: 1\n",
        "alice:\n  07:\n    graph: 1\n",
        "alice:\n  02:\n    graf: 1\n",
        "alice:\n  02:\n    graph: 5\n",
        "alice:\n  02:\n    graph: {points: 1, coment: x}\n",
        "alice:\n  02:\n    graph: lots\n",
    ];
    let out: Vec<String> = cases.iter().map(|c| score_errors(c)).collect();
    insta::assert_snapshot!(out.join("\n---\n"));
}

#[test]
fn duplicate_keys_in_manual_scores_are_refused_at_the_second() {
    // Found by issue 14: serde kept the last of two, silently.
    let e = parse_manual_scores(
        "scores.yaml",
        "alice:\n  02:\n    graph: 1\n    graph: 2\n",
        &["alice".to_string()],
        &labs(),
    )
    .unwrap_err();
    let shown = e[0].to_string();
    assert!(
        shown.contains("scores.yaml:4:5") && shown.contains("twice"),
        "{shown}"
    );
}

#[test]
fn a_roster_that_is_not_utf8_is_named_with_line_and_column() {
    // Found by issue 14: the error had no position.
    let tmp = crate::probe::testing::TempDir::new();
    let f = tmp.path().join("roster.yaml");
    std::fs::write(&f, b"trainees:\n  - name: al\xffice\n").unwrap();
    let e = roster(&f, &var).unwrap_err();
    let shown = e[0].to_string();
    assert!(
        shown.contains("roster.yaml:2:13") && shown.contains("UTF-8"),
        "{shown}"
    );
}

#[test]
fn a_deep_roster_is_refused_quickly() {
    let deep = format!("trainees: {}{}\n", "[".repeat(40_000), "]".repeat(40_000));
    let t = std::time::Instant::now();
    let e = roster_errors(&deep);
    assert!(e.contains("nested more than"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
}

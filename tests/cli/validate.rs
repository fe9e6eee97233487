//! `lab validate`: every mistake in a lab file is reported with its file, line,
//! column and field path, and a message that says what to fix; every problem of
//! every lab is reported, not just the first; JSON output carries the same fields.

use crate::support::{lab, repo, run};
use std::path::{Path, PathBuf};

const MALFORMED: &str = "tests/malformed";

/// Each fixture under tests/malformed (one mistake each, named in its first line) and
/// what `lab validate` prints for it after `error: <file>:`, one line per problem.
#[rustfmt::skip]
const CASES: &[(&str, &[&str])] = &[
    // Fields serde does not know: the path ends at the unknown key.
    (
        "01-unknown-top-field.yaml",
        &[r#"7:1: author: unknown field `author`, expected one of `number`, `slug`, `title`, `summary`, `instructions`, `prerequisites`, `setup`, `solve`, `cleanup`, `exercises`, `variants`"#],
    ),
    (
        "02-unknown-exercise-field.yaml",
        &[r#"20:5: exercises[0].descripton: unknown field `descripton`, expected one of `id`, `title`, `hints`, `questions`, `checks`"#],
    ),
    (
        "03-unknown-check-field.yaml",
        &[r#"32:9: exercises[0].checks[1].method: unknown field `method`, expected one of `url`, `auth`, `status`, `body`, `json`"#],
    ),
    (
        "04-unknown-step-field.yaml",
        &[r#"10:5: setup[0].detach: unknown field `detach`, expected `services` or `timeout`"#],
    ),
    (
        "05-unknown-eventually-field.yaml",
        &[r#"49:11: exercises[1].checks[0].eventually.evry: unknown field `evry`, expected `within` or `every`"#],
    ),
    (
        "06-unknown-question-field.yaml",
        &[r#"41:9: exercises[1].questions[0].points: unknown field `points`, expected one of `id`, `prompt`, `answer_type`, `model_answer`"#],
    ),
    // A kind or action that does not exist.
    (
        "07-unknown-check-kind.yaml",
        &[r#"44:15: exercises[1].checks[0].kind: unknown variant `prometheus_target`, expected one of `container`, `compose`, `file`, `http`, `prometheus_query`, `prometheus_targets`, `prometheus_config`, `scrape_file`, `grafana_datasource`, `grafana_dashboard`, `anchore_image`, `logs`, `answer`, `command`"#],
    ),
    (
        "08-unknown-action.yaml",
        &[r#"15:13: solve[1].action: unknown variant `compose_start`, expected one of `compose_up`, `compose_down`, `uncomment_block`, `set_env`, `add_service`, `add_volume`, `write_asset`, `add_image`, `wait_analysis`, `grafana_datasource`, `grafana_import`, `wait_check`, `run`, `answer`, `replace_text`, `complete_lab`"#],
    ),
    // Required fields left out: the path is the mapping that lacks them.
    (
        "09-missing-check-id.yaml",
        &[r#"27:9: exercises[0].checks[1]: missing field `id`"#],
    ),
    (
        "10-missing-check-description.yaml",
        &[r#"27:9: exercises[0].checks[1]: missing field `description`"#],
    ),
    (
        "11-missing-query.yaml",
        &[r#"50:9: exercises[1].checks[1]: missing field `query`"#],
    ),
    (
        "12-missing-services.yaml",
        &[r#"50:9: exercises[1].checks[1].services: name at least one compose service"#],
    ),
    (
        "13-missing-path.yaml",
        &[r#"50:9: exercises[1].checks[1]: missing field `path`"#],
    ),
    (
        "14-missing-kind.yaml",
        &[r#"50:9: exercises[1].checks[1]: missing field `kind`"#],
    ),
    (
        "15-missing-exercises.yaml",
        &[r#"2:1: missing field `exercises`"#],
    ),
    // Values of the wrong type.
    (
        "16-string-for-number.yaml",
        &[r#"2:9: number: invalid type: string "forty-two", expected a whole number, 0 or more"#],
    ),
    (
        "17-string-for-points.yaml",
        &[r#"34:17: exercises[0].checks[1].points: invalid type: string "two", expected a whole number"#],
    ),
    (
        "18-list-for-map.yaml",
        &[r#"26:11: exercises[0].checks[0].env: invalid type: list, expected a mapping"#],
    ),
    (
        "19-string-for-list.yaml",
        &[r#"46:16: exercises[1].checks[0].needs: invalid type: string "api-metrics", expected a list"#],
    ),
    // Durations that do not parse, or are out of range.
    (
        "20-duration-with-space.yaml",
        &[r#"33:18: exercises[0].checks[1].timeout: invalid duration "5 sec" (write it as 500ms, 5s, 2m or 1m30s)"#],
    ),
    (
        "21-duration-no-unit.yaml",
        &[r#"33:18: exercises[0].checks[1].timeout: invalid duration 5: give a unit, e.g. "5s""#],
    ),
    (
        "22-duration-bad-unit.yaml",
        &[r#"48:19: exercises[1].checks[0].eventually.within: invalid duration "10x" (write it as 500ms, 5s, 2m or 1m30s)"#],
    ),
    (
        "23-duration-in-step.yaml",
        &[r#"9:14: setup[0].timeout: invalid duration "5 minutes" (write it as 500ms, 5s, 2m or 1m30s)"#],
    ),
    (
        "24-timeout-zero.yaml",
        &[r#"33:18: exercises[0].checks[1].timeout: duration 0s out of range (more than 0, at most 10m)"#],
    ),
    (
        "25-timeout-too-long.yaml",
        &[r#"33:18: exercises[0].checks[1].timeout: duration 11m out of range (more than 0, at most 10m)"#],
    ),
    (
        "26-every-longer-than-within.yaml",
        &[r#"49:18: exercises[1].checks[0].eventually.every: duration 30s out of range (at least 50ms, at most `within`)"#],
    ),
    // Points, ids and `needs`.
    (
        "27-negative-points.yaml",
        &[r#"34:17: exercises[0].checks[1].points: points must not be negative (got -1)"#],
    ),
    (
        "28-duplicate-check-id.yaml",
        &[r#"50:13: exercises[1].checks[1].id: duplicate check id `api-metrics`"#],
    ),
    (
        "29-duplicate-exercise-id.yaml",
        &[r#"35:9: exercises[1].id: duplicate exercise id `metrics`"#],
    ),
    (
        "30-duplicate-question-id.yaml",
        &[r#"41:13: exercises[1].questions[1].id: duplicate question id `backlog-queue`"#],
    ),
    (
        "31-unknown-needs.yaml",
        &[r#"46:17: exercises[1].checks[0].needs[0]: unknown check `api-metric` (did you mean `api-metrics`?)"#],
    ),
    (
        "32-needs-itself.yaml",
        &[r#"46:17: exercises[1].checks[0].needs[0]: check `targets-up` needs itself"#],
    ),
    (
        "33-dependency-cycle.yaml",
        &[r#"35:16: exercises[0].checks[1].needs: dependency cycle: metrics-enabled -> targets-up -> api-metrics -> metrics-enabled"#],
    ),
    // Asset files.
    (
        "34-asset-missing.yaml",
        &[r#"18:12: solve[2].asset: asset `assets/anchore-prometheus.yml` does not exist in the lab folder"#],
    ),
    (
        "35-asset-parent-folder.yaml",
        &[r#"20:14: solve[2].snippet: asset `../prometheus-service.yaml` is outside the lab folder; name a file inside it"#],
    ),
    (
        "36-asset-absolute.yaml",
        &[r#"18:12: solve[2].asset: asset `/etc/passwd` is outside the lab folder; name a file inside it"#],
    ),
    // Regexes, in every field that holds one.
    (
        "37-regex-file-contains.yaml",
        &[r#"54:19: exercises[1].checks[1].contains: invalid regex "basic_auth:(": unclosed group"#],
    ),
    (
        "38-regex-http-body.yaml",
        &[r#"32:15: exercises[0].checks[1].body: invalid regex "(?m)^flask_http_request_total{[a-": repetition quantifier expects a valid decimal"#],
    ),
    (
        "39-regex-logs-matches.yaml",
        &[r#"54:18: exercises[1].checks[1].matches: invalid regex "image dequeued for analysis: admin : sha256:[0-9a-f]{64": unclosed counted repetition"#],
    ),
    (
        "40-regex-command-stdout.yaml",
        &[r#"54:17: exercises[1].checks[1].stdout: invalid regex "^[5-9": unclosed character class"#],
    ),
    (
        "41-regex-compose-image.yaml",
        &[r#"54:16: exercises[1].checks[1].image: invalid regex "prom/prometheus(:.*": unclosed group"#],
    ),
    (
        "42-regex-answer-pattern.yaml",
        &[r#"56:20: exercises[1].checks[1].expect.pattern: invalid regex "*images_to_analyze": repetition operator missing expression"#],
    ),
    // Kind-specific rules.
    (
        "43-empty-promql.yaml",
        &[r#"53:16: exercises[1].checks[1].query: PromQL query is empty"#],
    ),
    (
        "44-bad-comparison.yaml",
        &[r#"54:16: exercises[1].checks[1].value: invalid comparison "at least 0": write e.g. "> 0", ">= 1", "== 3""#],
    ),
    (
        "45-dashboard-title-and-uid.yaml",
        &[r#"50:9: exercises[1].checks[1]: name the dashboard by exactly one of `title` or `uid`"#],
    ),
    (
        "46-anchore-bad-status.yaml",
        &[r#"54:17: exercises[1].checks[1].status: unknown analysis status `complete` (one of not_analyzed, analyzing, analyzed, analysis_failed)"#],
    ),
    (
        "47-answer-unknown-question.yaml",
        &[r#"53:19: exercises[1].checks[1].question: unknown question `backlog`"#],
    ),
    (
        "48-command-empty-argv.yaml",
        &[r#"53:15: exercises[1].checks[1].argv: argv is empty: name the program to run"#],
    ),
    (
        "49-shell-with-two-argv.yaml",
        &[r#"54:15: exercises[1].checks[1].argv: with `shell: true`, argv holds one element: the script"#],
    ),
    // Steps.
    (
        "50-wait-check-unknown.yaml",
        &[r#"18:12: solve[2].check: unknown check `targets-ready`"#],
    ),
    (
        "51-step-file-outside.yaml",
        &[r#"12:11: solve[0].file: `../docker-compose.yaml` is outside the environment's folder"#],
    ),
    (
        "52-step-timeout-too-long.yaml",
        &[r#"19:14: solve[2].timeout: duration 2h out of range (more than 0, at most 1h)"#],
    ),
    (
        "53-answer-step-unknown-question.yaml",
        &[r#"18:15: solve[2].question: unknown question `backlog`"#],
    ),
    // Fields inside fields, and values serde reads through enums.
    (
        "54-bad-json-path.yaml",
        &[r#"35:17: exercises[0].checks[1].json.path: `first` is not an index in path `data.result[first]`"#],
    ),
    (
        "55-number-answer-for-text.yaml",
        &[r#"55:17: exercises[1].checks[1].expect.type: question `backlog-queue` takes a text answer; comparing it as a number needs `answer_type: number` or `duration` on the question"#],
    ),
    (
        "56-empty-check-id.yaml",
        &[r#"50:13: exercises[1].checks[1].id: check id is empty"#],
    ),
    (
        "57-missing-nested-field.yaml",
        &[r#"55:11: exercises[1].checks[1].expect: missing field `pattern`"#],
    ),
    (
        "58-unknown-nested-field.yaml",
        &[r#"56:11: exercises[1].checks[1].expect.tolerance: unknown field `tolerance`, expected `pattern`"#],
    ),
    (
        "59-list-for-string.yaml",
        &[r#"47:17: exercises[1].checks[0].health: invalid type: list, expected a string"#],
    ),
    (
        "60-map-for-list-in-step.yaml",
        &[r#"16:15: solve[1].services: invalid type: mapping, expected a list"#],
    ),
    (
        "61-unknown-enum-value.yaml",
        &[r#"31:15: exercises[0].checks[1].auth: unknown variant `admin`, expected one of `none`, `anchore`, `grafana`"#],
    ),
    (
        "62-port-out-of-range.yaml",
        &[r#"8:17: prerequisites.ports[1]: invalid value: integer `90900`, expected a whole number from 0 to 65535"#],
    ),
    (
        "63-computed-two-sources.yaml",
        &[r#"57:13: exercises[1].checks[1].expect.of: invalid value: mapping, expected a mapping with a single key"#],
    ),
    // YAML itself.
    (
        "64-yaml-bad-indentation.yaml",
        &[r#"29:14: exercises[0].checks[1]: YAML syntax: a `key: value` cannot start here; check this line's indentation, or quote a value that contains `: `"#],
    ),
    (
        "65-yaml-unclosed-quote.yaml",
        &[r#"30:14: exercises[0].checks[1].url: YAML syntax: the quoted value that starts here does not end where it should (found unknown escape character at line 32 column 45); is its closing quote missing?"#],
    ),
    (
        "66-yaml-tabs.yaml",
        &[r#"31:1: exercises[0].checks[1]: YAML syntax: a tab character; indent with spaces (YAML does not allow tabs)"#],
    ),
    (
        "67-yaml-duplicate-key.yaml",
        &[r#"32:9: exercises[0].checks[1].url: `url` is written twice in this mapping; keep one"#],
    ),
    (
        "68-yaml-not-a-mapping.yaml",
        &[r#"2:1: invalid type: list, expected a mapping of the lab's fields (`number`, `slug`, `title`, …)"#],
    ),
    (
        "69-yaml-two-documents.yaml",
        &[r#"57:1: a lab file holds one YAML document; remove this `---` and what follows, or merge it into the lab above"#],
    ),
    (
        "70-empty-file.yaml",
        &[r#"1:1: the file is empty: a lab needs at least `number`, `slug`, `title`, `summary` and `exercises`"#],
    ),
    // Variants, earlier labs and answers a solution records.
    (
        "71-variant-unknown-check.yaml",
        &[r#"66:13: variants[0].fails[0]: unknown check `metrics-enable` (did you mean `metrics-enabled`?)"#],
    ),
    (
        "72-complete-lab-not-earlier.yaml",
        &[r#"9:10: setup[0].lab: complete_lab names lab 42; it must be an earlier lab than this one (42)"#],
    ),
    (
        "73-answer-value-and-measured.yaml",
        &[r#"19:12: solve[2].value: give exactly one of `value` and `measured`"#],
    ),
    // Hostile input (issue 14).
    (
        "74-huge-points.yaml",
        &[r#"34:17: exercises[0].checks[1].points: points must be at most 10000 (got 9223372036854775807): totals must add up without overflow"#],
    ),
    (
        "75-nested-too-deep.yaml",
        &[r#"58:132: nested more than 128 levels deep; no lab, roster or compose file needs that many"#],
    ),
    (
        "76-not-utf8.yaml",
        &[r#"4:16: the file is not valid UTF-8 here; save it as UTF-8"#],
    ),
];

#[test]
fn each_malformed_lab_is_reported_at_its_line_column_and_path() {
    let mut failures = Vec::new();
    for (fixture, expected) in CASES {
        let file = format!("{MALFORMED}/{fixture}");
        let out = run(lab().args(["validate", &file]));
        let want: Vec<String> = expected
            .iter()
            .map(|e| format!("error: {file}:{e}"))
            .collect();
        let got: Vec<&str> = out.stdout.lines().collect();
        let summary = match expected.len() {
            1 => "error: 1 problem found".to_string(),
            n => format!("error: {n} problems found"),
        };
        if out.code != 2
            || got != want
            || out.stderr.contains("panicked")
            || !out.stderr.contains(&summary)
        {
            failures.push(format!(
                "{fixture}: exit {}\n  want: {want:?}\n  got:  {got:?}\n  stderr: {}",
                out.code,
                out.stderr.trim()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_fixture_has_an_expectation_and_names_its_mistake() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join(MALFORMED))
        .expect("tests/malformed exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let in_table: Vec<String> = CASES.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        on_disk, in_table,
        "fixtures and the table must match, in order"
    );
    assert!(CASES.len() >= 30);
    for (fixture, _) in CASES {
        let bytes = std::fs::read(repo().join(MALFORMED).join(fixture)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.is_empty() || text.starts_with("# Malformed: "),
            "{fixture} should open with `# Malformed: <the mistake>.`"
        );
    }
}

#[test]
fn the_course_labs_are_valid() {
    let out = run(lab().args(["validate", "labs"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("Valid"), "{}", out.stderr);
    assert!(out.stderr.contains("00-example"), "{}", out.stderr);

    // The same labs as built into the binary.
    let out = run(lab().arg("validate"));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("00-example"), "{}", out.stderr);
}

/// A folder of labs written for one test, removed when the test ends.
struct Scratch(crate::support::TempDir);

impl Scratch {
    fn new(name: &str) -> Scratch {
        Scratch(crate::support::TempDir::new(&format!("validate-{name}")))
    }

    fn lab(&self, folder: &str, text: &str) -> PathBuf {
        let dir = self.0.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("README.md"), "# A lab\n").unwrap();
        std::fs::write(dir.join("lab.yaml"), text).unwrap();
        dir.join("lab.yaml")
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A valid lab; the tests below break copies of it.
fn lab_text(number: u32, slug: &str) -> String {
    format!(
        "number: {number}
slug: {slug}
title: The API answers
summary: Start the stack and reach the Anchore API.
exercises:
  - id: stack
    title: The stack runs
    checks:
      - id: api-healthy
        description: The Anchore API answers on port 8228
        kind: http
        url: \"{{anchore}}/health\"
        timeout: 15s
"
    )
}

#[test]
fn a_folder_of_labs_reports_every_problem_of_every_lab() {
    let s = Scratch::new("many");
    let parse = s.lab("01-parse", &lab_text(1, "parse").replace("15s", "5 sec"));
    let meaning = s.lab(
        "02-meaning",
        &lab_text(2, "meaning").replace("timeout: 15s", "timeout: 0s\n        points: -1"),
    );
    s.lab("03-fine", &lab_text(3, "fine"));
    let unknown = s.lab(
        "04-unknown",
        &lab_text(4, "unknown").replace("kind: http", "kind: http\n        method: GET"),
    );

    let out = run(lab().arg("validate").arg(s.path()));
    let (p, m, u) = (parse.display(), meaning.display(), unknown.display());
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            format!("error: {p}:13:18: exercises[0].checks[0].timeout: invalid duration \"5 sec\" (write it as 500ms, 5s, 2m or 1m30s)"),
            format!("error: {m}:13:18: exercises[0].checks[0].timeout: duration 0s out of range (more than 0, at most 10m)"),
            format!("error: {m}:14:17: exercises[0].checks[0].points: points must not be negative (got -1)"),
            format!("error: {u}:12:9: exercises[0].checks[0].method: unknown field `method`, expected one of `url`, `auth`, `status`, `body`, `json`"),
        ]
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("4 problems found"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn json_output_lists_each_problem_with_file_line_column_path_and_message() {
    let s = Scratch::new("json");
    s.lab("03-fine", &lab_text(3, "fine"));
    let broken = s.lab(
        "05-broken",
        &lab_text(5, "broken").replace("timeout: 15s", "timeout: 11m\n        needs: [api-health]"),
    );
    let out = run(lab().args(["--format", "json", "validate"]).arg(s.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    let file = broken.display().to_string();
    assert_eq!(
        doc,
        serde_json::json!({
            "labs": ["03-fine"],
            "problems": [
                {
                    "file": file,
                    "line": 13,
                    "column": 18,
                    "path": "exercises[0].checks[0].timeout",
                    "message": "duration 11m out of range (more than 0, at most 10m)",
                },
                {
                    "file": file,
                    "line": 14,
                    "column": 17,
                    "path": "exercises[0].checks[0].needs[0]",
                    "message": "unknown check `api-health` (did you mean `api-healthy`?)",
                },
            ],
        })
    );
}

#[test]
fn a_folder_without_labs_is_one_problem_about_the_whole_folder() {
    let s = Scratch::new("empty");
    let out = run(lab().args(["--format", "json", "validate"]).arg(s.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    let problems = doc["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{doc}");
    assert_eq!(problems[0]["file"], s.path().display().to_string());
    assert_eq!(problems[0]["line"], serde_json::Value::Null);
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("no lab here"),
        "{doc}"
    );
}

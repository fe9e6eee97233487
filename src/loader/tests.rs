//! The loader's own tests: where parse and validation errors point, how a lab is
//! found from what the user typed, and how YAML is read for the file checks.

use super::*;
use crate::error::Error;

/// A valid lab that the cases below break, one mistake at a time.
const LAB: &str = "\
number: 2
slug: prometheus
title: Scrape Anchore with Prometheus
summary: Turn the metrics on and scrape them.
setup:
  - action: compose_up
    timeout: 5m
solve:
  - action: set_env
    file: docker-compose.yaml
    name: ANCHORE_ENABLE_METRICS
    value: \"true\"
exercises:
  - id: metrics
    title: Turn the metrics on
    questions:
      - id: backlog-queue
        prompt: Which queue holds the images waiting for an analyzer?
      - id: analysis-seconds
        prompt: How long did the analysis take?
        answer_type: duration
    checks:
      - id: api-metrics
        description: The API serves metrics
        kind: http
        url: \"{anchore}/metrics\"
        auth: anchore
        timeout: 15s
      - id: targets-up
        description: Prometheus scrapes the services
        kind: prometheus_targets
        jobs: [api, catalog]
        needs: [api-metrics]
        eventually:
          within: 2m
          every: 5s
      - id: backlog-answered
        description: The backlog queue is named
        kind: answer
        question: backlog-queue
        expect:
          type: matches
          pattern: '^images_to_analyze$'
";

fn files() -> BTreeMap<String, Vec<u8>> {
    let mut f = BTreeMap::new();
    f.insert("README.md".to_string(), b"# Prometheus\n".to_vec());
    f.insert("assets/grafana.yaml".to_string(), b"grafana: {}\n".to_vec());
    f
}

/// `LAB` with `old` replaced by `new`; the replaced text must be there.
fn broken(old: &str, new: &str) -> String {
    assert!(LAB.contains(old), "the lab has no {old:?}");
    LAB.replacen(old, new, 1)
}

/// The diagnostics parsing and validating `text` give, as `line:column: path: message`.
fn problems(text: &str) -> Vec<String> {
    let index = Index::build(text);
    let shown = |d: &Diagnostic| {
        format!(
            "{}:{}: {}: {}",
            d.line.unwrap_or(0),
            d.column.unwrap_or(0),
            d.path,
            d.message
        )
    };
    match parse_lab("lab.yaml", text, &index) {
        Err(d) => vec![shown(&d)],
        Ok(lab) => validate::lab("lab.yaml", &lab, &index, &files())
            .iter()
            .map(shown)
            .collect(),
    }
}

#[test]
fn the_base_lab_is_valid() {
    assert_eq!(problems(LAB), Vec::<String>::new());
}

#[test]
fn parse_errors_point_at_the_field() {
    let cases = [
        (
            "unknown field among a kind's fields",
            broken("        auth: anchore\n", "        auth: anchore\n        verb: GET\n"),
            "28:9: exercises[0].checks[0].verb: unknown field `verb`, expected one of `url`, `auth`, `status`, `body`, `json`",
        ),
        (
            "a list where the kind expects a string",
            broken("        jobs: [api, catalog]\n", "        jobs: [api, catalog]\n        health: [up]\n"),
            "33:17: exercises[0].checks[1].health: invalid type: list, expected a string",
        ),
        (
            "a mapping where a step expects a list",
            broken("    timeout: 5m\n", "    timeout: 5m\n    services: {api: up}\n"),
            "8:15: setup[0].services: invalid type: mapping, expected a list",
        ),
        (
            "a field missing inside an answer's expect",
            broken("          pattern: '^images_to_analyze$'\n", ""),
            "42:11: exercises[0].checks[2].expect: missing field `pattern`",
        ),
        (
            "a field missing from a check",
            broken("        description: The API serves metrics\n", ""),
            "23:9: exercises[0].checks[0]: missing field `description`",
        ),
        (
            "an unknown field inside an answer's expect",
            broken("          type: matches\n", "          type: matches\n          tolerance: 1\n"),
            "43:11: exercises[0].checks[2].expect.tolerance: unknown field `tolerance`, expected `pattern`",
        ),
        (
            "an invalid duration in a step",
            broken("    timeout: 5m\n", "    timeout: 5 min\n"),
            "7:14: setup[0].timeout: invalid duration \"5 min\" (write it as 500ms, 5s, 2m or 1m30s)",
        ),
        (
            "a number without a unit as a duration",
            broken("          within: 2m\n", "          within: 120\n"),
            "35:19: exercises[0].checks[1].eventually.within: invalid duration 120: give a unit, e.g. \"120s\"",
        ),
        (
            "a string where a whole number goes",
            broken("number: 2\n", "number: two\n"),
            "1:9: number: invalid type: string \"two\", expected a whole number, 0 or more",
        ),
        (
            "an unknown step action",
            broken("  - action: set_env\n", "  - action: set_environment\n"),
            "9:13: solve[0].action: unknown variant `set_environment`, expected one of `compose_up`, `compose_down`, `uncomment_block`, `set_env`, `add_service`, `add_volume`, `write_asset`, `add_image`, `wait_analysis`, `grafana_datasource`, `grafana_import`, `wait_check`, `run`, `answer`, `replace_text`, `complete_lab`",
        ),
        (
            "a key written twice",
            broken("        auth: anchore\n", "        auth: anchore\n        auth: grafana\n"),
            "28:9: exercises[0].checks[0].auth: `auth` is written twice in this mapping; keep one",
        ),
        (
            "a tab in the indentation",
            broken("        auth: anchore\n", "\tauth: anchore\n"),
            "27:1: exercises[0].checks[0]: YAML syntax: a tab character; indent with spaces (YAML does not allow tabs)",
        ),
        (
            "an unclosed quote",
            broken("        url: \"{anchore}/metrics\"\n", "        url: \"{anchore}/metrics\n"),
            "26:14: exercises[0].checks[0].url: YAML syntax: the quoted value that starts here does not end where it should (found unexpected end of stream at line 44 column 1); is its closing quote missing?",
        ),
        (
            "a comment only",
            "# nothing yet\n".to_string(),
            "1:1: : the file is empty: a lab needs at least `number`, `slug`, `title`, `summary` and `exercises`",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(_, text, want)| problems(text) != [*want])
        .map(|(what, text, want)| format!("{what}:\n  want {want}\n  got  {:?}", problems(text)))
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn validation_reports_each_problem_at_its_field_in_file_order() {
    let cases: [(&str, String, &[&str]); 12] = [
        (
            "a step timeout over an hour",
            broken("    timeout: 5m\n", "    timeout: 90m\n"),
            &["7:14: setup[0].timeout: duration 1h30m out of range (more than 0, at most 1h)"],
        ),
        (
            "a step that edits a file outside the environment",
            broken("    file: docker-compose.yaml\n", "    file: /etc/hosts\n"),
            &["10:11: solve[0].file: `/etc/hosts` is outside the environment's folder"],
        ),
        (
            "a json path that cannot be read",
            broken("        auth: anchore\n", "        auth: anchore\n        json: {path: \"data[\", equals: 1}\n"),
            &["28:22: exercises[0].checks[0].json.path: unclosed `[` in path `data[`"],
        ),
        (
            "a number expected from a text answer",
            broken("          type: matches\n          pattern: '^images_to_analyze$'\n", "          type: number\n          of: {literal: 1}\n          tolerance: 0\n"),
            &["42:17: exercises[0].checks[2].expect.type: question `backlog-queue` takes a text answer; comparing it as a number needs `answer_type: number` or `duration` on the question"],
        ),
        (
            "a number expected from a duration answer is fine",
            broken("        question: backlog-queue\n        expect:\n          type: matches\n          pattern: '^images_to_analyze$'\n", "        question: analysis-seconds\n        expect:\n          type: number\n          of: {literal: 79}\n          tolerance: 2\n"),
            &[],
        ),
        (
            "an id with a space",
            broken("  - id: metrics\n", "  - id: the metrics\n"),
            &["14:9: exercises[0].id: exercise id `the metrics` has spaces; write it like `api-healthy`"],
        ),
        (
            "a comparison that is not one",
            broken("        jobs: [api, catalog]\n", "        jobs: [api, catalog]\n      - id: gauge\n        description: A gauge\n        kind: prometheus_query\n        query: up\n        value: \"=> 1\"\n"),
            &["37:16: exercises[0].checks[2].value: invalid comparison \"=> 1\": write e.g. \"> 0\", \">= 1\", \"== 3\""],
        ),
        (
            "two problems, reported in the order of the file",
            broken("        timeout: 15s\n", "        timeout: 0s\n        points: -2\n"),
            &[
                "28:18: exercises[0].checks[0].timeout: duration 0s out of range (more than 0, at most 10m)",
                "29:17: exercises[0].checks[0].points: points must not be negative (got -2)",
            ],
        ),
        (
            "an unknown need, with the nearest id suggested",
            broken("        needs: [api-metrics]\n", "        needs: [api-metric]\n"),
            &["33:17: exercises[0].checks[1].needs[0]: unknown check `api-metric` (did you mean `api-metrics`?)"],
        ),
        (
            "a need with no id near it",
            broken("        needs: [api-metrics]\n", "        needs: [grafana-up]\n"),
            &["33:17: exercises[0].checks[1].needs[0]: unknown check `grafana-up`"],
        ),
        (
            "an asset that exists is accepted",
            broken("exercises:\n", "  - action: add_service\n    file: docker-compose.yaml\n    name: grafana\n    snippet: assets/grafana.yaml\nexercises:\n"),
            &[],
        ),
        (
            "an asset named with ./ is the same file",
            broken("exercises:\n", "  - action: write_asset\n    asset: ./assets/grafana.yaml\n    to: grafana.yaml\nexercises:\n"),
            &[],
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(_, text, want)| problems(text) != *want)
        .map(|(what, text, want)| format!("{what}:\n  want {want:?}\n  got  {:?}", problems(text)))
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn comparisons_take_an_operator_and_a_number() {
    for ok in [
        "> 0", ">= 1", "== 3", "< 10", "<= 2.5", "!= 0", ">0", " == -1 ",
    ] {
        assert!(validate::comparison_ok(ok), "{ok:?} should be accepted");
    }
    for bad in [
        "",
        "> ",
        "=> 1",
        "= 1",
        "at least 1",
        "> one",
        "1",
        "> inf",
        "> NaN",
    ] {
        assert!(!validate::comparison_ok(bad), "{bad:?} should be rejected");
    }
}

fn loaded(number: u32, slug: &str) -> LoadedLab {
    let text = LAB
        .replacen("number: 2\n", &format!("number: {number}\n"), 1)
        .replacen("slug: prometheus\n", &format!("slug: {slug}\n"), 1);
    let lab = parse_lab("lab.yaml", &text, &Index::build(&text)).expect("the lab parses");
    LoadedLab {
        lab,
        origin: format!("labs/{number:02}-{slug}"),
        instructions: String::new(),
        files: files(),
    }
}

#[test]
fn find_takes_a_number_a_padded_number_a_slug_or_the_id() {
    let labs = [
        loaded(1, "tracing-logs"),
        loaded(2, "prometheus"),
        loaded(4, "grafana"),
    ];
    for query in ["2", "02", "prometheus", "02-prometheus", " 2 "] {
        let found = find(&labs, query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
        assert_eq!(found.lab.id(), "02-prometheus", "{query:?}");
    }
    assert_eq!(find(&labs, "4").unwrap().lab.slug, "grafana");
}

#[test]
fn find_suggests_the_nearest_lab_for_a_typo() {
    let labs = [loaded(1, "tracing-logs"), loaded(2, "prometheus")];
    match find(&labs, "promethues") {
        Err(Error::UnknownLab { query, suggestion }) => {
            assert_eq!(query, "promethues");
            assert_eq!(suggestion.as_deref(), Some("prometheus"));
        }
        other => panic!("expected an unknown lab, got {other:?}"),
    }
    match find(&labs, "3") {
        Err(Error::UnknownLab { suggestion, .. }) => assert_eq!(suggestion, None),
        other => panic!("expected an unknown lab, got {other:?}"),
    }
    match find(&labs, "kubernetes") {
        Err(Error::UnknownLab { suggestion, .. }) => assert_eq!(suggestion, None),
        other => panic!("expected an unknown lab, got {other:?}"),
    }
}

#[test]
fn yaml_value_applies_anchors_and_merges_as_compose_does() {
    let compose = "\
x-common: &common
  image: docker.io/anchore/enterprise:v5.17.0
  environment: &env
    ANCHORE_ENABLE_METRICS: \"false\"
    ANCHORE_LOG_LEVEL: INFO
  ports: &ports
    - \"8228\"
services:
  api:
    <<: *common
    ports: [\"8228:8228\"]
  analyzer:
    <<: *common
    environment:
      <<: *env
      ANCHORE_ENABLE_METRICS: \"true\"
  catalog:
    image: docker.io/anchore/enterprise:v5.17.0
    expose: *ports
";
    let v = yaml_value(compose).unwrap();
    let api = &v["services"]["api"];
    assert_eq!(api["image"], "docker.io/anchore/enterprise:v5.17.0");
    assert_eq!(
        api["ports"],
        serde_json::json!(["8228:8228"]),
        "own keys win"
    );
    assert_eq!(api["environment"]["ANCHORE_LOG_LEVEL"], "INFO");
    let analyzer = &v["services"]["analyzer"]["environment"];
    assert_eq!(analyzer["ANCHORE_ENABLE_METRICS"], "true");
    assert_eq!(analyzer["ANCHORE_LOG_LEVEL"], "INFO");
    assert_eq!(
        v["services"]["catalog"]["expose"],
        serde_json::json!(["8228"])
    );
    assert!(api.get("<<").is_none(), "the merge key itself is gone");
}

#[test]
fn yaml_value_turns_keys_that_are_not_strings_into_strings() {
    let v = yaml_value("8228: api\n9090: prometheus\ntrue: yes\n~: nothing\n1.5: half\n").unwrap();
    assert_eq!(v["8228"], "api");
    assert_eq!(v["9090"], "prometheus");
    assert_eq!(v["true"], "yes");
    assert_eq!(v["null"], "nothing");
    assert_eq!(v["1.5"], "half");
}

#[test]
fn yaml_value_reads_the_first_of_several_documents_and_reports_bad_yaml() {
    let v = yaml_value("global:\n  scrape_interval: 15s\n---\nother: 1\n").unwrap();
    assert_eq!(v["global"]["scrape_interval"], "15s");
    assert!(v.get("other").is_none());
    assert_eq!(yaml_value("").unwrap(), serde_json::Value::Null);
    assert!(yaml_value("a: [1, 2\n").is_err());
}

#[test]
fn serde_yaml_prefixes_and_positions_are_stripped() {
    let cases = [
        (
            "exercises[0].checks[1]: missing field `id` at line 3 column 5",
            "exercises[0].checks[1]",
            "missing field `id`",
        ),
        (
            "setup: unknown field `detach`, expected `services` or `timeout` at line 9 column 5",
            "setup[0]",
            "unknown field `detach`, expected `services` or `timeout`",
        ),
        (
            "number: invalid type: string \"x\", expected u32 at line 1 column 9",
            "number",
            "invalid type: string \"x\", expected u32",
        ),
        (
            "invalid duration \"5 sec\" (write it as 500ms, 5s, 2m or 1m30s)",
            "setup[0].timeout",
            "invalid duration \"5 sec\" (write it as 500ms, 5s, 2m or 1m30s)",
        ),
        (
            "unknown field `summary: x`, expected `id`",
            "",
            "unknown field `summary: x`, expected `id`",
        ),
    ];
    for (raw, path, want) in cases {
        assert_eq!(strip_serde_yaml(raw, path), want, "{raw}");
    }
}

#[test]
fn rust_type_names_become_lab_file_words() {
    let cases = [
        (
            "invalid type: string \"x\", expected u16",
            "invalid type: string \"x\", expected a whole number from 0 to 65535",
        ),
        (
            "invalid type: sequence, expected a map",
            "invalid type: list, expected a mapping",
        ),
        (
            "invalid type: unit value, expected a string",
            "invalid type: empty value, expected a string",
        ),
        (
            "invalid type: string \"s\", expected struct ValueAt",
            "invalid type: string \"s\", expected a mapping with `path` and `equals`",
        ),
        (
            "invalid type: integer `1`, expected struct Prerequisites",
            "invalid type: integer `1`, expected a mapping",
        ),
        ("missing field `id`", "missing field `id`"),
    ];
    for (raw, want) in cases {
        assert_eq!(plain_types(raw), want, "{raw}");
    }
}

#[test]
fn the_example_in_format_md_is_a_valid_lab() {
    let doc = include_str!("../../labs/FORMAT.md");
    let after = doc
        .split_once("## A complete example")
        .expect("FORMAT.md has a complete example")
        .1;
    let yaml = after
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("the example is a yaml block")
        .0;
    let index = Index::build(yaml);
    let lab = parse_lab("FORMAT.md", yaml, &index).unwrap_or_else(|d| panic!("{d}"));
    let mut files = files();
    files.insert(
        "assets/anchore-prometheus.yml".into(),
        b"global: {}\n".to_vec(),
    );
    let problems = validate::lab("FORMAT.md", &lab, &index, &files);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(lab.id(), "02-prometheus");
}

/// `labs/00-example` is the tour authors copy from: it must keep using every kind of
/// check, every step action, every way to expect an answer, and the common fields.
/// A new kind or action fails here until the example (and FORMAT.md) show it.
#[test]
fn the_example_lab_uses_every_kind_action_and_answer_form() {
    use crate::model::check::{AnswerExpect, Computed};
    use std::collections::BTreeSet;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/00-example");
    let loaded = load(&[Source::Path(dir)]);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let lab = &loaded.labs[0].lab;
    let format = include_str!("../../labs/FORMAT.md");

    let kinds: BTreeSet<&str> = lab.checks().map(|(_, c)| c.spec.kind()).collect();
    assert_eq!(kinds.len(), 12, "{kinds:?}");
    let steps = lab.setup.iter().chain(&lab.solve).chain(&lab.cleanup);
    let actions: BTreeSet<&str> = steps.map(crate::model::Step::name).collect();
    assert_eq!(actions.len(), 14, "{actions:?}");
    for kind in &kinds {
        assert!(
            format.contains(&format!("### `{kind}`")),
            "FORMAT.md lacks {kind}"
        );
    }
    for action in &actions {
        assert!(
            format.contains(&format!("| `{action}` |")),
            "FORMAT.md lacks {action}"
        );
    }

    let mut forms = BTreeSet::new();
    for (_, c) in lab.checks() {
        if let crate::model::CheckSpec::Answer(a) = &c.spec {
            forms.insert(match &a.expect {
                AnswerExpect::Number {
                    of: Computed::Literal(_),
                    ..
                } => "literal",
                AnswerExpect::Number {
                    of: Computed::Prometheus(_),
                    ..
                } => "prometheus",
                AnswerExpect::Number {
                    of: Computed::AnalysisDuration { .. },
                    ..
                } => "analysis_duration",
                AnswerExpect::Matches { .. } => "matches",
                AnswerExpect::AnalysisThread { .. } => "analysis_thread",
                AnswerExpect::AnchoreEvent { .. } => "anchore_event",
                AnswerExpect::PrometheusTop { .. } => "prometheus_top",
                AnswerExpect::FreeText => "free_text",
            });
        }
    }
    assert_eq!(forms.len(), 8, "{forms:?}");

    let checks: Vec<_> = lab.checks().map(|(_, c)| c).collect();
    assert!(checks.iter().any(|c| c.timeout.is_some()));
    assert!(checks.iter().any(|c| c.eventually.is_some()));
    assert!(checks.iter().any(|c| !c.needs.is_empty()));
    assert!(checks.iter().any(|c| c.points != 1));
    assert!(checks.iter().any(|c| c.hint.is_some()));
    let shells: BTreeSet<bool> = checks
        .iter()
        .filter_map(|c| match &c.spec {
            crate::model::CheckSpec::Command(cmd) => Some(cmd.shell),
            _ => None,
        })
        .collect();
    assert_eq!(shells.len(), 2, "command checks with and without a shell");
    assert!(lab.questions().any(|q| q.model_answer.is_some()));
    let types: BTreeSet<String> = lab
        .questions()
        .map(|q| format!("{:?}", q.answer_type))
        .collect();
    assert_eq!(types.len(), 3, "{types:?}");
}

//! Meaning checks after parsing: ids, `needs`, cycles, asset files, regexes,
//! PromQL, durations and points. Every problem is reported, not just the first.

use super::positions::Index;
use crate::error::Diagnostic;
use crate::model::action::Measured;
use crate::model::check::ValueAt;
use crate::model::check::{AnswerExpect, CheckSpec, Computed};
use crate::model::{AnswerType, Lab, LoadedLab, Step};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const MAX_WINDOW: Duration = Duration::from_secs(60 * 60);
const PLACEHOLDERS: [&str; 3] = ["{anchore}", "{prometheus}", "{grafana}"];

struct Report<'a> {
    file: &'a str,
    index: &'a Index,
    out: Vec<Diagnostic>,
}

impl Report<'_> {
    fn at(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        let pos = self
            .index
            .get(&path)
            .or_else(|| self.index.nearest(&path))
            .map(|n| n.value);
        self.out.push(Diagnostic {
            file: self.file.to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            path,
            message: message.into(),
        });
    }

    fn regex(&mut self, path: String, pattern: &str) {
        if let Err(e) = regex::Regex::new(pattern) {
            // The regex crate's message spans several lines with a caret; keep the last.
            let why = e.to_string();
            let why = why
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            let why = why.trim_start_matches("error: ");
            self.at(path, format!("invalid regex {pattern:?}: {why}"));
        }
    }

    fn timeout(&mut self, path: String, d: Duration) {
        if d.is_zero() || d > MAX_TIMEOUT {
            self.at(
                path,
                format!(
                    "duration {} out of range (more than 0, at most 10m)",
                    shown(d)
                ),
            );
        }
    }

    /// A step's wait: longer than a check's attempt, as it may cover a whole analysis.
    fn window(&mut self, path: String, d: Duration) {
        if d.is_zero() || d > MAX_WINDOW {
            self.at(
                path,
                format!(
                    "duration {} out of range (more than 0, at most 1h)",
                    shown(d)
                ),
            );
        }
    }

    fn id(&mut self, path: String, what: &str, id: &str) {
        if id.trim().is_empty() {
            self.at(path, format!("{what} id is empty"));
        } else if id.chars().any(char::is_whitespace) {
            self.at(
                path,
                format!("{what} id `{id}` has spaces; write it like `api-healthy`"),
            );
        }
    }

    fn value_at(&mut self, path: String, v: &ValueAt) {
        if let Err(why) = crate::model::jsonpath::select(&serde_json::Value::Null, &v.path) {
            self.at(format!("{path}.path"), why);
        }
    }

    /// A file a step edits in the environment: relative, and inside its folder.
    fn env_file(&mut self, path: String, name: &str) {
        if name.starts_with('/') || name.split(['/', '\\']).any(|c| c == "..") {
            self.at(
                path,
                format!("`{name}` is outside the environment's folder"),
            );
        }
    }

    fn asset(&mut self, path: String, name: &str, files: &BTreeMap<String, Vec<u8>>) {
        let escapes = name.starts_with('/')
            || name.split(['/', '\\']).any(|c| c == "..")
            || name.contains(':');
        if escapes {
            self.at(
                path,
                format!("asset `{name}` is outside the lab folder; name a file inside it"),
            );
        } else if !files.contains_key(name.trim_start_matches("./")) {
            self.at(
                path,
                format!("asset `{name}` does not exist in the lab folder"),
            );
        }
    }
}

pub fn lab(
    file: &str,
    lab: &Lab,
    index: &Index,
    files: &BTreeMap<String, Vec<u8>>,
) -> Vec<Diagnostic> {
    let mut r = Report {
        file,
        index,
        out: Vec::new(),
    };

    if lab.slug.is_empty()
        || !lab
            .slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        r.at(
            "slug",
            format!(
                "slug `{}` must be lower-case letters, digits and dashes",
                lab.slug
            ),
        );
    }
    if lab.title.trim().is_empty() {
        r.at("title", "title is empty");
    }
    r.asset("instructions".into(), &lab.instructions, files);
    if lab.exercises.is_empty() {
        r.at("exercises", "a lab needs at least one exercise");
    }

    // Ids: exercises, questions and checks are each unique within the lab.
    let mut seen_ex = HashSet::new();
    let mut seen_q = HashMap::new();
    let mut check_at: HashMap<&str, String> = HashMap::new();
    for (ei, ex) in lab.exercises.iter().enumerate() {
        r.id(format!("exercises[{ei}].id"), "exercise", &ex.id);
        if !seen_ex.insert(ex.id.as_str()) {
            r.at(
                format!("exercises[{ei}].id"),
                format!("duplicate exercise id `{}`", ex.id),
            );
        }
        for (qi, q) in ex.questions.iter().enumerate() {
            r.id(
                format!("exercises[{ei}].questions[{qi}].id"),
                "question",
                &q.id,
            );
            if seen_q.insert(q.id.as_str(), q.answer_type).is_some() {
                r.at(
                    format!("exercises[{ei}].questions[{qi}].id"),
                    format!("duplicate question id `{}`", q.id),
                );
            }
        }
        for (ci, c) in ex.checks.iter().enumerate() {
            let p = format!("exercises[{ei}].checks[{ci}]");
            r.id(format!("{p}.id"), "check", &c.id);
            if check_at.contains_key(c.id.as_str()) {
                r.at(format!("{p}.id"), format!("duplicate check id `{}`", c.id));
            } else {
                check_at.insert(c.id.as_str(), p);
            }
        }
    }

    for (ei, ex) in lab.exercises.iter().enumerate() {
        for (ci, c) in ex.checks.iter().enumerate() {
            let p = format!("exercises[{ei}].checks[{ci}]");
            if c.description.trim().is_empty() {
                r.at(format!("{p}.description"), "description is empty");
            }
            if c.points < 0 {
                r.at(
                    format!("{p}.points"),
                    format!("points must not be negative (got {})", c.points),
                );
            } else if c.points > crate::model::lab::MAX_CHECK_POINTS {
                r.at(
                    format!("{p}.points"),
                    format!(
                        "points must be at most {} (got {}): totals must add up without overflow",
                        crate::model::lab::MAX_CHECK_POINTS,
                        c.points
                    ),
                );
            }
            if let Some(t) = c.timeout {
                r.timeout(format!("{p}.timeout"), t.0);
            }
            if let Some(ev) = c.eventually {
                r.window(format!("{p}.eventually.within"), ev.within.0);
                if ev.every.0 < Duration::from_millis(50) || ev.every.0 > ev.within.0 {
                    r.at(
                        format!("{p}.eventually.every"),
                        format!(
                            "duration {} out of range (at least 50ms, at most `within`)",
                            shown(ev.every.0)
                        ),
                    );
                }
            }
            for (ni, need) in c.needs.iter().enumerate() {
                if need == &c.id {
                    r.at(
                        format!("{p}.needs[{ni}]"),
                        format!("check `{need}` needs itself"),
                    );
                } else if !check_at.contains_key(need.as_str()) {
                    let hint = crate::error::nearest(need, check_at.keys().copied())
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    r.at(
                        format!("{p}.needs[{ni}]"),
                        format!("unknown check `{need}`{hint}"),
                    );
                }
            }
            spec(&mut r, &p, &c.spec, &seen_q);
        }
    }

    cycles(&mut r, lab, &check_at);

    for (name, steps) in [
        ("setup", &lab.setup),
        ("solve", &lab.solve),
        ("cleanup", &lab.cleanup),
    ] {
        for (si, step) in steps.iter().enumerate() {
            let p = format!("{name}[{si}]");
            steps_ok(&mut r, lab.number, &p, step, files, &check_at, &seen_q);
        }
    }
    let mut seen_variant = HashSet::new();
    for (vi, v) in lab.variants.iter().enumerate() {
        let p = format!("variants[{vi}]");
        r.id(format!("{p}.id"), "variant", &v.id);
        if !seen_variant.insert(v.id.as_str()) {
            r.at(
                format!("{p}.id"),
                format!("duplicate variant id `{}`", v.id),
            );
        }
        if v.description.trim().is_empty() {
            r.at(format!("{p}.description"), "description is empty");
        }
        if v.instead.is_some() && v.after.is_some() {
            r.at(
                format!("{p}.after"),
                "give at most one of `instead` (steps in place of the solution) and `after` (steps after it)",
            );
        }
        for (fi, f) in v.fails.iter().enumerate() {
            if !check_at.contains_key(f.as_str()) {
                let hint = crate::error::nearest(f, check_at.keys().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                r.at(
                    format!("{p}.fails[{fi}]"),
                    format!("unknown check `{f}`{hint}"),
                );
            }
        }
        for (field, steps) in [("instead", &v.instead), ("after", &v.after)] {
            for (si, step) in steps.iter().flatten().enumerate() {
                steps_ok(
                    &mut r,
                    lab.number,
                    &format!("{p}.{field}[{si}]"),
                    step,
                    files,
                    &check_at,
                    &seen_q,
                );
            }
        }
    }

    // In the order of the file, as an author reads it.
    r.out.sort_by_key(|d| (d.line, d.column));
    r.out
}

fn spec(r: &mut Report, p: &str, spec: &CheckSpec, questions: &HashMap<&str, AnswerType>) {
    match spec {
        CheckSpec::Container(c) => {
            if c.services.is_empty() && !c.every_anchore_service {
                r.at(format!("{p}.services"), "name at least one compose service");
            }
        }
        CheckSpec::Compose(c) => {
            if let Some(img) = &c.image {
                r.regex(format!("{p}.image"), img);
            }
            let service_conditions = c.image.is_some()
                || !c.ports.is_empty()
                || !c.env.is_empty()
                || !c.enabled.is_empty()
                || !c.volumes.is_empty();
            if service_conditions && c.services.is_empty() && !c.every_anchore_service {
                r.at(
                    format!("{p}.services"),
                    "image, ports, env and volumes apply to services: name at least one",
                );
            }
            if c.services.is_empty() && !c.every_anchore_service && c.top_level_volumes.is_empty() {
                r.at(
                    p.to_string(),
                    "the check verifies nothing: name services or top_level_volumes",
                );
            }
        }
        CheckSpec::File(f) => {
            if f.path.trim().is_empty() {
                r.at(format!("{p}.path"), "path is empty");
            }
            if let Some(re) = &f.contains {
                r.regex(format!("{p}.contains"), re);
            }
            if let Some(v) = &f.yaml {
                r.value_at(format!("{p}.yaml"), v);
            }
            if let Some(v) = &f.json {
                r.value_at(format!("{p}.json"), v);
            }
            if !f.exists && (f.contains.is_some() || f.yaml.is_some() || f.json.is_some()) {
                r.at(
                    format!("{p}.exists"),
                    "a file that must not exist cannot be read: drop contains/yaml/json",
                );
            }
        }
        CheckSpec::Http(h) => {
            let rest = PLACEHOLDERS.iter().find_map(|ph| h.url.strip_prefix(ph));
            let ok =
                rest.is_some() || h.url.starts_with("http://") || h.url.starts_with("https://");
            if !ok {
                r.at(format!("{p}.url"), format!("url `{}` must start with http://, https:// or one of {{anchore}}, {{prometheus}}, {{grafana}}", h.url));
            }
            if !(100..=599).contains(&h.status) {
                r.at(
                    format!("{p}.status"),
                    format!("HTTP status {} out of range (100-599)", h.status),
                );
            }
            if let Some(b) = &h.body {
                r.regex(format!("{p}.body"), b);
            }
            if let Some(v) = &h.json {
                r.value_at(format!("{p}.json"), v);
            }
        }
        CheckSpec::PrometheusQuery(q) => {
            if q.query.trim().is_empty() {
                r.at(format!("{p}.query"), "PromQL query is empty");
            }
            if let Some(v) = &q.value {
                if !comparison_ok(v) || crate::model::compare::Comparison::parse(v).is_none() {
                    r.at(
                        format!("{p}.value"),
                        format!("invalid comparison {v:?}: write e.g. \"> 0\", \">= 1\", \"== 3\""),
                    );
                }
            }
            if let Some(t) = q.tolerance {
                if t < 0.0 || !t.is_finite() {
                    r.at(
                        format!("{p}.tolerance"),
                        format!("tolerance must be a non-negative number (got {t})"),
                    );
                }
            }
        }
        CheckSpec::PrometheusTargets(t) => {
            if t.health != "up" && t.health != "down" {
                r.at(
                    format!("{p}.health"),
                    format!("health must be `up` or `down` (got `{}`)", t.health),
                );
            }
        }
        CheckSpec::PrometheusConfig(c) => {
            if c.file.trim().is_empty() {
                r.at(format!("{p}.file"), "file is empty");
            }
        }
        CheckSpec::ScrapeFile(c) => {
            if c.path.trim().is_empty() {
                r.at(format!("{p}.path"), "path is empty");
            }
            if !c.metrics_path.starts_with('/') {
                r.at(format!("{p}.metrics_path"), "a metrics path starts with /");
            }
        }
        CheckSpec::GrafanaDatasource(_) => {}
        CheckSpec::GrafanaDashboard(d) => {
            if d.title.is_some() == d.uid.is_some() {
                r.at(
                    p.to_string(),
                    "name the dashboard by exactly one of `title` or `uid`",
                );
            }
        }
        CheckSpec::AnchoreImage(a) => {
            const STATES: [&str; 4] = ["not_analyzed", "analyzing", "analyzed", "analysis_failed"];
            if !STATES.contains(&a.status.as_str()) {
                r.at(
                    format!("{p}.status"),
                    format!(
                        "unknown analysis status `{}` (one of {})",
                        a.status,
                        STATES.join(", ")
                    ),
                );
            }
            if a.tag.is_some() && a.at_least.is_some() {
                r.at(
                    format!("{p}.at_least"),
                    "`at_least` counts images: drop `tag`, or drop `at_least`",
                );
            }
        }
        CheckSpec::Logs(l) => {
            r.regex(format!("{p}.matches"), &l.matches);
            if let Some(s) = l.since {
                if s.0.is_zero() || s.0 > Duration::from_secs(7 * 24 * 3600) {
                    r.at(
                        format!("{p}.since"),
                        format!(
                            "duration {} out of range (more than 0, at most 7 days)",
                            shown(s.0)
                        ),
                    );
                }
            }
        }
        CheckSpec::Answer(a) => {
            match questions.get(a.question.as_str()) {
                None => r.at(
                    format!("{p}.question"),
                    format!("unknown question `{}`", a.question),
                ),
                Some(AnswerType::Text) if matches!(a.expect, AnswerExpect::Number { .. }) => r.at(
                    format!("{p}.expect.type"),
                    format!(
                        "question `{}` takes a text answer; comparing it as a number needs \
                         `answer_type: number` or `duration` on the question",
                        a.question
                    ),
                ),
                Some(_) => {}
            }
            match &a.expect {
                AnswerExpect::AnalysisThread { .. } | AnswerExpect::FreeText => {}
                AnswerExpect::Matches { pattern } => {
                    r.regex(format!("{p}.expect.pattern"), pattern)
                }
                AnswerExpect::AnchoreEvent {
                    level, event_type, ..
                } => event_filter_ok(r, &format!("{p}.expect"), level, event_type),
                AnswerExpect::PrometheusTop { query, label } => {
                    top_ok(r, &format!("{p}.expect"), query, label)
                }
                AnswerExpect::Number { of, tolerance } => {
                    if *tolerance < 0.0 || !tolerance.is_finite() {
                        r.at(
                            format!("{p}.expect.tolerance"),
                            format!("tolerance must be a non-negative number (got {tolerance})"),
                        );
                    }
                    if let Computed::Prometheus(q) = of {
                        if q.trim().is_empty() {
                            r.at(format!("{p}.expect.of.prometheus"), "PromQL query is empty");
                        }
                    }
                }
            }
        }
        CheckSpec::Command(c) => {
            if c.argv.is_empty() || c.argv[0].trim().is_empty() {
                r.at(
                    format!("{p}.argv"),
                    "argv is empty: name the program to run",
                );
            } else if c.shell && c.argv.len() != 1 {
                r.at(
                    format!("{p}.argv"),
                    "with `shell: true`, argv holds one element: the script",
                );
            }
            if let Some(s) = &c.stdout {
                r.regex(format!("{p}.stdout"), s);
            }
        }
    }
}

/// An event filter as `/v2/events` takes it: level INFO or ERROR, a type prefix of
/// `^[a-z0-9-_.*]+$`.
fn event_filter_ok(r: &mut Report, p: &str, level: &Option<String>, event_type: &Option<String>) {
    if let Some(l) = level {
        if !(l.eq_ignore_ascii_case("INFO") || l.eq_ignore_ascii_case("ERROR")) {
            r.at(
                format!("{p}.level"),
                format!("level must be INFO or ERROR, not {l:?}"),
            );
        }
    }
    if let Some(t) = event_type {
        let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.*".contains(&b);
        if t.is_empty() || !t.bytes().all(ok) {
            r.at(
                format!("{p}.event_type"),
                format!(
                    "event_type {t:?} is not a type prefix: lower-case letters, digits and - _ . * (e.g. \"system.image_analysis.\")"
                ),
            );
        }
    }
}

/// A query and the label that names its series.
fn top_ok(r: &mut Report, p: &str, query: &str, label: &str) {
    if query.trim().is_empty() {
        r.at(format!("{p}.query"), "PromQL query is empty");
    }
    let mut chars = label.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        r.at(
            format!("{p}.label"),
            format!("{label:?} is not a Prometheus label name (letters, digits and _, e.g. job)"),
        );
    }
}

fn steps_ok(
    r: &mut Report,
    number: u32,
    p: &str,
    step: &Step,
    files: &BTreeMap<String, Vec<u8>>,
    checks: &HashMap<&str, String>,
    questions: &HashMap<&str, AnswerType>,
) {
    for a in step.assets() {
        let field = match step {
            Step::AddService { .. } => "snippet",
            Step::UncommentBlock { .. } => "otherwise_add",
            Step::WriteAsset { .. } => "asset",
            _ => "dashboard",
        };
        r.asset(format!("{p}.{field}"), a, files);
    }
    match step {
        Step::ComposeUp { timeout, .. }
        | Step::AddImage { timeout, .. }
        | Step::WaitAnalysis { timeout, .. } => {
            if let Some(t) = timeout {
                r.window(format!("{p}.timeout"), t.0);
            }
        }
        Step::UncommentBlock { file, .. }
        | Step::SetEnv { file, .. }
        | Step::AddService { file, .. }
        | Step::AddVolume { file, .. } => r.env_file(format!("{p}.file"), file),
        Step::WaitCheck { check, timeout } => {
            if !checks.contains_key(check.as_str()) {
                r.at(format!("{p}.check"), format!("unknown check `{check}`"));
            }
            if let Some(t) = timeout {
                r.window(format!("{p}.timeout"), t.0);
            }
        }
        Step::Answer {
            question,
            value,
            measured,
            ..
        } => {
            if !questions.contains_key(question.as_str()) {
                r.at(
                    format!("{p}.question"),
                    format!("unknown question `{question}`"),
                );
            }
            match (value, measured) {
                (Some(_), Some(_)) | (None, None) => r.at(
                    format!("{p}.value"),
                    "give exactly one of `value` and `measured`",
                ),
                (None, Some(Measured::Prometheus(q))) if q.trim().is_empty() => {
                    r.at(format!("{p}.measured.prometheus"), "PromQL query is empty")
                }
                (
                    None,
                    Some(Measured::AnchoreEvent {
                        level, event_type, ..
                    }),
                ) => event_filter_ok(r, &format!("{p}.measured.anchore_event"), level, event_type),
                (None, Some(Measured::PrometheusTop { query, label })) => {
                    top_ok(r, &format!("{p}.measured.prometheus_top"), query, label)
                }
                _ => {}
            }
        }
        Step::ReplaceText { file, find, .. } => {
            r.env_file(format!("{p}.file"), file);
            if find.is_empty() {
                r.at(
                    format!("{p}.find"),
                    "`find` is empty: name the text to replace",
                );
            }
        }
        Step::Run { argv, shell, .. } => {
            if argv.is_empty() || argv[0].trim().is_empty() {
                r.at(
                    format!("{p}.argv"),
                    "argv is empty: name the program to run",
                );
            } else if *shell && argv.len() != 1 {
                r.at(
                    format!("{p}.argv"),
                    "with `shell: true`, argv holds one element: the script",
                );
            }
        }
        Step::WriteAsset { to, .. } => r.env_file(format!("{p}.to"), to),
        Step::CompleteLab { lab } if *lab >= number => r.at(
            format!("{p}.lab"),
            format!(
                "complete_lab names lab {lab}; it must be an earlier lab than this one ({number})"
            ),
        ),
        _ => {}
    }
}

/// A duration as the author wrote it; `format_duration` shows zero as `0ms`.
fn shown(d: Duration) -> String {
    if d.is_zero() {
        "0s".into()
    } else {
        crate::model::format_duration(d)
    }
}

/// `"> 0"`, `">= 1"`, `"== 3"`, `"< 10"`, `"<= 2"`, `"!= 0"`: an operator, then a
/// number. The probe's parser has the last word; this keeps the documented form.
pub(super) fn comparison_ok(v: &str) -> bool {
    let v = v.trim();
    let rest = [">=", "<=", "==", "!=", ">", "<"]
        .iter()
        .find_map(|op| v.strip_prefix(op));
    rest.and_then(|n| n.trim().parse::<f64>().ok())
        .is_some_and(f64::is_finite)
}

/// Reports each `needs` cycle once, at the check where the walk found it.
fn cycles(r: &mut Report, lab: &Lab, at: &HashMap<&str, String>) {
    let needs: HashMap<&str, Vec<&str>> = lab
        .checks()
        .map(|(_, c)| {
            (
                c.id.as_str(),
                c.needs
                    .iter()
                    .map(String::as_str)
                    .filter(|n| at.contains_key(n) && *n != c.id)
                    .collect(),
            )
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut order: Vec<&str> = lab.checks().map(|(_, c)| c.id.as_str()).collect();
    order.dedup();
    for start in order {
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        if state.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        state.insert(start, 1);
        while let Some((node, i)) = stack.pop() {
            let next = needs.get(node).and_then(|n| n.get(i)).copied();
            match next {
                None => {
                    state.insert(node, 2);
                }
                Some(n) => {
                    stack.push((node, i + 1));
                    match state.get(n).copied().unwrap_or(0) {
                        0 => {
                            state.insert(n, 1);
                            stack.push((n, 0));
                        }
                        1 => {
                            let mut cycle: Vec<&str> = stack
                                .iter()
                                .map(|(c, _)| *c)
                                .skip_while(|c| *c != n)
                                .collect();
                            cycle.push(n);
                            let path = format!("{}.needs", at[node]);
                            r.at(path, format!("dependency cycle: {}", cycle.join(" -> ")));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Problems that span labs: two labs with one number or slug.
pub fn across_labs(labs: &[LoadedLab]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut numbers: HashMap<u32, &str> = HashMap::new();
    let mut slugs: HashMap<&str, &str> = HashMap::new();
    for l in labs {
        let file = format!("{}/lab.yaml", l.origin);
        if let Some(other) = numbers.insert(l.lab.number, &l.origin) {
            out.push(Diagnostic {
                file: file.clone(),
                line: None,
                column: None,
                path: "number".into(),
                message: format!("lab number {} is also used by {other}", l.lab.number),
            });
        }
        let all = l.lab.setup.iter().chain(&l.lab.solve).chain(&l.lab.cleanup);
        let variants = l
            .lab
            .variants
            .iter()
            .flat_map(|v| v.instead.iter().flatten().chain(v.after.iter().flatten()));
        for step in all.chain(variants) {
            if let Step::CompleteLab { lab } = step {
                if !labs.iter().any(|o| o.lab.number == *lab) {
                    out.push(Diagnostic {
                        file: file.clone(),
                        line: None,
                        column: None,
                        path: "complete_lab".into(),
                        message: format!(
                            "complete_lab names lab {lab}, which is not among the labs loaded \
                             (validate the whole labs folder, or add that lab)"
                        ),
                    });
                }
            }
        }
        if let Some(other) = slugs.insert(&l.lab.slug, &l.origin) {
            out.push(Diagnostic {
                file,
                line: None,
                column: None,
                path: "slug".into(),
                message: format!("slug `{}` is also used by {other}", l.lab.slug),
            });
        }
    }
    out
}

#[cfg(test)]
mod limit_tests {
    #[test]
    fn nan_and_infinite_comparisons_are_refused() {
        // Found by issue 14: `== NaN` and `>= 1e999999` validated.
        for v in ["== NaN", ">= 1e999999", "< -inf", "!= nan", "> infinity"] {
            assert!(!super::comparison_ok(v), "{v}");
            assert!(
                !super::comparison_ok(v) || crate::model::compare::Comparison::parse(v).is_none()
            );
        }
        assert!(super::comparison_ok(">= 1e9"));
    }
}

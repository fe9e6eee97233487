//! Reads the grading inputs: a roster and a manual-scores file. Every problem names
//! the file, line, column and field path, as lab files do; meaning is checked after
//! parsing (duplicate trainees, URLs, Docker hosts, unset password variables;
//! unknown trainees, labs and checks in the manual scores).

use super::positions::Index;
use crate::error::Diagnostic;
use crate::model::roster::{ManualScores, Roster};
use crate::model::LoadedLab;
use std::collections::HashSet;
use std::path::Path;

/// Where a problem is, by field path, in a document already indexed.
struct Report<'a> {
    file: &'a str,
    index: &'a Index,
    out: Vec<Diagnostic>,
}

impl Report<'_> {
    /// At the field's value (`key: false`) or its key (`key: true`, for names).
    fn at(&mut self, path: &str, on_key: bool, message: impl Into<String>) {
        let node = self.index.get(path).or_else(|| self.index.nearest(path));
        let pos = node.map(|n| {
            if on_key {
                n.key.unwrap_or(n.value)
            } else {
                n.value
            }
        });
        self.out.push(Diagnostic {
            file: self.file.to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            path: path.to_string(),
            message: message.into(),
        });
    }
}

fn read(path: &Path) -> Result<String, Vec<Diagnostic>> {
    super::read_text(path).map_err(|d| vec![d])
}

/// Reads a roster file. `var` looks up environment variables (a parameter so tests
/// need not change the process's environment).
pub fn roster(
    path: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Roster, Vec<Diagnostic>> {
    let text = read(path)?;
    let mut r = parse_roster(&path.display().to_string(), &text, var)?;
    // Work folders are relative to the roster, so a class folder can move as a whole.
    let base = path.parent().unwrap_or(Path::new("."));
    for t in &mut r.trainees {
        for p in [&mut t.workdir, &mut t.tls_dir].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
    Ok(r)
}

pub fn parse_roster(
    file: &str,
    text: &str,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Roster, Vec<Diagnostic>> {
    let index = Index::build(text);
    let roster: Roster = super::parse_doc(
        file,
        text,
        &index,
        "the roster is empty: it needs `trainees:`, a list with each trainee's `name` and `project`",
    )
    .map_err(|d| vec![d])?;
    let mut rep = Report {
        file,
        index: &index,
        out: Vec::new(),
    };
    if roster.trainees.is_empty() {
        rep.at("trainees", false, "no trainees: add at least one");
    }
    let mut names = HashSet::new();
    for (i, t) in roster.trainees.iter().enumerate() {
        let at = format!("trainees[{i}]");
        if t.name.trim().is_empty() {
            rep.at(&format!("{at}.name"), false, "the name is empty");
        } else if !names.insert(t.name.as_str()) {
            rep.at(
                &format!("{at}.name"),
                false,
                format!("trainee `{}` is listed twice; names must be unique", t.name),
            );
        }
        if t.project.trim().is_empty() {
            rep.at(
                &format!("{at}.project"),
                false,
                "the compose project is empty",
            );
        }
        let host = t.docker.as_deref().unwrap_or("unix:///var/run/docker.sock");
        if let Err(m) = check_host(host, t.tls_dir.is_some()) {
            let field = if t.docker.is_none() {
                "tls_dir"
            } else {
                "docker"
            };
            rep.at(&format!("{at}.{field}"), false, m);
        }
        for (name, svc) in [
            ("anchore", &t.anchore),
            ("prometheus", &t.prometheus),
            ("grafana", &t.grafana),
        ] {
            let Some(svc) = svc else { continue };
            if !(svc.url.starts_with("http://") || svc.url.starts_with("https://")) {
                rep.at(
                    &format!("{at}.{name}.url"),
                    false,
                    format!("`{}` is not an http:// or https:// URL", svc.url),
                );
            }
            if let Some(v) = &svc.password_env {
                if var(v).is_none_or(|s| s.is_empty()) {
                    rep.at(
                        &format!("{at}.{name}.password_env"),
                        false,
                        format!(
                            "the variable {v} is not set; export it before grading \
                             (the roster names the variable, never the password)"
                        ),
                    );
                }
            }
        }
    }
    if rep.out.is_empty() {
        Ok(roster)
    } else {
        Err(rep.out)
    }
}

/// Whether `lab` can reach an engine named this way.
fn check_host(host: &str, tls: bool) -> Result<(), String> {
    if host.starts_with("ssh://") {
        return Err(format!(
            "`{host}`: ssh:// is not supported by this build of lab; forward the engine's \
             socket (`ssh -nNT -L /tmp/trainee.sock:/var/run/docker.sock user@host`) and use \
             unix:///tmp/trainee.sock"
        ));
    }
    if let Some(rest) = host.strip_prefix("tcp://") {
        if rest.is_empty() || !rest.contains(':') {
            return Err(format!(
                "`{host}`: a tcp:// host needs a port, e.g. tcp://10.0.0.5:2376"
            ));
        }
        return Ok(());
    }
    if tls {
        return Err(format!("`{host}`: `tls_dir` goes with a tcp:// host only"));
    }
    if host.starts_with("unix://") || host.starts_with('/') {
        return Ok(());
    }
    Err(format!(
        "`{host}` is not a Docker host lab understands: use unix:///path/to/docker.sock, \
         /path/to/docker.sock or tcp://host:port"
    ))
}

/// Reads a manual-scores file and checks every trainee, lab and check or question
/// it names against the roster's trainees and the labs.
pub fn manual_scores(
    path: &Path,
    trainees: &[String],
    labs: &[LoadedLab],
) -> Result<ManualScores, Vec<Diagnostic>> {
    let text = read(path)?;
    parse_manual_scores(&path.display().to_string(), &text, trainees, labs)
}

pub fn parse_manual_scores(
    file: &str,
    text: &str,
    trainees: &[String],
    labs: &[LoadedLab],
) -> Result<ManualScores, Vec<Diagnostic>> {
    let index = Index::build(text);
    let scores: ManualScores = super::parse_doc(
        file,
        text,
        &index,
        "the file is empty: write `trainee: {lab: {check-or-question: points}}`",
    )
    .map_err(|d| vec![d])?;
    let mut rep = Report {
        file,
        index: &index,
        out: Vec::new(),
    };
    // serde keeps the last of two equal keys; an instructor meant one of them.
    if let Some(n) = index.duplicate_key() {
        let at = n.key.unwrap_or(n.value);
        return Err(vec![Diagnostic {
            file: file.to_string(),
            line: Some(at.line),
            column: Some(at.column),
            path: n.path.clone(),
            message: format!("`{}` is given twice; keep one", n.path),
        }]);
    }
    for (who, by_lab) in &scores {
        if !trainees.iter().any(|t| t == who) {
            let near = crate::error::nearest(who, trainees.iter().map(String::as_str));
            rep.at(
                who,
                true,
                format!(
                    "no trainee `{who}` in the roster{}",
                    near.map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default()
                ),
            );
            continue;
        }
        for (lab_key, entries) in by_lab {
            let lab_path = format!("{who}.{lab_key}");
            let lab = match super::find(labs, lab_key) {
                Ok(l) => l,
                Err(e) => {
                    rep.at(&lab_path, true, e.to_string());
                    continue;
                }
            };
            for (key, score) in entries {
                let at = format!("{lab_path}.{key}");
                let Some(check) = resolve(lab, key) else {
                    let ids = lab
                        .lab
                        .checks()
                        .map(|(_, c)| c.id.as_str())
                        .chain(lab.lab.questions().map(|q| q.id.as_str()));
                    let near = crate::error::nearest(key, ids);
                    rep.at(
                        &at,
                        true,
                        format!(
                            "lab {} has no check or question `{key}`{}",
                            lab.lab.id(),
                            near.map(|n| format!(" (did you mean `{n}`?)"))
                                .unwrap_or_default()
                        ),
                    );
                    continue;
                };
                if score.points < 0 || score.points > check.points {
                    rep.at(
                        &at,
                        false,
                        format!(
                            "{} points: `{}` is worth 0 to {}",
                            score.points, check.id, check.points
                        ),
                    );
                }
            }
        }
    }
    if rep.out.is_empty() {
        Ok(scores)
    } else {
        Err(rep.out)
    }
}

/// The check a manual score lands on: the check with this id, or the answer check
/// that asks the question with this id.
pub fn resolve<'a>(lab: &'a LoadedLab, key: &str) -> Option<&'a crate::model::Check> {
    use crate::model::CheckSpec;
    lab.lab
        .checks()
        .map(|(_, c)| c)
        .find(|c| c.id == key)
        .or_else(|| {
            lab.lab
                .checks()
                .map(|(_, c)| c)
                .find(|c| matches!(&c.spec, CheckSpec::Answer(a) if a.question == key))
        })
}

#[cfg(test)]
mod tests;

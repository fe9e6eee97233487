//! Edits to a trainee's compose file that keep everything else byte for byte:
//! comments, order, quoting, blank lines and line endings. Pure text in, text out;
//! the caller backs the file up and writes it atomically.
//!
//! A full YAML round trip would lose comments and formatting, so the edits work on
//! lines, guided by indentation, which is how compose files are written by hand.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError(pub String);

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, EditError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(EditError(msg.into()))
}

/// The text split into lines that keep their endings, so joining them gives the text back.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn newline_of(text: &str) -> &'static str {
    if text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn content(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = content(line).trim_start();
    t.is_empty() || t.starts_with('#')
}

/// The key of a `key:` or `key: value` line (quotes removed), if the line is one.
fn key_of(line: &str) -> Option<&str> {
    let t = content(line).trim_start();
    if t.starts_with('#') || t.starts_with('-') {
        return None;
    }
    let (k, rest) = t.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some(k.trim().trim_matches(['"', '\'']))
}

/// The lines `[start, end)` of the block under the mapping key at line `at`: every
/// following line indented deeper, comments and blank lines inside included, the
/// trailing ones left to what follows.
fn block_end(ls: &[&str], at: usize) -> usize {
    let base = indent(ls[at]);
    let mut end = at + 1;
    let mut last_content = at + 1;
    while end < ls.len() {
        let l = ls[end];
        if !is_blank_or_comment(l) {
            if indent(l) <= base {
                break;
            }
            last_content = end + 1;
        }
        end += 1;
    }
    last_content
}

/// The line of a top-level key.
fn top_level(ls: &[&str], key: &str) -> Option<usize> {
    ls.iter()
        .position(|l| indent(l) == 0 && key_of(l) == Some(key))
}

/// The direct children (key, line) of the mapping at line `at`.
fn children<'a>(ls: &[&'a str], at: usize) -> Vec<(&'a str, usize)> {
    let end = block_end(ls, at);
    let mut child_indent = None;
    let mut out = Vec::new();
    for (i, l) in ls.iter().enumerate().take(end).skip(at + 1) {
        if is_blank_or_comment(l) {
            continue;
        }
        let ind = indent(l);
        let ci = *child_indent.get_or_insert(ind);
        if ind == ci {
            if let Some(k) = key_of(l) {
                out.push((k, i));
            }
        }
    }
    out
}

fn service_line(ls: &[&str], service: &str) -> Result<usize> {
    let Some(services) = top_level(ls, "services") else {
        return err("the compose file has no `services:` section");
    };
    children(ls, services)
        .into_iter()
        .find(|(k, _)| *k == service)
        .map(|(_, i)| i)
        .ok_or_else(|| EditError(format!("the compose file has no service `{service}`")))
}

/// Removes the comment marks from the commented-out block whose first line reads
/// `marker` (e.g. `prometheus:`), as the quickstart's `#  prometheus:` section, and
/// from the comment line just above it. The block runs while its lines, uncommented,
/// are indented deeper than the marker.
pub fn uncomment_block(text: &str, marker: &str) -> Result<String> {
    let ls = lines(text);
    let uncomment = |l: &str| -> Option<String> {
        let t = l.trim_start_matches(' ');
        let lead = &l[..l.len() - t.len()];
        t.strip_prefix('#').map(|rest| format!("{lead}{rest}"))
    };
    let start = ls.iter().position(|l| {
        uncomment(l).is_some_and(|u| content(&u).trim() == marker.trim() && key_of(&u).is_some())
    });
    let Some(start) = start else {
        if ls.iter().any(|l| content(l).trim() == marker.trim()) {
            return Ok(text.to_string()); // already uncommented
        }
        return err(format!(
            "no commented-out block starting with `{marker}` in the compose file"
        ));
    };
    let base = indent(&uncomment(ls[start]).unwrap_or_default());
    let mut end = start + 1;
    while end < ls.len() {
        let Some(u) = uncomment(ls[end]) else { break };
        let c = content(&u);
        if c.trim().is_empty() || indent(&u) <= base {
            break;
        }
        end += 1;
    }
    let mut first = start;
    if start > 0 {
        if let Some(u) = uncomment(ls[start - 1]) {
            if content(&u).trim_start().starts_with('#') && indent(&u) == base {
                first = start - 1;
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    for (i, l) in ls.iter().enumerate() {
        if (first..end).contains(&i) {
            out.push_str(&uncomment(l).unwrap_or_else(|| l.to_string()));
        } else {
            out.push_str(l);
        }
    }
    Ok(out)
}

/// Sets `name=value` in the `environment:` of each named service (all services that
/// define `name` when `services` is empty), in the form the file already uses: list
/// (`- NAME=value`, quoted or not) or map (`NAME: value`). A named service without the
/// variable gets it added to its environment (created when missing).
pub fn set_env(text: &str, services: &[String], name: &str, value: &str) -> Result<String> {
    let nl = newline_of(text);
    let mut ls: Vec<String> = lines(text).into_iter().map(String::from).collect();
    let targets: Vec<String> = if services.is_empty() {
        let view: Vec<&str> = ls.iter().map(String::as_str).collect();
        let Some(svcs) = top_level(&view, "services") else {
            return err("the compose file has no `services:` section");
        };
        children(&view, svcs)
            .into_iter()
            .filter(|(_, at)| env_lines(&view, *at).iter().any(|(_, n, _)| n == name))
            .map(|(k, _)| k.to_string())
            .collect()
    } else {
        services.to_vec()
    };
    if targets.is_empty() {
        return err(format!("no service defines {name}"));
    }
    for svc in targets {
        let view: Vec<&str> = ls.iter().map(String::as_str).collect();
        let at = service_line(&view, &svc)?;
        let found = env_lines(&view, at);
        let hits: Vec<(usize, EnvForm)> = found
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(i, _, f)| (*i, *f))
            .collect();
        if !hits.is_empty() {
            for (i, form) in hits {
                ls[i] = rewrite_env(&ls[i], name, value, form);
            }
            continue;
        }
        // Add the variable: after the last entry of an existing environment block, or
        // a new block at the end of the service.
        let view: Vec<&str> = ls.iter().map(String::as_str).collect();
        let env_at = children(&view, at)
            .into_iter()
            .find(|(k, _)| *k == "environment")
            .map(|(_, i)| i);
        match env_at {
            Some(e) => {
                let end = block_end(&view, e);
                let line = match found.last() {
                    Some((i, _, EnvForm::Map)) => {
                        format!("{}{name}: {value}{nl}", " ".repeat(indent(view[*i])))
                    }
                    Some((i, _, _)) => {
                        format!("{}- {name}={value}{nl}", " ".repeat(indent(view[*i])))
                    }
                    None => format!("{}- {name}={value}{nl}", " ".repeat(indent(view[e]) + 2)),
                };
                ls.insert(end, line);
            }
            None => {
                let child_indent = children(&view, at)
                    .first()
                    .map(|(_, i)| indent(view[*i]))
                    .unwrap_or(indent(view[at]) + 2);
                let end = block_end(&view, at);
                ls.insert(end, format!("{}environment:{nl}", " ".repeat(child_indent)));
                ls.insert(
                    end + 1,
                    format!("{}- {name}={value}{nl}", " ".repeat(child_indent + 2)),
                );
            }
        }
    }
    Ok(ls.concat())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvForm {
    List,
    ListQuoted(char),
    Map,
}

/// The variable the services' `name` entries all take their value from, when each
/// is an interpolation of the same one (`${ANCHORE_ENABLE_METRICS}`,
/// `${X:-false}`, `$X`), as in Anchore 6.x's quickstart, which keeps the value in
/// `.env`. `None` when any entry has a value of its own or none defines `name`.
pub fn interpolated_from(text: &str, services: &[String], name: &str) -> Option<String> {
    let ls: Vec<&str> = lines(text);
    let svcs = top_level(&ls, "services")?;
    let mut var: Option<String> = None;
    let mut seen = false;
    for (svc, at) in children(&ls, svcs) {
        if !services.is_empty() && !services.iter().any(|s| s == svc) {
            continue;
        }
        for (i, n, form) in env_lines(&ls, at) {
            if n != name {
                continue;
            }
            seen = true;
            let body = content(ls[i]).trim_start();
            let value = match form {
                EnvForm::Map => body.split_once(':').map(|(_, v)| v)?,
                EnvForm::List | EnvForm::ListQuoted(_) => body.split_once('=').map(|(_, v)| v)?,
            };
            let value = value.split(" #").next().unwrap_or("").trim();
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            let v = variable_of(value)?;
            match &var {
                Some(existing) if *existing != v => return None,
                _ => var = Some(v),
            }
        }
    }
    if seen {
        var
    } else {
        None
    }
}

/// `${X}`, `${X:-d}`, `${X-d}`, `${X:?e}` or `$X` → `X`.
fn variable_of(value: &str) -> Option<String> {
    let name = if let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        inner.split([':', '-', '?', '+']).next().unwrap_or("")
    } else {
        value.strip_prefix('$')?
    };
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    ok.then(|| name.to_string())
}

/// Sets `var=value` in a `.env` text: the existing line changes (comments and the
/// other lines stay byte for byte), or a line is added at the end.
pub fn dotenv_set(text: &str, var: &str, value: &str) -> String {
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::new();
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let t = body.trim_start();
        let t = t.strip_prefix("export ").unwrap_or(t).trim_start();
        let is_it = t.split_once('=').is_some_and(|(k, _)| k.trim() == var);
        if is_it && !done {
            let ending = &line[body.len()..];
            out.push_str(&format!("{var}={value}{ending}"));
            done = true;
        } else {
            out.push_str(line);
        }
    }
    if !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(&format!("{var}={value}{nl}"));
    }
    out
}

/// The environment entries of the service at line `at`: (line, name, form).
fn env_lines(ls: &[&str], at: usize) -> Vec<(usize, String, EnvForm)> {
    let Some((_, e)) = children(ls, at)
        .into_iter()
        .find(|(k, _)| *k == "environment")
    else {
        return Vec::new();
    };
    let end = block_end(ls, e);
    let mut out = Vec::new();
    for (i, l) in ls.iter().enumerate().take(end).skip(e + 1) {
        if is_blank_or_comment(l) {
            continue;
        }
        let t = content(l).trim_start();
        if let Some(item) = t.strip_prefix("- ") {
            let item = item.trim();
            let (form, inner) = match item.chars().next() {
                Some(q @ ('"' | '\'')) => (EnvForm::ListQuoted(q), item.trim_matches(q)),
                _ => (EnvForm::List, item),
            };
            let n = inner.split('=').next().unwrap_or("").trim();
            out.push((i, n.to_string(), form));
        } else if let Some(k) = key_of(l) {
            out.push((i, k.to_string(), EnvForm::Map));
        }
    }
    out
}

fn rewrite_env(line: &str, name: &str, value: &str, form: EnvForm) -> String {
    let ending = &line[content(line).len()..];
    let lead = &line[..indent(line)];
    // A trailing comment on the line stays.
    let body = content(line).trim_start();
    let comment = match body.find(" #") {
        Some(i) => {
            let start = body[..i].trim_end().len();
            &body[start..]
        }
        None => "",
    };
    match form {
        EnvForm::List => format!("{lead}- {name}={value}{comment}{ending}"),
        EnvForm::ListQuoted(q) => format!("{lead}- {q}{name}={value}{q}{comment}{ending}"),
        EnvForm::Map => {
            let v = if value.parse::<f64>().is_ok()
                || matches!(value, "true" | "false" | "yes" | "no" | "on" | "off")
            {
                format!("\"{value}\"")
            } else {
                value.to_string()
            };
            format!("{lead}{name}: {v}{comment}{ending}")
        }
    }
}

/// Adds a service from a snippet (the service's own lines, `name:` first, at any
/// indentation) at the end of `services:`, indented as the file's services are.
pub fn add_service(text: &str, name: &str, snippet: &str) -> Result<String> {
    let nl = newline_of(text);
    let ls = lines(text);
    let Some(svcs) = top_level(&ls, "services") else {
        return err("the compose file has no `services:` section");
    };
    if children(&ls, svcs).iter().any(|(k, _)| *k == name) {
        return Ok(text.to_string());
    }
    let svc_indent = children(&ls, svcs)
        .first()
        .map(|(_, i)| indent(ls[*i]))
        .unwrap_or(2);
    let snippet_lines: Vec<&str> = snippet.lines().collect();
    let first = snippet_lines
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .ok_or_else(|| EditError("the snippet is empty".into()))?;
    if key_of(first) != Some(name) {
        return err(format!("the snippet must start with `{name}:`"));
    }
    let base = indent(first);
    let end = block_end(&ls, svcs);
    let mut out = String::new();
    for l in &ls[..end] {
        out.push_str(l);
    }
    if !out.ends_with('\n') {
        out.push_str(nl);
    }
    for l in &snippet_lines {
        if l.trim().is_empty() {
            out.push_str(nl);
            continue;
        }
        // Comment lines that start at column 0 (`#      - ./x:/y`) stay where they are.
        let shifted = if indent(l) >= base {
            format!("{}{}", " ".repeat(svc_indent), &l[base..])
        } else {
            l.to_string()
        };
        out.push_str(&shifted);
        out.push_str(nl);
    }
    for l in &ls[end..] {
        out.push_str(l);
    }
    Ok(out)
}

/// Declares a top-level volume (`name:` with `external: false`, as the course writes it).
pub fn add_volume(text: &str, name: &str) -> Result<String> {
    let nl = newline_of(text);
    let ls = lines(text);
    match top_level(&ls, "volumes") {
        Some(v) => {
            let kids = children(&ls, v);
            if kids.iter().any(|(k, _)| *k == name) {
                return Ok(text.to_string());
            }
            let ind = kids.first().map(|(_, i)| indent(ls[*i])).unwrap_or(2);
            let end = block_end(&ls, v);
            let mut out: Vec<String> = ls.iter().map(|s| s.to_string()).collect();
            if end > 0 && !out[end - 1].ends_with('\n') {
                out[end - 1].push_str(nl);
            }
            // A `volumes: {}` or `volumes:` with an inline value cannot take children.
            if content(ls[v]).trim_end() != "volumes:" {
                return err("the top-level `volumes:` is written inline; write it as a block to add a volume");
            }
            out.insert(
                end,
                format!(
                    "{}{name}:{nl}{}external: false{nl}",
                    " ".repeat(ind),
                    " ".repeat(ind * 2)
                ),
            );
            Ok(out.concat())
        }
        None => {
            let at = top_level(&ls, "services").unwrap_or(ls.len());
            let mut out: Vec<String> = ls.iter().map(|s| s.to_string()).collect();
            out.insert(
                at,
                format!("volumes:{nl}  {name}:{nl}    external: false{nl}{nl}"),
            );
            Ok(out.concat())
        }
    }
}

#[cfg(test)]
mod tests;

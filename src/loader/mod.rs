//! The loader: the only place that parses YAML. It reads lab folders (from disk or
//! from the copy embedded in the binary), turns every parse error into a
//! `file:line:column: field.path: message` diagnostic, and validates meaning.

pub mod limits;
mod positions;
mod refine;
pub mod roster;
mod validate;

use crate::error::{Diagnostic, Error};
use crate::model::{Lab, LoadedLab};
use positions::Index;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use positions::Pos;

/// The course's labs, built into the binary so an installed `lab` needs no checkout.
static EMBEDDED: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/labs");

const LAB_FILE: &str = "lab.yaml";

/// Where labs come from.
#[derive(Debug, Clone)]
pub enum Source {
    Embedded,
    /// A folder of lab folders, a lab folder, or a `lab.yaml` file.
    Path(PathBuf),
}

/// Labs read from one or more sources, with every problem found on the way.
#[derive(Debug, Default)]
pub struct Loaded {
    pub labs: Vec<LoadedLab>,
    pub problems: Vec<Diagnostic>,
}

/// One lab's files before parsing.
struct RawLab {
    /// The lab file's name as shown in messages.
    file: String,
    /// The folder's name as shown in messages.
    origin: String,
    text: String,
    files: BTreeMap<String, Vec<u8>>,
}

pub fn load(sources: &[Source]) -> Loaded {
    let mut out = Loaded::default();
    for source in sources {
        let raws = match source {
            Source::Embedded => embedded_raw(),
            Source::Path(p) => match path_raw(p) {
                Ok(r) => r,
                Err(d) => {
                    out.problems.push(d);
                    continue;
                }
            },
        };
        for raw in raws {
            match parse_raw(raw) {
                Ok(lab) => out.labs.push(lab),
                Err(mut d) => out.problems.append(&mut d),
            }
        }
    }
    out.labs.sort_by_key(|l| l.lab.number);
    out.problems.extend(validate::across_labs(&out.labs));
    out
}

fn embedded_raw() -> Vec<RawLab> {
    let mut raws = Vec::new();
    for dir in EMBEDDED.dirs() {
        let Some(file) = dir.get_file(dir.path().join(LAB_FILE)) else {
            continue;
        };
        let name = dir.path().display().to_string();
        let mut files = BTreeMap::new();
        collect_embedded(dir, dir.path(), &mut files);
        raws.push(RawLab {
            file: format!("<built-in>/{name}/{LAB_FILE}"),
            origin: format!("<built-in>/{name}"),
            text: String::from_utf8_lossy(file.contents()).into_owned(),
            files,
        });
    }
    raws
}

fn collect_embedded(
    dir: &include_dir::Dir<'_>,
    root: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) {
    for f in dir.files() {
        if let Ok(rel) = f.path().strip_prefix(root) {
            files.insert(slash(rel), f.contents().to_vec());
        }
    }
    for d in dir.dirs() {
        collect_embedded(d, root, files);
    }
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn whole_file(file: String, message: String) -> Diagnostic {
    Diagnostic {
        file,
        line: None,
        column: None,
        path: String::new(),
        message,
    }
}

fn path_raw(p: &Path) -> Result<Vec<RawLab>, Diagnostic> {
    let shown = p.display().to_string();
    let meta =
        std::fs::metadata(p).map_err(|e| whole_file(shown.clone(), format!("cannot read: {e}")))?;
    if meta.is_file() {
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return Ok(vec![read_lab_dir(dir, p)?]);
    }
    let own = p.join(LAB_FILE);
    if own.is_file() {
        return Ok(vec![read_lab_dir(p, &own)?]);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| whole_file(shown.clone(), format!("cannot read folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join(LAB_FILE).is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(whole_file(
            shown,
            format!("no lab here: expected a `{LAB_FILE}`, or folders that hold one"),
        ));
    }
    dirs.iter()
        .map(|d| read_lab_dir(d, &d.join(LAB_FILE)))
        .collect()
}

fn read_lab_dir(dir: &Path, lab_file: &Path) -> Result<RawLab, Diagnostic> {
    let file = lab_file.display().to_string();
    let text = read_text(lab_file)?;
    let mut files = BTreeMap::new();
    collect_disk(dir, dir, &mut files, 0);
    Ok(RawLab {
        file,
        origin: dir.display().to_string(),
        text,
        files,
    })
}

fn collect_disk(dir: &Path, root: &Path, files: &mut BTreeMap<String, Vec<u8>>, depth: usize) {
    // Lab folders are small; the depth limit only guards against symlink loops.
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            collect_disk(&path, root, files, depth + 1);
        } else if ft.is_file() {
            if let (Ok(rel), Ok(bytes)) = (path.strip_prefix(root), std::fs::read(&path)) {
                files.insert(slash(rel), bytes);
            }
        }
    }
}

fn parse_raw(raw: RawLab) -> Result<LoadedLab, Vec<Diagnostic>> {
    let index = Index::build(&raw.text);
    let lab = parse_lab(&raw.file, &raw.text, &index).map_err(|d| vec![d])?;
    let problems = validate::lab(&raw.file, &lab, &index, &raw.files);
    if !problems.is_empty() {
        return Err(problems);
    }
    let instructions = raw
        .files
        .get(&lab.instructions)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    Ok(LoadedLab {
        lab,
        origin: raw.origin,
        instructions,
        files: raw.files,
    })
}

/// Parses one lab file. The error names the file, line, column and field path.
pub fn parse_lab(file: &str, text: &str, index: &Index) -> Result<Lab, Diagnostic> {
    parse_doc(
        file,
        text,
        index,
        "the file is empty: a lab needs at least `number`, `slug`, `title`, \
         `summary` and `exercises`",
    )
}

/// A text file read whole, refused above [`limits::MAX_YAML_BYTES`] before reading;
/// invalid UTF-8 is named with its line and column.
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    use std::io::Read;
    let file = path.display().to_string();
    let cannot = |e: std::io::Error| whole_file(file.clone(), format!("cannot read: {e}"));
    let f = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    f.take(limits::MAX_YAML_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() > limits::MAX_YAML_BYTES {
        return Err(whole_file(
            file,
            format!(
                "the file is larger than the {} MiB a YAML file may have here",
                limits::MAX_YAML_BYTES >> 20
            ),
        ));
    }
    utf8(&file, bytes)
}

/// `bytes` as text, or the line and column of the first byte that is not UTF-8.
pub fn utf8(file: &str, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        Diagnostic {
            file: file.to_string(),
            line: Some(line),
            column: Some(column),
            path: String::new(),
            message: "the file is not valid UTF-8 here; save it as UTF-8".into(),
        }
    })
}

/// Parses one YAML document into `T`: the error names the file, line, column and
/// field path. `empty` is the message for an empty document.
pub(crate) fn parse_doc<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    index: &Index,
    empty: &str,
) -> Result<T, Diagnostic> {
    if let Err(too) = limits::check(text) {
        return Err(Diagnostic {
            file: file.to_string(),
            line: too.at.map(|p| p.line),
            column: too.at.map(|p| p.column),
            path: String::new(),
            message: too.message,
        });
    }
    let de = serde_yaml::Deserializer::from_str(text);
    let err = match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    // The document on its own: if it cannot be read, the mistake is in the YAML, not
    // in the lab format, and serde_yaml's position is the one to trust.
    let doc = match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Err(e) => return Err(syntax_error(file, text, index, &e)),
        Ok(serde_yaml::Value::Null) => {
            return Err(Diagnostic {
                file: file.to_string(),
                line: Some(1),
                column: Some(1),
                path: String::new(),
                message: empty.to_string(),
            })
        }
        Ok(doc) => doc,
    };
    let path = clean_path(&err.path().to_string());
    let inner = err.into_inner();
    let fallback = inner.location().map(|l| Pos {
        line: l.line(),
        column: l.column(),
    });
    let message = strip_serde_yaml(&inner.to_string(), &path);
    // serde loses the field inside tagged enums and flattened structs; find it again.
    let path = match quoted(&message, "missing field `") {
        Some(field) => refine::missing_home(&doc, &path, &field).unwrap_or(path),
        None => refine::culprit(&doc, &path),
    };
    Err(locate(file, index, &path, &plain_types(&message), fallback))
}

/// A document serde_yaml could not read as YAML: where it stopped, in words that say
/// what to fix.
fn syntax_error(file: &str, text: &str, index: &Index, e: &serde_yaml::Error) -> Diagnostic {
    let raw = e.to_string();
    if raw.contains("more than one document") {
        // The `---` that starts the second document: one after some content.
        let mut content = false;
        let second = text.lines().enumerate().find_map(|(i, l)| {
            if l.starts_with("---") && content {
                return Some(i + 1);
            }
            let l = l.trim();
            content |= !l.is_empty() && !l.starts_with('#') && !l.starts_with("---");
            None
        });
        return Diagnostic {
            file: file.to_string(),
            line: second.or(Some(1)),
            column: Some(1),
            path: String::new(),
            message: "a lab file holds one YAML document; remove this `---` and what \
                      follows, or merge it into the lab above"
                .into(),
        };
    }
    if raw.contains("duplicate entry with key") {
        if let Some(n) = index.duplicate_key() {
            let field = n.path.rsplit(['.', ']']).next().unwrap_or(&n.path);
            let at = n.key.unwrap_or(n.value);
            return Diagnostic {
                file: file.to_string(),
                line: Some(at.line),
                column: Some(at.column),
                path: n.path.clone(),
                message: format!("`{field}` is written twice in this mapping; keep one"),
            };
        }
    }
    let loc = e.location().map(|l| Pos {
        line: l.line(),
        column: l.column(),
    });
    let (message, at) = syntax_message(&raw, text, loc);
    let path = at
        .and_then(|p| index.enclosing(p))
        .map(|n| n.path.clone())
        .unwrap_or_default();
    Diagnostic {
        file: file.to_string(),
        line: at.map(|p| p.line),
        column: at.map(|p| p.column),
        path,
        message,
    }
}

/// `… at line 3 column 5` -> the position.
fn line_column(s: &str) -> Option<Pos> {
    let rest = &s[s.rfind(" at line ")? + " at line ".len()..];
    let (line, rest) = rest.split_once(" column ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(Pos {
        line: line.trim().parse().ok()?,
        column: column.parse().ok()?,
    })
}

fn without_position(s: &str) -> &str {
    match s.rfind(" at line ") {
        Some(i) => &s[..i],
        None => s,
    }
}

/// libyaml's message (`what at line L column C, while context at line M column N`)
/// reworded, and the position to show.
fn syntax_message(raw: &str, text: &str, loc: Option<Pos>) -> (String, Option<Pos>) {
    let (what_part, context_part) = match raw.split_once(", while ") {
        Some((w, c)) => (w, Some(c)),
        None => (raw, None),
    };
    let what = without_position(what_part).trim();
    let loc = loc.or_else(|| line_column(what_part));
    if let Some(ctx) = context_part.filter(|c| c.contains("quoted scalar")) {
        let start = line_column(ctx).or(loc);
        let at = loc
            .map(|p| format!(" at line {} column {}", p.line, p.column))
            .unwrap_or_default();
        return (
            format!(
                "YAML syntax: the quoted value that starts here does not end where it should \
                 ({what}{at}); is its closing quote missing?"
            ),
            start,
        );
    }
    let found = loc.and_then(|p| {
        text.lines()
            .nth(p.line.checked_sub(1)?)?
            .chars()
            .nth(p.column.checked_sub(1)?)
    });
    let message = match what {
        "found character that cannot start any token" if found == Some('\t') => {
            "YAML syntax: a tab character; indent with spaces (YAML does not allow tabs)".into()
        }
        "found character that cannot start any token" => match found {
            Some(c) => format!("YAML syntax: `{c}` cannot start a value; put the value in quotes"),
            None => format!("YAML syntax: {what}"),
        },
        "mapping values are not allowed in this context" => {
            "YAML syntax: a `key: value` cannot start here; check this line's indentation, \
             or quote a value that contains `: `"
                .into()
        }
        "did not find expected key" | "did not find expected '-' indicator" => {
            format!("YAML syntax: {what}; check this line's indentation against the lines above")
        }
        _ => match context_part {
            Some(ctx) => format!("YAML syntax: {what} (while {})", without_position(ctx)),
            None => format!("YAML syntax: {what}"),
        },
    };
    (message, loc)
}

/// serde_path_to_error writes `?` for a path it could not follow and `.` for the root.
fn clean_path(p: &str) -> String {
    let p = p.trim_end_matches(".?");
    if p == "." || p == "?" {
        String::new()
    } else {
        p.to_string()
    }
}

/// serde_yaml's message carries its own path prefix and position suffix; the
/// diagnostic adds both in its own form.
fn strip_serde_yaml(msg: &str, path: &str) -> String {
    let msg = match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => &msg[..i],
        _ => msg,
    };
    // A leading `path: ` (no spaces) is serde_yaml's own; inside tagged enums it is
    // shorter than ours (`setup` for `setup[0].detach`).
    match msg.split_once(": ") {
        Some((head, rest))
            if !head.is_empty()
                && !head.contains(' ')
                && !head.contains('`')
                && (head.contains('.')
                    || head.contains('[')
                    || path == head
                    || path.starts_with(&format!("{head}."))
                    || path.starts_with(&format!("{head}["))) =>
        {
            rest.to_string()
        }
        _ => msg.to_string(),
    }
}

/// Rust type names in serde's messages, in the words of a lab file.
fn plain_types(msg: &str) -> String {
    let (head, expected) = match msg.find(", expected ") {
        Some(i) => (&msg[..i], &msg[i + ", expected ".len()..]),
        None => return msg.to_string(),
    };
    let head = head
        .replace("invalid type: sequence", "invalid type: list")
        .replace("invalid type: map", "invalid type: mapping")
        .replace("invalid value: map", "invalid value: mapping")
        .replace("invalid type: unit value", "invalid type: empty value");
    let expected = match expected {
        "u8" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_string(),
        "u16" => "a whole number from 0 to 65535".to_string(),
        "i32" | "i64" => "a whole number".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "a mapping".to_string(),
        "struct Lab" => "a mapping of the lab's fields (`number`, `slug`, `title`, …)".to_string(),
        "struct Roster" => "a mapping with `trainees`".to_string(),
        "struct Trainee" => "a mapping of the trainee's fields (`name`, `project`, …)".to_string(),
        "struct Service" => "a mapping with `url` (and `user`, `password_env`)".to_string(),
        "a manual score" => {
            "a whole number of points, or a mapping with `points` and `comment`".to_string()
        }
        "struct ValueAt" => "a mapping with `path` and `equals`".to_string(),
        "struct Eventually" => "a mapping with `within` and `every`".to_string(),
        "internally tagged enum CheckSpec" => "a mapping with `kind`".to_string(),
        "internally tagged enum Step" => "a mapping with `action`".to_string(),
        "internally tagged enum AnswerExpect" => "a mapping with `type`".to_string(),
        "string or map" => {
            "`literal: <number>`, `prometheus: <query>` or `analysis_duration: {…}`".to_string()
        }
        "map with a single key" => "a mapping with a single key".to_string(),
        e if e.starts_with("struct ") => "a mapping".to_string(),
        e => e.to_string(),
    };
    format!("{head}, expected {expected}")
}

/// Turns a parse error inside `path` into a diagnostic at the most precise place
/// the index can find: serde loses the field inside internally tagged enums, so
/// the field is recovered from the message (an unknown or missing field's name, or
/// the offending value, which is searched for below `path`).
fn locate(
    file: &str,
    index: &Index,
    path: &str,
    message: &str,
    fallback: Option<Pos>,
) -> Diagnostic {
    let mut at_path = path.to_string();
    let mut at: Option<Pos> = None;

    if let Some(field) = quoted(message, "unknown field `") {
        // serde_path_to_error ends the path at the unknown field, except inside
        // internally tagged enums, where it stops at the enclosing mapping.
        let p = if path.is_empty() {
            field.clone()
        } else if path == field || path.ends_with(&format!(".{field}")) {
            path.to_string()
        } else {
            format!("{path}.{field}")
        };
        if let Some(n) = index.get(&p) {
            at_path = p;
            at = n.key.or(Some(n.value));
        }
    } else if message.starts_with("missing field") {
        at = index.nearest(path).map(|n| n.value);
    } else {
        // The offending value, as serde quotes it: "…" for strings, `…` for variants.
        let value = quoted(message, "\"").or_else(|| quoted(message, "`"));
        if let Some(v) = value {
            if let Some(n) = index
                .subtree(path)
                .find(|n| n.scalar.as_deref() == Some(v.as_str()))
            {
                at_path = n.path.clone();
                at = Some(n.value);
            }
        }
    }
    let at = at
        .or_else(|| index.get(path).map(|n| n.value))
        .or(fallback)
        .or_else(|| index.nearest(path).map(|n| n.value));
    Diagnostic {
        file: file.to_string(),
        line: at.map(|p| p.line),
        column: at.map(|p| p.column),
        path: at_path,
        message: message.to_string(),
    }
}

/// The text between `open` and the matching closing quote.
fn quoted(msg: &str, open: &str) -> Option<String> {
    let start = msg.find(open)? + open.len();
    let close = open.chars().last()?;
    let close = if close == '`' { '`' } else { close };
    let end = msg[start..].find(close)? + start;
    Some(msg[start..end].to_string())
}

/// Reads YAML as compose and the file checks see it: anchors resolved and `<<`
/// merges applied, as a JSON value. Several documents: the first one.
pub fn yaml_value(text: &str) -> Result<serde_json::Value, String> {
    limits::check(text).map_err(|e| e.to_string())?;
    use serde::Deserialize;
    let mut v = match serde_yaml::Deserializer::from_str(text).next() {
        Some(first) => serde_yaml::Value::deserialize(first).map_err(|e| e.to_string())?,
        None => serde_yaml::Value::Null,
    };
    v.apply_merge().map_err(|e| e.to_string())?;
    serde_json::to_value(yaml_keys_to_strings(v)).map_err(|e| e.to_string())
}

/// JSON needs string keys; YAML allows `8228: x` or `true: y`.
fn yaml_keys_to_strings(v: serde_yaml::Value) -> serde_yaml::Value {
    use serde_yaml::Value;
    match v {
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Value::String(s) => Value::String(s),
                        Value::Number(n) => Value::String(n.to_string()),
                        Value::Bool(b) => Value::String(b.to_string()),
                        Value::Null => Value::String("null".into()),
                        other => Value::String(serde_yaml::to_string(&other).unwrap_or_default()),
                    };
                    (k, yaml_keys_to_strings(v))
                })
                .collect(),
        ),
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(yaml_keys_to_strings).collect()),
        Value::Tagged(t) => yaml_keys_to_strings(t.value),
        other => other,
    }
}

/// Chooses a lab from what the user typed: `2`, `02`, the slug, or `02-slug`.
pub fn find<'a>(labs: &'a [LoadedLab], query: &str) -> Result<&'a LoadedLab, Error> {
    let q = query.trim();
    let by_number = q.parse::<u32>().ok();
    if let Some(l) = labs
        .iter()
        .find(|l| Some(l.lab.number) == by_number || l.lab.slug == q || l.lab.id() == q)
    {
        return Ok(l);
    }
    let names: Vec<String> = labs
        .iter()
        .flat_map(|l| [l.lab.slug.clone(), l.lab.id()])
        .collect();
    Err(Error::UnknownLab {
        query: q.to_string(),
        suggestion: crate::error::nearest(q, names.iter().map(String::as_str)),
    })
}

#[cfg(test)]
mod tests;

/// For tests elsewhere in the crate that parse a lab from text.
#[cfg(test)]
pub mod tests_support {
    pub fn index(text: &str) -> super::positions::Index {
        super::positions::Index::build(text)
    }

    /// A lab file parsed and validated as the loader does (with a README beside it).
    pub fn parse_and_validate(
        file: &str,
        text: &str,
    ) -> Result<crate::model::LoadedLab, Vec<crate::error::Diagnostic>> {
        let mut files = std::collections::BTreeMap::new();
        files.insert("README.md".to_string(), b"# Lab\n".to_vec());
        super::parse_raw(super::RawLab {
            file: file.to_string(),
            origin: "fuzz".into(),
            text: text.to_string(),
            files,
        })
    }
}

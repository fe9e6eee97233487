//! Finds the field a parse error is really about when serde lost it.
//!
//! serde buffers the content of internally tagged enums (a check's kind, a step's
//! action, an answer's `expect`) and of flattened structs, so an error inside them
//! carries only the path of the enclosing check or step. The field is recovered by
//! experiment on the parsed document: deserialize it again with one field removed, or
//! replaced by a marker, and see whether the error goes away or changes. This needs no
//! copy of the schema, so it cannot drift from the model.

use crate::model::Lab;
use serde_yaml::{Mapping, Value};

/// A string no lab file contains; an error that quotes it is about the field it replaced.
const MARKER: &str = "lab-probe-3f9c2a";

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

fn key_text(k: &Value) -> Option<String> {
    match k {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn find_key<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| key_text(k).as_deref() == Some(key))
        .map(|(_, v)| v)
}

fn get<'a>(v: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    segs.iter().try_fold(v, |cur, seg| match (seg, cur) {
        (Seg::Key(k), Value::Mapping(m)) => find_key(m, k),
        (Seg::Index(i), Value::Sequence(s)) => s.get(*i),
        _ => None,
    })
}

fn get_mut<'a>(v: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Value> {
    segs.iter().try_fold(v, |cur, seg| match (seg, cur) {
        (Seg::Key(k), Value::Mapping(m)) => m
            .iter_mut()
            .find(|(key, _)| key_text(key).as_deref() == Some(k.as_str()))
            .map(|(_, v)| v),
        (Seg::Index(i), Value::Sequence(s)) => s.get_mut(*i),
        _ => None,
    })
}

/// The document with the node at `segs` removed (`None` leaves it in place) or replaced.
fn edited(doc: &Value, segs: &[Seg], replacement: Option<Value>) -> Option<Value> {
    let (last, parent) = segs.split_last()?;
    let mut copy = doc.clone();
    let parent = get_mut(&mut copy, parent)?;
    match (last, parent, replacement) {
        (Seg::Key(k), Value::Mapping(m), None) => {
            let key = m
                .keys()
                .find(|key| key_text(key).as_deref() == Some(k))?
                .clone();
            m.remove(&key);
        }
        (Seg::Index(i), Value::Sequence(s), None) if *i < s.len() => {
            s.remove(*i);
        }
        (seg, parent, Some(v)) => {
            let slot = get_mut(parent, std::slice::from_ref(seg))?;
            *slot = v;
        }
        _ => return None,
    }
    Some(copy)
}

/// The error of reading `doc` as a lab, as serde_yaml words it.
fn error_of(doc: Value) -> Option<String> {
    serde_yaml::from_value::<Lab>(doc)
        .err()
        .map(|e| e.to_string())
}

fn join(parent: &str, seg: &Seg) -> String {
    match seg {
        Seg::Index(i) => format!("{parent}[{i}]"),
        Seg::Key(k) if parent.is_empty() => k.clone(),
        Seg::Key(k) => format!("{parent}.{k}"),
    }
}

/// Keys that choose a variant: changing them changes every error, so they are never
/// the culprit of an error about another field.
fn is_tag(parent: &str, key: &str) -> bool {
    key == "kind" || key == "action" || (key == "type" && parent.ends_with("expect"))
}

/// The deepest field at or below `path` that the error is about. A child is the
/// culprit when removing it changes the error (it was reached) and replacing its value
/// changes it too (its value, not its mere presence, caused it): a required sibling
/// read earlier fails the second test.
pub fn culprit(doc: &Value, path: &str) -> String {
    let Some(base) = error_of(doc.clone()) else {
        return path.to_string();
    };
    let mut cur = path.to_string();
    'descend: loop {
        let segs = segments(&cur);
        let children: Vec<Seg> = match get(doc, &segs) {
            Some(Value::Mapping(m)) => m
                .keys()
                .filter_map(key_text)
                .filter(|k| !is_tag(&cur, k))
                .map(Seg::Key)
                .collect(),
            Some(Value::Sequence(s)) => (0..s.len()).map(Seg::Index).collect(),
            _ => break,
        };
        for child in children {
            let mut child_segs = segs.clone();
            child_segs.push(child.clone());
            let changes = |replacement: Option<Value>| {
                edited(doc, &child_segs, replacement)
                    .is_some_and(|d| error_of(d).as_deref() != Some(base.as_str()))
            };
            if changes(None) && changes(Some(Value::String(MARKER.into()))) {
                cur = join(&cur, &child);
                continue 'descend;
            }
        }
        break;
    }
    cur
}

/// The mapping at or below `path` that lacks `field`: the deepest one where adding the
/// field makes the error go away or turn into one about the added value.
pub fn missing_home(doc: &Value, path: &str, field: &str) -> Option<String> {
    let mut maps = Vec::new();
    if let Some(start) = get(doc, &segments(path)) {
        collect_maps(start, path.to_string(), &mut maps);
    }
    // Deepest first; `sort_by_key` is stable, so document order breaks ties.
    maps.sort_by_key(|p| std::cmp::Reverse(segments(p).len()));
    maps.into_iter().find(|p| {
        let mut copy = doc.clone();
        match get_mut(&mut copy, &segments(p)) {
            Some(Value::Mapping(m)) if find_key(m, field).is_none() => {
                m.insert(Value::String(field.into()), Value::String(MARKER.into()));
            }
            _ => return false,
        }
        match error_of(copy) {
            None => true,
            Some(m) => m.contains(MARKER) && !m.contains("unknown field"),
        }
    })
}

/// The paths of every mapping at or below `v`, in document order.
fn collect_maps(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            out.push(path.clone());
            for (k, child) in m {
                if let Some(k) = key_text(k) {
                    collect_maps(child, join(&path, &Seg::Key(k)), out);
                }
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                collect_maps(child, join(&path, &Seg::Index(i)), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indexes() {
        assert_eq!(
            segments("exercises[1].checks[0].expect.of"),
            [
                Seg::Key("exercises".into()),
                Seg::Index(1),
                Seg::Key("checks".into()),
                Seg::Index(0),
                Seg::Key("expect".into()),
                Seg::Key("of".into()),
            ]
        );
        assert_eq!(segments(""), []);
    }

    const STEP: &str = "\
number: 1
slug: s
title: t
summary: s
setup:
  - action: compose_up
    services: {api: up}
    timeout: 5m
exercises: []
";

    #[test]
    fn the_culprit_is_the_field_whose_value_causes_the_error() {
        let doc: Value = serde_yaml::from_str(STEP).unwrap();
        assert_eq!(culprit(&doc, "setup[0]"), "setup[0].services");
        // A document without error keeps the path it was given.
        let fine: Value = serde_yaml::from_str(&STEP.replace("{api: up}", "[api]")).unwrap();
        assert_eq!(culprit(&fine, "setup[0]"), "setup[0]");
    }

    #[test]
    fn a_missing_field_belongs_to_the_deepest_mapping_that_takes_it() {
        let text = STEP.replace(
            "exercises: []",
            "exercises:\n  - id: e\n    title: t\n    checks:\n      - id: c\n        description: d\n        kind: answer\n        question: q\n        expect: {type: number, of: {literal: 1}}\n",
        )
        .replace("{api: up}", "[api]");
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            missing_home(&doc, "exercises[0].checks[0]", "tolerance").as_deref(),
            Some("exercises[0].checks[0].expect")
        );
        assert_eq!(
            missing_home(&doc, "exercises[0].checks[0]", "nothing"),
            None
        );
    }
}

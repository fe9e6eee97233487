//! A small path syntax into JSON values: `scrape_configs[0].job_name`, `data.result`,
//! `items[2]`. Keys with dots or brackets are written in quotes: `labels."app.kubernetes.io/name"`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse(path: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' if i > 0 => i += 1,
            b'[' => {
                let end = path[i..]
                    .find(']')
                    .ok_or_else(|| format!("unclosed `[` in path `{path}`"))?
                    + i;
                let n = path[i + 1..end].trim().parse().map_err(|_| {
                    format!("`{}` is not an index in path `{path}`", &path[i + 1..end])
                })?;
                segs.push(Seg::Index(n));
                i = end + 1;
            }
            b'"' => {
                let end = path[i + 1..]
                    .find('"')
                    .ok_or_else(|| format!("unclosed quote in path `{path}`"))?
                    + i
                    + 1;
                segs.push(Seg::Key(path[i + 1..end].to_string()));
                i = end + 1;
            }
            _ => {
                let end = path[i..].find(['.', '[']).map(|e| e + i).unwrap_or(b.len());
                if end == i {
                    return Err(format!("empty key in path `{path}`"));
                }
                segs.push(Seg::Key(path[i..end].to_string()));
                i = end;
            }
        }
    }
    Ok(segs)
}

/// The value at `path`, `Ok(None)` when it is absent, `Err` for a malformed path.
pub fn select<'a>(v: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let mut cur = v;
    for seg in parse(path)? {
        let next = match (&seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get(k),
            (Seg::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// Equality as a trainee means it: `9090` equals `"9090"`, `true` equals `"true"`.
pub fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(s), other) | (other, Value::String(s)) if !other.is_string() => {
            match other {
                Value::Number(n) => s.parse::<f64>().ok() == n.as_f64(),
                Value::Bool(x) => s.eq_ignore_ascii_case(&x.to_string()),
                _ => false,
            }
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A short rendering for expected/actual columns.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => {
            let s = other.to_string();
            if s.len() > 120 {
                crate::text::clip(&s, 120)
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_keys_indexes_and_quoted_keys() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": 2}]}, "x.y": {"z": true}});
        assert_eq!(select(&v, "a.b[1].c").unwrap(), Some(&json!(2)));
        assert_eq!(select(&v, "\"x.y\".z").unwrap(), Some(&json!(true)));
        assert_eq!(select(&v, "a.b[5].c").unwrap(), None);
        assert_eq!(select(&v, "a.missing").unwrap(), None);
        assert!(select(&v, "a.b[x]").is_err());
        assert!(select(&v, "a.b[0").is_err());
    }

    #[test]
    fn loose_equality_treats_yaml_scalars_as_a_trainee_would() {
        assert!(loosely_equal(&json!("9090"), &json!(9090)));
        assert!(loosely_equal(&json!(true), &json!("true")));
        assert!(loosely_equal(&json!(1.0), &json!(1)));
        assert!(!loosely_equal(&json!("9091"), &json!(9090)));
        assert!(!loosely_equal(&json!([1]), &json!("1")));
    }
}

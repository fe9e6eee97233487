//! `file` checks: a file in the environment's folder exists, matches a regex, or
//! holds a value at a YAML or JSON path.

use super::{Ctx, Observation, ProbeResult};
use crate::model::check::{FileCheck, ValueAt};
use crate::model::jsonpath::{loosely_equal, select, show};

pub async fn probe(c: &FileCheck, ctx: &Ctx) -> ProbeResult {
    let path = ctx.target.path(&c.path);
    let text = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(if c.exists {
                Observation::fail(format!("{} exists", c.path), "no such file")
            } else {
                Observation::pass(format!("{} is absent", c.path))
            });
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if !c.exists {
        return Ok(Observation::fail(
            format!("{} is absent", c.path),
            "the file exists",
        ));
    }
    let text = String::from_utf8_lossy(&text);
    if let Some(pattern) = &c.contains {
        let re = regex::Regex::new(pattern).map_err(|e| format!("invalid regex: {e}"))?;
        match re.find(&text) {
            Some(m) => {
                if c.yaml.is_none() && c.json.is_none() {
                    return Ok(Observation::pass(format!(
                        "matched {:?}",
                        crate::text::clip(m.as_str(), 80)
                    )));
                }
            }
            None => {
                return Ok(Observation::fail(
                    format!("{} contains /{pattern}/", c.path),
                    "no line matches",
                ))
            }
        }
    }
    if let Some(at) = &c.yaml {
        let doc = crate::loader::yaml_value(&text)
            .map_err(|e| format!("{} is not valid YAML: {e}", c.path))?;
        return Ok(compare(&c.path, &doc, at));
    }
    if let Some(at) = &c.json {
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", c.path))?;
        return Ok(compare(&c.path, &doc, at));
    }
    Ok(Observation::pass(format!("{} exists", c.path)))
}

/// Compares the value at `at.path` with `at.equals`; shared with the http check.
pub fn compare(what: &str, doc: &serde_json::Value, at: &ValueAt) -> Observation {
    let expected = format!("{} = {}", at.path, show(&at.equals));
    match select(doc, &at.path) {
        Err(e) => Observation::fail(expected, e),
        Ok(None) => Observation::fail(expected, format!("{what} has no {}", at.path)),
        Ok(Some(v)) if loosely_equal(v, &at.equals) => {
            Observation::pass(format!("{} = {}", at.path, show(v)))
        }
        Ok(Some(v)) => Observation::fail(expected, format!("{} = {}", at.path, show(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::ctx_in;
    use serde_json::json;

    fn check(path: &str) -> FileCheck {
        FileCheck {
            path: path.into(),
            exists: true,
            contains: None,
            yaml: None,
            json: None,
        }
    }

    #[tokio::test]
    async fn missing_file_fails_and_absent_requirement_passes() {
        let dir = tempdir();
        let ctx = ctx_in(dir.path());
        let r = probe(&check("nope.yml"), &ctx).await.unwrap();
        assert_eq!(r, Observation::fail("nope.yml exists", "no such file"));
        let r = probe(
            &FileCheck {
                exists: false,
                ..check("nope.yml")
            },
            &ctx,
        )
        .await
        .unwrap();
        assert!(matches!(r, Observation::Pass { .. }));
    }

    #[tokio::test]
    async fn yaml_path_is_compared_after_merges() {
        let dir = tempdir();
        std::fs::write(
            dir.path().join("p.yml"),
            "base: &b\n  job_name: api\nscrape_configs:\n  - <<: *b\n    scheme: http\n",
        )
        .unwrap();
        let ctx = ctx_in(dir.path());
        let mut c = check("p.yml");
        c.yaml = Some(ValueAt {
            path: "scrape_configs[0].job_name".into(),
            equals: json!("api"),
        });
        assert!(matches!(
            probe(&c, &ctx).await.unwrap(),
            Observation::Pass { .. }
        ));
        c.yaml = Some(ValueAt {
            path: "scrape_configs[0].job_name".into(),
            equals: json!("catalog"),
        });
        assert_eq!(
            probe(&c, &ctx).await.unwrap(),
            Observation::fail(
                "scrape_configs[0].job_name = \"catalog\"",
                "scrape_configs[0].job_name = \"api\""
            )
        );
    }

    #[tokio::test]
    async fn contains_reports_the_pattern_when_nothing_matches() {
        let dir = tempdir();
        std::fs::write(dir.path().join("a.txt"), "hello\n").unwrap();
        let ctx = ctx_in(dir.path());
        let c = FileCheck {
            contains: Some("wor+ld".into()),
            ..check("a.txt")
        };
        assert_eq!(
            probe(&c, &ctx).await.unwrap(),
            Observation::fail("a.txt contains /wor+ld/", "no line matches")
        );
    }

    #[tokio::test]
    async fn invalid_json_is_an_error_naming_the_file() {
        let dir = tempdir();
        std::fs::write(dir.path().join("d.json"), "{nope").unwrap();
        let ctx = ctx_in(dir.path());
        let c = FileCheck {
            json: Some(ValueAt {
                path: "a".into(),
                equals: json!(1),
            }),
            ..check("d.json")
        };
        let e = probe(&c, &ctx).await.unwrap_err();
        assert!(e.starts_with("d.json is not valid JSON"), "{e}");
    }

    fn tempdir() -> crate::probe::testing::TempDir {
        crate::probe::testing::TempDir::new()
    }
}

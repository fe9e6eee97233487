//! `file` checks: a file in the environment's folder exists, matches a regex, or
//! holds a value at a YAML or JSON path.

use super::{Ctx, Observation, ProbeResult};
use crate::model::check::{FileCheck, ValueAt};
use crate::model::jsonpath::{loosely_equal, select, show};

pub async fn probe(c: &FileCheck, ctx: &Ctx) -> ProbeResult {
    let path = ctx.target.path(&c.path);
    // At most the check's size cap (`max_body`) is read: a trainee's huge file costs
    // neither memory nor time.
    let cap = super::max_body();
    let text = match read_capped(&path, cap).await {
        Ok(text) => text,
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
    let Some(text) = text else {
        return Err(format!(
            "{} is larger than {}, more than a file check reads (the check's `max_body` can raise it)",
            c.path,
            super::show_size(cap)
        ));
    };
    // Matching and parsing run off the async threads, so the check's timeout (and a
    // grading deadline) fires on time even while a deep YAML file is being parsed.
    let c = c.clone();
    super::off_thread(move || judge(&c, &text)).await?
}

/// The file's first `cap` bytes; `None` when it holds more.
async fn read_capped(path: &std::path::Path, cap: usize) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let f = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    let limit = cap as u64 + 1;
    f.take(limit).read_to_end(&mut bytes).await?;
    Ok((bytes.len() <= cap).then_some(bytes))
}

fn judge(c: &FileCheck, text: &[u8]) -> ProbeResult {
    let text = String::from_utf8_lossy(text);
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
    async fn a_file_larger_than_the_cap_is_not_read_into_memory() {
        // Found by issue 14: a trainee's huge file was read whole.
        let dir = tempdir();
        std::fs::write(dir.path().join("big.yml"), vec![b'a'; 4096 + 1]).unwrap();
        let ctx = ctx_in(dir.path());
        let e = crate::probe::MAX_BODY
            .scope(4096, probe(&check("big.yml"), &ctx))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            "big.yml is larger than 4 KiB, more than a file check reads (the check's `max_body` can raise it)"
        );
        std::fs::write(dir.path().join("big.yml"), vec![b'a'; 4096]).unwrap();
        let r = crate::probe::MAX_BODY
            .scope(4096, probe(&check("big.yml"), &ctx))
            .await
            .unwrap();
        assert!(matches!(r, Observation::Pass { .. }), "{r:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_timeout_fires_while_a_large_yaml_file_is_parsed() {
        // Found by issue 14: parsing ran on the async thread, so a check's timeout
        // (and `lab grade --deadline`) waited for the parser to finish.
        let dir = tempdir();
        let mut yaml = String::new();
        for i in 0..50_000 {
            yaml.push_str(&format!("k{i}: [a, {{b: [c, d]}}, e]\n"));
        }
        std::fs::write(dir.path().join("big.yml"), &yaml).unwrap();
        let ctx = ctx_in(dir.path());
        let c = FileCheck {
            yaml: Some(ValueAt {
                path: "k1".into(),
                equals: json!("x"),
            }),
            ..check("big.yml")
        };
        let started = std::time::Instant::now();
        let parsed = crate::probe::MAX_BODY.scope(64 << 20, async {
            let t = std::time::Instant::now();
            let _ = probe(&c, &ctx).await;
            t.elapsed()
        });
        // The parse alone, for the figure the timeout is compared with.
        let whole = parsed.await;
        let limit = whole / 4;
        let started_again = std::time::Instant::now();
        let r = tokio::time::timeout(
            limit,
            crate::probe::MAX_BODY.scope(64 << 20, probe(&c, &ctx)),
        )
        .await;
        let took = started_again.elapsed();
        assert!(r.is_err(), "the parse ({whole:?}) ended within {limit:?}");
        // Without the parse off the async thread, the timeout fired only once the
        // parse was over (`took` ~ `whole`).
        assert!(
            took < whole / 2,
            "a {limit:?} timeout fired after {took:?} (parse {whole:?}, {:?} in all)",
            started.elapsed()
        );
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

//! `anchore_image`: an image's analysis status in Anchore (v2 API), or how many
//! images have a status.

use super::{Ctx, Observation, ProbeResult};
use crate::client::anchore::{images, Images};
use crate::model::check::AnchoreImageCheck;
use crate::model::image::normalise;
use crate::text::count;
use serde_json::Value;
use std::collections::BTreeMap;

pub async fn image(c: &AnchoreImageCheck, ctx: &Ctx) -> ProbeResult {
    let wanted = c.tag.as_deref().map(normalise);
    let items = match images(ctx.call(), &ctx.target.anchore, wanted.as_deref()).await? {
        Images::Items(items) => items,
        // A filter that matches nothing may be answered "not found".
        Images::NoSuchTag(msg) => {
            let tag = wanted.as_deref().unwrap_or_default();
            return Ok(Observation::fail(
                format!("image {tag} {}", c.status),
                format!("no image {tag} in Anchore ({msg})"),
            ));
        }
    };
    let images: Vec<Image> = items.iter().map(Image::of).collect();
    Ok(match &wanted {
        Some(tag) => by_tag(tag, &c.status, &images),
        None => by_count(&c.status, c.at_least.unwrap_or(1), &images),
    })
}

/// What the probe reads of an `AnchoreImage`.
struct Image {
    digest: String,
    status: String,
    tags: Vec<String>,
}

impl Image {
    fn of(v: &Value) -> Image {
        let text = |v: &Value, keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .unwrap_or("")
                .to_string()
        };
        let tags = v
            .get("image_detail")
            .and_then(Value::as_array)
            .map(|details| {
                details
                    .iter()
                    // v2 writes `full_tag`; the v1 API wrote `fulltag`.
                    .map(|d| text(d, &["full_tag", "fulltag"]))
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Image {
            digest: text(v, &["image_digest", "imageDigest"]),
            status: text(v, &["analysis_status"]),
            tags,
        }
    }
}

fn by_tag(tag: &str, want: &str, images: &[Image]) -> Observation {
    let expected = format!("image {tag} {want}");
    let found: Vec<&Image> = images
        .iter()
        .filter(|i| i.tags.iter().any(|t| normalise(t) == tag))
        .collect();
    if found.is_empty() {
        return Observation::fail(expected, format!("no image {tag} in Anchore"));
    }
    if let Some(i) = found.iter().find(|i| i.status == want) {
        return Observation::pass(format!("{tag} {want} ({})", short_digest(&i.digest)));
    }
    let statuses: Vec<String> = found.iter().map(|i| shown_status(&i.status)).collect();
    Observation::fail(expected, format!("{tag} is {}", statuses.join(", ")))
}

fn by_count(want: &str, at_least: usize, images: &[Image]) -> Observation {
    let n = images.iter().filter(|i| i.status == want).count();
    let summary = format!("{} {want}", count(n, "image"));
    if n >= at_least {
        return Observation::pass(summary);
    }
    let expected = format!("at least {} {want}", count(at_least, "image"));
    if images.is_empty() {
        return Observation::fail(expected, "Anchore has no images");
    }
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for i in images.iter().filter(|i| i.status != want) {
        *by_status.entry(shown_status(&i.status)).or_default() += 1;
    }
    let others: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    Observation::fail(
        expected,
        format!("{summary} (of {}: {})", images.len(), others.join(", ")),
    )
}

fn shown_status(s: &str) -> String {
    if s.is_empty() {
        "without an analysis status".into()
    } else {
        s.to_string()
    }
}

fn short_digest(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    if hex.chars().count() > 12 {
        format!("sha256:{}…", hex.chars().take(12).collect::<String>())
    } else {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testserver::{self as ts, Reply, Routes, TestServer};
    use serde_json::json;
    use std::time::{Duration, Instant};

    const PG: &str = "sha256:07ad6d63a1ba8e42bbb3b7b9e7d6a7b3b4f5b2f0e4d3c2b1a0f9e8d7c6b5a4f3";

    fn anchore_image(repo: &str, tag: &str, digest: &str, status: &str) -> Value {
        json!({
            "account_name": "admin",
            "analysis_status": status,
            "annotations": {},
            "created_at": "2024-08-18T12:59:10Z",
            "image_content": {"metadata": {"arch": "amd64", "distro": "debian", "distro_version": "12", "layer_count": 14}},
            "image_detail": [{
                "account_name": "admin",
                "created_at": "2024-08-18T12:59:10Z",
                "full_digest": format!("docker.io/{repo}@{digest}"),
                "full_tag": format!("docker.io/{repo}:{tag}"),
                "image_digest": digest,
                "image_id": "b781f3a53e61df916d97dcd1d4a3b0c9b8e7f6a5d4c3b2a1f0e9d8c7b6a5f4e3",
                "last_updated": "2024-08-18T13:00:32Z",
                "registry": "docker.io",
                "repo": repo,
                "tag": tag,
                "tag_detected_at": "2024-08-18T12:59:10Z"
            }],
            "image_digest": digest,
            "image_status": "active",
            "last_updated": "2024-08-18T13:00:32Z",
            "parent_digest": digest,
            "record_version": "v2"
        })
    }

    fn check(tag: Option<&str>, status: &str, at_least: Option<usize>) -> AnchoreImageCheck {
        AnchoreImageCheck {
            tag: tag.map(str::to_string),
            status: status.into(),
            at_least,
        }
    }

    async fn listing(items: Vec<Value>) -> TestServer {
        TestServer::start(
            Routes::new().get("/v2/images", Reply::json(200, json!({ "items": items }))),
        )
        .await
    }

    async fn run(c: &AnchoreImageCheck, srv: &TestServer) -> ProbeResult {
        let r = image(c, &ts::ctx(&srv.url, Duration::from_secs(3))).await;
        ts::assert_no_password(&r);
        r
    }

    #[test]
    fn tags_are_normalised_as_anchore_records_them() {
        for (given, want) in [
            ("postgres", "docker.io/library/postgres:latest"),
            ("postgres:latest", "docker.io/library/postgres:latest"),
            ("library/postgres", "docker.io/library/postgres:latest"),
            (
                "docker.io/library/postgres:13",
                "docker.io/library/postgres:13",
            ),
            ("index.docker.io/nginx:1.27", "docker.io/library/nginx:1.27"),
            (
                "anchore/enterprise:v5.7.0",
                "docker.io/anchore/enterprise:v5.7.0",
            ),
            (
                "quay.io/prometheus/prometheus",
                "quay.io/prometheus/prometheus:latest",
            ),
            ("localhost:5000/app:v1", "localhost:5000/app:v1"),
            (
                "myhost.com:5000/testimages:v1.1.1",
                "myhost.com:5000/testimages:v1.1.1",
            ),
            (
                "postgres@sha256:abc",
                "docker.io/library/postgres@sha256:abc",
            ),
        ] {
            assert_eq!(normalise(given), want, "{given}");
        }
    }

    #[tokio::test]
    async fn anchore_tag_analyzed_passes_with_the_normalised_full_tag_and_credentials() {
        let srv = listing(vec![anchore_image(
            "library/postgres",
            "latest",
            PG,
            "analyzed",
        )])
        .await;
        let r = run(&check(Some("postgres:latest"), "analyzed", None), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                "docker.io/library/postgres:latest analyzed (sha256:07ad6d63a1ba…)"
            ))
        );
        let req = &srv.requests()[0];
        assert_eq!(
            req.param("full_tag").as_deref(),
            Some("docker.io/library/postgres:latest")
        );
        assert_eq!(
            req.header("authorization"),
            Some(ts::basic("admin", ts::ANCHORE_PASSWORD).as_str())
        );
    }

    #[tokio::test]
    async fn anchore_tag_with_another_status_fails_with_both() {
        let srv = listing(vec![anchore_image(
            "library/postgres",
            "latest",
            PG,
            "analyzing",
        )])
        .await;
        let r = run(&check(Some("postgres"), "analyzed", None), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "image docker.io/library/postgres:latest analyzed",
                "docker.io/library/postgres:latest is analyzing"
            ))
        );
    }

    #[tokio::test]
    async fn anchore_unknown_tag_fails_saying_it_is_not_in_anchore() {
        let srv = listing(vec![]).await;
        let r = run(&check(Some("library/postgres"), "analyzed", None), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "image docker.io/library/postgres:latest analyzed",
                "no image docker.io/library/postgres:latest in Anchore"
            ))
        );
        let srv = TestServer::start(Routes::new().get(
            "/v2/images",
            Reply::json(
                404,
                json!({"code": 404, "error_type": "ResourceNotFound", "message": "image data not found in DB", "detail": {}}),
            ),
        ))
        .await;
        let r = run(&check(Some("postgres"), "analyzed", None), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "image docker.io/library/postgres:latest analyzed",
                "no image docker.io/library/postgres:latest in Anchore (image data not found in DB)"
            ))
        );
    }

    #[tokio::test]
    async fn anchore_tag_is_matched_even_when_the_server_ignores_the_filter() {
        let srv = listing(vec![
            anchore_image("library/nginx", "latest", "sha256:1111", "analyzed"),
            anchore_image("library/postgres", "13", "sha256:2222", "analyzed"),
            anchore_image("library/postgres", "latest", PG, "analysis_failed"),
        ])
        .await;
        let r = run(&check(Some("postgres"), "analyzed", None), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "image docker.io/library/postgres:latest analyzed",
                "docker.io/library/postgres:latest is analysis_failed"
            ))
        );
        let r = run(&check(Some("postgres"), "analysis_failed", None), &srv).await;
        assert!(matches!(r, Ok(Observation::Pass { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn anchore_counts_images_with_the_status() {
        let srv = listing(vec![
            anchore_image("library/nginx", "latest", "sha256:1111", "analyzed"),
            anchore_image("library/postgres", "13", "sha256:2222", "analyzing"),
            anchore_image("library/redis", "7", "sha256:3333", "not_analyzed"),
            anchore_image("library/alpine", "3", "sha256:4444", "not_analyzed"),
        ])
        .await;
        let r = run(&check(None, "analyzed", None), &srv).await;
        assert_eq!(r, Ok(Observation::pass("1 image analyzed")));
        let r = run(&check(None, "analyzed", Some(2)), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "at least 2 images analyzed",
                "1 image analyzed (of 4: 1 analyzing, 2 not_analyzed)"
            ))
        );
        assert_eq!(srv.requests()[0].query, "");
        let empty = listing(vec![]).await;
        let r = run(&check(None, "analyzed", None), &empty).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "at least 1 image analyzed",
                "Anchore has no images"
            ))
        );
    }

    #[tokio::test]
    async fn anchore_rejected_credentials_err_names_url_and_variable_not_password() {
        let srv = TestServer::start(Routes::new().get(
            "/v2/images",
            Reply::json(
                401,
                json!({"code": 401, "error_type": "Unauthorized", "message": "Unauthorized", "detail": {}}),
            ),
        ))
        .await;
        let r = run(&check(Some("postgres"), "analyzed", None), &srv).await;
        let e = r.expect_err("401");
        assert!(e.contains(&format!("{}/v2/images", srv.url)), "{e}");
        assert!(!e.contains("full_tag"), "{e}");
        assert!(
            e.contains("rejected the credentials of user `admin`"),
            "{e}"
        );
        assert!(e.contains("LAB_ANCHORE_PASSWORD"), "{e}");
    }

    #[tokio::test]
    async fn anchore_error_and_garbage_answers_err() {
        let srv = TestServer::start(Routes::new().get(
            "/v2/images",
            Reply::json(
                500,
                json!({"code": 500, "error_type": "InternalError", "message": "db unavailable", "detail": {}}),
            ),
        ))
        .await;
        let e = run(&check(None, "analyzed", None), &srv)
            .await
            .expect_err("500");
        assert!(e.ends_with("answered HTTP 500: db unavailable"), "{e}");
        let srv = TestServer::start(
            Routes::new().get("/v2/images", Reply::json(200, json!({"images": 3}))),
        )
        .await;
        let e = run(&check(None, "analyzed", None), &srv)
            .await
            .expect_err("shape");
        assert!(e.starts_with("unexpected answer from"), "{e}");
    }

    #[tokio::test]
    async fn anchore_unreachable_or_hanging_errs_naming_the_url() {
        let url = ts::refused_url().await;
        let r = image(
            &check(Some("postgres"), "analyzed", None),
            &ts::ctx(&url, Duration::from_secs(2)),
        )
        .await;
        ts::assert_no_password(&r);
        let e = r.expect_err("refused");
        assert!(
            e.starts_with(&format!("cannot connect to {url}/v2/images")),
            "{e}"
        );
        let srv = TestServer::hanging().await;
        let started = Instant::now();
        let r = image(
            &check(None, "analyzed", None),
            &ts::ctx(&srv.url, Duration::from_millis(300)),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(2));
        ts::assert_no_password(&r);
        let e = r.expect_err("hang");
        assert!(e.contains("no answer from"), "{e}");
        let req = &srv.requests()[0];
        assert_eq!(
            req.header("authorization"),
            Some(ts::basic("admin", ts::ANCHORE_PASSWORD).as_str())
        );
    }
}

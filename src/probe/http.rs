//! `http`: a GET whose status, body and JSON content are compared with the check.

use super::{Ctx, Endpoint, Observation, ProbeResult};
use crate::client::{base, body_hint, one_line};
use crate::model::check::{Auth, HttpCheck};
use crate::model::jsonpath::{loosely_equal, select, show};
use serde_json::Value;

pub async fn probe(c: &HttpCheck, ctx: &Ctx) -> ProbeResult {
    let url = ctx.target.url(&c.url);
    let auth: Option<&Endpoint> = match c.auth {
        Auth::None => None,
        Auth::Anchore => Some(&ctx.target.anchore),
        Auth::Grafana => Some(&ctx.target.grafana),
    };
    let (status, body) = ctx.get(&url, auth).await?;
    if status == 401 && c.status != 401 && c.auth == Auth::Grafana {
        return Ok(Observation::fail(
            format!("HTTP {}", c.status),
            crate::client::grafana::refusal(&ctx.target.grafana, false),
        ));
    }
    if status != c.status {
        return Ok(Observation::fail(
            format!("HTTP {}", c.status),
            format!("HTTP {status}{}", body_hint(&body)),
        ));
    }
    let mut seen = vec![format!("HTTP {status}")];
    if let Some(pattern) = &c.body {
        let re = regex::Regex::new(pattern)
            .map_err(|e| format!("invalid body regex {pattern:?}: {e}"))?;
        if !re.is_match(&body) {
            return Ok(Observation::fail(
                format!("HTTP {status} with a body matching /{pattern}/"),
                format!("HTTP {status}, body: {}", one_line(&body, 120)),
            ));
        }
        seen.push(format!("body matches /{pattern}/"));
    }
    if let Some(want) = &c.json {
        let doc: Value = serde_json::from_str(&body)
            .map_err(|e| format!("{} did not answer JSON: {e}", base(&url)))?;
        let expected = format!("{} = {}", want.path, show(&want.equals));
        match select(&doc, &want.path)? {
            None => {
                return Ok(Observation::fail(
                    expected,
                    format!("{} is absent from the answer", want.path),
                ))
            }
            Some(v) if !loosely_equal(v, &want.equals) => {
                return Ok(Observation::fail(
                    expected,
                    format!("{} = {}", want.path, show(v)),
                ))
            }
            Some(v) => seen.push(format!("{} = {}", want.path, show(v))),
        }
    }
    Ok(Observation::pass(seen.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::check::ValueAt;
    use crate::probe::testserver::{self as ts, Reply, Routes, TestServer};
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn check(url: &str) -> HttpCheck {
        HttpCheck {
            url: url.into(),
            auth: Auth::None,
            status: 200,
            body: None,
            json: None,
        }
    }

    fn quick(url: &str) -> Ctx {
        ts::ctx(url, Duration::from_secs(3))
    }

    #[tokio::test]
    async fn http_passes_on_status_body_and_json_value() {
        let srv = TestServer::start(Routes::new().get(
            "/api/health",
            Reply::json(200, json!({"database": "ok", "version": "11.1.3"})),
        ))
        .await;
        let mut c = check("{grafana}/api/health");
        c.body = Some("database".into());
        c.json = Some(ValueAt {
            path: "database".into(),
            equals: json!("ok"),
        });
        let r = probe(&c, &quick(&srv.url)).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                "HTTP 200; body matches /database/; database = \"ok\""
            ))
        );
    }

    #[tokio::test]
    async fn http_wrong_status_fails_with_both_statuses() {
        let srv = TestServer::start(Routes::new().get(
            "/metrics",
            Reply::text(401, "{\"detail\": \"Unauthorized\"}"),
        ))
        .await;
        let r = probe(&check("{anchore}/metrics"), &quick(&srv.url)).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "HTTP 200",
                "HTTP 401: {\"detail\": \"Unauthorized\"}"
            ))
        );
    }

    #[tokio::test]
    async fn http_json_mismatch_and_absence_fail_with_the_path() {
        let srv = TestServer::start(Routes::new().get(
            "/v2/version",
            Reply::json(200, json!({"api": {"version": "2"}})),
        ))
        .await;
        let mut c = check("{anchore}/v2/version");
        c.json = Some(ValueAt {
            path: "api.version".into(),
            equals: json!(1),
        });
        let r = probe(&c, &quick(&srv.url)).await;
        assert_eq!(
            r,
            Ok(Observation::fail("api.version = 1", "api.version = \"2\""))
        );
        c.json = Some(ValueAt {
            path: "service.version".into(),
            equals: json!("2"),
        });
        let r = probe(&c, &quick(&srv.url)).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "service.version = \"2\"",
                "service.version is absent from the answer"
            ))
        );
    }

    #[tokio::test]
    async fn http_body_regex_mismatch_fails_showing_the_body() {
        let srv =
            TestServer::start(Routes::new().get("/metrics", Reply::text(200, "# HELP up\nup 1\n")))
                .await;
        let mut c = check("{anchore}/metrics");
        c.body = Some("anchore_analysis_.*".into());
        let r = probe(&c, &quick(&srv.url)).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "HTTP 200 with a body matching /anchore_analysis_.*/",
                "HTTP 200, body: # HELP up up 1"
            ))
        );
    }

    #[tokio::test]
    async fn http_sends_the_chosen_credentials_and_never_shows_them() {
        let srv = TestServer::start(
            Routes::new().get("/v2/images", Reply::json(401, json!({"message": "no"}))),
        )
        .await;
        let mut c = check("{anchore}/v2/images");
        c.auth = Auth::Anchore;
        let r = probe(&c, &quick(&srv.url)).await;
        assert!(matches!(r, Ok(Observation::Fail { .. })), "{r:?}");
        ts::assert_no_password(&r);
        c.auth = Auth::Grafana;
        let _ = probe(&c, &quick(&srv.url)).await;
        c.auth = Auth::None;
        let _ = probe(&c, &quick(&srv.url)).await;
        let reqs = srv.requests();
        assert_eq!(
            reqs[0].header("authorization"),
            Some(ts::basic("admin", ts::ANCHORE_PASSWORD).as_str())
        );
        assert_eq!(
            reqs[1].header("authorization"),
            Some(ts::basic("admin", ts::GRAFANA_PASSWORD).as_str())
        );
        assert_eq!(reqs[2].header("authorization"), None);
    }

    #[tokio::test]
    async fn http_json_check_on_non_json_errs() {
        let srv = TestServer::start(Routes::new().get("/", Reply::text(200, "<html>"))).await;
        let mut c = check("{grafana}/");
        c.json = Some(ValueAt {
            path: "a".into(),
            equals: json!(1),
        });
        let r = probe(&c, &quick(&srv.url)).await;
        let e = r.expect_err("not JSON");
        assert!(e.contains(&srv.url) && e.contains("JSON"), "{e}");
    }

    #[tokio::test]
    async fn http_refused_connection_errs_naming_the_url() {
        let url = ts::refused_url().await;
        let r = probe(&check("{prometheus}/-/ready"), &quick(&url)).await;
        let e = r.expect_err("refused");
        assert!(
            e.starts_with(&format!("cannot connect to {url}/-/ready")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn http_hanging_server_errs_at_the_deadline() {
        let srv = TestServer::hanging().await;
        let started = Instant::now();
        let mut c = check("{anchore}/v2/images");
        c.auth = Auth::Anchore;
        let r = probe(&c, &ts::ctx(&srv.url, Duration::from_millis(300))).await;
        let took = started.elapsed();
        let e = r.clone().expect_err("hang");
        assert!(e.contains("no answer from") && e.contains(&srv.url), "{e}");
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "{took:?}"
        );
        ts::assert_no_password(&r);
    }

    /// A server that answers HTTP 200 and then sends `chunk` every `pause`, forever.
    async fn streaming(chunk: usize, pause: Duration) -> String {
        use tokio::io::AsyncWriteExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut req = [0u8; 4096];
                    let _ = tokio::io::AsyncReadExt::read(&mut s, &mut req).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                        .await;
                    let block = vec![b'x'; chunk];
                    while s.write_all(&block).await.is_ok() {
                        tokio::time::sleep(pause).await;
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn an_endless_body_is_cut_at_the_cap_not_read_whole() {
        // Found by issue 14: a 2 GB body took `lab check` to several GB.
        let url = streaming(64 << 10, Duration::ZERO).await;
        let started = Instant::now();
        let r = crate::probe::MAX_BODY
            .scope(1 << 20, probe(&check("{anchore}/metrics"), &quick(&url)))
            .await;
        let e = r.expect_err("too big");
        assert!(
            e.contains("larger than 1 MiB") && e.contains("max_body"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_server_still_streaming_at_the_deadline_is_not_called_silent() {
        // Found by issue 14: "did not respond" for a server that was sending.
        let url = streaming(10, Duration::from_millis(50)).await;
        let r = probe(
            &check("{anchore}/metrics"),
            &ts::ctx(&url, Duration::from_millis(400)),
        )
        .await;
        let e = r.expect_err("never ends");
        assert!(
            e.contains("still sending") && !e.contains("did not respond"),
            "{e}"
        );
    }
}

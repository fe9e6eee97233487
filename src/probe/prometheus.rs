//! `prometheus_query` (an instant query whose series are counted and compared) and
//! `prometheus_targets` (the health of the scrape targets).

use super::scrape::Loaded;
use super::{Cause, Ctx, Endpoint, Observation, ProbeResult};
use crate::client::{base, json_answer, with_query};
use crate::engine::containers::Member;
use crate::model::check::{PrometheusConfigCheck, PrometheusQueryCheck, PrometheusTargetsCheck};
use crate::model::compare::{parse_number, show_number};
pub use crate::model::compare::{Comparison, Op};
use crate::text::{clip, count};
use serde_json::Value;
use std::collections::BTreeMap;

/// One series of an instant query's answer.
#[derive(Debug, Clone)]
struct Series {
    labels: BTreeMap<String, String>,
    /// The value as Prometheus wrote it.
    raw: String,
    value: f64,
}

impl Series {
    fn carries(&self, want: &BTreeMap<String, String>) -> bool {
        want.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }

    /// `name{a="b"} = 1`, or `<query> = 1` for a series without labels (an aggregate).
    fn show(&self, query: &str) -> String {
        let name = if self.labels.is_empty() {
            clip(query.trim(), 60)
        } else {
            selector(&self.labels)
        };
        format!("{name} = {}", self.raw)
    }
}

/// `name{k="v",…}` as Prometheus prints a series.
fn selector(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__").cloned().unwrap_or_default();
    let rest = braces(labels.iter().filter(|(k, _)| *k != "__name__"));
    if !name.is_empty() && rest == "{}" {
        name
    } else {
        format!("{name}{rest}")
    }
}

fn braces<'a>(labels: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let inner: Vec<String> = labels.map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn prometheus_auth(ep: &Endpoint) -> Option<&Endpoint> {
    (!ep.user.is_empty()).then_some(ep)
}

/// Runs an instant query and returns its series.
async fn instant(query: &str, ctx: &Ctx) -> Result<Vec<Series>, String> {
    let endpoint = format!("{}/api/v1/query", ctx.target.prometheus.url);
    let url = with_query(&endpoint, &[("query", query)])?;
    let (status, body) = ctx
        .get(&url, prometheus_auth(&ctx.target.prometheus))
        .await?;
    let doc = json_answer(&url, status, &body)?;
    if doc.get("status").and_then(Value::as_str) != Some("success") {
        let kind = doc
            .get("errorType")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let msg = doc
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        return Err(format!(
            "Prometheus at {} rejected the query `{query}` (HTTP {status}, {kind}): {msg}",
            base(&endpoint)
        ));
    }
    let data = doc.get("data").unwrap_or(&Value::Null);
    let result = data.get("result").unwrap_or(&Value::Null);
    let unexpected = || format!("unexpected answer from {endpoint}: {}", clip(&body, 120));
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => result
            .as_array()
            .ok_or_else(unexpected)?
            .iter()
            .map(|s| {
                let labels = s
                    .get("metric")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                sample(s.get("value"))
                    .or_else(|| histogram(s.get("histogram")))
                    .map(|(raw, value)| Series { labels, raw, value })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(unexpected),
        Some("scalar") => {
            let (raw, value) = sample(Some(result)).ok_or_else(unexpected)?;
            Ok(vec![Series {
                labels: BTreeMap::new(),
                raw,
                value,
            }])
        }
        Some("matrix") => Err(format!(
            "the query `{query}` returns a range vector; an instant query needs an instant vector (drop the `[…]` range or wrap it in a function such as rate())"
        )),
        Some("string") => {
            let text = result.get(1).and_then(Value::as_str).ok_or_else(unexpected)?;
            Err(format!(
                "the query `{query}` returns the string {:?}, not a number",
                clip(text, 60)
            ))
        }
        Some(other) => Err(format!(
            "the query `{query}` returns a {other}, not a number"
        )),
        None => Err(unexpected()),
    }
}

/// The value of the first series an instant query returns (for answers compared with
/// a measured value); an empty answer or a NaN is an error that names the query.
pub async fn first_value(ctx: &Ctx, query: &str) -> Result<f64, String> {
    let series = instant(query, ctx).await?;
    match series.first() {
        None => Err(format!("Prometheus has no data for `{query}` yet")),
        Some(s) if s.value.is_nan() => {
            Err(format!("`{query}` is NaN (no samples to average yet?)"))
        }
        Some(s) => Ok(s.value),
    }
}

/// One series of a range query: its labels and its (time, value) points, oldest first.
pub type RangeSeries = (BTreeMap<String, String>, Vec<(f64, f64)>);

/// The most points a range query asks for (Prometheus itself refuses more than 11,000).
pub const MAX_RANGE_POINTS: f64 = 1000.0;

/// A range query from `start` to `end` (seconds since the epoch), every `step` seconds (raised so
/// that no series has more than [`MAX_RANGE_POINTS`] points).
pub async fn range(
    ctx: &Ctx,
    query: &str,
    start: f64,
    end: f64,
    step: f64,
) -> Result<Vec<RangeSeries>, String> {
    let step = step.max((end - start) / MAX_RANGE_POINTS).max(1.0);
    let endpoint = format!("{}/api/v1/query_range", ctx.target.prometheus.url);
    let (s, e, st) = (
        format!("{start:.3}"),
        format!("{end:.3}"),
        format!("{step:.3}"),
    );
    let url = with_query(
        &endpoint,
        &[("query", query), ("start", &s), ("end", &e), ("step", &st)],
    )?;
    let (status, body) = ctx
        .get(&url, prometheus_auth(&ctx.target.prometheus))
        .await?;
    let doc = json_answer(&url, status, &body)?;
    if doc.get("status").and_then(Value::as_str) != Some("success") {
        let msg = doc
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        return Err(format!(
            "Prometheus at {} rejected the range query `{query}` (HTTP {status}): {msg}",
            base(&endpoint)
        ));
    }
    let unexpected = || format!("unexpected answer from {endpoint}: {}", clip(&body, 120));
    let result = doc
        .pointer("/data/result")
        .and_then(Value::as_array)
        .ok_or_else(unexpected)?;
    result
        .iter()
        .map(|s| {
            let labels = s
                .get("metric")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let points = s
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter_map(|p| {
                            let t = p.get(0)?.as_f64()?;
                            let (_, v) = sample(Some(p))?;
                            Some((t, v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok((labels, points))
        })
        .collect()
}

/// The `label` of each series an instant query returns, with its value, highest first (series
/// without the label, or whose value is NaN, are left out).
pub async fn ranked(ctx: &Ctx, query: &str, label: &str) -> Result<Vec<(String, f64)>, String> {
    let series = instant(query, ctx).await?;
    let mut out: Vec<(String, f64)> = series
        .into_iter()
        .filter(|s| !s.value.is_nan())
        .filter_map(|s| s.labels.get(label).map(|l| (l.clone(), s.value)))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if out.is_empty() {
        return Err(format!(
            "Prometheus has no series with a `{label}` label for `{query}` yet"
        ));
    }
    Ok(out)
}

/// Judges an answer that must name the `label` of the highest series of `ranked` (highest
/// first). Each way of getting it wrong has its own hint; the right name is never shown.
pub fn judge_top(answer: &str, label: &str, ranked: &[(String, f64)]) -> Observation {
    let a = answer
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '`')
        .trim()
        .to_ascii_lowercase();
    let shown = format!("{:?}", clip(answer.trim(), 60));
    let expected = format!("the `{label}` of the series with the highest value");
    let Some((top, top_value)) = ranked.first() else {
        return Observation::fail(expected, "no series to compare");
    };
    if a == top.to_ascii_lowercase() {
        let next = ranked
            .get(1)
            .map(|(l, v)| format!("; next {l} at {}", show_number(*v)))
            .unwrap_or_default();
        return Observation::pass(format!(
            "{shown}: the highest, at {}{next}",
            show_number(*top_value)
        ));
    }
    if let Some(i) = ranked.iter().position(|(l, _)| l.to_ascii_lowercase() == a) {
        return Observation::fail_because(
            expected,
            format!("{shown} ranks {} of {}", i + 1, ranked.len()),
            "Another series is higher: compare every line over the whole window at its highest point, not the one that stands out at one moment (the legend names each line).",
        );
    }
    if !a.is_empty()
        && ranked
            .iter()
            .any(|(l, _)| a.contains(&l.to_ascii_lowercase()))
    {
        return Observation::fail_because(
            expected,
            format!("{shown} is not a `{label}` of the series"),
            format!("Name it as the series' `{label}` label does (the name in the panel's legend), not as Docker names the container that runs it."),
        );
    }
    Observation::fail_because(
        expected,
        format!("{shown} is not a `{label}` of the series"),
        format!("Answer with one of the `{label}` names the panel's legend shows."),
    )
}

/// `[1712345678.123, "1"]` → ("1", 1.0).
fn sample(v: Option<&Value>) -> Option<(String, f64)> {
    let raw = v?.as_array()?.get(1)?.as_str()?.to_string();
    let value = parse_number(&raw)?;
    Some((raw, value))
}

/// A native histogram sample (Prometheus 2.40+ with native histograms on, the
/// default for some metrics in 3.x): `[1712345678.123, {"count": "12", "sum": "3.4",
/// "buckets": [...]}]` → ("histogram of 12 observations, sum 3.4", 12.0). A
/// comparison judges its count.
fn histogram(v: Option<&Value>) -> Option<(String, f64)> {
    let h = v?.as_array()?.get(1)?;
    let count_raw = h.get("count")?.as_str()?;
    let count = parse_number(count_raw)?;
    let sum = h.get("sum").and_then(Value::as_str).unwrap_or("?");
    Some((
        format!("histogram of {count_raw} observations, sum {sum}"),
        count,
    ))
}

pub async fn query(c: &PrometheusQueryCheck, ctx: &Ctx) -> ProbeResult {
    let cmp = match &c.value {
        Some(v) => Some(
            Comparison::parse(v)
                .ok_or_else(|| format!("invalid comparison {v:?}: write e.g. \"> 0\""))?,
        ),
        None => None,
    };
    let tolerance = c.tolerance.unwrap_or(0.0);
    let series = instant(&c.query, ctx).await?;
    Ok(judge(c, cmp, tolerance, &series))
}

fn judge(
    c: &PrometheusQueryCheck,
    cmp: Option<Comparison>,
    tolerance: f64,
    series: &[Series],
) -> Observation {
    let with = if c.labels.is_empty() {
        String::new()
    } else {
        format!(" with {}", braces(c.labels.iter()))
    };
    let min = c.min_series.unwrap_or(1);
    let expected = match (c.min_series, cmp) {
        (Some(n), None) => format!("at least {n} series{with}"),
        (Some(n), Some(cmp)) => format!(
            "at least {n} series{with}, one with a value {}",
            cmp.describe(tolerance)
        ),
        (None, None) if c.labels.is_empty() => "at least 1 series".to_string(),
        (None, None) => format!("a series{with}"),
        (None, Some(cmp)) if c.labels.is_empty() => {
            format!("a series with a value {}", cmp.describe(tolerance))
        }
        (None, Some(cmp)) => format!("a series{with} and a value {}", cmp.describe(tolerance)),
    };
    // "series" is both singular and plural.
    let total = format!("{} series", series.len());
    let candidates: Vec<&Series> = series.iter().filter(|s| s.carries(&c.labels)).collect();
    let listing = |items: &[&Series]| -> String {
        let shown: Vec<String> = items.iter().take(3).map(|s| s.show(&c.query)).collect();
        let more = items.len().saturating_sub(3);
        if more > 0 {
            format!("{}, and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    // A value needs a series to compare, whatever min_series says.
    let required = if cmp.is_some() { min.max(1) } else { min };
    if candidates.len() < required {
        let actual = if series.is_empty() {
            "the query returned no series".to_string()
        } else if candidates.is_empty() {
            let all: Vec<&Series> = series.iter().collect();
            format!("{total}, none{with}: {}", listing(&all))
        } else {
            format!(
                "{total}{}: {}",
                matching_note(&c.labels, candidates.len()),
                listing(&candidates)
            )
        };
        return Observation::fail(expected, actual);
    }
    match cmp {
        None if candidates.is_empty() => Observation::pass(total),
        None => Observation::pass(format!("{total}; {}", listing(&candidates))),
        Some(cmp) => match candidates.iter().find(|s| cmp.holds(s.value, tolerance)) {
            Some(s) => Observation::pass(format!("{total}; {}", s.show(&c.query))),
            None => Observation::fail(expected, format!("{total}; {}", listing(&candidates))),
        },
    }
}

fn matching_note(labels: &BTreeMap<String, String>, n: usize) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!(", {n} with {}", braces(labels.iter()))
    }
}

/// One active scrape target.
#[derive(Debug, Clone, Default)]
struct ScrapeTarget {
    job: String,
    pool: String,
    instance: String,
    /// The host Prometheus connects to (from the scrape URL).
    host: String,
    health: String,
    last_error: String,
    /// When Prometheus last scraped it, in seconds since the epoch.
    last_scrape: Option<f64>,
}

impl ScrapeTarget {
    fn of_job(&self, job: &str) -> bool {
        self.job == job || self.pool == job
    }

    fn show(&self) -> String {
        let mut s = format!("{} ({}) {}", self.job, self.instance, self.health);
        if !self.last_error.is_empty() {
            s.push_str(&format!(": {}", self.last_error));
        } else if self.health == "unknown" {
            s.push_str(": not scraped yet");
        }
        s
    }
}

/// `http://api:8228/metrics` → `api`.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    super::scrape::host_of(authority).to_string()
}

async fn active_targets(ctx: &Ctx) -> Result<Vec<ScrapeTarget>, String> {
    let endpoint = format!("{}/api/v1/targets", ctx.target.prometheus.url);
    let url = with_query(&endpoint, &[("state", "active")])?;
    let (status, body) = ctx
        .get(&url, prometheus_auth(&ctx.target.prometheus))
        .await?;
    let doc = json_answer(&url, status, &body)?;
    let active = doc
        .get("data")
        .and_then(|d| d.get("activeTargets"))
        .and_then(Value::as_array)
        .ok_or_else(|| format!("unexpected answer from {endpoint}: {}", clip(&body, 120)))?;
    let text = |t: &Value, k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(active
        .iter()
        .map(|t| {
            let labels = t.get("labels").unwrap_or(&Value::Null);
            let pool = text(t, "scrapePool");
            let job = Some(text(labels, "job"))
                .filter(|j| !j.is_empty())
                .unwrap_or_else(|| pool.clone());
            let scrape_url = text(t, "scrapeUrl");
            let instance = Some(text(labels, "instance"))
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| scrape_url.clone());
            let host = if scrape_url.is_empty() {
                super::scrape::host_of(&instance).to_string()
            } else {
                url_host(&scrape_url)
            };
            ScrapeTarget {
                job,
                pool,
                instance,
                host,
                health: text(t, "health"),
                last_error: text(t, "lastError"),
                last_scrape: crate::analyzer_log::parse_time(&text(t, "lastScrape")),
            }
        })
        .collect())
}

/// The scrape jobs of the configuration Prometheus loaded (`/api/v1/status/config`).
async fn loaded_jobs(ctx: &Ctx) -> Result<Vec<super::scrape::Job>, String> {
    let url = format!("{}/api/v1/status/config", ctx.target.prometheus.url);
    let (status, body) = ctx
        .get(&url, prometheus_auth(&ctx.target.prometheus))
        .await?;
    let doc = json_answer(&url, status, &body)?;
    let yaml = doc
        .get("data")
        .and_then(|d| d.get("yaml"))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("unexpected answer from {url}: {}", clip(&body, 120)))?;
    super::scrape::read(yaml).map_err(|e| match e {
        super::scrape::ReadError::Yaml(m) | super::scrape::ReadError::Shape(m) => {
            format!("Prometheus at {url} reports a configuration lab cannot read: {m}")
        }
    })
}

pub async fn targets(c: &PrometheusTargetsCheck, ctx: &Ctx) -> ProbeResult {
    let all = active_targets(ctx).await?;
    if c.services.is_empty() && !c.every_anchore_service {
        return Ok(by_jobs(c, &all));
    }
    let members = match ctx.docker() {
        Ok(d) => {
            crate::engine::containers::project_members(d, &ctx.target.project, ctx.remaining())
                .await
                .map_err(String::from)
        }
        Err(e) => Err(e),
    };
    let members = match members {
        Ok(m) => m,
        // Without the engine, targets are matched by service name alone.
        Err(_) if !c.every_anchore_service => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut services = c.services.clone();
    if c.every_anchore_service {
        for m in members.iter().filter(|m| m.running && m.runs_anchore()) {
            if !services.contains(&m.service) {
                services.push(m.service.clone());
            }
        }
        if services.is_empty() {
            return Ok(Observation::failed_because(
                Cause::new(
                    "deployment-down",
                    "No Anchore service runs: start the deployment with `docker compose up -d`.",
                ),
                "every Anchore service scraped by a target that is up",
                format!(
                    "no running Anchore container in compose project `{}`",
                    ctx.target.project
                ),
            ));
        }
    }
    // Only needed to tell missing credentials from wrong ones.
    let loaded = if all.iter().any(|t| t.last_error.contains("401")) {
        loaded_jobs(ctx).await.ok()
    } else {
        None
    };
    Ok(judge_services(
        &services,
        &members,
        &all,
        loaded.as_deref(),
        &c.health,
    ))
}

/// Whether a target points at `service`: its host is the service's name, one of
/// its containers' names, or one of their addresses (as DNS discovery finds them).
fn points_at(t: &ScrapeTarget, service: &str, members: &[Member]) -> bool {
    t.host.eq_ignore_ascii_case(service)
        || members.iter().filter(|m| m.service == service).any(|m| {
            t.host.eq_ignore_ascii_case(&m.name) || m.addresses.iter().any(|a| a == &t.host)
        })
}

/// Why a target is down, from Prometheus's last scrape error.
fn cause_of(t: &ScrapeTarget, loaded: Option<&[super::scrape::Job]>) -> Cause {
    let e = t.last_error.to_ascii_lowercase();
    if t.health == "unknown" || (t.health != "up" && e.is_empty()) {
        Cause::new(
            "not-scraped-yet",
            "Prometheus has not scraped this target yet: wait one scrape interval and check again.",
        )
    } else if e.contains("401") {
        let sends = loaded
            .and_then(|jobs| jobs.iter().find(|j| j.name == t.pool || j.name == t.job))
            .map(|j| j.credentials.present());
        if sends == Some(true) {
            Cause::new(
                "credentials-wrong",
                "The service answers 401 Unauthorized although the job sends credentials: the user \
                 or password is not the Anchore admin's.",
            )
        } else {
            Cause::new(
                "credentials-missing",
                "The service answers 401 Unauthorized: the job sends no credentials. Give it \
                 `basic_auth` with the Anchore admin user and password.",
            )
        }
    } else if e.contains("404") {
        Cause::new(
            "metrics-off",
            "The service answers 404 on its metrics path: its metrics are off. Set \
             ANCHORE_ENABLE_METRICS to true for it and recreate it (`docker compose up -d`); \
             if they are on, the job's metrics path is wrong.",
        )
    } else if e.contains("blank content-type") || e.contains("fallback_scrape_protocol") {
        // Prometheus 3 refuses an answer without a Content-Type (its migration guide,
        // "Scrape protocols"); 2.x read it as the text format.
        Cause::new(
            "no-content-type",
            "The target answers without a Content-Type, which Prometheus 3 refuses: it is not \
             an Anchore service's metrics page. Check the job's target and metrics path.",
        )
    } else if e.contains("no such host") || e.contains("server misbehaving") || e.contains("lookup")
    {
        Cause::new(
            "target-unresolvable",
            "Prometheus cannot resolve the target's host name: use the compose service's name \
             as the host, and run Prometheus in the same compose project as Anchore.",
        )
    } else if e.contains("connection refused") {
        Cause::new(
            "target-refused",
            "Nothing listens at the target: check its port (the Anchore services listen on 8228 \
             inside the compose network) and that the service runs.",
        )
    } else {
        Cause::new(
            "target-down",
            "Open Prometheus's Targets page: the target's error says why the scrape fails.",
        )
    }
}

fn judge_services(
    services: &[String],
    members: &[Member],
    all: &[ScrapeTarget],
    loaded: Option<&[super::scrape::Job]>,
    want: &str,
) -> Observation {
    let expected = format!(
        "each of {} scraped by a target that is {want}, whatever its job is called",
        services.join(", ")
    );
    let mut missing = Vec::new();
    let mut bad: Vec<(ScrapeTarget, &str)> = Vec::new();
    let mut stale: Vec<(ScrapeTarget, &str)> = Vec::new();
    let mut good = 0usize;
    for svc in services {
        let mine: Vec<&ScrapeTarget> = all.iter().filter(|t| points_at(t, svc, members)).collect();
        if mine.is_empty() {
            missing.push(svc.as_str());
        }
        // A container recreated since the last scrape (its metrics just switched off,
        // say) has not been judged yet: Prometheus still shows the old one's health.
        let newest = members
            .iter()
            .filter(|m| m.service == *svc && m.running)
            .map(|m| m.created)
            .max();
        for t in mine {
            let before = match (newest, t.last_scrape) {
                (Some(c), Some(at)) => at < (c + 1) as f64,
                _ => false,
            };
            if before {
                let t = ScrapeTarget {
                    health: "unknown".into(),
                    last_error: String::new(),
                    ..t.clone()
                };
                stale.push((t, svc.as_str()));
            } else if t.health == want {
                good += 1;
            } else {
                bad.push((t.clone(), svc.as_str()));
            }
        }
    }
    // The targets not judged yet come last: a real failure names the cause.
    bad.extend(stale);
    if missing.is_empty() && bad.is_empty() {
        return Observation::pass(format!(
            "{} {want} for {}",
            count(good, "target"),
            services.join(", ")
        ));
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("no target scrapes {}", missing.join(", ")));
    }
    problems.extend(bad.iter().map(|(t, svc)| format!("{svc}: {}", t.show())));
    let cause = if !missing.is_empty() {
        Cause::new(
            "job-missing",
            "Prometheus scrapes no target on these services: add a scrape job (any name) whose \
             target is the service's compose name and API port, and make Prometheus reload it \
             (`docker compose restart prometheus`).",
        )
    } else if want == "up" {
        cause_of(&bad[0].0, loaded)
    } else {
        Cause::new(
            "target-up",
            "These targets were expected to fail their scrapes at this point of the lab.",
        )
    };
    Observation::failed_because(cause, expected, problems.join("; "))
}

/// The verdict by job names (labs that name jobs rather than services).
fn by_jobs(c: &PrometheusTargetsCheck, all: &[ScrapeTarget]) -> Observation {
    let want = c.health.as_str();
    let expected = if c.jobs.is_empty() {
        format!("every scrape target {want}")
    } else {
        format!("every target of job {} {want}", c.jobs.join(", "))
    };
    let chosen: Vec<&ScrapeTarget> = if c.jobs.is_empty() {
        all.iter().collect()
    } else {
        all.iter()
            .filter(|t| c.jobs.iter().any(|j| t.of_job(j)))
            .collect()
    };
    if all.is_empty() {
        return Observation::fail(expected, "Prometheus has no active scrape targets");
    }
    let mut problems: Vec<String> = c
        .jobs
        .iter()
        .filter(|j| !all.iter().any(|t| t.of_job(j)))
        .map(|j| format!("job {j} has no target"))
        .collect();
    problems.extend(chosen.iter().filter(|t| t.health != want).map(|t| t.show()));
    if !problems.is_empty() {
        return Observation::fail(expected, problems.join("; "));
    }
    let mut jobs: Vec<&str> = chosen.iter().map(|t| t.job.as_str()).collect();
    jobs.sort_unstable();
    jobs.dedup();
    Observation::pass(format!(
        "{} {want} ({})",
        count(chosen.len(), "target"),
        jobs.join(", ")
    ))
}

/// Prometheus runs with the trainee's scrape file, however it got there.
pub async fn loaded_config(c: &PrometheusConfigCheck, ctx: &Ctx) -> ProbeResult {
    let path = ctx.target.path(&c.file);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Observation::failed_because(
                Cause::new(
                    "file-missing",
                    format!("Save the scrape configuration as {} first.", c.file),
                ),
                format!("Prometheus running with {}", c.file),
                format!("no file {}", c.file),
            ))
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file = match super::off_thread(move || super::scrape::read(&text)).await? {
        Ok(j) => j,
        Err(super::scrape::ReadError::Yaml(m) | super::scrape::ReadError::Shape(m)) => {
            return Ok(Observation::failed_because(
                Cause::new(
                    "yaml-invalid",
                    format!(
                        "{} cannot be read as a scrape configuration; fix it first.",
                        c.file
                    ),
                ),
                format!("Prometheus running with {}", c.file),
                format!("{}: {m}", c.file),
            ))
        }
    };
    let loaded = loaded_jobs(ctx).await?;
    Ok(judge_loaded(&c.file, &loaded, &file))
}

fn judge_loaded(
    file_name: &str,
    loaded: &[super::scrape::Job],
    file: &[super::scrape::Job],
) -> Observation {
    let expected = format!("Prometheus running with {file_name}");
    match super::scrape::compare(loaded, file) {
        Loaded::Same => Observation::pass(format!(
            "Prometheus loaded {file_name} ({})",
            count(file.len(), "job")
        )),
        Loaded::Other { default: true, .. } => Observation::failed_because(
            Cause::new(
                "config-not-mounted",
                format!(
                    "Prometheus runs with its image's own configuration: {file_name} does not reach \
                     the path Prometheus reads (/etc/prometheus/prometheus.yml). Mount the file \
                     there, or its folder at /etc/prometheus, and recreate the service."
                ),
            ),
            expected,
            "Prometheus runs its default configuration (one job, prometheus, scraping itself)",
        ),
        Loaded::Other { jobs, .. } => Observation::failed_because(
            Cause::new(
                "config-stale",
                format!(
                    "Prometheus runs another configuration than {file_name}: if you changed the \
                     file, restart Prometheus (`docker compose restart prometheus`); otherwise \
                     check which file the service mounts."
                ),
            ),
            expected,
            format!(
                "Prometheus runs a configuration with {}: {}",
                count(jobs.len(), "job"),
                clip(&jobs.join(", "), 200)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_top_series_is_named_by_its_label_and_each_mistake_has_a_hint() {
        let r = vec![
            ("catalog".to_string(), 110e6),
            ("policy-engine".to_string(), 40e6),
            ("api".to_string(), 12e6),
        ];
        assert!(matches!(
            judge_top(" Catalog ", "job", &r),
            Observation::Pass { .. }
        ));
        for (answer, cause) in [
            ("policy-engine", "Another series is higher"),
            ("anchore-lab-catalog-1", "not as Docker names the container"),
            ("the database", "one of the `job` names"),
        ] {
            match judge_top(answer, "job", &r) {
                Observation::Fail {
                    expected,
                    actual,
                    cause: Some(super::Cause { hint, .. }),
                    ..
                } => {
                    assert!(hint.contains(cause), "{answer}: {hint}");
                    assert!(!expected.contains("catalog") && !hint.contains("catalog"));
                    assert!(actual.contains(answer), "{actual}");
                }
                other => panic!("{answer}: {other:?}"),
            }
        }
    }

    use super::*;
    use crate::probe::testserver::{self as ts, Reply, Routes, TestServer};
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn q(query: &str) -> PrometheusQueryCheck {
        PrometheusQueryCheck {
            query: query.into(),
            min_series: None,
            labels: BTreeMap::new(),
            value: None,
            tolerance: None,
        }
    }

    fn vector(series: &[(&[(&str, &str)], &str)]) -> serde_json::Value {
        let result: Vec<serde_json::Value> = series
            .iter()
            .map(|(labels, v)| {
                let metric: serde_json::Map<String, serde_json::Value> = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                json!({"metric": metric, "value": [1712345678.123, v]})
            })
            .collect();
        json!({"status": "success", "data": {"resultType": "vector", "result": result}})
    }

    fn analyzer_states(processing: &str, waiting: &str) -> serde_json::Value {
        let base = [
            ("__name__", "anchore_analyzer_status"),
            ("instance", "analyzer:8228"),
            ("job", "analyzer"),
        ];
        let p: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .chain([("state", "processing")])
            .collect();
        let w: Vec<(&str, &str)> = base.iter().copied().chain([("state", "waiting")]).collect();
        vector(&[(&p, processing), (&w, waiting)])
    }

    async fn answering(body: serde_json::Value, status: u16) -> TestServer {
        TestServer::start(Routes::new().get("/api/v1/query", Reply::json(status, body))).await
    }

    async fn run(c: &PrometheusQueryCheck, srv: &TestServer) -> ProbeResult {
        let r = query(c, &ts::ctx(&srv.url, Duration::from_secs(3))).await;
        ts::assert_no_password(&r);
        r
    }

    #[test]
    fn comparison_parses_every_operator_with_or_without_spaces() {
        let cases = [
            ("> 0", Op::Gt, 0.0),
            (">=1", Op::Ge, 1.0),
            ("  == 3 ", Op::Eq, 3.0),
            ("<10", Op::Lt, 10.0),
            ("<= 2.5", Op::Le, 2.5),
            ("!=0", Op::Ne, 0.0),
            ("> -1", Op::Gt, -1.0),
        ];
        for (s, op, value) in cases {
            assert_eq!(Comparison::parse(s), Some(Comparison { op, value }), "{s}");
        }
        assert_eq!(
            Comparison::parse(">= 1").map(|c| c.to_string()),
            Some(">= 1".into())
        );
    }

    #[test]
    fn comparison_rejects_what_is_not_a_comparison() {
        for s in ["", ">", "1", "= 1", "=> 1", "> abc", "> NaN", "~ 3", ">> 1"] {
            assert_eq!(Comparison::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn comparison_tolerance_widens_equality_only() {
        let eq = Comparison::parse("== 3").expect("valid");
        assert!(eq.holds(3.0, 0.0));
        assert!(!eq.holds(3.4, 0.0));
        assert!(eq.holds(3.4, 0.5));
        let ne = Comparison::parse("!= 3").expect("valid");
        assert!(ne.holds(3.4, 0.0));
        assert!(!ne.holds(3.4, 0.5));
        let gt = Comparison::parse("> 3").expect("valid");
        assert!(!gt.holds(2.9, 0.5));
        assert!(gt.holds(3.1, 0.0));
    }

    #[test]
    fn comparison_nan_satisfies_nothing_and_infinities_compare() {
        for s in ["> 0", "< 0", "== 0", "!= 0", ">= 0", "<= 0"] {
            let c = Comparison::parse(s).expect("valid");
            assert!(!c.holds(f64::NAN, 1.0), "{s}");
        }
        assert!(Comparison::parse("> 1e9")
            .expect("valid")
            .holds(f64::INFINITY, 0.0));
        assert!(Comparison::parse("< 0")
            .expect("valid")
            .holds(f64::NEG_INFINITY, 0.0));
        assert!(Comparison::parse("== 1")
            .expect("valid")
            .holds(1.0, f64::INFINITY));
    }

    #[tokio::test]
    async fn query_without_conditions_passes_on_any_series_and_encodes_the_query() {
        let srv = answering(analyzer_states("0", "1"), 200).await;
        let promql = r#"anchore_analyzer_status{state=~"proc.*|waiting"} + 0"#;
        let r = run(&q(promql), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                r#"2 series; anchore_analyzer_status{instance="analyzer:8228", job="analyzer", state="processing"} = 0, anchore_analyzer_status{instance="analyzer:8228", job="analyzer", state="waiting"} = 1"#
            ))
        );
        let req = &srv.requests()[0];
        assert_eq!(req.param("query").as_deref(), Some(promql));
        assert!(
            req.query.starts_with(
                "query=anchore_analyzer_status%7Bstate%3D%7E%22proc.*%7Cwaiting%22%7D+%2B+0"
            ),
            "{}",
            req.query
        );
    }

    #[tokio::test]
    async fn query_with_no_series_fails_saying_so() {
        let srv = answering(vector(&[]), 200).await;
        let r = run(&q("anchore_queue_length"), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "at least 1 series",
                "the query returned no series"
            ))
        );
    }

    #[tokio::test]
    async fn query_labels_select_the_series_that_is_compared() {
        let srv = answering(analyzer_states("0", "1"), 200).await;
        let mut c = q("anchore_analyzer_status");
        c.labels.insert("state".into(), "processing".into());
        c.value = Some("> 0".into());
        let r = run(&c, &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                r#"a series with {state="processing"} and a value > 0"#,
                r#"2 series; anchore_analyzer_status{instance="analyzer:8228", job="analyzer", state="processing"} = 0"#
            ))
        );
        c.labels.insert("state".into(), "waiting".into());
        let r = run(&c, &srv).await;
        assert!(matches!(r, Ok(Observation::Pass { .. })), "{r:?}");
        c.labels.insert("state".into(), "error".into());
        let r = run(&c, &srv).await;
        match r {
            Ok(Observation::Fail { actual, .. }) => {
                assert!(
                    actual.starts_with(r#"2 series, none with {state="error"}: "#),
                    "{actual}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn query_value_passes_when_any_series_satisfies_it_and_names_that_series() {
        let srv = answering(analyzer_states("1", "0"), 200).await;
        let mut c = q("anchore_analyzer_status");
        c.value = Some("== 1".into());
        let r = run(&c, &srv).await;
        assert_eq!(
            r,
            Ok(Observation::pass(
                r#"2 series; anchore_analyzer_status{instance="analyzer:8228", job="analyzer", state="processing"} = 1"#
            ))
        );
        c.value = Some("> 1".into());
        let r = run(&c, &srv).await;
        assert!(
            matches!(&r, Ok(Observation::Fail { expected, .. }) if expected == "a series with a value > 1"),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn query_min_series_counts_the_series() {
        let srv = answering(analyzer_states("1", "0"), 200).await;
        let mut c = q("anchore_analyzer_status");
        c.min_series = Some(3);
        let r = run(&c, &srv).await;
        match r {
            Ok(Observation::Fail {
                expected, actual, ..
            }) => {
                assert_eq!(expected, "at least 3 series");
                assert!(actual.starts_with("2 series: "), "{actual}");
            }
            other => panic!("{other:?}"),
        }
        c.min_series = Some(2);
        assert!(matches!(run(&c, &srv).await, Ok(Observation::Pass { .. })));
    }

    #[tokio::test]
    async fn query_scalar_result_is_compared_with_tolerance() {
        let body = json!({"status": "success", "data": {"resultType": "scalar", "result": [1712345678.123, "3.2"]}});
        let srv = answering(body, 200).await;
        let mut c = q("scalar(sum(anchore_queue_length))");
        c.value = Some("== 3".into());
        let r = run(&c, &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "a series with a value == 3",
                "1 series; scalar(sum(anchore_queue_length)) = 3.2"
            ))
        );
        c.tolerance = Some(0.5);
        assert_eq!(
            run(&c, &srv).await,
            Ok(Observation::pass(
                "1 series; scalar(sum(anchore_queue_length)) = 3.2"
            ))
        );
    }

    #[tokio::test]
    async fn first_value_reads_the_first_series_and_names_an_empty_query() {
        let srv = answering(vector(&[(&[("status", "success")], "3.25")]), 200).await;
        let ctx = ts::ctx(&srv.url, Duration::from_secs(3));
        assert_eq!(
            first_value(
                &ctx,
                "anchore_analysis_time_seconds_sum / anchore_analysis_time_seconds_count"
            )
            .await,
            Ok(3.25)
        );
        let srv = answering(vector(&[]), 200).await;
        let ctx = ts::ctx(&srv.url, Duration::from_secs(3));
        assert_eq!(
            first_value(&ctx, "up").await,
            Err("Prometheus has no data for `up` yet".into())
        );
    }

    #[tokio::test]
    async fn query_nan_and_infinite_values_do_not_panic() {
        let srv = answering(
            vector(&[
                (&[("le", "+Inf")], "NaN"),
                (&[("le", "10")], "+Inf"),
                (&[], "-Inf"),
            ]),
            200,
        )
        .await;
        let mut c = q("histogram_quantile(0.9, x)");
        c.value = Some("> 0".into());
        let r = run(&c, &srv).await;
        assert_eq!(r, Ok(Observation::pass(r#"3 series; {le="10"} = +Inf"#)));
        c.value = Some("== 0".into());
        let r = run(&c, &srv).await;
        assert!(matches!(r, Ok(Observation::Fail { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn query_syntax_error_reports_prometheus_message() {
        let body = json!({"status": "error", "errorType": "bad_data", "error": "invalid parameter \"query\": 1:24: parse error: unexpected end of input"});
        let srv = answering(body, 400).await;
        let r = run(&q("sum(anchore_queue_length"), &srv).await;
        let e = r.expect_err("bad query");
        assert!(
            e.contains("rejected the query `sum(anchore_queue_length`"),
            "{e}"
        );
        assert!(
            e.contains("bad_data") && e.contains("parse error: unexpected end of input"),
            "{e}"
        );
        assert!(e.contains(&format!("{}/api/v1/query", srv.url)), "{e}");
    }

    /// Prometheus's API doc (docs/querying/api.md, "Native histograms"): a vector
    /// sample carries `histogram` instead of `value`.
    #[tokio::test]
    async fn query_native_histogram_samples_compare_their_count() {
        let body = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "anchore_analysis_time_seconds", "job": "analyzer"},
             "histogram": [1712345678.123, {"count": "4", "sum": "10.5",
                "buckets": [[0, "2", "4", "3"], [0, "4", "8", "1"]]}]}]}});
        let srv = answering(body, 200).await;
        let mut c = q("anchore_analysis_time_seconds");
        c.value = Some(">= 4".into());
        assert_eq!(
            run(&c, &srv).await,
            Ok(Observation::pass(
                "1 series; anchore_analysis_time_seconds{job=\"analyzer\"} = histogram of 4 observations, sum 10.5"
            ))
        );
        c.value = Some("> 4".into());
        assert!(matches!(run(&c, &srv).await, Ok(Observation::Fail { .. })));
    }

    /// Contract test: answers recorded from the real Debian Prometheus 2.53.3 and
    /// 3.5.3 (tests/fixtures/reference/prometheus/record.sh) read as lab reads a live one.
    #[tokio::test]
    async fn recorded_answers_of_prometheus_2_53_and_3_5_are_read() {
        for release in ["2.53", "3.5"] {
            let file = |name: &str| -> serde_json::Value {
                let path = format!(
                    "{}/tests/fixtures/reference/prometheus/{release}/{name}.json",
                    env!("CARGO_MANIFEST_DIR")
                );
                serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture"))
                    .expect("recorded JSON")
            };
            let serve = |name: &str, status: u16| {
                let body = file(name);
                async move {
                    TestServer::start(Routes::new().get("/api/v1/query", Reply::json(status, body)))
                        .await
                }
            };
            let mut c = q("up");
            c.labels = BTreeMap::from([("job".to_string(), "prometheus".to_string())]);
            c.value = Some("== 1".into());
            let r = run(&c, &serve("query-vector", 200).await).await;
            assert!(
                matches!(r, Ok(Observation::Pass { .. })),
                "{release}: {r:?}"
            );
            let mut c = q("scalar(sum(up))");
            c.value = Some("== 1".into());
            let r = run(&c, &serve("query-scalar", 200).await).await;
            assert!(
                matches!(r, Ok(Observation::Pass { .. })),
                "{release}: {r:?}"
            );
            let e = run(&q("up[5s]"), &serve("query-matrix", 200).await)
                .await
                .expect_err("matrix");
            assert!(e.contains("range vector"), "{release}: {e}");
            let e = run(&q("\"anchore\""), &serve("query-string", 200).await)
                .await
                .expect_err("string");
            assert!(
                e.contains("returns the string \"anchore\""),
                "{release}: {e}"
            );
            let mut c = q("prometheus_http_request_duration_seconds");
            c.value = Some(">= 1".into());
            let r = run(&c, &serve("query-native-histogram", 200).await).await;
            match &r {
                Ok(Observation::Pass { actual }) => {
                    assert!(
                        actual.contains("histogram of 1 observations"),
                        "{release}: {actual}"
                    )
                }
                other => panic!("{release}: {other:?}"),
            }
            if release != "2.53" {
                // 3.x: metric and label names in UTF-8, selected with the quoted syntax.
                let mut c = q(r#"{"anchore.up", "service.name"="anchore", job="prometheus"}"#);
                c.labels = BTreeMap::from([("service.name".to_string(), "anchore".to_string())]);
                c.value = Some("== 1".into());
                let r = run(&c, &serve("query-utf8", 200).await).await;
                match &r {
                    Ok(Observation::Pass { actual }) => {
                        assert!(actual.contains("anchore.up"), "{release}: {actual}")
                    }
                    other => panic!("{release}: {other:?}"),
                }
            }
            let e = run(&q("sum(up"), &serve("query-error", 400).await)
                .await
                .expect_err("bad query");
            assert!(
                e.contains("bad_data") && e.contains("unclosed left parenthesis"),
                "{release}: {e}"
            );
            let srv = TestServer::start(
                Routes::new().get("/api/v1/targets", Reply::json(200, file("targets"))),
            )
            .await;
            let r = run_targets(&tc(&["prometheus", "analyzer"], "up"), &srv).await;
            match &r {
                Ok(Observation::Fail { actual, .. }) => {
                    assert!(
                        actual.starts_with("analyzer (127.0.0.1:9) down: "),
                        "{release}: {actual}"
                    );
                    assert!(actual.contains("connection refused"), "{release}: {actual}");
                }
                other => panic!("{release}: {other:?}"),
            }
        }
    }

    /// Contract test: Grafana's own recorded Prometheus answers (its converter's test
    /// data, tests/fixtures/reference/grafana/promlib/, provenance there) read as lab
    /// reads a live one: every result type, infinities and NaN, a native histogram
    /// without labels, and an error answer.
    #[tokio::test]
    async fn grafanas_recorded_prometheus_answers_are_read() {
        let serve = |name: &str, status: u16| {
            let path = format!(
                "{}/tests/fixtures/reference/grafana/promlib/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let body: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture"))
                    .expect("Grafana's JSON");
            async move { answering(body, status).await }
        };
        // A vector of 5 series: `up` of two jobs, and three unnamed ones at +Inf, -Inf, NaN.
        let srv = serve("prom-vector", 200).await;
        let mut c = q("up");
        c.labels = BTreeMap::from([("job".to_string(), "node".to_string())]);
        c.value = Some("== 0".into());
        assert_eq!(
            run(&c, &srv).await,
            Ok(Observation::pass(
                r#"5 series; up{instance="localhost:9100", job="node"} = 0"#
            ))
        );
        let mut c = q("x");
        c.labels = BTreeMap::from([("location".to_string(), "moon".to_string())]);
        c.value = Some("> 1e300".into());
        assert_eq!(
            run(&c, &srv).await,
            Ok(Observation::pass(
                r#"5 series; {level="error", location="moon"} = +Inf"#
            ))
        );
        // NaN satisfies no comparison; -Inf is below everything.
        c.labels = BTreeMap::from([("level".to_string(), "debug".to_string())]);
        c.value = Some("!= 1".into());
        assert!(matches!(run(&c, &srv).await, Ok(Observation::Fail { .. })));
        c.labels = BTreeMap::from([("level".to_string(), "info".to_string())]);
        c.value = Some("< -1e300".into());
        assert!(matches!(run(&c, &srv).await, Ok(Observation::Pass { .. })));

        let mut c = q("scalar(x)");
        c.value = Some("< 0.0001".into());
        assert_eq!(
            run(&c, &serve("prom-scalar", 200).await).await,
            Ok(Observation::pass("1 series; scalar(x) = 0.00002482"))
        );
        c.value = Some("> 0.0001".into());
        assert!(matches!(
            run(&c, &serve("prom-scalar", 200).await).await,
            Ok(Observation::Fail { .. })
        ));

        let e = run(&q("\"example\""), &serve("prom-string", 200).await)
            .await
            .expect_err("string");
        assert!(
            e.contains("returns the string \"example\", not a number"),
            "{e}"
        );
        let e = run(&q("up[1m]"), &serve("prom-matrix", 200).await)
            .await
            .expect_err("matrix");
        assert!(e.contains("returns a range vector"), "{e}");

        let mut c = q("prometheus_http_request_duration_seconds");
        c.value = Some("> 316".into());
        assert_eq!(
            run(&c, &serve("prom-vector-histogram-no-labels", 200).await).await,
            Ok(Observation::pass(
                "1 series; prometheus_http_request_duration_seconds = histogram of 316.47719298245624 observations, sum 3.3474505904112015"
            ))
        );
        c.value = Some("> 317".into());
        assert!(matches!(
            run(&c, &serve("prom-vector-histogram-no-labels", 200).await).await,
            Ok(Observation::Fail { .. })
        ));

        let e = run(&q("up"), &serve("prom-error", 400).await)
            .await
            .expect_err("error answer");
        assert!(
            e.contains("(HTTP 400, bad_data): invalid parameter \"start\""),
            "{e}"
        );
    }

    #[tokio::test]
    async fn query_string_result_errs_saying_it_is_not_a_number() {
        let body = json!({"status": "success", "data": {"resultType": "string", "result": [1712345678.123, "hello"]}});
        let srv = answering(body, 200).await;
        let e = run(&q("\"hello\""), &srv).await.expect_err("string");
        assert!(
            e.contains("returns the string \"hello\", not a number"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn query_range_vector_errs_explaining_why() {
        let body = json!({"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"]]}]}});
        let srv = answering(body, 200).await;
        let e = run(&q("up[5m]"), &srv).await.expect_err("matrix");
        assert!(e.contains("range vector"), "{e}");
    }

    #[tokio::test]
    async fn query_garbage_answer_errs_without_panicking() {
        for body in [
            json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1]}]}}),
            json!({"status": "success"}),
            json!([1, 2]),
        ] {
            let srv = answering(body.clone(), 200).await;
            let r = run(&q("up"), &srv).await;
            assert!(r.is_err(), "{body}: {r:?}");
        }
        let srv =
            TestServer::start(Routes::new().get("/api/v1/query", Reply::text(502, "Bad Gateway")))
                .await;
        let e = run(&q("up"), &srv).await.expect_err("502");
        assert!(e.contains("HTTP 502: Bad Gateway"), "{e}");
    }

    #[tokio::test]
    async fn query_refused_connection_errs_naming_the_host() {
        let url = ts::refused_url().await;
        let e = query(&q("up"), &ts::ctx(&url, Duration::from_secs(2)))
            .await
            .expect_err("refused");
        assert!(
            e.starts_with(&format!("cannot connect to {url}/api/v1/query")),
            "{e}"
        );
        assert!(!e.contains("query="), "{e}");
    }

    #[tokio::test]
    async fn query_hanging_prometheus_errs_at_the_deadline() {
        let srv = TestServer::hanging().await;
        let started = Instant::now();
        let e = query(&q("up"), &ts::ctx(&srv.url, Duration::from_millis(300)))
            .await
            .expect_err("hang");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            e.contains("no answer from") && e.contains(" within "),
            "{e}"
        );
    }

    fn target(job: &str, health: &str, err: &str) -> serde_json::Value {
        json!({
            "discoveredLabels": {"__address__": format!("{job}:8228"), "__metrics_path__": "/metrics", "__scheme__": "http", "job": job},
            "labels": {"instance": format!("{job}:8228"), "job": job},
            "scrapePool": job,
            "scrapeUrl": format!("http://{job}:8228/metrics"),
            "globalUrl": format!("http://{job}:8228/metrics"),
            "lastError": err,
            "lastScrape": "2024-08-18T12:59:13.476831Z",
            "lastScrapeDuration": 0.01,
            "health": health,
            "scrapeInterval": "15s",
            "scrapeTimeout": "10s"
        })
    }

    async fn targets_server(list: Vec<serde_json::Value>) -> TestServer {
        let body =
            json!({"status": "success", "data": {"activeTargets": list, "droppedTargets": []}});
        TestServer::start(Routes::new().get("/api/v1/targets", Reply::json(200, body))).await
    }

    fn tc(jobs: &[&str], health: &str) -> PrometheusTargetsCheck {
        PrometheusTargetsCheck {
            jobs: jobs.iter().map(|j| j.to_string()).collect(),
            services: vec![],
            every_anchore_service: false,
            health: health.into(),
        }
    }

    async fn run_targets(c: &PrometheusTargetsCheck, srv: &TestServer) -> ProbeResult {
        let r = targets(c, &ts::ctx(&srv.url, Duration::from_secs(3))).await;
        ts::assert_no_password(&r);
        r
    }

    #[tokio::test]
    async fn targets_all_up_passes_and_asks_for_active_targets() {
        let srv = targets_server(vec![target("api", "up", ""), target("analyzer", "up", "")]).await;
        let r = run_targets(&tc(&[], "up"), &srv).await;
        assert_eq!(r, Ok(Observation::pass("2 targets up (analyzer, api)")));
        assert_eq!(srv.requests()[0].param("state").as_deref(), Some("active"));
    }

    #[tokio::test]
    async fn targets_down_lists_each_bad_target_with_its_error() {
        let srv = targets_server(vec![
            target("api", "up", ""),
            target("analyzer", "down", "server returned HTTP status 401 Unauthorized"),
            target("catalog", "down", "Get \"http://catalog:8228/metrics\": dial tcp: lookup catalog on 127.0.0.11:53: no such host"),
            target("queue", "unknown", ""),
        ])
        .await;
        let r = run_targets(&tc(&[], "up"), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "every scrape target up",
                "analyzer (analyzer:8228) down: server returned HTTP status 401 Unauthorized; catalog (catalog:8228) down: Get \"http://catalog:8228/metrics\": dial tcp: lookup catalog on 127.0.0.11:53: no such host; queue (queue:8228) unknown: not scraped yet"
            ))
        );
        // Only the named jobs count.
        let r = run_targets(&tc(&["api"], "up"), &srv).await;
        assert_eq!(r, Ok(Observation::pass("1 target up (api)")));
    }

    #[tokio::test]
    async fn targets_named_job_without_target_fails_naming_it() {
        let srv = targets_server(vec![target("api", "up", "")]).await;
        let r = run_targets(&tc(&["api", "analyzer"], "up"), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "every target of job api, analyzer up",
                "job analyzer has no target"
            ))
        );
    }

    #[tokio::test]
    async fn targets_health_down_requires_every_named_target_down() {
        let srv = targets_server(vec![
            target("api", "up", ""),
            target(
                "analyzer",
                "down",
                "server returned HTTP status 401 Unauthorized",
            ),
        ])
        .await;
        let r = run_targets(&tc(&["analyzer"], "down"), &srv).await;
        assert_eq!(r, Ok(Observation::pass("1 target down (analyzer)")));
        let r = run_targets(&tc(&["analyzer", "api"], "down"), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "every target of job analyzer, api down",
                "api (api:8228) up"
            ))
        );
    }

    #[tokio::test]
    async fn targets_none_at_all_fails() {
        let srv = targets_server(vec![]).await;
        let r = run_targets(&tc(&[], "up"), &srv).await;
        assert_eq!(
            r,
            Ok(Observation::fail(
                "every scrape target up",
                "Prometheus has no active scrape targets"
            ))
        );
    }

    #[tokio::test]
    async fn targets_unreachable_or_hanging_prometheus_errs() {
        let url = ts::refused_url().await;
        let e = targets(&tc(&[], "up"), &ts::ctx(&url, Duration::from_secs(2)))
            .await
            .expect_err("refused");
        assert!(
            e.starts_with(&format!("cannot connect to {url}/api/v1/targets")),
            "{e}"
        );
        let srv = TestServer::hanging().await;
        let started = Instant::now();
        let e = targets(
            &tc(&[], "up"),
            &ts::ctx(&srv.url, Duration::from_millis(300)),
        )
        .await
        .expect_err("hang");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(e.contains("no answer from"), "{e}");
    }

    fn st(job: &str, host: &str, health: &str, err: &str) -> ScrapeTarget {
        ScrapeTarget {
            job: job.into(),
            pool: job.into(),
            instance: format!("{host}:8228"),
            host: host.into(),
            health: health.into(),
            last_error: err.into(),
            last_scrape: Some(2000.0),
        }
    }

    fn svc(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn cause_id(o: &Observation) -> Option<&'static str> {
        match o {
            Observation::Fail { cause, .. } => cause.as_ref().map(|c| c.id),
            _ => None,
        }
    }

    #[test]
    fn url_host_takes_the_host_of_a_scrape_url() {
        assert_eq!(url_host("http://api:8228/metrics"), "api");
        assert_eq!(
            url_host("https://172.18.0.5:8228/metrics?x=1"),
            "172.18.0.5"
        );
        assert_eq!(url_host("http://u@api:8228/metrics"), "api");
    }

    /// Services scraped and up, however the jobs are called and however the
    /// targets are found: each must pass.
    #[test]
    fn services_up_pass_whatever_the_jobs_are_called() {
        let members = vec![
            Member {
                id: String::new(),
                service: "analyzer".into(),
                name: "p-analyzer-1".into(),
                image: "docker.io/anchore/enterprise:v5.17.0".into(),
                running: true,
                addresses: vec!["172.18.0.5".into()],
                created: 1000,
                ..Default::default()
            },
            Member {
                id: String::new(),
                service: "analyzer".into(),
                name: "p-analyzer-2".into(),
                image: "docker.io/anchore/enterprise:v5.17.0".into(),
                running: true,
                addresses: vec!["172.18.0.6".into()],
                created: 1000,
                ..Default::default()
            },
        ];
        let cases: Vec<(&str, Vec<ScrapeTarget>)> = vec![
            (
                "course names",
                vec![
                    st("api", "api", "up", ""),
                    st("analyzer", "analyzer", "up", ""),
                ],
            ),
            (
                "anchore- names",
                vec![
                    st("anchore-api", "api", "up", ""),
                    st("anchore-analyzer", "analyzer", "up", ""),
                ],
            ),
            (
                "one job",
                vec![
                    st("anchore", "api", "up", ""),
                    st("anchore", "analyzer", "up", ""),
                ],
            ),
            (
                "dns replicas",
                vec![
                    st("api", "api", "up", ""),
                    st("analyzer", "172.18.0.5", "up", ""),
                    st("analyzer", "172.18.0.6", "up", ""),
                ],
            ),
            (
                "container names",
                vec![
                    st("api", "API", "up", ""),
                    st("a", "p-analyzer-1", "up", ""),
                    st("a", "p-analyzer-2", "up", ""),
                ],
            ),
        ];
        for (name, targets) in cases {
            let o = judge_services(&svc(&["api", "analyzer"]), &members, &targets, None, "up");
            assert!(matches!(o, Observation::Pass { .. }), "{name}: {o:?}");
        }
    }

    /// Each way of getting scraping wrong fails with the cause that names it.
    #[test]
    fn down_targets_fail_with_their_cause() {
        use crate::probe::scrape::Job;
        let with_auth = crate::probe::scrape::read(
            "scrape_configs:\n- job_name: api\n  basic_auth: {username: admin, password: <secret>}\n  static_configs: [{targets: ['api:8228']}]\n",
        )
        .unwrap();
        let without = crate::probe::scrape::read(
            "scrape_configs:\n- job_name: api\n  static_configs: [{targets: ['api:8228']}]\n",
        )
        .unwrap();
        type Case<'a> = (&'a str, Vec<ScrapeTarget>, Option<&'a [Job]>, &'a str);
        let cases: Vec<Case> = vec![
            ("no target", vec![st("catalog", "catalog", "up", "")], None, "job-missing"),
            ("401, no credentials", vec![st("api", "api", "down", "server returned HTTP status 401 UNAUTHORIZED")], Some(&without), "credentials-missing"),
            ("401, wrong credentials", vec![st("api", "api", "down", "server returned HTTP status 401 UNAUTHORIZED")], Some(&with_auth), "credentials-wrong"),
            ("404", vec![st("api", "api", "down", "server returned HTTP status 404 NOT FOUND")], None, "metrics-off"),
            ("dns", vec![st("api", "api", "down", "Get \"http://api:8228/metrics\": dial tcp: lookup api on 127.0.0.11:53: no such host")], None, "target-unresolvable"),
            ("refused", vec![st("api", "api", "down", "dial tcp 172.18.0.3:9999: connect: connection refused")], None, "target-refused"),
            ("not yet", vec![st("api", "api", "unknown", "")], None, "not-scraped-yet"),
            // Prometheus 3.5.3's own lastError for an answer without a Content-Type
            // (recorded on the bench; 2.53 scrapes the same target).
            ("no content type", vec![st("api", "api", "down", "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target")], None, "no-content-type"),
        ];
        for (name, targets, loaded, want) in cases {
            let o = judge_services(&svc(&["api"]), &[], &targets, loaded, "up");
            assert_eq!(cause_id(&o), Some(want), "{name}: {o:?}");
        }
    }

    #[test]
    fn the_anchore_image_is_told_from_the_ui_and_others() {
        let m = |image: &str| Member {
            id: String::new(),
            image: image.into(),
            ..Default::default()
        };
        assert!(m("docker.io/anchore/enterprise:v5.17.0").runs_anchore());
        assert!(m("anchore/enterprise:v6.0.0").runs_anchore());
        assert!(m("registry:5000/anchore/enterprise@sha256:abc").runs_anchore());
        assert!(!m("docker.io/anchore/enterprise-ui:v5.17.0").runs_anchore());
        assert!(!m("docker.io/library/postgres:13").runs_anchore());
    }

    #[test]
    fn the_loaded_configuration_is_judged_against_the_file() {
        let file = crate::probe::scrape::read(
            "scrape_configs:\n  - job_name: api\n    static_configs: [{targets: ['api:8228']}]\n",
        )
        .unwrap();
        let default = crate::probe::scrape::read(
            "scrape_configs:\n- job_name: prometheus\n  static_configs: [{targets: ['localhost:9090']}]\n",
        )
        .unwrap();
        assert!(matches!(
            judge_loaded("f.yml", &file, &file),
            Observation::Pass { .. }
        ));
        assert_eq!(
            cause_id(&judge_loaded("f.yml", &default, &file)),
            Some("config-not-mounted")
        );
        let other = crate::probe::scrape::read(
            "scrape_configs:\n- job_name: api\n  static_configs: [{targets: ['api:1']}]\n",
        )
        .unwrap();
        assert_eq!(
            cause_id(&judge_loaded("f.yml", &other, &file)),
            Some("config-stale")
        );
    }

    #[test]
    fn a_target_not_scraped_since_its_container_was_recreated_is_not_judged_yet() {
        let members = vec![Member {
            id: String::new(),
            service: "api".into(),
            name: "p-api-1".into(),
            running: true,
            created: 3000,
            ..Default::default()
        }];
        // Prometheus last scraped the old container (up) before the new one started.
        let o = judge_services(
            &svc(&["api"]),
            &members,
            &[st("api", "api", "up", "")],
            None,
            "up",
        );
        assert_eq!(cause_id(&o), Some("not-scraped-yet"), "{o:?}");
        let mut fresh = st("api", "api", "up", "");
        fresh.last_scrape = Some(3005.0);
        let o = judge_services(&svc(&["api"]), &members, &[fresh], None, "up");
        assert!(matches!(o, Observation::Pass { .. }), "{o:?}");
    }
}

//! The pages of `lab grade --serve`: `/`, the live gradebook (the terminal's table),
//! and `/trainee/NAME`, one trainee's checks with expected and actual, hints and
//! answers (the instructor's view). Plain HTML: no script, no external asset; the
//! page refreshes itself (`<meta http-equiv="refresh">`); every text is escaped.

use super::live::{clock, footer, grid};
use super::scrub::redact;
use crate::grade::watch::Snapshot;
use crate::grade::Mark;
use std::fmt::Write;

/// `<`, `>`, `&`, `"` and `'` as entities, after the redaction.
pub fn escape(s: &str) -> String {
    let s = redact(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment: everything but unreserved characters percent-encoded.
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.stuck td{background:#fde8e8}tr.down td{background:#fff6dc}\
.passed{color:#176317}.failed,.error,.unreachable{color:#a31515;font-weight:bold}\
.muted{color:#777}pre{white-space:pre-wrap;margin:0}";

fn head(out: &mut String, title: &str, refresh: Option<(u64, &str)>) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    if let Some((secs, url)) = refresh {
        let _ = write!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{secs}; url={}\">",
            escape(url)
        );
    }
    let _ = writeln!(
        out,
        "<title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

/// `?token=…` to carry on links when the request gave the token that way.
fn query(token: Option<&str>) -> String {
    token.map_or(String::new(), |t| format!("?token={}", segment(t)))
}

/// The live gradebook.
pub fn index(s: &Snapshot, token: Option<&str>) -> String {
    let mut out = String::with_capacity(2048 + s.rows.len() * 512);
    let q = query(token);
    let every = s.every.as_secs().max(1);
    head(&mut out, "Class progress", Some((every, &format!("/{q}"))));
    out.push_str("<h1>Class progress</h1>\n");
    if s.round == 0 {
        out.push_str("<p>The first grading round is still running.</p>\n</body></html>\n");
        return out;
    }
    let _ = writeln!(out, "<p>{}</p>", escape(&footer(s)));
    let grid = grid(s);
    out.push_str("<table id=\"class\">\n<thead><tr>");
    for h in &grid[0] {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for ((row, t), r) in grid[1..].iter().zip(&s.book.trainees).zip(&s.rows) {
        let class = if r.stuck {
            " class=\"stuck\""
        } else if r.down.is_some() {
            " class=\"down\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr{class}><td><a href=\"/trainee/{}{q}\">{}</a></td>",
            segment(&t.trainee),
            escape(&t.trainee)
        );
        let numbers = s.book.labs.len() + 1;
        for (i, cell) in row.iter().enumerate().skip(1) {
            let n = if i <= numbers { " class=\"n\"" } else { "" };
            let _ = write!(out, "<td{n}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    let down: Vec<_> = s
        .rows
        .iter()
        .filter_map(|r| r.down.as_ref().map(|d| (r, d)))
        .collect();
    if !down.is_empty() {
        out.push_str("<h2>Not answering</h2>\n<ul>\n");
        for (r, why) in down {
            let _ = writeln!(out, "<li>{}: {}</li>", escape(&r.trainee), escape(why));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<p class=\"muted\"><a href=\"/metrics\">metrics</a></p>\n</body></html>\n");
    out
}

/// One trainee: problems, every check, every answer. None for an unknown name.
pub fn trainee(s: &Snapshot, name: &str, token: Option<&str>) -> Option<String> {
    let (t, r) = s.row(name)?;
    let q = query(token);
    let mut out = String::with_capacity(8192);
    let every = s.every.as_secs().max(1);
    let url = format!("/trainee/{}{q}", segment(name));
    head(
        &mut out,
        &format!("{name}: class progress"),
        Some((every, &url)),
    );
    let _ = writeln!(
        out,
        "<p><a href=\"/{q}\">Class progress</a></p>\n<h1>{}</h1>",
        escape(name)
    );
    let on = super::live::on(r);
    let _ = writeln!(
        out,
        "<p>{} of {} points; on {}; last progress at {} UTC ({} ago){}</p>",
        t.points(),
        s.book.possible(),
        escape(&on),
        clock(r.last_progress),
        super::live::since(r, s.at),
        if r.stuck {
            "; <strong>stuck</strong>"
        } else {
            ""
        }
    );
    if !t.problems.is_empty() {
        out.push_str("<h2>Problems</h2>\n<ul>\n");
        for p in &t.problems {
            let _ = writeln!(out, "<li>{}</li>", escape(p));
        }
        out.push_str("</ul>\n");
    }
    for l in &t.labs {
        let possible = s
            .book
            .labs
            .iter()
            .find(|i| i.id == l.lab)
            .map_or(0, |i| i.possible);
        let _ = writeln!(
            out,
            "<h2>{}: {}/{possible}</h2>",
            escape(&l.lab),
            if l.graded {
                l.points().to_string()
            } else {
                "-".into()
            }
        );
        if !l.graded {
            out.push_str("<p class=\"muted\">Not in this trainee's submission.</p>\n");
            continue;
        }
        out.push_str(
            "<table class=\"checks\"><thead><tr><th>Status</th><th>Exercise</th><th>Check</th>\
             <th>Points</th><th>Expected</th><th>Actual</th><th>Why</th><th>Hint</th></tr></thead>\n<tbody>\n",
        );
        for c in &l.checks {
            let status = serde_json::to_value(c.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let detail = |x: &Option<String>| {
                if c.status == Mark::Passed {
                    String::new()
                } else {
                    x.as_deref()
                        .map(|v| format!("<pre>{}</pre>", escape(v)))
                        .unwrap_or_default()
                }
            };
            let _ = writeln!(
                out,
                "<tr><td class=\"{status}\">{}</td><td>{}</td><td>{}<br><span class=\"muted\">{}</span></td>\
                 <td class=\"n\">{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.status.label(),
                escape(&c.exercise),
                escape(&c.id),
                escape(&c.description),
                c.score(),
                c.possible,
                detail(&c.expected),
                detail(&c.actual),
                detail(&c.message),
                detail(&c.hint),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    let questions: Vec<_> = s
        .book
        .labs
        .iter()
        .flat_map(|l| l.questions.iter().map(move |q| (l, q)))
        .collect();
    if !questions.is_empty() {
        out.push_str(
            "<h2>Answers</h2>\n<table class=\"answers\"><thead><tr><th>Lab</th><th>Question</th>\
             <th>Answer</th><th>Model answer</th></tr></thead>\n<tbody>\n",
        );
        for (l, qn) in questions {
            let answer = t.answers.get(&qn.id);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&l.id),
                escape(&qn.prompt),
                answer.map_or(
                    "<span class=\"muted\">no answer</span>".into(),
                    |a| format!("<pre>{}</pre>", escape(a))
                ),
                qn.model_answer
                    .as_deref()
                    .map_or(String::new(), |a| format!("<pre>{}</pre>", escape(a))),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</body></html>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::watch::Tracker;
    use crate::grade::{
        Gradebook, GradedCheck, LabGrade, LabInfo, Origin, QuestionInfo, TraineeGrade,
    };
    use std::time::{Duration, SystemTime};

    fn snapshot(name: &str) -> Snapshot {
        let book = Gradebook {
            labs: vec![LabInfo {
                id: "02-prometheus".into(),
                title: "Prometheus".into(),
                possible: 2,
                questions: vec![QuestionInfo {
                    id: "why".into(),
                    prompt: "Why <b>?".into(),
                    model_answer: Some("Because".into()),
                }],
            }],
            trainees: vec![TraineeGrade {
                trainee: name.into(),
                origin: Origin::Roster,
                problems: vec!["GET http://admin:s3cret@h:9090 refused".into()],
                rejected: false,
                labs: vec![LabGrade {
                    lab: "02-prometheus".into(),
                    graded: true,
                    checks: vec![GradedCheck {
                        id: "job".into(),
                        exercise: "scrape".into(),
                        kind: "prometheus_query".into(),
                        description: "The job is scraped".into(),
                        status: Mark::Failed,
                        expected: Some("1".into()),
                        actual: Some("<script>alert(1)</script>".into()),
                        message: None,
                        hint: Some("Add the job".into()),
                        points: 0,
                        possible: 2,
                        manual: None,
                    }],
                }],
                answers: [("why".to_string(), "it's \"fine\" & <ok>".to_string())].into(),
            }],
        };
        let mut tr = Tracker::new(Duration::from_secs(15), Duration::from_secs(900));
        tr.observe(
            book,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn the_page_refreshes_itself_escapes_and_links_each_trainee() {
        let html = index(&snapshot("a<b> c"), Some("t&k"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15; url=/?token=t%26k\">"));
        assert!(html.contains("<a href=\"/trainee/a%3Cb%3E%20c?token=t%26k\">a&lt;b&gt; c</a>"));
        assert!(html.contains("<td>02/scrape</td>"), "{html}");
        assert!(!html.contains("<script") && !html.contains("src="));
    }

    #[test]
    fn the_trainee_page_shows_checks_and_answers_escaped_without_passwords() {
        let html = trainee(&snapshot("alice"), "alice", None).unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("it&#39;s &quot;fine&quot; &amp; &lt;ok&gt;"));
        assert!(html.contains("Why &lt;b&gt;?"));
        assert!(html.contains("Add the job"));
        assert!(!html.contains("s3cret"));
        assert!(html.contains("GET http://h:9090 refused"));
        assert_eq!(trainee(&snapshot("alice"), "bob", None), None);
    }
}

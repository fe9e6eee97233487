//! Reads the analyzer's log lines and reconstructs each image analysis: its thread,
//! image, and the moments it was dequeued, pulled, analysed, completed or failed.
//! Bytes in, data out (no I/O); `lab trace`, `lab check` and the probes feed it lines.
//!
//! Two formats are understood:
//! - Anchore Enterprise v5: `[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00]
//!   [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued …`
//! - the open-source engine: `[service:analyzer] 2024-08-18 12:59:13+0000 [-] [Thread-55181]
//!   [anchore_engine.services.analyzer.analysis/process_analyzer_job()] [INFO] image dequeued …`
//!
//! Either may carry a container prefix (`analyzer-1  | ` from `docker compose logs`),
//! which names the analyzer. Lines are bytes: text that is not UTF-8 is read lossily
//! and never stops the reading.

use std::collections::HashMap;

pub use crate::model::analysis::{Analysis, Event, Outcome, Step};
use crate::model::image::normalise;

const LEVELS: [&[u8]; 8] = [
    b"SPEW",
    b"DEBUG",
    b"INFO",
    b"WARN",
    b"WARNING",
    b"ERROR",
    b"CRITICAL",
    b"FATAL",
];

/// The message beginnings that matter to an analysis.
pub const KEY_MESSAGES: [&str; 6] = [
    "image dequeued for analysis",
    "performing analysis on image",
    "analysis complete",
    "problem analyzing image",
    "analyzing image",
    "Downloading image",
];

/// One parsed log line (borrowed from the line's bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// The timestamp as written (ASCII).
    pub stamp: &'a str,
    /// The container prefix (`analyzer-1`), empty when there is none.
    pub prefix: &'a [u8],
    pub thread: &'a [u8],
    pub level: &'a [u8],
    pub message: &'a [u8],
}

impl Line<'_> {
    pub fn message_text(&self) -> String {
        String::from_utf8_lossy(self.message).into_owned()
    }
    pub fn thread_text(&self) -> String {
        String::from_utf8_lossy(self.thread).into_owned()
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Parses one line; `None` for lines of another shape (tracebacks, blank lines).
pub fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    let mut rest = trim(line);
    let mut prefix: &[u8] = b"";
    // `analyzer-1  | [service:…] …`: a container name before the first bracket.
    if !rest.starts_with(b"[") && stamp_len(rest).is_none() {
        let open = memchr::memchr(b'[', rest)?;
        let mut p = trim(&rest[..open]);
        if let [head @ .., b'|'] = p {
            p = trim(head);
        }
        prefix = p;
        rest = &rest[open..];
    }
    let mut groups: [&[u8]; 8] = [b""; 8];
    let mut n = 0;
    let mut stamp: Option<(&[u8], f64)> = None;
    let mut loc = None;
    loop {
        rest = trim(rest);
        if let Some(inner) = rest.strip_prefix(b"[") {
            let end = memchr::memchr(b']', inner)?;
            let g = &inner[..end];
            rest = &inner[end + 1..];
            if stamp.is_none() && stamp_len(g) == Some(g.len()) {
                stamp = Some((g, parse_time_bytes(g)?));
                continue;
            }
            if n == groups.len() {
                return None;
            }
            groups[n] = g;
            n += 1;
            if loc.is_none() && g.windows(2).any(|w| w == b"()") {
                loc = Some(n - 1);
                // The engine writes the level after the location.
                if !rest.starts_with(b" [") {
                    break;
                }
            }
        } else if stamp.is_none() && n <= 1 {
            // The engine writes `2024-08-18 12:59:13+0000` outside brackets.
            let len = stamp_len(rest)?;
            stamp = Some((&rest[..len], parse_time_bytes(&rest[..len])?));
            rest = &rest[len..];
        } else {
            break;
        }
    }
    let (stamp, time) = stamp?;
    let loc = loc?;
    let groups = &groups[..n];
    let thread = *groups[..loc]
        .iter()
        .rev()
        .find(|g| !LEVELS.contains(g) && !g.starts_with(b"service:"))?;
    let level = groups
        .iter()
        .find(|g| LEVELS.contains(g))
        .copied()
        .unwrap_or(b"INFO");
    let mut message = trim(rest);
    if let Some(m) = message.strip_prefix(b"|") {
        message = trim(m);
    }
    Some(Line {
        time,
        // A stamp is made of ASCII digits and separators only (stamp_len checked it).
        stamp: std::str::from_utf8(stamp).ok()?,
        prefix,
        thread,
        level,
        message,
    })
}

/// The length of the timestamp at the start of `b`: `2024-08-18T12:59:13.476831+00:00`,
/// `2024-08-18 12:59:13+0000`, `…Z` or no zone; `None` when `b` does not start with one.
fn stamp_len(b: &[u8]) -> Option<usize> {
    if b.len() < 19 {
        return None;
    }
    let digit = |i: usize| b[i].is_ascii_digit();
    let shape = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .all(|&i| digit(i))
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(b'+' | b'-') => {
            let d = |k: usize| b.get(k).is_some_and(u8::is_ascii_digit);
            if d(i + 1) && d(i + 2) && b.get(i + 3) == Some(&b':') && d(i + 4) && d(i + 5) {
                i += 6;
            } else if d(i + 1) && d(i + 2) && d(i + 3) && d(i + 4) {
                i += 5;
            } else {
                return None;
            }
        }
        _ => {}
    }
    Some(i)
}

/// Seconds since the epoch for a whole timestamp (see [`stamp_len`]), with any UTC offset.
pub fn parse_time_bytes(b: &[u8]) -> Option<f64> {
    if stamp_len(b)? != b.len() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let (y, mo, d) = (num(0..4), num(5..7), num(8..10));
    let (h, mi, se) = (num(11..13), num(14..16), num(17..19));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0f64;
    if b.get(i) == Some(&b'.') {
        let mut scale = 0.1;
        i += 1;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            frac += f64::from(c - b'0') * scale;
            scale /= 10.0;
            i += 1;
        }
    }
    let offset = match b.get(i) {
        Some(&s @ (b'+' | b'-')) => {
            let digits: Vec<i64> = b[i + 1..]
                .iter()
                .filter(|c| c.is_ascii_digit())
                .map(|c| i64::from(c - b'0'))
                .collect();
            let v = (digits[0] * 10 + digits[1]) * 3600 + (digits[2] * 10 + digits[3]) * 60;
            if s == b'+' {
                v
            } else {
                -v
            }
        }
        _ => 0,
    };
    let days = crate::model::time::days_from_civil(y, mo, d);
    Some((days * 86400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

/// Seconds since the epoch for `2024-08-18T12:59:13.476831+00:00`,
/// `2024-08-18 12:59:13+0000` and `…Z` forms, with any offset.
pub fn parse_time(s: &str) -> Option<f64> {
    parse_time_bytes(s.trim().as_bytes())
}

pub fn classify(message: &[u8]) -> Step {
    let m = message;
    if m.starts_with(b"image dequeued for analysis") {
        Step::Dequeued
    } else if m.starts_with(b"performing analysis on image complete") {
        Step::AnalysisDone
    } else if m.starts_with(b"performing analysis on image") {
        Step::Performing
    } else if m.starts_with(b"analyzing image") {
        Step::Analyzing
    } else if m.starts_with(b"Downloading image") {
        Step::Pulling
    } else if m.starts_with(b"analysis complete") {
        Step::Complete
    } else if m.starts_with(b"problem analyzing image") {
        Step::Failed
    } else {
        Step::Other
    }
}

/// The first `sha256:<hex>` a message names.
pub fn digest_in(message: &[u8]) -> Option<&[u8]> {
    // Each `:` (few in a message) is checked for the `sha256` before it: a
    // vector search for one byte, cheaper than a substring search on short text.
    let at = memchr::memchr_iter(b':', message).find(|&at| message[..at].ends_with(b"sha256"))?;
    let rest = &message[at + 1..];
    let is_hex = |c: &u8| c.is_ascii_hexdigit();
    // A whole digest is 64 digits: checked at once (no early exit, so vectorised).
    let hex = match rest.get(..64) {
        Some(whole) if whole.iter().fold(true, |all, c| all & is_hex(c)) => {
            64 + rest[64..].iter().take_while(|c| is_hex(c)).count()
        }
        _ => rest.iter().take_while(|c| is_hex(c)).count(),
    };
    (hex > 0).then(|| &message[at - 6..at + 1 + hex])
}

/// Builds analyses out of one source's lines, in the order they were written.
///
/// Within a source, the analyzer is the line's container prefix and an analysis is
/// followed by its thread; a line that names a digest goes to the open analysis of
/// that digest on its thread, so two analyzers writing to one file with the same
/// thread names (restarts, replicas) stay apart. A new dequeue never closes another
/// analysis: only its own `analysis complete` or failure line does, or the end of
/// the source. Analyses come out in the order of their dequeue (a finished one
/// waits while an older one still runs). Memory stays bounded: at most [`MAX_OPEN`]
/// analyses are open at once (the oldest are given up as unfinished beyond that) and
/// at most [`MAX_WAITING`] wait for an older one (then the oldest goes out).
pub struct Assembler {
    source: String,
    /// Keep every line of an analysis's thread, not only the key ones.
    detail: bool,
    open: HashMap<u64, Analysis>,
    /// `prefix \0 thread` -> the open analyses on that thread, oldest first.
    by_thread: HashMap<Vec<u8>, Vec<u64>>,
    next_id: u64,
    key: Vec<u8>,
    /// The dequeue times of the open analyses (microseconds, id).
    open_starts: std::collections::BTreeSet<(i64, u64)>,
    /// Finished analyses waiting for older ones, by (dequeue time, id).
    waiting: std::collections::BTreeMap<(i64, u64), Analysis>,
}

/// Finished analyses held back for order.
pub const MAX_WAITING: usize = 10_000;

/// Open analyses kept at once per source.
pub const MAX_OPEN: usize = 20_000;
/// Lines kept per analysis in detail mode.
const MAX_EVENTS: usize = 5_000;

impl Assembler {
    pub fn new(source: &str, detail: bool) -> Assembler {
        Assembler {
            source: source.to_string(),
            detail,
            open: HashMap::new(),
            by_thread: HashMap::new(),
            next_id: 0,
            key: Vec::new(),
            open_starts: Default::default(),
            waiting: Default::default(),
        }
    }

    /// Takes one line; finished analyses go to `emit`, oldest dequeue first.
    pub fn push(&mut self, line: &Line, emit: &mut impl FnMut(Analysis)) {
        let step = classify(line.message);
        let digest = key_digest(step, line.message);
        self.push_classified(line, step, digest, None, emit);
    }

    /// [`Assembler::push`] for a line already classified: its step, the digest
    /// [`key_digest`] finds in it, and its message as text when it was made already
    /// (`lab trace`'s workers do these, off the thread that assembles).
    pub fn push_classified(
        &mut self,
        line: &Line,
        step: Step,
        digest: Option<&[u8]>,
        text: Option<String>,
        emit: &mut impl FnMut(Analysis),
    ) {
        self.take(line, step, digest, text);
        self.release(emit, false);
    }

    fn take(&mut self, line: &Line, step: Step, digest: Option<&[u8]>, text: Option<String>) {
        if step == Step::Other && !self.detail {
            return;
        }
        let text = text.unwrap_or_else(|| line.message_text());
        self.key.clear();
        self.key.extend_from_slice(line.prefix);
        self.key.push(0);
        self.key.extend_from_slice(line.thread);
        if step == Step::Dequeued {
            self.dequeue(line, digest, text);
            return;
        }
        let id = self.find(digest, step);
        let Some(id) = id else {
            if step == Step::Complete && digest.is_some() {
                // Its dequeue came before these logs start.
                let mut a = self.new_analysis(line, digest);
                a.dequeued_at = None;
                a.started = None;
                finish(&mut a, line, step, text);
                self.hold(a);
            }
            return;
        };
        let a = self.open.get_mut(&id).expect("open ids are kept in step");
        match step {
            Step::Performing => {
                // `performing analysis on image: ['admin', 'pull@sha256:…', 'tag']`
                let items: Vec<String> = text
                    .split_once('[')
                    .map(|(_, l)| {
                        l.trim_end_matches(']')
                            .split(',')
                            .map(|i| i.trim().trim_matches(['\'', '"']).to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                a.pull_string = items.get(1).cloned().or(a.pull_string.take());
                a.tag = items.get(2).cloned().or(a.tag.take());
            }
            Step::Analyzing if a.pull_string.is_none() => {
                a.pull_string = text.split_once(": ").map(|(_, p)| p.trim().to_string());
            }
            _ => {}
        }
        a.ended = Some(line.time);
        if matches!(step, Step::Complete | Step::Failed) {
            if a.events.len() < MAX_EVENTS {
                a.events.push(event(line, step, text.clone()));
            }
            finish(a, line, step, text);
            let a = self.close(id);
            self.hold(a);
        } else if a.events.len() < MAX_EVENTS {
            a.events.push(event(line, step, text));
        }
    }

    /// The end of the source: what waits and what still runs goes out, oldest first.
    pub fn finish(mut self, emit: &mut impl FnMut(Analysis)) {
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            let a = self.close(id);
            self.hold(a);
        }
        self.release(emit, true);
    }

    fn hold(&mut self, a: Analysis) {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.insert((micros(&a), id), a);
    }

    /// Sends out the finished analyses older than every open one.
    fn release(&mut self, emit: &mut impl FnMut(Analysis), all: bool) {
        loop {
            let crowded = self.waiting.len() > MAX_WAITING;
            let Some(entry) = self.waiting.first_entry() else {
                break;
            };
            let older = self
                .open_starts
                .first()
                .is_none_or(|(t, _)| entry.key().0 <= *t);
            if !(all || older || crowded) {
                break;
            }
            emit(entry.remove());
        }
    }

    fn new_analysis(&self, line: &Line, digest: Option<&[u8]>) -> Analysis {
        Analysis {
            source: self.source.clone(),
            analyzer: String::from_utf8_lossy(line.prefix).into_owned(),
            thread: line.thread_text(),
            digest: digest.map(|d| String::from_utf8_lossy(d).into_owned()),
            dequeued_at: Some(line.stamp.to_string()),
            started: Some(line.time),
            ended: Some(line.time),
            ..Analysis::default()
        }
    }

    fn dequeue(&mut self, line: &Line, digest: Option<&[u8]>, text: String) {
        // The same image dequeued again on the same thread: the analyzer restarted
        // and the earlier analysis never finished.
        let again: Vec<u64> = self
            .by_thread
            .get(&self.key)
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|id| {
                        self.open[id].digest.as_deref().map(str::as_bytes) == digest
                            || self.open.len() >= MAX_OPEN
                    })
                    .collect()
            })
            .unwrap_or_default();
        for id in again {
            let a = self.close(id);
            self.hold(a);
        }
        if self.open.len() >= MAX_OPEN {
            self.give_up_oldest();
        }
        let mut a = self.new_analysis(line, digest);
        a.events.push(event(line, Step::Dequeued, text));
        let id = self.next_id;
        self.next_id += 1;
        self.open_starts.insert((micros(&a), id));
        self.open.insert(id, a);
        self.by_thread.entry(self.key.clone()).or_default().push(id);
    }

    /// The open analysis a line belongs to: on its thread, the one of its digest,
    /// else (for a line that names none, or an intermediate step naming another
    /// form of the digest) the latest dequeued.
    fn find(&self, digest: Option<&[u8]>, step: Step) -> Option<u64> {
        let ids = self.by_thread.get(&self.key)?;
        if let Some(d) = digest {
            let same = ids
                .iter()
                .rev()
                .find(|id| self.open[id].digest.as_deref().map(str::as_bytes) == Some(d));
            if same.is_some() || step == Step::Complete {
                return same.copied();
            }
        }
        ids.last().copied()
    }

    fn close(&mut self, id: u64) -> Analysis {
        let a = self.open.remove(&id).expect("open ids are kept in step");
        self.open_starts.remove(&(micros(&a), id));
        let mut key = a.analyzer.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(a.thread.as_bytes());
        // The key is rebuilt from lossy text; fall back to a scan when it differs.
        let slot = if self.by_thread.contains_key(&key) {
            Some(key)
        } else {
            self.by_thread
                .iter()
                .find(|(_, ids)| ids.contains(&id))
                .map(|(k, _)| k.clone())
        };
        if let Some(k) = slot {
            if let Some(ids) = self.by_thread.get_mut(&k) {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.by_thread.remove(&k);
                }
            }
        }
        a
    }

    /// Bounded memory against logs that dequeue and never finish: the oldest tenth
    /// of the open analyses are reported as unfinished.
    fn give_up_oldest(&mut self) {
        let mut ids: Vec<(f64, u64)> = self.open.iter().map(|(id, a)| (by_start(a), *id)).collect();
        ids.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, id) in ids.into_iter().take(MAX_OPEN / 10) {
            let a = self.close(id);
            self.hold(a);
        }
    }
}

/// The order key: dequeue time (or last line's) in microseconds.
fn micros(a: &Analysis) -> i64 {
    (by_start(a) * 1e6) as i64
}

/// The order of a list of analyses: by dequeue time (the last line's when the dequeue
/// is before the logs), in microseconds.
pub fn order_key(a: &Analysis) -> i64 {
    micros(a)
}

fn by_start(a: &Analysis) -> f64 {
    a.started.or(a.ended).unwrap_or(0.0)
}

fn event(line: &Line, step: Step, message: String) -> Event {
    Event {
        step,
        stamp: line.stamp.to_string(),
        time: line.time,
        message,
    }
}

/// The digest a line of `step` names, for the lines that name the analysis's own.
pub fn key_digest(step: Step, message: &[u8]) -> Option<&[u8]> {
    match step {
        Step::Dequeued
        | Step::Performing
        | Step::Analyzing
        | Step::Pulling
        | Step::AnalysisDone
        | Step::Complete => digest_in(message),
        _ => None,
    }
}

/// Ends `a` at `line`; `text` is the line's message.
fn finish(a: &mut Analysis, line: &Line, step: Step, text: String) {
    a.ended = Some(line.time);
    if step == Step::Complete {
        a.outcome = Outcome::Complete;
    } else {
        a.outcome = Outcome::Failed;
        a.error = Some(text.clone());
    }
    if a.events.is_empty() {
        a.events.push(event(line, step, text));
    }
    // Timestamps carry microseconds; round away the float error of subtracting
    // two epoch-sized numbers.
    // An end stamped before its start (a clock set back, a damaged line) gives no
    // duration rather than a negative one.
    a.duration = a
        .started
        .map(|s| ((line.time - s) * 1e6).round() / 1e6)
        .filter(|d| *d >= 0.0);
}

/// Every analysis in `(source, line)` pairs (each source's lines in the order written;
/// sources may interleave), every line of each kept, sorted by dequeue time.
pub fn analyses<'a>(lines: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Analysis> {
    let mut done = Vec::new();
    let mut by_source: Vec<Assembler> = Vec::new();
    for (source, raw) in lines {
        let Some(line) = parse_line(raw.as_bytes()) else {
            continue;
        };
        let i = match by_source.iter().position(|c| c.source == source) {
            Some(i) => i,
            None => {
                by_source.push(Assembler::new(source, true));
                by_source.len() - 1
            }
        };
        by_source[i].push(&line, &mut |a| done.push(a));
    }
    for c in by_source {
        c.finish(&mut |a| done.push(a));
    }
    done.sort_by(|a, b| by_start(a).total_cmp(&by_start(b)));
    done
}

/// Whether an analysis is of `image`: a tag (`postgres:latest` and
/// `docker.io/library/postgres:latest` alike) or a digest (`sha256:…`, or its prefix).
pub fn is_of(a: &Analysis, image: &str) -> bool {
    let image = image.trim();
    if image.starts_with("sha256:") {
        return a.digest.as_deref().is_some_and(|d| d.starts_with(image));
    }
    let want = normalise(image);
    a.tag.as_deref().map(normalise).as_deref() == Some(want.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The course's own sample lines (lab 1), with the `[service:…]` prefix the
    /// course's last line lost in copying restored.
    const COURSE: &str = "\
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.476831+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | image dequeued for analysis: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.569659+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():280] | performing analysis on image: ['admin', 'docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b', 'docker.io/library/postgres:latest']
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.575234+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/perform_analyze():287] | analyzing image: docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b
[service:anchore-enterprise-analyzer] [2024-08-18T12:59:13.585940+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.localanchore_standalone/pull_image():679] | Downloading image docker.io/library/postgres@sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b for analysis to /analysis_scratch/17b02621-8234-4815-93cc-1ae10fe6a75f/raw
[2024-08-18T13:00:32.494336+00:00] [MainProcess] [Thread-55181] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():508] | analysis complete: admin : sha256:07ad6d6385313c68c8acd575ac8cc0d73921cdea430afd3dc228782ee1f5a73b";

    #[test]
    fn parses_the_enterprise_line_format() {
        let l = parse_line(COURSE.lines().next().unwrap().as_bytes()).unwrap();
        assert_eq!(l.thread, b"Thread-55181");
        assert_eq!(l.level, b"INFO");
        assert!(l
            .message
            .starts_with(b"image dequeued for analysis: admin : sha256:07ad"));
        assert_eq!(l.stamp, "2024-08-18T12:59:13.476831+00:00");
    }

    #[test]
    fn the_course_sample_takes_79_seconds() {
        let a = analyses(COURSE.lines().map(|l| ("analyzer-1", l)));
        assert_eq!(a.len(), 1);
        let a = &a[0];
        assert_eq!(a.outcome, Outcome::Complete);
        assert_eq!(a.tag.as_deref(), Some("docker.io/library/postgres:latest"));
        let d = a.duration.unwrap();
        assert!((d - 79.017505).abs() < 1e-3, "{d}");
        assert_eq!(
            a.events.iter().map(|e| e.step).collect::<Vec<_>>(),
            [
                Step::Dequeued,
                Step::Performing,
                Step::Analyzing,
                Step::Pulling,
                Step::Complete
            ]
        );
        assert!(is_of(a, "postgres:latest"));
        assert!(is_of(a, "sha256:07ad6d63"));
        assert!(!is_of(a, "nginx"));
    }

    #[test]
    fn parses_the_engine_format() {
        let line = "[service:analyzer] 2021-01-05 10:00:01+0000 [-] [Thread-7] [anchore_engine.services.analyzer.analysis/process_analyzer_job()] [INFO] image dequeued for analysis: admin : sha256:abc";
        let l = parse_line(line.as_bytes()).unwrap();
        assert_eq!(l.thread, b"Thread-7");
        assert_eq!(
            l.message,
            b"image dequeued for analysis: admin : sha256:abc"
        );
        assert_eq!(l.time, parse_time("2021-01-05T10:00:01Z").unwrap());
    }

    #[test]
    fn interleaved_threads_and_a_failure_are_kept_apart() {
        let lines = [
            "[service:a] [2024-01-01T00:00:00+00:00] [MainProcess] [Thread-1] [INFO] [m/process_analyzer_job():1] | image dequeued for analysis: admin : sha256:aaa",
            "[service:a] [2024-01-01T00:00:01+00:00] [MainProcess] [Thread-2] [INFO] [m/process_analyzer_job():1] | image dequeued for analysis: admin : sha256:bbb",
            "[service:a] [2024-01-01T00:00:02+00:00] [MainProcess] [Thread-2] [ERROR] [m/process_analyzer_job():1] | problem analyzing image - exception: pull failed",
            "Traceback (most recent call last):",
            "[service:a] [2024-01-01T00:00:05+00:00] [MainProcess] [Thread-1] [INFO] [m/process_analyzer_job():1] | analysis complete: admin : sha256:aaa",
        ];
        let a = analyses(lines.iter().map(|l| ("x", *l)));
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].digest.as_deref(), a[0].outcome, a[0].duration),
            (Some("sha256:aaa"), Outcome::Complete, Some(5.0))
        );
        assert_eq!(
            (a[1].digest.as_deref(), a[1].outcome, a[1].duration),
            (Some("sha256:bbb"), Outcome::Failed, Some(1.0))
        );
    }

    #[test]
    fn an_unfinished_analysis_has_no_duration() {
        let a = analyses(COURSE.lines().take(3).map(|l| ("x", l)));
        assert_eq!(a[0].outcome, Outcome::Unfinished);
        assert_eq!(a[0].duration, None);
    }

    #[test]
    fn tags_are_normalised_as_docker_does() {
        assert_eq!(normalise("postgres"), "docker.io/library/postgres:latest");
        assert_eq!(
            normalise("grafana/grafana:11.1.3"),
            "docker.io/grafana/grafana:11.1.3"
        );
        assert_eq!(
            normalise("127.0.0.1:5000/prom/prometheus"),
            "127.0.0.1:5000/prom/prometheus:latest"
        );
        assert_eq!(
            normalise("docker.io/library/postgres:latest"),
            "docker.io/library/postgres:latest"
        );
    }

    /// Docker Hub names without `library/` are the same image (this kept
    /// `docker.io/postgres:13` as is, so a step waiting for it waited in vain).
    #[test]
    fn an_analysis_of_a_hub_image_matches_every_name_of_it() {
        let a = Analysis {
            tag: Some("docker.io/library/postgres:13".into()),
            ..Analysis::default()
        };
        for name in [
            "postgres:13",
            "docker.io/postgres:13",
            "index.docker.io/library/postgres:13",
        ] {
            assert!(is_of(&a, name), "{name}");
        }
        assert!(!is_of(&a, "docker.io/postgres:14"));
    }

    #[test]
    fn rejects_lines_of_other_shapes_without_panicking() {
        for l in [
            "",
            "[",
            "[x",
            "[2024-13-99T99:99:99+00:00]",
            "plain text",
            "[a] [b] [c()] msg",
            "[service:x] [2024-01-01T00:00:00+00:00]",
        ] {
            let _ = parse_line(l.as_bytes());
        }
        assert_eq!(parse_line(b"plain text"), None);
    }

    fn line(t: &str, thread: &str, msg: &str) -> String {
        format!("[service:anchore-enterprise-analyzer] [2024-01-01T{t}+00:00] [MainProcess] [{thread}] [INFO] [anchore_enterprise.services.analyzer.analysis/process_analyzer_job():415] | {msg}")
    }

    #[test]
    fn interleaved_analyzers_with_a_reused_thread_name_keep_each_analysis() {
        // Two analyzers' lines in one file, both on `Thread-1`: alpine's dequeue must
        // not close postgres's analysis, whose completion names its digest.
        let lines = [
            line("00:00:00", "Thread-1", "image dequeued for analysis: admin : sha256:aa11"),
            line("00:00:01", "Thread-1", "performing analysis on image: ['admin', 'docker.io/library/postgres@sha256:aa11', 'docker.io/library/postgres:latest']"),
            line("00:00:02", "Thread-1", "image dequeued for analysis: admin : sha256:bb22"),
            line("00:00:03", "Thread-1", "performing analysis on image: ['admin', 'docker.io/library/alpine@sha256:bb22', 'docker.io/library/alpine:3']"),
            line("00:00:10", "Thread-1", "analysis complete: admin : sha256:aa11"),
            line("00:00:12", "Thread-1", "problem analyzing image - exception: no space left"),
        ];
        let a = analyses(lines.iter().map(|l| ("bundle", l.as_str())));
        assert_eq!(a.len(), 2);
        assert_eq!(
            a[0].tag.as_deref(),
            Some("docker.io/library/postgres:latest")
        );
        assert_eq!(
            (a[0].outcome, a[0].duration),
            (Outcome::Complete, Some(10.0))
        );
        assert_eq!(a[1].tag.as_deref(), Some("docker.io/library/alpine:3"));
        assert_eq!((a[1].outcome, a[1].duration), (Outcome::Failed, Some(10.0)));
        assert_eq!(
            a[1].error.as_deref(),
            Some("problem analyzing image - exception: no space left")
        );
    }

    #[test]
    fn sources_may_interleave() {
        let a = line(
            "00:00:00",
            "Thread-1",
            "image dequeued for analysis: admin : sha256:aa",
        );
        let b = line("00:00:01", "Thread-9", "unrelated");
        let c = line(
            "00:00:05",
            "Thread-1",
            "analysis complete: admin : sha256:aa",
        );
        let got = analyses([
            ("one", a.as_str()),
            ("two", b.as_str()),
            ("one", c.as_str()),
        ]);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].outcome, got[0].duration),
            (Outcome::Complete, Some(5.0))
        );
    }

    #[test]
    fn compose_prefixes_name_the_analyzer_and_keep_replicas_apart() {
        let l = |p: &str, t: &str, m: &str| format!("{p}  | {}", line(t, "Thread-1", m));
        let lines = [
            l(
                "analyzer-1",
                "00:00:00",
                "image dequeued for analysis: admin : sha256:aa",
            ),
            l(
                "analyzer-2",
                "00:00:01",
                "image dequeued for analysis: admin : sha256:bb",
            ),
            l(
                "analyzer-2",
                "00:00:03",
                "problem analyzing image - exception: boom",
            ),
            l(
                "analyzer-1",
                "00:00:05",
                "problem analyzing image - exception: bang",
            ),
        ];
        let a = analyses(lines.iter().map(|l| ("compose.log", l.as_str())));
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].analyzer.as_str(), a[0].duration),
            ("analyzer-1", Some(5.0))
        );
        assert_eq!(
            (a[1].analyzer.as_str(), a[1].duration),
            ("analyzer-2", Some(2.0))
        );
        assert!(a[0].error.as_deref().unwrap().ends_with("bang"));
    }

    #[test]
    fn a_restart_leaves_the_earlier_analysis_unfinished() {
        let lines = [
            line(
                "00:00:00",
                "Thread-1",
                "image dequeued for analysis: admin : sha256:aa",
            ),
            line(
                "00:01:00",
                "Thread-1",
                "image dequeued for analysis: admin : sha256:aa",
            ),
            line(
                "00:01:30",
                "Thread-1",
                "analysis complete: admin : sha256:aa",
            ),
        ];
        let a = analyses(lines.iter().map(|l| ("x", l.as_str())));
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].outcome, Outcome::Unfinished);
        assert_eq!(
            (a[1].outcome, a[1].duration),
            (Outcome::Complete, Some(30.0))
        );
    }

    #[test]
    fn a_completion_whose_dequeue_is_before_the_logs_is_kept_without_a_duration() {
        let lines = [line(
            "00:00:00",
            "Thread-1",
            "analysis complete: admin : sha256:aa",
        )];
        let a = analyses(lines.iter().map(|l| ("x", l.as_str())));
        assert_eq!((a[0].outcome, a[0].duration), (Outcome::Complete, None));
        assert_eq!(a[0].digest.as_deref(), Some("sha256:aa"));
    }

    /// Found by the bundle fuzzer: a completion stamped before its dequeue.
    #[test]
    fn an_end_stamped_before_its_start_has_no_duration() {
        let lines = [
            line(
                "00:00:09",
                "Thread-1",
                "image dequeued for analysis: admin : sha256:aa",
            ),
            line(
                "00:00:02",
                "Thread-1",
                "analysis complete: admin : sha256:aa",
            ),
        ];
        let a = analyses(lines.iter().map(|l| ("x", l.as_str())));
        assert_eq!((a[0].outcome, a[0].duration), (Outcome::Complete, None));
    }

    #[test]
    fn timestamps_with_any_offset() {
        let utc = parse_time("2024-08-18T12:59:13Z").unwrap();
        assert_eq!(parse_time("2024-08-18T14:59:13+02:00"), Some(utc));
        assert_eq!(parse_time("2024-08-18T07:59:13-0500"), Some(utc));
        assert_eq!(parse_time("2024-08-18 12:59:13"), Some(utc));
        assert_eq!(parse_time("2024-08-18T12:59:13.5+00:00"), Some(utc + 0.5));
        assert_eq!(parse_time("2024-13-18T12:59:13Z"), None);
        assert_eq!(parse_time("2024-08-18T12:59:13+0"), None);
    }

    #[test]
    fn multi_byte_characters_and_invalid_utf8_never_panic() {
        // Issue 14: a multi-byte character near byte 24 used to split under slicing.
        for l in [
            "[service:x] 2024-01-01 00:0é:00+0000 [-] [T] [m()] [INFO] x",
            "ééééééééééééééééééééééééééééééééé",
            "[service:x] ééééééééééééééééééééééé [T] [m()] x",
            "[service:x] 2024-01-01 00:00:00+0000 [-] [Thréad-1] [m()] [INFO] image dequeued for analysis: admin : sha256:ab",
        ] {
            let _ = parse_line(l.as_bytes());
        }
        let l = parse_line(b"[2024-01-01T00:00:00Z] [P] [T\xff1] [INFO] [m():1] | analysis complete: \xfe sha256:ab").unwrap();
        assert_eq!(l.thread, b"T\xff1");
        assert_eq!(classify(l.message), Step::Complete);
        assert_eq!(digest_in(l.message), Some(&b"sha256:ab"[..]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn no_bytes_make_the_parser_or_the_assembler_panic(
            lines in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), 0..20),
            picks in proptest::collection::vec((0usize..6, 0usize..3, 0usize..3, proptest::prelude::any::<u8>()), 0..30),
        ) {
            let mut a = Assembler::new("fuzz", true);
            let mut out = Vec::new();
            for l in &lines {
                if let Some(p) = parse_line(l) {
                    a.push(&p, &mut |x| out.push(x));
                }
            }
            // Well-formed lines in random order, threads and digests, with a random byte inserted.
            let msgs = ["image dequeued for analysis: admin : sha256:a", "performing analysis on image: ['admin', 'x@sha256:b', 'x:1']",
                "analysis complete: admin : sha256:a", "problem analyzing image - exception: x", "analyzing image: x@sha256:b", "Downloading image x"];
            for (i, (m, t, d, byte)) in picks.iter().enumerate() {
                let mut raw = line(&format!("00:00:{:02}", i % 60), &format!("Thread-{t}"), msgs[*m]).into_bytes();
                raw.extend(format!("{d}").as_bytes());
                let at = (usize::from(*byte) * 7) % raw.len();
                raw.insert(at, *byte);
                if let Some(p) = parse_line(&raw) {
                    a.push(&p, &mut |x| out.push(x));
                }
            }
            a.finish(&mut |x| out.push(x));
            for x in &out {
                proptest::prop_assert!(x.duration.is_none_or(|d| d.is_finite()));
            }
        }
    }
}

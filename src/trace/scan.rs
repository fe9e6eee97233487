//! Reads logs at disk speed in bounded memory: one thread reads (and decompresses)
//! blocks of whole lines, workers on every core search each block for the few
//! messages that matter (one multi-pattern search over bytes) and parse only those
//! lines, and the calling thread puts the analyses together in the order the lines
//! were written, handing each to the sink as soon as it ends.
//!
//! Memory: a fixed pool of blocks (`BLOCK` bytes each) travels around
//! reader -> workers -> assembler -> reader, so the input's size does not matter.

use super::input::{self, Visit};
use crate::analyzer_log::{self, Analysis, Assembler, Line, Step};
use aho_corasick::{packed, AhoCorasick, Input, MatchKind, Span};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Bytes per block.
pub const BLOCK: usize = 2 << 20;

/// Which lines to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the lines that start, end or name an analysis (dequeue, the image's
    /// names, completion, failure): for lists and summaries.
    Key,
    /// Every line of an analysis's thread: for one image's timeline.
    Every,
}

/// What was read, for the closing words.
#[derive(Debug, Default)]
pub struct Stats {
    pub logs: Vec<String>,
    pub skipped: usize,
    pub bytes: u64,
    pub warnings: Vec<String>,
}

struct Job {
    seq: u64,
    /// Set on a log's first block.
    name: Option<Arc<str>>,
    buf: Vec<u8>,
    len: usize,
    last: bool,
}

/// A parsed line as offsets into its block, classified by the worker.
struct Spans {
    time: f64,
    stamp: (u32, u32),
    prefix: (u32, u32),
    thread: (u32, u32),
    message: (u32, u32),
    step: Step,
    digest: Option<(u32, u32)>,
    /// The message as text, made by the worker for the lines that start or end an
    /// analysis (in `Mode::Every`, by the assembler for the lines it keeps).
    text: Option<String>,
}

struct Done {
    job: Job,
    lines: Vec<Spans>,
}

/// Reads every input and hands each analysis to `sink` as it ends.
pub fn run(
    paths: &[PathBuf],
    mode: Mode,
    sink: &mut dyn FnMut(Analysis),
) -> crate::error::Result<Stats> {
    input::check(paths)?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    let pool = workers * 2 + 2;
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(pool);
    for _ in 0..pool {
        free_tx.send(vec![0u8; BLOCK]).expect("the pool has room");
    }
    let (job_tx, job_rx) = sync_channel::<Job>(pool);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<Done>(pool);
    let patterns = Needles::new();

    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut r = Reader {
                free: free_rx,
                jobs: job_tx,
                seq: 0,
                stats: Stats::default(),
            };
            let res = input::walk(paths, &mut r);
            (res, r.stats)
        });
        for _ in 0..workers {
            let rx = Arc::clone(&job_rx);
            let tx = done_tx.clone();
            let patterns = &patterns;
            s.spawn(move || loop {
                let job = match rx.lock() {
                    Ok(g) => g.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let mut lines = Vec::new();
                scan_block(&job.buf[..job.len], mode, patterns, &mut lines);
                if tx.send(Done { job, lines }).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        assemble(done_rx, free_tx, mode, sink);
        let (res, stats) = reader.join().expect("the reader thread does not panic");
        res.map(|()| stats)
    })
}

struct Reader {
    free: Receiver<Vec<u8>>,
    jobs: SyncSender<Job>,
    seq: u64,
    stats: Stats,
}

impl Visit for Reader {
    fn log(&mut self, name: &str, head: Vec<u8>, rest: &mut dyn Read) -> io::Result<()> {
        self.stats.logs.push(name.to_string());
        let mut name = Some(Arc::<str>::from(name));
        // What starts the next block: the head (at most `SNIFF` < `BLOCK` bytes),
        // then each block's last partial line.
        let mut carry: Vec<u8> = head;
        loop {
            let Ok(mut buf) = self.free.recv() else {
                return Ok(()); // the assembler stopped
            };
            let mut len = carry.len().min(BLOCK);
            buf[..len].copy_from_slice(&carry[..len]);
            carry.clear();
            let mut last = false;
            let mut failed = None;
            while len < BLOCK {
                match rest.read(&mut buf[len..]) {
                    Ok(0) => {
                        last = true;
                        break;
                    }
                    Ok(n) => len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        last = true;
                        failed = Some(e);
                        break;
                    }
                }
            }
            if !last {
                // Cut after the last whole line; the rest starts the next block. A
                // block without a newline is one very long line: it is cut as it is.
                if let Some(nl) = memchr::memrchr(b'\n', &buf[..len]) {
                    carry.extend_from_slice(&buf[nl + 1..len]);
                    len = nl + 1;
                }
            }
            self.stats.bytes += len as u64;
            let job = Job {
                seq: self.seq,
                name: name.take(),
                buf,
                len,
                last,
            };
            self.seq += 1;
            if self.jobs.send(job).is_err() {
                return Ok(());
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if last {
                return Ok(());
            }
        }
    }

    fn warn(&mut self, message: String) {
        self.stats.warnings.push(message);
    }

    fn skipped(&mut self, _name: &str) {
        self.stats.skipped += 1;
    }
}

fn span(block: &[u8], part: &[u8]) -> (u32, u32) {
    if part.is_empty() {
        return (0, 0);
    }
    let start = part.as_ptr() as usize - block.as_ptr() as usize;
    (start as u32, (start + part.len()) as u32)
}

/// Parses `line` and keeps it when it can matter: in `Mode::Key`, only the lines
/// that start, end or name an analysis.
fn keep(block: &[u8], line: &[u8], mode: Mode, out: &mut Vec<Spans>) {
    let Some(l) = analyzer_log::parse_line(line) else {
        return;
    };
    let step = analyzer_log::classify(l.message);
    if mode == Mode::Key && step == Step::Other {
        return;
    }
    out.push(Spans {
        time: l.time,
        stamp: span(block, l.stamp.as_bytes()),
        prefix: span(block, l.prefix),
        thread: span(block, l.thread),
        message: span(block, l.message),
        step,
        digest: analyzer_log::key_digest(step, l.message).map(|d| span(block, d)),
        text: (mode == Mode::Key).then(|| l.message_text()),
    });
}

/// What a line holding one of the four messages that start or end an analysis
/// contains: a piece of each message whose first bytes are rare in analyzer logs
/// (`ana`, `pro` or `per` begin half the words of every line, in `analyzer`,
/// `process_analyzer_job` and `perform_analyze`), so the vector search (Teddy) stops
/// at few lines that do not matter. Every line found is parsed and its message
/// classified; a piece found elsewhere in a line costs a parse, never a wrong result.
const NEEDLES: [&str; 4] = [
    "dequeued for analysis",
    "rming analysis on image",
    "complete",
    "lem analyzing image",
];

/// The search for [`NEEDLES`]: Teddy where the CPU has it, Aho-Corasick otherwise.
struct Needles {
    teddy: Option<packed::Searcher>,
    ac: AhoCorasick,
}

impl Needles {
    fn new() -> Needles {
        let teddy = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(NEEDLES)
            .build();
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(NEEDLES)
            .expect("fixed patterns build");
        Needles { teddy, ac }
    }

    /// The first needle at or after `from`: (start, end).
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        let m = match &self.teddy {
            Some(t) => t.find_in(hay, Span::from(from..hay.len()))?,
            None => self.ac.find(Input::new(hay).range(from..))?,
        };
        Some((m.start(), m.end()))
    }
}

fn scan_block(block: &[u8], mode: Mode, patterns: &Needles, out: &mut Vec<Spans>) {
    match mode {
        Mode::Every => {
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', block) {
                keep(block, &block[start..nl], mode, out);
                start = nl + 1;
            }
            if start < block.len() {
                keep(block, &block[start..], mode, out);
            }
        }
        Mode::Key => {
            let mut pos = 0;
            while pos < block.len() {
                let Some((m_start, m_end)) = patterns.find(block, pos) else {
                    break;
                };
                let start =
                    memchr::memrchr(b'\n', &block[pos..m_start]).map_or(pos, |i| pos + i + 1);
                let end = memchr::memchr(b'\n', &block[m_end..]).map_or(block.len(), |i| m_end + i);
                keep(block, &block[start..end], mode, out);
                pos = end + 1;
            }
        }
    }
}

/// Puts the blocks back in order and the lines into analyses.
fn assemble(
    done: Receiver<Done>,
    free: SyncSender<Vec<u8>>,
    mode: Mode,
    sink: &mut dyn FnMut(Analysis),
) {
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut current: Option<Assembler> = None;
    let mut emit = |a: Analysis| sink(a);
    for d in done {
        waiting.insert(d.job.seq, d);
        while let Some(d) = waiting.remove(&next) {
            next += 1;
            if let Some(name) = &d.job.name {
                if let Some(c) = current.take() {
                    c.finish(&mut emit);
                }
                current = Some(Assembler::new(name, mode == Mode::Every));
            }
            let block = &d.job.buf[..d.job.len];
            let text = |(a, b): (u32, u32)| &block[a as usize..b as usize];
            if let Some(c) = current.as_mut() {
                for s in d.lines {
                    let line = Line {
                        time: s.time,
                        stamp: std::str::from_utf8(text(s.stamp)).unwrap_or(""),
                        prefix: text(s.prefix),
                        thread: text(s.thread),
                        level: b"",
                        message: text(s.message),
                    };
                    c.push_classified(&line, s.step, s.digest.map(text), s.text, &mut emit);
                }
            }
            if d.job.last {
                if let Some(c) = current.take() {
                    c.finish(&mut emit);
                }
            }
            // The reader may be gone (it stopped on an error): the block is dropped then.
            let _ = free.try_send(d.job.buf);
        }
    }
    if let Some(c) = current.take() {
        c.finish(&mut emit);
    }
}

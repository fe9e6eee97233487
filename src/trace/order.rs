//! Puts rows in order of a key in bounded memory: an external merge sort. Rows
//! gather in a batch of at most [`BATCH`] bytes; a full batch is sorted and written
//! as one run to a temporary file (unlinked as soon as it is created, so nothing is
//! left behind), and the runs are merged at the end. Equal keys keep their order of
//! arrival. `lab trace` lists the analyses of several logs this way, each log's
//! analyses coming in dequeue order of their own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// Bytes of rows held in memory before a run goes to the temporary file.
pub const BATCH: usize = 8 << 20;
/// Bytes read ahead per run while merging (all runs together stay under [`BATCH`],
/// down to a floor of [`MIN_READ`] each).
const MIN_READ: usize = 4 << 10;
const MAX_READ: usize = 256 << 10;
/// A run's record: key (i64), arrival (u64), length (u32), then the row.
const HEAD: usize = 8 + 8 + 4;

pub struct Sorter {
    /// The rows of the batch, one after the other.
    arena: Vec<u8>,
    /// (key, arrival, start in `arena`, length).
    index: Vec<(i64, u64, usize, usize)>,
    /// How large a batch may grow (bytes of rows).
    limit: usize,
    next: u64,
    spill: Option<Spill>,
}

struct Spill {
    file: File,
    /// Where each run starts and ends in the file.
    runs: Vec<(u64, u64)>,
    end: u64,
}

impl Default for Sorter {
    fn default() -> Self {
        Sorter::new(BATCH)
    }
}

impl Sorter {
    /// `limit`: bytes of rows kept in memory at once (at least one row is).
    pub fn new(limit: usize) -> Sorter {
        Sorter {
            arena: Vec::new(),
            index: Vec::new(),
            limit: limit.max(1),
            next: 0,
            spill: None,
        }
    }

    pub fn push(&mut self, key: i64, row: &[u8]) -> io::Result<()> {
        if !self.index.is_empty() && self.arena.len() + row.len() > self.limit {
            self.write_run()?;
        }
        self.index
            .push((key, self.next, self.arena.len(), row.len()));
        self.next += 1;
        self.arena.extend_from_slice(row);
        Ok(())
    }

    /// Whether runs went to the temporary file.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    fn sort_batch(&mut self) {
        self.index.sort_unstable_by_key(|&(k, seq, _, _)| (k, seq));
    }

    fn write_run(&mut self) -> io::Result<()> {
        self.sort_batch();
        if self.spill.is_none() {
            self.spill = Some(Spill {
                file: temp_file()?,
                runs: Vec::new(),
                end: 0,
            });
        }
        let Some(spill) = self.spill.as_mut() else {
            return Ok(());
        };
        let start = spill.end;
        let mut w = io::BufWriter::with_capacity(256 << 10, &spill.file);
        let mut written = 0u64;
        for &(key, seq, at, len) in &self.index {
            let len32 = u32::try_from(len)
                .map_err(|_| io::Error::other("a row of more than 4 GB cannot be sorted"))?;
            w.write_all(&key.to_le_bytes())?;
            w.write_all(&seq.to_le_bytes())?;
            w.write_all(&len32.to_le_bytes())?;
            w.write_all(&self.arena[at..at + len])?;
            written += (HEAD + len) as u64;
        }
        w.flush()?;
        drop(w);
        spill.end += written;
        spill.runs.push((start, spill.end));
        self.index.clear();
        self.arena.clear();
        Ok(())
    }

    /// Hands every row to `out`, smallest key first (equal keys in arrival order).
    pub fn drain(mut self, out: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        if self.spill.is_none() {
            self.sort_batch();
            for &(_, _, at, len) in &self.index {
                out(&self.arena[at..at + len])?;
            }
            return Ok(());
        }
        if !self.index.is_empty() {
            self.write_run()?;
        }
        // The batch's memory is not needed any more.
        self.arena = Vec::new();
        self.index = Vec::new();
        let Some(spill) = self.spill.take() else {
            return Ok(());
        };
        let each = (self.limit / spill.runs.len().max(1)).clamp(MIN_READ, MAX_READ);
        let mut runs: Vec<Run> = spill
            .runs
            .iter()
            .map(|&(start, end)| Run {
                pos: start,
                end,
                buf: vec![0; each],
                from: 0,
                to: 0,
            })
            .collect();
        let mut heap = BinaryHeap::new();
        for (i, r) in runs.iter_mut().enumerate() {
            if let Some((key, seq)) = r.peek(&spill.file)? {
                heap.push(Reverse((key, seq, i)));
            }
        }
        while let Some(Reverse((_, _, i))) = heap.pop() {
            let r = &mut runs[i];
            out(r.row())?;
            r.advance();
            if let Some((key, seq)) = r.peek(&spill.file)? {
                heap.push(Reverse((key, seq, i)));
            }
        }
        Ok(())
    }
}

/// A temporary file no one else can open, already unlinked.
fn temp_file() -> io::Result<File> {
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(
            "lab-trace-sort-{}-{nanos}-{attempt}",
            std::process::id()
        ));
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create_new(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        match o.open(&path) {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "a temporary file in {} to sort the list: {e}",
                        dir.display()
                    ),
                ))
            }
        }
    }
    Err(io::Error::other(format!(
        "no temporary file could be created in {} to sort the list",
        dir.display()
    )))
}

/// One sorted run being read back: its records between `pos` and `end` in the file,
/// `buf[from..to]` read ahead.
struct Run {
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    from: usize,
    to: usize,
}

impl Run {
    /// Makes at least `need` bytes available in `buf[from..]`, unless the run ends first.
    fn fill(&mut self, file: &File, need: usize) -> io::Result<bool> {
        if self.to - self.from >= need {
            return Ok(true);
        }
        self.buf.copy_within(self.from..self.to, 0);
        self.to -= self.from;
        self.from = 0;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.to < need && self.pos < self.end {
            let room = (self.buf.len() - self.to).min((self.end - self.pos) as usize);
            let n = file.read_at(&mut self.buf[self.to..self.to + room], self.pos)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the sort's temporary file ended early",
                ));
            }
            self.to += n;
            self.pos += n as u64;
        }
        Ok(self.to >= need)
    }

    /// The key and arrival of the next record, its row made available to [`Run::row`].
    fn peek(&mut self, file: &File) -> io::Result<Option<(i64, u64)>> {
        if !self.fill(file, HEAD)? {
            return Ok(None);
        }
        let h = &self.buf[self.from..self.from + HEAD];
        let key = i64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
        let seq = u64::from_le_bytes(h[8..16].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(h[16..20].try_into().unwrap_or_default()) as usize;
        if !self.fill(file, HEAD + len)? {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the sort's temporary file ended inside a row",
            ));
        }
        Ok(Some((key, seq)))
    }

    fn len(&self) -> usize {
        let h = &self.buf[self.from + 16..self.from + HEAD];
        u32::from_le_bytes(h.try_into().unwrap_or_default()) as usize
    }

    fn row(&self) -> &[u8] {
        let start = self.from + HEAD;
        &self.buf[start..start + self.len()]
    }

    fn advance(&mut self) {
        self.from += HEAD + self.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(limit: usize, rows: &[(i64, &str)]) -> (Vec<String>, bool) {
        let mut s = Sorter::new(limit);
        for (k, r) in rows {
            s.push(*k, r.as_bytes()).unwrap();
        }
        let spilled = s.spilled();
        let mut out = Vec::new();
        s.drain(&mut |row| {
            out.push(String::from_utf8(row.to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
        (out, spilled)
    }

    #[test]
    fn rows_come_out_by_key_and_equal_keys_keep_their_order() {
        let rows = [
            (5, "e"),
            (1, "a1"),
            (3, "c"),
            (1, "a2"),
            (-2, "z"),
            (1, "a3"),
        ];
        let want = ["z", "a1", "a2", "a3", "c", "e"];
        // All in memory, then a run per row or two (the merge), then rows larger
        // than the batch and the read-ahead.
        for limit in [1 << 20, 1, 3] {
            let (got, spilled) = sorted(limit, &rows);
            assert_eq!(got, want, "limit {limit}");
            assert_eq!(spilled, limit < 100, "limit {limit}");
        }
        assert_eq!(sorted(4, &[]).0, Vec::<String>::new());
    }

    #[test]
    fn many_runs_of_interleaved_sources_merge_into_one_order() {
        // Three "logs", each in order of its own, one after the other, as `lab trace`
        // reads them; rows long enough to cross the read-ahead of a run.
        let mut rows = Vec::new();
        for source in 0..3i64 {
            for i in 0..2_000i64 {
                let key = i * 7 + source * 3;
                rows.push((
                    key,
                    format!("{key:08}-{source}-{}", "x".repeat((i % 50) as usize)),
                ));
            }
        }
        let refs: Vec<(i64, &str)> = rows.iter().map(|(k, r)| (*k, r.as_str())).collect();
        let mut want: Vec<(i64, usize)> = (0..rows.len()).map(|i| (rows[i].0, i)).collect();
        want.sort();
        let want: Vec<String> = want.into_iter().map(|(_, i)| rows[i].1.clone()).collect();
        let (got, spilled) = sorted(10_000, &refs);
        assert!(spilled);
        assert_eq!(got, want);
        let huge = "y".repeat(MAX_READ * 2);
        let (got, _) = sorted(1000, &[(2, "b"), (1, &huge), (0, "a")]);
        assert_eq!(got, ["a", huge.as_str(), "b"]);
    }
}

//! The inputs of `lab trace --log`: files, folders (a support bundle unpacked, its
//! analyzer logs found by their content), `.gz`/`.zst`/`.xz` files, `.tar`,
//! `.tar.gz`/`.tgz` and `.zip` bundles read in place (streamed, never unpacked to
//! disk), and `-` for standard input. Formats are told by their first bytes, not
//! their names, so a rotated `analyzer.log.1.gz` inside a bundle is read too.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// How many bytes at the start of a file inside a folder or bundle are searched for
/// the marks of an analyzer log.
pub const SNIFF: usize = 1 << 20;
/// Archives inside archives are opened this deep.
const MAX_DEPTH: usize = 4;

/// Marks of an analyzer log, one of which is within its first [`SNIFF`] bytes.
const MARKS: [&[u8]; 5] = [
    b"services.analyzer",
    b"service:analyzer",
    b"anchore-enterprise-analyzer",
    b"image dequeued for analysis",
    b"process_analyzer_job",
];

/// Whether `head` (the start of a file) looks like an analyzer's log.
pub fn looks_like_analyzer_log(head: &[u8]) -> bool {
    MARKS
        .iter()
        .any(|m| memchr::memmem::find(head, m).is_some())
}

/// What the first bytes of a stream say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gzip,
    Zstd,
    Xz,
    Zip,
    Tar,
    Text,
}

pub fn kind(head: &[u8]) -> Kind {
    if head.starts_with(&[0x1f, 0x8b]) {
        Kind::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Kind::Zstd
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Kind::Xz
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Kind::Zip
    } else if head.get(257..262) == Some(b"ustar") {
        Kind::Tar
    } else {
        Kind::Text
    }
}

/// Receives each log found, as a name and a reader of its text.
pub trait Visit {
    fn log(&mut self, name: &str, head: Vec<u8>, rest: &mut dyn Read) -> io::Result<()>;
    /// Something that could not be read and was skipped (a corrupt member, a zip in a stream).
    fn warn(&mut self, message: String);
    /// A file that was read but does not look like an analyzer log.
    fn skipped(&mut self, _name: &str) {}
}

/// Checks that every named input exists, before anything is read.
pub fn check(paths: &[PathBuf]) -> crate::error::Result<()> {
    for p in paths {
        if p.as_os_str() != "-" {
            std::fs::metadata(p).map_err(|source| crate::error::Error::Read {
                path: p.display().to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Walks every input in order, handing each analyzer log to `v`.
pub fn walk(paths: &[PathBuf], v: &mut dyn Visit) -> crate::error::Result<()> {
    for p in paths {
        if p.as_os_str() == "-" {
            member("stdin", &mut io::stdin(), None, false, 0, v).map_err(|source| {
                crate::error::Error::Read {
                    path: "standard input".into(),
                    source,
                }
            })?;
        } else {
            path(p, false, 0, v)?;
        }
    }
    Ok(())
}

fn path(p: &Path, sniff: bool, depth: usize, v: &mut dyn Visit) -> crate::error::Result<()> {
    let err = |source| crate::error::Error::Read {
        path: p.display().to_string(),
        source,
    };
    let meta = std::fs::symlink_metadata(p).map_err(err)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            // Symbolic links inside a folder are not followed (no loops, no escape).
            let Ok(m) = std::fs::symlink_metadata(&e) else {
                continue;
            };
            if m.is_dir() || m.is_file() {
                path(&e, true, depth, v)?;
            }
        }
        return Ok(());
    }
    let name = p.display().to_string();
    let mut f = std::fs::File::open(p).map_err(err)?;
    member(&name, &mut f, Some(p), sniff, depth, v).map_err(err)
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
fn head(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n.min(64 * 1024));
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// One stream: decompressed, opened as a bundle, or handed over as a log.
/// `file` is its path when it is a file of its own (zip needs to seek).
fn member(
    name: &str,
    r: &mut dyn Read,
    file: Option<&Path>,
    sniff: bool,
    depth: usize,
    v: &mut dyn Visit,
) -> io::Result<()> {
    let start = head(r, 512)?;
    let k = kind(&start);
    let mut whole = io::Cursor::new(start).chain(r);
    let nested = |v: &mut dyn Visit, what: &str| {
        v.warn(format!(
            "{name}: {what} nested more than {MAX_DEPTH} deep, skipped"
        ))
    };
    match k {
        Kind::Gzip | Kind::Zstd | Kind::Xz if depth >= MAX_DEPTH => nested(v, "compressed file"),
        Kind::Gzip => {
            let mut d = flate2::read::MultiGzDecoder::new(whole);
            guarded(name, &mut d, sniff, depth, v)?;
        }
        Kind::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(whole)?;
            guarded(name, &mut d, sniff, depth, v)?;
        }
        Kind::Xz => {
            let mut d = liblzma::read::XzDecoder::new_multi_decoder(whole);
            guarded(name, &mut d, sniff, depth, v)?;
        }
        Kind::Tar | Kind::Zip if depth >= MAX_DEPTH => nested(v, "bundle"),
        Kind::Tar => {
            let mut archive = tar::Archive::new(whole);
            let entries = archive.entries()?;
            for e in entries {
                let mut e = match e {
                    Ok(e) => e,
                    Err(err) => {
                        v.warn(format!("{name}: {err}; the rest of the bundle is not read"));
                        break;
                    }
                };
                if e.header().entry_type() != tar::EntryType::Regular {
                    continue;
                }
                let inner = format!("{name}:{}", String::from_utf8_lossy(&e.path_bytes()));
                if let Err(err) = member(&inner, &mut e, None, true, depth + 1, v) {
                    v.warn(format!("{inner}: {err}; skipped"));
                }
            }
        }
        Kind::Zip => match file {
            Some(p) => zip_file(name, p, depth, v)?,
            None => v.warn(format!(
                "{name}: a zip bundle can only be read from a file of its own (not from standard input or another bundle); unzip it or pass the .zip itself"
            )),
        },
        Kind::Text => {
            let first = head(&mut whole, if sniff { SNIFF } else { 64 * 1024 })?;
            if sniff && !looks_like_analyzer_log(&first) {
                v.skipped(name);
                return Ok(());
            }
            v.log(name, first, &mut whole)?;
        }
    }
    Ok(())
}

/// A decompressed stream: a corrupt or truncated one is reported and the lines
/// read before the damage are kept.
fn guarded(
    name: &str,
    d: &mut dyn Read,
    sniff: bool,
    depth: usize,
    v: &mut dyn Visit,
) -> io::Result<()> {
    let mut counting = Counting {
        inner: d,
        failed: None,
    };
    let r = member(name, &mut counting, None, sniff, depth + 1, v);
    if let Some(e) = counting.failed.take() {
        v.warn(format!(
            "{name}: cannot decompress ({e}); the lines before the damage were read"
        ));
        return Ok(());
    }
    r
}

/// Turns a read error into an end of stream (so what came before is still used),
/// and remembers it.
struct Counting<'a> {
    inner: &'a mut dyn Read,
    failed: Option<io::Error>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed.is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.failed = Some(e);
                Ok(0)
            }
        }
    }
}

fn zip_file(name: &str, p: &Path, depth: usize, v: &mut dyn Visit) -> io::Result<()> {
    let f = std::fs::File::open(p)?;
    let mut z = zip::ZipArchive::new(f).map_err(io::Error::other)?;
    for i in 0..z.len() {
        let mut e = match z.by_index(i) {
            Ok(e) => e,
            Err(err) => {
                v.warn(format!("{name}: member {i}: {err}; skipped"));
                continue;
            }
        };
        if !e.is_file() {
            continue;
        }
        let inner = format!("{name}:{}", e.name());
        let mut counting = Counting {
            inner: &mut e,
            failed: None,
        };
        let r = member(&inner, &mut counting, None, true, depth + 1, v);
        if let Some(err) = counting.failed.take() {
            v.warn(format!(
                "{inner}: cannot read ({err}); the lines before were read"
            ));
        } else if let Err(err) = r {
            v.warn(format!("{inner}: {err}; skipped"));
        }
    }
    Ok(())
}

//! Ctrl-C (SIGINT) and SIGTERM for the commands that write files without an async
//! runtime (`lab init`): the signal only raises a flag, the command finishes the
//! write in progress (every write is atomic), undoes what it already did and exits
//! 130, as `lab start` does. Nothing is left half-written, no temporary file stays.

use crate::error::{write_err, Error, Result};
use crate::files::write_atomic;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

/// The last signal caught (0: none). Only an atomic store happens in the handler,
/// which is what a signal handler may safely do.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    CAUGHT.store(sig, Ordering::SeqCst);
}

/// While alive, SIGINT and SIGTERM raise the flag instead of killing the process;
/// dropping it puts the previous dispositions back.
pub struct Interrupts {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Interrupts {
    pub fn catch() -> Result<Interrupts> {
        CAUGHT.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: zeroed sigaction structs are valid; the handler only stores an
            // atomic. No SA_RESTART: a read blocked on the terminal (the license
            // prompt) returns EINTR, so the prompt can be interrupted too.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut act.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &act, &mut old) != 0 {
                    return Err(Error::Internal(format!(
                        "cannot listen for signal {sig}: {}",
                        std::io::Error::last_os_error()
                    )));
                }
                previous.push((sig, old));
            }
        }
        Ok(Interrupts { previous })
    }

    /// The signal caught since `catch`, if any.
    pub fn caught(&self) -> Option<i32> {
        match CAUGHT.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Stops the work in progress when a signal came (the error is never shown: the
    /// command sees the signal and reports the interruption instead).
    pub fn check(&self) -> Result<()> {
        match self.caught() {
            Some(sig) => Err(Error::Internal(format!("interrupted by signal {sig}"))),
            None => Ok(()),
        }
    }

    /// A line typed on standard input (the license prompt), `None` at end of input;
    /// an interruption while waiting ends the wait.
    pub fn read_line(&self) -> Result<Option<String>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.check()?;
            // SAFETY: read(2) into a one-byte buffer this function owns.
            let n = unsafe { libc::read(0, byte.as_mut_ptr().cast(), 1) };
            match n {
                0 if line.is_empty() => return Ok(None),
                0 => break,
                1 if byte[0] == b'\n' => break,
                1 => line.push(byte[0]),
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(Error::Usage(format!("cannot read the answer: {e}")));
                    }
                }
            }
        }
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restores a disposition sigaction itself returned.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}

/// What a command wrote, so that an interrupted run can put everything back: files
/// it replaced get their old bytes again, files and folders it made are removed.
#[derive(Default)]
pub struct Undo {
    /// Files in the order written, with what they held before (`None`: new).
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// The top-most folders this run made.
    dirs: Vec<PathBuf>,
}

impl Undo {
    /// Makes `dir` and its missing parents, remembering the top-most one made.
    pub fn dir(&mut self, dir: &Path) -> Result<()> {
        let mut top = None;
        let mut d = Some(dir);
        while let Some(p) = d {
            if p.as_os_str().is_empty() || p.exists() {
                break;
            }
            top = Some(p.to_path_buf());
            d = p.parent();
        }
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        if let Some(t) = top {
            self.dirs.push(t);
        }
        Ok(())
    }

    /// Remembers what `path` holds before this run writes it.
    pub fn before_write(&mut self, path: &Path) {
        if self.dirs.iter().any(|d| path.starts_with(d))
            || self.files.iter().any(|(p, _)| p == path)
        {
            return; // removed with its folder, or its first content is already kept
        }
        self.files
            .push((path.to_path_buf(), std::fs::read(path).ok()));
    }

    /// Remembers a file this run made (a backup copy): undoing removes it.
    pub fn made(&mut self, path: &Path) {
        if !self.dirs.iter().any(|d| path.starts_with(d)) {
            self.files.push((path.to_path_buf(), None));
        }
    }

    /// Writes `bytes` to `path` atomically, remembering what it replaced.
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.dir(parent)?;
        }
        self.before_write(path);
        write_atomic(path, bytes).map_err(write_err(path))
    }

    /// Puts back what this run changed, newest first. Returns what could not be put
    /// back (said to the user; the rest is done anyway).
    pub fn roll_back(self) -> Vec<String> {
        let mut problems = Vec::new();
        for (path, old) in self.files.into_iter().rev() {
            let r = match old {
                Some(bytes) => write_atomic(&path, &bytes),
                None => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    r => r,
                },
            };
            if let Err(e) = r {
                problems.push(format!("{}: {e}", path.display()));
            }
        }
        for dir in self.dirs.into_iter().rev() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    problems.push(format!("{}: {e}", dir.display()));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::TempDir;

    #[test]
    fn undo_restores_replaced_files_and_removes_what_it_made() {
        let ws = TempDir::new();
        let kept = ws.path().join("docker-compose.yaml");
        std::fs::write(&kept, "trainee's").unwrap();
        let mut undo = Undo::default();
        undo.write(&kept, b"course's").unwrap();
        undo.write(&ws.path().join(".lab/pristine/docker-compose.yaml"), b"x")
            .unwrap();
        undo.write(&ws.path().join(".lab/state.json"), b"{}")
            .unwrap();
        undo.write(&ws.path().join("license.yaml"), b"l").unwrap();
        undo.write(&kept, b"again").unwrap();
        assert!(undo.roll_back().is_empty());
        let mut left: Vec<_> = std::fs::read_dir(ws.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["docker-compose.yaml"]);
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "trainee's");
    }
}

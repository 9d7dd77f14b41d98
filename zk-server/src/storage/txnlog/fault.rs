//! A fault-injecting in-memory [`LogFs`] for storage tests: it counts syncs, fails fsyncs or
//! writes on demand, and simulates a crash by keeping only what was made durable plus an
//! arbitrary prefix of what was not.
//!
//! Durability model (what a journaling Linux filesystem guarantees, no more):
//! - a file's bytes and size are durable up to its last successful `sync_data`;
//! - a file's *name* is durable once its directory was `sync_dir`ed after the file was created;
//!   a crash before that loses the whole file;
//! - on a crash, the operations (writes, `set_len`) issued since the last `sync_data` are
//!   replayed onto the durable image in order, up to some number of written bytes the test
//!   chooses (a write may be cut in the middle): any prefix may have reached the disk.
//!
//! A failed `sync_data` leaves nothing newly durable (as on Linux, where the error may mean the
//! dirty pages were dropped), which is why the writer must never retry one.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::fs::{LogFile, LogFs};

/// A file's content: `bytes`, then zeros up to `len`.
#[derive(Debug, Clone, Default)]
struct Image {
    bytes: Vec<u8>,
    len: u64,
}

impl Image {
    fn write_at(&mut self, offset: u64, data: &[u8]) {
        let start = offset as usize;
        let end = start + data.len();
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[start..end].copy_from_slice(data);
        self.len = self.len.max(end as u64);
    }

    fn set_len(&mut self, len: u64) {
        if self.bytes.len() as u64 > len {
            self.bytes.truncate(len as usize);
        }
        self.len = len;
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut v = self.bytes.clone();
        v.resize(self.len as usize, 0);
        v
    }
}

#[derive(Debug, Clone)]
enum Op {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct FakeFile {
    durable: Image,
    current: Image,
    pending: Vec<Op>,
    name_durable: bool,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, FakeFile>,
    sync_data_calls: u64,
    sync_dir_calls: u64,
    fail_syncs: bool,
    write_budget: Option<u64>,
}

/// The fault-injecting filesystem. Clones share state, so a test keeps one clone to inspect
/// and steer what the writer (holding another) does.
#[derive(Debug, Clone, Default)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

impl FaultFs {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many `sync_data` calls were made (failed ones included).
    pub fn sync_data_calls(&self) -> u64 {
        self.lock().sync_data_calls
    }

    /// How many `sync_dir` calls were made (failed ones included).
    pub fn sync_dir_calls(&self) -> u64 {
        self.lock().sync_dir_calls
    }

    /// From now on every `sync_data` and `sync_dir` fails (`true`) or works (`false`).
    pub fn set_fail_syncs(&self, fail: bool) {
        self.lock().fail_syncs = fail;
    }

    /// From now on, writes succeed for `bytes` more bytes in total and then fail; the write that
    /// crosses the limit stores its first part. `None` lifts the limit.
    pub fn fail_writes_after(&self, bytes: Option<u64>) {
        self.lock().write_budget = bytes;
    }

    /// The paths of all files created, in order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().files.keys().cloned().collect()
    }

    /// A file's current content, as the page cache sees it (no crash).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|f| f.current.to_vec())
    }

    /// Bytes written to `path` since its last successful `sync_data`.
    pub fn unsynced_bytes(&self, path: &Path) -> u64 {
        self.lock().files.get(path).map_or(0, |f| {
            f.pending
                .iter()
                .map(|op| match op {
                    Op::Write { data, .. } => data.len() as u64,
                    Op::SetLen(_) => 0,
                })
                .sum()
        })
    }

    /// The files as they would be found after a crash now. For each file whose name is durable,
    /// `keep(path, unsynced)` chooses how many of its `unsynced` bytes reached the disk (more is
    /// clamped); files whose name never became durable are lost.
    pub fn crash(&self, mut keep: impl FnMut(&Path, u64) -> u64) -> BTreeMap<PathBuf, Vec<u8>> {
        let state = self.lock();
        let mut out = BTreeMap::new();
        for (path, file) in &state.files {
            if !file.name_durable {
                continue;
            }
            let unsynced: u64 = file
                .pending
                .iter()
                .map(|op| match op {
                    Op::Write { data, .. } => data.len() as u64,
                    Op::SetLen(_) => 0,
                })
                .sum();
            let mut budget = keep(path, unsynced).min(unsynced);
            let mut img = file.durable.clone();
            for op in &file.pending {
                match op {
                    Op::SetLen(len) => img.set_len(*len),
                    Op::Write { offset, data } => {
                        let n = (budget as usize).min(data.len());
                        img.write_at(*offset, &data[..n]);
                        budget -= n as u64;
                        if n < data.len() {
                            break;
                        }
                    }
                }
            }
            out.insert(path.clone(), img.to_vec());
        }
        out
    }

    /// Writes crash images (from [`FaultFs::crash`]) into `dir` under their file names, so the
    /// real reader can scan them.
    pub fn write_images(images: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (path, bytes) in images {
            let name = path
                .file_name()
                .ok_or_else(|| io::Error::other("crash image path has no file name"))?;
            std::fs::write(dir.join(name), bytes)?;
        }
        Ok(())
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl LogFs for FaultFs {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let mut state = self.lock();
        if state.files.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        state.files.insert(path.to_path_buf(), FakeFile::default());
        Ok(Box::new(FaultFile {
            fs: self.clone(),
            path: path.to_path_buf(),
            cursor: 0,
        }))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.sync_dir_calls += 1;
        if state.fail_syncs {
            return Err(injected("directory fsync"));
        }
        for (path, file) in state.files.iter_mut() {
            if path.parent() == Some(dir) {
                file.name_durable = true;
            }
        }
        Ok(())
    }
}

/// An open file of a [`FaultFs`].
struct FaultFile {
    fs: FaultFs,
    path: PathBuf,
    cursor: u64,
}

impl Write for FaultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.fs.lock();
        let n = match state.write_budget {
            None => buf.len(),
            Some(0) => return Err(injected("write")),
            Some(budget) => (budget as usize).min(buf.len()),
        };
        if let Some(budget) = state.write_budget.as_mut() {
            *budget -= n as u64;
        }
        let file = state
            .files
            .get_mut(&self.path)
            .ok_or_else(|| io::Error::other("file vanished"))?;
        file.current.write_at(self.cursor, &buf[..n]);
        file.pending.push(Op::Write {
            offset: self.cursor,
            data: buf[..n].to_vec(),
        });
        self.cursor += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogFile for FaultFile {
    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.fs.lock();
        state.sync_data_calls += 1;
        if state.fail_syncs {
            return Err(injected("fsync"));
        }
        let file = state
            .files
            .get_mut(&self.path)
            .ok_or_else(|| io::Error::other("file vanished"))?;
        file.durable = file.current.clone();
        file.pending.clear();
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut state = self.fs.lock();
        let file = state
            .files
            .get_mut(&self.path)
            .ok_or_else(|| io::Error::other("file vanished"))?;
        file.current.set_len(len);
        file.pending.push(Op::SetLen(len));
        Ok(())
    }
}

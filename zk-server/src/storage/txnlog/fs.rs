//! The file operations the txn log writer performs, behind a trait so tests can inject faults
//! (see [`super::fault::FaultFs`]). [`RealFs`] is the real filesystem.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// One open, append-only log file.
pub trait LogFile: Write + Send {
    /// `fdatasync`: the bytes written so far (and the file size) are durable when it returns.
    fn sync_data(&mut self) -> io::Result<()>;
    /// `ftruncate`: extends the file with zeros (preallocation) or cuts it. The write position
    /// does not move.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// The directory-level operations of the writer.
pub trait LogFs: Send + Sync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates a new empty file for writing; fails if `path` exists (a log file is never
    /// overwritten).
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// `fsync` of a directory, so the names of files created in it survive a crash.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl LogFile for File {
    fn sync_data(&mut self) -> io::Result<()> {
        // `fdatasync(2)` on Linux.
        File::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

impl LogFs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(f))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

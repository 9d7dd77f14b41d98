//! A full disk, for real: each server's data directory is its own size-limited tmpfs, and the
//! nemesis fills it with a ballast file until the kernel answers ENOSPC. The server then meets
//! the same error a full disk gives it (on a txn log write, a snapshot, an epoch file); nothing
//! in the server is faked or told. Freeing the disk deletes the ballast.
//!
//! tmpfs has no real fsync, which costs nothing here: the faults it is used with kill
//! processes, never the machine, and a process's writes survive its `kill -9` in the page
//! cache on any filesystem. Mounting needs root (`mount -t tmpfs`).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The ballast's name inside a data directory.
const BALLAST: &str = "jepsen-ballast";

/// Mounts a tmpfs of `bytes` on `dir` (created if missing).
pub fn mount_tmpfs(dir: &Path, bytes: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o"])
        .arg(format!("size={bytes}"))
        .arg("jepsen-disk")
        .arg(dir)
        .output()
        .context("running mount (the disk-full nemesis mounts a tmpfs per server)")?;
    if !out.status.success() {
        bail!(
            "mount -t tmpfs on {} failed ({}): {}; the disk-full nemesis needs root",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Unmounts `dir` (lazily if something still holds it open).
pub fn unmount(dir: &Path) {
    let ok = Command::new("umount")
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = Command::new("umount").arg("-l").arg(dir).status();
    }
}

fn ballast(dir: &Path) -> PathBuf {
    dir.join(BALLAST)
}

/// Writes the ballast until the filesystem of `dir` is full (ENOSPC at a 4 KiB write);
/// returns the bytes written. Any other error is an error.
pub fn fill(dir: &Path) -> Result<u64> {
    let path = ballast(dir);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut written = 0u64;
    let mut chunk = 1 << 20;
    let zeros = vec![0u8; chunk];
    loop {
        match f.write(&zeros[..chunk]) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(28) => {
                if chunk == 4096 {
                    break;
                }
                chunk /= 4;
            }
            Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
        }
    }
    Ok(written)
}

/// Deletes the ballast (if any).
pub fn free(dir: &Path) -> Result<()> {
    match std::fs::remove_file(ballast(dir)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing the ballast in {}", dir.display())),
    }
}

/// Bytes still free on the filesystem of `dir` (`df`'s available column, in bytes).
pub fn available(dir: &Path) -> Result<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .context("running df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("df of {}: {text:?}", dir.display()))
}

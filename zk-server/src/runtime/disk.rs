//! The disk thread: appends txns to the log and makes each batch durable with one fdatasync
//! (group commit), then hands the batch back to the core task, which applies and answers.
//! A write or sync failure is fatal: the server stops (an fsync is never retried: after a
//! failed fsync the kernel may have dropped the dirty pages, so a retry can "succeed" on lost
//! data).

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use super::ToCore;
use crate::core::txn::Txn;
use crate::storage::txnlog::{LogError, TxnLog};

/// Txns per group commit at most; bounds the latency of the first txn in a large burst.
const MAX_BATCH: usize = 4096;

pub(crate) enum DiskCmd {
    /// A txn to log and hand back (with `Durable`) once synced: the standalone server applies
    /// it then.
    Append(Box<Txn>),
    /// A Zab proposal's bytes (a txn encoded as the log holds it) to log; `Durable` reports
    /// only its zxid, since Zab delivers committed txns itself.
    AppendEncoded {
        zxid: i64,
        record: bytes::Bytes,
    },
    /// Start a new log file with the next txn (after a snapshot, as ZooKeeper rolls).
    Roll,
    /// Zab TRUNC (and SNAP): make what is queued durable, drop every txn after the zxid, and go
    /// on in a new file. Answers on `done` once the files are cut.
    Truncate {
        to: i64,
        done: mpsc::Sender<Result<(), String>>,
    },
    Shutdown,
    /// Several commands, in order: what the core task produced in one wake-up, handed over
    /// with one wake-up of the disk thread (so they also land in one group commit).
    Batch(Vec<DiskCmd>),
}

pub(crate) struct Disk {
    tx: mpsc::Sender<DiskCmd>,
    /// Commands not yet handed over; see [`Disk::flush`].
    queued: Vec<DiskCmd>,
    pub thread: Option<JoinHandle<()>>,
}

impl Disk {
    pub fn spawn(log: TxnLog, to_core: UnboundedSender<ToCore>) -> std::io::Result<Disk> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("zk-disk".into())
            .spawn(move || run(log, rx, to_core))?;
        Ok(Disk {
            tx,
            queued: Vec::new(),
            thread: Some(thread),
        })
    }

    /// Queues a command; it goes to the disk thread with the next [`flush`](Disk::flush).
    pub fn queue(&mut self, cmd: DiskCmd) {
        self.queued.push(cmd);
    }

    /// Hands the queued commands to the disk thread. The core task calls this before it waits
    /// or yields, so nothing queued waits longer than the batch of messages being handled.
    pub fn flush(&mut self) {
        match self.queued.len() {
            0 => {}
            1 => {
                let _ = self.tx.send(self.queued.pop().expect("one queued"));
            }
            _ => {
                let _ = self
                    .tx
                    .send(DiskCmd::Batch(std::mem::take(&mut self.queued)));
            }
        }
    }

    /// Sends a command after everything queued.
    pub fn send_now(&mut self, cmd: DiskCmd) {
        self.flush();
        let _ = self.tx.send(cmd);
    }

    /// Commits what is queued and waits for the thread to finish.
    pub fn shutdown(&mut self) {
        self.flush();
        let _ = self.tx.send(DiskCmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut log: TxnLog, rx: mpsc::Receiver<DiskCmd>, to_core: UnboundedSender<ToCore>) {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        let msg = format!("txn log {what} failed: {e}");
        tracing::error!("{msg}; stopping the server");
        let _ = to_core.send(ToCore::DiskFailed(msg));
    };
    let mut batch: Vec<Txn> = Vec::new();
    // The last zxid appended and not yet reported durable.
    let mut unsynced: Option<i64> = None;
    // Txns appended since the last sync: the group commit's size.
    let mut in_commit: u64 = 0;
    let mut work: std::collections::VecDeque<DiskCmd> = std::collections::VecDeque::new();
    while let Ok(first) = rx.recv() {
        work.push_back(first);
        let mut stop = false;
        let mut appended = 0usize;
        while let Some(cmd) = work.pop_front() {
            match cmd {
                // In place of the batch, in its order.
                DiskCmd::Batch(cmds) => cmds.into_iter().rev().for_each(|c| work.push_front(c)),
                DiskCmd::Append(t) => {
                    if let Err(e) = log.append(&t) {
                        return fail("write", &e);
                    }
                    appended += 1;
                    in_commit += 1;
                    unsynced = Some(t.hdr.zxid);
                    batch.push(*t);
                }
                DiskCmd::AppendEncoded { zxid, record } => {
                    if let Err(e) = log.append_encoded(zxid, &record) {
                        return fail("write", &e);
                    }
                    appended += 1;
                    in_commit += 1;
                    unsynced = Some(zxid);
                }
                DiskCmd::Roll => {
                    if let Err(e) = log.roll() {
                        return fail("roll", &e);
                    }
                }
                DiskCmd::Truncate { to, done } => {
                    let fsync_ms = match timed_commit(&mut log) {
                        Ok(ms) => ms,
                        Err(e) => return fail("sync", &e),
                    };
                    if let Some(last) = unsynced.take() {
                        let txns = std::mem::take(&mut batch);
                        let _ = to_core.send(ToCore::Durable {
                            txns,
                            last,
                            fsync_ms,
                            batch: std::mem::take(&mut in_commit),
                        });
                    }
                    let dir = log.dir().to_path_buf();
                    let opts = log.options().clone();
                    let r = log
                        .roll()
                        .map_err(|e| e.to_string())
                        .and_then(|_| {
                            crate::storage::txnlog::truncate_after(&dir, to)
                                .map_err(|e| e.to_string())
                        })
                        .and_then(|_| TxnLog::open(&dir, opts).map_err(|e| e.to_string()));
                    match r {
                        Ok(l) => {
                            log = l;
                            let _ = done.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = done.send(Err(e.clone()));
                            return fail("truncate", &e);
                        }
                    }
                }
                DiskCmd::Shutdown => stop = true,
            }
            if work.is_empty() && !stop && appended < MAX_BATCH {
                if let Ok(cmd) = rx.try_recv() {
                    work.push_back(cmd);
                }
            }
        }
        if let Some(last) = unsynced.take() {
            let fsync_ms = match timed_commit(&mut log) {
                Ok(ms) => ms,
                Err(e) => return fail("sync", &e),
            };
            let txns = std::mem::take(&mut batch);
            if to_core
                .send(ToCore::Durable {
                    txns,
                    last,
                    fsync_ms,
                    batch: std::mem::take(&mut in_commit),
                })
                .is_err()
            {
                stop = true;
            }
        }
        if stop {
            break;
        }
    }
    if let Err(e) = log.close() {
        tracing::error!("closing the txn log: {e}");
    }
}

/// Commits (and, with `forceSync`, fsyncs) the log; how long the fsync took, when there was
/// one (`fsynctime`).
fn timed_commit(log: &mut TxnLog) -> Result<Option<u64>, LogError> {
    let started = Instant::now();
    log.commit()?;
    Ok(log
        .options()
        .force_sync
        .then(|| started.elapsed().as_millis() as u64))
}

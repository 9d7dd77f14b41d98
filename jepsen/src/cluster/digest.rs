//! A digest of one server's whole tree, read through the client protocol: every znode's path,
//! data and full stat. Each server answers reads from its own copy, so a session attached to
//! one server (its real client port, no proxy) reads exactly that server's tree; equal digests
//! at equal zxids mean equal trees. The walk does not trust the server to hash itself.
//!
//! The `/zookeeper` subtree is left out, as ZooKeeper's own digest leaves it out: it holds each
//! server's view of the configuration and quotas, not replicated client data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::task::JoinSet;
use zk_client::{Client, OpResult, ReadOp, Stat};

/// Paths read per `multiRead` (each as getData + getChildren).
const BATCH: usize = 64;
/// `multiRead`s in flight at once.
const IN_FLIGHT: usize = 8;
/// The walk's `jute.maxbuffer`: a parent of a long run's sequential znodes lists hundreds of
/// thousands of children in one reply.
pub const WALK_MAX_BUFFER: usize = 64 << 20;

/// One server's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeDigest {
    /// Znodes read (the root included, `/zookeeper` excluded).
    pub nodes: u64,
    /// Sum (mod 2^64) of every znode's hash: independent of the order of the walk.
    pub digest: u64,
    /// Every znode's hash by path, to name the znodes two trees disagree on.
    pub by_path: BTreeMap<String, u64>,
}

impl TreeDigest {
    /// Up to `limit` paths whose znode differs between `self` and `other` (or is in one only).
    pub fn differences(&self, other: &TreeDigest, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut a = self.by_path.iter().peekable();
        let mut b = other.by_path.iter().peekable();
        while out.len() < limit {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some((pa, ha)), Some((pb, hb))) if pa == pb => {
                    if ha != hb {
                        out.push(format!("{pa} differs"));
                    }
                    a.next();
                    b.next();
                }
                (Some((pa, _)), Some((pb, _))) if pa < pb => {
                    out.push(format!("{pa} only in the first"));
                    a.next();
                }
                (Some((pa, _)), None) => {
                    out.push(format!("{pa} only in the first"));
                    a.next();
                }
                (_, Some((pb, _))) => {
                    out.push(format!("{pb} only in the second"));
                    b.next();
                }
            }
        }
        out
    }
}

/// FNV-1a, 64-bit: stable across runs and builds (std's hasher is not).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
}

/// The hash of one znode: its path, data and every stat field.
pub fn znode_hash(path: &str, data: &[u8], stat: &Stat) -> u64 {
    let mut h = Fnv::new();
    h.bytes(path.as_bytes());
    h.bytes(&[0]);
    h.i64(data.len() as i64);
    h.bytes(data);
    for v in [
        stat.czxid,
        stat.mzxid,
        stat.pzxid,
        stat.ctime,
        stat.mtime,
        stat.ephemeral_owner,
    ] {
        h.i64(v);
    }
    for v in [
        stat.version,
        stat.cversion,
        stat.aversion,
        stat.data_length,
        stat.num_children,
    ] {
        h.i64(i64::from(v));
    }
    h.0
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Reads one batch of paths: each one's hash and the paths of its children.
async fn read_batch(c: Client, paths: Vec<String>) -> Result<Vec<(String, u64, Vec<String>)>> {
    let ops: Vec<ReadOp> = paths
        .iter()
        .flat_map(|p| [ReadOp::GetData(p.clone()), ReadOp::GetChildren(p.clone())])
        .collect();
    let results = c
        .multi_read(&ops)
        .await
        .map_err(|e| anyhow!("multiRead: {e}"))?;
    if results.len() != ops.len() {
        bail!(
            "multiRead of {} reads gave {} results",
            ops.len(),
            results.len()
        );
    }
    let mut out = Vec::with_capacity(paths.len());
    for (p, r) in paths.into_iter().zip(results.chunks(2)) {
        match (&r[0], &r[1]) {
            (OpResult::GetData { data, stat }, OpResult::GetChildren(kids)) => {
                let h = znode_hash(&p, data, stat);
                let kids = kids.iter().map(|k| child_path(&p, k)).collect();
                out.push((p, h, kids));
            }
            // Gone between its parent's listing and this read: the tree is changing.
            other => bail!("{p}: {other:?} (the tree changed during the walk)"),
        }
    }
    Ok(out)
}

/// A session on the server at `addr` alone (its real client port), able to take the largest
/// listings. Opening and closing a session are transactions: open the sessions of every
/// server first, then note the zxids, walk, and note them again.
pub async fn walker(addr: SocketAddr, timeout: Duration) -> Result<Client> {
    Client::builder()
        .session_timeout(Duration::from_secs(30))
        .connect_timeout(timeout)
        .max_buffer(WALK_MAX_BUFFER)
        .connect(&addr.to_string())
        .await
        .map_err(|e| anyhow!("connecting to {addr}: {e}"))
}

/// Walks the whole tree `c`'s server holds (breadth first, batched and pipelined) and digests
/// it. Fails if the server does not answer within `timeout` or a znode vanishes mid-walk.
pub async fn tree_digest(c: &Client, timeout: Duration) -> Result<TreeDigest> {
    let host = c.connected_host().unwrap_or_default();
    tokio::time::timeout(timeout, walk(c))
        .await
        .map_err(|_| anyhow!("{host}: walking the tree took over {timeout:?}"))?
        .with_context(|| format!("walking the tree of {host}"))
}

async fn walk(c: &Client) -> Result<TreeDigest> {
    let mut d = TreeDigest {
        nodes: 0,
        digest: 0,
        by_path: BTreeMap::new(),
    };
    let mut todo: Vec<String> = vec!["/".to_owned()];
    let mut running = JoinSet::new();
    loop {
        while running.len() < IN_FLIGHT && !todo.is_empty() {
            let batch = todo.split_off(todo.len().saturating_sub(BATCH));
            running.spawn(read_batch(c.clone(), batch));
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        for (path, h, kids) in done.context("a read task")?? {
            d.nodes += 1;
            d.digest = d.digest.wrapping_add(h);
            d.by_path.insert(path, h);
            todo.extend(kids.into_iter().filter(|k| k != "/zookeeper"));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mzxid: i64) -> Stat {
        Stat {
            czxid: 1,
            mzxid,
            ctime: 5,
            mtime: 6,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 1,
            num_children: 0,
            pzxid: 1,
        }
    }

    #[test]
    fn every_field_and_the_path_change_the_hash() {
        let base = znode_hash("/a", b"x", &stat(1));
        assert_ne!(base, znode_hash("/b", b"x", &stat(1)));
        assert_ne!(base, znode_hash("/a", b"y", &stat(1)));
        assert_ne!(base, znode_hash("/a", b"x", &stat(2)));
        // The path/data boundary is unambiguous.
        assert_ne!(
            znode_hash("/a", b"bc", &stat(1)),
            znode_hash("/ab", b"c", &stat(1))
        );
        assert_eq!(base, znode_hash("/a", b"x", &stat(1)));
    }

    #[test]
    fn differences_name_changed_missing_and_extra_paths() {
        let t = |v: &[(&str, u64)]| TreeDigest {
            nodes: v.len() as u64,
            digest: v.iter().map(|x| x.1).fold(0, u64::wrapping_add),
            by_path: v.iter().map(|(p, h)| ((*p).to_owned(), *h)).collect(),
        };
        let a = t(&[("/", 1), ("/a", 2), ("/b", 3), ("/d", 5)]);
        let b = t(&[("/", 1), ("/a", 9), ("/c", 4), ("/d", 5)]);
        assert_eq!(
            a.differences(&b, 10),
            [
                "/a differs",
                "/b only in the first",
                "/c only in the second"
            ]
        );
        assert_eq!(a.differences(&b, 1), ["/a differs"]);
        assert!(a.differences(&a, 10).is_empty());
    }
}

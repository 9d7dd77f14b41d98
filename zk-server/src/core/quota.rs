//! Quotas, as ZooKeeper 3.7+ keeps them.
//!
//! A quota on `/a/b` is two znodes that clients (zkCli's `setquota`) write:
//! `/zookeeper/quota/a/b/zookeeper_limits` holds the limits and
//! `/zookeeper/quota/a/b/zookeeper_stats` the usage, both as [`StatsTrack`] text
//! (`count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=20`). The server keeps the usage:
//! - Applying a txn (every replica, deterministically) moves the usage of the *nearest* ancestor
//!   with a quota (the node itself included; a quota on `/` counts nothing): a create adds one
//!   node and its bytes, a delete takes them away, a setData moves the bytes. The stats node's
//!   data is rewritten in place — its stat does not change and no watch fires — and, living under
//!   `/zookeeper/`, it adds nothing to the tree digest. (`DataTree.updateQuotaStat`.)
//! - Creating a `zookeeper_limits` node puts its path among the quota paths; creating a
//!   `zookeeper_stats` node recounts the subtree into it; deleting the limits node ends the
//!   quota. A loaded snapshot recounts every quota (`DataTree.setupQuota`), so usage survives a
//!   restart even when the snapshot's stats were fuzzy.
//! - Prep checks creates and setData against the limits (`ZooKeeperServer.checkQuota`): over a
//!   soft limit (`count`, `bytes`) is logged and allowed; over a hard limit (`countHardLimit`,
//!   `byteHardLimit`, which win over the soft ones) is refused with QuotaExceeded when
//!   `zookeeper.enforceQuota=true`. Like ZooKeeper, the check reads the applied usage, so writes
//!   still in flight (pipelined, or earlier ops of the same multi) are not counted.

use std::collections::BTreeMap;

use zk_proto::{path, ErrorCode};

use super::tree::{DataTree, QUOTA, ZOOKEEPER};
use super::Core;

pub use zk_proto::quota::{limit_path, stat_path, StatsTrack, LIMIT_NODE, STAT_NODE};
use zk_proto::quota::{BYTES, COUNT};

/// A warning repeated within this long is counted, not logged (ZooKeeper's `RateLogger`): a
/// hot path over its soft limit would flood the log.
const WARN_INTERVAL_MS: u64 = 100;

/// A quota node's data; unreadable pairs are logged and skipped.
fn parse_logged(data: &[u8]) -> StatsTrack {
    let (s, skipped) = StatsTrack::parse_checked(data);
    for pair in skipped {
        tracing::warn!(pair, "ignoring unreadable quota field");
    }
    s
}

/// The quota path a node under `/zookeeper/quota` belongs to, when `parent` is the quota
/// directory of a path (`Quotas.trimQuotaPath`); never the root.
fn quota_path_of(parent: &str) -> Option<&str> {
    parent
        .strip_prefix(QUOTA)
        .filter(|rest| rest.starts_with('/'))
}

/// Per-namespace quota limits and usage (ZooKeeper's `QuotaMetricsUtils` gauge sets
/// `quota_{count,bytes}_{limit,usage}_per_namespace`): every `zookeeper_limits` and
/// `zookeeper_stats` leaf under `/zookeeper/quota` adds to the namespace (first path
/// component) of the path it belongs to. A limit is the hard one when set, else the soft one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QuotaFigures {
    pub count_limit: BTreeMap<String, i64>,
    pub bytes_limit: BTreeMap<String, i64>,
    pub count_usage: BTreeMap<String, i64>,
    pub bytes_usage: BTreeMap<String, i64>,
}

/// `PathUtils.getTopNamespace`: the first component of a path (none for `/`).
pub fn top_namespace(p: &str) -> Option<&str> {
    p.split('/').nth(1).filter(|ns| !ns.is_empty())
}

impl DataTree {
    /// [`QuotaFigures`] now.
    pub fn quota_figures(&self) -> QuotaFigures {
        let mut out = QuotaFigures::default();
        let (limit_suffix, stat_suffix) = (format!("/{LIMIT_NODE}"), format!("/{STAT_NODE}"));
        self.visit_subtree(QUOTA, |p, node| {
            if !node.children.is_empty() {
                return;
            }
            let limits = p.ends_with(&limit_suffix);
            if !limits && !p.ends_with(&stat_suffix) {
                return;
            }
            let Some(ns) = top_namespace(&p[QUOTA.len()..]) else {
                return;
            };
            let Some(data) = node.data.as_deref() else {
                return;
            };
            let t = parse_logged(data);
            let add = |m: &mut BTreeMap<String, i64>, v: i64| {
                *m.entry(ns.to_owned()).or_insert(0) += v;
            };
            if limits {
                add(&mut out.count_limit, t.count_limit().1);
                add(&mut out.bytes_limit, t.byte_limit().1);
            } else {
                add(&mut out.count_usage, t.count());
                add(&mut out.bytes_usage, t.bytes());
            }
        });
        out
    }

    /// The nearest path at or above `p` with a quota (`getMaxPrefixWithQuota`); `None` when
    /// there is none, or it is `/`.
    pub fn max_prefix_with_quota(&self, p: &str) -> Option<String> {
        if self.quota_paths.is_empty() {
            return None;
        }
        let mut at = p;
        while at != "/" && !at.is_empty() {
            if self.quota_paths.contains(at) {
                return Some(at.to_owned());
            }
            at = path::parent(at);
        }
        None
    }

    /// The paths that have a quota, sorted.
    pub fn quota_paths(&self) -> impl Iterator<Item = &String> {
        self.quota_paths.iter()
    }

    pub(super) fn quota_on_create(&mut self, p: &str, bytes: i64) {
        let (parent, child) = split(p);
        if let Some(q) = quota_path_of(parent) {
            if child == LIMIT_NODE {
                self.quota_paths.insert(q.to_owned());
            }
            if child == STAT_NODE {
                let q = q.to_owned();
                self.update_quota_for_path(&q);
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(p) {
            self.update_quota_stat(&prefix, bytes, 1);
        }
    }

    pub(super) fn quota_on_delete(&mut self, p: &str, bytes: i64) {
        let (parent, child) = split(p);
        if child == LIMIT_NODE && parent.starts_with(ZOOKEEPER) {
            if let Some(q) = quota_path_of(parent) {
                self.quota_paths.remove(q);
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(p) {
            self.update_quota_stat(&prefix, -bytes, -1);
        }
    }

    pub(super) fn quota_on_set_data(&mut self, p: &str, bytes_diff: i64) {
        if let Some(prefix) = self.max_prefix_with_quota(p) {
            self.update_quota_stat(&prefix, bytes_diff, 0);
        }
    }

    /// Adds to the usage in a quota's stats node, keeping any other fields it holds.
    fn update_quota_stat(&mut self, quota_path: &str, bytes_diff: i64, count_diff: i64) {
        let sp = stat_path(quota_path);
        let Some(node) = self.get(&sp) else {
            // setquota creates the limits node first: writes in between have nowhere to go.
            tracing::debug!(path = %sp, "no quota stats node to update");
            return;
        };
        let mut s = parse_logged(node.data.as_deref().unwrap_or_default());
        s.set(COUNT, s.count() + count_diff);
        s.set(BYTES, s.bytes() + bytes_diff);
        self.replace_data_quietly(&sp, s.to_string().into_bytes());
    }

    /// Recounts the subtree at `quota_path` into its stats node (`updateQuotaForPath`).
    fn update_quota_for_path(&mut self, quota_path: &str) {
        let (count, bytes) = self.subtree_usage(quota_path);
        let sp = stat_path(quota_path);
        let data = StatsTrack::usage(count, bytes).to_string().into_bytes();
        if !self.replace_data_quietly(&sp, data) {
            tracing::warn!(path = %sp, "missing quota stats node");
        }
    }

    /// After a snapshot load: every leaf `zookeeper_limits` node under `/zookeeper/quota` makes
    /// its path a quota path, and its usage is recounted (`setupQuota`).
    pub(super) fn setup_quota(&mut self) {
        let mut found = Vec::new();
        let suffix = format!("/{LIMIT_NODE}");
        self.visit_subtree(QUOTA, |p, n| {
            if n.children.is_empty() && p.ends_with(&suffix) {
                if let Some(end) = p.find(&suffix) {
                    found.push(p[QUOTA.len()..end].to_owned());
                }
            }
        });
        for q in found {
            if q.is_empty() {
                continue;
            }
            self.update_quota_for_path(&q);
            self.quota_paths.insert(q);
        }
    }
}

fn split(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(0) => ("/", &p[1..]),
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

/// Rate-limits quota warnings as ZooKeeper's `RateLogger` does: a new message is logged at
/// once; the same message again within [`WARN_INTERVAL_MS`] is only counted, and the count
/// is logged with the next one that is.
#[derive(Debug, Default)]
pub struct QuotaLog {
    last: Option<(String, u64)>,
    repeated: u64,
}

impl QuotaLog {
    fn warn(&mut self, now_mono_ms: u64, msg: String) {
        if let Some((last, at)) = &self.last {
            if *last == msg && now_mono_ms.saturating_sub(*at) < WARN_INTERVAL_MS {
                self.repeated += 1;
                return;
            }
            let repeated = std::mem::take(&mut self.repeated);
            if repeated > 0 {
                tracing::warn!("[{repeated} more times] {last}");
            }
        }
        tracing::warn!("{msg}");
        self.last = Some((msg, now_mono_ms));
    }
}

impl Core {
    /// `checkQuota` for a create (`last_len` 0, `count_diff` 1) or a setData (`count_diff` 0)
    /// of `p`. Soft limits are logged; hard limits are logged and, with `enforceQuota`,
    /// refuse the write.
    pub(crate) fn check_quota(
        &mut self,
        p: &str,
        last_len: i64,
        new_len: i64,
        count_diff: i64,
    ) -> Result<(), ErrorCode> {
        let Some(prefix) = self.tree.max_prefix_with_quota(p) else {
            return Ok(());
        };
        let bytes_diff = new_len - last_len;
        let read = |p: &str| {
            self.tree
                .get(p)
                .map(|n| parse_logged(n.data.as_deref().unwrap_or_default()))
        };
        let Some(limits) = read(&limit_path(&prefix)) else {
            return Ok(());
        };
        let check_count = count_diff != 0 && limits.count_limit().1 > -1;
        let check_bytes = bytes_diff != 0 && limits.byte_limit().1 > -1;
        if !check_count && !check_bytes {
            return Ok(());
        }
        let Some(usage) = read(&stat_path(&prefix)) else {
            return Ok(());
        };
        let mut refuse = false;
        for (checked, what, limit_name, (hard, limit), current) in [
            (
                check_count,
                "count",
                "Count",
                limits.count_limit(),
                usage.count() + count_diff,
            ),
            (
                check_bytes,
                "bytes",
                "Byte",
                limits.byte_limit(),
                usage.bytes() + bytes_diff,
            ),
        ] {
            if !checked || current <= limit {
                continue;
            }
            let kind = if hard { "hard" } else { "soft" };
            let mut msg = format!(
                "Quota exceeded: {prefix} [current {what}={current}, {kind}{limit_name}Limit={limit}]"
            );
            if hard {
                if self.config.enforce_quota {
                    refuse = true;
                    msg.push_str(": refused");
                } else {
                    msg.push_str(": allowed (zookeeper.enforceQuota=false)");
                }
            }
            self.quota_log.warn(self.clock_mono_ms, msg);
        }
        if refuse {
            // `quota_exceeded_error_per_namespace`, keyed by the written path's namespace.
            if let Some(ns) = top_namespace(p) {
                *self
                    .stats
                    .quota_exceeded_errors
                    .entry(ns.to_owned())
                    .or_insert(0) += 1;
            }
            Err(ErrorCode::QuotaExceeded)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tree::Trigger;

    fn create(t: &mut DataTree, p: &str, data: &[u8]) {
        let mut tr: Vec<Trigger> = Vec::new();
        t.create_node(p, Some(data.to_vec()), &[], 0, -1, 1, 0, &mut tr)
            .expect("create");
    }

    fn stats(t: &DataTree, q: &str) -> String {
        let n = t.get(&stat_path(q)).expect("stats node");
        String::from_utf8(n.data.clone().unwrap_or_default()).expect("utf8")
    }

    fn set_quota(t: &mut DataTree, q: &str, limits: &str) {
        let mut dir = QUOTA.to_owned();
        for part in q.split('/').filter(|s| !s.is_empty()) {
            dir.push('/');
            dir.push_str(part);
            if t.get(&dir).is_none() {
                create(t, &dir, b"");
            }
        }
        create(t, &limit_path(q), limits.as_bytes());
        create(t, &stat_path(q), b"count=0,bytes=0");
    }

    #[test]
    fn usage_goes_to_the_nearest_quota_and_leaves_the_digest_alone() {
        let mut t = DataTree::new();
        create(&mut t, "/a", b"12");
        create(&mut t, "/a/b", b"345");
        set_quota(&mut t, "/a", "count=10,bytes=100");
        // Creating the stats node counted the subtree, /a included.
        assert_eq!(stats(&t, "/a"), "count=2,bytes=5");
        set_quota(&mut t, "/a/b", "count=1,bytes=-1");
        assert_eq!(stats(&t, "/a/b"), "count=1,bytes=3");
        let digest = t.digest();
        create(&mut t, "/a/c", b"xy");
        create(&mut t, "/a/b/d", b"z");
        assert_eq!(stats(&t, "/a"), "count=3,bytes=7");
        assert_eq!(stats(&t, "/a/b"), "count=2,bytes=4");
        let mut tr = Vec::new();
        t.set_data("/a/c", Some(b"wxyz".to_vec()), 1, 5, 0, &mut tr)
            .expect("set");
        assert_eq!(stats(&t, "/a"), "count=3,bytes=9");
        t.delete_node("/a/b/d", 6, &mut tr).expect("delete");
        assert_eq!(stats(&t, "/a/b"), "count=1,bytes=3");
        // The stats nodes' changes are outside the digest: only the data nodes moved it.
        let mut plain = DataTree::new();
        create(&mut plain, "/a", b"12");
        create(&mut plain, "/a/b", b"345");
        assert_eq!(plain.digest(), digest);
        // Deleting the limits node ends the quota.
        t.delete_node(&limit_path("/a/b"), 7, &mut tr)
            .expect("delete");
        create(&mut t, "/a/b/e", b"");
        assert_eq!(stats(&t, "/a"), "count=4,bytes=9");
        assert_eq!(stats(&t, "/a/b"), "count=1,bytes=3");
        assert_eq!(t.max_prefix_with_quota("/a/b/e").as_deref(), Some("/a"));
        assert_eq!(t.max_prefix_with_quota("/ab"), None);
    }

    #[test]
    fn a_restored_tree_recounts_its_quotas() {
        let mut t = DataTree::new();
        create(&mut t, "/q", b"");
        set_quota(&mut t, "/q", "count=-1,bytes=-1=;countHardLimit=3");
        create(&mut t, "/q/x", b"abc");
        // Fuzzy stats in the snapshot are replaced by the real usage.
        t.replace_data_quietly(&stat_path("/q"), b"count=99,bytes=99".to_vec());
        let mut nodes = Vec::new();
        t.visit_preorder(|p, n| {
            nodes.push(crate::core::tree::RestoredNode {
                path: p.to_owned(),
                data: n.data.clone(),
                acl_ref: n.acl_ref,
                stat: n.stat.clone(),
            })
        });
        let acls: Vec<_> = t.acls.entries().map(|(r, a)| (r, a.to_vec())).collect();
        let r = DataTree::restore(acls, nodes).expect("restore");
        assert_eq!(stats(&r, "/q"), "count=2,bytes=3");
        assert_eq!(r.quota_paths().collect::<Vec<_>>(), vec!["/q"]);
        assert_eq!(r.digest(), t.digest());
    }
}

//! The data tree: znodes by path, with the bookkeeping ZooKeeper's `DataTree` keeps
//! (ephemerals by session, containers, TTL nodes, the ACL cache), and `apply` for committed txns.
//!
//! Stat rules worth knowing: the stored `cversion` counts child *creations* (sequence numbers
//! come from it), while clients are shown `2 * cversion - numChildren`, i.e. creations plus
//! deletions, exactly as `DataNode.copyStat` computes it. Containers and TTL nodes show an
//! `ephemeralOwner` of 0.
//!
//! Nodes live in one persistent (structurally shared) B-tree, so [`DataTree::view`] is an O(1),
//! consistent image that a snapshot can serialize on another thread while writes go on.
//!
//! Memory layout, per znode: the map's key is the path with every '/' turned into a NUL byte
//! ([`Key`]), so that the keys' byte order is the tree's pre-order with siblings sorted by name
//! (NUL sorts below every byte a path may hold, and paths never hold NUL): a node's subtree is
//! the run of keys right after it, iterating the map walks the tree as a snapshot writes it, and
//! a node's children are found by a range scan instead of being stored a second time. A node
//! keeps its number of children. Values are `Arc<Node>`s updated by copy-on-write, so a leaf of
//! the map that a view shares copies pointers, not nodes, and a node is copied only when a view
//! still holds it. Data is kept at its exact length.
//!
//! The tree digest is ZooKeeper's (3.6+): a wrapping 64-bit sum over nodes of CRC32(path, data,
//! 60 stat bytes), with the root hashed as "" and everything under `/zookeeper/` left out.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use imbl::OrdMap;

use zk_proto::consts::ephemeral_owner;
use zk_proto::data::{Acl, Stat, StatPersisted};
use zk_proto::path;
use zk_proto::ErrorCode;

use super::acl::{AclCache, OPEN_ACL_REF};

pub const ZOOKEEPER: &str = "/zookeeper";
pub use zk_proto::quota::QUOTA;
pub const CONFIG: &str = "/zookeeper/config";

/// A map key: the path's bytes with '/' as NUL (the root is a single NUL).
type Key = Arc<[u8]>;
type Nodes = OrdMap<Key, Arc<Node>>;

/// The byte a '/' becomes in a key.
const SEP: u8 = 0;

#[derive(Debug, Clone)]
pub struct Node {
    /// Kept at its exact length (no spare capacity).
    pub data: Option<Vec<u8>>,
    pub acl_ref: i64,
    pub stat: StatPersisted,
    /// How many children the node has; their names come from [`DataTree::children_of`].
    pub children: ChildCount,
}

/// A node's number of children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildCount(u32);

impl ChildCount {
    pub fn len(self) -> usize {
        self.0 as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The stat of a node created by the txn with this zxid and time (`DataTree.createStat`).
pub fn new_node_stat(zxid: i64, time: i64, owner: i64) -> StatPersisted {
    StatPersisted {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid: zxid,
    }
}

/// What kind of owner an `ephemeralOwner` value denotes (`EphemeralType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    Void,
    Session(i64),
    Container,
    Ttl(i64),
}

pub fn owner_kind(owner: i64) -> OwnerKind {
    if owner == 0 {
        OwnerKind::Void
    } else if owner == ephemeral_owner::CONTAINER {
        OwnerKind::Container
    } else if let Some(ttl) = ephemeral_owner::ttl_of(owner) {
        OwnerKind::Ttl(ttl)
    } else {
        OwnerKind::Session(owner)
    }
}

/// Data without spare capacity: a node keeps it for its lifetime.
fn exact(data: Option<Vec<u8>>) -> Option<Vec<u8>> {
    data.map(|mut d| {
        d.shrink_to_fit();
        d
    })
}

fn data_len(data: &Option<Vec<u8>>) -> usize {
    data.as_ref().map_or(0, Vec::len)
}

impl Node {
    fn new(data: Option<Vec<u8>>, acl_ref: i64, stat: StatPersisted) -> Self {
        Node {
            data: exact(data),
            acl_ref,
            stat,
            children: ChildCount(0),
        }
    }

    /// The stat a client sees.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = self.children.0 as i32;
        let owner = match owner_kind(s.ephemeral_owner) {
            OwnerKind::Session(id) => id,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children,
            pzxid: s.pzxid,
        }
    }
}

/// Watch triggers produced by applying a txn, in the order ZooKeeper fires them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Created(String),
    /// `acl` is the deleted node's, for recursive watchers' read check.
    Deleted {
        path: String,
        parent: String,
        acl: Vec<Acl>,
    },
    DataChanged(String),
}

/// Calls `f` with the key of path `p` ("" names the root), built on the stack when short.
fn with_key<R>(p: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let p = if p.is_empty() { "/" } else { p };
    let mut buf = [0u8; 128];
    if p.len() <= buf.len() {
        let k = &mut buf[..p.len()];
        for (d, s) in k.iter_mut().zip(p.bytes()) {
            *d = if s == b'/' { SEP } else { s };
        }
        f(k)
    } else {
        f(&key_vec(p))
    }
}

fn key_vec(p: &str) -> Vec<u8> {
    p.bytes().map(|b| if b == b'/' { SEP } else { b }).collect()
}

fn new_key(p: &str) -> Key {
    // One allocation of the exact size (the iterator's length is known), no temporary Vec.
    p.bytes().map(|b| if b == b'/' { SEP } else { b }).collect()
}

/// Writes the path that key `k` stands for into `out` (reused between calls).
fn key_path<'a>(k: &[u8], out: &'a mut Vec<u8>) -> &'a str {
    out.clear();
    out.extend(k.iter().map(|&b| if b == SEP { b'/' } else { b }));
    std::str::from_utf8(out).expect("keys are made from paths")
}

/// The first key after every key of the subtree under `k` (`k` and `k` NUL ...).
fn after_subtree(k: &[u8]) -> Vec<u8> {
    let mut end = Vec::with_capacity(k.len() + 1);
    end.extend_from_slice(k);
    end.push(SEP + 1);
    end
}

/// Keys of the nodes strictly below `k` (for the root's key, every other node), in pre-order.
fn subtree<'a>(nodes: &'a Nodes, k: &[u8]) -> impl Iterator<Item = (&'a Key, &'a Arc<Node>)> {
    let root = k == [SEP];
    let end = after_subtree(k);
    let range: (Bound<&[u8]>, Bound<&[u8]>) = if root {
        (Bound::Excluded(k), Bound::Unbounded)
    } else {
        (Bound::Excluded(k), Bound::Excluded(&end))
    };
    nodes.range::<_, [u8]>(range)
}

/// The names of the children of the node with key `k`, sorted by name.
fn child_names(nodes: &Nodes, k: &[u8]) -> Vec<String> {
    // A child's key is `k` NUL name (the root's key is already the separator).
    let prefix_len = if k == [SEP] { 1 } else { k.len() + 1 };
    let mut out = Vec::new();
    // Where the scan (re)starts: after the node itself, then after a skipped subtree.
    let mut from: Vec<u8> = k.to_vec();
    let mut inclusive = false;
    loop {
        let lo = if inclusive {
            Bound::Included(from.as_slice())
        } else {
            Bound::Excluded(from.as_slice())
        };
        let mut next = None;
        for (ck, _) in nodes.range::<_, [u8]>((lo, Bound::Unbounded)) {
            if ck.len() <= prefix_len
                || !ck.starts_with(k)
                || (prefix_len > 1 && ck[k.len()] != SEP)
            {
                break;
            }
            let name = &ck[prefix_len..];
            match name.iter().position(|&b| b == SEP) {
                None => out.push(
                    std::str::from_utf8(name)
                        .expect("keys are made from paths")
                        .to_owned(),
                ),
                Some(i) => {
                    // A grandchild: skip the rest of that child's subtree with one seek.
                    next = Some(after_subtree(&ck[..prefix_len + i]));
                    break;
                }
            }
        }
        match next {
            Some(n) => {
                from = n;
                inclusive = true;
            }
            None => return out,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: Nodes,
    /// ZooKeeper's tree digest (AdHash of node digests).
    digest: u64,
    pub acls: AclCache,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Sum over nodes of path length + data length (ZooKeeper's `approximateDataSize`).
    data_size: u64,
    /// Paths with a quota (a `zookeeper_limits` node): ZooKeeper's `pTrie` (see [`super::quota`]).
    pub(super) quota_paths: BTreeSet<String>,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, and `/zookeeper/config` (readable by
    /// anyone, aversion -1, as ZooKeeper's `addConfigNode` leaves it).
    pub fn new() -> Self {
        let mut t = DataTree {
            nodes: OrdMap::new(),
            digest: 0,
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
            quota_paths: BTreeSet::new(),
        };
        let empty = || Node::new(Some(Vec::new()), OPEN_ACL_REF, StatPersisted::default());
        t.insert_raw("/", empty());
        t.insert_raw(ZOOKEEPER, empty());
        t.insert_raw(QUOTA, empty());
        let mut config = empty();
        config.acl_ref = t.acls.intern(&Acl::read_unsafe());
        config.stat.aversion = -1;
        t.insert_raw(CONFIG, config);
        t
    }

    fn insert_raw(&mut self, p: &str, node: Node) {
        if p != "/" {
            if let Some(parent) = with_key(path::parent(p), |k| self.nodes.get_mut(k)) {
                Arc::make_mut(parent).children.0 += 1;
            }
        }
        self.data_size += (p.len() + data_len(&node.data)) as u64;
        self.digest = self.digest.wrapping_add(node_digest(p, &node));
        self.nodes.insert(new_key(p), Arc::new(node));
    }

    /// Files a node under its owner kind: a session's ephemerals, containers or TTL nodes.
    fn index_owner(&mut self, p: &str, owner: i64) {
        match owner_kind(owner) {
            OwnerKind::Container => {
                self.containers.insert(p.to_owned());
            }
            OwnerKind::Ttl(_) => {
                self.ttls.insert(p.to_owned());
            }
            OwnerKind::Session(s) => {
                self.ephemerals.entry(s).or_default().insert(p.to_owned());
            }
            OwnerKind::Void => {}
        }
    }

    /// Takes a node out of the owner indexes.
    fn unindex_owner(&mut self, p: &str, owner: i64) {
        match owner_kind(owner) {
            OwnerKind::Container => {
                self.containers.remove(p);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.remove(p);
            }
            OwnerKind::Session(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(p);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            OwnerKind::Void => {}
        }
    }

    /// The tree digest, as ZooKeeper reports it (`DataTree.getTreeDigest`).
    pub fn digest(&self) -> i64 {
        self.digest as i64
    }

    /// A consistent image of the nodes and ACLs for a snapshot: O(1), shares structure.
    pub fn view(&self) -> TreeView {
        TreeView {
            nodes: self.nodes.clone(),
            acls: self.acls.clone(),
            digest: self.digest,
        }
    }

    /// Calls `f` with each node in pre-order (a parent before its children, siblings sorted).
    pub fn visit_preorder(&self, f: impl FnMut(&str, &Node)) {
        visit(&self.nodes, f)
    }

    /// Calls `f` with every node strictly below `p`, in pre-order.
    pub(super) fn visit_subtree(&self, p: &str, mut f: impl FnMut(&str, &Node)) {
        let mut buf = Vec::new();
        with_key(p, |k| {
            for (k, n) in subtree(&self.nodes, k) {
                f(key_path(k, &mut buf), n);
            }
        })
    }

    /// Builds a tree from a snapshot: ACL refs and nodes in pre-order (the root may be named ""
    /// or "/"; every other node's parent must come before it).
    pub fn restore(
        acls: impl IntoIterator<Item = (i64, Vec<Acl>)>,
        nodes: impl IntoIterator<Item = RestoredNode>,
    ) -> Result<DataTree, String> {
        let mut b = TreeBuilder::new(acls);
        for n in nodes {
            b.add(&n.path, n.data.as_deref(), n.acl_ref, n.stat);
            if b.failed() {
                break;
            }
        }
        b.finish()
    }

    /// The node at `path`. ZooKeeper's map also holds the root under "", so "" names it too.
    pub fn get(&self, path: &str) -> Option<&Node> {
        with_key(path, |k| self.nodes.get(k)).map(|n| &**n)
    }

    /// The names of the children of the node at `p`, sorted (empty when there is no such node).
    pub fn children_of(&self, p: &str) -> Vec<String> {
        with_key(p, |k| child_names(&self.nodes, k))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    pub fn acl_of(&self, node: &Node) -> Vec<Acl> {
        self.acls.get(node.acl_ref)
    }

    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// Sessions that own ephemerals, with their paths (for `dump`).
    pub fn ephemerals_by_session(&self) -> impl Iterator<Item = (&i64, &BTreeSet<String>)> {
        self.ephemerals.iter()
    }

    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    pub fn ttls(&self) -> impl Iterator<Item = &String> {
        self.ttls.iter()
    }

    /// `getAllChildrenNumber`: every node below `p` (for "/", every node but the root).
    pub fn all_children_number(&self, p: &str) -> usize {
        if p == "/" {
            return self.nodes.len() - 1;
        }
        with_key(p, |k| subtree(&self.nodes, k).count())
    }

    /// All paths in pre-order (parents before children, siblings sorted); for dumps and tests.
    pub fn paths_preorder(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.nodes.len());
        self.visit_preorder(|p, _| out.push(p.to_owned()));
        out
    }

    /// Creates a node as `DataTree.createNode` does. `parent_cversion` of -1 means "current+1".
    #[allow(clippy::too_many_arguments)]
    pub fn create_node(
        &mut self,
        p: &str,
        data: Option<Vec<u8>>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        if p == "/" || p.contains('\0') {
            // Not a path a client can name (a NUL would make two paths share a key).
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = path::parent(p);
        let key = new_key(p);
        let exists = self.nodes.contains_key(&*key);
        let Some(parent) = with_key(parent_path, |k| self.nodes.get_mut(k)) else {
            return Err(ErrorCode::NoNode);
        };
        // The ACL is interned before the existence check, as ZooKeeper does: replaying the
        // create of a node a fuzzy snapshot already holds then recreates an ACL entry the
        // snapshot missed, at the same ref. (Prep rules out NodeExists outside replay.)
        let fresh = !self.acls.contains(acl);
        let acl_ref = self.acls.intern(acl);
        if exists {
            // Keep the count only when this intern recreated the entry that the existing node
            // dangles on: that count is the node's. Otherwise it was counted already.
            let repaired = fresh && self.nodes.get(&*key).is_some_and(|n| n.acl_ref == acl_ref);
            if !repaired {
                self.acls.release(acl_ref);
            }
            return Err(ErrorCode::NodeExists);
        }
        let old_parent_digest = node_digest(parent_path, parent);
        let parent = Arc::make_mut(parent);
        let cv = if parent_cversion == -1 {
            parent.stat.cversion + 1
        } else {
            parent_cversion
        };
        // Replaying a fuzzy snapshot's tail can re-create a node whose parent already counted it.
        if cv > parent.stat.cversion {
            parent.stat.cversion = cv;
            parent.stat.pzxid = zxid;
        }
        parent.children.0 += 1;
        let new_parent_digest = node_digest(parent_path, parent);
        let stat = new_node_stat(zxid, time, owner);
        let bytes = data_len(&data) as i64;
        self.data_size += (p.len() + data_len(&data)) as u64;
        let node = Node::new(data, acl_ref, stat);
        let client_stat = node.client_stat();
        self.digest = self
            .digest
            .wrapping_sub(old_parent_digest)
            .wrapping_add(new_parent_digest)
            .wrapping_add(node_digest(p, &node));
        self.nodes.insert(key, Arc::new(node));
        self.index_owner(p, owner);
        self.quota_on_create(p, bytes);
        triggers.push(Trigger::Created(p.to_owned()));
        Ok(client_stat)
    }

    /// Takes a node out of the map and every index, with its digest, size and ACL count.
    fn remove_one(&mut self, p: &str, key: &[u8]) -> Option<Arc<Node>> {
        let node = self.nodes.remove(key)?;
        self.acls.release(node.acl_ref);
        self.data_size = self
            .data_size
            .saturating_sub((p.len() + data_len(&node.data)) as u64);
        self.digest = self.digest.wrapping_sub(node_digest(p, &node));
        self.unindex_owner(p, node.stat.ephemeral_owner);
        Some(node)
    }

    pub fn delete_node(
        &mut self,
        p: &str,
        zxid: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<(), ErrorCode> {
        if p == "/" {
            return Err(ErrorCode::BadArguments);
        }
        let key = with_key(p, <[u8]>::to_vec);
        let Some(node) = self.nodes.get(key.as_slice()) else {
            return Err(ErrorCode::NoNode);
        };
        let acl = self.acls.get(node.acl_ref);
        if !node.children.is_empty() {
            // Only replay over a fuzzy snapshot deletes a node with children: ones created
            // after this delete, whose creates come later in the log. ZooKeeper leaves them
            // unreachable until those creates overwrite them; here they go now, so the creates
            // find them gone and the end state is the same.
            let below: Vec<Key> = subtree(&self.nodes, &key).map(|(k, _)| k.clone()).collect();
            let mut buf = Vec::new();
            for k in below {
                let sub = key_path(&k, &mut buf).to_owned();
                self.remove_one(&sub, &k);
            }
        }
        let bytes = self
            .remove_one(p, &key)
            .map_or(0, |n| data_len(&n.data) as i64);
        let parent_path = path::parent(p);
        if let Some(parent) = with_key(parent_path, |k| self.nodes.get_mut(k)) {
            let old = node_digest(parent_path, parent);
            let parent = Arc::make_mut(parent);
            parent.children.0 = parent.children.0.saturating_sub(1);
            // A lower zxid means a replay of an older txn: keep the newer pzxid.
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
            self.digest = self
                .digest
                .wrapping_sub(old)
                .wrapping_add(node_digest(parent_path, parent));
        }
        self.quota_on_delete(p, bytes);
        triggers.push(Trigger::Deleted {
            path: p.to_owned(),
            parent: parent_path.to_owned(),
            acl,
        });
        Ok(())
    }

    pub fn set_data(
        &mut self,
        p: &str,
        data: Option<Vec<u8>>,
        version: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        let Some(node) = with_key(p, |k| self.nodes.get_mut(k)) else {
            return Err(ErrorCode::NoNode);
        };
        let node = Arc::make_mut(node);
        let old = data_len(&node.data) as u64;
        let new = data_len(&data) as u64;
        let old_digest = node_digest(p, node);
        node.data = exact(data);
        node.stat.version = version;
        node.stat.mzxid = zxid;
        node.stat.mtime = time;
        let stat = node.client_stat();
        let new_digest = node_digest(p, node);
        self.digest = self
            .digest
            .wrapping_sub(old_digest)
            .wrapping_add(new_digest);
        self.data_size = self.data_size.saturating_sub(old) + new;
        self.quota_on_set_data(p, new as i64 - old as i64);
        triggers.push(Trigger::DataChanged(p.to_owned()));
        Ok(stat)
    }

    /// Replaces a node's data without touching its stat and without firing watches: how
    /// ZooKeeper rewrites a quota's `zookeeper_stats` node while applying a txn.
    pub(super) fn replace_data_quietly(&mut self, p: &str, data: Vec<u8>) -> bool {
        let Some(node) = with_key(p, |k| self.nodes.get_mut(k)) else {
            return false;
        };
        let node = Arc::make_mut(node);
        let old_digest = node_digest(p, node);
        let old = data_len(&node.data) as u64;
        self.data_size = self.data_size.saturating_sub(old) + data.len() as u64;
        node.data = exact(Some(data));
        self.digest = self
            .digest
            .wrapping_sub(old_digest)
            .wrapping_add(node_digest(p, node));
        true
    }

    /// The number of nodes and data bytes in the subtree at `p`, the node itself included
    /// (`DataTree.getCounts`); zeros when there is no such node.
    pub fn subtree_usage(&self, p: &str) -> (i64, i64) {
        with_key(p, |k| match self.nodes.get(k) {
            None => (0, 0),
            Some(n) => subtree(&self.nodes, k)
                .fold((1, data_len(&n.data) as i64), |(c, b), (_, n)| {
                    (c + 1, b + data_len(&n.data) as i64)
                }),
        })
    }

    pub fn set_acl(&mut self, p: &str, acl: &[Acl], aversion: i32) -> Result<Stat, ErrorCode> {
        let Some(node) = with_key(p, |k| self.nodes.get_mut(k)) else {
            return Err(ErrorCode::NoNode);
        };
        let new_ref = self.acls.intern(acl);
        let node = Arc::make_mut(node);
        let old_digest = node_digest(p, node);
        let old_ref = std::mem::replace(&mut node.acl_ref, new_ref);
        node.stat.aversion = aversion;
        let stat = node.client_stat();
        let new_digest = node_digest(p, node);
        self.digest = self
            .digest
            .wrapping_sub(old_digest)
            .wrapping_add(new_digest);
        self.acls.release(old_ref);
        Ok(stat)
    }
}

/// Builds a [`DataTree`] from a snapshot's nodes as they are read, one at a time, in file
/// order, without collecting them first ([`DataTree::restore`] is this over a list). The
/// first invalid node makes [`TreeBuilder::finish`] fail with its message; nodes added after
/// it are ignored.
pub struct TreeBuilder {
    t: DataTree,
    /// The parent of the current run of siblings and how many of them were added: children
    /// are added to their parent's count when the run ends, which in pre-order saves a parent
    /// lookup per node.
    pending: Option<(Key, u32)>,
    err: Option<String>,
    /// Nodes whose ACL ref the snapshot does not list, warned about in [`TreeBuilder::finish`].
    dangling_acls: Vec<(String, i64)>,
}

impl TreeBuilder {
    pub fn new(acls: impl IntoIterator<Item = (i64, Vec<Acl>)>) -> Self {
        TreeBuilder {
            t: DataTree {
                nodes: OrdMap::new(),
                digest: 0,
                acls: AclCache::restore(acls),
                ephemerals: HashMap::new(),
                containers: BTreeSet::new(),
                ttls: BTreeSet::new(),
                data_size: 0,
                quota_paths: BTreeSet::new(),
            },
            pending: None,
            err: None,
            dangling_acls: Vec::new(),
        }
    }

    /// Whether a node was rejected (then [`TreeBuilder::finish`] fails).
    pub fn failed(&self) -> bool {
        self.err.is_some()
    }

    /// Adds the next node (`path` "" or "/" for the root); its data is copied at exact length.
    pub fn add(&mut self, path: &str, data: Option<&[u8]>, acl_ref: i64, stat: StatPersisted) {
        if self.err.is_none() {
            if let Err(e) = self.try_add(path, data, acl_ref, stat) {
                self.err = Some(e);
            }
        }
    }

    fn try_add(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl_ref: i64,
        stat: StatPersisted,
    ) -> Result<(), String> {
        let p = if path.is_empty() { "/" } else { path };
        if p.contains('\0') {
            return Err(format!("node path {p:?} holds a NUL"));
        }
        let t = &mut self.t;
        // One allocation, of the exact size (the iterator's length is known).
        let key: Key = p.bytes().map(|b| if b == b'/' { SEP } else { b }).collect();
        if p != "/" {
            // The parent's key (as `path::parent`): a prefix of the node's key, or the root's.
            let pk: &[u8] = match p.rfind('/') {
                Some(0) | None => &[SEP],
                Some(i) => &key[..i],
            };
            let same = self.pending.as_ref().is_some_and(|(k, _)| **k == *pk);
            if !same {
                flush_count(&mut t.nodes, self.pending.take());
                if !t.nodes.contains_key(pk) {
                    return Err(format!("node {p} comes before its parent"));
                }
                self.pending = Some((Arc::from(pk), 0));
            }
            if let Some((_, c)) = self.pending.as_mut() {
                *c += 1;
            }
        } else if !t.nodes.is_empty() {
            return Err("the root is not the first node".to_owned());
        }
        if !t.acls.add_usage(acl_ref) {
            // A fuzzy snapshot (Apache writes them) can hold a node created after its ACL
            // section was written; replaying the node's create recreates the entry at the
            // same ref. Until then the unknown ref grants nothing.
            self.dangling_acls.push((p.to_owned(), acl_ref));
        }
        t.index_owner(p, stat.ephemeral_owner);
        let node = Node {
            data: data.map(<[u8]>::to_vec),
            acl_ref,
            stat,
            children: ChildCount(0),
        };
        t.data_size += (p.len() + data_len(&node.data)) as u64;
        t.digest = t
            .digest
            .wrapping_add(restored_node_digest(p, data, &node.stat));
        // Every node is listed once: a path already there is a duplicate.
        if t.nodes.insert(key, Arc::new(node)).is_some() {
            return Err(format!("node {p} appears twice"));
        }
        Ok(())
    }

    /// The tree, or why a node was rejected (also when it has no root).
    pub fn finish(self) -> Result<DataTree, String> {
        let TreeBuilder {
            mut t,
            pending,
            err,
            dangling_acls,
        } = self;
        for (path, acl_ref) in &dangling_acls {
            tracing::warn!(%path, acl_ref, "snapshot node uses an ACL ref it does not list");
        }
        if let Some(e) = err {
            return Err(e);
        }
        flush_count(&mut t.nodes, pending);
        if !t.nodes.contains_key([SEP].as_slice()) {
            return Err("the snapshot has no root".to_owned());
        }
        t.acls.purge_unused();
        t.setup_quota();
        Ok(t)
    }
}

/// [`node_digest`] of a node being restored: the CRC32 input (path, data, stat bytes) is
/// hashed in one piece when it is small, which is faster than three short updates.
fn restored_node_digest(p: &str, data: Option<&[u8]>, stat: &StatPersisted) -> u64 {
    const STACK: usize = 512;
    let d = data.unwrap_or_default();
    if p.starts_with("/zookeeper/") || p.len() + d.len() + STAT_BYTES > STACK {
        return digest_prefix(p, data).map_or(0, |h| finish_digest(h, stat));
    }
    let p = if p == "/" { "" } else { p };
    let mut buf = [0u8; STACK];
    let (a, b) = (p.len(), p.len() + d.len());
    buf[..a].copy_from_slice(p.as_bytes());
    buf[a..b].copy_from_slice(d);
    buf[b..b + STAT_BYTES].copy_from_slice(&stat_bytes(stat));
    u64::from(crc32fast::hash(&buf[..b + STAT_BYTES]))
}

/// Adds a run's count of children to their parent (see [`DataTree::restore`]).
fn flush_count(nodes: &mut Nodes, pending: Option<(Key, u32)>) {
    if let Some((k, c)) = pending {
        if let Some(parent) = nodes.get_mut(&*k) {
            Arc::make_mut(parent).children.0 += c;
        }
    }
}

/// A node as a snapshot stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredNode {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl_ref: i64,
    pub stat: StatPersisted,
}

/// A frozen, consistent image of a tree's nodes and ACLs (see [`DataTree::view`]).
#[derive(Debug, Clone)]
pub struct TreeView {
    nodes: Nodes,
    pub acls: AclCache,
    digest: u64,
}

impl TreeView {
    pub fn visit_preorder(&self, f: impl FnMut(&str, &Node)) {
        visit(&self.nodes, f)
    }

    /// The names of the children of the node at `p`, sorted.
    pub fn children_of(&self, p: &str) -> Vec<String> {
        with_key(p, |k| child_names(&self.nodes, k))
    }

    pub fn digest(&self) -> i64 {
        self.digest as i64
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// The map's order is the tree's pre-order (see the module doc).
fn visit(nodes: &Nodes, mut f: impl FnMut(&str, &Node)) {
    let mut buf = Vec::new();
    for (k, n) in nodes.iter() {
        f(key_path(k, &mut buf), n);
    }
}

/// A node's digest (`DigestCalculator.calculateDigest`, digest version 2).
pub fn node_digest(p: &str, node: &Node) -> u64 {
    digest_prefix(p, node.data.as_deref()).map_or(0, |h| finish_digest(h, &node.stat))
}

/// CRC32 state over a node's path and data: the part of its digest that a stat change leaves
/// alone. `None` for nodes ZooKeeper leaves out of the digest (everything under /zookeeper/).
pub fn digest_prefix(p: &str, data: Option<&[u8]>) -> Option<crc32fast::Hasher> {
    if p.starts_with("/zookeeper/") {
        return None;
    }
    let p = if p == "/" { "" } else { p };
    let mut h = crc32fast::Hasher::new();
    h.update(p.as_bytes());
    if let Some(d) = data {
        h.update(d);
    }
    Some(h)
}

/// How many stat bytes a node's digest covers.
const STAT_BYTES: usize = 60;

/// Completes a digest from its prefix and the 60 stat bytes ZooKeeper hashes.
pub fn finish_digest(mut h: crc32fast::Hasher, s: &StatPersisted) -> u64 {
    h.update(&stat_bytes(s));
    u64::from(h.finalize())
}

/// The stat fields a node's digest covers, in ZooKeeper's order.
fn stat_bytes(s: &StatPersisted) -> [u8; STAT_BYTES] {
    let mut stat = [0u8; STAT_BYTES];
    stat[0..8].copy_from_slice(&s.czxid.to_be_bytes());
    stat[8..16].copy_from_slice(&s.mzxid.to_be_bytes());
    stat[16..24].copy_from_slice(&s.pzxid.to_be_bytes());
    stat[24..32].copy_from_slice(&s.ctime.to_be_bytes());
    stat[32..40].copy_from_slice(&s.mtime.to_be_bytes());
    stat[40..44].copy_from_slice(&s.version.to_be_bytes());
    stat[44..48].copy_from_slice(&s.cversion.to_be_bytes());
    stat[48..52].copy_from_slice(&s.aversion.to_be_bytes());
    stat[52..60].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
    stat
}

/// The digest version ZooKeeper 3.6+ writes in `TxnDigest` and snapshots.
pub const DIGEST_VERSION: i32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn create(t: &mut DataTree, p: &str, zxid: i64) -> Stat {
        t.create_node(
            p,
            Some(b"d".to_vec()),
            &Acl::open_unsafe(),
            0,
            -1,
            zxid,
            1000 + zxid,
            &mut Vec::new(),
        )
        .unwrap()
    }

    /// The digest kept up to date change by change equals one computed from scratch.
    fn full_digest(t: &DataTree) -> i64 {
        let mut d = 0u64;
        t.visit_preorder(|p, n| d = d.wrapping_add(node_digest(p, n)));
        d as i64
    }

    #[test]
    fn incremental_digest_matches_a_full_recount() {
        let mut t = DataTree::new();
        assert_eq!(t.digest(), full_digest(&t));
        create(&mut t, "/a", 1);
        create(&mut t, "/a/b", 2);
        let mut tr = Vec::new();
        t.set_data("/a/b", Some(b"xyz".to_vec()), 1, 3, 5, &mut tr)
            .unwrap();
        t.set_acl("/a", &Acl::read_unsafe(), 1).unwrap();
        assert_eq!(t.digest(), full_digest(&t));
        t.delete_node("/a/b", 4, &mut tr).unwrap();
        assert_eq!(t.digest(), full_digest(&t));
        let view = t.view();
        create(&mut t, "/later", 5);
        assert_ne!(view.digest(), t.digest(), "a view is frozen");
        assert_eq!(view.node_count() + 1, t.node_count());
    }

    #[test]
    fn restore_rebuilds_the_same_tree() {
        let mut t = DataTree::new();
        create(&mut t, "/a", 1);
        let mut tr = Vec::new();
        t.create_node("/a/e", None, &Acl::read_unsafe(), 0x77, -1, 2, 3, &mut tr)
            .unwrap();
        let mut nodes = Vec::new();
        t.visit_preorder(|p, n| {
            nodes.push(RestoredNode {
                path: if p == "/" {
                    String::new()
                } else {
                    p.to_owned()
                },
                data: n.data.clone(),
                acl_ref: n.acl_ref,
                stat: n.stat.clone(),
            })
        });
        let acls: Vec<(i64, Vec<Acl>)> = t.acls.entries().map(|(r, a)| (r, a.to_vec())).collect();
        let back = DataTree::restore(acls, nodes.clone()).unwrap();
        assert_eq!(back.paths_preorder(), t.paths_preorder());
        assert_eq!(back.digest(), t.digest());
        assert_eq!(back.approximate_data_size(), t.approximate_data_size());
        assert_eq!(
            back.ephemerals_of(0x77).cloned().collect::<Vec<_>>(),
            vec!["/a/e"]
        );
        assert_eq!(back.acl_of(back.get("/a/e").unwrap()), Acl::read_unsafe());
        // A node before its parent is corruption.
        let mut bad = nodes.clone();
        bad.swap(1, 2);
        assert!(DataTree::restore(Vec::new(), bad).is_err());
        // An ACL ref the snapshot does not list (fuzzy snapshots) loads, but grants nothing
        // until replay recreates it.
        let t2 = DataTree::restore(Vec::new(), nodes).unwrap();
        assert_eq!(
            t2.acl_of(t2.get("/a/e").unwrap()),
            vec![Acl::new(0, "world", "anyone")]
        );
    }

    #[test]
    fn replaying_a_create_repairs_a_dangling_acl_ref_without_leaking_counts() {
        // A fuzzy snapshot: node /d uses ref 2, which its ACL section (ref 1 only) missed.
        let acls = vec![(1, Acl::read_unsafe())];
        let stat = StatPersisted {
            czxid: 5,
            ..Default::default()
        };
        let nodes = vec![
            RestoredNode {
                path: String::new(),
                data: None,
                acl_ref: -1,
                stat: StatPersisted::default(),
            },
            RestoredNode {
                path: "/d".into(),
                data: None,
                acl_ref: 2,
                stat,
            },
        ];
        let mut t = DataTree::restore(acls, nodes).unwrap();
        let digest_acl = vec![Acl::new(31, "digest", "u:h")];
        let mut tr = Vec::new();
        // Replaying /d's create: NodeExists, but the missing entry comes back at ref 2.
        let r = t.create_node("/d", None, &digest_acl, 0, -1, 5, 1, &mut tr);
        assert_eq!(r, Err(ErrorCode::NodeExists));
        assert_eq!(t.acl_of(t.get("/d").unwrap()), digest_acl);
        // A duplicate create of a node that already uses the list leaks no count.
        let r = t.create_node("/d", None, &digest_acl, 0, -1, 6, 1, &mut tr);
        assert_eq!(r, Err(ErrorCode::NodeExists));
        t.delete_node("/d", 7, &mut tr).unwrap();
        assert!(
            !t.acls.contains(&digest_acl),
            "the entry goes with its last user"
        );
    }

    #[test]
    fn children_are_listed_by_name_past_grandchildren() {
        let mut t = DataTree::new();
        for (i, p) in [
            "/a", "/a-b", "/a/b", "/a/b/c", "/a/b/c/d", "/a/b-x", "/a/b0", "/a/a", "/ab", "/a/b/e",
        ]
        .into_iter()
        .enumerate()
        {
            create(&mut t, p, i as i64 + 1);
        }
        assert_eq!(t.children_of("/a"), vec!["a", "b", "b-x", "b0"]);
        assert_eq!(t.children_of("/a/b"), vec!["c", "e"]);
        assert_eq!(t.children_of("/a/b/c/d"), Vec::<String>::new());
        assert_eq!(t.children_of("/nope"), Vec::<String>::new());
        assert_eq!(t.children_of("/"), vec!["a", "a-b", "ab", "zookeeper"]);
        assert_eq!(t.children_of(""), t.children_of("/"));
        assert_eq!(t.children_of("/zookeeper"), vec!["config", "quota"]);
        assert_eq!(t.get("/a").unwrap().client_stat().num_children, 4);
        assert_eq!(t.all_children_number("/a"), 7);
        assert_eq!(t.all_children_number("/a/b"), 3);
        assert_eq!(t.all_children_number("/a-b"), 0);
        assert_eq!(
            t.paths_preorder(),
            vec![
                "/",
                "/a",
                "/a/a",
                "/a/b",
                "/a/b/c",
                "/a/b/c/d",
                "/a/b/e",
                "/a/b-x",
                "/a/b0",
                "/a-b",
                "/ab",
                "/zookeeper",
                "/zookeeper/config",
                "/zookeeper/quota"
            ]
        );
        // The order siblings had as a sorted set of names.
        let mut names = t.children_of("/a");
        names.sort();
        assert_eq!(names, t.children_of("/a"));
        let view = t.view();
        t.delete_node("/a/b0", 20, &mut Vec::new()).unwrap();
        assert_eq!(view.children_of("/a"), vec!["a", "b", "b-x", "b0"]);
        assert_eq!(t.children_of("/a"), vec!["a", "b", "b-x"]);
        assert_eq!(t.digest(), full_digest(&t));
    }

    #[test]
    fn replayed_delete_of_a_node_with_children_drops_them_until_recreated() {
        // A fuzzy snapshot holds /a/b, created after the delete of /a the log replays.
        let mut t = DataTree::new();
        create(&mut t, "/a", 1);
        create(&mut t, "/a/b", 3);
        let mut tr = Vec::new();
        t.create_node("/a/b/e", None, &Acl::read_unsafe(), 0x9, -1, 4, 1, &mut tr)
            .unwrap();
        t.delete_node("/a", 2, &mut tr).unwrap();
        assert!(t.get("/a/b").is_none() && t.get("/a/b/e").is_none());
        assert_eq!(t.ephemeral_count(), 0);
        assert!(!t.acls.contains(&Acl::read_unsafe()) || t.get(CONFIG).is_some());
        assert_eq!(t.digest(), full_digest(&t));
        assert_eq!(t.node_count(), 4);
        // Replaying the creates that follow rebuilds the same tree.
        create(&mut t, "/a", 2);
        create(&mut t, "/a/b", 3);
        assert_eq!(t.get("/a").unwrap().client_stat().num_children, 1);
        assert_eq!(t.digest(), full_digest(&t));
    }

    #[test]
    fn fresh_tree_has_zookeeper_nodes() {
        let t = DataTree::new();
        assert_eq!(
            t.paths_preorder(),
            vec!["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
        );
        let config = t.get(CONFIG).unwrap();
        assert_eq!(config.client_stat().aversion, -1);
        assert_eq!(t.acl_of(config), Acl::read_unsafe());
        assert_eq!(t.all_children_number("/"), 3);
        assert_eq!(t.all_children_number("/zookeeper"), 2);
        assert_eq!(t.get("/").unwrap().client_stat().num_children, 1);
    }

    #[test]
    fn cversion_counts_creates_and_deletes_for_clients() {
        let mut t = DataTree::new();
        create(&mut t, "/a", 1);
        create(&mut t, "/a/b", 2);
        create(&mut t, "/a/c", 3);
        let s = t.get("/a").unwrap().client_stat();
        assert_eq!((s.cversion, s.num_children, s.pzxid), (2, 2, 3));
        t.delete_node("/a/b", 4, &mut Vec::new()).unwrap();
        let n = t.get("/a").unwrap();
        assert_eq!(n.stat.cversion, 2, "stored cversion counts creates only");
        let s = n.client_stat();
        assert_eq!((s.cversion, s.num_children, s.pzxid), (3, 1, 4));
    }

    #[test]
    fn ephemerals_and_special_owners() {
        let mut t = DataTree::new();
        let mut tr = Vec::new();
        t.create_node("/e", None, &Acl::open_unsafe(), 0x42, -1, 1, 1, &mut tr)
            .unwrap();
        t.create_node(
            "/c",
            None,
            &Acl::open_unsafe(),
            ephemeral_owner::CONTAINER,
            -1,
            2,
            1,
            &mut tr,
        )
        .unwrap();
        let ttl = t
            .create_node(
                "/t",
                None,
                &Acl::open_unsafe(),
                ephemeral_owner::ttl(500),
                -1,
                3,
                1,
                &mut tr,
            )
            .unwrap();
        assert_eq!(ttl.ephemeral_owner, 0);
        assert_eq!(t.get("/e").unwrap().client_stat().ephemeral_owner, 0x42);
        assert_eq!(
            t.ephemerals_of(0x42).cloned().collect::<Vec<_>>(),
            vec!["/e"]
        );
        assert_eq!(t.containers().cloned().collect::<Vec<_>>(), vec!["/c"]);
        assert_eq!(t.ttls().cloned().collect::<Vec<_>>(), vec!["/t"]);
        t.delete_node("/e", 4, &mut tr).unwrap();
        assert_eq!(t.ephemeral_count(), 0);
    }
}

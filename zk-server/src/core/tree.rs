//! The data tree: znodes by path, with the bookkeeping ZooKeeper's `DataTree` keeps
//! (ephemerals by session, containers, TTL nodes, the ACL cache), and `apply` for committed txns.
//!
//! Stat rules worth knowing: the stored `cversion` counts child *creations* (sequence numbers
//! come from it), while clients are shown `2 * cversion - numChildren`, i.e. creations plus
//! deletions, exactly as `DataNode.copyStat` computes it. Containers and TTL nodes show an
//! `ephemeralOwner` of 0.
//!
//! Nodes live in persistent (structurally shared) maps, so [`DataTree::view`] is an O(1),
//! consistent image that a snapshot can serialize on another thread while writes go on.
//!
//! The tree digest is ZooKeeper's (3.6+): a wrapping 64-bit sum over nodes of CRC32(path, data,
//! 60 stat bytes), with the root hashed as "" and everything under `/zookeeper/` left out.

use std::collections::{BTreeSet, HashMap};

use imbl::OrdSet;

use zk_proto::consts::ephemeral_owner;
use zk_proto::data::{Acl, Stat, StatPersisted};
use zk_proto::path;
use zk_proto::ErrorCode;

use super::acl::{AclCache, OPEN_ACL_REF};

pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

#[derive(Debug, Clone)]
pub struct Node {
    pub data: Option<Vec<u8>>,
    pub acl_ref: i64,
    pub stat: StatPersisted,
    pub children: OrdSet<String>,
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

impl Node {
    fn new(data: Option<Vec<u8>>, acl_ref: i64, stat: StatPersisted) -> Self {
        Node {
            data,
            acl_ref,
            stat,
            children: OrdSet::new(),
        }
    }

    /// The stat a client sees.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = self.children.len() as i32;
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

#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: imbl::HashMap<String, Node>,
    /// ZooKeeper's tree digest (AdHash of node digests).
    digest: u64,
    pub acls: AclCache,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Sum over nodes of path length + data length (ZooKeeper's `approximateDataSize`).
    data_size: u64,
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
            nodes: imbl::HashMap::new(),
            digest: 0,
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
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
            if let Some(parent) = self.nodes.get_mut(path::parent(p)) {
                parent.children.insert(path::name(p).to_owned());
            }
        }
        self.data_size += (p.len() + node.data.as_ref().map_or(0, Vec::len)) as u64;
        self.digest = self.digest.wrapping_add(node_digest(p, &node));
        self.nodes.insert(p.to_owned(), node);
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

    /// Builds a tree from a snapshot: ACL refs and nodes in pre-order (the root may be named ""
    /// or "/"; every other node's parent must come before it).
    pub fn restore(
        acls: impl IntoIterator<Item = (i64, Vec<Acl>)>,
        nodes: impl IntoIterator<Item = RestoredNode>,
    ) -> Result<DataTree, String> {
        let mut t = DataTree {
            nodes: imbl::HashMap::new(),
            digest: 0,
            acls: AclCache::restore(acls),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
        };
        for n in nodes {
            let p = if n.path.is_empty() {
                "/".to_owned()
            } else {
                n.path
            };
            if p != "/" {
                let parent = t
                    .nodes
                    .get_mut(path::parent(&p))
                    .ok_or_else(|| format!("node {p} comes before its parent"))?;
                // Every node is listed in its parent: a name already there is a duplicate.
                if parent.children.insert(path::name(&p).to_owned()).is_some() {
                    return Err(format!("node {p} appears twice"));
                }
            } else if !t.nodes.is_empty() {
                return Err("the root is not the first node".to_owned());
            }
            if !t.acls.add_usage(n.acl_ref) {
                // A fuzzy snapshot (Apache writes them) can hold a node created after its ACL
                // section was written; replaying the node's create recreates the entry at the
                // same ref. Until then the unknown ref grants nothing.
                tracing::warn!(path = %p, acl_ref = n.acl_ref, "snapshot node uses an ACL ref it does not list");
            }
            t.index_owner(&p, n.stat.ephemeral_owner);
            t.data_size += (p.len() + n.data.as_ref().map_or(0, Vec::len)) as u64;
            let node = Node::new(n.data, n.acl_ref, n.stat);
            t.digest = t.digest.wrapping_add(node_digest(&p, &node));
            t.nodes.insert(p, node);
        }
        if !t.nodes.contains_key("/") {
            return Err("the snapshot has no root".to_owned());
        }
        t.acls.purge_unused();
        Ok(t)
    }

    /// The node at `path`. ZooKeeper's map also holds the root under "", so "" names it too.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(if path.is_empty() { "/" } else { path })
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
        let prefix = format!("{p}/");
        self.nodes.keys().filter(|k| k.starts_with(&prefix)).count()
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
        let parent_path = path::parent(p);
        let child = path::name(p);
        let Some(parent) = self.nodes.get(parent_path) else {
            return Err(ErrorCode::NoNode);
        };
        // The ACL is interned before the existence check, as ZooKeeper does: replaying the
        // create of a node a fuzzy snapshot already holds then recreates an ACL entry the
        // snapshot missed, at the same ref. (Prep rules out NodeExists outside replay.)
        let fresh = !self.acls.contains(acl);
        let acl_ref = self.acls.intern(acl);
        if parent.children.contains(child) {
            // Keep the count only when this intern recreated the entry that the existing node
            // dangles on: that count is the node's. Otherwise it was counted already.
            let repaired = fresh && self.nodes.get(p).is_some_and(|n| n.acl_ref == acl_ref);
            if !repaired {
                self.acls.release(acl_ref);
            }
            return Err(ErrorCode::NodeExists);
        }
        let parent = self.nodes.get_mut(parent_path).expect("checked above");
        let old_parent_digest = node_digest(parent_path, parent);
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
        parent.children.insert(child.to_owned());
        let new_parent_digest = node_digest(parent_path, parent);
        let stat = new_node_stat(zxid, time, owner);
        self.data_size += (p.len() + data.as_ref().map_or(0, Vec::len)) as u64;
        let node = Node::new(data, acl_ref, stat);
        let client_stat = node.client_stat();
        self.digest = self
            .digest
            .wrapping_sub(old_parent_digest)
            .wrapping_add(new_parent_digest)
            .wrapping_add(node_digest(p, &node));
        self.nodes.insert(p.to_owned(), node);
        self.index_owner(p, owner);
        triggers.push(Trigger::Created(p.to_owned()));
        Ok(client_stat)
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
        let Some(node) = self.nodes.remove(p) else {
            return Err(ErrorCode::NoNode);
        };
        let acl = self.acls.get(node.acl_ref);
        self.acls.release(node.acl_ref);
        self.data_size = self
            .data_size
            .saturating_sub((p.len() + node.data.as_ref().map_or(0, Vec::len)) as u64);
        self.digest = self.digest.wrapping_sub(node_digest(p, &node));
        let parent_path = path::parent(p);
        if let Some(parent) = self.nodes.get_mut(parent_path) {
            let old = node_digest(parent_path, parent);
            parent.children.remove(path::name(p));
            // A lower zxid means a replay of an older txn: keep the newer pzxid.
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
            self.digest = self
                .digest
                .wrapping_sub(old)
                .wrapping_add(node_digest(parent_path, parent));
        }
        match owner_kind(node.stat.ephemeral_owner) {
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
        let Some(node) = self.nodes.get_mut(p) else {
            return Err(ErrorCode::NoNode);
        };
        let old = node.data.as_ref().map_or(0, Vec::len) as u64;
        let new = data.as_ref().map_or(0, Vec::len) as u64;
        let old_digest = node_digest(p, node);
        node.data = data;
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
        triggers.push(Trigger::DataChanged(p.to_owned()));
        Ok(stat)
    }

    pub fn set_acl(&mut self, p: &str, acl: &[Acl], aversion: i32) -> Result<Stat, ErrorCode> {
        if !self.nodes.contains_key(p) {
            return Err(ErrorCode::NoNode);
        }
        let new_ref = self.acls.intern(acl);
        let node = self.nodes.get_mut(p).expect("checked above");
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
    nodes: imbl::HashMap<String, Node>,
    pub acls: AclCache,
    digest: u64,
}

impl TreeView {
    pub fn visit_preorder(&self, f: impl FnMut(&str, &Node)) {
        visit(&self.nodes, f)
    }

    pub fn digest(&self) -> i64 {
        self.digest as i64
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

fn visit(nodes: &imbl::HashMap<String, Node>, mut f: impl FnMut(&str, &Node)) {
    let mut stack = vec!["/".to_owned()];
    while let Some(p) = stack.pop() {
        let Some(n) = nodes.get(&p) else { continue };
        for c in n.children.iter().rev() {
            stack.push(if p == "/" {
                format!("/{c}")
            } else {
                format!("{p}/{c}")
            });
        }
        f(&p, n);
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

/// Completes a digest from its prefix and the 60 stat bytes ZooKeeper hashes.
pub fn finish_digest(mut h: crc32fast::Hasher, s: &StatPersisted) -> u64 {
    let mut stat = [0u8; 60];
    stat[0..8].copy_from_slice(&s.czxid.to_be_bytes());
    stat[8..16].copy_from_slice(&s.mzxid.to_be_bytes());
    stat[16..24].copy_from_slice(&s.pzxid.to_be_bytes());
    stat[24..32].copy_from_slice(&s.ctime.to_be_bytes());
    stat[32..40].copy_from_slice(&s.mtime.to_be_bytes());
    stat[40..44].copy_from_slice(&s.version.to_be_bytes());
    stat[44..48].copy_from_slice(&s.cversion.to_be_bytes());
    stat[48..52].copy_from_slice(&s.aversion.to_be_bytes());
    stat[52..60].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
    h.update(&stat);
    u64::from(h.finalize())
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

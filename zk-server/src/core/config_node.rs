//! `/zookeeper/config`: an ensemble member fills it with the ensemble's configuration (its
//! quorum verifier's text, see `config::verifier`), as ZooKeeper's
//! `ZKDatabase.initConfigInZKDatabase` does.
//!
//! No txn carries it: every server writes it into its own tree — at start, and a learner again
//! each time it syncs with a leader (after a SNAP image, which brings the leader's copy, too).
//! ZooKeeper's `DataTree.setData(path, data, -1, qv.getVersion(), now)` leaves the node with
//! `version` -1, `mzxid` the configuration's version (0 for a static zoo.cfg with
//! `reconfigEnabled=false`), `mtime` the local wall clock; czxid, ctime, ACL (world:anyone
//! READ) and aversion (-1) stay as `DataTree::new` made them. Nodes under `/zookeeper/` count
//! nothing in the tree digest. Watchers of the node hear `NodeDataChanged`, as ZooKeeper's
//! `setData` fires it (in practice none are set: a server changes role, and closes its client
//! connections, before it syncs), and it counts as a write in namespace `zookeeper`. Standalone
//! servers never call this; their node stays empty.

use super::tree::CONFIG;
use super::{Core, Effect, Now};

/// What a replicated server writes into `/zookeeper/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigNode {
    /// The quorum verifier's text (`server.N=...` lines, then `version=<hex>`).
    pub data: Vec<u8>,
    /// The configuration's version, which becomes the node's `mzxid`.
    pub version: i64,
}

impl Core {
    /// Writes the ensemble's configuration into `/zookeeper/config` with `now`'s wall time.
    /// Call it only while nothing is in flight (at start, or with a role change), so that no
    /// prepped change to the node is pending.
    pub fn set_config_node(&mut self, node: &ConfigNode, now: Now) -> Vec<Effect> {
        let mut triggers = Vec::new();
        let mut fx = Vec::new();
        if self
            .tree
            .set_data(
                CONFIG,
                Some(node.data.clone()),
                -1,
                node.version,
                now.wall_ms,
                &mut triggers,
            )
            .is_ok()
        {
            // DataTree.setData counts it as a write in namespace `zookeeper` (mntr's
            // `*_zookeeper_write_per_namespace`).
            self.stats.count_write(CONFIG, Some(&node.data));
            self.fire(triggers, node.version, &mut fx);
        }
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CoreConfig;
    use zk_proto::data::Acl;

    #[test]
    fn the_node_takes_the_text_with_apaches_stat_and_keeps_its_acl() {
        let now = Now {
            wall_ms: 1_795_362_631_137,
            mono_ms: 5,
        };
        let mut core = Core::new(CoreConfig::default(), now);
        let digest = core.tree.digest();
        let size = core.tree.approximate_data_size();
        let text = b"server.1=127.0.0.1:1:2:participant\nversion=0".to_vec();
        let node = ConfigNode {
            data: text.clone(),
            version: 0,
        };
        assert!(core.set_config_node(&node, now).is_empty());
        let n = core.tree.get(CONFIG).unwrap();
        assert_eq!(n.data.as_deref(), Some(&text[..]));
        let s = &n.stat;
        assert_eq!(
            (s.czxid, s.mzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion),
            (0, 0, 0, 1_795_362_631_137, -1, 0, -1)
        );
        assert_eq!(core.tree.acl_of(n), Acl::read_unsafe());
        // Under /zookeeper/: no part of the digest; its bytes count in the data size.
        assert_eq!(core.tree.digest(), digest);
        assert_eq!(core.tree.approximate_data_size(), size + text.len() as u64);
        // A write in namespace `zookeeper` of path + data bytes, as DataTree.setData counts it.
        let w = &core.stats.write_per_namespace["zookeeper"];
        assert_eq!((w.count, w.sum), (1, (CONFIG.len() + text.len()) as i64));
        // Again with a dynamic file's version: mzxid follows it.
        let node = ConfigNode {
            data: b"version=100000000".to_vec(),
            version: 0x1_0000_0000,
        };
        core.set_config_node(&node, now);
        assert_eq!(core.tree.get(CONFIG).unwrap().stat.mzxid, 0x1_0000_0000);
        assert_eq!(core.tree.get(CONFIG).unwrap().stat.version, -1);
    }
}

//! The ensemble's configuration as ZooKeeper writes it into `/zookeeper/config`: the text of its
//! quorum verifier (`QuorumMaj.toString`, `QuorumHierarchical.toString`).
//!
//! One `server.N=host:quorumPort:electionPort:participant|observer` line per member, with
//! `;clientHost:clientPort` only when the member's own line gave a client address (a client port
//! that comes from `clientPort` in zoo.cfg is not shown); for hierarchical quorums then the
//! `group.G=sid:sid` and `weight.N=w` lines (every participant has a weight, 1 unless set); and
//! last `version=<hex>` without a newline. The version is that of the dynamic config file
//! (its name's suffix), else 0: with `reconfigEnabled=false` ZooKeeper 3.8 keeps it so for good.
//!
//! ZooKeeper keeps members, groups and weights in `java.util.HashMap`s and prints them in that
//! map's iteration order, which [`java_hash_map_order`] reproduces (for ids below the table size
//! that is ascending order).

use std::collections::BTreeMap;

use super::{PeerRole, ServerConfig};

impl ServerConfig {
    /// The configuration's version: from the dynamic config file's name, else 0.
    pub fn quorum_config_version(&self) -> u64 {
        self.dynamic_config_version.unwrap_or(0)
    }

    /// `/zookeeper/config`'s text for this ensemble; `None` for a standalone server, whose
    /// node stays empty as in ZooKeeper.
    pub fn quorum_config_text(&self) -> Option<String> {
        if self.is_standalone() {
            return None;
        }
        let mut out = String::new();
        let ids: Vec<u64> = self.servers.keys().copied().collect();
        for id in java_hash_map_order(&ids) {
            out.push_str(&format!("server.{id}={}\n", self.servers[&id]));
        }
        if self.is_hierarchical() {
            // Group members joined in the order of ZooKeeper's sid -> gid map.
            let group_of: BTreeMap<u64, u64> = self
                .groups
                .iter()
                .flat_map(|(g, sids)| sids.iter().map(move |s| (*s, *g)))
                .collect();
            let sids: Vec<u64> = group_of.keys().copied().collect();
            let mut members: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            for sid in java_hash_map_order(&sids) {
                members
                    .entry(group_of[&sid])
                    .or_default()
                    .push(sid.to_string());
            }
            let gids: Vec<u64> = members.keys().copied().collect();
            for gid in java_hash_map_order(&gids) {
                out.push_str(&format!("group.{gid}={}\n", members[&gid].join(":")));
            }
            let mut weights = self.weights.clone();
            for (id, s) in &self.servers {
                if s.role == PeerRole::Participant {
                    weights.entry(*id).or_insert(1);
                }
            }
            let wids: Vec<u64> = weights.keys().copied().collect();
            for id in java_hash_map_order(&wids) {
                out.push_str(&format!("weight.{id}={}\n", weights[&id]));
            }
        }
        out.push_str(&format!("version={:x}", self.quorum_config_version()));
        Some(out)
    }
}

/// The order in which a `java.util.HashMap<Long, _>` filled with these keys (default capacity
/// 16, load factor 0.75) iterates them: by bucket of `Long.hashCode` spread as `HashMap.hash`
/// does. Keys sharing a bucket keep insertion order in Java, unknown here; they come ascending.
pub(crate) fn java_hash_map_order(keys: &[u64]) -> Vec<u64> {
    let mut capacity: usize = 16;
    while keys.len() > capacity / 4 * 3 {
        capacity *= 2;
    }
    let bucket = |k: u64| {
        let h = (k ^ (k >> 32)) as u32;
        (h ^ (h >> 16)) as usize & (capacity - 1)
    };
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    sorted.sort_by_key(|k| bucket(*k));
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn cfg(text: &str) -> ServerConfig {
        let (mut c, _) = parse(text, std::path::Path::new("zoo.cfg")).unwrap();
        c.my_id = Some(1);
        c
    }

    const BASE: &str = "dataDir=/d\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n";

    #[test]
    fn majority_lines_as_apache_writes_them() {
        // The text Apache ZooKeeper 3.8.0 served for this ensemble (ports aside).
        let c = cfg(&format!(
            "{BASE}server.1=127.0.0.1:37485:46041\nserver.2=127.0.0.1:44589:60919\n\
             server.3=127.0.0.1:37395:41309\nserver.4=127.0.0.1:58933:36375:observer\n"
        ));
        assert_eq!(
            c.quorum_config_text().unwrap(),
            "server.1=127.0.0.1:37485:46041:participant\n\
             server.2=127.0.0.1:44589:60919:participant\n\
             server.3=127.0.0.1:37395:41309:participant\n\
             server.4=127.0.0.1:58933:36375:observer\nversion=0"
        );
    }

    #[test]
    fn client_address_only_when_the_server_line_has_one() {
        let c = cfg(&format!(
            "{BASE}server.1=127.0.0.1:1:2;127.0.0.1:2181\nserver.2=h2:3:4;2182\nserver.3=h3:5:6\n"
        ));
        assert_eq!(
            c.quorum_config_text().unwrap(),
            "server.1=127.0.0.1:1:2:participant;127.0.0.1:2181\n\
             server.2=h2:3:4:participant;0.0.0.0:2182\n\
             server.3=h3:5:6:participant\nversion=0"
        );
    }

    #[test]
    fn hierarchical_groups_and_weights() {
        let c = cfg(&format!(
            "{BASE}server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2\n\
             server.5=e:1:2:observer\ngroup.1=1:2\ngroup.2=3:4\nweight.1=3\n"
        ));
        assert_eq!(
            c.quorum_config_text().unwrap(),
            "server.1=a:1:2:participant\nserver.2=b:1:2:participant\n\
             server.3=c:1:2:participant\nserver.4=d:1:2:participant\n\
             server.5=e:1:2:observer\n\
             group.1=1:2\ngroup.2=3:4\n\
             weight.1=3\nweight.2=1\nweight.3=1\nweight.4=1\nversion=0"
        );
    }

    #[test]
    fn standalone_has_no_text_and_the_version_comes_from_the_dynamic_file() {
        assert_eq!(cfg(BASE).quorum_config_text(), None);
        let mut c = cfg(&format!("{BASE}server.1=a:1:2\nserver.2=b:1:2\n"));
        c.dynamic_config_version = Some(0x1_0000_0000);
        assert!(c
            .quorum_config_text()
            .unwrap()
            .ends_with("\nversion=100000000"));
    }

    #[test]
    fn java_hash_map_iteration_order() {
        // Below the table size: ascending. 17 lands in bucket 1 of a 16-slot table, after 16
        // (bucket 0) and before 2.
        assert_eq!(java_hash_map_order(&[3, 1, 2]), [1, 2, 3]);
        assert_eq!(java_hash_map_order(&[2, 17, 16, 1]), [16, 1, 17, 2]);
        // 13 keys grow the table to 32 slots: 17 then sorts after 16 again.
        let keys: Vec<u64> = (1..=12).chain([17]).collect();
        assert_eq!(java_hash_map_order(&keys), keys);
    }
}

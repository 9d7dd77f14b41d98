//! Quorum verifiers: plain majority of voters, or ZooKeeper's hierarchical quorums (a majority
//! of groups, each with a majority of its weight).

use std::collections::{BTreeMap, BTreeSet};

use crate::PeerId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuorumVerifier {
    /// Every voter weighs one; a quorum is more than half of them.
    Majority { voters: BTreeSet<PeerId> },
    /// `group.N=a:b:c` and `weight.a=w` lines. Servers of weight 0 vote in no quorum and can
    /// never be elected.
    Hierarchical {
        groups: Vec<BTreeSet<PeerId>>,
        weights: BTreeMap<PeerId, u64>,
    },
}

impl QuorumVerifier {
    pub fn majority(voters: impl IntoIterator<Item = PeerId>) -> QuorumVerifier {
        QuorumVerifier::Majority {
            voters: voters.into_iter().collect(),
        }
    }

    /// The weight of a server: 0 for anyone who is not a voter.
    pub fn weight(&self, id: PeerId) -> u64 {
        match self {
            QuorumVerifier::Majority { voters } => u64::from(voters.contains(&id)),
            QuorumVerifier::Hierarchical { groups, weights } => {
                if groups.iter().any(|g| g.contains(&id)) {
                    weights.get(&id).copied().unwrap_or(1)
                } else {
                    0
                }
            }
        }
    }

    pub fn is_voter(&self, id: PeerId) -> bool {
        self.weight(id) > 0
    }

    /// Every server with a vote, in id order.
    pub fn voters(&self) -> Vec<PeerId> {
        match self {
            QuorumVerifier::Majority { voters } => voters.iter().copied().collect(),
            QuorumVerifier::Hierarchical { groups, .. } => {
                let all: BTreeSet<PeerId> = groups.iter().flatten().copied().collect();
                all.into_iter().filter(|id| self.weight(*id) > 0).collect()
            }
        }
    }

    /// Whether `ids` contains a quorum. Ids that are not voters are ignored.
    pub fn has_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a PeerId>) -> bool {
        let ids: BTreeSet<PeerId> = ids.into_iter().copied().collect();
        match self {
            QuorumVerifier::Majority { voters } => {
                2 * ids.intersection(voters).count() > voters.len()
            }
            QuorumVerifier::Hierarchical { groups, .. } => {
                let mut live_groups = 0usize;
                let mut satisfied = 0usize;
                for group in groups {
                    let total: u64 = group.iter().map(|id| self.weight(*id)).sum();
                    if total == 0 {
                        continue;
                    }
                    live_groups += 1;
                    let have: u64 = group
                        .iter()
                        .filter(|id| ids.contains(id))
                        .map(|id| self.weight(*id))
                        .sum();
                    if 2 * have > total {
                        satisfied += 1;
                    }
                }
                2 * satisfied > live_groups
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<PeerId> {
        v.iter().map(|&i| PeerId(i)).collect()
    }

    #[test]
    fn majority_needs_more_than_half() {
        let q = QuorumVerifier::majority(ids(&[1, 2, 3, 4, 5]));
        assert!(!q.has_quorum(&ids(&[1, 2])));
        assert!(q.has_quorum(&ids(&[1, 2, 3])));
        // Non-voters (observers) never help.
        assert!(!q.has_quorum(&ids(&[1, 2, 9, 10])));
        let even = QuorumVerifier::majority(ids(&[1, 2, 3, 4]));
        assert!(!even.has_quorum(&ids(&[1, 2])));
        assert!(even.has_quorum(&ids(&[1, 2, 4])));
    }

    #[test]
    fn hierarchical_needs_a_majority_of_groups_each_by_weight() {
        // Three groups of three; server 9 has weight 0.
        let groups = vec![
            ids(&[1, 2, 3]).into_iter().collect(),
            ids(&[4, 5, 6]).into_iter().collect(),
            ids(&[7, 8, 9]).into_iter().collect(),
        ];
        let mut weights = BTreeMap::new();
        weights.insert(PeerId(9), 0);
        weights.insert(PeerId(1), 3);
        let q = QuorumVerifier::Hierarchical { groups, weights };
        assert_eq!(q.weight(PeerId(9)), 0);
        assert!(!q.is_voter(PeerId(9)));
        assert_eq!(q.voters(), ids(&[1, 2, 3, 4, 5, 6, 7, 8]));
        // Server 1 alone carries group 1 (3 of 5); 4 and 5 carry group 2.
        assert!(q.has_quorum(&ids(&[1, 4, 5])));
        // Five servers but only one group satisfied.
        assert!(!q.has_quorum(&ids(&[2, 3, 4, 7, 9])));
        // Group 3 is 7+8 (weight 2 of 2).
        assert!(q.has_quorum(&ids(&[7, 8, 1])));
    }
}

//! Dominant Resource Fairness, as Mesos' hierarchical DRF allocator does it with one level of
//! roles: roles are ordered by their weighted dominant share, frameworks within a role by
//! theirs, and each agent's available resources go, whole, to the first framework in that order
//! that wants them (not suppressed, not filtered for that agent). Shares are recomputed after
//! every grant, so one pass spreads agents across frameworks fairly.
//!
//! Pure: the caller passes every input, including the current time for filters.

use std::collections::BTreeMap;

use crate::resources::Resources;

/// The resources whose shares count toward the dominant share.
const SHARED_KINDS: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

/// A framework as the allocator sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub role: String,
    /// What it holds now: resources of its running tasks plus outstanding offers.
    pub allocated: Resources,
    /// SUPPRESSed: it wants no offers.
    pub suppressed: bool,
    /// Agents it declined, with the time (ms) until which they stay filtered.
    pub filters: BTreeMap<String, u64>,
}

/// An agent as the allocator sees it.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: String,
    /// All it has (for the cluster total).
    pub total: Resources,
    /// What is neither used nor offered.
    pub available: Resources,
    /// Whether it may get offers (active, connected, not draining or down).
    pub offerable: bool,
}

/// One grant: `resources` of `agent` offered to `framework`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub framework: String,
    pub agent: String,
    pub resources: Resources,
}

/// The dominant share of `allocated` in `total`, divided by `weight`.
pub fn dominant_share(allocated: &Resources, total: &Resources, weight: f64) -> f64 {
    let mut share: f64 = 0.0;
    for kind in SHARED_KINDS {
        let t = total.scalar(kind);
        if t > 0.0 {
            share = share.max(allocated.scalar(kind) / t);
        }
    }
    share / weight.max(f64::MIN_POSITIVE)
}

/// Whether an offer of `r` is worth making: it must hold some cpus or mem (Mesos' minimum
/// allocatable resources: 0.01 cpus or 32 MB).
fn allocatable(r: &Resources) -> bool {
    r.scalar("cpus") >= 0.01 || r.scalar("mem") >= 32.0
}

/// Decides one allocation round. `weights` maps role -> weight (default 1).
pub fn allocate(
    frameworks: &[Candidate],
    agents: &[Slot],
    weights: &BTreeMap<String, f64>,
    now_ms: u64,
) -> Vec<Grant> {
    let total = agents
        .iter()
        .fold(Resources::new(), |acc, a| acc.plus(&a.total));
    let mut allocated: BTreeMap<&str, Resources> = frameworks
        .iter()
        .map(|f| (f.id.as_str(), f.allocated.clone()))
        .collect();
    let weight = |role: &str| weights.get(role).copied().unwrap_or(1.0);
    let mut grants = Vec::new();

    for agent in agents {
        if !agent.offerable || !allocatable(&agent.available) {
            continue;
        }
        // Role shares: the sum of its frameworks' allocations.
        let mut role_alloc: BTreeMap<&str, Resources> = BTreeMap::new();
        for f in frameworks {
            let e = role_alloc.entry(f.role.as_str()).or_default();
            *e = e.plus(&allocated[f.id.as_str()]);
        }
        let pick = frameworks
            .iter()
            .filter(|f| !f.suppressed)
            .filter(|f| {
                f.filters
                    .get(&agent.id)
                    .is_none_or(|until| *until <= now_ms)
            })
            .min_by(|a, b| {
                let ra = dominant_share(&role_alloc[a.role.as_str()], &total, weight(&a.role));
                let rb = dominant_share(&role_alloc[b.role.as_str()], &total, weight(&b.role));
                let fa = dominant_share(&allocated[a.id.as_str()], &total, 1.0);
                let fb = dominant_share(&allocated[b.id.as_str()], &total, 1.0);
                ra.total_cmp(&rb)
                    .then(fa.total_cmp(&fb))
                    .then(a.id.cmp(&b.id))
            });
        let Some(f) = pick else { continue };
        let a = allocated
            .get_mut(f.id.as_str())
            .expect("every candidate has an entry");
        *a = a.plus(&agent.available);
        grants.push(Grant {
            framework: f.id.clone(),
            agent: agent.id.clone(),
            resources: agent.available.clone(),
        });
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fw(id: &str, role: &str, alloc: &str) -> Candidate {
        Candidate {
            id: id.into(),
            role: role.into(),
            allocated: Resources::parse(alloc).unwrap(),
            suppressed: false,
            filters: BTreeMap::new(),
        }
    }

    fn agent(id: &str, total: &str, available: &str) -> Slot {
        Slot {
            id: id.into(),
            total: Resources::parse(total).unwrap(),
            available: Resources::parse(available).unwrap(),
            offerable: true,
        }
    }

    #[test]
    fn the_lowest_dominant_share_gets_the_agent() {
        // Cluster: 9 cpus, 18 GB. A holds 1 cpu + 4 GB (share 4/18 = 0.22), B holds 3 cpus +
        // 1 GB (share 3/9 = 0.33): A, with the lower dominant share, is offered first.
        let fws = [
            fw("A", "*", "cpus:1;mem:4096"),
            fw("B", "*", "cpus:3;mem:1024"),
        ];
        let agents = [
            agent("s1", "cpus:4;mem:9216", "cpus:1;mem:2048"),
            agent("s2", "cpus:5;mem:9216", "cpus:1;mem:4096"),
        ];
        let g = allocate(&fws, &agents, &BTreeMap::new(), 0);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].framework.as_str(), g[0].agent.as_str()), ("A", "s1"));
        // A then holds 2 cpus + 6 GB, a share of 6/18 = 1/3, the same as B's 3/9: a tie. Moving
        // B's share a little either way decides who gets s2.
        let fws = [
            fw("A", "*", "cpus:1;mem:4096"),
            fw("B", "*", "cpus:3.1;mem:1024"),
        ];
        let g = allocate(&fws, &agents, &BTreeMap::new(), 0);
        assert_eq!((g[1].framework.as_str(), g[1].agent.as_str()), ("A", "s2"));
        let fws = [
            fw("A", "*", "cpus:1;mem:4096"),
            fw("B", "*", "cpus:2.9;mem:1024"),
        ];
        let g = allocate(&fws, &agents, &BTreeMap::new(), 0);
        assert_eq!((g[1].framework.as_str(), g[1].agent.as_str()), ("B", "s2"));
    }

    #[test]
    fn suppressed_filtered_and_unofferable_are_skipped() {
        let mut a = fw("A", "*", "");
        a.suppressed = true;
        let mut b = fw("B", "*", "");
        b.filters.insert("s1".into(), 5_000);
        let c = fw("C", "*", "cpus:100");
        let mut s2 = agent("s2", "cpus:1;mem:64", "cpus:1;mem:64");
        s2.offerable = false;
        let agents = [agent("s1", "cpus:1;mem:64", "cpus:1;mem:64"), s2];
        let g = allocate(
            &[a.clone(), b.clone(), c.clone()],
            &agents,
            &BTreeMap::new(),
            1_000,
        );
        assert_eq!(
            g,
            vec![Grant {
                framework: "C".into(),
                agent: "s1".into(),
                resources: agents[0].available.clone()
            }]
        );
        // After the filter expires, B (share 0) wins over C.
        let g = allocate(&[a, b, c], &agents, &BTreeMap::new(), 5_000);
        assert_eq!(g[0].framework, "B");
    }

    #[test]
    fn weights_favour_heavier_roles() {
        // Both roles hold the same; "prod" has weight 3, so its weighted share is lower.
        let fws = [fw("dev1", "dev", "cpus:2"), fw("prod1", "prod", "cpus:2")];
        let agents = [agent("s1", "cpus:8;mem:1024", "cpus:4;mem:1024")];
        let w = BTreeMap::from([("prod".to_string(), 3.0)]);
        assert_eq!(allocate(&fws, &agents, &w, 0)[0].framework, "prod1");
        assert_eq!(
            allocate(&fws, &agents, &BTreeMap::new(), 0)[0].framework,
            "dev1"
        );
    }

    #[test]
    fn tiny_leftovers_are_not_offered() {
        let agents = [agent("s1", "cpus:1;mem:64", "cpus:0.001;mem:1")];
        assert!(allocate(&[fw("A", "*", "")], &agents, &BTreeMap::new(), 0).is_empty());
    }

    proptest! {
        /// Every agent with allocatable resources goes to exactly one eligible framework, and
        /// each grant goes to a framework whose (updated) share was minimal among the eligible.
        #[test]
        fn grants_follow_drf(
            allocs in proptest::collection::vec((0u32..8, 0u32..8192), 1..5),
            avail in proptest::collection::vec((1u32..4, 64u32..2048), 1..6),
        ) {
            let fws: Vec<Candidate> = allocs.iter().enumerate()
                .map(|(i, (c, m))| fw(&format!("f{i}"), "*", &format!("cpus:{c};mem:{m}")))
                .collect();
            let agents: Vec<Slot> = avail.iter().enumerate()
                .map(|(i, (c, m))| agent(&format!("s{i}"), &format!("cpus:{};mem:{}", c * 2, m * 2), &format!("cpus:{c};mem:{m}")))
                .collect();
            let total = agents.iter().fold(Resources::new(), |acc, a| acc.plus(&a.total));
            let g = allocate(&fws, &agents, &BTreeMap::new(), 0);
            prop_assert_eq!(g.len(), agents.len());
            let mut held: BTreeMap<String, Resources> = fws.iter().map(|f| (f.id.clone(), f.allocated.clone())).collect();
            for grant in &g {
                let chosen = dominant_share(&held[&grant.framework], &total, 1.0);
                for other in held.values() {
                    prop_assert!(chosen <= dominant_share(other, &total, 1.0) + 1e-12);
                }
                let e = held.get_mut(&grant.framework).unwrap();
                *e = e.plus(&grant.resources);
            }
        }
    }
}

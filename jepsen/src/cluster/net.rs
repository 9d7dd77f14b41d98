//! The ensemble's network: a [`Proxy`] on every server-to-server link (one per ordered pair and
//! port: server `i` reaches server `j`'s quorum and election ports only through the proxies
//! of `(i, j)`), and one in front of every server's client port. Partitions are sets of
//! directed drops `(from, to)`: the bytes `from` sends to `to` stall, on every connection
//! between them whoever dialled it.
//!
//! The shapes ([`halves`], [`isolate`], [`majorities_ring`], [`bridge`], [`one_way`]) are pure
//! functions of the node list and a [`SplitMix64`], so a seeded schedule is reproducible.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Mutex;

use super::proxy::Proxy;
use super::SplitMix64;

/// Directed drops: `(from, to)` means the bytes `from` sends to `to` do not arrive.
pub type Grudge = BTreeSet<(u64, u64)>;

/// Which port of the target a server-to-server proxy fronts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    Quorum,
    Election,
}

/// Every proxy of an ensemble.
pub struct Net {
    nodes: Vec<u64>,
    /// `(dialler, target, port)`.
    peers: BTreeMap<(u64, u64, Port), Proxy>,
    clients: BTreeMap<u64, Proxy>,
    grudge: Mutex<Grudge>,
    blocked_clients: Mutex<BTreeSet<u64>>,
}

impl Net {
    pub(crate) fn new(
        nodes: Vec<u64>,
        peers: BTreeMap<(u64, u64, Port), Proxy>,
        clients: BTreeMap<u64, Proxy>,
    ) -> Net {
        Net {
            nodes,
            peers,
            clients,
            grudge: Mutex::new(Grudge::new()),
            blocked_clients: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn nodes(&self) -> &[u64] {
        &self.nodes
    }

    /// The proxy through which `from` dials `to`'s `port`.
    pub fn peer_proxy(&self, from: u64, to: u64, port: Port) -> Option<&Proxy> {
        self.peers.get(&(from, to, port))
    }

    /// The proxy in front of `node`'s client port.
    pub fn client_proxy(&self, node: u64) -> Option<&Proxy> {
        self.clients.get(&node)
    }

    /// The directed drops in force.
    pub fn grudge(&self) -> Grudge {
        self.grudge.lock().unwrap().clone()
    }

    /// Replaces the directed drops in force by `g` (an empty one heals every server link).
    pub fn set_grudge(&self, g: &Grudge) {
        let mut cur = self.grudge.lock().unwrap();
        *cur = g.clone();
        for (&(from, to, _), p) in &self.peers {
            p.set_blocked(g.contains(&(from, to)), g.contains(&(to, from)));
        }
    }

    /// Adds directed drops to those in force.
    pub fn add_grudge(&self, g: &Grudge) {
        let mut all = self.grudge();
        all.extend(g.iter().copied());
        self.set_grudge(&all);
    }

    /// `a` and `b` no longer hear each other.
    pub fn block(&self, a: u64, b: u64) {
        self.add_grudge(&Grudge::from([(a, b), (b, a)]));
    }

    /// What `from` sends to `to` no longer arrives (the other way still works).
    pub fn block_one_way(&self, from: u64, to: u64) {
        self.add_grudge(&Grudge::from([(from, to)]));
    }

    /// Lifts the drops between `a` and `b`, both ways.
    pub fn unblock(&self, a: u64, b: u64) {
        let mut all = self.grudge();
        all.remove(&(a, b));
        all.remove(&(b, a));
        self.set_grudge(&all);
    }

    /// Every server link carries bytes again.
    pub fn heal(&self) {
        self.set_grudge(&Grudge::new());
    }

    /// Closes every connection open now between `a` and `b` (a reset, not a partition).
    pub fn cut(&self, a: u64, b: u64) {
        for (&(from, to, _), p) in &self.peers {
            if (from, to) == (a, b) || (from, to) == (b, a) {
                p.cut();
            }
        }
    }

    /// Closes the connections open now on every link that `g` drops in either direction.
    pub fn cut_grudge(&self, g: &Grudge) {
        for (&(from, to, _), p) in &self.peers {
            if g.contains(&(from, to)) || g.contains(&(to, from)) {
                p.cut();
            }
        }
    }

    /// Clients can no longer reach `node` (both directions stall).
    pub fn block_client(&self, node: u64) {
        if let Some(p) = self.clients.get(&node) {
            p.set_blocked(true, true);
            self.blocked_clients.lock().unwrap().insert(node);
        }
    }

    pub fn heal_client(&self, node: u64) {
        if let Some(p) = self.clients.get(&node) {
            p.set_blocked(false, false);
            self.blocked_clients.lock().unwrap().remove(&node);
        }
    }

    pub fn heal_clients(&self) {
        for p in self.clients.values() {
            p.set_blocked(false, false);
        }
        self.blocked_clients.lock().unwrap().clear();
    }

    /// Closes every client connection open now to `node`.
    pub fn cut_clients(&self, node: u64) {
        if let Some(p) = self.clients.get(&node) {
            p.cut();
        }
    }

    pub fn blocked_clients(&self) -> BTreeSet<u64> {
        self.blocked_clients.lock().unwrap().clone()
    }

    /// Server links and client links all open.
    pub fn heal_all(&self) {
        self.heal();
        self.heal_clients();
    }
}

/// The drops that separate `components` completely (nodes in none of them keep all links).
pub fn complete(components: &[Vec<u64>]) -> Grudge {
    let mut g = Grudge::new();
    for (i, a) in components.iter().enumerate() {
        for (j, b) in components.iter().enumerate() {
            if i != j {
                for &x in a {
                    for &y in b {
                        g.insert((x, y));
                    }
                }
            }
        }
    }
    g
}

/// The drops as `1->2 1->3 …`.
pub fn describe(g: &Grudge) -> String {
    let mut s = String::new();
    for (i, (a, b)) in g.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{a}->{b}");
    }
    s
}

fn shuffled(nodes: &[u64], rng: &mut SplitMix64) -> Vec<u64> {
    let mut v = nodes.to_vec();
    rng.shuffle(&mut v);
    v
}

fn set(v: &[u64]) -> String {
    let mut v = v.to_vec();
    v.sort_unstable();
    let s: Vec<String> = v.iter().map(u64::to_string).collect();
    format!("{{{}}}", s.join(" "))
}

/// A random split into a minority and a majority.
pub fn halves(nodes: &[u64], rng: &mut SplitMix64) -> (Grudge, String) {
    let v = shuffled(nodes, rng);
    let (a, b) = v.split_at(v.len() / 2);
    (
        complete(&[a.to_vec(), b.to_vec()]),
        format!("halves {} | {}", set(a), set(b)),
    )
}

/// `node` alone on one side.
pub fn isolate(nodes: &[u64], node: u64) -> (Grudge, String) {
    let rest: Vec<u64> = nodes.iter().copied().filter(|&n| n != node).collect();
    (
        complete(&[vec![node], rest.clone()]),
        format!("isolate {node} | {}", set(&rest)),
    )
}

/// Jepsen's majorities ring: the nodes in a random ring, each hears only the majority of nodes
/// nearest to it (itself included), so every node sees a majority and no two the same one.
/// With 3 nodes the drops form a one-way cycle.
pub fn majorities_ring(nodes: &[u64], rng: &mut SplitMix64) -> (Grudge, String) {
    let ring = shuffled(nodes, rng);
    let n = ring.len();
    let m = n / 2 + 1;
    let mut g = Grudge::new();
    for (i, &me) in ring.iter().enumerate() {
        // The window of m nodes around me, starting (m - 1) / 2 before me.
        let start = i + n - (m - 1) / 2;
        let visible: BTreeSet<u64> = (0..m).map(|k| ring[(start + k) % n]).collect();
        for &other in &ring {
            if !visible.contains(&other) {
                g.insert((other, me));
            }
        }
    }
    (g, format!("majorities ring {ring:?}"))
}

/// Two sides joined by one bridge node that hears both; the sides do not hear each other.
pub fn bridge(nodes: &[u64], rng: &mut SplitMix64) -> (Grudge, String) {
    let v = shuffled(nodes, rng);
    let half = v.len() / 2;
    let (a, rest) = v.split_at(half);
    let (bridge, b) = rest.split_at(1);
    (
        complete(&[a.to_vec(), b.to_vec()]),
        format!("bridge {} | {} | {}", set(a), bridge[0], set(b)),
    )
}

/// `node` can still receive but what it sends to the others stalls (`outgoing`), or the
/// reverse.
pub fn one_way(nodes: &[u64], node: u64, outgoing: bool) -> (Grudge, String) {
    let mut g = Grudge::new();
    for &o in nodes {
        if o != node {
            g.insert(if outgoing { (node, o) } else { (o, node) });
        }
    }
    let what = if outgoing {
        "cannot send"
    } else {
        "cannot receive"
    };
    (g, format!("one-way: {node} {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who `me` hears under `g`.
    fn hears(nodes: &[u64], g: &Grudge, me: u64) -> BTreeSet<u64> {
        nodes
            .iter()
            .copied()
            .filter(|&o| !g.contains(&(o, me)))
            .collect()
    }

    #[test]
    fn shapes() {
        let mut rng = SplitMix64::new(7);
        for nodes in [vec![1, 2, 3], vec![1, 2, 3, 4, 5]] {
            let n = nodes.len();
            let (g, _) = halves(&nodes, &mut rng);
            assert_eq!(g.len(), 2 * (n / 2) * (n - n / 2));
            let (g, _) = isolate(&nodes, 2);
            assert_eq!(hears(&nodes, &g, 2), BTreeSet::from([2]));
            let (g, _) = majorities_ring(&nodes, &mut rng);
            let seen: BTreeSet<BTreeSet<u64>> =
                nodes.iter().map(|&x| hears(&nodes, &g, x)).collect();
            assert_eq!(seen.len(), n, "every node sees a different set");
            assert!(seen.iter().all(|s| s.len() == n / 2 + 1));
            let (g, d) = bridge(&nodes, &mut rng);
            let full: Vec<u64> = nodes
                .iter()
                .copied()
                .filter(|&x| hears(&nodes, &g, x).len() == n)
                .collect();
            assert_eq!(full.len(), 1, "{d}");
            let (g, _) = one_way(&nodes, 1, true);
            assert_eq!(hears(&nodes, &g, 1).len(), n);
            assert_eq!(hears(&nodes, &g, 2).len(), n - 1);
        }
    }
}

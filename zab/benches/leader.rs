//! The Zab leader's per-proposal work, and the whole broadcast round it drives: the leader
//! proposes, logs, sends PROPOSAL; each follower logs and ACKs; the leader counts the quorum,
//! sends COMMIT and delivers; the followers deliver. Three peers in one thread, messages handed
//! over by a small pump, durability reported at once: what is timed is the state machines'
//! CPU work per transaction, with no I/O (the runtime's sockets and fsync are measured by the
//! end-to-end benchmarks).
//!
//! `cargo bench -p zab --bench leader`

use std::collections::{BTreeSet, VecDeque};
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use zab::{Action, Config, Millis, Peer, PeerId, Persisted, QuorumVerifier, Role};

struct Ensemble {
    peers: Vec<Peer>,
    now: Millis,
    delivered: u64,
}

impl Ensemble {
    /// Three voters, elected and synced: peer 3 (the highest id, all logs empty) leads.
    fn established() -> Ensemble {
        let ids: Vec<PeerId> = (1..=3).map(PeerId).collect();
        let quorum = QuorumVerifier::majority(ids.iter().copied());
        let peers = ids
            .iter()
            .map(|&id| {
                let mut cfg = Config::new(id, quorum.clone(), BTreeSet::new());
                cfg.tick_ms = 100;
                cfg.finalize_wait_ms = 10;
                cfg.max_notification_interval_ms = 200;
                Peer::new(cfg, Persisted::default(), 0)
            })
            .collect();
        let mut e = Ensemble {
            peers,
            now: 0,
            delivered: 0,
        };
        for _ in 0..1000 {
            e.now += 5;
            for p in &mut e.peers {
                p.tick(e.now);
            }
            e.pump();
            let established = e.peers.iter().all(|p| p.role().serving());
            if established && matches!(e.peers[2].role(), Role::Leading { .. }) {
                return e;
            }
        }
        panic!("no established leader after 5 simulated seconds");
    }

    /// Carries out every action until no peer has any: sends are delivered, log appends are
    /// durable at once.
    fn pump(&mut self) {
        let mut queue = VecDeque::new();
        loop {
            for (i, p) in self.peers.iter_mut().enumerate() {
                for a in p.take_actions() {
                    queue.push_back((PeerId(i as u64 + 1), a));
                }
            }
            if queue.is_empty() {
                return;
            }
            while let Some((from, a)) = queue.pop_front() {
                let now = self.now;
                match a {
                    Action::Send { to, msg } => {
                        self.peers[to.0 as usize - 1].step(now, from, msg);
                    }
                    Action::AppendLog(e) => {
                        self.peers[from.0 as usize - 1].log_durable(now, e.zxid);
                    }
                    Action::Deliver(e) => {
                        black_box(&e);
                        self.delivered += 1;
                    }
                    _ => {}
                }
            }
        }
    }

    fn leader(&mut self) -> &mut Peer {
        &mut self.peers[2]
    }
}

fn bench(c: &mut Criterion) {
    let payload = Bytes::from(vec![7u8; 150]);
    let mut g = c.benchmark_group("zab");

    // The leader alone: propose (log + PROPOSAL to two followers), then the two ACKs that
    // make the quorum (COMMIT to both, deliver). Followers' ACKs are made up, as the leader
    // would receive them.
    g.throughput(Throughput::Elements(1));
    g.bench_function("leader_propose_ack_commit", |b| {
        let mut e = Ensemble::established();
        let epoch = e.leader().current_epoch();
        b.iter(|| {
            let now = e.now;
            let leader = e.leader();
            let zxid = leader.propose(now, payload.clone()).expect("leads");
            let actions = leader.take_actions();
            leader.log_durable(now, zxid);
            for f in [PeerId(1), PeerId(2)] {
                leader.step(now, f, zab::Message::Ack { zxid });
            }
            let more = leader.take_actions();
            black_box((actions, more, epoch));
        });
    });

    // The whole round on three peers, one transaction at a time and 64 at a time (pipelined,
    // as under load: later proposals go out before earlier ACKs return).
    for batch in [1usize, 64] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("round_3_peers_batch_{batch}"), |b| {
            b.iter_batched_ref(
                Ensemble::established,
                |e| {
                    for _ in 0..batch {
                        let now = e.now;
                        e.leader().propose(now, payload.clone()).expect("leads");
                    }
                    e.pump();
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();

    // Sanity: the round really commits everywhere.
    let mut e = Ensemble::established();
    let before = e.delivered;
    for _ in 0..10 {
        let now = e.now;
        e.leader().propose(now, payload.clone()).expect("leads");
    }
    e.pump();
    assert_eq!(e.delivered - before, 30, "10 txns delivered on 3 peers");
}

criterion_group!(benches, bench);
criterion_main!(benches);

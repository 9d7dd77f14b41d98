//! Scenario tests: one situation each, written like the bug report they guard against.
//!
//! They run on the simulator's [`World`] without random faults (`Faults::none()`, delays of a
//! few milliseconds), with every action recorded, so that they can assert what was sent,
//! persisted and delivered, and in which order. Timings: tickTime 100 ms, initLimit 10,
//! syncLimit 5, finalizeWait 50 ms, notification back-off capped at 800 ms, DIFF history of 50.
//! The invariant checks of the simulator run throughout.

mod sim;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use sim::{Faults, World};
use zab::{Action, Entry, Epoch, Message, PeerId, ProposeError, QuorumVerifier, Role, Zxid};

fn p(i: u64) -> PeerId {
    PeerId(i)
}

fn z(epoch: u32, counter: u32) -> Zxid {
    Zxid::new(Epoch(epoch), counter)
}

/// A quiet ensemble recording every action; `down` peers are not started.
fn world(voters: &[u64], observers: &[u64], down: &[u64]) -> World {
    World::build(
        1,
        voters,
        observers,
        Faults::none(),
        |_| {},
        |w| {
            w.record = true;
            w.keep_down = down.iter().map(|&i| p(i)).collect();
        },
    )
}

/// Transactions `epoch:from..=to` with recognisable payloads.
fn txns(epoch: u32, from: u32, to: u32) -> Vec<Entry> {
    (from..=to)
        .map(|c| Entry {
            zxid: z(epoch, c),
            data: Bytes::from(format!("pre-{epoch}-{c}")),
        })
        .collect()
}

fn roles(w: &World) -> Vec<(PeerId, bool, Role)> {
    w.ids()
        .into_iter()
        .map(|id| (id, w.alive(id), w.nodes[&id].role))
        .collect()
}

/// Runs until every live peer serves under one established leader, and returns the leader.
fn settle(w: &mut World) -> PeerId {
    let ok = w.run_while(20_000, |w| {
        w.leader().is_some()
            && w.ids()
                .into_iter()
                .filter(|id| w.alive(*id))
                .all(|id| w.serving().contains(&id))
    });
    assert!(ok, "no stable ensemble: {:?}", roles(w));
    w.leader().unwrap()
}

/// Proposes `n` transactions through the leader and waits until every serving peer applied
/// them; returns the last zxid.
fn commit(w: &mut World, n: usize) -> Zxid {
    let mut last = None;
    for _ in 0..n {
        last = Some(w.propose().expect("an established leader takes proposals"));
    }
    let last = last.unwrap();
    let ok = w.run_while(5_000, |w| {
        w.serving()
            .iter()
            .all(|id| w.state_zxids(*id).last() == Some(&last))
    });
    assert!(ok, "{last:?} not applied everywhere: {:?}", roles(w));
    last
}

/// Messages `from` sent `to` at or after `since`.
fn sent_since(w: &World, from: PeerId, to: PeerId, since: u64) -> Vec<Message> {
    w.sent(from, to)
        .into_iter()
        .filter(|(t, _)| *t >= since)
        .map(|(_, m)| m)
        .collect()
}

fn position(actions: &[Action], what: impl Fn(&Action) -> bool) -> Option<usize> {
    actions.iter().position(what)
}

fn role_changes(w: &World, id: PeerId, since: u64) -> Vec<Role> {
    w.log
        .iter()
        .filter(|(t, who, _)| *who == id && *t >= since)
        .filter_map(|(_, _, a)| match a {
            Action::RoleChanged(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn applied_everything(w: &World, id: PeerId) {
    assert_eq!(
        w.nodes[&id].state, w.committed,
        "peer {id} does not hold exactly the committed sequence"
    );
}

// ------------------------------------------------------------------------------------------
// Fast leader election
// ------------------------------------------------------------------------------------------

/// Three empty servers start together: votes tie on (peerEpoch, zxid), so the highest sid must
/// win, and the observer, though its sid is the highest of all, must never be a candidate.
#[test]
fn election_with_equal_zxids_picks_the_highest_sid_and_never_an_observer() {
    let mut w = world(&[1, 2, 3], &[9], &[]);
    let leader = settle(&mut w);
    assert_eq!(leader, p(3));
    assert_eq!(w.leader_epoch(), Some(Epoch(1)));
    assert_eq!(
        w.nodes[&p(9)].role,
        Role::Observing {
            leader: p(3),
            serving: true
        }
    );
    for id in [1, 2] {
        assert_eq!(
            w.nodes[&p(id)].role,
            Role::Following {
                leader: p(3),
                serving: true
            }
        );
    }

    // Same with histories: all three logged 1:1..1:5 in epoch 1.
    let mut w = World::build(
        1,
        &[1, 2, 3],
        &[],
        Faults::none(),
        |_| {},
        |w| {
            for id in [1, 2, 3] {
                w.preload(p(id), Epoch(1), Epoch(1), txns(1, 1, 5));
            }
        },
    );
    assert_eq!(settle(&mut w), p(3));
    assert_eq!(w.leader_epoch(), Some(Epoch(2)));
}

/// Servers restart with logs of different lengths in the same epoch: the one with the highest
/// zxid must lead (even with the lowest sid), and the others catch up to its whole log.
#[test]
fn election_with_unequal_zxids_picks_the_most_up_to_date() {
    let mut w = World::build(
        1,
        &[1, 2, 3],
        &[],
        Faults::none(),
        |_| {},
        |w| {
            w.record = true;
            w.preload(p(1), Epoch(1), Epoch(1), txns(1, 1, 7));
            w.preload(p(2), Epoch(1), Epoch(1), txns(1, 1, 5));
            w.preload(p(3), Epoch(1), Epoch(1), txns(1, 1, 3));
        },
    );
    assert_eq!(settle(&mut w), p(1));
    assert_eq!(w.leader_epoch(), Some(Epoch(2)));
    // 1:6 and 1:7 were only on server 1; the new epoch commits them.
    for id in [2, 3] {
        assert!(sent_since(&w, p(1), p(id), 0)
            .iter()
            .any(|m| matches!(m, Message::Diff { .. })));
        assert_eq!(w.state_zxids(p(id)).last(), Some(&z(1, 7)));
    }
    let last = commit(&mut w, 1);
    assert_eq!(last, z(2, 1));
}

/// Server 3 was leader of epoch 2 and logged 2:1, 2:2 that nobody acknowledged; meanwhile 1 and
/// 2 moved on to epoch 3 (currentEpoch 3) without a transaction in it. Server 3's zxid 2:2 is
/// the highest and its sid too, but the higher currentEpoch must win: the vote orders by
/// peerEpoch first. Server 3 then loses its uncommitted suffix to TRUNC.
#[test]
fn election_prefers_a_higher_current_epoch_over_a_higher_zxid() {
    let mut w = World::build(
        1,
        &[1, 2, 3],
        &[],
        Faults::none(),
        |_| {},
        |w| {
            w.record = true;
            w.preload(p(1), Epoch(3), Epoch(3), txns(1, 1, 5));
            w.preload(p(2), Epoch(3), Epoch(3), txns(1, 1, 5));
            let mut stale = txns(1, 1, 5);
            stale.extend(txns(2, 1, 2));
            w.preload(p(3), Epoch(2), Epoch(2), stale);
        },
    );
    assert_eq!(settle(&mut w), p(2));
    assert_eq!(w.leader_epoch(), Some(Epoch(4)));
    assert!(sent_since(&w, p(2), p(3), 0).contains(&Message::Trunc { zxid: z(1, 5) }));
    assert_eq!(w.disk_last(p(3)), z(1, 5));
    commit(&mut w, 2);
    assert_eq!(
        w.state_zxids(p(3)),
        [txns(1, 1, 5), txns(4, 1, 2)]
            .concat()
            .iter()
            .map(|e| e.zxid)
            .collect::<Vec<_>>()
    );
    applied_everything(&w, p(3));
}

/// With nobody answering, a LOOKING server re-sends its notifications after finalizeWait, then
/// doubling the wait each round up to maxNotificationInterval, not flooding the network.
#[test]
fn notifications_back_off_exponentially_up_to_the_cap_when_nobody_answers() {
    let mut w = world(&[1, 2, 3], &[], &[2, 3]);
    w.run_until(6_000);
    let times: Vec<u64> = w
        .sent(p(1), p(2))
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Notification(_)))
        .map(|(t, _)| t)
        .collect();
    let gaps: Vec<u64> = times.windows(2).map(|t| t[1] - t[0]).collect();
    assert_eq!(times[0], 0);
    assert_eq!(&gaps[..7], &[50, 100, 200, 400, 800, 800, 800], "{times:?}");
    assert!(gaps.iter().all(|g| *g <= 800));
    assert_eq!(w.nodes[&p(1)].role, Role::Looking);
}

/// Two of three servers start (a bare quorum). The follower finalizes its vote one network hop
/// before the leader does (it learns of the agreement first) and sends FOLLOWERINFO while the
/// leader is still LOOKING. It must not be turned away: a refused follower starts a new round,
/// cannot rejoin a leader that only it could make a quorum for, and the leader then idles until
/// initLimit expires (20 s with ZooKeeper's defaults), again and again. Apache's follower
/// retries its connection until the leader listens; here the early FOLLOWERINFO is kept until
/// the election ends.
/// Server 3 starts an election while server 1 is still following (its first notification is
/// answered with FOLLOWING and is not counted), then 1 starts looking and sends its own, worse
/// vote. Server 3 must answer that vote at once with its better one, not wait for its next resend
/// (which every notification it receives pushes back): on a real ensemble that wait added 200 to
/// 400 ms to a leader's kill -9.
#[test]
fn a_worse_vote_in_the_same_round_is_answered_at_once() {
    let cfg = zab::Config::new(
        p(3),
        QuorumVerifier::majority([p(1), p(2), p(3)]),
        BTreeSet::new(),
    );
    let mut peer = zab::Peer::new(cfg, zab::Persisted::default(), 0);
    let first = peer.take_actions();
    let round = first
        .iter()
        .find_map(|a| match a {
            Action::Send {
                msg: Message::Notification(n),
                ..
            } => Some(n.election_epoch),
            _ => None,
        })
        .expect("a looking peer announces its vote");
    let worse = zab::Notification {
        state: zab::ServerState::Looking,
        vote: zab::Vote {
            leader: Some(p(1)),
            zxid: Zxid(0),
            peer_epoch: Epoch(0),
        },
        election_epoch: round,
    };
    peer.step(10, p(1), Message::Notification(worse));
    let answers: Vec<zab::Notification> = peer
        .take_actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                msg: Message::Notification(n),
            } if to == p(1) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].vote.leader, Some(p(3)));
    assert_eq!(answers[0].election_epoch, round);
    // An equal vote (1 has taken 3's) is not answered: no ping-pong.
    let agreed = zab::Notification {
        state: zab::ServerState::Looking,
        vote: answers[0].vote,
        election_epoch: round,
    };
    peer.step(12, p(1), Message::Notification(agreed));
    assert!(
        !peer.take_actions().iter().any(|a| matches!(
            a,
            Action::Send {
                msg: Message::Notification(_),
                ..
            }
        )),
        "an agreeing vote is not answered"
    );
}

#[test]
fn a_follower_that_decides_before_its_leader_is_not_turned_away() {
    for (seed, preload) in (1..=20).flat_map(|s| [(s, false), (s, true)]) {
        let mut w = World::build(
            seed,
            &[1, 2, 3],
            &[],
            Faults::none(),
            |_| {},
            |w| {
                w.record = true;
                w.keep_down.insert(p(3));
                if preload {
                    w.preload(p(1), Epoch(1), Epoch(1), txns(1, 1, 3));
                    w.preload(p(2), Epoch(1), Epoch(1), txns(1, 1, 3));
                }
            },
        );
        assert_eq!(settle(&mut w), p(2));
        assert!(w.now < 500, "seed {seed}: ensemble up only at {} ms", w.now);
        let refused = w
            .log
            .iter()
            .any(|(_, id, a)| *id == p(2) && matches!(a, Action::Disconnect { .. }));
        assert!(
            !refused,
            "seed {seed}: the leader-to-be turned its follower away"
        );
        assert_eq!(
            role_changes(&w, p(1), 0).len(),
            3,
            "{:?}",
            role_changes(&w, p(1), 0)
        );
    }
}

/// Server 3, the highest sid, restarts into a running ensemble led by 2. It must not start an
/// election of its own that the others would have to answer: it learns the leader from their
/// FOLLOWING / LEADING answers and joins it, leaving the leader's epoch and every role untouched.
#[test]
fn a_peer_joining_an_established_ensemble_follows_the_leader_without_disturbing_it() {
    let mut w = world(&[1, 2, 3], &[], &[3]);
    assert_eq!(settle(&mut w), p(2));
    commit(&mut w, 3);
    let epoch = w.leader_epoch();
    let t0 = w.now;
    w.restart(p(3));
    settle(&mut w);
    assert_eq!(w.leader(), Some(p(2)));
    assert_eq!(w.leader_epoch(), epoch);
    assert!(role_changes(&w, p(2), t0).is_empty());
    assert!(role_changes(&w, p(1), t0).is_empty());
    assert_eq!(
        w.nodes[&p(3)].role,
        Role::Following {
            leader: p(2),
            serving: true
        }
    );
    // It joined with one FOLLOWERINFO, not by winning an election of its own.
    let infos = sent_since(&w, p(3), p(2), t0)
        .into_iter()
        .filter(|m| matches!(m, Message::FollowerInfo { .. }))
        .count();
    assert_eq!(infos, 1);
    commit(&mut w, 1);
    applied_everything(&w, p(3));
}

// ------------------------------------------------------------------------------------------
// Discovery and synchronisation
// ------------------------------------------------------------------------------------------

/// A follower must write acceptedEpoch before it answers LEADERINFO with ACKEPOCH, and
/// currentEpoch before it acknowledges NEWLEADER; the leader writes acceptedEpoch before it
/// sends LEADERINFO. (A crash between the two would otherwise let it ack an epoch twice.)
#[test]
fn epochs_are_persisted_before_they_are_acknowledged() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    let epoch = w.leader_epoch().unwrap();
    for id in [1, 2] {
        let a = w.actions_of(p(id));
        let accepted = position(&a, |a| *a == Action::PersistAcceptedEpoch(epoch)).unwrap();
        let ackepoch = position(
            &a,
            |a| matches!(a, Action::Send { to, msg: Message::AckEpoch { .. } } if *to == leader),
        )
        .unwrap();
        let current = position(&a, |a| *a == Action::PersistCurrentEpoch(epoch)).unwrap();
        let ack_newleader = position(&a, |a| {
            matches!(a, Action::Send { to, msg: Message::Ack { zxid } }
                if *to == leader && *zxid == Zxid::new(epoch, 0))
        })
        .unwrap();
        assert!(
            accepted < ackepoch,
            "peer {id}: ACKEPOCH before acceptedEpoch was written"
        );
        assert!(
            current < ack_newleader,
            "peer {id}: NEWLEADER acked before currentEpoch was written"
        );
    }
    let a = w.actions_of(leader);
    let accepted = position(&a, |a| *a == Action::PersistAcceptedEpoch(epoch)).unwrap();
    let info = position(&a, |a| {
        matches!(
            a,
            Action::Send {
                msg: Message::LeaderInfo { .. },
                ..
            }
        )
    })
    .unwrap();
    assert!(accepted < info);
    assert_eq!(w.peer(leader).current_epoch(), epoch);
}

/// A follower whose disk stalls while it syncs must not acknowledge NEWLEADER (and so must not
/// be counted as holding the leader's history) until the synced transactions are durable.
#[test]
fn newleader_is_acknowledged_only_after_the_synced_history_is_durable() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    let epoch = w.leader_epoch().unwrap();
    w.crash(p(1));
    commit(&mut w, 5);
    let t0 = w.now;
    w.hold_disk(p(1));
    w.restart(p(1));
    w.run_until(t0 + 1_000);
    let newleader_ack = |w: &World| {
        sent_since(w, p(1), leader, t0).contains(&Message::Ack {
            zxid: Zxid::new(epoch, 0),
        })
    };
    assert!(sent_since(&w, leader, p(1), t0).contains(&Message::NewLeader { epoch }));
    assert!(
        !newleader_ack(&w),
        "NEWLEADER acked with the DIFF still volatile"
    );
    assert!(!w.serving().contains(&p(1)));
    w.release_disk(p(1));
    settle(&mut w);
    assert!(newleader_ack(&w));
    applied_everything(&w, p(1));
}

/// A follower restarts a little behind (fewer missing transactions than the leader keeps in
/// memory): the leader must send DIFF with just the missing tail, not a SNAP of the whole state,
/// and not TRUNC what the follower has.
#[test]
fn a_restarted_follower_catches_up_by_diff() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    let epoch = w.leader_epoch();
    let before = commit(&mut w, 5);
    w.crash(p(1));
    commit(&mut w, 10);
    let t0 = w.now;
    w.restart(p(1));
    settle(&mut w);
    assert_eq!(w.leader(), Some(leader));
    assert_eq!(w.leader_epoch(), epoch);
    let stream = sent_since(&w, leader, p(1), t0);
    let kinds: Vec<&Message> = stream
        .iter()
        .filter(|m| {
            matches!(
                m,
                Message::Diff { .. } | Message::Snap { .. } | Message::Trunc { .. }
            )
        })
        .collect();
    assert!(
        matches!(kinds.as_slice(), [Message::Diff { .. }]),
        "expected one DIFF, got {kinds:?}"
    );
    // Only the ten missing transactions travel.
    let proposals: Vec<Zxid> = stream
        .iter()
        .filter_map(|m| match m {
            Message::Proposal(e) => Some(e.zxid),
            _ => None,
        })
        .collect();
    assert_eq!(proposals.len(), 10);
    assert!(proposals.iter().all(|zx| *zx > before));
    applied_everything(&w, p(1));
}

/// A follower that missed more transactions than the leader's history keeps (history_limit 50,
/// 120 missed) cannot be brought up by DIFF: the leader must send SNAP.
#[test]
fn a_follower_far_behind_gets_a_snap() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    commit(&mut w, 5);
    w.crash(p(1));
    commit(&mut w, 120);
    let t0 = w.now;
    w.restart(p(1));
    settle(&mut w);
    let stream = sent_since(&w, leader, p(1), t0);
    assert!(
        stream.iter().any(|m| matches!(m, Message::Snap { .. })),
        "no SNAP: {:?}",
        stream
            .iter()
            .filter(|m| !matches!(m, Message::Proposal(_) | Message::Commit { .. }))
            .collect::<Vec<_>>()
    );
    assert!(!stream.iter().any(|m| matches!(m, Message::Diff { .. })));
    assert!(w
        .actions_of(p(1))
        .iter()
        .any(|a| matches!(a, Action::InstallSnapshot { .. })));
    commit(&mut w, 1);
    applied_everything(&w, p(1));
}

/// The leader of epoch 1 is cut off but, until syncLimit passes, still believes it leads and
/// logs two proposals nobody else sees. The others elect a new leader and move on. When the
/// partition heals the old leader must rejoin as a follower, and its uncommitted proposals must
/// be TRUNCated away, never applied.
#[test]
fn a_stale_leader_rejoins_as_follower_and_its_uncommitted_proposals_are_truncated() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let old = settle(&mut w);
    let committed = commit(&mut w, 3);
    let old_epoch = w.leader_epoch().unwrap();
    w.isolate(old);
    let s1 = w.propose_on(old).expect("still leading");
    let s2 = w.propose_on(old).expect("still leading");
    w.run_until(w.now + 100);
    assert_eq!(
        w.disk_last(old),
        s2,
        "the stale proposals are durable on it"
    );
    let ok = w.run_while(10_000, |w| w.leader().is_some_and(|l| l != old));
    assert!(ok, "no new leader: {:?}", roles(&w));
    let new = w.leader().unwrap();
    assert!(w.leader_epoch().unwrap() > old_epoch);
    commit(&mut w, 2);
    let t0 = w.now;
    w.heal();
    settle(&mut w);
    assert_eq!(w.leader(), Some(new));
    assert_eq!(
        w.nodes[&old].role,
        Role::Following {
            leader: new,
            serving: true
        }
    );
    assert!(sent_since(&w, new, old, t0).contains(&Message::Trunc { zxid: committed }));
    assert!(w
        .actions_of(old)
        .contains(&Action::TruncateLog { to: committed }));
    let zxids = w.state_zxids(old);
    assert!(!zxids.contains(&s1) && !zxids.contains(&s2));
    assert!(!w.delivered_log(old).contains(&s1));
    commit(&mut w, 1);
    applied_everything(&w, old);
}

/// An observer is ahead of the new leader by currentEpoch (it acknowledged the NEWLEADER of a
/// leader of epoch 2 that never got a quorum and died; voters 1 and 2 are still at currentEpoch
/// 1). When its ACKEPOCH reaches the leader before the voters' quorum does, the leader used to
/// step down ("a learner is more recent than me"), costing a round and an epoch each time the
/// observer wins the race. An observer can never lead, so yielding to it is pointless: as
/// Apache does, the leader must drop that learner only, and sync it once its history is fixed.
#[test]
fn an_observer_with_a_newer_current_epoch_does_not_make_the_new_leader_step_down() {
    for seed in 1..=40 {
        let mut w = World::build(
            seed,
            &[1, 2, 3],
            &[4],
            Faults::none(),
            |_| {},
            |w| {
                w.record = true;
                w.keep_down.insert(p(3));
                w.preload(p(1), Epoch(2), Epoch(1), txns(1, 1, 3));
                w.preload(p(2), Epoch(2), Epoch(1), txns(1, 1, 3));
                w.preload(p(4), Epoch(2), Epoch(2), txns(1, 1, 3));
            },
        );
        let leader = settle(&mut w);
        assert_eq!(leader, p(2));
        let steps_down = role_changes(&w, leader, 0)
            .into_iter()
            .filter(|r| *r == Role::Looking)
            .count();
        // The initial LOOKING only.
        assert_eq!(
            steps_down, 1,
            "seed {seed}: the leader stepped down because of an observer"
        );
        assert_eq!(w.leader_epoch(), Some(Epoch(3)));
        commit(&mut w, 1);
        applied_everything(&w, p(4));
    }
}

// ------------------------------------------------------------------------------------------
// Broadcast
// ------------------------------------------------------------------------------------------

/// 3 voters and 1 observer; two voters stop. The leader and the observer are two live servers,
/// but the observer must never count toward a quorum: the leader's proposal must not commit,
/// the observer must apply nothing new, the leader must step down at syncLimit, and nobody (the
/// observer least of all) may lead.
#[test]
fn an_observer_is_never_counted_in_a_quorum() {
    let mut w = world(&[1, 2, 3], &[4], &[]);
    let leader = settle(&mut w);
    assert_eq!(leader, p(3));
    let last = commit(&mut w, 3);
    assert_eq!(w.state_zxids(p(4)).last(), Some(&last));
    w.crash(p(1));
    w.crash(p(2));
    let lost = w.propose_on(leader).expect("still leading until syncLimit");
    w.run_until(w.now + 5_000);
    for id in [3, 4] {
        assert_eq!(w.state_zxids(p(id)).last(), Some(&last), "peer {id}");
        assert!(!w.delivered_log(p(id)).contains(&lost));
    }
    assert_eq!(w.leader(), None);
    assert!(!w
        .log
        .iter()
        .any(|(_, id, a)| *id == p(4) && matches!(a, Action::RoleChanged(Role::Leading { .. }))));
    assert!(!w.serving().contains(&p(4)));
}

/// Three voters, one down, and the leader's disk stalls. The remaining follower acknowledges
/// the proposal at once, but leader + follower is the only quorum, and the leader may count
/// itself only once its own write is durable: nothing commits until its fsync completes.
#[test]
fn the_leader_counts_itself_only_once_its_own_write_is_durable() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    assert_eq!(leader, p(3));
    commit(&mut w, 2);
    w.crash(p(1));
    w.hold_disk(leader);
    let t0 = w.now;
    let zx = w.propose().unwrap();
    w.run_until(t0 + 400);
    assert!(sent_since(&w, p(2), leader, t0).contains(&Message::Ack { zxid: zx }));
    assert!(!w.delivered_log(leader).contains(&zx));
    assert!(!w.delivered_log(p(2)).contains(&zx));
    assert!(!sent_since(&w, leader, p(2), t0).contains(&Message::Commit { zxid: zx }));
    w.release_disk(leader);
    let ok = w.run_while(1_000, |w| w.state_zxids(p(2)).last() == Some(&zx));
    assert!(ok);
    assert!(w.delivered_log(leader).contains(&zx));
}

/// With both followers up, their two ACKs are a quorum without the leader: a slow leader disk
/// must not hold commits back (the quorum does not need the leader).
#[test]
fn a_slow_leader_disk_does_not_block_commits_when_followers_form_a_quorum() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    w.hold_disk(leader);
    let zx = w.propose().unwrap();
    let ok = w.run_while(1_000, |w| {
        w.state_zxids(p(1)).last() == Some(&zx) && w.state_zxids(p(2)).last() == Some(&zx)
    });
    assert!(ok);
    w.release_disk(leader);
}

/// Followers' disks finish in any order and acknowledgements interleave, yet every server must
/// apply transactions strictly in zxid order, without gaps, and the leader must send COMMITs in
/// zxid order.
#[test]
fn commits_are_delivered_strictly_in_zxid_order() {
    let mut faults = Faults::none();
    faults.max_delay_ms = 30;
    faults.disk_max_ms = 40;
    let mut w = World::build(
        7,
        &[1, 2, 3, 4, 5],
        &[6],
        faults,
        |_| {},
        |w| w.record = true,
    );
    let leader = settle(&mut w);
    for _ in 0..20 {
        for _ in 0..5 {
            w.propose().unwrap();
        }
        w.run_until(w.now + 7);
    }
    commit(&mut w, 1);
    let all: Vec<Zxid> = w.committed.iter().map(|e| e.zxid).collect();
    assert_eq!(all.len(), 101);
    for id in w.ids() {
        assert_eq!(w.delivered_log(id), all, "peer {id}");
        if id != leader && id != p(6) {
            let commits: Vec<Zxid> = w
                .sent(leader, id)
                .into_iter()
                .filter_map(|(_, m)| match m {
                    Message::Commit { zxid } => Some(zxid),
                    _ => None,
                })
                .collect();
            assert!(commits.windows(2).all(|c| c[0] < c[1]), "peer {id}");
        }
    }
}

/// Leader-side SYNC: a sync issued while a proposal is in flight must be answered only after
/// that proposal commits, both for the leader's own clients and for a follower's, and the
/// follower must have applied the proposal before it sees the answer. With nothing in flight
/// the answer is immediate.
#[test]
fn sync_barrier_answers_only_after_earlier_proposals_commit() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    commit(&mut w, 1);
    w.with_peer(leader, |peer, _| peer.sync_barrier(leader).unwrap());
    assert_eq!(
        w.nodes[&leader].syncs_ready, 1,
        "nothing in flight: answered at once"
    );

    w.crash(p(1));
    w.hold_disk(leader);
    let zx = w.propose().unwrap();
    w.with_peer(leader, |peer, _| peer.sync_barrier(leader).unwrap());
    w.with_peer(leader, |peer, _| peer.sync_barrier(p(2)).unwrap());
    w.run_until(w.now + 300);
    assert_eq!(w.nodes[&leader].syncs_ready, 1);
    assert_eq!(w.nodes[&p(2)].syncs_ready, 0);
    w.release_disk(leader);
    w.run_until(w.now + 300);
    assert_eq!(w.nodes[&leader].syncs_ready, 2);
    assert_eq!(w.nodes[&p(2)].syncs_ready, 1);
    let a = w.actions_of(p(2));
    let applied = position(&a, |a| matches!(a, Action::Deliver(e) if e.zxid == zx)).unwrap();
    let ready = position(&a, |a| *a == Action::SyncReady).unwrap();
    assert!(
        applied < ready,
        "SYNC answered before the follower applied {zx:?}"
    );
    // Not a leader: no barrier.
    assert!(w.peer_mut(p(2)).sync_barrier(p(2)).is_err());
}

/// A follower's client sends sync, then a write. If the leader answered the sync only after
/// committing the write too, the follower would apply the write (and answer it) before it
/// could answer the sync, breaking the client's FIFO order. The SYNC answer must come right
/// after the last commit it waited for.
#[test]
fn a_sync_is_answered_before_the_commits_of_later_proposals() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let leader = settle(&mut w);
    let follower = [p(1), p(2), p(3)]
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    commit(&mut w, 1);
    // With the third server down, the leader's own ACK is needed for a quorum.
    let third = [p(1), p(2), p(3)]
        .into_iter()
        .find(|id| *id != leader && *id != follower)
        .unwrap();
    w.crash(third);
    // Hold the commit of `before` back until `after` is proposed as well.
    w.hold_disk(leader);
    let others = vec![follower];
    for id in &others {
        w.hold_disk(*id);
    }
    let before = w.propose().unwrap();
    w.with_peer(leader, |peer, _| peer.sync_barrier(follower).unwrap());
    let after = w.propose().unwrap();
    // The followers ack both; the leader's own durability then commits both at once.
    for id in &others {
        w.release_disk(*id);
    }
    w.run_until(w.now + 100);
    w.release_disk(leader);
    w.run_until(w.now + 300);
    let a = w.actions_of(follower);
    let applied = |z| position(&a, |x| matches!(x, Action::Deliver(e) if e.zxid == z)).unwrap();
    let ready = position(&a, |x| *x == Action::SyncReady).unwrap();
    assert!(
        applied(before) < ready,
        "sync answered before {before:?} was applied"
    );
    assert!(
        ready < applied(after),
        "sync answered only after the later {after:?}"
    );
}

/// A follower forwards a write (REQUEST) and a session revalidation (REVALIDATE) to the leader,
/// and gets the leader's revalidation answer back; the payloads are passed through untouched.
/// A server that is not synced with a leader refuses, and only a leader proposes.
#[test]
fn forwarded_requests_and_revalidations_make_the_round_trip() {
    let mut w = world(&[1, 2, 3], &[4], &[]);
    let leader = settle(&mut w);
    w.with_peer(p(1), |peer, _| {
        peer.forward(Bytes::from("create /a")).unwrap()
    });
    w.with_peer(p(4), |peer, _| {
        peer.forward(Bytes::from("create /b")).unwrap()
    });
    w.with_peer(p(1), |peer, _| {
        peer.revalidate(Bytes::from("session 7")).unwrap()
    });
    w.run_until(w.now + 50);
    let at_leader = w.actions_of(leader);
    for (from, data) in [(p(1), "create /a"), (p(4), "create /b")] {
        assert!(at_leader.contains(&Action::Request {
            from,
            data: Bytes::from(data)
        }));
    }
    assert!(at_leader.contains(&Action::Revalidate {
        from: p(1),
        data: Bytes::from("session 7")
    }));
    w.with_peer(leader, |peer, _| {
        peer.reply_revalidate(p(1), Bytes::from("session 7 ok"))
    });
    w.run_until(w.now + 50);
    assert!(w.actions_of(p(1)).contains(&Action::Revalidate {
        from: leader,
        data: Bytes::from("session 7 ok")
    }));
    assert_eq!(
        w.peer_mut(p(1)).propose(0, Bytes::new()),
        Err(ProposeError::NotLeader)
    );
    // A follower cut off from the leader goes LOOKING and refuses to forward.
    w.isolate(p(1));
    let ok = w.run_while(2_000, |w| w.nodes[&p(1)].role == Role::Looking);
    assert!(ok);
    assert!(w.peer_mut(p(1)).forward(Bytes::from("x")).is_err());
    assert!(w.peer_mut(p(1)).revalidate(Bytes::from("x")).is_err());
}

/// A leader whose followers go silent must give up within syncLimit (it can no longer commit
/// anything, and clients on it would read stale data), and the rest must start a new epoch.
#[test]
fn the_leader_steps_down_when_it_loses_its_quorum_and_a_new_epoch_starts() {
    let mut w = world(&[1, 2, 3], &[], &[]);
    let old = settle(&mut w);
    commit(&mut w, 2);
    let epoch = w.leader_epoch().unwrap();
    let t0 = w.now;
    w.isolate(old);
    let ok = w.run_while(2_000, |w| w.nodes[&old].role == Role::Looking);
    assert!(ok);
    let down_at = w
        .log
        .iter()
        .find(|(t, id, a)| *t >= t0 && *id == old && *a == Action::RoleChanged(Role::Looking))
        .map(|(t, _, _)| *t)
        .unwrap();
    // syncLimit is 5 ticks of 100 ms, checked every half tick.
    assert!(
        (t0 + 500..=t0 + 650).contains(&down_at),
        "stepped down after {} ms",
        down_at - t0
    );
    let ok = w.run_while(5_000, |w| w.leader().is_some_and(|l| l != old));
    assert!(ok);
    assert!(w.leader_epoch().unwrap() > epoch);
    commit(&mut w, 1);
    w.heal();
    settle(&mut w);
    applied_everything(&w, old);
}

// ------------------------------------------------------------------------------------------
// Hierarchical quorums
// ------------------------------------------------------------------------------------------

/// Nine servers in three groups of three. With 1, 2, 4 and 5 down, five of nine are up (a plain
/// majority) but only one group has a majority: nobody may be elected. Once 4 returns, groups
/// two and three have majorities and the ensemble must elect and commit; when 7 and 8 stop,
/// only one group is left again and nothing may commit.
#[test]
fn hierarchical_quorums_elect_and_commit_only_with_a_majority_of_groups() {
    let groups: Vec<BTreeSet<PeerId>> = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
        .iter()
        .map(|g| g.iter().map(|&i| p(i)).collect())
        .collect();
    let q = QuorumVerifier::Hierarchical {
        groups,
        weights: BTreeMap::new(),
    };
    let mut w = World::build(
        1,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9],
        &[],
        Faults::none(),
        move |cfg| cfg.quorum = q.clone(),
        |w| {
            w.record = true;
            w.keep_down = [1, 2, 4, 5].iter().map(|&i| p(i)).collect();
        },
    );
    w.run_until(5_000);
    assert_eq!(w.leader(), None, "{:?}", roles(&w));
    assert!(!w
        .log
        .iter()
        .any(|(_, _, a)| matches!(a, Action::RoleChanged(Role::Leading { .. }))));
    w.restart(p(4));
    let leader = settle(&mut w);
    assert_eq!(leader, p(9));
    let last = commit(&mut w, 2);
    w.crash(p(7));
    w.crash(p(8));
    let lost = w.propose_on(leader).expect("still leading until syncLimit");
    w.run_until(w.now + 3_000);
    for id in [3, 4, 6, 9] {
        assert_eq!(w.state_zxids(p(id)).last(), Some(&last), "peer {id}");
        assert!(!w.delivered_log(p(id)).contains(&lost));
    }
    assert_eq!(w.leader(), None);
}

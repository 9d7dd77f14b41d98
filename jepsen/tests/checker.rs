//! The checkers against hand-written and generated histories.

use jepsen::checker::{self, ids, linear, locks, session, set, Valid};
use jepsen::history::{Op, Type, Value, F};

// ---------------------------------------------------------------------------------------------
// A history builder.

#[derive(Default)]
struct H {
    ops: Vec<Op>,
}

impl H {
    fn new() -> Self {
        H::default()
    }

    fn push(&mut self, process: u64, typ: Type, f: F, key: u64, value: Value) -> &mut Self {
        let index = self.ops.len();
        self.ops.push(Op {
            index,
            process,
            typ,
            f,
            key,
            value,
            time_ns: index as u64 * 1000,
            node: None,
            error: None,
        });
        self
    }

    /// Invokes `f` on key 0.
    fn inv(&mut self, p: u64, f: F, v: Value) -> &mut Self {
        self.invk(p, 0, f, v)
    }

    fn invk(&mut self, p: u64, key: u64, f: F, v: Value) -> &mut Self {
        self.push(p, Type::Invoke, f, key, v)
    }

    fn open(&self, p: u64) -> &Op {
        self.ops
            .iter()
            .rev()
            .find(|o| o.process == p)
            .filter(|o| o.typ == Type::Invoke)
            .expect("no open invocation")
    }

    /// Completes `p`'s open op with `Ok` and the result `v`.
    fn ok_v(&mut self, p: u64, v: Value) -> &mut Self {
        let (f, key) = (self.open(p).f, self.open(p).key);
        self.push(p, Type::Ok, f, key, v)
    }

    /// Completes `p`'s open op with `Ok`, echoing its argument.
    fn ok(&mut self, p: u64) -> &mut Self {
        let o = self.open(p).clone();
        self.push(p, Type::Ok, o.f, o.key, o.value)
    }

    fn fail(&mut self, p: u64) -> &mut Self {
        let o = self.open(p).clone();
        self.push(p, Type::Fail, o.f, o.key, o.value)
    }

    fn info(&mut self, p: u64) -> &mut Self {
        let o = self.open(p).clone();
        self.push(p, Type::Info, o.f, o.key, o.value)
    }

    // Register shorthands on key 0, each a complete op by `p`.
    fn write(&mut self, p: u64, v: i64) -> &mut Self {
        self.inv(p, F::Write, Value::Int(v)).ok(p)
    }

    fn read(&mut self, p: u64, v: Option<i64>) -> &mut Self {
        self.inv(p, F::Read, Value::None)
            .ok_v(p, v.map_or(Value::None, Value::Int))
    }

    fn cas(&mut self, p: u64, e: i64, n: i64) -> &mut Self {
        self.inv(p, F::Cas, Value::Pair(e, n)).ok(p)
    }

    fn build(&self) -> Vec<Op> {
        self.ops.clone()
    }
}

fn lin(h: &[Op]) -> linear::Report {
    linear::check(h, &linear::Options::default())
}

fn witness(r: &linear::Report) -> &linear::Witness {
    for k in &r.keys {
        if let linear::Outcome::NotLinearizable(w) = &k.outcome {
            return w;
        }
    }
    panic!("no witness in {r:?}");
}

// ---------------------------------------------------------------------------------------------
// Linearizability: hand-written histories.

#[test]
fn empty_and_trivial_histories_are_linearizable() {
    assert_eq!(lin(&[]).valid(), Valid::Yes);
    let h = H::new()
        .read(1, None)
        .write(1, 3)
        .read(2, Some(3))
        .cas(2, 3, 4)
        .read(1, Some(4))
        .build();
    let r = lin(&h);
    assert_eq!(r.valid(), Valid::Yes, "{}", r.verdict());
    match &r.keys[0].outcome {
        linear::Outcome::Linearizable { order } => assert_eq!(order.len(), 5),
        o => panic!("{o:?}"),
    }
}

#[test]
fn reading_a_value_never_written_is_not_linearizable() {
    let h = H::new().read(1, Some(1)).build();
    let r = lin(&h);
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(witness(&r).states, vec![None]);
}

#[test]
fn stale_read_is_not_linearizable() {
    // w1 ok, w2 ok, then a read (invoked after w2 completed) returns 1.
    let h = H::new().write(1, 1).write(2, 2).read(3, Some(1)).build();
    let r = lin(&h);
    assert_eq!(r.valid(), Valid::No, "{}", r.verdict());
    let w = witness(&r);
    assert_eq!(
        w.op, 4,
        "the read is the op that cannot be linearized: {w:?}"
    );
    assert_eq!(w.states, vec![Some(2)]);
    assert!(r
        .verdict()
        .details
        .contains("reachable values just before it: [2]"));
}

#[test]
fn stale_read_concurrent_with_the_write_is_linearizable() {
    // The read overlaps the second write: it may take effect before it.
    let h = H::new()
        .write(1, 1)
        .inv(2, F::Write, Value::Int(2))
        .inv(3, F::Read, Value::None)
        .ok(2)
        .ok_v(3, Value::Int(1))
        .build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

#[test]
fn lost_update_is_not_linearizable() {
    // Two concurrent cas from the same expected value both succeed.
    let h = H::new()
        .write(1, 0)
        .inv(1, F::Cas, Value::Pair(0, 1))
        .inv(2, F::Cas, Value::Pair(0, 2))
        .ok(1)
        .ok(2)
        .build();
    let r = lin(&h);
    assert_eq!(r.valid(), Valid::No, "{}", r.verdict());
    // Either cas could go first; the second then finds 1 or 2, not 0.
    let w = witness(&r);
    assert!(
        w.states.iter().all(|s| *s == Some(1) || *s == Some(2)),
        "{w:?}"
    );
}

#[test]
fn concurrent_cas_with_one_failing_is_linearizable() {
    let h = H::new()
        .write(1, 0)
        .inv(1, F::Cas, Value::Pair(0, 1))
        .inv(2, F::Cas, Value::Pair(0, 2))
        .ok(1)
        .fail(2)
        .read(3, Some(1))
        .build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

#[test]
fn failed_write_observed_is_not_linearizable() {
    let h = H::new()
        .write(1, 1)
        .inv(2, F::Write, Value::Int(2))
        .fail(2)
        .read(3, Some(2))
        .build();
    let r = lin(&h);
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(witness(&r).states, vec![Some(1)]);
}

#[test]
fn concurrent_writes_linearizable_in_one_order_only() {
    // w1 and w2 overlap; afterwards a read returns 1: only w2 < w1 explains it.
    let base = || {
        let mut h = H::new();
        h.inv(1, F::Write, Value::Int(1))
            .inv(2, F::Write, Value::Int(2))
            .ok(1)
            .ok(2)
            .read(3, Some(1));
        h
    };
    assert_eq!(lin(&base().build()).valid(), Valid::Yes);
    // A later read of 2 cannot be explained by any order.
    let h = base().read(4, Some(2)).build();
    assert_eq!(lin(&h).valid(), Valid::No);
    // Reading 1 again is fine.
    let h = base().read(4, Some(1)).build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

#[test]
fn concurrent_cas_chain_linearizable_in_one_order_only() {
    // cas(1->2) is invoked first but can only take effect after cas(0->1).
    let h = H::new()
        .write(1, 0)
        .inv(2, F::Cas, Value::Pair(1, 2))
        .inv(3, F::Cas, Value::Pair(0, 1))
        .inv(4, F::Read, Value::None)
        .ok(3)
        .ok(2)
        .ok_v(4, Value::Int(1))
        .read(1, Some(2))
        .build();
    let r = lin(&h);
    assert_eq!(r.valid(), Valid::Yes, "{}", r.verdict());
    match &r.keys[0].outcome {
        // write(0), cas(0->1), read 1, cas(1->2), read 2: by invocation positions.
        linear::Outcome::Linearizable { order } => assert_eq!(order, &vec![0, 3, 4, 2, 8]),
        o => panic!("{o:?}"),
    }
}

#[test]
fn info_write_taken_as_happened() {
    let h = H::new()
        .write(1, 1)
        .inv(2, F::Write, Value::Int(2))
        .info(2)
        .read(3, Some(2))
        .read(3, Some(2))
        .build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
    // The same with the write never completing (the run ended): it is indeterminate too.
    let h = H::new()
        .write(1, 1)
        .inv(2, F::Write, Value::Int(2))
        .read(3, Some(2))
        .build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

#[test]
fn info_cas_taken_as_happened_late() {
    // The info cas may take effect long after its invocation, after later writes.
    let h = H::new()
        .write(1, 0)
        .inv(2, F::Cas, Value::Pair(5, 6))
        .info(2)
        .write(1, 5)
        .read(1, Some(6))
        .build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

#[test]
fn info_write_taken_as_never_happened() {
    let h = H::new()
        .write(1, 1)
        .inv(2, F::Write, Value::Int(2))
        .info(2)
        .read(3, Some(1))
        .read(3, Some(1))
        .build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

#[test]
fn info_write_cannot_happen_twice() {
    // An indeterminate write of 2 explains the first read of 2, but not the read of 2 after a
    // completed write of 1 (it happens at most once).
    let h = H::new()
        .inv(2, F::Write, Value::Int(2))
        .info(2)
        .read(1, Some(2))
        .write(1, 1)
        .read(1, Some(2))
        .build();
    assert_eq!(lin(&h).valid(), Valid::No);
    // Two indeterminate writes of 2 can.
    let h = H::new()
        .inv(2, F::Write, Value::Int(2))
        .info(2)
        .inv(3, F::Write, Value::Int(2))
        .info(3)
        .read(1, Some(2))
        .write(1, 1)
        .read(1, Some(2))
        .build();
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

#[test]
fn info_write_cannot_take_effect_before_its_invocation() {
    let h = H::new()
        .write(1, 1)
        .read(1, Some(2))
        .inv(2, F::Write, Value::Int(2))
        .info(2)
        .build();
    assert_eq!(lin(&h).valid(), Valid::No);
}

#[test]
fn info_and_failed_reads_are_ignored() {
    let h = H::new()
        .write(1, 1)
        .inv(2, F::Read, Value::None)
        .info(2)
        .inv(3, F::Read, Value::None)
        .fail(3)
        .read(1, Some(1))
        .build();
    let r = lin(&h);
    assert_eq!(r.valid(), Valid::Yes);
    assert_eq!(r.keys[0].dropped, 2);
}

#[test]
fn keys_are_independent() {
    let h = H::new()
        .invk(1, 7, F::Write, Value::Int(1))
        .ok(1)
        .invk(1, 8, F::Read, Value::None)
        .ok_v(1, Value::Int(1))
        .build();
    let r = lin(&h);
    assert_eq!(r.keys.len(), 2);
    assert!(matches!(
        r.keys[0].outcome,
        linear::Outcome::Linearizable { .. }
    ));
    assert!(matches!(
        r.keys[1].outcome,
        linear::Outcome::NotLinearizable(_)
    ));
    let v = r.verdict();
    assert_eq!(v.valid, Valid::No);
    assert!(v.details.contains("key 8: not linearizable"), "{v}");
}

#[test]
fn exceeding_the_budget_is_unknown() {
    let h = gen_register(&Gen {
        seed: 3,
        ops: 400,
        ..Gen::default()
    });
    let r = linear::check(
        &h,
        &linear::Options {
            max_steps: 50,
            max_configs: 1_000_000,
        },
    );
    assert_eq!(r.valid(), Valid::Unknown);
    assert!(r.verdict().details.contains("budget exceeded"));
}

#[test]
fn malformed_register_op_is_unknown() {
    let h = H::new().inv(1, F::Write, Value::Pair(1, 2)).ok(1).build();
    assert_eq!(lin(&h).valid(), Valid::Unknown);
}

// ---------------------------------------------------------------------------------------------
// A deterministic PRNG and history generators (simulated atomic objects, random latencies).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Gen {
    seed: u64,
    ops: usize,
    procs: u64,
    /// Written values are drawn from 0..values (a small domain stresses the search).
    values: u64,
    /// Percent of ops that end indeterminate (half of which take effect).
    info: u64,
}

impl Default for Gen {
    fn default() -> Self {
        Gen {
            seed: 1,
            ops: 3000,
            procs: 10,
            values: 5,
            info: 2,
        }
    }
}

/// A planned op: invocation, linearization point and completion times.
struct Planned {
    p: u64,
    inv: u64,
    lin: u64,
    done: u64,
}

/// Random timelines: each process runs ops back to back with random latencies.
fn plan(g: &Gen, rng: &mut Rng) -> Vec<Planned> {
    let per = g.ops as u64 / g.procs;
    let mut out = Vec::new();
    for p in 0..g.procs {
        let mut t = rng.below(10);
        for _ in 0..per {
            // Mostly short, sometimes long latencies.
            let dur = 2 + if rng.chance(5) {
                rng.below(400)
            } else {
                rng.below(40)
            };
            let lin = t + 1 + rng.below(dur - 1);
            out.push(Planned {
                p,
                inv: t,
                lin,
                done: t + dur,
            });
            t += dur + 1 + rng.below(10);
        }
    }
    out
}

/// Builds the history from (planned op, invocation, completion) in time order.
fn events(planned: &[Planned], ops: Vec<(F, u64, Value, Type, Value)>) -> Vec<Op> {
    let mut ev: Vec<(u64, u64, bool, usize)> = Vec::new();
    for (i, pl) in planned.iter().enumerate() {
        ev.push((pl.inv, pl.p, true, i));
        ev.push((pl.done, pl.p, false, i));
    }
    ev.sort_unstable();
    let mut h = Vec::with_capacity(ev.len());
    for (t, p, is_inv, i) in ev {
        let (f, key, arg, typ, res) = &ops[i];
        h.push(Op {
            index: h.len(),
            process: p,
            typ: if is_inv { Type::Invoke } else { *typ },
            f: *f,
            key: *key,
            value: if is_inv { arg.clone() } else { res.clone() },
            time_ns: t,
            node: None,
            error: None,
        });
    }
    h
}

/// A linearizable register history on key 0 from a simulated atomic register.
fn gen_register(g: &Gen) -> Vec<Op> {
    let mut rng = Rng(g.seed);
    let planned = plan(g, &mut rng);
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].lin, planned[i].p));
    let mut ops = vec![(F::Read, 0, Value::None, Type::Ok, Value::None); planned.len()];
    let mut state: Option<i64> = None;
    for i in order {
        let info = rng.chance(g.info);
        let happens = !info || rng.chance(50);
        let v = rng.below(g.values) as i64;
        let e = rng.below(g.values) as i64;
        let which = rng.below(10);
        let tagged = |t: Type| if info { Type::Info } else { t };
        ops[i] = if which < 4 {
            let r = state.map_or(Value::None, Value::Int);
            (
                F::Read,
                0,
                Value::None,
                tagged(Type::Ok),
                if info { Value::None } else { r },
            )
        } else if which < 7 {
            if happens {
                state = Some(v);
            }
            (F::Write, 0, Value::Int(v), tagged(Type::Ok), Value::Int(v))
        } else {
            // Mostly cas from the current value, so that many succeed.
            let e = if rng.chance(70) {
                state.unwrap_or(e)
            } else {
                e
            };
            let matches = state == Some(e);
            if happens && matches {
                state = Some(v);
            }
            let t = if matches { Type::Ok } else { Type::Fail };
            (F::Cas, 0, Value::Pair(e, v), tagged(t), Value::Pair(e, v))
        };
    }
    events(&planned, ops)
}

/// Replaces the result of the `Ok` read closest to `at` (a fraction of the history).
fn mutate_read(h: &mut [Op], at: f64, value: Value) -> usize {
    let start = (h.len() as f64 * at) as usize;
    let i = (start..h.len())
        .find(|&i| {
            h[i].typ == Type::Ok
                && h[i].f == F::Read
                && h[..i].iter().any(|o| o.typ == Type::Ok && o.f == F::Write)
        })
        .expect("an ok read");
    h[i].value = value;
    i
}

// ---------------------------------------------------------------------------------------------
// Linearizability: generated histories.

#[test]
fn generated_register_history_is_linearizable() {
    for seed in 1..=3 {
        let h = gen_register(&Gen {
            seed,
            ..Gen::default()
        });
        assert_eq!(h.len(), 6000);
        let r = lin(&h);
        assert_eq!(r.valid(), Valid::Yes, "seed {seed}: {}", r.verdict());
        assert!(r.keys[0].info > 0 || r.keys[0].dropped > 0);
        eprintln!(
            "seed {seed}: {:?} steps, {} configs",
            r.keys[0].steps, r.keys[0].configs
        );
    }
}

#[test]
fn generated_register_history_with_unique_values_is_linearizable() {
    let h = gen_register(&Gen {
        seed: 11,
        values: 1_000_000,
        info: 5,
        ..Gen::default()
    });
    assert_eq!(lin(&h).valid(), Valid::Yes);
}

/// Refuting a history means exhausting the search up to the anomaly. That is quick with
/// unique written values (even with many indeterminate writes) or with few distinct values and
/// no indeterminate writes; with many indeterminate writes over a tiny value domain the search
/// space explodes and the checker answers `Unknown` at its budget (as Knossos would time out).
#[test]
fn mutated_register_history_is_not_linearizable() {
    for (seed, values, info) in [(1, 5, 0), (2, 5, 0), (1, 1_000_000, 5), (2, 1_000_000, 10)] {
        let g = Gen {
            seed,
            values,
            info,
            ..Gen::default()
        };
        // A phantom value late in the history.
        let mut h = gen_register(&g);
        let i = mutate_read(&mut h, 0.8, Value::Int(-1));
        let r = lin(&h);
        assert_eq!(
            r.valid(),
            Valid::No,
            "seed {seed} values {values}: {}",
            r.verdict()
        );
        let w = witness(&r);
        assert!(
            w.op <= i,
            "witness {w:?} is at or before the mutated read {i}"
        );

        // A read of the initial state after writes completed (a stale read of `None`).
        let mut h = gen_register(&g);
        mutate_read(&mut h, 0.5, Value::None);
        let r = lin(&h);
        assert_eq!(
            r.valid(),
            Valid::No,
            "seed {seed} values {values}: {}",
            r.verdict()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Session guarantees.

fn sess(h: &[Op]) -> session::Report {
    session::check(h)
}

#[test]
fn session_read_your_writes_violation() {
    // p2 wrote 0, then p1 wrote 1 and read 0: p1 does not see its own write.
    let h = H::new().write(2, 0).write(1, 1).read(1, Some(0)).build();
    let r = sess(&h);
    assert_eq!(r.valid(), Valid::No, "{r:?}");
    assert!(r.stale[0].contains("its own earlier"), "{r:?}");
}

#[test]
fn session_monotonic_reads_violation() {
    let h = H::new()
        .write(2, 1)
        .write(2, 2)
        .read(1, Some(2))
        .read(1, Some(1))
        .build();
    let r = sess(&h);
    assert_eq!(r.valid(), Valid::No);
    assert!(r.stale[0].contains("the value it read earlier"), "{r:?}");
    // Reading the initial state after having seen a write also goes back in time.
    let h = H::new().write(2, 1).read(1, Some(1)).read(1, None).build();
    assert_eq!(sess(&h).valid(), Valid::No);
}

#[test]
fn session_allows_stale_reads_by_other_sessions() {
    // p2 reads an old value after p1's write completed: not linearizable, but ZooKeeper allows
    // it (p2's server may lag), and p2's own reads are monotonic.
    let h = H::new()
        .write(1, 1)
        .read(2, Some(1))
        .write(1, 2)
        .read(2, Some(1))
        .read(2, Some(2))
        .build();
    assert_eq!(sess(&h).valid(), Valid::Yes);
    assert_eq!(lin(&h).valid(), Valid::No);
}

#[test]
fn session_is_conservative_about_concurrent_writes() {
    // Writes of 1 and 2 overlap: reading 2 then 1 is fine (the order may be 2, 1).
    let h = H::new()
        .inv(1, F::Write, Value::Int(1))
        .inv(2, F::Write, Value::Int(2))
        .ok(1)
        .ok(2)
        .read(3, Some(2))
        .read(3, Some(1))
        .build();
    assert_eq!(sess(&h).valid(), Valid::Yes);
    // An indeterminate write may be the source of a later read.
    let h = H::new()
        .inv(2, F::Write, Value::Int(1))
        .info(2)
        .write(1, 2)
        .read(1, Some(1))
        .build();
    assert_eq!(sess(&h).valid(), Valid::Yes);
}

#[test]
fn session_phantom_read() {
    let h = H::new()
        .inv(2, F::Write, Value::Int(9))
        .fail(2)
        .read(1, Some(9))
        .build();
    let r = sess(&h);
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(r.phantom.len(), 1);
}

#[test]
fn session_generated_history() {
    let h = gen_register(&Gen {
        seed: 5,
        values: 1_000_000,
        ..Gen::default()
    });
    let r = sess(&h);
    assert_eq!(r.valid(), Valid::Yes, "{}", r.verdict());
    assert!(r.reads > 1000);
    // Make a late read return the initial state: the reader has seen writes by then.
    let mut h = h;
    let i = (h.len() * 3 / 4..h.len())
        .find(|&i| {
            let o = &h[i];
            o.typ == Type::Ok
                && o.f == F::Read
                && h[..i]
                    .iter()
                    .any(|x| x.process == o.process && x.typ == Type::Ok && x.f == F::Write)
        })
        .unwrap();
    h[i].value = Value::None;
    assert_eq!(sess(&h).valid(), Valid::No);
}

// ---------------------------------------------------------------------------------------------
// Set.

fn add(h: &mut H, p: u64, x: i64, t: Type) {
    h.invk(p, 1, F::Add, Value::Int(x));
    match t {
        Type::Ok => h.ok(p),
        Type::Fail => h.fail(p),
        _ => h.info(p),
    };
}

fn read_all(h: &mut H, p: u64, xs: &[i64]) {
    h.invk(p, 1, F::ReadAll, Value::None)
        .ok_v(p, Value::List(xs.to_vec()));
}

#[test]
fn set_complete() {
    let mut h = H::new();
    add(&mut h, 1, 1, Type::Ok);
    add(&mut h, 2, 2, Type::Fail);
    add(&mut h, 3, 3, Type::Info);
    add(&mut h, 4, 4, Type::Info);
    read_all(&mut h, 1, &[1, 3]);
    let r = set::check(&h.build());
    assert_eq!(r.valid(), Valid::Yes, "{r:?}");
    assert_eq!(r.keys[0].recovered, 1);
    assert_eq!(r.keys[0].acknowledged, 1);
}

#[test]
fn set_lost_and_unexpected() {
    let mut h = H::new();
    add(&mut h, 1, 1, Type::Ok);
    add(&mut h, 2, 2, Type::Fail);
    add(&mut h, 3, 3, Type::Ok);
    read_all(&mut h, 1, &[2, 3, 5, 3]);
    let r = set::check(&h.build());
    assert_eq!(r.valid(), Valid::No);
    let k = &r.keys[0];
    assert_eq!(k.lost, vec![1]);
    assert_eq!(k.unexpected, vec![2, 5]);
    assert_eq!(k.duplicated, vec![3]);
    let v = r.verdict();
    assert!(v.details.contains("lost: 1"), "{v}");
}

#[test]
fn set_add_concurrent_with_final_read_may_be_absent() {
    let mut h = H::new();
    h.invk(1, 1, F::Add, Value::Int(1))
        .invk(2, 1, F::ReadAll, Value::None)
        .ok(1)
        .ok_v(2, Value::List(vec![]));
    assert_eq!(set::check(&h.build()).valid(), Valid::Yes);
}

#[test]
fn set_without_final_read_is_unknown() {
    let mut h = H::new();
    add(&mut h, 1, 1, Type::Ok);
    assert_eq!(set::check(&h.build()).valid(), Valid::Unknown);
}

/// Concurrent adds of unique elements (some fail, some indeterminate), then a final read.
fn gen_set(seed: u64) -> (Vec<Op>, Vec<i64>, Vec<i64>) {
    let g = Gen {
        seed,
        ..Gen::default()
    };
    let mut rng = Rng(seed);
    let planned = plan(&g, &mut rng);
    let mut present = Vec::new();
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    let mut ops = Vec::new();
    for (i, _) in planned.iter().enumerate() {
        let x = i as i64;
        let t = match rng.below(100) {
            0..=4 => Type::Fail,
            5..=9 => Type::Info,
            _ => Type::Ok,
        };
        match t {
            Type::Ok => {
                present.push(x);
                acked.push(x);
            }
            Type::Info if rng.chance(50) => present.push(x),
            Type::Fail => failed.push(x),
            _ => {}
        }
        ops.push((F::Add, 1, Value::Int(x), t, Value::Int(x)));
    }
    let end = planned.iter().map(|p| p.done).max().unwrap();
    let mut h = events(&planned, ops);
    h.push(Op {
        index: h.len(),
        process: 99,
        typ: Type::Invoke,
        f: F::ReadAll,
        key: 1,
        value: Value::None,
        time_ns: end + 1,
        node: None,
        error: None,
    });
    h.push(Op {
        index: h.len(),
        process: 99,
        typ: Type::Ok,
        f: F::ReadAll,
        key: 1,
        value: Value::List(present),
        time_ns: end + 2,
        node: None,
        error: None,
    });
    (h, acked, failed)
}

#[test]
fn set_generated() {
    let (h, acked, failed) = gen_set(7);
    let r = set::check(&h);
    assert_eq!(r.valid(), Valid::Yes, "{}", r.verdict());
    assert_eq!(r.keys[0].acknowledged, acked.len());
    // Mutate: drop an acknowledged element and add a failed one.
    let mut h = h;
    let last = h.last_mut().unwrap();
    let Value::List(xs) = &mut last.value else {
        unreachable!()
    };
    xs.retain(|&x| x != acked[100]);
    xs.push(failed[3]);
    let r = set::check(&h);
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(r.keys[0].lost, vec![acked[100]]);
    assert_eq!(r.keys[0].unexpected, vec![failed[3]]);
}

// ---------------------------------------------------------------------------------------------
// Unique ids.

fn gen_ids(seed: u64) -> Vec<Op> {
    let g = Gen {
        seed,
        ..Gen::default()
    };
    let mut rng = Rng(seed);
    let planned = plan(&g, &mut rng);
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].lin, planned[i].p));
    let mut ops = vec![(F::GenId, 2, Value::None, Type::Ok, Value::None); planned.len()];
    let mut counter = 0;
    for i in order {
        let t = match rng.below(100) {
            0..=2 => Type::Fail,
            3..=5 => Type::Info,
            _ => Type::Ok,
        };
        if t != Type::Fail {
            counter += 1; // an indeterminate create may consume a number
        }
        let res = if t == Type::Ok {
            Value::Int(counter)
        } else {
            Value::None
        };
        ops[i] = (F::GenId, 2, Value::None, t, res);
    }
    events(&planned, ops)
}

#[test]
fn ids_generated_and_mutated() {
    let h = gen_ids(9);
    let r = ids::check(&h);
    assert_eq!(r.valid(), Valid::Yes, "{}", r.verdict());
    assert!(r.keys[0].ok > 2500);
    let ok: Vec<usize> = (0..h.len()).filter(|&i| h[i].typ == Type::Ok).collect();
    // A duplicate: a late op returns an early op's id.
    let mut dup = h.clone();
    dup[ok[2000]].value = dup[ok[10]].value.clone();
    let r = ids::check(&dup);
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(r.keys[0].duplicates.len(), 1);
    assert!(!r.keys[0].out_of_order.is_empty());
    // Out of real-time order: a late op returns a smaller, unused id.
    let mut late = h.clone();
    late[ok[2000]].value = Value::Int(-5);
    let r = ids::check(&late);
    assert_eq!(r.valid(), Valid::No);
    assert!(r.keys[0].duplicates.is_empty());
    assert_eq!(r.keys[0].out_of_order.len(), 1);
}

#[test]
fn ids_hand_written() {
    let mut h = H::new();
    h.invk(1, 2, F::GenId, Value::None)
        .invk(2, 2, F::GenId, Value::None)
        .ok_v(2, Value::Int(1))
        .ok_v(1, Value::Int(2)) // concurrent: any order
        .invk(1, 2, F::GenId, Value::None)
        .ok_v(1, Value::Int(3))
        .invk(1, 3, F::GenId, Value::None) // another parent has its own counter
        .ok_v(1, Value::Int(1));
    assert_eq!(ids::check(&h.build()).valid(), Valid::Yes);
    h.invk(2, 2, F::GenId, Value::None).ok_v(2, Value::Int(3));
    let r = ids::check(&h.build());
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(r.keys[0].duplicates.len(), 1);
    assert_eq!(r.keys[0].out_of_order.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Locks.

fn acquire(h: &mut H, p: u64, token: i64) {
    h.invk(p, 4, F::Acquire, Value::None)
        .ok_v(p, Value::Int(token));
}

fn release(h: &mut H, p: u64, token: i64, t: Type) {
    h.invk(p, 4, F::Release, Value::Int(token));
    match t {
        Type::Ok => h.ok(p),
        Type::Fail => h.fail(p),
        _ => h.info(p),
    };
}

#[test]
fn locks_sequential_holders_are_valid() {
    let mut h = H::new();
    acquire(&mut h, 1, 10);
    release(&mut h, 1, 10, Type::Ok);
    acquire(&mut h, 2, 12);
    release(&mut h, 2, 12, Type::Ok);
    let r = locks::check(&h.build());
    assert_eq!(r.valid(), Valid::Yes, "{r:?}");
    assert_eq!(r.keys[0].definite, 2);
}

#[test]
fn locks_overlapping_holds_are_invalid() {
    let mut h = H::new();
    acquire(&mut h, 1, 10);
    acquire(&mut h, 2, 12);
    release(&mut h, 1, 10, Type::Ok);
    release(&mut h, 2, 12, Type::Ok);
    let strict = locks::Options {
        release_ok_means_held: true,
    };
    let r = locks::check_with(&h.build(), &strict);
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(r.keys[0].overlapping.len(), 1);
    // The default judges them too: zk-client's release is Ok only when it deleted the node.
    assert_eq!(locks::check(&h.build()).valid(), Valid::No);
    // So does check_all.
    let v = checker::check_all(&h.build());
    let locks_v = v.iter().find(|v| v.name == "locks").unwrap();
    assert_eq!(locks_v.valid, Valid::No, "{locks_v}");
    // For a client whose release swallows NoNode: counted, not judged.
    let lax = locks::Options {
        release_ok_means_held: false,
    };
    let r = locks::check_with(&h.build(), &lax);
    assert_eq!(r.valid(), Valid::Yes);
    assert_eq!(r.keys[0].overlapping.len(), 1);
    assert!(r.verdict().details.contains("not judged"));
}

#[test]
fn locks_release_of_a_lost_lock_ends_no_definite_hold() {
    // p1's lock was lost (its release failed: LockLost) while p2 held it; p1's release was
    // invoked after p2 acquired, but p1's hold is not definite.
    let mut h = H::new();
    acquire(&mut h, 1, 10);
    acquire(&mut h, 2, 12);
    release(&mut h, 1, 10, Type::Fail);
    release(&mut h, 2, 12, Type::Ok);
    let r = locks::check(&h.build());
    assert_eq!(r.valid(), Valid::Yes, "{r:?}");
    assert_eq!(r.keys[0].definite, 1);
    assert!(r.keys[0].overlapping.is_empty());
    // An unknown release (Info) is not definite either.
    let mut h = H::new();
    acquire(&mut h, 1, 10);
    acquire(&mut h, 2, 12);
    release(&mut h, 1, 10, Type::Info);
    release(&mut h, 2, 12, Type::Ok);
    assert_eq!(locks::check(&h.build()).valid(), Valid::Yes);
}

#[test]
fn locks_expired_holder_is_not_definite() {
    // p1's session expired (its release fails): p2 acquiring meanwhile is fine.
    let mut h = H::new();
    acquire(&mut h, 1, 10);
    acquire(&mut h, 2, 12);
    release(&mut h, 1, 10, Type::Fail);
    release(&mut h, 2, 12, Type::Ok);
    assert_eq!(locks::check(&h.build()).valid(), Valid::Yes);
}

#[test]
fn locks_tokens_unique_and_increasing() {
    let mut h = H::new();
    acquire(&mut h, 1, 10);
    acquire(&mut h, 2, 10);
    acquire(&mut h, 3, 9);
    let r = locks::check(&h.build());
    assert_eq!(r.valid(), Valid::No);
    assert_eq!(r.keys[0].duplicates.len(), 1);
    assert_eq!(r.keys[0].out_of_order.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// check_all.

#[test]
fn check_all_runs_the_relevant_checkers() {
    let mut h = H::new();
    h.write(1, 1).read(2, Some(1));
    add(&mut h, 1, 5, Type::Ok);
    read_all(&mut h, 2, &[5]);
    let v = checker::check_all(&h.build());
    let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["linearizable", "session", "set"]);
    assert_eq!(checker::overall(&v), Valid::Yes);

    h.read(3, Some(7));
    let v = checker::check_all(&h.build());
    assert_eq!(checker::overall(&v), Valid::No);
    assert!(checker::check_all(&[]).is_empty());
}

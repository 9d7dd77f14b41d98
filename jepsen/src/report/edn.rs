//! Jepsen's EDN form of a history: a vector of op maps, one per line,
//!
//! ```text
//! [{:type :invoke, :f :cas, :value [0 [1 2]], :process 3, :time 12345, :index 7}
//!  {:type :ok, :f :cas, :value [0 [1 2]], :process 3, :time 23456, :index 9}]
//! ```
//!
//! - `:type` is `:invoke`, `:ok`, `:fail` or `:info`; `:time` is nanoseconds since the run's
//!   start; `:process` an integer; `:index` the position in the whole history.
//! - `:f` and `:value` follow Jepsen's workloads: `:read`/`:write`/`:cas` (register),
//!   `:add` and a final `:read` of the set (our `ReadAll`, value a vector of elements),
//!   `:generate` (ids), `:acquire`/`:release` (lock). `Value::None` is `nil`, `Int` a number,
//!   `Pair(a, b)` `[a b]`, `List` a vector.
//! - Register ops are on many keys, so, as with `jepsen.independent`, their `:value` is the
//!   tuple `[key value]`: a read of key 2 returning 4 is `:value [2 4]`, a cas of key 0 from 1
//!   to 2 is `:value [0 [1 2]]`, a read of a missing key `[2 nil]`. Other ops carry their value
//!   alone (`:key` is added when it is not 0).
//! - `:error "..."` (a string) is present on `:fail`/`:info` ops that have one; `:node n` when
//!   the server is known.
//!
//! Reading EDN back, Jepsen sees the tuples as plain vectors, so for Knossos the results
//! directory also holds `independent/<key>.edn` ([`register_histories`]): each key's ops alone,
//! with plain values (`nil`, `3`, `[1 2]`), re-indexed from 0, ready for Knossos'
//! `cas-register` model (`(knossos.model/cas-register nil)`, the register starting absent).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::history::{Op, Type, Value, F};

/// The EDN keyword of a type.
pub fn type_kw(t: Type) -> &'static str {
    match t {
        Type::Invoke => ":invoke",
        Type::Ok => ":ok",
        Type::Fail => ":fail",
        Type::Info => ":info",
    }
}

/// The EDN keyword of an `f` (Jepsen's names: `ReadAll` is the set's `:read`).
pub fn f_kw(f: F) -> &'static str {
    match f {
        F::Read => ":read",
        F::Write => ":write",
        F::Cas => ":cas",
        F::Add => ":add",
        F::ReadAll => ":read",
        F::GenId => ":generate",
        F::Acquire => ":acquire",
        F::Release => ":release",
    }
}

/// Whether `f` is a register op (written as an independent `[key value]` tuple).
pub fn is_register(f: F) -> bool {
    matches!(f, F::Read | F::Write | F::Cas)
}

/// A value in EDN.
pub fn value(v: &Value) -> String {
    match v {
        Value::None => "nil".into(),
        Value::Int(n) => n.to_string(),
        Value::Pair(a, b) => format!("[{a} {b}]"),
        Value::List(xs) => {
            let items: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
            format!("[{}]", items.join(" "))
        }
    }
}

/// An EDN string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One op as an EDN map, in the history-wide form (register values as `[key value]`).
pub fn op(o: &Op) -> String {
    let v = if is_register(o.f) {
        format!("[{} {}]", o.key, value(&o.value))
    } else {
        value(&o.value)
    };
    map(o, &v, o.index, !is_register(o.f) && o.key != 0)
}

fn map(o: &Op, v: &str, index: usize, with_key: bool) -> String {
    let mut s = format!(
        "{{:type {}, :f {}, :value {}, :process {}, :time {}, :index {}",
        type_kw(o.typ),
        f_kw(o.f),
        v,
        o.process,
        o.time_ns,
        index
    );
    if with_key {
        let _ = write!(s, ", :key {}", o.key);
    }
    if let Some(e) = &o.error {
        let _ = write!(s, ", :error {}", string(e));
    }
    if let Some(n) = o.node {
        let _ = write!(s, ", :node {n}");
    }
    s.push('}');
    s
}

fn vector(lines: impl Iterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, l) in lines.enumerate() {
        if i > 0 {
            out.push_str("\n ");
        }
        out.push_str(&l);
    }
    out.push_str("]\n");
    out
}

/// The whole history as an EDN vector, one op per line.
pub fn history(h: &[Op]) -> String {
    vector(h.iter().map(op))
}

/// Per key, that key's register ops (read, write, cas) as a plain cas-register history:
/// values without the key, `:index` renumbered from 0 in history order.
pub fn register_histories(h: &[Op]) -> BTreeMap<u64, String> {
    let mut by_key: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    for o in h.iter().filter(|o| is_register(o.f)) {
        by_key.entry(o.key).or_default().push(o);
    }
    by_key
        .into_iter()
        .map(|(k, ops)| {
            let s = vector(
                ops.iter()
                    .enumerate()
                    .map(|(i, o)| map(o, &value(&o.value), i, false)),
            );
            (k, s)
        })
        .collect()
}

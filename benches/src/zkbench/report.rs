//! A run's results ([`Report`]), as a human table and as one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::histogram::{Histogram, MAX_RELATIVE_ERROR};
use super::options::{Length, OpKind};
use super::session::{OpStats, OpType};
use super::wire::error_name;
use crate::json::{self, Obj};

/// The percentiles reported per op type: (label, JSON key, percentile).
pub const PERCENTILES: [(&str, &str, f64); 4] = [
    ("p50", "p50", 50.0),
    ("p90", "p90", 90.0),
    ("p99", "p99", 99.0),
    ("p99.9", "p999", 99.9),
];

/// One op type's results.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeReport {
    pub op_type: OpType,
    pub stats: OpStats,
}

impl TypeReport {
    pub fn name(&self) -> &'static str {
        self.op_type.name()
    }

    pub fn hist(&self) -> &Histogram {
        &self.stats.hist
    }

    /// Errors by name (`NoNode`, `ConnectionLoss`, ...).
    pub fn errors(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for &(code, n) in &self.stats.errors {
            *m.entry(error_name(code)).or_insert(0) += n;
        }
        m
    }

    /// Ops that succeeded (for watch-fire: events timed after our setData).
    pub fn ok(&self) -> u64 {
        self.stats.ops - self.stats.error_count() - self.stats.early
    }
}

/// The results of a run (or of `populate`).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub op: OpKind,
    /// The connect string.
    pub servers: String,
    pub clients: usize,
    pub pipeline: usize,
    pub value_size: usize,
    pub keys: u64,
    pub read_ratio: f64,
    pub multi_size: usize,
    pub seed: u64,
    pub length: Length,
    pub warmup_secs: f64,
    pub setup_secs: f64,
    /// Keys the setup created, and existing ones it rewrote (their value size differed).
    pub keys_created: u64,
    pub keys_rewritten: u64,
    /// The measured phase: from the end of the warm-up to the last measured op's end (with
    /// `--duration`, at least the duration).
    pub secs: f64,
    /// Workload ops (a watch cycle is one) ended in the measured phase.
    pub ops: u64,
    pub warmup_ops: u64,
    /// `--count` ops never started because their session could not reconnect in time.
    pub abandoned: u64,
    pub connection_losses: u64,
    pub reconnects: u64,
    /// The op types of this op kind, in report order.
    pub types: Vec<TypeReport>,
    /// populate: the parents `/zk-bench/pop/p<first>..` this run filled.
    pub first_parent: u64,
    pub parents: u64,
    /// Things the reader should know (e.g. sessions that gave up, and why).
    pub notes: Vec<String>,
}

/// Nanoseconds as a short human string (`850ns`, `41.2us`, `412us`, `1.25ms`, `2.10s`).
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 100_000 {
        format!("{:.1}us", v / 1e3)
    } else if ns < 1_000_000 {
        format!("{:.0}us", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

impl Report {
    pub fn ops_per_sec(&self) -> f64 {
        per_sec(self.ops, self.secs)
    }

    /// The report of one op type (e.g. `"watch-fire"`).
    pub fn op_type(&self, name: &str) -> Option<&TypeReport> {
        self.types.iter().find(|t| t.name() == name)
    }

    /// Errors by name over every op type.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for t in &self.types {
            for (k, n) in t.errors() {
                *m.entry(k).or_insert(0) += n;
            }
        }
        m
    }

    pub fn error_count(&self) -> u64 {
        self.errors().values().sum()
    }

    fn command(&self) -> &'static str {
        if self.op == OpKind::Populate {
            "populate"
        } else {
            "run"
        }
    }

    /// One line describing the workload.
    pub fn title(&self) -> String {
        let mut s = format!(
            "zk-bench {}: {} clients x pipeline {} on {}, {} B values",
            self.op.name(),
            self.clients,
            self.pipeline,
            self.servers,
            self.value_size
        );
        if self.op.uses_keys() {
            let _ = write!(s, ", {} keys", self.keys);
        }
        match self.op {
            OpKind::Mixed => {
                let _ = write!(s, ", read ratio {}", self.read_ratio);
            }
            OpKind::Multi => {
                let _ = write!(s, ", {} setData per multi", self.multi_size);
            }
            _ => {}
        }
        s
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut s = self.title();
        s.push('\n');
        let _ = write!(s, "setup {:.2} s", self.setup_secs);
        if self.keys_created + self.keys_rewritten > 0 {
            let _ = write!(
                s,
                " ({} keys created, {} rewritten)",
                self.keys_created, self.keys_rewritten
            );
        }
        if self.warmup_secs > 0.0 {
            let _ = write!(
                s,
                "; warm-up {:.1} s ({} ops, not measured)",
                self.warmup_secs, self.warmup_ops
            );
        }
        let _ = writeln!(
            s,
            "; measured {:.2} s: {} ops, {:.0} ops/s, {} errors",
            self.secs,
            self.ops,
            self.ops_per_sec(),
            self.error_count()
        );
        if self.op == OpKind::Populate {
            let last = (self.first_parent + self.parents).saturating_sub(1);
            let _ = writeln!(
                s,
                "populate: {} znodes created under /zk-bench/pop/p{}..p{last}",
                self.types.first().map_or(0, TypeReport::ok),
                self.first_parent
            );
        }
        if self.connection_losses > 0 || self.abandoned > 0 {
            let _ = writeln!(
                s,
                "connection losses {}, reconnects {}, ops abandoned {}",
                self.connection_losses, self.reconnects, self.abandoned
            );
        }
        s.push('\n');
        let _ = write!(s, "{:<11} {:>10} {:>10}", "type", "ops", "ops/s");
        for (label, _, _) in PERCENTILES {
            let _ = write!(s, " {label:>9}");
        }
        let _ = writeln!(s, " {:>9} {:>9} {:>8}", "max", "mean", "errors");
        for t in &self.types {
            let h = t.hist();
            let _ = write!(
                s,
                "{:<11} {:>10} {:>10.0}",
                t.name(),
                t.stats.ops,
                per_sec(t.stats.ops, self.secs)
            );
            let lat = |v: u64| {
                if h.count() == 0 {
                    "-".to_owned()
                } else {
                    fmt_ns(v)
                }
            };
            for (_, _, p) in PERCENTILES {
                let _ = write!(s, " {:>9}", lat(h.percentile(p)));
            }
            let _ = writeln!(
                s,
                " {:>9} {:>9} {:>8}",
                lat(h.max()),
                lat(h.mean().round() as u64),
                t.stats.error_count()
            );
        }
        let errors: Vec<String> = self
            .types
            .iter()
            .flat_map(|t| {
                t.errors()
                    .into_iter()
                    .map(move |(k, n)| format!("{} {k} {n}", t.name()))
            })
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(s, "\nerrors: {}", errors.join(", "));
        }
        if let Some(t) = self.op_type("watch-fire").filter(|t| t.stats.early > 0) {
            let _ = writeln!(
                s,
                "watch-fire: {} events came before our setData was sent (another session's \
                 setData fired the watch) and are not timed",
                t.stats.early
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// The report as one JSON object on one line (latencies in microseconds).
    pub fn json(&self) -> String {
        let errors =
            |m: BTreeMap<String, u64>| m.into_iter().fold(Obj::new(), |o, (k, n)| o.uint(&k, n));
        let types = self.types.iter().map(|t| {
            let h = t.hist();
            let us = |ns: u64| ns as f64 / 1e3;
            let mut lat = Obj::new()
                .uint("count", h.count())
                .num("min", us(h.min()))
                .num("mean", h.mean() / 1e3);
            for (_, key, p) in PERCENTILES {
                lat = lat.num(key, us(h.percentile(p)));
            }
            lat = lat.num("max", us(h.max()));
            let mut o = Obj::new()
                .str("type", t.name())
                .uint("ops", t.stats.ops)
                .uint("ok", t.ok())
                .num("ops_per_sec", per_sec(t.stats.ops, self.secs))
                .obj("errors", errors(t.errors()));
            if t.op_type == OpType::WatchFire {
                o = o.uint("early", t.stats.early);
            }
            o.obj("latency_us", lat).render()
        });
        let (duration, count) = match self.length {
            Length::Duration(d) => (Some(d.as_secs_f64()), None),
            Length::Count(n) => (None, Some(n)),
        };
        let mut o = Obj::new()
            .str("tool", "zk-bench")
            .str("command", self.command())
            .str("op", self.op.name())
            .str("servers", &self.servers)
            .uint("clients", self.clients as u64)
            .uint("pipeline", self.pipeline as u64)
            .uint("value_size", self.value_size as u64)
            .uint("keys", self.keys)
            .num("read_ratio", self.read_ratio)
            .uint("multi_size", self.multi_size as u64)
            .uint("seed", self.seed)
            .raw("duration_secs", duration.map_or("null".into(), json::num))
            .opt_uint("count", count)
            .num("warmup_secs", self.warmup_secs)
            .num("setup_secs", self.setup_secs)
            .uint("keys_created", self.keys_created)
            .uint("keys_rewritten", self.keys_rewritten)
            .num("secs", self.secs)
            .uint("ops", self.ops)
            .num("ops_per_sec", self.ops_per_sec())
            .uint("warmup_ops", self.warmup_ops)
            .uint("abandoned", self.abandoned)
            .uint("connection_losses", self.connection_losses)
            .uint("reconnects", self.reconnects)
            .uint("error_count", self.error_count())
            .obj("errors", errors(self.errors()))
            .raw("types", json::array(types))
            .num("histogram_max_relative_error", MAX_RELATIVE_ERROR);
        if self.op == OpKind::Populate {
            o = o
                .uint("znodes", self.types.first().map_or(0, TypeReport::ok))
                .uint("first_parent", self.first_parent)
                .uint("parents", self.parents);
        }
        o.raw(
            "notes",
            json::array(self.notes.iter().map(|n| json::string(n))),
        )
        .render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) fn sample() -> Report {
        let mut get = OpStats::default();
        for v in 1..=1000u64 {
            get.hist.record(v * 1000);
        }
        get.ops = 1003;
        get.errors = vec![(-101, 2), (-4, 1)];
        let mut set = OpStats::default();
        set.hist.record(2_500_000);
        set.ops = 1;
        Report {
            op: OpKind::Mixed,
            servers: "127.0.0.1:2181".into(),
            clients: 2,
            pipeline: 1,
            value_size: 100,
            keys: 10,
            read_ratio: 0.9,
            multi_size: 4,
            seed: 1,
            length: Length::Duration(Duration::from_secs(2)),
            warmup_secs: 0.0,
            setup_secs: 0.01,
            keys_created: 10,
            keys_rewritten: 0,
            secs: 2.0,
            ops: 1004,
            warmup_ops: 0,
            abandoned: 0,
            connection_losses: 1,
            reconnects: 1,
            types: vec![
                TypeReport {
                    op_type: OpType::Get,
                    stats: get,
                },
                TypeReport {
                    op_type: OpType::Set,
                    stats: set,
                },
            ],
            first_parent: 0,
            parents: 0,
            notes: vec!["a \"quoted\" note".into()],
        }
    }

    #[test]
    fn latencies_are_formatted() {
        assert_eq!(fmt_ns(850), "850ns");
        assert_eq!(fmt_ns(41_234), "41.2us");
        assert_eq!(fmt_ns(412_000), "412us");
        assert_eq!(fmt_ns(1_250_000), "1.25ms");
        assert_eq!(fmt_ns(2_100_000_000), "2.10s");
    }

    #[test]
    fn table_has_a_row_per_type_and_the_errors() {
        let t = sample().table();
        assert!(t.contains("zk-bench mixed: 2 clients x pipeline 1"), "{t}");
        assert!(
            t.lines()
                .any(|l| l.starts_with("get ") && l.contains("1003")),
            "{t}"
        );
        assert!(
            t.lines()
                .any(|l| l.starts_with("set ") && l.contains("2.50ms")),
            "{t}"
        );
        assert!(t.contains("get ConnectionLoss 1, get NoNode 2"), "{t}");
        assert!(t.contains("502 ops/s"), "{t}");
    }

    #[test]
    fn json_has_the_figures() {
        let r = sample();
        let j = super::super::jsonv::parse(&r.json()).unwrap();
        assert_eq!(j.get("ops").and_then(|v| v.as_f64()), Some(1004.0));
        assert_eq!(j.get("ops_per_sec").and_then(|v| v.as_f64()), Some(502.0));
        assert_eq!(j.get("duration_secs").and_then(|v| v.as_f64()), Some(2.0));
        assert!(j.get("count").is_some_and(|v| v.is_null()));
        let errors = j.get("errors").unwrap();
        assert_eq!(errors.get("NoNode").and_then(|v| v.as_f64()), Some(2.0));
        assert_eq!(
            errors.get("ConnectionLoss").and_then(|v| v.as_f64()),
            Some(1.0)
        );
        let types = j.get("types").and_then(|v| v.as_array()).unwrap();
        assert_eq!(types.len(), 2);
        assert_eq!(types[0].get("type").and_then(|v| v.as_str()), Some("get"));
        assert_eq!(types[0].get("ok").and_then(|v| v.as_f64()), Some(1000.0));
        let lat = types[0].get("latency_us").unwrap();
        assert_eq!(lat.get("max").and_then(|v| v.as_f64()), Some(1000.0));
        let p50 = lat.get("p50").and_then(|v| v.as_f64()).unwrap();
        assert!((500.0..=504.0).contains(&p50), "{p50}");
        assert_eq!(
            j.get("notes").and_then(|v| v.as_array()).unwrap()[0].as_str(),
            Some("a \"quoted\" note")
        );
    }
}

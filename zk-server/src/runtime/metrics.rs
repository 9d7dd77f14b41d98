//! One source of monitoring values for `mntr`, the admin server's `monitor` command and the
//! Prometheus `/metrics` endpoint, as in ZooKeeper (whose `mntr` and `monitor` print the metrics
//! provider's map, and whose Prometheus provider exports the same metrics).
//!
//! [`collect`] reads the core, the runtime's counters ([`Metrics`]) and Zab's state into a list
//! of [`Metric`]s with ZooKeeper's names and types; [`monitor_rows`] flattens it as ZooKeeper's
//! default provider does (a summary `x` becomes `avg_x`, `min_x`, `max_x`, `cnt_x`, `sum_x`, and
//! with percentiles `p50_x`, `p95_x`, `p99_x`, `p999_x`); [`prometheus_text`] renders it in the
//! Prometheus text format as ZooKeeper's Prometheus provider does (gauges, counters, summaries
//! with `quantile` 0.5 — and 0.9, 0.99 for the detailed ones — plus `_sum` and `_count`).
//!
//! Only values the server really keeps are here; see `docs/operations.md` for ZooKeeper's
//! metrics left out.

use std::fmt;

use prometheus::proto;

use super::four_letter::{self, FourLetterContext};
use crate::core::stats::Summary;
use crate::core::{Core, Now};

/// Counters and distributions the runtime keeps (the core keeps its own in `core.stats`).
/// Reset by `srst` / `stat_reset`, as ZooKeeper's default provider resets its metrics.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    /// Times this server entered LOOKING.
    pub looking_count: u64,
    /// Leader: learners synchronised without a snapshot (DIFF or TRUNC).
    pub diff_count: u64,
    /// Leader: learners synchronised with a snapshot (SNAP).
    pub snap_count: u64,
    /// Leader: proposals made.
    pub proposal_count: u64,
    /// Leader: proposals committed.
    pub commit_count: u64,
    /// Client connections accepted.
    pub connection_request_count: u64,
    /// Client connections refused (`maxClientCnxns`).
    pub connection_rejected: u64,
    /// Leader: session revalidations answered for learners.
    pub revalidate_count: u64,
    /// Learner: PROPOSAL packets received.
    pub learner_proposal_received_count: u64,
    /// Learner: COMMIT (follower) or INFORM (observer) packets received.
    pub learner_commit_received_count: u64,
    /// ms per txn log fsync (group commit).
    pub fsynctime: Summary,
    /// Txns per group commit.
    pub sync_processor_batch_size: Summary,
    /// ms per snapshot written.
    pub snapshottime: Summary,
    /// ms to load the database at start-up.
    pub dbinittime: Summary,
    /// Txns replayed from the log at start-up, and the ms that took (only when the log had
    /// txns after the snapshot, as ZooKeeper's `fastForwardFromEdits` records them).
    pub startup_txns_loaded: Summary,
    pub startup_txns_load_time: Summary,
    /// ms to find and load the newest snapshot at start-up (also with none to load).
    pub startup_snap_load_time: Summary,
    /// ms from entering LOOKING to leading or following.
    pub election_time: Summary,
    /// Follower / observer: ms from connecting to the leader to UPTODATE.
    pub follower_sync_time: Summary,
    pub observer_sync_time: Summary,
    /// Learner: ms from the leader stamping a txn to its PROPOSAL arriving here.
    pub proposal_latency: Summary,
    /// Learner: wall ms from the leader stamping a txn to its COMMIT (INFORM) arriving here.
    pub commit_propagation_latency: Summary,
    /// Leader: ms from stamping a txn to a quorum acknowledging it.
    pub quorum_ack_latency: Summary,
    /// Ensemble members: ms from ceasing to serve (start-up, or losing the leader) to serving
    /// again (Zab's broadcast phase), and of those the ones ended by leading.
    pub unavailable_time: Summary,
    pub leader_unavailable_time: Summary,
    /// When this server stopped serving (monotonic ms); `None` while in broadcast.
    pub unavailable_since_ms: Option<u64>,
    /// When this server last entered LOOKING (monotonic ms); `None` while not looking.
    pub looking_since_ms: Option<u64>,
    /// When this learner started syncing with its leader (monotonic ms).
    pub sync_started_ms: Option<u64>,
    /// Leader: when it started leading (monotonic ms; `leader_uptime`).
    pub leading_since_ms: Option<u64>,
    /// Leader: sizes of its proposals (`*_proposal_size`, `proposal_stats`).
    pub proposal_stats: crate::core::stats::BufferStats,
    /// Client TLS handshakes under way (`outstanding_tls_handshake`), and those that failed
    /// (`unsuccessful_handshake`).
    pub outstanding_tls_handshakes: u64,
    pub unsuccessful_handshake: u64,
    /// Plaintext client connections accepted from loopback / other addresses
    /// (`non_mtls_local_conn_count`, `non_mtls_remote_conn_count`; not reset by `srst`, as
    /// ZooKeeper's `ServerStats.reset` leaves them).
    pub non_mtls_local_conns: u64,
    pub non_mtls_remote_conns: u64,
    /// Client connections closed for sending no ConnectRequest within 10 s.
    pub sessionless_connections_expired: u64,
    /// TLS clients refused by `zookeeper.netty.server.outstandingHandshake.limit`.
    pub tls_handshake_exceeded: u64,
    /// Leader: syncs in progress, by learner (sent DIFF/TRUNC or SNAP, NEWLEADER not yet
    /// acknowledged), and the count of that kind when one begins or ends
    /// (`inflight_diff_count`, `inflight_snap_count`).
    pub syncs_in_flight: std::collections::BTreeMap<u64, SyncKind>,
    pub inflight_diff_count: Summary,
    pub inflight_snap_count: Summary,
    /// Leader and followers: proposals logged and not yet durable, with their txn time; and
    /// wall ms from that time to the ACK (durable in the log) (`proposal_ack_creation_latency`).
    pub awaiting_ack: std::collections::VecDeque<(i64, i64)>,
    pub proposal_ack_creation_latency: Summary,
}

/// How a leader synchronises a learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// DIFF or TRUNC.
    Diff,
    Snap,
}

impl Metrics {
    /// A proposal (txn time `time`) handed to the log, to be acknowledged once durable.
    pub(crate) fn logged_for_ack(&mut self, zxid: i64, time: i64) {
        self.awaiting_ack.push_back((zxid, time));
    }

    /// Everything logged up to `last` is durable: its ACKs are created now (as ZooKeeper's
    /// `AckRequestProcessor` / `SendAckRequestProcessor` log them; negative spans are skew).
    pub(crate) fn acks_created(&mut self, last: i64, wall_ms: i64) {
        while let Some(&(zxid, time)) = self.awaiting_ack.front() {
            if zxid > last {
                break;
            }
            self.awaiting_ack.pop_front();
            if wall_ms >= time {
                self.proposal_ack_creation_latency.record(wall_ms - time);
            }
        }
    }

    fn inflight(&mut self, kind: SyncKind) {
        let n = self
            .syncs_in_flight
            .values()
            .filter(|k| **k == kind)
            .count() as i64;
        match kind {
            SyncKind::Diff => self.inflight_diff_count.record(n),
            SyncKind::Snap => self.inflight_snap_count.record(n),
        }
    }

    /// Leader: a sync of `learner` began (as ZooKeeper's `LearnerSyncThrottler.beginSync`).
    pub(crate) fn sync_began(&mut self, learner: u64, kind: SyncKind) {
        self.syncs_in_flight.insert(learner, kind);
        self.inflight(kind);
    }

    /// Leader: `syncing` are the learners still syncing, `connected` all learners. A sync no
    /// longer in progress ended: recorded when its learner acknowledged NEWLEADER (is still
    /// connected), as ZooKeeper records `endSync`; forgotten when the learner went away.
    pub(crate) fn syncs_still(&mut self, syncing: &[u64], connected: &[u64]) {
        let ended: Vec<(u64, SyncKind)> = self
            .syncs_in_flight
            .iter()
            .filter(|(id, _)| !syncing.contains(id))
            .map(|(id, k)| (*id, *k))
            .collect();
        for (id, kind) in ended {
            self.syncs_in_flight.remove(&id);
            if connected.contains(&id) {
                self.inflight(kind);
            }
        }
    }

    /// Notes what a client listener reported.
    /// Notes what a client listener reported; a failed TLS handshake is also an authentication
    /// failure (`auth_failed_count`), as ZooKeeper counts it.
    pub(crate) fn transport(
        &mut self,
        ev: super::tls::TransportEvent,
        stats: &mut crate::core::stats::ServerStats,
    ) {
        use super::tls::TransportEvent as E;
        match ev {
            E::HandshakeStarted => self.outstanding_tls_handshakes += 1,
            E::HandshakeEnded { ok } => {
                self.outstanding_tls_handshakes = self.outstanding_tls_handshakes.saturating_sub(1);
                if !ok {
                    self.unsuccessful_handshake += 1;
                    stats.auth_failed += 1;
                }
            }
            E::Plaintext { loopback: true } => self.non_mtls_local_conns += 1,
            E::Plaintext { loopback: false } => self.non_mtls_remote_conns += 1,
            E::SessionlessExpired => self.sessionless_connections_expired += 1,
            E::HandshakeExceeded => self.tls_handshake_exceeded += 1,
        }
    }

    /// `srst`: forget counts and distributions (timing state is kept).
    pub fn reset(&mut self) {
        *self = Metrics {
            looking_since_ms: self.looking_since_ms,
            unavailable_since_ms: self.unavailable_since_ms,
            sync_started_ms: self.sync_started_ms,
            leading_since_ms: self.leading_since_ms,
            syncs_in_flight: std::mem::take(&mut self.syncs_in_flight),
            awaiting_ack: std::mem::take(&mut self.awaiting_ack),
            outstanding_tls_handshakes: self.outstanding_tls_handshakes,
            non_mtls_local_conns: self.non_mtls_local_conns,
            non_mtls_remote_conns: self.non_mtls_remote_conns,
            ..Metrics::default()
        };
    }
}

/// The start-up load's figures, as ZooKeeper's `FileTxnSnapLog.restore` records them.
pub fn record_recovery(m: &mut Metrics, rec: &crate::storage::recovery::Recovered) {
    m.startup_snap_load_time.record(rec.snap_load_ms as i64);
    if rec.replayed > 0 {
        m.startup_txns_loaded.record(rec.replayed as i64);
        m.startup_txns_load_time.record(rec.txns_load_ms as i64);
    }
}

/// Zab's state as the monitor shows it (a replicated server only).
#[derive(Debug, Clone, Default)]
pub struct ZabView {
    /// Leader only: learners connected, followers synced, observers synced, sync barriers
    /// waiting.
    pub leader: Option<LeaderView>,
    /// Voting members of the ensemble.
    pub quorum_size: usize,
    /// ZooKeeper's detailed peer state: `looking`, or `<state> - <zab phase>`.
    pub peer_state: String,
    /// The Zab phase's name (`zabstate`).
    pub phase: &'static str,
    /// The leader this server follows, or this server when it leads.
    pub leader_id: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct LeaderView {
    pub learners: usize,
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub pending_syncs: usize,
    /// The observers connected (`observers`).
    pub observer_ids: Vec<u64>,
}

/// A value as ZooKeeper's monitor map holds it (Java `Long`, `Double` or `String`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => f.write_str(&four_letter::java_double(*v)),
            Value::Str(s) => f.write_str(s),
        }
    }
}

impl Value {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(v) => (*v).into(),
            Value::Float(v) => serde_json::Number::from_f64(*v)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => s.clone().into(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Str(_) => None,
        }
    }
}

/// One metric with ZooKeeper's name and type.
#[derive(Debug, Clone)]
pub enum Metric {
    /// `version`, `server_state`, `peer_state`: in `mntr` / `monitor` only.
    Info(&'static str, String),
    Gauge(&'static str, Value),
    Counter(&'static str, u64),
    /// ZooKeeper's `GaugeSet` / `CounterSet`: one value per key, printed `<key>_<name>` in
    /// `mntr` and labelled `key="<key>"` in Prometheus.
    GaugeSet(&'static str, Vec<(String, i64)>),
    CounterSet(&'static str, Vec<(String, u64)>),
    /// ZooKeeper's basic `SummarySet`: a summary per key (`avg_<key>_<name>`.. in `mntr`).
    SummarySet(&'static str, Vec<(String, Summary)>),
    /// `detailed`: ZooKeeper's `DetailLevel.ADVANCED` (percentiles in `mntr`, quantiles 0.5,
    /// 0.9 and 0.99 in Prometheus; otherwise only the median there).
    Summary {
        name: &'static str,
        summary: Summary,
        detailed: bool,
    },
}

/// `/proc/self/fd` entries, less the one the listing itself holds open (as the JDK's
/// `UnixOperatingSystemMXBean.getOpenFileDescriptorCount` counts them).
fn open_fd_count() -> Option<i64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    Some(n.saturating_sub(1))
}

/// The soft `RLIMIT_NOFILE`, as the JDK's `getMaxFileDescriptorCount` reports it
/// (`unlimited` is `RLIM_INFINITY`, which Java prints as -1).
fn max_fd_count() -> Option<i64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(-1)
    } else {
        soft.parse().ok()
    }
}

/// Everything the server monitors, now.
pub fn collect(core: &Core, ctx: &FourLetterContext, now: Now) -> Vec<Metric> {
    use Metric::{Counter, Gauge, Info};
    let s = &core.stats;
    let m = &ctx.metrics;
    let int = |v: usize| Value::Int(v as i64);
    let mut out = vec![
        Info("version", four_letter::ZK_VERSION_BUILT.to_owned()),
        Info("server_state", ctx.mode.to_owned()),
    ];
    if let Some(z) = &ctx.zab {
        out.push(Info("peer_state", z.peer_state.clone()));
    }
    out.extend([
        Gauge("ephemerals_count", int(core.tree.ephemeral_count())),
        Gauge("num_alive_connections", int(core.conns.len())),
        Gauge(
            "avg_latency",
            Value::Float(four_letter::round4(s.latency.avg_ms())),
        ),
        Gauge("outstanding_requests", int(core.outstanding_requests())),
        // ZooKeeper's node map holds the root twice ("" and "/"), and its count shows it.
        Gauge("znode_count", int(core.tree.node_count() + 1)),
        Gauge("global_sessions", int(core.sessions.len())),
        Gauge("packets_sent", Value::Int(s.packets_sent as i64)),
        Gauge("packets_received", Value::Int(s.packets_received as i64)),
        Gauge(
            "watch_count",
            int(core.data_watches.watch_count() + core.child_watches.watch_count()),
        ),
        Gauge(
            "min_latency",
            Value::Int(s.latency.min_ms.unwrap_or(0) as i64),
        ),
    ]);
    out.extend([
        Gauge(
            "last_client_response_size",
            Value::Int(s.client_response.last),
        ),
        Gauge(
            "max_client_response_size",
            Value::Int(s.client_response.max),
        ),
        Gauge(
            "min_client_response_size",
            Value::Int(s.client_response.min),
        ),
        Gauge(
            "outstanding_tls_handshake",
            Value::Int(m.outstanding_tls_handshakes as i64),
        ),
        Gauge("auth_failed_count", Value::Int(s.auth_failed as i64)),
        Gauge(
            "non_mtls_remote_conn_count",
            Value::Int(m.non_mtls_remote_conns as i64),
        ),
        Gauge(
            "non_mtls_local_conn_count",
            Value::Int(m.non_mtls_local_conns as i64),
        ),
    ]);
    if let Some(n) = max_fd_count() {
        out.push(Gauge("max_file_descriptor_count", Value::Int(n)));
    }
    out.push(Gauge(
        "approximate_data_size",
        Value::Int(core.tree.approximate_data_size() as i64),
    ));
    if let Some(n) = open_fd_count() {
        out.push(Gauge("open_file_descriptor_count", Value::Int(n)));
    }
    if let Some(z) = &ctx.zab {
        if let Some(l) = &z.leader {
            let p = &m.proposal_stats;
            out.extend([
                Gauge("learners", int(l.learners)),
                Gauge("synced_followers", int(l.synced_followers)),
                Gauge("synced_observers", int(l.synced_observers)),
                Gauge("pending_syncs", int(l.pending_syncs)),
                Gauge("last_proposal_size", Value::Int(p.last)),
                Gauge("min_proposal_size", Value::Int(p.min)),
                Gauge("max_proposal_size", Value::Int(p.max)),
            ]);
            if let Some(since) = m.leading_since_ms {
                out.push(Gauge(
                    "leader_uptime",
                    Value::Int(now.mono_ms.saturating_sub(since) as i64),
                ));
            }
        }
        out.push(Gauge("quorum_size", int(z.quorum_size)));
    }
    out.extend([
        Gauge("uptime", Value::Int(now.wall_ms - ctx.started_wall_ms())),
        Gauge("max_latency", Value::Int(s.latency.max_ms as i64)),
    ]);
    let q = core.tree.quota_figures();
    let set = |m: std::collections::BTreeMap<String, i64>| m.into_iter().collect();
    out.extend([
        Metric::GaugeSet("quota_count_limit_per_namespace", set(q.count_limit)),
        Metric::GaugeSet("quota_bytes_limit_per_namespace", set(q.bytes_limit)),
        Metric::GaugeSet("quota_count_usage_per_namespace", set(q.count_usage)),
        Metric::GaugeSet("quota_bytes_usage_per_namespace", set(q.bytes_usage)),
    ]);
    out.extend([
        Counter("proposal_count", m.proposal_count),
        Counter("looking_count", m.looking_count),
        Counter("digest_mismatches_count", s.digest_mismatches),
        Counter("bytes_received_count", s.bytes_received),
        Counter("connection_request_count", m.connection_request_count),
        Counter(
            "learner_proposal_received_count",
            m.learner_proposal_received_count,
        ),
        Counter(
            "learner_commit_received_count",
            m.learner_commit_received_count,
        ),
        Counter("diff_count", m.diff_count),
        Counter("snap_count", m.snap_count),
        Counter("commit_count", m.commit_count),
        Counter("revalidate_count", m.revalidate_count),
        Counter("stale_sessions_expired", s.expired_sessions),
        Counter("connection_rejected", m.connection_rejected),
        Counter("response_bytes", s.response_bytes),
        Counter("watch_bytes", s.watch_bytes),
        Counter("unsuccessful_handshake", m.unsuccessful_handshake),
        Counter("tls_handshake_exceeded", m.tls_handshake_exceeded),
        Counter("connection_revalidate_count", s.connection_revalidate),
        Counter(
            "sessionless_connections_expired",
            m.sessionless_connections_expired,
        ),
        Metric::CounterSet(
            "quota_exceeded_error_per_namespace",
            s.quota_exceeded_errors
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        ),
    ]);
    let summary = |name, summary: &Summary, detailed| Metric::Summary {
        name,
        summary: summary.clone(),
        detailed,
    };
    out.extend([
        summary("fsynctime", &m.fsynctime, false),
        summary(
            "sync_processor_batch_size",
            &m.sync_processor_batch_size,
            false,
        ),
        summary("snapshottime", &m.snapshottime, false),
        summary("dbinittime", &m.dbinittime, false),
        summary("startup_txns_loaded", &m.startup_txns_loaded, false),
        summary("startup_txns_load_time", &m.startup_txns_load_time, false),
        summary("startup_snap_load_time", &m.startup_snap_load_time, false),
        summary("election_time", &m.election_time, false),
        summary("follower_sync_time", &m.follower_sync_time, false),
        summary("observer_sync_time", &m.observer_sync_time, false),
        summary("inflight_diff_count", &m.inflight_diff_count, false),
        summary("inflight_snap_count", &m.inflight_snap_count, false),
        summary("unavailable_time", &m.unavailable_time, false),
        summary("leader_unavailable_time", &m.leader_unavailable_time, false),
        summary("node_created_watch_count", &s.node_created_watch, false),
        summary("node_deleted_watch_count", &s.node_deleted_watch, false),
        summary("node_changed_watch_count", &s.node_changed_watch, false),
        summary("node_children_watch_count", &s.node_children_watch, false),
        Metric::SummarySet(
            "write_per_namespace",
            s.write_per_namespace
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Metric::SummarySet(
            "read_per_namespace",
            s.read_per_namespace
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        summary("readlatency", &s.read_latency, true),
        summary("updatelatency", &s.update_latency, true),
        summary("proposal_latency", &m.proposal_latency, true),
        summary("propagation_latency", &s.propagation_latency, true),
        summary(
            "proposal_ack_creation_latency",
            &m.proposal_ack_creation_latency,
            true,
        ),
        summary(
            "commit_propagation_latency",
            &m.commit_propagation_latency,
            true,
        ),
        summary("quorum_ack_latency", &m.quorum_ack_latency, true),
    ]);
    out
}

/// The monitor map: what `mntr` prints (as `zk_<key>\t<value>`) and `monitor` answers.
pub fn monitor_rows(metrics: &[Metric]) -> Vec<(String, Value)> {
    let mut rows = Vec::new();
    for m in metrics {
        match m {
            Metric::Info(k, v) => rows.push(((*k).to_owned(), Value::Str(v.clone()))),
            Metric::Gauge(k, v) => rows.push(((*k).to_owned(), v.clone())),
            Metric::Counter(k, v) => rows.push(((*k).to_owned(), Value::Int(*v as i64))),
            Metric::GaugeSet(name, vs) => rows.extend(
                vs.iter()
                    .map(|(k, v)| (format!("{k}_{name}"), Value::Int(*v))),
            ),
            Metric::CounterSet(name, vs) => rows.extend(
                vs.iter()
                    .map(|(k, v)| (format!("{k}_{name}"), Value::Int(*v as i64))),
            ),
            Metric::SummarySet(name, set) => {
                for (k, s) in set {
                    summary_rows(&mut rows, &format!("{k}_{name}"), s, false);
                }
            }
            Metric::Summary {
                name,
                summary: s,
                detailed,
            } => summary_rows(&mut rows, name, s, *detailed),
        }
    }
    rows
}

/// A summary as ZooKeeper's default provider prints it.
fn summary_rows(rows: &mut Vec<(String, Value)>, name: &str, s: &Summary, detailed: bool) {
    rows.extend([
        (
            format!("avg_{name}"),
            Value::Float(four_letter::round4(s.avg())),
        ),
        (format!("min_{name}"), Value::Int(s.min.unwrap_or(0))),
        (format!("max_{name}"), Value::Int(s.max.unwrap_or(0))),
        (format!("cnt_{name}"), Value::Int(s.count as i64)),
        (format!("sum_{name}"), Value::Int(s.sum)),
    ]);
    if detailed {
        let values = s.quantiles(&[0.5, 0.95, 0.99, 0.999]);
        for (p, v) in ["p50", "p95", "p99", "p999"].into_iter().zip(values) {
            rows.push((format!("{p}_{name}"), Value::Int(v.round() as i64)));
        }
    }
}

/// `mntr`'s text.
pub fn mntr_text(metrics: &[Metric]) -> String {
    let mut out = String::new();
    for (k, v) in monitor_rows(metrics) {
        out.push_str(&format!("zk_{k}\t{v}\n"));
    }
    out
}

/// The metric families ZooKeeper's Prometheus provider would export for these metrics
/// (names are the metric names; help is the name, as ZooKeeper registers them).
pub fn prometheus_families(metrics: &[Metric]) -> Vec<proto::MetricFamily> {
    use proto::MetricType::{COUNTER, GAUGE, SUMMARY};
    let mut out = Vec::new();
    for m in metrics {
        let (name, ty, samples): (&str, _, Vec<proto::Metric>) = match m {
            Metric::Info(..) => continue,
            Metric::Gauge(name, v) => {
                let Some(v) = v.as_f64() else { continue };
                (name, GAUGE, vec![gauge(proto::Metric::default(), v)])
            }
            Metric::Counter(name, v) => (
                name,
                COUNTER,
                vec![counter(proto::Metric::default(), *v as f64)],
            ),
            Metric::Summary {
                name,
                summary: s,
                detailed,
            } => {
                let mut pm = proto::Metric::default();
                pm.set_summary(prometheus_summary(s, *detailed));
                (name, SUMMARY, vec![pm])
            }
            // A set: one sample per key, labelled `key`.
            Metric::GaugeSet(name, vs) => (
                name,
                GAUGE,
                vs.iter().map(|(k, v)| gauge(keyed(k), *v as f64)).collect(),
            ),
            Metric::CounterSet(name, vs) => (
                name,
                COUNTER,
                vs.iter()
                    .map(|(k, v)| counter(keyed(k), *v as f64))
                    .collect(),
            ),
            Metric::SummarySet(name, set) => (
                name,
                SUMMARY,
                set.iter()
                    .map(|(k, s)| {
                        let mut pm = keyed(k);
                        pm.set_summary(prometheus_summary(s, false));
                        pm
                    })
                    .collect(),
            ),
        };
        // A set with no keys yet has no samples, and the text format then has nothing to
        // show for it.
        if samples.is_empty() {
            continue;
        }
        let mut f = proto::MetricFamily::default();
        f.set_name(name.to_owned());
        f.set_help(name.to_owned());
        f.set_field_type(ty);
        f.set_metric(samples);
        out.push(f);
    }
    out
}

/// A sample of a set, labelled `key`.
fn keyed(key: &str) -> proto::Metric {
    let mut label = proto::LabelPair::default();
    label.set_name("key".to_owned());
    label.set_value(key.to_owned());
    let mut pm = proto::Metric::default();
    pm.set_label(vec![label]);
    pm
}

fn gauge(mut pm: proto::Metric, v: f64) -> proto::Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v);
    pm.set_gauge(g);
    pm
}

fn counter(mut pm: proto::Metric, v: f64) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(v);
    pm.set_counter(c);
    pm
}

/// A summary as ZooKeeper's Prometheus provider exports it.
fn prometheus_summary(s: &Summary, detailed: bool) -> proto::Summary {
    let qs: &[f64] = if detailed { &[0.5, 0.9, 0.99] } else { &[0.5] };
    let quantiles = qs
        .iter()
        .zip(s.quantiles(qs))
        .map(|(&q, v)| {
            let mut pq = proto::Quantile::default();
            pq.set_quantile(q);
            // Like the Java client, NaN until something was observed.
            pq.set_value(if s.count == 0 { f64::NAN } else { v });
            pq
        })
        .collect();
    let mut ps = proto::Summary::default();
    ps.set_sample_count(s.count);
    ps.set_sample_sum(s.sum as f64);
    ps.set_quantile(quantiles);
    ps
}

/// The `/metrics` body, in the Prometheus text format (0.0.4).
pub fn prometheus_text(metrics: &[Metric]) -> String {
    use prometheus::Encoder as _;
    let mut buf = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&prometheus_families(metrics), &mut buf) {
        tracing::error!(error = %e, "encoding metrics");
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_flatten_as_zookeeper_prints_them() {
        let mut s = Summary::default();
        s.record(2);
        s.record(4);
        let ms = vec![
            Metric::Summary {
                name: "fsynctime",
                summary: s.clone(),
                detailed: false,
            },
            Metric::Summary {
                name: "readlatency",
                summary: s,
                detailed: true,
            },
        ];
        let text = mntr_text(&ms);
        assert!(text.starts_with(
            "zk_avg_fsynctime\t3.0\nzk_min_fsynctime\t2\nzk_max_fsynctime\t4\n\
             zk_cnt_fsynctime\t2\nzk_sum_fsynctime\t6\nzk_avg_readlatency\t3.0\n"
        ));
        assert!(text.contains("zk_p50_readlatency\t3\n"));
        assert!(text.contains("zk_p999_readlatency\t4\n"));
        assert!(!text.contains("p50_fsynctime"));
        let prom = prometheus_text(&ms);
        assert!(prom.contains("# TYPE fsynctime summary\n"));
        assert!(prom.contains("fsynctime{quantile=\"0.5\"} 3\n"));
        assert!(prom.contains("fsynctime_sum 6\nfsynctime_count 2\n"));
        assert!(prom.contains("readlatency{quantile=\"0.99\"} 4\n"));
        assert!(!prom.contains("fsynctime{quantile=\"0.9\"}"));
    }
}

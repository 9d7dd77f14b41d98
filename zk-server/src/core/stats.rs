//! Counters behind the four-letter words (`srvr`, `stat`, `cons`, `mntr`).

/// Per-connection counters (`cons`).
#[derive(Debug, Clone)]
pub struct ConnStats {
    pub established_mono_ms: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_op_mono_ms: u64,
    /// When this connection last answered a request (0 before any).
    pub last_response_mono_ms: u64,
    pub latency: Latency,
    /// A four-letter-word connection (shown with interest ops 0 by `cons`).
    pub four_letter: bool,
}

/// min/avg/max request latency in ms, as ZooKeeper's `AvgMinMaxCounter`.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub count: u64,
    pub total_ms: u64,
    pub min_ms: Option<u64>,
    pub max_ms: u64,
    pub last_ms: u64,
}

impl Latency {
    pub fn record(&mut self, ms: u64) {
        self.count += 1;
        self.total_ms += ms;
        self.min_ms = Some(self.min_ms.map_or(ms, |m| m.min(ms)));
        self.max_ms = self.max_ms.max(ms);
        self.last_ms = ms;
    }

    pub fn avg_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_ms as f64 / self.count as f64
        }
    }
}

impl ConnStats {
    pub fn new(now_ms: u64) -> Self {
        ConnStats {
            established_mono_ms: now_ms,
            packets_received: 0,
            packets_sent: 0,
            last_op: "NA",
            last_cxid: -1,
            last_zxid: -1,
            last_op_mono_ms: now_ms,
            last_response_mono_ms: 0,
            latency: Latency::default(),
            four_letter: false,
        }
    }

    pub fn reset(&mut self) {
        self.packets_received = 0;
        self.packets_sent = 0;
        self.last_op = "NA";
        self.last_cxid = -1;
        self.last_zxid = -1;
        self.last_response_mono_ms = 0;
        self.latency = Latency::default();
    }
}

/// Server-wide counters (`ServerStats`).
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency: Latency,
    pub expired_sessions: u64,
    /// Txns whose recorded tree digest differed from ours after applying them.
    pub digest_mismatches: u64,
    /// Bytes of client requests received, length prefix included (`bytes_received_count`).
    pub bytes_received: u64,
    /// Latency of requests answered without a txn (reads, pings, syncs): `readlatency`.
    pub read_latency: Summary,
    /// Latency of requests answered after a txn committed: `updatelatency`.
    pub update_latency: Summary,
    /// Bytes of answers to requests and of watch notifications, length prefixes excluded
    /// (`response_bytes`, `watch_bytes`).
    pub response_bytes: u64,
    pub watch_bytes: u64,
    /// Authentications refused (`auth_failed_count`).
    pub auth_failed: u64,
    /// Sizes of answers to client requests (`client_response_stats`, `*_client_response_size`).
    pub client_response: BufferStats,
    /// Watchers an event matched, per event type, for each event that matched any
    /// (`node_created_watch_count`, `node_deleted_watch_count`, `node_changed_watch_count`,
    /// `node_children_watch_count`).
    pub node_created_watch: Summary,
    pub node_deleted_watch: Summary,
    pub node_changed_watch: Summary,
    pub node_children_watch: Summary,
    /// Connects that resume an existing session (`connection_revalidate_count`), valid or not.
    pub connection_revalidate: u64,
    /// Wall ms from a txn's creation (its header's time) to applying it here
    /// (`propagation_latency`; negative values, from clock drift between servers, are dropped).
    pub propagation_latency: Summary,
    /// Reads and writes by namespace (first path component), in bytes as ZooKeeper's
    /// `DataTree.updateReadStat` / `updateWriteStat` count them (`read_per_namespace`,
    /// `write_per_namespace`): a read is the path, the data or child names read and a stat's
    /// 68 bytes; a write the path and the data written.
    pub read_per_namespace: std::collections::BTreeMap<String, Summary>,
    pub write_per_namespace: std::collections::BTreeMap<String, Summary>,
    /// Writes refused for a hard quota, by the namespace (first path component) of the path
    /// written (`quota_exceeded_error_per_namespace`).
    pub quota_exceeded_errors: std::collections::BTreeMap<String, u64>,
    /// `(zxid, tree digest)` after every txn whose zxid is a multiple of
    /// [`DIGEST_LOG_INTERVAL`], the last [`DIGEST_LOG_LIMIT`] of them (the admin `hash`
    /// command). Not reset by `srst`.
    pub digest_log: std::collections::VecDeque<(i64, i64)>,
}

/// Last, min and max of buffer sizes, -1 before any (ZooKeeper's `BufferStats`).
#[derive(Debug, Clone, Copy)]
pub struct BufferStats {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl Default for BufferStats {
    fn default() -> Self {
        BufferStats {
            last: -1,
            min: -1,
            max: -1,
        }
    }
}

impl BufferStats {
    pub fn record(&mut self, size: usize) {
        let size = size as i64;
        self.last = size;
        self.min = if self.min < 0 {
            size
        } else {
            self.min.min(size)
        };
        self.max = self.max.max(size);
    }
}

/// ZooKeeper's `DataTree.STAT_OVERHEAD_BYTES`: what a read's stat counts for.
pub const STAT_OVERHEAD_BYTES: usize = (6 * 8) + (5 * 4);

/// ZooKeeper's `DataTree.DIGEST_LOG_INTERVAL` and `DIGEST_LOG_LIMIT`.
pub const DIGEST_LOG_INTERVAL: i64 = 128;
pub const DIGEST_LOG_LIMIT: usize = 1024;

impl ServerStats {
    pub fn reset(&mut self) {
        // The digest log survives; a reset set keeps its keys, at zero (ZooKeeper's
        // `SimpleCounterSet`, `AvgMinMaxCounterSet`).
        self.quota_exceeded_errors.values_mut().for_each(|v| *v = 0);
        for set in [&mut self.read_per_namespace, &mut self.write_per_namespace] {
            set.values_mut()
                .for_each(|v| *v = Summary::with_window(NAMESPACE_WINDOW));
        }
        *self = ServerStats {
            digest_log: std::mem::take(&mut self.digest_log),
            quota_exceeded_errors: std::mem::take(&mut self.quota_exceeded_errors),
            read_per_namespace: std::mem::take(&mut self.read_per_namespace),
            write_per_namespace: std::mem::take(&mut self.write_per_namespace),
            ..ServerStats::default()
        };
    }

    /// A read of `p` returning `bytes` of data or child names (`read_per_namespace`).
    pub fn count_read(&mut self, p: &str, bytes: usize) {
        let v = (p.len() + bytes + STAT_OVERHEAD_BYTES) as i64;
        record_per_namespace(&mut self.read_per_namespace, p, v);
    }

    /// A create, setData or delete of `p` (`write_per_namespace`).
    pub fn count_write(&mut self, p: &str, data: Option<&Vec<u8>>) {
        let v = (p.len() + data.map_or(0, Vec::len)) as i64;
        record_per_namespace(&mut self.write_per_namespace, p, v);
    }

    /// Notes the tree digest after applying `zxid`, if it is one the digest log keeps.
    pub fn log_digest(&mut self, zxid: i64, digest: i64) {
        if zxid % DIGEST_LOG_INTERVAL == 0 {
            self.digest_log.push_back((zxid, digest));
            if self.digest_log.len() > DIGEST_LOG_LIMIT {
                self.digest_log.pop_front();
            }
        }
    }
}

/// Records `v` in the summary of `p`'s namespace. Every read and write passes here: the
/// namespace's name is allocated only the first time it is seen.
fn record_per_namespace(set: &mut std::collections::BTreeMap<String, Summary>, p: &str, v: i64) {
    let Some(ns) = super::quota::top_namespace(p) else {
        return;
    };
    match set.get_mut(ns) {
        Some(s) => s.record(v),
        None => set
            .entry(ns.to_owned())
            .or_insert_with(|| Summary::with_window(NAMESPACE_WINDOW))
            .record(v),
    }
}

/// The four-letter op names `cons` shows as `lop` (ZooKeeper's `lastOp` strings).
pub fn short_op_name(op: zk_proto::OpCode) -> &'static str {
    use zk_proto::OpCode::*;
    match op {
        Ping => "PING",
        Create | Create2 | CreateContainer | CreateTtl => "CREA",
        Delete | DeleteContainer => "DELE",
        Exists => "EXIS",
        GetData => "GETD",
        SetData => "SETD",
        GetAcl => "GETA",
        SetAcl => "SETA",
        GetChildren => "GETC",
        GetChildren2 => "GETC",
        Sync => "SYNC",
        Check => "CHEC",
        Multi => "MULT",
        MultiRead => "MLTR",
        Reconfig => "RECO",
        CheckWatches => "CHKW",
        RemoveWatches => "REMW",
        SetWatches | SetWatches2 => "SETW",
        GetEphemerals => "GETE",
        GetAllChildrenNumber => "GETACN",
        AddWatch => "ADDW",
        WhoAmI => "HOMI",
        CloseSession => "CLOSE",
        Auth => "AUTH",
        _ => "UNKN",
    }
}

/// How many recent values a [`Summary`] keeps for its percentiles.
pub const SUMMARY_WINDOW: usize = 4096;

/// How many recent values a per-namespace summary keeps for its median. There is one per
/// top-level znode and kind (read, write), so a tree with thousands of top-level znodes must not
/// cost [`SUMMARY_WINDOW`] values each: 256 values are 2 KiB, and a median of the last 256 is as
/// close as the 5% error ZooKeeper's Prometheus summaries allow their quantiles.
pub const NAMESPACE_WINDOW: usize = 256;

/// A distribution of values (ZooKeeper's `AvgMinMaxCounter`, and with `percentiles` its
/// `AvgMinMaxPercentileCounter`): count, sum, min, max over all values since the last reset,
/// percentiles over the last [`SUMMARY_WINDOW`] of them (or as many as [`Summary::with_window`]
/// says).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub count: u64,
    pub sum: i64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    window: std::collections::VecDeque<i64>,
    /// How many recent values `window` keeps; 0 means [`SUMMARY_WINDOW`].
    window_cap: usize,
}

impl Summary {
    /// A summary whose percentiles come from the last `cap` values.
    pub fn with_window(cap: usize) -> Summary {
        Summary {
            window_cap: cap,
            ..Summary::default()
        }
    }

    pub fn record(&mut self, v: i64) {
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        let cap = match self.window_cap {
            0 => SUMMARY_WINDOW,
            n => n,
        };
        if self.window.len() >= cap {
            self.window.pop_front();
        }
        self.window.push_back(v);
    }

    /// The mean, 0 before any value.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The `q` quantile (0..=1) of the recent values, interpolated as Dropwizard's
    /// `UniformSnapshot` (which ZooKeeper's percentile counter uses); 0 before any value.
    pub fn quantile(&self, q: f64) -> f64 {
        self.quantiles(&[q])[0]
    }

    /// [`quantile`](Self::quantile) of each of `qs`, sorting the recent values once.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<f64> {
        let mut v: Vec<i64> = self.window.iter().copied().collect();
        v.sort_unstable();
        qs.iter().map(|&q| sorted_quantile(&v, q)).collect()
    }
}

/// The `q` quantile of the sorted values `v` (see [`Summary::quantile`]); 0 for none.
fn sorted_quantile(v: &[i64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len();
    let pos = q * (n as f64 + 1.0);
    if pos < 1.0 {
        return v[0] as f64;
    }
    if pos >= n as f64 {
        return v[n - 1] as f64;
    }
    let i = pos.floor() as usize;
    let (lo, hi) = (v[i - 1] as f64, v[i] as f64);
    lo + (pos - pos.floor()) * (hi - lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_interpolates() {
        let mut s = Summary::default();
        assert_eq!((s.count, s.avg(), s.quantile(0.5)), (0, 0.0, 0.0));
        for v in [5, 1, 3] {
            s.record(v);
        }
        assert_eq!((s.count, s.sum, s.min, s.max), (3, 9, Some(1), Some(5)));
        assert_eq!(s.avg(), 3.0);
        assert_eq!(s.quantile(0.5), 3.0);
        assert_eq!(s.quantile(0.99), 5.0);
        assert_eq!(s.quantile(0.1), 1.0);
        for v in 0..(SUMMARY_WINDOW as i64 + 10) {
            s.record(v);
        }
        assert_eq!(s.min, Some(0));
        // Only the last SUMMARY_WINDOW values count for percentiles.
        assert_eq!(s.quantile(0.0), 10.0);
    }

    #[test]
    fn per_namespace_summaries_keep_a_short_window_and_reset_to_it() {
        let mut st = ServerStats::default();
        for i in 0..1000 {
            // "/a/0000".."/a/0999": 7 bytes of path, no data.
            st.count_write(&format!("/a/{i:04}"), None);
        }
        st.count_write("/b", Some(&vec![0; 10]));
        let a = &st.write_per_namespace["a"];
        assert_eq!((a.count, a.min, a.max), (1000, Some(7), Some(7)));
        assert_eq!(a.window.len(), NAMESPACE_WINDOW);
        assert_eq!(st.write_per_namespace["b"].sum, 12);
        st.reset();
        let a = &st.write_per_namespace["a"];
        assert_eq!((a.count, a.window.len()), (0, 0));
        for i in 0..(NAMESPACE_WINDOW + 5) {
            st.count_read(&"/a".repeat(1 + i % 2), 0);
        }
        // Still the short window after the reset.
        assert_eq!(st.read_per_namespace["a"].window.len(), NAMESPACE_WINDOW);
        assert_eq!(st.write_per_namespace["a"].window_cap, NAMESPACE_WINDOW);
    }
}

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
}

impl ServerStats {
    pub fn reset(&mut self) {
        *self = ServerStats::default();
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

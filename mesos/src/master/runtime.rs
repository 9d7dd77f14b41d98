//! The master's tokio shell around [`Master`]: one task owns the state and carries out its
//! effects in order; HTTP handlers reach it through [`Handle::run`]. Leader election and the
//! registry live in ZooKeeper (see `crate::zk`).
//!
//! Leadership: every master joins the `json.info_` group. The one with the lowest sequence
//! reads the registry, recovers from it and serves; the others redirect. A leader that loses
//! its ZooKeeper session or finds the registry written by someone else exits, as Mesos masters
//! do ("lost leadership"), so a supervisor restarts it as a follower.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use zk_client::{Acl, Client, CreateMode, Error as ZkError, ErrorCode};

use super::core::{AgentConn, CallError, Config, Effect, Master};
use crate::recordio;
use crate::zk::{MasterInfo, ZkUrl, MASTER_PREFIX};

/// Events a stream may have queued before its reader is considered stuck and dropped.
const STREAM_BUFFER: usize = 4096;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Who leads, as this master sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Leadership {
    pub elected: bool,
    pub leader: Option<MasterInfo>,
}

/// The state the master task owns.
pub struct State {
    pub master: Master,
    framework_streams: HashMap<String, mpsc::Sender<Bytes>>,
    agent_streams: HashMap<u64, mpsc::Sender<Bytes>>,
    next_conn: u64,
    registry: Option<RegistryStore>,
}

/// Where the registry is written: the znode and the version we last wrote.
struct RegistryStore {
    client: Client,
    path: String,
    version: i32,
}

/// A job runs on the state and returns what delivers its result, called only after the
/// effects it produced have been carried out.
type Job = Box<dyn FnOnce(&mut State, &mut Vec<Effect>) -> Box<dyn FnOnce() + Send> + Send>;

/// A cheap handle on the master task.
#[derive(Clone)]
pub struct Handle {
    jobs: mpsc::UnboundedSender<Job>,
    pub leadership: watch::Receiver<Leadership>,
    pub flags: Arc<BTreeMap<String, String>>,
    pub cluster: Option<String>,
    pub info: MasterInfo,
}

impl Handle {
    /// Runs `f` on the master's state, then carries out the effects it produced, then returns
    /// its result (so a persisted change is durable before the caller answers).
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State, &mut Vec<Effect>) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |st, fx| {
            let r = f(st, fx);
            Box::new(move || {
                let _ = tx.send(r);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the master task has stopped"))?;
        rx.await.context("the master task has stopped")
    }

    /// Opens a framework subscription: the stream's id and its receiving end.
    pub async fn subscribe(
        &self,
        call: Value,
    ) -> Result<std::result::Result<(String, String, mpsc::Receiver<Bytes>), CallError>> {
        let stream = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let s = stream.clone();
        let r = self
            .run(move |st, fx| {
                st.framework_streams.insert(s.clone(), tx);
                let r = st.master.subscribe(now_ms(), &s, &call, fx);
                if r.is_err() {
                    st.framework_streams.remove(&s);
                }
                r
            })
            .await?;
        let id = match r {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok((id, stream, rx)))
    }

    /// A framework's stream body was dropped (the scheduler disconnected, or we closed it).
    pub fn framework_stream_closed(&self, stream: String) {
        let h = self.clone();
        tokio::spawn(async move {
            let _ = h
                .run(move |st, _fx| {
                    st.framework_streams.remove(&stream);
                    st.master.framework_disconnected(now_ms(), &stream);
                })
                .await;
        });
    }

    /// An agent's stream body was dropped.
    pub fn agent_stream_closed(&self, agent_id: String, conn: u64) {
        let h = self.clone();
        tokio::spawn(async move {
            let _ = h
                .run(move |st, fx| {
                    st.agent_streams.remove(&conn);
                    st.master.agent_disconnected(now_ms(), &agent_id, conn, fx);
                })
                .await;
        });
    }

    /// Opens an agent's stream: (agent id, connection id, receiving end).
    pub async fn register_agent(
        &self,
        call: Value,
    ) -> Result<std::result::Result<(String, u64, mpsc::Receiver<Bytes>), CallError>> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let r = self
            .run(move |st, fx| {
                let conn = st.next_conn;
                st.next_conn += 1;
                st.agent_streams.insert(conn, tx);
                let r = st.master.register_agent(now_ms(), conn, &call, fx);
                if r.is_err() {
                    st.agent_streams.remove(&conn);
                }
                r.map(|id| (id, conn))
            })
            .await?;
        let (id, conn) = match r {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok((id, conn, rx)))
    }
}

/// Carries out effects in order. A failed registry write ends the process: this master can no
/// longer be sure it leads.
async fn execute(st: &mut State, fx: Vec<Effect>) {
    let mut queue: std::collections::VecDeque<Effect> = fx.into();
    while let Some(e) = queue.pop_front() {
        match e {
            Effect::Framework { stream, event } => {
                let Some(tx) = st.framework_streams.get(&stream) else {
                    continue;
                };
                let bytes = Bytes::from(recordio::encode(event.to_string().as_bytes()));
                if tx.try_send(bytes).is_err() {
                    // Its reader is gone (or stuck): the framework is disconnected.
                    tracing::warn!(%stream, "framework stream is full or closed; disconnecting");
                    st.framework_streams.remove(&stream);
                    st.master.framework_disconnected(now_ms(), &stream);
                }
            }
            Effect::CloseFramework { stream } => {
                st.framework_streams.remove(&stream);
            }
            Effect::Agent { conn, event } => {
                let Some(tx) = st.agent_streams.get(&conn) else {
                    continue;
                };
                let bytes = Bytes::from(recordio::encode(event.to_string().as_bytes()));
                if tx.try_send(bytes).is_err() {
                    tracing::warn!(conn, "agent stream is full or closed; disconnecting");
                    st.agent_streams.remove(&conn);
                    let agent = st
                        .master
                        .agents
                        .values()
                        .find(|a| a.conn == AgentConn::Connected(conn))
                        .map(|a| a.id.clone());
                    if let Some(agent) = agent {
                        let mut more = Vec::new();
                        st.master
                            .agent_disconnected(now_ms(), &agent, conn, &mut more);
                        queue.extend(more);
                    }
                }
            }
            Effect::CloseAgent { conn } => {
                st.agent_streams.remove(&conn);
            }
            Effect::Persist => {
                if let Err(e) = persist(st).await {
                    tracing::error!("registry write failed: {e:#}; exiting (lost leadership)");
                    std::process::exit(1);
                }
            }
        }
    }
}

async fn persist(st: &mut State) -> Result<()> {
    let registry = st.master.registry();
    let Some(store) = st.registry.as_mut() else {
        return Ok(()); // --registry=in_memory
    };
    let bytes = serde_json::to_vec(&registry)?;
    let mut attempts = 0;
    loop {
        match store
            .client
            .set_data(&store.path, &bytes, store.version)
            .await
        {
            Ok(stat) => {
                store.version = stat.version;
                return Ok(());
            }
            Err(ZkError::ConnectionLoss) if attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(ZkError::Server(ErrorCode::BadVersion)) => {
                // After a lost connection, the write we retried may have been applied: then
                // the znode holds exactly our bytes, one version on.
                if attempts > 0 {
                    if let Ok((data, stat)) = store.client.get_data(&store.path).await {
                        if data == bytes && stat.version == store.version + 1 {
                            store.version = stat.version;
                            return Ok(());
                        }
                    }
                }
                bail!("the registry was written by another master")
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How the master runs.
pub struct Options {
    pub info: MasterInfo,
    pub config: Config,
    pub zk: Option<ZkUrl>,
    pub zk_session_timeout: Duration,
    /// Keep the registry in ZooKeeper (`--registry=replicated_log`, the default) or only in
    /// memory.
    pub registry_in_zk: bool,
    pub flags: BTreeMap<String, String>,
    pub cluster: Option<String>,
}

/// Starts the master task and the election; returns the handle for the HTTP server.
pub async fn start(opts: Options) -> Result<Handle> {
    let (jobs_tx, mut jobs_rx) = mpsc::unbounded_channel::<Job>();
    let (lead_tx, lead_rx) = watch::channel(Leadership {
        elected: false,
        leader: None,
    });
    let master = Master::new(opts.info.clone(), opts.config.clone(), now_ms());
    let mut state = State {
        master,
        framework_streams: HashMap::new(),
        agent_streams: HashMap::new(),
        next_conn: 0,
        registry: None,
    };
    let handle = Handle {
        jobs: jobs_tx,
        leadership: lead_rx,
        flags: Arc::new(opts.flags.clone()),
        cluster: opts.cluster.clone(),
        info: opts.info.clone(),
    };

    // Election first (so the registry is read only by a leader), then the state task.
    let registry = match &opts.zk {
        None => {
            // No ZooKeeper: a lone master leads at once (Mesos' standalone mode).
            let _ = lead_tx.send(Leadership {
                elected: true,
                leader: Some(opts.info.clone()),
            });
            state.master.recover(&Value::Null, now_ms());
            None
        }
        Some(url) => Some(url.clone()),
    };

    let ticker_every = Duration::from_millis(100);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(ticker_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                job = jobs_rx.recv() => {
                    let Some(job) = job else { return };
                    let mut fx = Vec::new();
                    let deliver = job(&mut state, &mut fx);
                    execute(&mut state, fx).await;
                    deliver();
                }
                _ = ticker.tick() => {
                    if state.master.elected_ms.is_some() {
                        let mut fx = Vec::new();
                        state.master.tick(now_ms(), &mut fx);
                        execute(&mut state, fx).await;
                    }
                }
            }
        }
    });

    if let Some(url) = registry {
        let h = handle.clone();
        let client = crate::zk::connect(&url, opts.zk_session_timeout)
            .await
            .with_context(|| format!("connecting to ZooKeeper at {}", url.servers))?;
        tokio::spawn(elect(h, client, url, opts.registry_in_zk, lead_tx));
    }
    Ok(handle)
}

/// Joins the election, follows the leader, and on winning recovers from the registry.
async fn elect(
    h: Handle,
    client: Client,
    url: ZkUrl,
    registry_in_zk: bool,
    lead_tx: watch::Sender<Leadership>,
) {
    let data = h.info.to_json().to_string();
    let election = match zk_client::recipes::LeaderElection::join_unprotected(
        &client,
        &url.path,
        MASTER_PREFIX,
        data.as_bytes(),
    )
    .await
    {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("joining the master group at {}: {e}; exiting", url.path);
            std::process::exit(1);
        }
    };
    tracing::info!(node = election.node(), "joined the master group");

    // Follow the leading master for redirects.
    let mut leaders = crate::zk::watch_leading_master(&client, &url);
    let tx = lead_tx.clone();
    tokio::spawn(async move {
        while let Some(l) = leaders.recv().await {
            tx.send_modify(|s| s.leader = l);
        }
    });

    let mut states = election.states();
    loop {
        let st = *states.borrow_and_update();
        match st {
            zk_client::recipes::LeaderState::Leader => break,
            zk_client::recipes::LeaderState::Lost => {
                tracing::error!(
                    "the ZooKeeper session ended before this master was elected; exiting"
                );
                std::process::exit(1);
            }
            _ => {}
        }
        if states.changed().await.is_err() {
            std::process::exit(1);
        }
    }

    // Elected: read (or create) the registry, recover, serve.
    let store = match load_registry(&client, &url).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("reading the registry: {e:#}; exiting");
            std::process::exit(1);
        }
    };
    let (registry, version) = store;
    let path = url.registry_path();
    let c = client.clone();
    let _ = h
        .run(move |st, _fx| {
            st.master.recover(&registry, now_ms());
            if registry_in_zk {
                st.registry = Some(RegistryStore {
                    client: c,
                    path,
                    version,
                });
            }
        })
        .await;
    lead_tx.send_modify(|s| {
        s.elected = true;
        s.leader = Some(h.info.clone());
    });
    tracing::info!("elected leading master");

    // Leading until the session says otherwise.
    loop {
        if states.changed().await.is_err() {
            break;
        }
        let st = *states.borrow_and_update();
        match st {
            zk_client::recipes::LeaderState::Leader => {}
            zk_client::recipes::LeaderState::Suspended => {
                tracing::warn!("ZooKeeper connection lost; leadership suspended");
            }
            _ => break,
        }
    }
    tracing::error!("lost leadership; exiting");
    std::process::exit(1);
}

/// Reads the registry znode, creating it (and its parent) when missing.
async fn load_registry(client: &Client, url: &ZkUrl) -> Result<(Value, i32)> {
    let path = url.registry_path();
    loop {
        match client.get_data(&path).await {
            Ok((data, stat)) => {
                let v = if data.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&data).with_context(|| format!("{path} is not JSON"))?
                };
                return Ok((v, stat.version));
            }
            Err(ZkError::Server(ErrorCode::NoNode)) => {
                zk_client::recipes::ensure_path(client, &url.registry_dir()).await?;
                match client
                    .create(&path, b"", &Acl::open_unsafe(), CreateMode::Persistent)
                    .await
                {
                    Ok(_) | Err(ZkError::Server(ErrorCode::NodeExists)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(ZkError::ConnectionLoss) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `system/*` gauges for `/metrics/snapshot`, read from /proc.
pub fn system_metrics() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    out.insert("system/cpus_total".into(), cpus as f64);
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        let parts: Vec<f64> = l
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        for (i, k) in ["system/load_1min", "system/load_5min", "system/load_15min"]
            .iter()
            .enumerate()
        {
            if let Some(v) = parts.get(i) {
                out.insert((*k).into(), *v);
            }
        }
    }
    if let Ok(m) = std::fs::read_to_string("/proc/meminfo") {
        let kb = |key: &str| {
            m.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v * 1024.0)
        };
        if let Some(t) = kb("MemTotal:") {
            out.insert("system/mem_total_bytes".into(), t);
        }
        if let Some(f) = kb("MemAvailable:") {
            out.insert("system/mem_free_bytes".into(), f);
        }
    }
    out
}

//! The tokio shell around [`Scheduler`]: the leader latch in ZooKeeper, the framework's
//! subscription to the Mesos master, the store, timers, and the event bus.
//!
//! Every Marathon instance serves HTTP. The one holding the latch (`<zk path>/leader-curator`,
//! Curator's LeaderLatch layout) runs the scheduler; the others proxy API calls to it. A
//! leader that loses its ZooKeeper session exits (Marathon does the same), so a supervisor
//! restarts it as a standby.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::core::{Action, Scheduler};
use crate::health::{next_check_due_ms, run_check, CheckResult, Health, HealthCheck, Verdict};
use crate::store::Store;
use mesos::scheduler::{MasterSource, Subscription};
use mesos::zk::ZkUrl;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Leadership {
    pub elected: bool,
    /// `host:port` of the leader's HTTP API.
    pub leader: Option<String>,
}

/// What the scheduler task owns.
pub struct Ctx {
    pub scheduler: Scheduler,
    pub master: Option<String>,
    sub: Option<Subscription>,
    /// (task id, index of the app's health check) -> its state.
    health: HashMap<(String, usize), CheckState>,
}

struct CheckState {
    health: Health,
    last_check_ms: Option<u64>,
    in_flight: bool,
}

type CheckDone = (String, usize, CheckResult);

type Job = Box<dyn FnOnce(&mut Ctx, &mut Vec<Action>) -> Box<dyn FnOnce() + Send> + Send>;

/// A cheap handle for the HTTP layer.
#[derive(Clone)]
pub struct Handle {
    /// The scheduler's queue while this instance leads.
    jobs: Arc<std::sync::Mutex<Option<mpsc::UnboundedSender<Job>>>>,
    /// Notified by `DELETE /v2/leader`.
    abdicate: Arc<tokio::sync::Notify>,
    pub leadership: watch::Receiver<Leadership>,
    pub events: broadcast::Sender<Value>,
    pub info: Arc<Value>,
    pub me: String,
}

impl Handle {
    /// Runs `f` on the scheduler state; its actions are carried out (and persisted) before the
    /// result comes back.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ctx, &mut Vec<Action>) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |ctx, out| {
            let r = f(ctx, out);
            Box::new(move || {
                let _ = tx.send(r);
            })
        });
        let jobs = self
            .jobs
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        jobs.ok_or_else(|| anyhow::anyhow!("this instance does not lead"))?
            .send(job)
            .map_err(|_| anyhow::anyhow!("the scheduler is not running on this instance"))?;
        rx.await.context("the scheduler stopped")
    }

    /// `DELETE /v2/leader`: give up leadership and rejoin the latch as a standby.
    pub fn abdicate(&self) {
        self.abdicate.notify_one();
    }
}

pub struct Options {
    /// A task still staging after this long is killed and replaced.
    pub task_launch_timeout_ms: u64,
    pub master: MasterSource,
    pub zk: ZkUrl,
    pub zk_session_timeout: Duration,
    /// `host:port` others reach our HTTP API on.
    pub me: String,
    pub framework_name: String,
    pub failover_timeout_s: f64,
    pub mesos_role: String,
    pub info: Value,
}

/// Joins the leader latch and starts the scheduler when elected. Returns at once.
pub async fn start(opts: Options) -> Result<Handle> {
    let client = mesos::zk::connect(&opts.zk, opts.zk_session_timeout)
        .await
        .with_context(|| format!("connecting to ZooKeeper at {}", opts.zk.servers))?;
    let (lead_tx, lead_rx) = watch::channel(Leadership::default());
    let (events, _) = broadcast::channel(4096);
    let handle = Handle {
        jobs: Arc::new(std::sync::Mutex::new(None)),
        abdicate: Arc::new(tokio::sync::Notify::new()),
        leadership: lead_rx,
        events: events.clone(),
        info: Arc::new(opts.info.clone()),
        me: opts.me.clone(),
    };
    let latch_dir = mesos::zk::join(&opts.zk.path, "leader-curator");

    // The first join happens here, so a ZooKeeper problem fails the start.
    let first =
        zk_client::recipes::LeaderElection::join(&client, &latch_dir, "latch-", opts.me.as_bytes())
            .await
            .with_context(|| format!("joining the leader latch at {latch_dir}"))?;
    // Follow who leads (for proxying); after the join, which creates the latch directory.
    let mut leaders = zk_client::recipes::watch_lowest_child(&client, &latch_dir, "latch-");
    let tx = lead_tx.clone();
    tokio::spawn(async move {
        while let Some(l) = leaders.recv().await {
            let leader = l.map(|(_, data)| String::from_utf8_lossy(&data).to_string());
            tx.send_modify(|s| s.leader = leader);
        }
    });

    let h = handle.clone();
    tokio::spawn(async move {
        let mut next = Some(first);
        loop {
            let election = match next.take() {
                Some(e) => e,
                None => match zk_client::recipes::LeaderElection::join(
                    &client,
                    &latch_dir,
                    "latch-",
                    h.me.as_bytes(),
                )
                .await
                {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!("rejoining the leader latch: {e}; exiting");
                        std::process::exit(1);
                    }
                },
            };
            tracing::info!(node = election.node(), "joined the leader latch");
            lead(&h, &client, election, &opts, &lead_tx, &events).await;
            tracing::info!("abdicated; standing by");
        }
    });
    Ok(handle)
}

/// Waits for leadership, then runs the scheduler until an abdication (returns) or the loss of
/// the ZooKeeper session (exits the process, as Marathon does).
async fn lead(
    h: &Handle,
    client: &zk_client::Client,
    election: zk_client::recipes::LeaderElection,
    opts: &Options,
    lead_tx: &watch::Sender<Leadership>,
    events: &broadcast::Sender<Value>,
) {
    let mut states = election.states();
    loop {
        let st = *states.borrow_and_update();
        match st {
            zk_client::recipes::LeaderState::Leader => break,
            zk_client::recipes::LeaderState::Lost => {
                tracing::error!("ZooKeeper session lost before election; exiting");
                std::process::exit(1);
            }
            _ => {}
        }
        if states.changed().await.is_err() {
            std::process::exit(1);
        }
    }
    tracing::info!("elected leader");
    let store = Store::new(client.clone(), &opts.zk.path);
    let scheduler = match store.load().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("loading the state: {e:#}; exiting");
            std::process::exit(1);
        }
    };
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel::<Job>();
    if let Ok(mut j) = h.jobs.lock() {
        *j = Some(jobs_tx);
    }
    lead_tx.send_modify(|s| {
        s.elected = true;
        s.leader = Some(h.me.clone());
    });
    let ctx = Ctx {
        scheduler,
        master: None,
        sub: None,
        health: HashMap::new(),
    };
    let running = tokio::spawn(scheduler_loop(
        ctx,
        store,
        jobs_rx,
        events.clone(),
        opts_for_loop(opts),
    ));
    // Leading until an abdication or the session says otherwise.
    loop {
        tokio::select! {
            _ = h.abdicate.notified() => break,
            changed = states.changed() => {
                if changed.is_err() {
                    tracing::error!("lost leadership; exiting");
                    std::process::exit(1);
                }
                let st = *states.borrow_and_update();
                match st {
                    zk_client::recipes::LeaderState::Leader => {}
                    zk_client::recipes::LeaderState::Suspended => {
                        // As Curator's LeaderLatch: a suspended connection is lost leadership
                        // (a standby may take over when our session expires).
                        tracing::error!("ZooKeeper connection lost; giving up leadership");
                        std::process::exit(1);
                    }
                    _ => {
                        tracing::error!("lost leadership; exiting");
                        std::process::exit(1);
                    }
                }
            }
        }
    }
    // Abdicate: stop taking jobs, let the scheduler (and its subscription) end, leave the latch.
    if let Ok(mut j) = h.jobs.lock() {
        *j = None;
    }
    lead_tx.send_modify(|s| s.elected = false);
    let _ = running.await;
    if let Err(e) = election.resign().await {
        tracing::warn!("leaving the leader latch: {e}");
    }
}

struct LoopOptions {
    task_launch_timeout_ms: u64,
    master: MasterSource,
    framework_name: String,
    failover_timeout_s: f64,
    mesos_role: String,
    hostname: String,
    webui: String,
}

fn opts_for_loop(o: &Options) -> LoopOptions {
    LoopOptions {
        task_launch_timeout_ms: o.task_launch_timeout_ms,
        master: o.master.clone(),
        framework_name: o.framework_name.clone(),
        failover_timeout_s: o.failover_timeout_s,
        mesos_role: o.mesos_role.clone(),
        hostname: o
            .me
            .rsplit_once(':')
            .map_or(o.me.clone(), |(h, _)| h.to_string()),
        webui: format!("http://{}", o.me),
    }
}

/// Subscribes (again) with the stored framework id.
async fn subscribe(ctx: &mut Ctx, store: &Store, o: &LoopOptions) -> Result<()> {
    let addr = o.master.resolve(Duration::from_secs(10)).await?;
    let mut info = json!({
        "user": "root",
        "name": o.framework_name,
        "failover_timeout": o.failover_timeout_s,
        "checkpoint": true,
        "hostname": o.hostname,
        "webui_url": o.webui,
        "roles": [o.mesos_role],
        "capabilities": [{"type": "PARTITION_AWARE"}, {"type": "MULTI_ROLE"}],
    });
    if let Some(id) = &ctx.scheduler.framework_id {
        info["id"] = json!({"value": id});
    }
    let sub = mesos::scheduler::subscribe(&addr, &info, Duration::from_secs(10)).await?;
    if ctx.scheduler.framework_id.as_deref() != Some(sub.framework_id.as_str()) {
        store.set_framework_id(Some(&sub.framework_id)).await?;
        ctx.scheduler.framework_id = Some(sub.framework_id.clone());
    }
    tracing::info!(
        framework_id = sub.framework_id,
        master = sub.master,
        "subscribed"
    );
    ctx.master = Some(sub.master.clone());
    // Learn the state of every task: explicitly for the ones on record (so a task the master
    // no longer knows is reported lost, not kept for ever), then implicitly for the rest.
    let known: Vec<Value> = ctx
        .scheduler
        .instances
        .values()
        .map(|i| json!({"task_id": {"value": i.task_id}, "agent_id": {"value": i.agent_id}}))
        .collect();
    if !known.is_empty() {
        sub.call(json!({"type": "RECONCILE", "reconcile": {"tasks": known}}))
            .await?;
    }
    sub.call(json!({"type": "RECONCILE", "reconcile": {"tasks": []}}))
        .await?;
    sub.call(json!({"type": "REVIVE"})).await?;
    ctx.sub = Some(sub);
    Ok(())
}

async fn scheduler_loop(
    mut ctx: Ctx,
    store: Store,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    events: broadcast::Sender<Value>,
    o: LoopOptions,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut retry_at = tokio::time::Instant::now();
    let (checks_tx, mut checks_rx) = mpsc::unbounded_channel::<CheckDone>();
    let (mut last_revive_ms, mut last_event_ms, mut last_reconcile_ms) = (0u64, now_ms(), now_ms());
    let mut stored_deployments: Vec<crate::core::Deployment> =
        ctx.scheduler.deployments.values().cloned().collect();
    loop {
        if ctx.sub.is_none() && tokio::time::Instant::now() >= retry_at {
            if let Err(e) = subscribe(&mut ctx, &store, &o).await {
                tracing::warn!("subscribing to the Mesos master: {e:#}");
                if format!("{e:#}").contains("has been removed") {
                    // Our framework id was torn down (and its tasks with it): start afresh.
                    tracing::warn!("the framework was removed; registering a new one");
                    ctx.scheduler.framework_id = None;
                    let _ = store.set_framework_id(None).await;
                    let mut out = Vec::new();
                    ctx.scheduler.forget_instances(&mut out);
                    execute(&mut ctx, &store, &events, out).await;
                }
                retry_at = tokio::time::Instant::now() + Duration::from_secs(2);
            }
        }
        let event = async {
            match ctx.sub.as_mut() {
                Some(s) => s.events.recv().await,
                None => std::future::pending().await,
            }
        };
        let mut out = Vec::new();
        let mut deliver: Option<Box<dyn FnOnce() + Send>> = None;
        tokio::select! {
            job = jobs.recv() => {
                let Some(job) = job else { return };
                deliver = Some(job(&mut ctx, &mut out));
            }
            Some((task, idx, result)) = checks_rx.recv() => {
                on_check(&mut ctx, task, idx, result, &mut out);
            }
            e = event => match e {
                None => {
                    tracing::warn!("the master's event stream ended; subscribing again");
                    ctx.sub = None;
                    ctx.master = None;
                }
                Some(e) => {
                    last_event_ms = now_ms();
                    on_event(&mut ctx, &e, &mut out)
                }
            },
            _ = ticker.tick() => {
                let now = now_ms();
                start_checks(&mut ctx, &checks_tx, now);
                ctx.scheduler.housekeeping(now, o.task_launch_timeout_ms, &mut out);
                ctx.scheduler.step(now, &mut out);
                // Offers again when apps wait for them, at most every 5 s (each REVIVE clears
                // the decline filters), as Marathon's min_revive_offers_interval.
                let wants = ctx.scheduler.apps.values().any(|a| ctx.scheduler.launch_demand(a, now) > 0);
                if wants && now.saturating_sub(last_revive_ms) >= 5_000 {
                    last_revive_ms = now;
                    out.push(Action::Revive);
                }
                // A master that went quiet (no event, not even a heartbeat, for two heartbeat
                // intervals) is given up on: subscribe again.
                let quiet = ctx.sub.as_ref().is_some_and(|s| {
                    now.saturating_sub(last_event_ms) > 2 * s.heartbeat_interval.as_millis() as u64
                });
                if quiet {
                    tracing::warn!("no event from the master for two heartbeats; subscribing again");
                    ctx.sub = None;
                    ctx.master = None;
                }
                // Periodic implicit reconciliation (every 10 minutes).
                if now.saturating_sub(last_reconcile_ms) >= 600_000 {
                    last_reconcile_ms = now;
                    if let Some(s) = ctx.sub.as_ref() {
                        if let Err(e) = s.call(json!({"type": "RECONCILE", "reconcile": {"tasks": []}})).await {
                            tracing::warn!("reconciling: {e:#}");
                        }
                    }
                }
            }
        }
        execute(&mut ctx, &store, &events, out).await;
        // Deployments are stored whenever the set of them changes.
        let now_deployments: Vec<crate::core::Deployment> =
            ctx.scheduler.deployments.values().cloned().collect();
        if now_deployments != stored_deployments {
            match store.save_deployments(&now_deployments).await {
                Ok(()) => stored_deployments = now_deployments,
                Err(e) => tracing::warn!("storing the deployments: {e:#}"),
            }
        }
        if let Some(d) = deliver {
            d();
        }
    }
}

/// Starts every health check that is due (one at a time per task and check).
fn start_checks(ctx: &mut Ctx, done: &mpsc::UnboundedSender<CheckDone>, now: u64) {
    let s = &ctx.scheduler;
    ctx.health
        .retain(|(task, _), _| s.instances.get(task).is_some_and(|i| !i.killing));
    for i in s.instances.values() {
        let (Some(started), false) = (i.started_at_ms, i.killing) else {
            continue;
        };
        let Some(app) = s.apps.get(&i.app_id) else {
            continue;
        };
        let checks = checks_of_version(s, app, &i.version);
        for (idx, hv) in checks.iter().enumerate() {
            let Ok(check) = HealthCheck::parse(hv, "") else {
                continue;
            };
            let st = ctx
                .health
                .entry((i.task_id.clone(), idx))
                .or_insert_with(|| CheckState {
                    health: Health::new(),
                    last_check_ms: None,
                    in_flight: false,
                });
            if st.in_flight || now < next_check_due_ms(&check, started, st.last_check_ms) {
                continue;
            }
            st.in_flight = true;
            st.last_check_ms = Some(now);
            let (task, host, ports) = (i.task_id.clone(), i.host.clone(), i.ports.clone());
            let mut env = vec![("HOST".to_string(), host.clone())];
            for (k, p) in ports.iter().enumerate() {
                env.push((format!("PORT{k}"), p.to_string()));
            }
            let done = done.clone();
            tokio::spawn(async move {
                let r = run_check(&check, &host, &ports, &env).await;
                let _ = done.send((task, idx, r));
            });
        }
    }
}

/// The health checks of the app version a task runs (its config version), which during a
/// rollout may differ from the current definition's.
fn checks_of_version(s: &Scheduler, app: &crate::app::App, config_version: &str) -> Vec<Value> {
    if app.last_config_change_at == config_version {
        return app.health_checks.clone();
    }
    s.versions
        .get(&app.id)
        .and_then(|l| {
            l.iter()
                .rev()
                .find(|(_, j)| j["versionInfo"]["lastConfigChangeAt"] == config_version)
        })
        .and_then(|(_, j)| j["healthChecks"].as_array().cloned())
        .unwrap_or_else(|| app.health_checks.clone())
}

/// A health check finished: update its state and tell the scheduler the task's health.
fn on_check(ctx: &mut Ctx, task: String, idx: usize, result: CheckResult, out: &mut Vec<Action>) {
    let now = now_ms();
    let Some(i) = ctx.scheduler.instances.get(&task) else {
        return;
    };
    let Some(app) = ctx.scheduler.apps.get(&i.app_id) else {
        return;
    };
    let checks: Vec<HealthCheck> = checks_of_version(&ctx.scheduler, app, &i.version)
        .iter()
        .filter_map(|v| HealthCheck::parse(v, "").ok())
        .collect();
    let (Some(check), Some(started)) = (checks.get(idx), i.started_at_ms) else {
        return;
    };
    let Some(st) = ctx.health.get_mut(&(task.clone(), idx)) else {
        return;
    };
    st.in_flight = false;
    let verdict = st.health.on_result(check, started, now, result);
    let kill = verdict == Verdict::Kill;
    let mut results = Vec::new();
    let mut all_alive = true;
    let mut all_known = true;
    for k in 0..checks.len() {
        match ctx.health.get(&(task.clone(), k)) {
            Some(c) => {
                results.push(c.health.to_json(&task));
                all_alive &= c.health.alive();
                all_known &=
                    c.health.last_success_ms.is_some() || c.health.last_failure_ms.is_some();
            }
            None => all_known = false,
        }
    }
    if all_known || kill {
        ctx.scheduler
            .health(now, &task, (all_known && all_alive, kill), results, out);
    }
}

fn on_event(ctx: &mut Ctx, e: &Value, out: &mut Vec<Action>) {
    let now = now_ms();
    match e["type"].as_str().unwrap_or("") {
        "OFFERS" => {
            let offers = e["offers"]["offers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            ctx.scheduler.offers(now, &offers, out);
        }
        "UPDATE" => ctx
            .scheduler
            .status_update(now, &e["update"]["status"], out),
        "ERROR" => {
            tracing::error!("error from the master: {}", e["error"]["message"]);
            ctx.sub = None;
        }
        _ => {}
    }
}

/// Carries out actions in order.
async fn execute(
    ctx: &mut Ctx,
    store: &Store,
    events: &broadcast::Sender<Value>,
    out: Vec<Action>,
) {
    let mut revived = false;
    for a in out {
        let persist = matches!(
            a,
            Action::PersistApp { .. } | Action::PersistInstance { .. }
        );
        let r: Result<()> = match a {
            Action::PersistApp { app_id } => match ctx.scheduler.apps.get(&app_id) {
                Some(app) => store.save_app(app).await,
                None => store.delete_app(&app_id).await,
            },
            Action::PersistInstance { task_id } => {
                store
                    .save_instance(ctx.scheduler.instances.get(&task_id), &task_id)
                    .await
            }
            Action::Event(v) => {
                let _ = events.send(v);
                Ok(())
            }
            other => match ctx.sub.as_ref() {
                None => Ok(()),
                Some(sub) => match other {
                    Action::Launch { offer_id, tasks } => sub.launch(vec![offer_id], tasks).await,
                    Action::Decline {
                        offer_ids,
                        refuse_seconds,
                    } => sub.decline(offer_ids, refuse_seconds).await,
                    Action::Kill { task_id, agent_id } => {
                        sub.call(
                            json!({"type": "KILL", "kill": {"task_id": {"value": task_id},
                            "agent_id": {"value": agent_id}}}),
                        )
                        .await
                    }
                    Action::Acknowledge { status } => sub.acknowledge(&status).await,
                    Action::Revive if !revived => {
                        revived = true;
                        sub.call(json!({"type": "REVIVE"})).await
                    }
                    _ => Ok(()),
                },
            },
        };
        match r {
            Ok(()) => {}
            Err(e) if persist => {
                // A change we cannot store must not be acknowledged: stop leading (the reply
                // is never sent), and a standby takes over from the stored state.
                tracing::error!("cannot store Marathon's state: {e:#}; exiting");
                std::process::exit(1);
            }
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
}

/// `/v2/info`'s static part.
pub fn info_json(flags: &BTreeMap<String, String>, framework_name: &str, me: &str) -> Value {
    json!({
        "name": "marathon",
        "version": crate::VERSION,
        "buildref": "zkrs",
        "elected": false,
        "leader": Value::Null,
        "frameworkId": Value::Null,
        "marathon_config": {
            "master": flags.get("master"),
            "framework_name": framework_name,
            "failover_timeout": flags.get("failover_timeout").and_then(|s| s.parse::<f64>().ok()),
            "hostname": me.rsplit_once(':').map(|(h, _)| h),
            "checkpoint": true,
            "local_port_min": 10000,
            "local_port_max": 20000,
            "mesos_role": flags.get("mesos_role"),
            "task_launch_timeout": 300000,
        },
        "zookeeper_config": {
            "zk": flags.get("zk"),
            "zk_session_timeout": 10000,
            "zk_timeout": 10000,
        },
        "http_config": {"http_port": me.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok())},
        "event_subscriber": {"type": "http_callback", "http_endpoints": []},
    })
}

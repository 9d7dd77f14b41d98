//! Leader election (ZooKeeper's election recipe / Curator's LeaderLatch).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{base_name, child_path, ensure_path, position, Position};
use crate::{Acl, Client, CreateMode, Error, ErrorCode, Result, SessionState, Watcher};

/// A contender's standing, as [`LeaderElection::states`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaderState {
    /// Our node exists but a lower one does too: waiting behind the predecessor (also the
    /// state after [`LeaderElection::resign`]).
    NotLeader,
    /// Our node has the lowest sequence number.
    Leader,
    /// The connection is lost but the session may still be alive: a leader must assume it
    /// may no longer lead until the state goes back to `Leader` (or `NotLeader`).
    Suspended,
    /// The session ended (expired or closed) or our node was deleted by someone else. Final:
    /// the contender does not re-join by itself; call [`LeaderElection::join`] again (with a
    /// new [`Client`] after an expiry).
    Lost,
}

/// One contender in a leader election under a parent node.
///
/// [`LeaderElection::join`] creates a protected EPHEMERAL_SEQUENTIAL node
/// `<dir>/_c_<uuid>-<prefix><seq>` (Curator's LeaderLatch names, e.g. `prefix` `latch-`), which
/// survives a `ConnectionLoss` during the create without a duplicate.
/// [`LeaderElection::join_unprotected`] creates a plain `<dir>/<prefix><seq>`: what Mesos
/// needs (`prefix` `json.info_`, data the master's JSON `MasterInfo`), because libmesos parses
/// the names as `<label>_<seq>` and would not see a protected one. The contender whose node
/// has the lowest sequence number among the `prefix` children (protected or not) leads;
/// every other contender watches only its immediate predecessor (`exists` watch) and
/// re-checks when that fires, so a departure wakes just one contender.
///
/// A background task follows the session: `Disconnected` → [`LeaderState::Suspended`],
/// reconnected → re-checked, `Expired`/`Closed`/`AuthFailed` → [`LeaderState::Lost`] and the
/// task ends. Dropping the handle stops the task and deletes the node (best effort, needs a
/// tokio runtime); [`LeaderElection::resign`] does the same and reports the outcome.
#[derive(Debug)]
pub struct LeaderElection {
    client: Client,
    node: String,
    state_tx: Arc<watch::Sender<LeaderState>>,
    state: watch::Receiver<LeaderState>,
    notifications: Arc<AtomicU64>,
    task: Option<JoinHandle<()>>,
}

/// What one check of the children found.
enum Step {
    Leader,
    Waiting(Watcher),
    Gone,
}

impl LeaderElection {
    /// Creates `dir` if needed, creates our (protected) node under it with `data`, determines
    /// the initial state (so [`LeaderElection::state`] is accurate on return) and starts
    /// following it.
    pub async fn join(client: &Client, dir: &str, prefix: &str, data: &[u8]) -> Result<Self> {
        Self::join_with(client, dir, prefix, data, true).await
    }

    /// Like [`LeaderElection::join`] with a plain `<prefix><seq>` name, for groups that
    /// non-Curator clients parse (Mesos' `json.info_`). A `ConnectionLoss` during the create
    /// fails the join; the node, if it was made, stays until the session ends.
    pub async fn join_unprotected(
        client: &Client,
        dir: &str,
        prefix: &str,
        data: &[u8],
    ) -> Result<Self> {
        Self::join_with(client, dir, prefix, data, false).await
    }

    async fn join_with(
        client: &Client,
        dir: &str,
        prefix: &str,
        data: &[u8],
        protected: bool,
    ) -> Result<Self> {
        if prefix.is_empty() || prefix.contains('/') {
            return Err(Error::BadArguments(format!("bad prefix {prefix:?}")));
        }
        ensure_path(client, dir).await?;
        let path = child_path(dir, prefix);
        let open = Acl::open_unsafe();
        let node = if protected {
            client
                .create_protected_ephemeral_sequential(&path, data, &open)
                .await?
        } else {
            client
                .create(&path, data, &open, CreateMode::EphemeralSequential)
                .await?
        };
        // Subscribe before the first check so no session change after it is missed (but after
        // the create: a connection lost and regained during a protected create is history).
        let states = client.state_events();
        let notifications = Arc::new(AtomicU64::new(0));
        let (tx, rx) = watch::channel(LeaderState::NotLeader);
        let tx = Arc::new(tx);
        let runner = Runner {
            client: client.clone(),
            dir: dir.to_string(),
            prefix: prefix.to_string(),
            me: base_name(&node).to_string(),
            tx: tx.clone(),
            notifications: notifications.clone(),
        };
        let first = match runner.check().await {
            Ok(step) => step,
            Err(e) => {
                let _ = client.delete(&node, -1).await;
                return Err(e);
            }
        };
        runner.publish(&first);
        let task = tokio::spawn(runner.run(first, states));
        Ok(LeaderElection {
            client: client.clone(),
            node,
            state_tx: tx,
            state: rx,
            notifications,
            task: Some(task),
        })
    }

    /// Our node's full path (`<dir>/<prefix><seq>`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The current state.
    pub fn state(&self) -> LeaderState {
        *self.state.borrow()
    }

    pub fn is_leader(&self) -> bool {
        self.state() == LeaderState::Leader
    }

    /// A watch of the state: `borrow()` for the current one, `changed()` to await the next.
    pub fn states(&self) -> watch::Receiver<LeaderState> {
        self.state.clone()
    }

    /// Waits until we lead (→ `Leader`) or cannot any more (→ `Lost`).
    pub async fn wait_leader(&self) -> LeaderState {
        let mut rx = self.state.clone();
        let r = rx
            .wait_for(|s| matches!(s, LeaderState::Leader | LeaderState::Lost))
            .await;
        r.map(|s| *s).unwrap_or(LeaderState::Lost)
    }

    /// How many predecessor-watch notifications this contender has received (a herd-effect
    /// check: a departure should notify only the departed node's successor).
    pub fn predecessor_notifications(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }

    /// Leaves the election: stops following it and deletes our node (a missing node, or a
    /// session that already ended and took the ephemeral node with it, is not an error). The state becomes `NotLeader` unless it was already `Lost`.
    pub async fn resign(mut self) -> Result<()> {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.state_tx.send_if_modified(|s| {
            let changed = *s != LeaderState::NotLeader && *s != LeaderState::Lost;
            if changed {
                *s = LeaderState::NotLeader;
            }
            changed
        });
        match self.client.delete(&self.node, -1).await {
            Ok(())
            | Err(Error::Server(ErrorCode::NoNode))
            | Err(Error::SessionExpired)
            | Err(Error::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for LeaderElection {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let client = self.client.clone();
                let node = std::mem::take(&mut self.node);
                rt.spawn(async move {
                    let _ = client.delete(&node, -1).await;
                });
            }
        }
    }
}

struct Runner {
    client: Client,
    dir: String,
    prefix: String,
    me: String,
    tx: Arc<watch::Sender<LeaderState>>,
    notifications: Arc<AtomicU64>,
}

impl Runner {
    /// Reads the children; leads, or leaves an exists watch on the predecessor. When the
    /// predecessor vanished between the listing and the watch, checks again at once.
    async fn check(&self) -> Result<Step> {
        loop {
            match position(&self.client, &self.dir, &self.prefix, &self.me).await? {
                Position::First => return Ok(Step::Leader),
                Position::Gone => return Ok(Step::Gone),
                Position::Behind(pred) => {
                    if let (Some(_), w) = self.client.exists_w(&pred).await? {
                        return Ok(Step::Waiting(w));
                    }
                }
            }
        }
    }

    fn set(&self, s: LeaderState) {
        self.tx.send_if_modified(|cur| {
            let changed = *cur != s;
            *cur = s;
            changed
        });
    }

    fn publish(&self, step: &Step) {
        self.set(match step {
            Step::Leader => LeaderState::Leader,
            Step::Waiting(_) => LeaderState::NotLeader,
            Step::Gone => LeaderState::Lost,
        });
    }

    async fn run(self, first: Step, mut states: mpsc::UnboundedReceiver<SessionState>) {
        let mut step = Some(first);
        loop {
            // `None`: suspended, waiting for the session to come back before re-checking.
            let mut watcher = match step.take() {
                Some(Step::Gone) => return self.set(LeaderState::Lost),
                Some(Step::Waiting(w)) => Some(w),
                Some(Step::Leader) | None => None,
            };
            loop {
                let ev = async {
                    match watcher.as_mut() {
                        Some(w) => w.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    e = ev => {
                        if e.is_some() {
                            self.notifications.fetch_add(1, Ordering::Relaxed);
                        }
                        // `None`: the session ended; the re-check reports it.
                        break;
                    }
                    s = states.recv() => match s {
                        Some(SessionState::Disconnected | SessionState::ConnectedReadOnly) => {
                            self.set(LeaderState::Suspended)
                        }
                        Some(SessionState::Connected) => {
                            if *self.tx.borrow() == LeaderState::Suspended {
                                break;
                            }
                        }
                        Some(SessionState::Connecting) => {}
                        Some(_) | None => return self.set(LeaderState::Lost),
                    }
                }
            }
            match self.check().await {
                Ok(s) => {
                    self.publish(&s);
                    step = Some(s);
                }
                // Re-checked once the session is back (step stays `None`).
                Err(Error::ConnectionLoss) => self.set(LeaderState::Suspended),
                Err(_) => return self.set(LeaderState::Lost),
            }
        }
    }
}

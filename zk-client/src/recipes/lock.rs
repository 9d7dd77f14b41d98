//! A mutual-exclusion lock (ZooKeeper's lock recipe).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{child_path, ensure_path, position, Position};
use crate::{Acl, Client, Error, ErrorCode, Result, SessionState};

const PREFIX: &str = "lock-";

/// A distributed lock under a parent node: each attempt creates a protected
/// EPHEMERAL_SEQUENTIAL `<dir>/_c_<uuid>-lock-<seq>` (Curator's InterProcessMutex names);
/// the lowest sequence holds the lock and every other attempt waits on its immediate
/// predecessor only. Cheap to clone.
///
/// The lock is held only while the session lives and the node exists: [`LockGuard::state`]
/// says whether it still is, [`LockGuard::lost`] resolves when it certainly is not.
#[derive(Debug, Clone)]
pub struct Lock {
    client: Client,
    dir: String,
}

/// A held lock. [`LockGuard::release`] deletes the node and says whether the lock was still
/// held; dropping the guard deletes it in the background (best effort, needs a tokio runtime).
///
/// Holding the guard is not proof of holding the lock: the session can end, or someone can
/// delete the node. Work done under the lock should check [`LockGuard::state`] or race
/// against [`LockGuard::lost`] (and, to be safe, stop on [`LockGuard::suspended`]).
#[derive(Debug)]
pub struct LockGuard {
    client: Client,
    node: String,
    released: bool,
    /// Set once [`LockGuard::lost`] saw the node deleted.
    node_gone: Arc<AtomicBool>,
}

/// Whether a [`LockGuard`] still holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockState {
    /// Connected, and the node was ours when last seen.
    Held,
    /// The connection is lost but the session may still be alive (`Disconnected`): the lock
    /// may be lost. Back to `Held` when the session reconnects in time.
    Suspended,
    /// The session ended (expired, closed, authentication failed) or the node was deleted.
    /// Final.
    Lost,
}

/// How a lock was found lost by [`LockGuard::release`] (see [`Error::LockLost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockLoss {
    /// The lock node no longer existed when the release's delete reached the server.
    NodeGone,
    /// The session had ended (expired, closed, authentication failed) before the release
    /// could send its delete; the server removes (or removed) the ephemeral node.
    SessionEnded,
}

impl std::fmt::Display for LockLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LockLoss::NodeGone => "the lock node was already gone",
            LockLoss::SessionEnded => "the session had ended",
        })
    }
}

impl Lock {
    pub fn new(client: &Client, dir: &str) -> Lock {
        Lock {
            client: client.clone(),
            dir: dir.to_string(),
        }
    }

    /// Waits (without limit) until the lock is ours.
    pub async fn acquire(&self) -> Result<LockGuard> {
        let node = self.enqueue().await?;
        match self.wait_first(&node).await {
            Ok(()) => Ok(self.guard(node)),
            Err(e) => {
                let _ = delete_node(&self.client, &node).await;
                Err(e)
            }
        }
    }

    /// Like [`Lock::acquire`] but gives up after `timeout`, deleting its node: `Ok(None)`.
    pub async fn try_acquire(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        let node = self.enqueue().await?;
        match tokio::time::timeout(timeout, self.wait_first(&node)).await {
            Ok(Ok(())) => Ok(Some(self.guard(node))),
            Ok(Err(e)) => {
                let _ = delete_node(&self.client, &node).await;
                Err(e)
            }
            Err(_) => {
                delete_node(&self.client, &node).await?;
                Ok(None)
            }
        }
    }

    fn guard(&self, node: String) -> LockGuard {
        LockGuard {
            client: self.client.clone(),
            node,
            released: false,
            node_gone: Arc::new(AtomicBool::new(false)),
        }
    }

    async fn enqueue(&self) -> Result<String> {
        ensure_path(&self.client, &self.dir).await?;
        self.client
            .create_protected_ephemeral_sequential(
                &child_path(&self.dir, PREFIX),
                b"",
                &Acl::open_unsafe(),
            )
            .await
    }

    /// Waits until `node` has the lowest sequence number.
    async fn wait_first(&self, node: &str) -> Result<()> {
        let me = super::base_name(node);
        loop {
            let pred = match position(&self.client, &self.dir, PREFIX, me).await {
                Ok(Position::First) => return Ok(()),
                Ok(Position::Gone) => return Err(Error::Server(ErrorCode::NoNode)),
                Ok(Position::Behind(p)) => p,
                // Reads are safe to repeat; the client queues them until it reconnects.
                Err(Error::ConnectionLoss) => continue,
                Err(e) => return Err(e),
            };
            match self.client.exists_w(&pred).await {
                // The predecessor is gone already: check again at once.
                Ok((None, _)) | Err(Error::ConnectionLoss) => {}
                // Woken by its deletion (or a data change); `None`: the session ended and
                // the next read says so.
                Ok((Some(_), mut w)) => {
                    let _ = w.recv().await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl LockGuard {
    /// The lock node's full path.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the lock is still held, from the session state (and from what
    /// [`LockGuard::lost`] saw of the node). Does no I/O.
    pub fn state(&self) -> LockState {
        if self.node_gone.load(Ordering::Acquire) {
            return LockState::Lost;
        }
        lock_state(self.client.state())
    }

    /// Resolves when the lock is no longer certainly held: at once if it is not now, else at
    /// the first `Disconnected` (→ [`LockState::Suspended`]) or the end of the session (→
    /// [`LockState::Lost`]). Watches only the session, not the node.
    pub async fn suspended(&self) -> LockState {
        if self.state() != LockState::Held {
            return self.state();
        }
        let mut states = self.client.state_watch();
        let reached = states
            .wait_for(|s| lock_state(*s) != LockState::Held)
            .await
            .map(|s| lock_state(*s));
        reached.unwrap_or(LockState::Lost)
    }

    /// Resolves when the lock is definitely lost, with the reason: the session ended
    /// (`SessionExpired`, `Closed`, `AuthFailed`) or the node was deleted (`Server(NoNode)`).
    /// While connected it keeps an exists watch on the node; while disconnected it waits for
    /// the session to come back or end. A `Disconnected` session alone does not resolve it:
    /// see [`LockGuard::suspended`].
    pub async fn lost(&self) -> Error {
        let mut states = self.client.state_watch();
        loop {
            let s = *states.borrow_and_update();
            if let Some(e) = session_end(s) {
                return e;
            }
            if s == SessionState::Connected {
                match self.client.exists_w(&self.node).await {
                    Ok((None, _)) => {
                        self.node_gone.store(true, Ordering::Release);
                        return Error::Server(ErrorCode::NoNode);
                    }
                    Ok((Some(_), mut w)) => {
                        tokio::select! {
                            // Deleted, changed, or the stream ended with the session: look again.
                            _ = w.recv() => continue,
                            r = states.changed() => if r.is_err() {
                                return Error::Closed;
                            },
                        }
                        continue;
                    }
                    // Looked at again once the session is back (or has ended).
                    Err(Error::ConnectionLoss) => {}
                    Err(e @ (Error::SessionExpired | Error::Closed | Error::AuthFailed)) => {
                        return e
                    }
                    Err(e) => {
                        tracing::warn!(node = %self.node, %e, "lock watch failed; retrying");
                    }
                }
                // Do not spin while the state still says Connected: wait for the next change.
                if *states.borrow() == SessionState::Connected && states.changed().await.is_err() {
                    return Error::Closed;
                }
                continue;
            }
            if states.changed().await.is_err() {
                return Error::Closed;
            }
        }
    }

    /// Releases the lock by deleting its node. `Ok` only when this release deleted the node:
    /// then the lock was held until the release (the node, which holds it, existed until the
    /// delete).
    ///
    /// Errors:
    /// - [`Error::LockLost`]: the lock was already lost and this release deleted nothing: the
    ///   node was gone when the delete reached the server ([`LockLoss::NodeGone`]: the
    ///   session expired and the server removed it, or someone deleted it), or the session
    ///   had ended ([`LockLoss::SessionEnded`]) before the delete could be sent;
    /// - any other error: unknown. Notably, after a `ConnectionLoss` the delete is retried,
    ///   and if the retry finds the node gone, the lost attempt may have deleted it or it may
    ///   have been gone already: that is reported as [`Error::ConnectionLoss`]. An error the
    ///   session's end gives a request in flight (`Closed`, `AuthFailed`) is passed through.
    ///
    /// Either way the guard is spent; an ephemeral node left behind goes with its session.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        if session_end(self.client.state()).is_some() {
            return Err(Error::LockLost(LockLoss::SessionEnded));
        }
        // Whether an earlier attempt may have reached the server (and deleted the node).
        let mut maybe_sent = false;
        loop {
            match self.client.delete(&self.node, -1).await {
                Ok(()) => return Ok(()),
                Err(Error::ConnectionLoss) => maybe_sent = true,
                Err(Error::Server(ErrorCode::NoNode)) if !maybe_sent => {
                    self.node_gone.store(true, Ordering::Release);
                    return Err(Error::LockLost(LockLoss::NodeGone));
                }
                Err(Error::Server(ErrorCode::NoNode)) => return Err(Error::ConnectionLoss),
                // The session expired while the request waited for a connection: it was never
                // sent (a request sent on a connection that then drops gets ConnectionLoss).
                Err(Error::SessionExpired) if !maybe_sent => {
                    return Err(Error::LockLost(LockLoss::SessionEnded))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let node = std::mem::take(&mut self.node);
            rt.spawn(async move {
                let _ = delete_node(&client, &node).await;
            });
        }
    }
}

fn lock_state(s: SessionState) -> LockState {
    match s {
        SessionState::Connected => LockState::Held,
        // A read-only server cannot keep the lock's node alive.
        SessionState::Connecting | SessionState::Disconnected | SessionState::ConnectedReadOnly => {
            LockState::Suspended
        }
        SessionState::Expired | SessionState::AuthFailed | SessionState::Closed => LockState::Lost,
    }
}

/// The error a request gets once the session is in state `s`, if `s` is terminal.
fn session_end(s: SessionState) -> Option<Error> {
    match s {
        SessionState::Expired => Some(Error::SessionExpired),
        SessionState::AuthFailed => Some(Error::AuthFailed),
        SessionState::Closed => Some(Error::Closed),
        _ => None,
    }
}

/// Deletes `node`, retrying on connection loss; `NoNode` counts as done.
async fn delete_node(client: &Client, node: &str) -> Result<()> {
    loop {
        match client.delete(node, -1).await {
            Ok(()) | Err(Error::Server(ErrorCode::NoNode)) => return Ok(()),
            Err(Error::ConnectionLoss) => continue,
            Err(e) => return Err(e),
        }
    }
}

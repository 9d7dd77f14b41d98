//! A mutual-exclusion lock (ZooKeeper's lock recipe).

use std::time::Duration;

use super::{child_path, ensure_path, position, Position};
use crate::{Acl, Client, CreateMode, Error, ErrorCode, Result};

const PREFIX: &str = "lock-";

/// A distributed lock under a parent node: each attempt creates an EPHEMERAL_SEQUENTIAL
/// `<dir>/lock-<seq>`; the lowest sequence holds the lock and every other attempt waits on
/// its immediate predecessor only. Cheap to clone.
///
/// The lock is held only while the session lives: after an expiry the node is gone and the
/// guard no longer protects anything (this recipe does not watch the session for you).
#[derive(Debug, Clone)]
pub struct Lock {
    client: Client,
    dir: String,
}

/// A held lock. [`LockGuard::release`] deletes the node; dropping the guard deletes it in
/// the background (best effort, needs a tokio runtime).
#[derive(Debug)]
pub struct LockGuard {
    client: Client,
    node: String,
    released: bool,
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
        }
    }

    async fn enqueue(&self) -> Result<String> {
        ensure_path(&self.client, &self.dir).await?;
        self.client
            .create(
                &child_path(&self.dir, PREFIX),
                b"",
                &Acl::open_unsafe(),
                CreateMode::EphemeralSequential,
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

    /// Releases the lock (deletes the node; a missing node is not an error).
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        delete_node(&self.client, &self.node).await
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

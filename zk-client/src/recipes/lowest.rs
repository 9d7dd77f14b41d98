//! The lowest sequential child: Mesos' `json.info_<seq>` leader detection.

use tokio::sync::mpsc;

use super::{child_path, sequential_children};
use crate::{Client, Error, ErrorCode, Result};

/// The child of `dir` named `<prefix><digits>` with the lowest sequence number, with its
/// data; `None` when there is none. Other children (`log_replicas`...) are ignored. When the
/// chosen child vanishes between the listing and the read, lists again.
pub async fn lowest_child(
    client: &Client,
    dir: &str,
    prefix: &str,
) -> Result<Option<(String, Vec<u8>)>> {
    loop {
        let children = client.get_children(dir).await?;
        let Some((_, name)) = sequential_children(&children, prefix).into_iter().next() else {
            return Ok(None);
        };
        match client.get_data(&child_path(dir, &name)).await {
            Ok((data, _)) => return Ok(Some((name, data))),
            Err(Error::Server(ErrorCode::NoNode)) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Follows [`lowest_child`]: sends the current lowest child first, then every change of
/// which child is lowest (by name; data changes of the same child are not reported). Uses a
/// child watch on `dir`. The stream ends when the session ends or a read fails for another
/// reason than connection loss (`dir` missing included); dropping the receiver stops it.
pub fn watch_lowest_child(
    client: &Client,
    dir: &str,
    prefix: &str,
) -> mpsc::UnboundedReceiver<Option<(String, Vec<u8>)>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (client, dir, prefix) = (client.clone(), dir.to_string(), prefix.to_string());
    tokio::spawn(async move {
        let mut last: Option<Option<String>> = None;
        loop {
            let (children, mut w) = match client.get_children_w(&dir).await {
                Ok(r) => r,
                Err(Error::ConnectionLoss) => continue,
                Err(_) => return,
            };
            let lowest = sequential_children(&children, &prefix)
                .into_iter()
                .next()
                .map(|(_, n)| n);
            if last.as_ref() != Some(&lowest) {
                let item = match &lowest {
                    None => None,
                    Some(name) => match client.get_data(&child_path(&dir, name)).await {
                        Ok((data, _)) => Some((name.clone(), data)),
                        // Gone already: the child watch fires; list again.
                        Err(Error::Server(ErrorCode::NoNode)) | Err(Error::ConnectionLoss) => {
                            continue
                        }
                        Err(_) => return,
                    },
                };
                if tx.send(item).is_err() {
                    return;
                }
                last = Some(lowest);
            }
            tokio::select! {
                e = w.recv() => if e.is_none() { return },
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

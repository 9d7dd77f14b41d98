//! Coordination recipes on top of [`Client`]: leader election, a mutual-exclusion lock and
//! "lowest sequential child" detection (what Mesos masters and their clients do with
//! `json.info_<seq>` nodes).
//!
//! All recipes use EPHEMERAL_SEQUENTIAL children of one parent node and order contenders by
//! the numeric sequence suffix that follows a fixed prefix (never lexicographically across
//! prefixes). A waiting contender watches only its immediate predecessor, so a departure wakes
//! exactly one other contender (no herd effect).
//!
//! Children may carry Curator's protection (`_c_<uuid>-<prefix><seq>`, see
//! [`crate::protected`]): they are ordered with the plain `<prefix><seq>` ones by sequence
//! number, as Curator orders them. The lock and (by default) the election create protected
//! nodes, so a `ConnectionLoss` during the create never leaves an unknown duplicate queued.

mod election;
mod lock;
mod lowest;

pub use election::{LeaderElection, LeaderState};
pub use lock::{Lock, LockGuard, LockLoss, LockState};
pub use lowest::{lowest_child, watch_lowest_child};

use crate::{Acl, Client, CreateMode, Error, ErrorCode, Result};

/// Creates `path` and any missing ancestors as empty persistent nodes (open ACL).
pub async fn ensure_path(client: &Client, path: &str) -> Result<()> {
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        match client
            .create(&at, b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
        {
            Ok(_) | Err(Error::Server(ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The sequence number of `name` if it is `<prefix><digits>`, protected or not.
pub fn sequence_of(name: &str, prefix: &str) -> Option<i64> {
    let digits = crate::protected::strip_protection(name).strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The children named `<prefix><digits>`, ordered by sequence number.
pub fn sequential_children(children: &[String], prefix: &str) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = children
        .iter()
        .filter_map(|c| sequence_of(c, prefix).map(|s| (s, c.clone())))
        .collect();
    v.sort();
    v
}

/// `dir/name`, for a `dir` that may be `/`.
pub(crate) fn child_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last path segment.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Where a contender stands among `prefix` children of `dir`.
pub(crate) enum Position {
    /// Our node has the lowest sequence number.
    First,
    /// Waiting behind this predecessor (a full path).
    Behind(String),
    /// Our node is gone (deleted by someone else, or the session ended).
    Gone,
}

/// Reads the children of `dir` and finds our node `me` (a base name) among them.
pub(crate) async fn position(
    client: &Client,
    dir: &str,
    prefix: &str,
    me: &str,
) -> Result<Position> {
    let children = client.get_children(dir).await?;
    let members = sequential_children(&children, prefix);
    let Some(i) = members.iter().position(|(_, n)| n == me) else {
        return Ok(Position::Gone);
    };
    Ok(match i {
        0 => Position::First,
        _ => Position::Behind(child_path(dir, &members[i - 1].1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_compare_numerically_within_a_prefix() {
        let children: Vec<String> = [
            "json.info_0000000010",
            "log_replicas",
            "json.info_0000000002",
            "json.info_",
            "json.info_x1",
            "lock-0000000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            sequential_children(&children, "json.info_"),
            vec![
                (2, "json.info_0000000002".to_string()),
                (10, "json.info_0000000010".to_string())
            ]
        );
        assert_eq!(sequence_of("lock-0000000001", "lock-"), Some(1));
        let guarded = "_c_8c1b2a3f-0d4e-4f5a-9b6c-7d8e9f0a1b2c-lock-0000000000".to_string();
        let mixed = [guarded.clone(), "lock-0000000001".to_string()];
        assert_eq!(
            sequential_children(&mixed, "lock-"),
            vec![(0, guarded), (1, "lock-0000000001".to_string())]
        );
        assert_eq!(sequence_of("_c_x-lock-0000000001", "lock-"), None);
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/x", "a"), "/x/a");
        assert_eq!(base_name("/x/a"), "a");
    }
}

//! Protected creates, as Curator's `withProtection()` makes them: the node's name starts with
//! `_c_<uuid>-`, a GUID fresh for each call, so that after a `ConnectionLoss` (the create may or
//! may not have been applied) the caller finds its own node by listing the parent instead of
//! creating a second one. A lost sequential ephemeral would otherwise live as long as the
//! session, unknown to its creator: in a lock or election queue it blocks everyone behind it.
//!
//! The name format is Curator's, kept exactly because recipe children are read by other
//! clients: `_c_` + a lowercase hyphenated UUID (36 characters) + `-` + the requested name,
//! e.g. `_c_0f8e2a47-5b1c-4d3e-9a7f-2c4b6d8e0a1b-lock-0000000007`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Acl, Client, CreateMode, Error, ErrorCode, Result};

/// What every protected name starts with.
pub const PROTECTED_PREFIX: &str = "_c_";
/// The length of the UUID in a protected name.
const UUID_LEN: usize = 36;

/// A random (version 4) UUID in its 36-character text form. The randomness comes from the
/// standard library's per-process random hash keys, mixed with a counter and the clock: enough
/// to keep GUIDs of concurrent clients apart, which is all a protected name needs.
pub fn new_guid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut halves = [0u64; 2];
    for (i, h) in halves.iter_mut().enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(n);
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.write_usize(i);
        *h = hasher.finish();
    }
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&halves[0].to_be_bytes());
    b[8..].copy_from_slice(&halves[1].to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `_c_<guid>-`: the start of every name a protected create with `guid` makes.
pub fn protected_prefix(guid: &str) -> String {
    format!("{PROTECTED_PREFIX}{guid}-")
}

/// The name without its `_c_<uuid>-` protection, if it has one (else the name itself).
pub fn strip_protection(name: &str) -> &str {
    let Some(rest) = name.strip_prefix(PROTECTED_PREFIX) else {
        return name;
    };
    let (Some(uuid), Some(tail)) = (rest.get(..UUID_LEN), rest.get(UUID_LEN..)) else {
        return name;
    };
    let uuid_shaped = uuid.bytes().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_hexdigit(),
    });
    match tail.strip_prefix('-') {
        Some(n) if uuid_shaped => n,
        _ => name,
    }
}

/// `(parent, name)` of an absolute path; the parent of `/x` is `/`.
fn split(path: &str) -> Result<(&str, &str)> {
    match path.rfind('/') {
        Some(0) => Ok(("/", &path[1..])),
        Some(i) => Ok((&path[..i], &path[i + 1..])),
        None => Err(Error::BadArguments(format!("{path:?}: not absolute"))),
    }
}

impl Client {
    /// Creates `<parent>/_c_<guid>-<name>` for `path` = `<parent>/<name>` (plus the sequence
    /// suffix in sequential modes) and returns its path. On `ConnectionLoss` it lists the
    /// parent once the session is back and returns the node bearing its GUID if the create was
    /// applied; otherwise it creates again, with the same GUID. Any other error is returned
    /// as [`Client::create`] would. TTL and container modes are refused.
    pub async fn create_protected(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<String> {
        self.create_protected_with_guid(path, data, acl, mode, &new_guid())
            .await
    }

    /// [`Client::create_protected`] with EPHEMERAL_SEQUENTIAL, the mode recipes use (Curator's
    /// `withProtection().withMode(EPHEMERAL_SEQUENTIAL)`).
    pub async fn create_protected_ephemeral_sequential(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
    ) -> Result<String> {
        self.create_protected(path, data, acl, CreateMode::EphemeralSequential)
            .await
    }

    /// [`Client::create_protected`] with a caller-chosen GUID (a 36-character UUID), for
    /// callers that must know it before the create (e.g. to recognise their node later).
    pub async fn create_protected_with_guid(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        guid: &str,
    ) -> Result<String> {
        if mode.is_ttl() || mode.is_container() {
            return Err(Error::BadArguments(format!(
                "{mode:?}: protected creates are for persistent and ephemeral modes"
            )));
        }
        let (parent, name) = split(path)?;
        let prefix = protected_prefix(guid);
        if strip_protection(&format!("{prefix}x")) != "x" {
            return Err(Error::BadArguments(format!("{guid:?} is not a UUID")));
        }
        let target = if parent == "/" {
            format!("/{prefix}{name}")
        } else {
            format!("{parent}/{prefix}{name}")
        };
        loop {
            match self.create(&target, data, acl, mode).await {
                Err(Error::ConnectionLoss) => {}
                other => return other,
            }
            // Applied or not? Ask once the session is back (the listing waits for it).
            if let Some(found) = self.find_protected(parent, &prefix).await? {
                return Ok(found);
            }
            tracing::debug!(path = %target, "protected create was not applied; creating again");
        }
    }

    /// The child of `parent` whose name starts with `prefix`, retrying the listing through
    /// connection losses. A missing parent means the node is not there either.
    async fn find_protected(&self, parent: &str, prefix: &str) -> Result<Option<String>> {
        loop {
            match self.get_children(parent).await {
                Ok(children) => {
                    return Ok(children.iter().find(|c| c.starts_with(prefix)).map(|c| {
                        if parent == "/" {
                            format!("/{c}")
                        } else {
                            format!("{parent}/{c}")
                        }
                    }))
                }
                Err(Error::ConnectionLoss) => continue,
                Err(Error::Server(ErrorCode::NoNode)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_v4_uuids_and_distinct() {
        let a = new_guid();
        let b = new_guid();
        assert_ne!(a, b);
        for g in [&a, &b] {
            assert_eq!(g.len(), UUID_LEN);
            assert_eq!(&g[14..15], "4", "{g}");
            assert!(matches!(&g[19..20], "8" | "9" | "a" | "b"), "{g}");
            assert_eq!(
                strip_protection(&format!("_c_{g}-lock-0000000001")),
                "lock-0000000001"
            );
        }
    }

    #[test]
    fn strip_protection_needs_curators_exact_shape() {
        // A name Curator's LeaderLatch made.
        assert_eq!(
            strip_protection("_c_8c1b2a3f-0d4e-4f5a-9b6c-7d8e9f0a1b2c-latch-0000000003"),
            "latch-0000000003"
        );
        assert_eq!(strip_protection("lock-0000000001"), "lock-0000000001");
        assert_eq!(strip_protection("_c_short-lock-1"), "_c_short-lock-1");
        assert_eq!(
            strip_protection("_c_8c1b2a3f-0d4e-4f5a-9b6c-7d8e9f0a1b2cxlock-1"),
            "_c_8c1b2a3f-0d4e-4f5a-9b6c-7d8e9f0a1b2cxlock-1"
        );
        assert_eq!(
            strip_protection("_c_8c1b2a3f+0d4e-4f5a-9b6c-7d8e9f0a1b2c-lock-1"),
            "_c_8c1b2a3f+0d4e-4f5a-9b6c-7d8e9f0a1b2c-lock-1"
        );
        assert_eq!(split("/a/b").unwrap(), ("/a", "b"));
        assert_eq!(split("/b").unwrap(), ("/", "b"));
    }
}

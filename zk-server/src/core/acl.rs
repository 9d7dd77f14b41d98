//! ACL evaluation as ZooKeeper's `checkACL`/`fixupACL` do it, the digest scheme, and the
//! reference-counted ACL cache that snapshots store.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};
use zk_proto::data::{Acl, Id};
use zk_proto::ErrorCode;

/// `user:password` -> `user:base64(sha1(user:password))` (DigestAuthenticationProvider).
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(id_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Does one ACL entry's id match one of the session's identities?
fn id_matches(acl_id: &Id, auth: &Id) -> bool {
    if acl_id.scheme != auth.scheme {
        return false;
    }
    match acl_id.scheme.as_str() {
        "ip" => ip_matches(&auth.id, &acl_id.id),
        "digest" | "x509" => auth.id == acl_id.id,
        _ => false,
    }
}

/// The connection identities an `addauth x509` re-asserts: those its certificate gave.
pub fn x509_identities(auth: &[Id]) -> Vec<Id> {
    auth.iter()
        .filter(|id| id.scheme == "x509" || (id.scheme == "super" && !id.id.is_empty()))
        .cloned()
        .collect()
}

/// `ip` scheme: the ACL id is an address, optionally `/bits`; the session id is its address.
fn ip_matches(client: &str, acl_expr: &str) -> bool {
    let (addr, bits) = match acl_expr.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (acl_expr, None),
    };
    let (Ok(acl_ip), Ok(client_ip)) = (addr.parse::<IpAddr>(), client.parse::<IpAddr>()) else {
        return false;
    };
    let (a, c): (Vec<u8>, Vec<u8>) = match (acl_ip, client_ip) {
        (IpAddr::V4(a), IpAddr::V4(c)) => (a.octets().to_vec(), c.octets().to_vec()),
        (IpAddr::V6(a), IpAddr::V6(c)) => (a.octets().to_vec(), c.octets().to_vec()),
        _ => return false,
    };
    let bits = bits.unwrap_or(a.len() as u32 * 8).min(a.len() as u32 * 8) as usize;
    (0..a.len()).all(|i| {
        let take = bits.saturating_sub(i * 8).min(8);
        let mask: u8 = if take == 0 { 0 } else { 0xffu8 << (8 - take) };
        a[i] & mask == c[i] & mask
    })
}

fn ip_acl_valid(expr: &str) -> bool {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match bits {
        None => true,
        Some(b) => b.parse::<u32>().map(|n| n <= max).unwrap_or(false),
    }
}

/// ZooKeeper's `checkACL`: an empty ACL or a `super` identity allows everything; otherwise some
/// entry with one of `perm`'s bits must match `world:anyone` or one of the session's ids.
pub fn check(acl: &[Acl], perm: i32, auth: &[Id], skip_acl: bool) -> Result<(), ErrorCode> {
    if skip_acl || acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
        return Ok(());
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        if auth.iter().any(|id| id_matches(&a.id, id)) {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

/// ZooKeeper's `fixupACL`: drops duplicates, expands `auth` to the session's authenticated
/// (non-ip) identities, and rejects malformed entries with `InvalidACL`.
pub fn fixup(acls: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut uniq: Vec<&Acl> = Vec::with_capacity(acls.len());
    for a in acls {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(uniq.len());
    for a in uniq {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a.clone()),
            "auth" => {
                // Only providers that really authenticate (digest, x509; not ip) expand `auth`.
                let mut any = false;
                for id in auth
                    .iter()
                    .filter(|id| id.scheme == "digest" || id.scheme == "x509")
                {
                    any = true;
                    out.push(Acl {
                        perms: a.perms,
                        id: id.clone(),
                    });
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if a.id.id.split(':').count() == 2 => out.push(a.clone()),
            "ip" if ip_acl_valid(&a.id.id) => out.push(a.clone()),
            // A distinguished name (X500Principal accepts it): at least one `type=value`.
            "x509" if a.id.id.contains('=') => out.push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// For `getACL` without ADMIN permission: digest hashes are masked as ZooKeeper does.
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id::new("digest", &format!("{user}:x")),
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

/// Interned ACL lists with reference counts, keyed by the `long` refs snapshots store.
/// Ref -1 is the open ACL (`world:anyone`, all perms), which is never stored.
#[derive(Debug, Default, Clone)]
pub struct AclCache {
    by_ref: BTreeMap<i64, (Vec<Acl>, u64)>,
    by_acl: HashMap<Vec<Acl>, i64>,
    next_ref: i64,
}

pub const OPEN_ACL_REF: i64 = -1;

impl AclCache {
    pub fn intern(&mut self, acl: &[Acl]) -> i64 {
        if acl == Acl::open_unsafe().as_slice() {
            return OPEN_ACL_REF;
        }
        if let Some(&r) = self.by_acl.get(acl) {
            if let Some(e) = self.by_ref.get_mut(&r) {
                e.1 += 1;
            }
            return r;
        }
        self.next_ref += 1;
        let r = self.next_ref;
        self.by_ref.insert(r, (acl.to_vec(), 1));
        self.by_acl.insert(acl.to_vec(), r);
        r
    }

    /// Whether `acl` is interned already (or is the open ACL, which always is).
    pub fn contains(&self, acl: &[Acl]) -> bool {
        acl == Acl::open_unsafe().as_slice() || self.by_acl.contains_key(acl)
    }

    pub fn release(&mut self, r: i64) {
        if r == OPEN_ACL_REF {
            return;
        }
        if let Some(e) = self.by_ref.get_mut(&r) {
            e.1 = e.1.saturating_sub(1);
            if e.1 == 0 {
                if let Some((acl, _)) = self.by_ref.remove(&r) {
                    self.by_acl.remove(&acl);
                }
            }
        }
    }

    /// The list behind a ref. -1 is the open ACL; a ref the cache does not know (a dangling ref
    /// from a fuzzy Apache snapshot, until replay recreates it) grants nothing: it must never
    /// fail open.
    pub fn get(&self, r: i64) -> Vec<Acl> {
        self.with(r, <[Acl]>::to_vec)
    }

    /// Like [`get`](Self::get) without cloning, for checks on the hot path.
    pub fn with<T>(&self, r: i64, f: impl FnOnce(&[Acl]) -> T) -> T {
        match self.by_ref.get(&r) {
            Some((acl, _)) => f(acl),
            None if r == OPEN_ACL_REF => f(&Acl::open_unsafe()),
            None => f(&[Acl::new(0, "world", "anyone")]),
        }
    }

    pub fn len(&self) -> usize {
        self.by_ref.len()
    }

    /// Every stored list with its ref, in ref order (what a snapshot's ACL section holds).
    pub fn entries(&self) -> impl Iterator<Item = (i64, &[Acl])> {
        self.by_ref.iter().map(|(r, (acl, _))| (*r, acl.as_slice()))
    }

    /// Rebuilds the cache from a snapshot's ACL section; reference counts start at zero and are
    /// raised by [`add_usage`](Self::add_usage) for every node that uses a ref.
    pub fn restore(entries: impl IntoIterator<Item = (i64, Vec<Acl>)>) -> Self {
        let mut c = AclCache::default();
        for (r, acl) in entries {
            c.next_ref = c.next_ref.max(r);
            c.by_acl.insert(acl.clone(), r);
            c.by_ref.insert(r, (acl, 0));
        }
        c
    }

    /// Counts one more node using `r`; false if the ref is unknown (and not the open ACL).
    pub fn add_usage(&mut self, r: i64) -> bool {
        if r == OPEN_ACL_REF {
            return true;
        }
        match self.by_ref.get_mut(&r) {
            Some(e) => {
                e.1 += 1;
                true
            }
            None => false,
        }
    }

    /// Drops lists no node uses (after a restore), as ZooKeeper's `purgeUnused` does.
    pub fn purge_unused(&mut self) {
        let unused: Vec<i64> = self
            .by_ref
            .iter()
            .filter(|(_, (_, n))| *n == 0)
            .map(|(r, _)| *r)
            .collect();
        for r in unused {
            if let Some((acl, _)) = self.by_ref.remove(&r) {
                self.by_acl.remove(&acl);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_ref.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::Perms;

    #[test]
    fn digest_matches_zookeeper() {
        // Value produced by ZooKeeper's DigestAuthenticationProvider.generateDigest.
        assert_eq!(
            generate_digest("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn check_rules() {
        let acl = vec![Acl::new(Perms::READ, "digest", &generate_digest("u:p"))];
        let me = vec![
            Id::new("ip", "127.0.0.1"),
            Id::new("digest", &generate_digest("u:p")),
        ];
        let other = vec![Id::new("ip", "127.0.0.1")];
        assert_eq!(check(&acl, Perms::READ, &me, false), Ok(()));
        assert_eq!(
            check(&acl, Perms::WRITE, &me, false),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check(&acl, Perms::READ, &other, false),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check(&acl, Perms::READ, &[Id::new("super", "")], false),
            Ok(())
        );
        assert_eq!(check(&[], Perms::READ, &other, false), Ok(()));
        let ip = vec![Acl::new(Perms::ALL, "ip", "127.0.0.0/8")];
        assert_eq!(check(&ip, Perms::READ, &other, false), Ok(()));
        assert_eq!(
            check(&ip, Perms::READ, &[Id::new("ip", "10.0.0.1")], false),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn fixup_rules() {
        let auth = vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:h")];
        let fixed = fixup(&[Acl::new(Perms::ALL, "auth", "")], &auth).unwrap();
        assert_eq!(fixed, vec![Acl::new(Perms::ALL, "digest", "u:h")]);
        assert_eq!(
            fixup(&[Acl::new(Perms::ALL, "auth", "")], &auth[..1]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(fixup(&[], &auth), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup(&[Acl::new(31, "world", "nobody")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(&[Acl::new(31, "digest", "nocolon")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(&[Acl::new(31, "ip", "1.2.3.4/33")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        let dup = vec![
            Acl::new(31, "world", "anyone"),
            Acl::new(31, "world", "anyone"),
        ];
        assert_eq!(fixup(&dup, &auth).unwrap().len(), 1);
    }

    #[test]
    fn acl_cache_refcounts() {
        let mut c = AclCache::default();
        assert_eq!(c.intern(&Acl::open_unsafe()), OPEN_ACL_REF);
        let acl = Acl::read_unsafe();
        let r = c.intern(&acl);
        assert_eq!(c.intern(&acl), r);
        c.release(r);
        assert_eq!(c.get(r), acl);
        c.release(r);
        assert!(c.is_empty());
        // An unknown ref denies everything rather than failing open.
        assert_eq!(
            check(
                &c.get(42),
                Perms::READ,
                &[Id::new("ip", "127.0.0.1")],
                false
            ),
            Err(ErrorCode::NoAuth)
        );
    }
}

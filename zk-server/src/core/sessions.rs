//! Sessions: ids and passwords generated as ZooKeeper generates them, and expiry in tick-sized
//! buckets (`ExpiryQueue`): a session touched at `now` expires at the first bucket boundary
//! after `now + timeout`. Time is always an argument.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// ZooKeeper's `superSecret`, mixed into the password seed.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// `java.util.Random`: a 48-bit LCG. Reproduced exactly so that a session's password is the
/// one Apache ZooKeeper would give it.
struct JavaRandom(i64);

impl JavaRandom {
    const MULT: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom((seed ^ Self::MULT) & Self::MASK)
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.0 = (self.0.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.0 >> (48 - bits)) as i32
    }

    fn next_bytes(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let mut rnd = self.next(32);
            let n = (out.len() - i).min(4);
            for _ in 0..n {
                out[i] = rnd as u8;
                rnd >>= 8;
                i += 1;
            }
        }
    }
}

/// The 16-byte password of a session (`ZooKeeperServer.generatePasswd`).
pub fn password(session_id: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut out);
    out
}

/// The first session id a server hands out (`SessionTrackerImpl.initializeNextSessionId`).
pub fn initial_session_id(server_id: u64, elapsed_ms: u64) -> i64 {
    let mut id = (((elapsed_ms as i64) << 24) as u64 >> 8) as i64;
    id |= (server_id as i64) << 56;
    if id == i64::MIN {
        id += 1;
    }
    id
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub timeout_ms: u32,
    pub expires_at_ms: u64,
    /// Set once its closeSession txn is proposed; later requests get SessionExpired.
    pub closing: bool,
}

#[derive(Debug, Clone)]
pub struct SessionTracker {
    sessions: HashMap<i64, Session>,
    buckets: BTreeMap<u64, BTreeSet<i64>>,
    tick_ms: u64,
    next_id: i64,
}

impl SessionTracker {
    pub fn new(server_id: u64, tick_ms: u32, now_ms: u64) -> Self {
        SessionTracker {
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
            tick_ms: u64::from(tick_ms.max(1)),
            next_id: initial_session_id(server_id, now_ms),
        }
    }

    pub fn next_session_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn bucket_of(&self, t: u64) -> u64 {
        (t / self.tick_ms + 1) * self.tick_ms
    }

    /// Adds (or re-adds, on replay) a session and schedules its expiry. A known id (restored or
    /// replayed) pushes the next id above it, so a restart with a clock that did not move on
    /// can never hand out a live session's id (and with it its password).
    pub fn add(&mut self, id: i64, timeout_ms: u32, now_ms: u64) {
        if id >> 56 == self.next_id >> 56 && id >= self.next_id {
            self.next_id = id + 1;
        }
        let at = self.bucket_of(now_ms + u64::from(timeout_ms));
        if let Some(old) = self.sessions.insert(
            id,
            Session {
                id,
                timeout_ms,
                expires_at_ms: at,
                closing: false,
            },
        ) {
            self.unbucket(old.id, old.expires_at_ms);
        }
        self.buckets.entry(at).or_default().insert(id);
    }

    fn unbucket(&mut self, id: i64, at: u64) {
        if let Some(b) = self.buckets.get_mut(&at) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&at);
            }
        }
    }

    /// Pushes a live session's expiry out; false if it is gone or closing.
    pub fn touch(&mut self, id: i64, now_ms: u64) -> bool {
        let Some(s) = self.sessions.get(&id) else {
            return false;
        };
        if s.closing {
            return false;
        }
        let (old, timeout) = (s.expires_at_ms, s.timeout_ms);
        let at = self.bucket_of(now_ms + u64::from(timeout));
        if at != old {
            self.unbucket(id, old);
            self.buckets.entry(at).or_default().insert(id);
            if let Some(s) = self.sessions.get_mut(&id) {
                s.expires_at_ms = at;
            }
        }
        true
    }

    pub fn set_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    pub fn remove(&mut self, id: i64) -> Option<Session> {
        let s = self.sessions.remove(&id)?;
        self.unbucket(id, s.expires_at_ms);
        Some(s)
    }

    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Sessions whose bucket has passed and that are not already closing, in id order per bucket.
    pub fn expired(&self, now_ms: u64) -> Vec<i64> {
        self.buckets
            .range(..=now_ms)
            .flat_map(|(_, ids)| ids.iter().copied())
            .filter(|id| self.sessions.get(id).is_some_and(|s| !s.closing))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// The next time anything may expire, for the runtime's timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.buckets.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_jdk() {
        // new java.util.Random(42).nextInt() == -1170105035 (a well-known JDK value).
        assert_eq!(JavaRandom::new(42).next(32), -1_170_105_035);
        // new Random(0).nextInt() == -1155484576.
        assert_eq!(JavaRandom::new(0).next(32), -1_155_484_576);
    }

    #[test]
    fn password_is_deterministic_per_session() {
        assert_eq!(password(0x100), password(0x100));
        assert_ne!(password(0x100), password(0x101));
    }

    #[test]
    fn standalone_session_ids_start_with_server_byte() {
        let id = initial_session_id(1, 123_456);
        assert_eq!((id as u64) >> 56, 1);
        // `(elapsed << 24) >>> 8`: the elapsed millis sit at bit 16, under the server byte.
        assert_eq!(((id as u64) >> 16) & 0xff_ffff_ffff, 123_456);
    }

    #[test]
    fn restored_sessions_push_the_next_id_past_them() {
        let mut t = SessionTracker::new(1, 2000, 5);
        let first = t.next_session_id();
        t.add(first + 10, 4000, 0);
        assert_eq!(t.next_session_id(), first + 11);
        // Another server's ids (other high byte) do not move ours.
        t.add(0x0200_0000_0000_0000, 4000, 0);
        assert_eq!(t.next_session_id(), first + 12);
    }

    #[test]
    fn bucketed_expiry() {
        let mut t = SessionTracker::new(1, 2000, 0);
        t.add(7, 4000, 500); // expires at bucket (4500/2000+1)*2000 = 6000
        assert_eq!(t.get(7).unwrap().expires_at_ms, 6000);
        assert!(t.expired(5999).is_empty());
        assert!(t.touch(7, 3000)); // 7000 -> bucket 8000
        assert!(t.expired(6000).is_empty());
        assert_eq!(t.expired(8000), vec![7]);
        t.set_closing(7);
        assert!(t.expired(9000).is_empty());
        assert!(!t.touch(7, 9000));
    }
}

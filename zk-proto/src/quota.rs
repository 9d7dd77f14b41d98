//! The quota znodes' data format (ZooKeeper 3.7+'s `StatsTrack`), shared by the server, which
//! keeps usage and enforces limits, and zkcli's `setquota`/`listquota`/`delquota`.
//!
//! A quota on `/a/b` is `/zookeeper/quota/a/b/zookeeper_limits` (the limits) and
//! `/zookeeper/quota/a/b/zookeeper_stats` (the usage). Their data is `key=value` pairs split on
//! `,` and `;`; a missing key or an empty value reads as -1. It is written `count=C,bytes=B`,
//! then, if there are other keys, an extra `=` (which older parsers ignore) and `;key=value`
//! for each, sorted: `count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=20`.

use std::collections::BTreeMap;

/// Where quota znodes live.
pub const QUOTA: &str = "/zookeeper/quota";
/// The leaf holding a quota's limits.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// The leaf holding a quota's usage.
pub const STAT_NODE: &str = "zookeeper_stats";

/// Soft limit (limits) or usage (stats): nodes.
pub const COUNT: &str = "count";
/// Soft limit (limits) or usage (stats): bytes of data.
pub const BYTES: &str = "bytes";
pub const COUNT_HARD: &str = "countHardLimit";
pub const BYTES_HARD: &str = "byteHardLimit";

/// `/zookeeper/quota<path>/zookeeper_limits`.
pub fn limit_path(quota_path: &str) -> String {
    format!("{QUOTA}{quota_path}/{LIMIT_NODE}")
}

/// `/zookeeper/quota<path>/zookeeper_stats`.
pub fn stat_path(quota_path: &str) -> String {
    format!("{QUOTA}{quota_path}/{STAT_NODE}")
}

/// A quota znode's data: limits or usage.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsTrack(BTreeMap<String, i64>);

impl StatsTrack {
    /// Reads what it can; pairs with an unreadable value are skipped.
    pub fn parse(data: &[u8]) -> StatsTrack {
        Self::parse_checked(data).0
    }

    /// As [`StatsTrack::parse`], also returning the pairs it skipped.
    pub fn parse_checked(data: &[u8]) -> (StatsTrack, Vec<String>) {
        let text = String::from_utf8_lossy(data);
        let mut m = BTreeMap::new();
        let mut skipped = Vec::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            // As Java's split("="), which drops trailing empty strings: `bytes=5=` is bytes=5.
            let mut kv = pair.split('=');
            let k = kv.next().unwrap_or_default();
            let v = kv.next().unwrap_or_default();
            let v = if v.is_empty() { Ok(-1) } else { v.parse() };
            match v {
                Ok(v) => {
                    m.insert(k.to_owned(), v);
                }
                Err(_) => skipped.push(pair.to_owned()),
            }
        }
        (StatsTrack(m), skipped)
    }

    /// A usage record: just `count=C,bytes=B`.
    pub fn usage(count: i64, bytes: i64) -> StatsTrack {
        let mut s = StatsTrack::default();
        s.set(COUNT, count);
        s.set(BYTES, bytes);
        s
    }

    pub fn get(&self, k: &str) -> i64 {
        self.0.get(k).copied().unwrap_or(-1)
    }

    pub fn set(&mut self, k: &str, v: i64) {
        self.0.insert(k.to_owned(), v);
    }

    pub fn count(&self) -> i64 {
        self.get(COUNT)
    }

    pub fn bytes(&self) -> i64 {
        self.get(BYTES)
    }

    pub fn count_hard_limit(&self) -> i64 {
        self.get(COUNT_HARD)
    }

    pub fn byte_hard_limit(&self) -> i64 {
        self.get(BYTES_HARD)
    }

    /// The count limit that applies, and whether it is the hard one (which wins when set);
    /// -1 for none.
    pub fn count_limit(&self) -> (bool, i64) {
        pick_limit(self.count_hard_limit(), self.count())
    }

    /// The byte limit that applies, and whether it is the hard one; -1 for none.
    pub fn byte_limit(&self) -> (bool, i64) {
        pick_limit(self.byte_hard_limit(), self.bytes())
    }
}

fn pick_limit(hard: i64, soft: i64) -> (bool, i64) {
    if hard > -1 {
        (true, hard)
    } else {
        (false, soft)
    }
}

impl std::fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{COUNT}={},{BYTES}={}", self.count(), self.bytes())?;
        let mut rest = self.0.iter().filter(|(k, _)| *k != COUNT && *k != BYTES);
        if let Some((k, v)) = rest.next() {
            write!(f, "=;{k}={v}")?;
            for (k, v) in rest {
                write!(f, ";{k}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_like_zookeeper() {
        let text = "count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=20";
        let s = StatsTrack::parse(text.as_bytes());
        assert_eq!((s.count(), s.bytes()), (10, -1));
        assert_eq!((s.count_hard_limit(), s.byte_hard_limit()), (20, -1));
        assert_eq!(s.to_string(), text);
        assert_eq!(StatsTrack::usage(3, 7).to_string(), "count=3,bytes=7");
        // 3.6 and older wrote no hard limits; an empty value is -1.
        let old = StatsTrack::parse(b"count=5,bytes=");
        assert_eq!(
            (old.count(), old.bytes(), old.count_hard_limit()),
            (5, -1, -1)
        );
        let (s, skipped) = StatsTrack::parse_checked(b"count=x,bytes=4");
        assert_eq!((s.count(), s.bytes()), (-1, 4));
        assert_eq!(skipped, vec!["count=x".to_owned()]);
        assert_eq!(limit_path("/a"), "/zookeeper/quota/a/zookeeper_limits");
        assert_eq!(stat_path("/a"), "/zookeeper/quota/a/zookeeper_stats");
    }
}

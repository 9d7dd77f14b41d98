//! The in-memory tail of the replicated log.

use std::collections::VecDeque;

use crate::{Entry, Zxid};

/// Entries after `base` (the zxid of the state image the log continues from), oldest first,
/// with the highest zxid known durable. Older entries are trimmed once they are delivered,
/// durable and more than `limit` exist; a learner older than `base` gets a SNAP.
#[derive(Clone, Debug)]
pub(crate) struct History {
    base: Zxid,
    entries: VecDeque<Entry>,
    durable: Zxid,
    limit: usize,
}

impl History {
    pub(crate) fn new(base: Zxid, entries: Vec<Entry>, limit: usize) -> History {
        let mut h = History {
            base,
            entries: VecDeque::new(),
            durable: base,
            limit: limit.max(1),
        };
        for e in entries {
            if e.zxid > h.last() {
                h.entries.push_back(e);
            }
        }
        h.durable = h.last();
        h
    }

    #[cfg(test)]
    pub(crate) fn base(&self) -> Zxid {
        self.base
    }

    pub(crate) fn last(&self) -> Zxid {
        self.entries.back().map_or(self.base, |e| e.zxid)
    }

    pub(crate) fn durable(&self) -> Zxid {
        self.durable
    }

    pub(crate) fn set_durable(&mut self, zxid: Zxid) {
        self.durable = self.durable.max(zxid.min(self.last()));
    }

    pub(crate) fn append(&mut self, e: Entry) {
        debug_assert!(e.zxid > self.last());
        self.entries.push_back(e);
    }

    /// The index of `zxid` among the entries.
    fn index(&self, zxid: Zxid) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.zxid.cmp(&zxid))
    }

    /// Whether the history passes through `zxid` (the base counts).
    pub(crate) fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base || self.index(zxid).is_ok()
    }

    /// The highest point of the history at or below `zxid`, or `None` below the base.
    pub(crate) fn floor(&self, zxid: Zxid) -> Option<Zxid> {
        if zxid < self.base {
            return None;
        }
        match self.index(zxid) {
            Ok(i) => Some(self.entries[i].zxid),
            Err(0) => Some(self.base),
            Err(i) => Some(self.entries[i - 1].zxid),
        }
    }

    /// Entries with `after < zxid <= upto`.
    pub(crate) fn range(&self, after: Zxid, upto: Zxid) -> impl Iterator<Item = &Entry> {
        let start = match self.index(after) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.entries
            .range(start..)
            .take_while(move |e| e.zxid <= upto)
    }

    /// Drops every entry after `zxid`.
    pub(crate) fn truncate(&mut self, zxid: Zxid) {
        while self.entries.back().is_some_and(|e| e.zxid > zxid) {
            self.entries.pop_back();
        }
        self.durable = self.durable.min(self.last());
    }

    /// Forgets everything: the state is now an image at `zxid`.
    pub(crate) fn reset(&mut self, zxid: Zxid) {
        self.entries.clear();
        self.base = zxid;
        self.durable = zxid;
    }

    /// Trims old entries that are delivered and durable, keeping at most `limit`.
    pub(crate) fn trim(&mut self, delivered: Zxid) {
        while self.entries.len() > self.limit {
            let front = self.entries[0].zxid;
            if front > delivered || front > self.durable {
                break;
            }
            self.base = front;
            self.entries.pop_front();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Epoch;
    use bytes::Bytes;

    fn e(epoch: u32, c: u32) -> Entry {
        Entry {
            zxid: Zxid::new(Epoch(epoch), c),
            data: Bytes::new(),
        }
    }

    #[test]
    fn floor_range_truncate_and_trim() {
        let mut h = History::new(Zxid::new(Epoch(1), 2), vec![e(1, 3), e(1, 4), e(2, 1)], 2);
        assert_eq!(h.last(), Zxid::new(Epoch(2), 1));
        assert!(h.contains(Zxid::new(Epoch(1), 2)));
        assert!(!h.contains(Zxid::new(Epoch(1), 5)));
        assert_eq!(
            h.floor(Zxid::new(Epoch(1), 9)),
            Some(Zxid::new(Epoch(1), 4))
        );
        assert_eq!(
            h.floor(Zxid::new(Epoch(1), 2)),
            Some(Zxid::new(Epoch(1), 2))
        );
        assert_eq!(h.floor(Zxid::new(Epoch(1), 1)), None);
        let r: Vec<Zxid> = h
            .range(Zxid::new(Epoch(1), 3), Zxid::new(Epoch(9), 0))
            .map(|e| e.zxid)
            .collect();
        assert_eq!(r, vec![Zxid::new(Epoch(1), 4), Zxid::new(Epoch(2), 1)]);
        h.trim(Zxid::new(Epoch(1), 3));
        assert_eq!(h.base(), Zxid::new(Epoch(1), 3));
        assert_eq!(h.len(), 2);
        h.truncate(Zxid::new(Epoch(1), 4));
        assert_eq!(h.last(), Zxid::new(Epoch(1), 4));
        assert_eq!(h.durable(), Zxid::new(Epoch(1), 4));
    }
}

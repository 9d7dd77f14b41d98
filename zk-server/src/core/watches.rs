//! Watches, as ZooKeeper's two `WatchManager`s (data and child) keep them: per path, which
//! connections watch it and in which modes. Standard watches fire once; persistent ones stay;
//! persistent-recursive ones (data manager only) also fire for every descendant.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use zk_proto::EventType;

use super::ConnId;

pub const STANDARD: u8 = 1;
pub const PERSISTENT: u8 = 2;
pub const RECURSIVE: u8 = 4;

#[derive(Debug, Default, Clone)]
pub struct WatchManager {
    /// path -> connection -> mode bits
    table: HashMap<String, BTreeMap<ConnId, u8>>,
    /// connection -> paths it watches here (for cleanup and `wchc`)
    by_conn: HashMap<ConnId, BTreeSet<String>>,
    recursive_count: usize,
}

impl WatchManager {
    pub fn add(&mut self, path: &str, conn: ConnId, mode: u8) {
        let entry = self
            .table
            .entry(path.to_owned())
            .or_default()
            .entry(conn)
            .or_insert(0);
        if mode == RECURSIVE && *entry & RECURSIVE == 0 {
            self.recursive_count += 1;
        }
        *entry |= mode;
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(path.to_owned());
    }

    /// Removes the given mode bits of `conn`'s watch on `path`; true if any were present.
    pub fn remove(&mut self, path: &str, conn: ConnId, modes: u8) -> bool {
        let Some(watchers) = self.table.get_mut(path) else {
            return false;
        };
        let Some(bits) = watchers.get_mut(&conn) else {
            return false;
        };
        let removed = *bits & modes;
        if removed == 0 {
            return false;
        }
        if removed & RECURSIVE != 0 {
            self.recursive_count -= 1;
        }
        *bits &= !modes;
        if *bits == 0 {
            watchers.remove(&conn);
            if watchers.is_empty() {
                self.table.remove(path);
            }
            if let Some(paths) = self.by_conn.get_mut(&conn) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
        true
    }

    pub fn contains(&self, path: &str, conn: ConnId, modes: u8) -> bool {
        self.table
            .get(path)
            .and_then(|w| w.get(&conn))
            .is_some_and(|b| b & modes != 0)
    }

    /// Drops every watch of a connection that went away.
    pub fn remove_conn(&mut self, conn: ConnId) {
        if let Some(paths) = self.by_conn.remove(&conn) {
            for p in paths {
                if let Some(w) = self.table.get_mut(&p) {
                    if let Some(bits) = w.remove(&conn) {
                        if bits & RECURSIVE != 0 {
                            self.recursive_count -= 1;
                        }
                    }
                    if w.is_empty() {
                        self.table.remove(&p);
                    }
                }
            }
        }
    }

    /// Fires `event` on `path`: returns the connections to notify (each once), skipping those in
    /// `suppress`, and consumes standard watches. Recursive watches on ancestors fire too, except
    /// for `NodeChildrenChanged`, which they never receive. `may_read` filters every watcher, so
    /// nobody learns of a change to a node they cannot read (CVE-2024-23944, 3.8.4/3.9.2+).
    #[cfg(test)]
    pub fn trigger(
        &mut self,
        path: &str,
        event: EventType,
        suppress: &BTreeSet<ConnId>,
        may_read: impl Fn(ConnId) -> bool,
    ) -> BTreeSet<ConnId> {
        self.trigger_counted(path, event, suppress, may_read).0
    }

    /// [`trigger`](Self::trigger), also returning how many watchers the event matched: those
    /// notified, those in `suppress` and those withheld for want of READ, each once, as
    /// ZooKeeper's `node_*_watch_count` summaries count them.
    pub fn trigger_counted(
        &mut self,
        path: &str,
        event: EventType,
        suppress: &BTreeSet<ConnId>,
        may_read: impl Fn(ConnId) -> bool,
    ) -> (BTreeSet<ConnId>, usize) {
        let mut fired = BTreeSet::new();
        let mut matched = BTreeSet::new();
        if let Some(watchers) = self.table.get_mut(path) {
            let mut consumed = Vec::new();
            for (&conn, bits) in watchers.iter_mut() {
                matched.insert(conn);
                // A standard watch is used up even when its event is withheld or suppressed
                // (the connection hears of the change through its other watch).
                if !suppress.contains(&conn) && may_read(conn) {
                    fired.insert(conn);
                }
                if *bits & STANDARD != 0 {
                    *bits &= !STANDARD;
                    if *bits == 0 {
                        consumed.push(conn);
                    }
                }
            }
            for conn in consumed {
                watchers.remove(&conn);
                if let Some(paths) = self.by_conn.get_mut(&conn) {
                    paths.remove(path);
                    if paths.is_empty() {
                        self.by_conn.remove(&conn);
                    }
                }
            }
            if watchers.is_empty() {
                self.table.remove(path);
            }
        }
        if self.recursive_count > 0 && event != EventType::NodeChildrenChanged {
            let mut p = path;
            while p != "/" {
                p = zk_proto::path::parent(p);
                if let Some(watchers) = self.table.get(p) {
                    for (&conn, &bits) in watchers {
                        if bits & RECURSIVE == 0 {
                            continue;
                        }
                        matched.insert(conn);
                        if !suppress.contains(&conn) && !fired.contains(&conn) && may_read(conn) {
                            fired.insert(conn);
                        }
                    }
                }
            }
        }
        (fired, matched.len())
    }

    /// No watch at all: nothing can fire.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn watch_count(&self) -> usize {
        self.table.values().map(BTreeMap::len).sum()
    }

    pub fn path_count(&self) -> usize {
        self.table.len()
    }

    pub fn conn_count(&self) -> usize {
        self.by_conn.len()
    }

    pub fn paths_of(&self, conn: ConnId) -> impl Iterator<Item = &String> {
        self.by_conn.get(&conn).into_iter().flatten()
    }

    pub fn conns_of(&self, path: &str) -> impl Iterator<Item = &ConnId> {
        self.table.get(path).into_iter().flat_map(|w| w.keys())
    }

    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.table.keys()
    }

    pub fn conns(&self) -> impl Iterator<Item = &ConnId> {
        self.by_conn.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_fires_once_persistent_stays() {
        let mut w = WatchManager::default();
        w.add("/a", 1, STANDARD);
        w.add("/a", 2, PERSISTENT);
        let none = BTreeSet::new();
        assert_eq!(
            w.trigger("/a", EventType::NodeDataChanged, &none, |_| true),
            BTreeSet::from([1, 2])
        );
        assert_eq!(
            w.trigger("/a", EventType::NodeDataChanged, &none, |_| true),
            BTreeSet::from([2])
        );
        assert_eq!(w.watch_count(), 1);
    }

    #[test]
    fn recursive_covers_descendants_but_not_child_events() {
        let mut w = WatchManager::default();
        w.add("/a", 7, RECURSIVE);
        let none = BTreeSet::new();
        assert_eq!(
            w.trigger("/a/b/c", EventType::NodeCreated, &none, |_| true),
            BTreeSet::from([7])
        );
        assert!(w
            .trigger("/a/b", EventType::NodeChildrenChanged, &none, |_| true)
            .is_empty());
        assert!(w
            .trigger("/ab", EventType::NodeCreated, &none, |_| true)
            .is_empty());
        assert!(w
            .trigger("/a/b", EventType::NodeDataChanged, &none, |_| false)
            .is_empty());
        assert!(w.remove("/a", 7, RECURSIVE));
        assert!(w
            .trigger("/a/b", EventType::NodeCreated, &none, |_| true)
            .is_empty());
    }

    #[test]
    fn suppress_and_conn_cleanup() {
        let mut w = WatchManager::default();
        w.add("/x", 1, STANDARD);
        w.add("/y", 1, STANDARD);
        w.add("/x", 2, STANDARD);
        assert_eq!(
            w.trigger_counted("/x", EventType::NodeDeleted, &BTreeSet::from([1]), |_| true),
            (BTreeSet::from([2]), 2)
        );
        // The suppressed connection's standard watch on /x is used up too.
        assert!(!w.contains("/x", 1, STANDARD));
        assert_eq!(w.watch_count(), 1);
        w.remove_conn(1);
        assert_eq!(w.watch_count(), 0);
        assert_eq!(w.conn_count(), 0);
    }
}

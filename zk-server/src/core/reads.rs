//! Reads and session-local requests, answered from the tree at once (`FinalRequestProcessor`).
//! Reads never validate paths: a malformed path simply names no node (`NoNode`).

use zk_proto::codec::{Encode, WriteExt};
use zk_proto::data::ClientInfo;
use zk_proto::proto::*;
use zk_proto::request::{encode_multi_results, MultiOp, MultiResult, Request};
use zk_proto::{AddWatchMode, ErrorCode, EventType, Perms, WatcherType};

use super::watches::{PERSISTENT, RECURSIVE, STANDARD};
use super::{acl, ConnId, Core, Effect};

impl Core {
    pub(crate) fn handle_read(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        req: Request,
        fx: &mut Vec<Effect>,
    ) {
        let r: Result<Vec<u8>, ErrorCode> = match req {
            Request::Exists(r) => self.read_exists(conn, &r),
            Request::GetData(r) => self.read_get_data(conn, &r).map(|g| g.to_bytes()),
            Request::GetChildren(r) => self.read_children(conn, &r.path, r.watch).map(|(c, _)| {
                let mut out = Vec::new();
                out.put_vec(&c);
                out
            }),
            Request::GetChildren2(r) => self
                .read_children(conn, &r.path, r.watch)
                .map(|(children, stat)| GetChildren2Response { children, stat }.to_bytes()),
            Request::GetAllChildrenNumber(r) => self.read_all_children_number(conn, &r.path),
            Request::GetEphemerals(r) => Ok(self.read_ephemerals(session, &r.prefix_path)),
            Request::GetAcl(r) => self.read_acl(conn, &r.path),
            Request::Sync(r) => Ok(SyncResponse { path: r.path }.to_bytes()),
            Request::MultiRead(ops) => Ok(self.read_multi(conn, &ops)),
            Request::SetWatches(w) => {
                let w2 = SetWatches2 {
                    relative_zxid: w.relative_zxid,
                    data_watches: w.data_watches,
                    exist_watches: w.exist_watches,
                    child_watches: w.child_watches,
                    persistent_watches: Vec::new(),
                    persistent_recursive_watches: Vec::new(),
                };
                self.set_watches(conn, &w2, fx);
                Err(ErrorCode::Ok)
            }
            Request::SetWatches2(w) => {
                self.set_watches(conn, &w, fx);
                Err(ErrorCode::Ok)
            }
            Request::AddWatch(r) => self.add_watch(conn, &r),
            Request::CheckWatches(r) => self.check_watches(conn, &r.path, r.watcher_type, false),
            Request::RemoveWatches(r) => self.check_watches(conn, &r.path, r.watcher_type, true),
            Request::WhoAmI => {
                let auth = self
                    .conns
                    .get(&conn)
                    .map(|c| c.auth.clone())
                    .unwrap_or_default();
                // Providers report a user name: for digest, the part before the hash.
                let client_info = auth
                    .into_iter()
                    .map(|id| {
                        let user = match id.scheme.as_str() {
                            "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
                            _ => id.id,
                        };
                        ClientInfo {
                            auth_scheme: id.scheme,
                            user,
                        }
                    })
                    .collect();
                Ok(WhoAmIResponse { client_info }.to_bytes())
            }
            _ => Err(ErrorCode::Unimplemented),
        };
        match r {
            Ok(body) => self.reply(
                conn,
                xid,
                ErrorCode::Ok,
                Some(&|out: &mut Vec<u8>| out.extend_from_slice(&body)),
                fx,
            ),
            // Err(Ok) marks a success without a body (setWatches).
            Err(code) => self.reply(conn, xid, code, None, fx),
        }
    }

    fn auth_of(&self, conn: ConnId) -> &[zk_proto::data::Id] {
        self.conns.get(&conn).map_or(&[], |c| c.auth.as_slice())
    }

    fn check_read_acl(&self, conn: ConnId, acl_ref: i64, perm: i32) -> Result<(), ErrorCode> {
        let auth = self.auth_of(conn);
        self.tree.acls.with(acl_ref, |acl| {
            acl::check(acl, perm, auth, self.config.skip_acl)
        })
    }

    fn read_exists(&mut self, conn: ConnId, r: &ExistsRequest) -> Result<Vec<u8>, ErrorCode> {
        // As ZooKeeper 3.8.4/3.9.2+ (ZOOKEEPER-2590): an existing node needs READ, a missing one
        // needs nothing, and the watch is armed either way once the checks pass.
        if r.path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        if let Some(n) = self.tree.get(&r.path) {
            self.check_read_acl(conn, n.acl_ref, Perms::READ)?;
        }
        if r.watch {
            self.data_watches.add(&r.path, conn, STANDARD);
        }
        let n = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
        let stat = n.client_stat();
        self.stats.count_read(&r.path, 0);
        Ok(ExistsResponse { stat }.to_bytes())
    }

    fn read_get_data(
        &mut self,
        conn: ConnId,
        r: &GetDataRequest,
    ) -> Result<GetDataResponse, ErrorCode> {
        let n = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
        self.check_read_acl(conn, n.acl_ref, Perms::READ)?;
        let resp = GetDataResponse {
            data: n.data.clone(),
            stat: n.client_stat(),
        };
        if r.watch {
            self.data_watches.add(&r.path, conn, STANDARD);
        }
        let bytes = resp.data.as_ref().map_or(0, Vec::len);
        self.stats.count_read(&r.path, bytes);
        Ok(resp)
    }

    fn read_children(
        &mut self,
        conn: ConnId,
        p: &str,
        watch: bool,
    ) -> Result<(Vec<String>, zk_proto::data::Stat), ErrorCode> {
        let n = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        self.check_read_acl(conn, n.acl_ref, Perms::READ)?;
        let out = (self.tree.children_of(p), n.client_stat());
        if watch {
            self.child_watches.add(p, conn, STANDARD);
        }
        self.stats
            .count_read(p, out.0.iter().map(String::len).sum::<usize>());
        Ok(out)
    }

    fn read_all_children_number(&self, conn: ConnId, p: &str) -> Result<Vec<u8>, ErrorCode> {
        let n = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        self.check_read_acl(conn, n.acl_ref, Perms::READ)?;
        let total_number = self.tree.all_children_number(p) as i32;
        Ok(GetAllChildrenNumberResponse { total_number }.to_bytes())
    }

    fn read_ephemerals(&self, session: i64, prefix: &str) -> Vec<u8> {
        let prefix = prefix.trim();
        let all = prefix.is_empty() || prefix == "/";
        let ephemerals = self
            .tree
            .ephemerals_of(session)
            .filter(|p| all || p.starts_with(prefix))
            .cloned()
            .collect();
        GetEphemeralsResponse { ephemerals }.to_bytes()
    }

    fn read_acl(&self, conn: ConnId, p: &str) -> Result<Vec<u8>, ErrorCode> {
        let n = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        self.check_read_acl(conn, n.acl_ref, Perms::READ | Perms::ADMIN)?;
        let acl = self.tree.acl_of(n);
        let stat = n.client_stat();
        // Without ADMIN, digest hashes are hidden.
        let acl = match self.check_read_acl(conn, n.acl_ref, Perms::ADMIN) {
            Ok(()) => acl,
            Err(_) => acl::mask_digests(&acl),
        };
        Ok(GetAclResponse { acl, stat }.to_bytes())
    }

    /// multiRead: each op stands alone; a failing one yields its error in place.
    fn read_multi(&mut self, conn: ConnId, ops: &[MultiOp]) -> Vec<u8> {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let r = match op {
                // ZooKeeper rebuilds these ops without their watch flag: multiRead sets no watches.
                MultiOp::GetData(r) => {
                    let r = GetDataRequest {
                        path: r.path.clone(),
                        watch: false,
                    };
                    self.read_get_data(conn, &r).map(MultiResult::GetData)
                }
                MultiOp::GetChildren(r) => self
                    .read_children(conn, &r.path, false)
                    .map(|(c, _)| MultiResult::GetChildren(c)),
                _ => Err(ErrorCode::MarshallingError),
            };
            results.push(r.unwrap_or_else(|e| MultiResult::Error(e.code())));
        }
        let mut out = Vec::new();
        encode_multi_results(&results, &mut out);
        out
    }

    /// Re-arms a reconnecting client's watches, firing at once those whose node changed after
    /// `relative_zxid` (the last zxid the client saw), as `DataTree.setWatches` does.
    fn set_watches(&mut self, conn: ConnId, w: &SetWatches2, fx: &mut Vec<Effect>) {
        let rel = w.relative_zxid;
        for p in &w.data_watches {
            match self.tree.get(p).map(|n| n.stat.mzxid) {
                None => self.notify(conn, EventType::NodeDeleted, p, -1, fx),
                Some(m) if m > rel => self.notify(conn, EventType::NodeDataChanged, p, -1, fx),
                Some(_) => self.data_watches.add(p, conn, STANDARD),
            }
        }
        for p in &w.exist_watches {
            if self.tree.get(p).is_some() {
                self.notify(conn, EventType::NodeCreated, p, -1, fx);
            } else {
                self.data_watches.add(p, conn, STANDARD);
            }
        }
        for p in &w.child_watches {
            match self.tree.get(p).map(|n| n.stat.pzxid) {
                None => self.notify(conn, EventType::NodeDeleted, p, -1, fx),
                Some(z) if z > rel => self.notify(conn, EventType::NodeChildrenChanged, p, -1, fx),
                Some(_) => self.child_watches.add(p, conn, STANDARD),
            }
        }
        for p in &w.persistent_watches {
            self.child_watches.add(p, conn, PERSISTENT);
            self.data_watches.add(p, conn, PERSISTENT);
        }
        for p in &w.persistent_recursive_watches {
            self.data_watches.add(p, conn, RECURSIVE);
        }
    }

    fn add_watch(&mut self, conn: ConnId, r: &AddWatchRequest) -> Result<Vec<u8>, ErrorCode> {
        match AddWatchMode::from_i32(r.mode) {
            Some(AddWatchMode::Persistent) => {
                self.data_watches.add(&r.path, conn, PERSISTENT);
                self.child_watches.add(&r.path, conn, PERSISTENT);
            }
            Some(AddWatchMode::PersistentRecursive) => {
                self.data_watches.add(&r.path, conn, RECURSIVE)
            }
            None => return Err(ErrorCode::MarshallingError),
        }
        // ZooKeeper answers addWatch with an ErrorResponse body holding 0.
        Ok(ErrorResponse { err: 0 }.to_bytes())
    }

    /// checkWatches (`remove = false`) and removeWatches: `NoWatcher` when nothing matches.
    fn check_watches(
        &mut self,
        conn: ConnId,
        p: &str,
        kind: i32,
        remove: bool,
    ) -> Result<Vec<u8>, ErrorCode> {
        let kind = WatcherType::from_i32(kind).ok_or(ErrorCode::BadArguments)?;
        let (child_modes, data_modes) = match kind {
            WatcherType::Children => (STANDARD, 0),
            WatcherType::Data => (0, STANDARD),
            WatcherType::Any => (STANDARD | PERSISTENT, STANDARD | PERSISTENT | RECURSIVE),
            WatcherType::Persistent => (PERSISTENT, PERSISTENT),
            WatcherType::PersistentRecursive => (0, RECURSIVE),
        };
        let found = if remove {
            let a = child_modes != 0 && self.child_watches.remove(p, conn, child_modes);
            let b = data_modes != 0 && self.data_watches.remove(p, conn, data_modes);
            a || b
        } else {
            (child_modes != 0 && self.child_watches.contains(p, conn, child_modes))
                || (data_modes != 0 && self.data_watches.contains(p, conn, data_modes))
        };
        if found {
            Ok(Vec::new())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    }
}

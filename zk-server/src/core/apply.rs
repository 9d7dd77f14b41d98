//! Apply: a committed txn changes the tree (reading time only from its header), fires watches,
//! and the request that proposed it is answered. Mirrors `DataTree.processTxn` and
//! `FinalRequestProcessor`.

use std::collections::BTreeSet;

use zk_proto::codec::{Encode, WriteExt};
use zk_proto::consts::ephemeral_owner;
use zk_proto::data::Stat;
use zk_proto::proto::{Create2Response, SetAclResponse, SetDataResponse};
use zk_proto::request::{encode_multi_results, MultiResult};
use zk_proto::{path, ErrorCode, EventType, OpCode};

use super::prep::Origin;
use super::tree::Trigger;
use super::txn::{Txn, TxnBody};
use super::{ConnId, Core, Effect, Now};

/// What applying one (sub-)txn produced.
#[derive(Debug, Clone, Default)]
pub struct ApplyResult {
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi: Vec<(OpCode, ApplyResult)>,
}

impl ApplyResult {
    fn error(err: i32) -> Self {
        ApplyResult {
            err,
            ..Default::default()
        }
    }
}

impl Core {
    pub(crate) fn apply_txn(&mut self, txn: &Txn, now: Now, fx: &mut Vec<Effect>) -> ApplyResult {
        let mut triggers = Vec::new();
        let result = self.apply_body(txn, &txn.body, now, &mut triggers);
        if txn.hdr.zxid > self.last_applied {
            self.last_applied = txn.hdr.zxid;
        }
        if let Some(d) = &txn.digest {
            if self.config.digest_enabled && d.tree_digest != self.tree.digest() {
                // ZooKeeper logs and counts this (digest_mismatches_count); it is a bug signal,
                // not a reason to stop serving.
                self.stats.digest_mismatches += 1;
                tracing::error!(
                    zxid = format_args!("{:#x}", txn.hdr.zxid),
                    expected = d.tree_digest,
                    actual = self.tree.digest(),
                    "tree digest mismatch after applying a txn"
                );
            }
        }
        if self.config.digest_enabled {
            self.stats.log_digest(txn.hdr.zxid, self.tree.digest());
        }
        self.fire(triggers, txn.hdr.zxid, fx);
        result
    }

    fn apply_body(
        &mut self,
        txn: &Txn,
        body: &TxnBody,
        now: Now,
        triggers: &mut Vec<Trigger>,
    ) -> ApplyResult {
        let zxid = txn.hdr.zxid;
        let time = txn.hdr.time;
        let ok = |path: &str, stat: Option<Stat>| ApplyResult {
            err: 0,
            path: path.to_owned(),
            stat,
            multi: Vec::new(),
        };
        let res = match body {
            TxnBody::Create(t) => {
                let owner = if t.ephemeral { txn.hdr.client_id } else { 0 };
                self.tree
                    .create_node(
                        &t.path,
                        t.data.clone(),
                        &t.acl,
                        owner,
                        t.parent_cversion,
                        zxid,
                        time,
                        triggers,
                    )
                    .map(|s| ok(&t.path, Some(s)))
            }
            TxnBody::CreateContainer(t) => self
                .tree
                .create_node(
                    &t.path,
                    t.data.clone(),
                    &t.acl,
                    ephemeral_owner::CONTAINER,
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| ok(&t.path, Some(s))),
            TxnBody::CreateTtl(t) => self
                .tree
                .create_node(
                    &t.path,
                    t.data.clone(),
                    &t.acl,
                    ephemeral_owner::ttl(t.ttl),
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| ok(&t.path, Some(s))),
            TxnBody::Delete(t) => self
                .tree
                .delete_node(&t.path, zxid, triggers)
                .map(|_| ok(&t.path, None)),
            TxnBody::SetData(t) => self
                .tree
                .set_data(&t.path, t.data.clone(), t.version, zxid, time, triggers)
                .map(|s| ok(&t.path, Some(s))),
            TxnBody::SetAcl(t) => self
                .tree
                .set_acl(&t.path, &t.acl, t.version)
                .map(|s| ok(&t.path, Some(s))),
            TxnBody::Check(t) => Ok(ok(&t.path, None)),
            TxnBody::Error(e) => Ok(ApplyResult::error(e.err)),
            TxnBody::CreateSession(t) => {
                self.sessions
                    .add(txn.hdr.client_id, t.time_out.max(0) as u32, now.mono_ms);
                Ok(ok("", None))
            }
            TxnBody::CloseSession(t) => {
                for p in &t.paths_to_delete {
                    // A path may already be gone on replay; that is fine.
                    if self.tree.delete_node(p, zxid, triggers).is_ok() {
                        self.stats.count_write(p, None);
                    }
                }
                self.sessions.remove(txn.hdr.client_id);
                if let Some(conn) = self.conn_of_session(txn.hdr.client_id) {
                    self.session_closing_conn = Some(conn);
                }
                Ok(ok("", None))
            }
            TxnBody::Multi(ops) => {
                let failed = ops.iter().any(|(op, _)| *op == OpCode::Error);
                let mut post_failed = false;
                let mut res = ApplyResult::default();
                for (op, sub) in ops {
                    let r = if failed {
                        // Earlier ops of a failed multi report 0, the failing op its code,
                        // later ops RuntimeInconsistency (already in their ErrorTxn).
                        if *op == OpCode::Error {
                            post_failed = true;
                            match sub {
                                TxnBody::Error(e) => ApplyResult::error(e.err),
                                _ => ApplyResult::error(ErrorCode::RuntimeInconsistency.code()),
                            }
                        } else {
                            let code = if post_failed {
                                ErrorCode::RuntimeInconsistency
                            } else {
                                ErrorCode::Ok
                            };
                            ApplyResult::error(code.code())
                        }
                    } else {
                        self.apply_body(txn, sub, now, triggers)
                    };
                    if r.err != 0 && res.err == 0 {
                        res.err = r.err;
                    }
                    let op = if failed { OpCode::Error } else { *op };
                    res.multi.push((op, r));
                }
                Ok(res)
            }
        };
        if res.is_ok() {
            match body {
                TxnBody::Create(t) => self.stats.count_write(&t.path, t.data.as_ref()),
                TxnBody::CreateContainer(t) => self.stats.count_write(&t.path, t.data.as_ref()),
                TxnBody::CreateTtl(t) => self.stats.count_write(&t.path, t.data.as_ref()),
                TxnBody::SetData(t) => self.stats.count_write(&t.path, t.data.as_ref()),
                TxnBody::Delete(t) => self.stats.count_write(&t.path, None),
                _ => {}
            }
        }
        res.unwrap_or_else(|e| ApplyResult::error(e.code()))
    }

    /// Sends watch events for the changes one txn made, in ZooKeeper's order. A connection
    /// that watches a deleted node as both data and child watcher hears about it once.
    pub(super) fn fire(&mut self, triggers: Vec<Trigger>, zxid: i64, fx: &mut Vec<Effect>) {
        // Most writes have no watcher at all; skip the ACL lookups below for them.
        if self.data_watches.is_empty() && self.child_watches.is_empty() {
            return;
        }
        let none = BTreeSet::new();
        let (created, deleted) = (EventType::NodeCreated, EventType::NodeDeleted);
        let (changed, children) = (EventType::NodeDataChanged, EventType::NodeChildrenChanged);
        for t in triggers {
            // Each event goes only to watchers that may READ the node it is about: the node
            // itself, or the parent for NodeChildrenChanged.
            match t {
                Trigger::Created(p) => {
                    let parent = path::parent(&p).to_owned();
                    let (acl, parent_acl) = (self.acl_at(&p), self.acl_at(&parent));
                    let (conns, skip) = (&self.conns, self.config.skip_acl);
                    let (a, na) = self.data_watches.trigger_counted(&p, created, &none, |c| {
                        conn_may_read(conns, skip, c, &acl)
                    });
                    let (b, nb) =
                        self.child_watches
                            .trigger_counted(&parent, children, &none, |c| {
                                conn_may_read(conns, skip, c, &parent_acl)
                            });
                    self.count_watchers(created, na);
                    self.count_watchers(children, nb);
                    self.notify_all(a, created, &p, zxid, fx);
                    self.notify_all(b, children, &parent, zxid, fx);
                }
                Trigger::Deleted {
                    path: p,
                    parent,
                    acl,
                } => {
                    let parent_acl = self.acl_at(&parent);
                    let (conns, skip) = (&self.conns, self.config.skip_acl);
                    let may_read = |c: ConnId| conn_may_read(conns, skip, c, &acl);
                    let (a, na) = self
                        .data_watches
                        .trigger_counted(&p, deleted, &none, may_read);
                    let (b, nb) = self
                        .child_watches
                        .trigger_counted(&p, deleted, &a, may_read);
                    let (c, nc) =
                        self.child_watches
                            .trigger_counted(&parent, children, &none, |c| {
                                conn_may_read(conns, skip, c, &parent_acl)
                            });
                    self.count_watchers(deleted, na);
                    self.count_watchers(deleted, nb);
                    self.count_watchers(children, nc);
                    self.notify_all(a, deleted, &p, zxid, fx);
                    self.notify_all(b, deleted, &p, zxid, fx);
                    self.notify_all(c, children, &parent, zxid, fx);
                }
                Trigger::DataChanged(p) => {
                    let acl = self.acl_at(&p);
                    let (conns, skip) = (&self.conns, self.config.skip_acl);
                    let (a, na) = self.data_watches.trigger_counted(&p, changed, &none, |c| {
                        conn_may_read(conns, skip, c, &acl)
                    });
                    self.count_watchers(changed, na);
                    self.notify_all(a, changed, &p, zxid, fx);
                }
            }
        }
    }

    /// `node_*_watch_count`: as ZooKeeper's watch manager, one value per trigger that matched
    /// any watcher.
    fn count_watchers(&mut self, ev: EventType, matched: usize) {
        if matched == 0 {
            return;
        }
        let s = &mut self.stats;
        let summary = match ev {
            EventType::NodeCreated => &mut s.node_created_watch,
            EventType::NodeDeleted => &mut s.node_deleted_watch,
            EventType::NodeDataChanged => &mut s.node_changed_watch,
            EventType::NodeChildrenChanged => &mut s.node_children_watch,
            _ => return,
        };
        summary.record(matched as i64);
    }

    fn acl_at(&self, p: &str) -> Vec<zk_proto::data::Acl> {
        self.tree
            .get(p)
            .map(|n| self.tree.acl_of(n))
            .unwrap_or_default()
    }

    fn notify_all(
        &mut self,
        conns: BTreeSet<ConnId>,
        ev: EventType,
        p: &str,
        zxid: i64,
        fx: &mut Vec<Effect>,
    ) {
        for conn in conns {
            self.notify(conn, ev, p, zxid, fx);
        }
    }

    /// Answers whoever proposed an applied txn.
    pub(crate) fn answer(
        &mut self,
        origin: Origin,
        txn: &Txn,
        res: ApplyResult,
        now: Now,
        fx: &mut Vec<Effect>,
    ) {
        let closing = self.session_closing_conn.take();
        match origin {
            Origin::Connect { conn, timeout } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.stats.last_zxid = txn.hdr.zxid;
                }
                self.send_connect_response(conn, txn.hdr.client_id, timeout, true, fx);
            }
            Origin::Request {
                conn,
                xid,
                op,
                received_mono_ms,
            } => {
                self.record_update_latency(conn, now.mono_ms.saturating_sub(received_mono_ms));
                self.answer_request(conn, xid, op, res, fx);
            }
            Origin::Internal => {}
        }
        if let Some(conn) = closing {
            fx.push(Effect::Close { conn });
            self.connection_closed(conn);
        }
    }

    fn answer_request(
        &mut self,
        conn: ConnId,
        xid: i32,
        op: i32,
        res: ApplyResult,
        fx: &mut Vec<Effect>,
    ) {
        let op = OpCode::from_i32(op).unwrap_or(OpCode::Error);
        if op == OpCode::Multi {
            let results: Vec<MultiResult> = res
                .multi
                .into_iter()
                .map(|(op, r)| multi_result(op, r))
                .collect();
            let body = |out: &mut Vec<u8>| encode_multi_results(&results, out);
            self.reply(conn, xid, ErrorCode::Ok, Some(&body), fx);
            return;
        }
        if res.err != 0 {
            let code = ErrorCode::from_i32(res.err).unwrap_or(ErrorCode::SystemError);
            self.reply(conn, xid, code, None, fx);
            return;
        }
        let stat = res.stat.unwrap_or_default();
        let body: Option<Vec<u8>> = match op {
            OpCode::Create => {
                let mut out = Vec::new();
                out.put_string(&res.path);
                Some(out)
            }
            OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer => Some(
                Create2Response {
                    path: res.path,
                    stat,
                }
                .to_bytes(),
            ),
            OpCode::SetData => Some(SetDataResponse { stat }.to_bytes()),
            OpCode::SetAcl => Some(SetAclResponse { stat }.to_bytes()),
            _ => None,
        };
        match body {
            Some(b) => {
                let write = |out: &mut Vec<u8>| out.extend_from_slice(&b);
                self.reply(conn, xid, ErrorCode::Ok, Some(&write), fx)
            }
            None => self.reply(conn, xid, ErrorCode::Ok, None, fx),
        }
    }
}

fn conn_may_read(
    conns: &std::collections::BTreeMap<ConnId, super::Conn>,
    skip_acl: bool,
    conn: ConnId,
    acl: &[zk_proto::data::Acl],
) -> bool {
    let auth = conns.get(&conn).map_or(&[][..], |c| c.auth.as_slice());
    super::acl::check(acl, zk_proto::Perms::READ, auth, skip_acl).is_ok()
}

fn multi_result(op: OpCode, r: ApplyResult) -> MultiResult {
    if r.err != 0 || op == OpCode::Error {
        return MultiResult::Error(r.err);
    }
    let stat = r.stat.unwrap_or_default();
    match op {
        OpCode::Create => MultiResult::Create(r.path),
        OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer => MultiResult::Create2 {
            op,
            path: r.path,
            stat,
        },
        OpCode::Delete => MultiResult::Delete,
        OpCode::SetData => MultiResult::SetData(stat),
        OpCode::Check => MultiResult::Check,
        _ => MultiResult::Error(ErrorCode::RuntimeInconsistency.code()),
    }
}

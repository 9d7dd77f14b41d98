//! Prep: turning a write request into a txn, as ZooKeeper's `PrepRequestProcessor` does, with
//! the same checks in the same order (the order decides which error a client sees).
//!
//! Checks run against the tree *plus* [`ChangeRecords`]: the effect of txns proposed but not
//! yet applied. Without them, pipelined writes would see stale versions and sequence numbers,
//! and a multi's later ops could not see its earlier ones.

use std::collections::{BTreeSet, HashMap, VecDeque};

use zk_proto::consts::ephemeral_owner;
use zk_proto::data::{Acl, Id, StatPersisted};
use zk_proto::proto::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, SetAclRequest, SetDataRequest,
};
use zk_proto::request::{MultiOp, Request};
use zk_proto::txn::*;
use zk_proto::{path, CreateMode, ErrorCode, OpCode, Perms};

use super::tree::{
    digest_prefix, finish_digest, new_node_stat, owner_kind, OwnerKind, CONFIG, QUOTA, ZOOKEEPER,
};
use super::txn::TxnBody;
use super::{acl, ConnId, Core, Now};

/// Who to answer once a txn is applied.
#[derive(Debug, Clone)]
pub enum Origin {
    Request {
        conn: ConnId,
        xid: i32,
        op: i32,
        received_mono_ms: u64,
    },
    /// A new session's createSession txn: the ConnectResponse waits for it.
    Connect { conn: ConnId, timeout: u32 },
    /// Expiry and the container sweep: nobody to answer.
    Internal,
}

/// A node as prep sees it: `stat` is `None` for a node deleted by a pending txn.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub zxid: i64,
    pub stat: Option<StatPersisted>,
    pub child_count: i32,
    pub acl: Vec<Acl>,
    /// CRC32 over path and data (see `tree::digest_prefix`): with the stat, the node's digest.
    pub digest_prefix: Option<crc32fast::Hasher>,
    /// The node's data length, for the quota check of a setData.
    pub data_len: usize,
}

impl ChangeRecord {
    fn deleted(zxid: i64) -> Self {
        ChangeRecord {
            zxid,
            stat: None,
            child_count: 0,
            acl: Vec::new(),
            digest_prefix: None,
            data_len: 0,
        }
    }

    /// This record's contribution to the tree digest.
    fn digest(&self) -> u64 {
        match (&self.stat, &self.digest_prefix) {
            (Some(s), Some(h)) => finish_digest(h.clone(), s),
            _ => 0,
        }
    }
}

#[derive(Debug, Default)]
pub struct ChangeRecords {
    by_path: HashMap<String, ChangeRecord>,
    order: VecDeque<(i64, String)>,
    /// The tree digest once every prepped txn is applied: what each txn's `TxnDigest` says.
    pub prep_digest: u64,
}

impl ChangeRecords {
    pub fn new(tree_digest: u64) -> Self {
        ChangeRecords {
            prep_digest: tree_digest,
            ..Default::default()
        }
    }

    fn add(&mut self, path: String, rec: ChangeRecord) {
        self.order.push_back((rec.zxid, path.clone()));
        self.by_path.insert(path, rec);
    }

    /// Txns up to `zxid` are applied: their records now live in the tree. `tree_digest` is the
    /// tree's digest now; with nothing outstanding it must be the prepped digest too.
    pub fn committed(&mut self, zxid: i64, tree_digest: u64) {
        self.retire(zxid);
        if self.by_path.is_empty() {
            self.prep_digest = tree_digest;
        }
    }

    fn retire(&mut self, zxid: i64) {
        while let Some((z, _)) = self.order.front() {
            if *z > zxid {
                break;
            }
            if let Some((z, p)) = self.order.pop_front() {
                if self.by_path.get(&p).is_some_and(|r| r.zxid == z) {
                    self.by_path.remove(&p);
                }
            }
        }
    }

    /// Undoes a failed multi's records and restores what they replaced.
    fn rollback(&mut self, zxid: i64, saved: &[(String, Option<ChangeRecord>)], digest: u64) {
        self.prep_digest = digest;
        self.order.retain(|(z, _)| *z != zxid);
        self.by_path.retain(|_, r| r.zxid != zxid);
        for (p, rec) in saved {
            if let Some(rec) = rec {
                self.by_path.insert(p.clone(), rec.clone());
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

fn is_special(p: &str) -> bool {
    matches!(p, "/" | ZOOKEEPER | QUOTA | CONFIG)
}

/// ZooKeeper's `lastIndexOf('/')` split, done before any path validation.
fn parent_for(p: &str) -> Result<&str, ErrorCode> {
    match p.rfind('/') {
        None => Err(ErrorCode::BadArguments),
        _ if p.contains('\0') => Err(ErrorCode::BadArguments),
        Some(0) => Ok("/"),
        Some(i) => Ok(&p[..i]),
    }
}

fn validate(p: &str) -> Result<(), ErrorCode> {
    path::validate(p, false).map_err(|_| ErrorCode::BadArguments)
}

/// A create inside a multi keeps its opcode (ZOOKEEPER-4026, 3.8.2+/3.9: create2 answers
/// with a stat), except that a plain `create` with container flags is rebuilt as
/// `createContainer`, as `Op.create` does.
fn multi_create_op(op: OpCode, flags: i32) -> OpCode {
    match (op, CreateMode::from_i32(flags)) {
        (OpCode::Create, Some(m)) if m.is_container() => OpCode::CreateContainer,
        (op, _) => op,
    }
}

fn err_body(e: ErrorCode) -> TxnBody {
    TxnBody::Error(ErrorTxn { err: e.code() })
}

/// The parts of a create request, whichever opcode carried it.
struct CreateArgs<'a> {
    op: OpCode,
    path: &'a str,
    data: &'a Option<Vec<u8>>,
    acl: &'a [Acl],
    flags: i32,
    ttl: i64,
}

impl<'a> CreateArgs<'a> {
    fn plain(op: OpCode, r: &'a CreateRequest) -> Self {
        CreateArgs {
            op,
            path: &r.path,
            data: &r.data,
            acl: &r.acl,
            flags: r.flags,
            ttl: -1,
        }
    }

    fn with_ttl(r: &'a CreateTtlRequest) -> Self {
        CreateArgs {
            op: OpCode::CreateTtl,
            path: &r.path,
            data: &r.data,
            acl: &r.acl,
            flags: r.flags,
            ttl: r.ttl,
        }
    }
}

impl Core {
    pub(crate) fn record(&self, p: &str) -> Result<ChangeRecord, ErrorCode> {
        if let Some(r) = self.changes.by_path.get(p) {
            return if r.stat.is_some() {
                Ok(r.clone())
            } else {
                Err(ErrorCode::NoNode)
            };
        }
        let n = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        Ok(ChangeRecord {
            zxid: -1,
            stat: Some(n.stat.clone()),
            child_count: n.children.len() as i32,
            acl: self.tree.acl_of(n),
            digest_prefix: digest_prefix(p, n.data.as_deref()),
            data_len: n.data.as_ref().map_or(0, Vec::len),
        })
    }

    /// Records a pending change to `p` and moves the prepped digest by its effect.
    fn put_record(&mut self, p: String, rec: ChangeRecord) {
        let old = self.record(&p).map_or(0, |r| r.digest());
        self.changes.prep_digest = self
            .changes
            .prep_digest
            .wrapping_sub(old)
            .wrapping_add(rec.digest());
        self.changes.add(p, rec);
    }

    fn check_acl(&self, acl: &[Acl], perm: i32, auth: &[Id]) -> Result<(), ErrorCode> {
        acl::check(acl, perm, auth, self.config.skip_acl)
    }

    /// Preps one write request into a txn body (an error body when a check fails).
    pub(crate) fn prep(
        &mut self,
        zxid: i64,
        session: i64,
        req: &Request,
        auth: &[Id],
        now: Now,
    ) -> TxnBody {
        if self.sessions.get(session).is_none_or(|s| s.closing) {
            return err_body(ErrorCode::SessionExpired);
        }
        let time = now.wall_ms;
        let r = match req {
            Request::Create { op, req } => {
                self.prep_create(zxid, session, &CreateArgs::plain(*op, req), auth, time)
            }
            Request::CreateTtl(r) => {
                self.prep_create(zxid, session, &CreateArgs::with_ttl(r), auth, time)
            }
            Request::Delete(r) => self.prep_delete(zxid, &r.path, r.version, auth),
            Request::SetData(r) => self.prep_set_data(zxid, r, auth, time),
            Request::SetAcl(r) => self.prep_set_acl(zxid, r, auth),
            Request::Check(r) => self.prep_check(r, auth),
            Request::Multi(ops) => return self.prep_multi(zxid, session, ops, auth, time),
            Request::Reconfig(_) => self.prep_reconfig(auth),
            Request::CloseSession => return self.prep_close_session(zxid, session),
            _ => Err(ErrorCode::Unimplemented),
        };
        r.unwrap_or_else(err_body)
    }

    fn prep_create(
        &mut self,
        zxid: i64,
        session: i64,
        a: &CreateArgs<'_>,
        auth: &[Id],
        time: i64,
    ) -> Result<TxnBody, ErrorCode> {
        let mode = CreateMode::from_i32(a.flags).ok_or(ErrorCode::BadArguments)?;
        if mode.is_ttl() && !self.config.extended_types_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        let ttl_ok = if mode.is_ttl() {
            a.ttl > 0 && a.ttl <= ephemeral_owner::MAX_TTL_MS
        } else {
            a.ttl < 0
        };
        if !ttl_ok {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = parent_for(a.path)?;
        let acl = acl::fixup(a.acl, auth)?;
        let parent = self.record(parent_path)?;
        self.check_acl(&parent.acl, Perms::CREATE, auth)?;
        let parent_stat = parent.stat.clone().ok_or(ErrorCode::NoNode)?;
        let mut full = a.path.to_owned();
        if mode.is_sequential() {
            full.push_str(&format!("{:010}", parent_stat.cversion));
        }
        validate(&full)?;
        if self.record(&full).is_ok() {
            return Err(ErrorCode::NodeExists);
        }
        if let OwnerKind::Session(_) = owner_kind(parent_stat.ephemeral_owner) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let new_cversion = parent_stat.cversion.wrapping_add(1);
        let data_len = a.data.as_ref().map_or(0, Vec::len);
        self.check_quota(&full, 0, data_len as i64, 1)?;
        let owner = if mode.is_container() {
            ephemeral_owner::CONTAINER
        } else if mode.is_ttl() {
            ephemeral_owner::ttl(a.ttl)
        } else if mode.is_ephemeral() {
            session
        } else {
            0
        };
        let data = a.data.clone();
        let body = match a.op {
            OpCode::CreateContainer => TxnBody::CreateContainer(CreateContainerTxn {
                path: full.clone(),
                data: data.clone(),
                acl: acl.clone(),
                parent_cversion: new_cversion,
            }),
            OpCode::CreateTtl => TxnBody::CreateTtl(CreateTtlTxn {
                path: full.clone(),
                data: data.clone(),
                acl: acl.clone(),
                parent_cversion: new_cversion,
                ttl: a.ttl,
            }),
            _ => TxnBody::Create(CreateTxn {
                path: full.clone(),
                data: data.clone(),
                acl: acl.clone(),
                ephemeral: mode.is_ephemeral(),
                parent_cversion: new_cversion,
            }),
        };
        let mut p = parent;
        p.zxid = zxid;
        p.child_count += 1;
        if let Some(s) = p.stat.as_mut() {
            s.cversion = new_cversion;
            s.pzxid = zxid;
        }
        self.put_record(parent_path.to_owned(), p);
        let stat = new_node_stat(zxid, time, owner);
        let digest_prefix = digest_prefix(&full, data.as_deref());
        let rec = ChangeRecord {
            zxid,
            stat: Some(stat),
            child_count: 0,
            acl,
            digest_prefix,
            data_len,
        };
        self.put_record(full, rec);
        Ok(body)
    }

    fn prep_delete(
        &mut self,
        zxid: i64,
        p: &str,
        version: i32,
        auth: &[Id],
    ) -> Result<TxnBody, ErrorCode> {
        let parent_path = parent_for(p)?;
        if is_special(p) {
            return Err(ErrorCode::BadArguments);
        }
        let parent = self.record(parent_path)?;
        self.check_acl(&parent.acl, Perms::DELETE, auth)?;
        let node = self.record(p)?;
        let stat = node.stat.as_ref().ok_or(ErrorCode::NoNode)?;
        check_version(stat.version, version)?;
        if node.child_count > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.record_delete(zxid, p, parent_path, parent);
        Ok(TxnBody::Delete(DeleteTxn { path: p.to_owned() }))
    }

    fn record_delete(&mut self, zxid: i64, p: &str, parent_path: &str, parent: ChangeRecord) {
        let mut pr = parent;
        pr.zxid = zxid;
        pr.child_count -= 1;
        if let Some(s) = pr.stat.as_mut() {
            s.pzxid = zxid;
        }
        self.put_record(parent_path.to_owned(), pr);
        self.put_record(
            p.to_owned(),
            ChangeRecord {
                child_count: -1,
                ..ChangeRecord::deleted(zxid)
            },
        );
    }

    fn prep_set_data(
        &mut self,
        zxid: i64,
        r: &SetDataRequest,
        auth: &[Id],
        time: i64,
    ) -> Result<TxnBody, ErrorCode> {
        validate(&r.path)?;
        let mut node = self.record(&r.path)?;
        self.check_acl(&node.acl, Perms::WRITE, auth)?;
        let new_len = r.data.as_ref().map_or(0, Vec::len);
        self.check_quota(&r.path, node.data_len as i64, new_len as i64, 0)?;
        let stat = node.stat.as_mut().ok_or(ErrorCode::NoNode)?;
        let new_version = check_version(stat.version, r.version)?;
        stat.version = new_version;
        stat.mtime = time;
        stat.mzxid = zxid;
        node.zxid = zxid;
        node.digest_prefix = digest_prefix(&r.path, r.data.as_deref());
        node.data_len = new_len;
        self.put_record(r.path.clone(), node);
        Ok(TxnBody::SetData(SetDataTxn {
            path: r.path.clone(),
            data: r.data.clone(),
            version: new_version,
        }))
    }

    fn prep_set_acl(
        &mut self,
        zxid: i64,
        r: &SetAclRequest,
        auth: &[Id],
    ) -> Result<TxnBody, ErrorCode> {
        validate(&r.path)?;
        let acl = acl::fixup(&r.acl, auth)?;
        let mut node = self.record(&r.path)?;
        self.check_acl(&node.acl, Perms::ADMIN, auth)?;
        let stat = node.stat.as_mut().ok_or(ErrorCode::NoNode)?;
        let new_version = check_version(stat.aversion, r.version)?;
        stat.aversion = new_version;
        node.zxid = zxid;
        node.acl = acl.clone();
        self.put_record(r.path.clone(), node);
        Ok(TxnBody::SetAcl(SetAclTxn {
            path: r.path.clone(),
            acl,
            version: new_version,
        }))
    }

    fn prep_check(&mut self, r: &CheckVersionRequest, auth: &[Id]) -> Result<TxnBody, ErrorCode> {
        validate(&r.path)?;
        let node = self.record(&r.path)?;
        self.check_acl(&node.acl, Perms::READ, auth)?;
        let stat = node.stat.as_ref().ok_or(ErrorCode::NoNode)?;
        let version = check_version(stat.version, r.version)?;
        Ok(TxnBody::Check(CheckVersionTxn {
            path: r.path.clone(),
            version,
        }))
    }

    fn prep_reconfig(&mut self, auth: &[Id]) -> Result<TxnBody, ErrorCode> {
        if !self.config.reconfig_enabled {
            return Err(ErrorCode::ReconfigDisabled);
        }
        let config = self.record(CONFIG)?;
        self.check_acl(&config.acl, Perms::WRITE, auth)?;
        // A standalone server cannot reconfigure, exactly as in ZooKeeper.
        Err(ErrorCode::Unimplemented)
    }

    /// All-or-nothing: on the first failure the records of earlier ops are rolled back, the
    /// failing op carries its code and later ops `RuntimeInconsistency`. Apply turns the earlier
    /// ops into `ErrorTxn(0)` results, as ZooKeeper's `DataTree` does.
    fn prep_multi(
        &mut self,
        zxid: i64,
        session: i64,
        ops: &[MultiOp],
        auth: &[Id],
        time: i64,
    ) -> TxnBody {
        let mut saved: Vec<(String, Option<ChangeRecord>)> = Vec::new();
        let saved_digest = self.changes.prep_digest;
        for op in ops {
            let p = op.path();
            for q in [p, path::parent(p)] {
                if !saved.iter().any(|(s, _)| s == q) {
                    saved.push((q.to_owned(), self.changes.by_path.get(q).cloned()));
                }
            }
        }
        let mut out = Vec::with_capacity(ops.len());
        let mut failed = false;
        for op in ops {
            if failed {
                out.push((OpCode::Error, err_body(ErrorCode::RuntimeInconsistency)));
                continue;
            }
            let r = match op {
                MultiOp::Create { op, req } => {
                    let args = CreateArgs::plain(multi_create_op(*op, req.flags), req);
                    self.prep_create(zxid, session, &args, auth, time)
                }
                MultiOp::CreateTtl(r) => {
                    self.prep_create(zxid, session, &CreateArgs::with_ttl(r), auth, time)
                }
                MultiOp::Delete(r) => self.prep_delete(zxid, &r.path, r.version, auth),
                MultiOp::SetData(r) => self.prep_set_data(zxid, r, auth, time),
                MultiOp::Check(r) => self.prep_check(r, auth),
                MultiOp::GetData(_) | MultiOp::GetChildren(_) => Err(ErrorCode::MarshallingError),
            };
            match r {
                Ok(body) => {
                    let code = match op {
                        MultiOp::Create { op, req } => multi_create_op(*op, req.flags),
                        other => other.op_code(),
                    };
                    out.push((code, body))
                }
                Err(e) => {
                    failed = true;
                    out.push((OpCode::Error, err_body(e)));
                    self.changes.rollback(zxid, &saved, saved_digest);
                }
            }
        }
        TxnBody::Multi(out)
    }

    /// The session's ephemerals, counting pending creates and deletes, all go with it.
    pub(crate) fn prep_close_session(&mut self, zxid: i64, session: i64) -> TxnBody {
        self.sessions.set_closing(session);
        let mut es: BTreeSet<String> = self.tree.ephemerals_of(session).cloned().collect();
        for (p, rec) in &self.changes.by_path {
            match &rec.stat {
                None => {
                    es.remove(p);
                }
                Some(s) if s.ephemeral_owner == session => {
                    es.insert(p.clone());
                }
                Some(_) => {}
            }
        }
        for p in &es {
            // Deleting an ephemeral also moves its parent's pzxid: record both, so the
            // prepped digest matches what apply will do.
            let parent_path = path::parent(p);
            match self.record(parent_path) {
                Ok(parent) => self.record_delete(zxid, p, parent_path, parent),
                Err(_) => self.put_record(p.clone(), ChangeRecord::deleted(zxid)),
            }
        }
        TxnBody::CloseSession(CloseSessionTxn {
            paths_to_delete: es.into_iter().collect(),
        })
    }

    /// The container/TTL sweep's delete (`deleteContainer`): only empty containers and TTL nodes.
    pub(crate) fn prep_delete_container(&mut self, zxid: i64, p: &str) -> TxnBody {
        let r = (|| {
            let parent_path = parent_for(p)?;
            if is_special(p) {
                return Err(ErrorCode::BadArguments);
            }
            let node = self.record(p)?;
            if node.child_count > 0 {
                return Err(ErrorCode::NotEmpty);
            }
            let owner = node.stat.as_ref().map_or(0, |s| s.ephemeral_owner);
            if !matches!(owner_kind(owner), OwnerKind::Container | OwnerKind::Ttl(_)) {
                return Err(ErrorCode::BadVersion);
            }
            let parent = self.record(parent_path)?;
            self.record_delete(zxid, p, parent_path, parent);
            Ok(TxnBody::Delete(DeleteTxn { path: p.to_owned() }))
        })();
        r.unwrap_or_else(err_body)
    }
}

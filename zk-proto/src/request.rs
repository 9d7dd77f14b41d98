//! Typed client requests: a frame's payload (after the length prefix) is a `RequestHeader`
//! followed by the body its opcode names.

use crate::codec::{Decode, DecodeError, Encode, Reader, WriteExt};
use crate::consts::OpCode;
use crate::data::Stat;
use crate::proto::*;
use thiserror::Error;

/// One client request, by opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `create`, `create2` and `createContainer` share a body; `op` tells which was sent.
    Create {
        op: OpCode,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    DeleteContainer(String),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildren2Request),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    GetEphemerals(GetEphemeralsRequest),
    Sync(SyncRequest),
    Check(CheckVersionRequest),
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    AddWatch(AddWatchRequest),
    SetWatches(SetWatches),
    SetWatches2(SetWatches2),
    Auth(AuthPacket),
    Sasl(GetSaslRequest),
    WhoAmI,
    Ping,
    CloseSession,
    /// A type ZooKeeper does not accept from clients; answered with `Unimplemented`.
    Unknown(i32),
}

/// One operation inside `multi` (write ops) or `multiRead` (getData/getChildren).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    Create { op: OpCode, req: CreateRequest },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetData(GetDataRequest),
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
        }
    }
}

/// One result inside a multi response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// `create`: the created path only.
    Create(String),
    /// `create2`, `createTTL`, `createContainer`: path and stat.
    Create2 {
        op: OpCode,
        path: String,
        stat: Stat,
    },
    Delete,
    SetData(Stat),
    Check,
    GetData(GetDataResponse),
    GetChildren(Vec<String>),
    /// ZooKeeper's `ErrorResult`; `0` for ops before the failing one in a rolled-back multi.
    Error(i32),
}

/// A request's body failed to decode: ZooKeeper answers `MarshallingError` and keeps the
/// connection; a header that cannot be read at all closes it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("request header: {0}")]
    Header(DecodeError),
    #[error("request body of type {op} (xid {xid}): {err}")]
    Body { xid: i32, op: i32, err: DecodeError },
}

/// Decodes a request payload (a frame without its length prefix). `max_len` is `jute.maxbuffer`.
pub fn decode_request(
    payload: &[u8],
    max_len: usize,
) -> Result<(RequestHeader, Request), RequestError> {
    let mut r = Reader::with_max(payload, max_len);
    let header = RequestHeader::decode(&mut r).map_err(RequestError::Header)?;
    let body = decode_body(header.op_type, &mut r).map_err(|err| RequestError::Body {
        xid: header.xid,
        op: header.op_type,
        err,
    })?;
    Ok((header, body))
}

fn decode_body(op_type: i32, r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    let Some(op) = OpCode::from_i32(op_type) else {
        return Ok(Request::Unknown(op_type));
    };
    Ok(match op {
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => Request::Create {
            op,
            req: CreateRequest::decode(r)?,
        },
        OpCode::CreateTtl => Request::CreateTtl(CreateTtlRequest::decode(r)?),
        OpCode::Delete => Request::Delete(DeleteRequest::decode(r)?),
        OpCode::DeleteContainer => Request::DeleteContainer(r.read_string()?),
        OpCode::Exists => Request::Exists(ExistsRequest::decode(r)?),
        OpCode::GetData => Request::GetData(GetDataRequest::decode(r)?),
        OpCode::SetData => Request::SetData(SetDataRequest::decode(r)?),
        OpCode::GetAcl => Request::GetAcl(GetAclRequest::decode(r)?),
        OpCode::SetAcl => Request::SetAcl(SetAclRequest::decode(r)?),
        OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::decode(r)?),
        OpCode::GetChildren2 => Request::GetChildren2(GetChildren2Request::decode(r)?),
        OpCode::GetAllChildrenNumber => {
            Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(r)?)
        }
        OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::decode(r)?),
        OpCode::Sync => Request::Sync(SyncRequest::decode(r)?),
        OpCode::Check => Request::Check(CheckVersionRequest::decode(r)?),
        OpCode::Multi => Request::Multi(decode_multi(r, false)?),
        OpCode::MultiRead => Request::MultiRead(decode_multi(r, true)?),
        OpCode::Reconfig => Request::Reconfig(ReconfigRequest::decode(r)?),
        OpCode::CheckWatches => Request::CheckWatches(CheckWatchesRequest::decode(r)?),
        OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::decode(r)?),
        OpCode::AddWatch => Request::AddWatch(AddWatchRequest::decode(r)?),
        OpCode::SetWatches => Request::SetWatches(SetWatches::decode(r)?),
        OpCode::SetWatches2 => Request::SetWatches2(SetWatches2::decode(r)?),
        OpCode::Auth => Request::Auth(AuthPacket::decode(r)?),
        OpCode::Sasl => Request::Sasl(GetSaslRequest::decode(r)?),
        OpCode::WhoAmI => Request::WhoAmI,
        OpCode::Ping => Request::Ping,
        OpCode::CloseSession => Request::CloseSession,
        OpCode::Notification | OpCode::CreateSession | OpCode::Error => Request::Unknown(op_type),
    })
}

fn decode_multi(r: &mut Reader<'_>, read: bool) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(ops);
        }
        let op = OpCode::from_i32(h.op_type);
        let item = match (op, read) {
            (Some(op @ (OpCode::Create | OpCode::Create2 | OpCode::CreateContainer)), false) => {
                MultiOp::Create {
                    op,
                    req: CreateRequest::decode(r)?,
                }
            }
            (Some(OpCode::CreateTtl), false) => MultiOp::CreateTtl(CreateTtlRequest::decode(r)?),
            (Some(OpCode::Delete), false) => MultiOp::Delete(DeleteRequest::decode(r)?),
            (Some(OpCode::SetData), false) => MultiOp::SetData(SetDataRequest::decode(r)?),
            (Some(OpCode::Check), false) => MultiOp::Check(CheckVersionRequest::decode(r)?),
            (Some(OpCode::GetData), true) => MultiOp::GetData(GetDataRequest::decode(r)?),
            (Some(OpCode::GetChildren), true) => {
                MultiOp::GetChildren(GetChildrenRequest::decode(r)?)
            }
            _ => {
                return Err(DecodeError::BadValue {
                    what: "multi op type",
                    value: h.op_type as i64,
                })
            }
        };
        ops.push(item);
    }
}

/// Encodes a request payload (no length prefix), as a client sends it.
pub fn encode_request(xid: i32, req: &Request, out: &mut Vec<u8>) {
    let op = request_op(req);
    RequestHeader { xid, op_type: op }.encode(out);
    match req {
        Request::Create { req, .. } => req.encode(out),
        Request::CreateTtl(r) => r.encode(out),
        Request::Delete(r) => r.encode(out),
        Request::DeleteContainer(p) => out.put_string(p),
        Request::Exists(r) => r.encode(out),
        Request::GetData(r) => r.encode(out),
        Request::SetData(r) => r.encode(out),
        Request::GetAcl(r) => r.encode(out),
        Request::SetAcl(r) => r.encode(out),
        Request::GetChildren(r) => r.encode(out),
        Request::GetChildren2(r) => r.encode(out),
        Request::GetAllChildrenNumber(r) => r.encode(out),
        Request::GetEphemerals(r) => r.encode(out),
        Request::Sync(r) => r.encode(out),
        Request::Check(r) => r.encode(out),
        Request::Multi(ops) | Request::MultiRead(ops) => encode_multi_ops(ops, out),
        Request::Reconfig(r) => r.encode(out),
        Request::CheckWatches(r) => r.encode(out),
        Request::RemoveWatches(r) => r.encode(out),
        Request::AddWatch(r) => r.encode(out),
        Request::SetWatches(r) => r.encode(out),
        Request::SetWatches2(r) => r.encode(out),
        Request::Auth(r) => r.encode(out),
        Request::Sasl(r) => r.encode(out),
        Request::WhoAmI | Request::Ping | Request::CloseSession | Request::Unknown(_) => {}
    }
}

/// The opcode number a request is sent with.
pub fn request_op(req: &Request) -> i32 {
    let op = match req {
        Request::Create { op, .. } => *op,
        Request::CreateTtl(_) => OpCode::CreateTtl,
        Request::Delete(_) => OpCode::Delete,
        Request::DeleteContainer(_) => OpCode::DeleteContainer,
        Request::Exists(_) => OpCode::Exists,
        Request::GetData(_) => OpCode::GetData,
        Request::SetData(_) => OpCode::SetData,
        Request::GetAcl(_) => OpCode::GetAcl,
        Request::SetAcl(_) => OpCode::SetAcl,
        Request::GetChildren(_) => OpCode::GetChildren,
        Request::GetChildren2(_) => OpCode::GetChildren2,
        Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
        Request::GetEphemerals(_) => OpCode::GetEphemerals,
        Request::Sync(_) => OpCode::Sync,
        Request::Check(_) => OpCode::Check,
        Request::Multi(_) => OpCode::Multi,
        Request::MultiRead(_) => OpCode::MultiRead,
        Request::Reconfig(_) => OpCode::Reconfig,
        Request::CheckWatches(_) => OpCode::CheckWatches,
        Request::RemoveWatches(_) => OpCode::RemoveWatches,
        Request::AddWatch(_) => OpCode::AddWatch,
        Request::SetWatches(_) => OpCode::SetWatches,
        Request::SetWatches2(_) => OpCode::SetWatches2,
        Request::Auth(_) => OpCode::Auth,
        Request::Sasl(_) => OpCode::Sasl,
        Request::WhoAmI => OpCode::WhoAmI,
        Request::Ping => OpCode::Ping,
        Request::CloseSession => OpCode::CloseSession,
        Request::Unknown(n) => return *n,
    };
    op.code()
}

fn encode_multi_ops(ops: &[MultiOp], out: &mut Vec<u8>) {
    for op in ops {
        MultiHeader {
            op_type: op.op_code().code(),
            done: false,
            err: -1,
        }
        .encode(out);
        match op {
            MultiOp::Create { req, .. } => req.encode(out),
            MultiOp::CreateTtl(r) => r.encode(out),
            MultiOp::Delete(r) => r.encode(out),
            MultiOp::SetData(r) => r.encode(out),
            MultiOp::Check(r) => r.encode(out),
            MultiOp::GetData(r) => r.encode(out),
            MultiOp::GetChildren(r) => r.encode(out),
        }
    }
    MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    }
    .encode(out);
}

/// Encodes a multi/multiRead response body as `MultiResponse.serialize` does.
pub fn encode_multi_results(results: &[MultiResult], out: &mut Vec<u8>) {
    for res in results {
        let (op_type, err) = match res {
            MultiResult::Create(_) => (OpCode::Create.code(), 0),
            MultiResult::Create2 { op, .. } => (op.code(), 0),
            MultiResult::Delete => (OpCode::Delete.code(), 0),
            MultiResult::SetData(_) => (OpCode::SetData.code(), 0),
            MultiResult::Check => (OpCode::Check.code(), 0),
            MultiResult::GetData(_) => (OpCode::GetData.code(), 0),
            MultiResult::GetChildren(_) => (OpCode::GetChildren.code(), 0),
            MultiResult::Error(e) => (OpCode::Error.code(), *e),
        };
        MultiHeader {
            op_type,
            done: false,
            err,
        }
        .encode(out);
        match res {
            MultiResult::Create(path) => out.put_string(path),
            MultiResult::Create2 { path, stat, .. } => {
                out.put_string(path);
                stat.encode(out);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData(stat) => stat.encode(out),
            MultiResult::GetData(r) => r.encode(out),
            MultiResult::GetChildren(c) => out.put_vec(c),
            MultiResult::Error(e) => out.put_i32(*e),
        }
    }
    MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    }
    .encode(out);
}

/// Decodes a multi/multiRead response body (what a client reads).
pub fn decode_multi_results(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(out);
        }
        let res = match OpCode::from_i32(h.op_type) {
            Some(OpCode::Create) => MultiResult::Create(r.read_string()?),
            Some(op @ (OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer)) => {
                let path = r.read_string()?;
                MultiResult::Create2 {
                    op,
                    path,
                    stat: Stat::decode(r)?,
                }
            }
            Some(OpCode::Delete) => MultiResult::Delete,
            Some(OpCode::Check) => MultiResult::Check,
            Some(OpCode::SetData) => MultiResult::SetData(Stat::decode(r)?),
            Some(OpCode::GetData) => MultiResult::GetData(GetDataResponse::decode(r)?),
            Some(OpCode::GetChildren) => MultiResult::GetChildren(r.read_vec()?),
            Some(OpCode::Error) => MultiResult::Error(r.read_i32()?),
            _ => {
                return Err(DecodeError::BadValue {
                    what: "multi result type",
                    value: h.op_type as i64,
                })
            }
        };
        out.push(res);
    }
}

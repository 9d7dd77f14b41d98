//! Transactions: what prep produces, what the txn log will store, and what apply consumes.
//! The records are `zookeeper.jute`'s txn records, so a txn can be written to disk as is.

use zk_proto::codec::{Decode, DecodeError, Encode, Reader};
use zk_proto::txn::*;
use zk_proto::OpCode;

/// One txn body. `Create` carries the opcode it was proposed with (`create` or `create2`),
/// because the txn header's type records it and replies differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    Create(CreateTxn),
    CreateContainer(CreateContainerTxn),
    CreateTtl(CreateTtlTxn),
    Delete(DeleteTxn),
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    Multi(Vec<(OpCode, TxnBody)>),
    CreateSession(CreateSessionTxn),
    CloseSession(CloseSessionTxn),
    Error(ErrorTxn),
}

/// A txn with its header: `hdr.txn_type` is the request's opcode (`error` for a failed write).
/// zxid and wall time are stamped by prep; apply reads time only from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub hdr: TxnHeader,
    pub body: TxnBody,
    /// The tree digest after this txn is applied (ZooKeeper 3.6+ `TxnDigest`), when known.
    pub digest: Option<TxnDigest>,
}

impl TxnBody {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TxnBody::Create(t) => t.encode(out),
            TxnBody::CreateContainer(t) => t.encode(out),
            TxnBody::CreateTtl(t) => t.encode(out),
            TxnBody::Delete(t) => t.encode(out),
            TxnBody::SetData(t) => t.encode(out),
            TxnBody::SetAcl(t) => t.encode(out),
            TxnBody::Check(t) => t.encode(out),
            TxnBody::Multi(ops) => {
                let txns: Vec<zk_proto::txn::Txn> = ops
                    .iter()
                    .map(|(op, body)| zk_proto::txn::Txn {
                        txn_type: op.code(),
                        data: body.to_bytes(),
                    })
                    .collect();
                MultiTxn { txns }.encode(out)
            }
            TxnBody::CreateSession(t) => t.encode(out),
            TxnBody::CloseSession(t) => t.encode(out),
            TxnBody::Error(t) => t.encode(out),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes a txn body of the given header type, as log replay will.
    pub fn decode(txn_type: i32, r: &mut Reader<'_>) -> Result<TxnBody, DecodeError> {
        let bad = || DecodeError::BadValue {
            what: "txn type",
            value: txn_type as i64,
        };
        Ok(match OpCode::from_i32(txn_type).ok_or_else(bad)? {
            OpCode::Create | OpCode::Create2 => TxnBody::Create(CreateTxn::decode(r)?),
            OpCode::CreateContainer => TxnBody::CreateContainer(CreateContainerTxn::decode(r)?),
            OpCode::CreateTtl => TxnBody::CreateTtl(CreateTtlTxn::decode(r)?),
            OpCode::Delete | OpCode::DeleteContainer => TxnBody::Delete(DeleteTxn::decode(r)?),
            OpCode::SetData => TxnBody::SetData(SetDataTxn::decode(r)?),
            OpCode::SetAcl => TxnBody::SetAcl(SetAclTxn::decode(r)?),
            OpCode::Check => TxnBody::Check(CheckVersionTxn::decode(r)?),
            OpCode::Multi => {
                let multi = MultiTxn::decode(r)?;
                let mut ops = Vec::with_capacity(multi.txns.len());
                for t in multi.txns {
                    let op = OpCode::from_i32(t.txn_type).ok_or(DecodeError::BadValue {
                        what: "multi txn type",
                        value: t.txn_type as i64,
                    })?;
                    let mut sub = Reader::new(&t.data);
                    ops.push((op, TxnBody::decode(t.txn_type, &mut sub)?));
                }
                TxnBody::Multi(ops)
            }
            OpCode::CreateSession => TxnBody::CreateSession(CreateSessionTxn::decode(r)?),
            OpCode::CloseSession => TxnBody::CloseSession(CloseSessionTxn::decode(r)?),
            OpCode::Error => TxnBody::Error(ErrorTxn::decode(r)?),
            _ => return Err(bad()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::data::Acl;

    #[test]
    fn multi_txn_round_trips() {
        let body = TxnBody::Multi(vec![
            (
                OpCode::Create,
                TxnBody::Create(CreateTxn {
                    path: "/a".into(),
                    data: Some(b"x".to_vec()),
                    acl: Acl::open_unsafe(),
                    ephemeral: false,
                    parent_cversion: 3,
                }),
            ),
            (OpCode::Error, TxnBody::Error(ErrorTxn { err: -2 })),
        ]);
        let bytes = body.to_bytes();
        let back = TxnBody::decode(OpCode::Multi.code(), &mut Reader::new(&bytes)).unwrap();
        assert_eq!(back, body);
    }
}

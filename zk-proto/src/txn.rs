//! `org.apache.zookeeper.txn` and the persistence `FileHeader`: what the txn log and snapshots
//! hold, and what replicas apply.

use crate::data::Acl;
use crate::record;

record! { pub struct FileHeader { pub magic: i32, pub version: i32, pub dbid: i64 } }
record! { pub struct TxnDigest { pub version: i32, pub tree_digest: i64 } }
record! { pub struct TxnHeader {
    pub client_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    pub time: i64,
    pub txn_type: i32,
} }
record! { pub struct CreateTxnV0 {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub ephemeral: bool,
} }
record! { pub struct CreateTxn {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub ephemeral: bool,
    pub parent_cversion: i32,
} }
record! { pub struct CreateTtlTxn {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub parent_cversion: i32,
    pub ttl: i64,
} }
record! { pub struct CreateContainerTxn {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub parent_cversion: i32,
} }
record! { pub struct DeleteTxn { pub path: String } }
record! { pub struct SetDataTxn { pub path: String, pub data: Option<Vec<u8>>, pub version: i32 } }
record! { pub struct CheckVersionTxn { pub path: String, pub version: i32 } }
record! { pub struct SetAclTxn { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
record! { pub struct SetMaxChildrenTxn { pub path: String, pub max: i32 } }
record! { pub struct CreateSessionTxn { pub time_out: i32 } }
record! { pub struct CloseSessionTxn { pub paths_to_delete: Vec<String> } }
record! { pub struct ErrorTxn { pub err: i32 } }
record! { pub struct Txn { pub txn_type: i32, pub data: Vec<u8> } }
record! { pub struct MultiTxn { pub txns: Vec<Txn> } }

//! `org.apache.zookeeper.proto`: client requests and responses.

use crate::codec::{Decode, DecodeError, Encode, Reader, WriteExt};
use crate::data::{Acl, ClientInfo, Stat};
use crate::record;

/// The first packet a client sends. `read_only` is `None` when the client did not append the
/// flag (3.8's jute has no such field; most clients append it anyway), so the server can answer
/// in kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl Encode for ConnectRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_i32(self.protocol_version);
        out.put_i64(self.last_zxid_seen);
        out.put_i32(self.time_out);
        out.put_i64(self.session_id);
        out.put_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            out.put_bool(ro);
        }
    }
}

impl Decode for ConnectRequest {
    const MIN_SIZE: usize = 28;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol_version = r.read_i32()?;
        let last_zxid_seen = r.read_i64()?;
        let time_out = r.read_i32()?;
        let session_id = r.read_i64()?;
        let passwd = r.read_buffer()?;
        let read_only = if r.is_empty() {
            None
        } else {
            Some(r.read_bool()?)
        };
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }
}

/// The server's answer to [`ConnectRequest`]; `read_only` is written only when present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl Encode for ConnectResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_i32(self.protocol_version);
        out.put_i32(self.time_out);
        out.put_i64(self.session_id);
        out.put_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            out.put_bool(ro);
        }
    }
}

impl Decode for ConnectResponse {
    const MIN_SIZE: usize = 20;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol_version = r.read_i32()?;
        let time_out = r.read_i32()?;
        let session_id = r.read_i64()?;
        let passwd = r.read_buffer()?;
        let read_only = if r.is_empty() {
            None
        } else {
            Some(r.read_bool()?)
        };
        Ok(ConnectResponse {
            protocol_version,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }
}

record! { pub struct SetWatches {
    pub relative_zxid: i64,
    pub data_watches: Vec<String>,
    pub exist_watches: Vec<String>,
    pub child_watches: Vec<String>,
} }

record! { pub struct SetWatches2 {
    pub relative_zxid: i64,
    pub data_watches: Vec<String>,
    pub exist_watches: Vec<String>,
    pub child_watches: Vec<String>,
    pub persistent_watches: Vec<String>,
    pub persistent_recursive_watches: Vec<String>,
} }

record! { pub struct RequestHeader { pub xid: i32, pub op_type: i32 } }
record! { pub struct MultiHeader { pub op_type: i32, pub done: bool, pub err: i32 } }
record! { pub struct AuthPacket { pub auth_type: i32, pub scheme: String, pub auth: Vec<u8> } }
record! { pub struct ReplyHeader { pub xid: i32, pub zxid: i64, pub err: i32 } }

record! { pub struct GetDataRequest { pub path: String, pub watch: bool } }
record! { pub struct SetDataRequest { pub path: String, pub data: Option<Vec<u8>>, pub version: i32 } }
record! { pub struct ReconfigRequest {
    pub joining_servers: String,
    pub leaving_servers: String,
    pub new_members: String,
    pub cur_config_id: i64,
} }
record! { pub struct SetDataResponse { pub stat: Stat } }
record! { pub struct GetSaslRequest { pub token: Vec<u8> } }
record! { pub struct SetSaslRequest { pub token: Vec<u8> } }
record! { pub struct SetSaslResponse { pub token: Vec<u8> } }
record! { pub struct CreateRequest {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub flags: i32,
} }
record! { pub struct CreateTtlRequest {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    pub ttl: i64,
} }
record! { pub struct DeleteRequest { pub path: String, pub version: i32 } }
record! { pub struct GetChildrenRequest { pub path: String, pub watch: bool } }
record! { pub struct GetAllChildrenNumberRequest { pub path: String } }
record! { pub struct GetChildren2Request { pub path: String, pub watch: bool } }
record! { pub struct CheckVersionRequest { pub path: String, pub version: i32 } }
record! { pub struct SyncRequest { pub path: String } }
record! { pub struct SyncResponse { pub path: String } }
record! { pub struct GetAclRequest { pub path: String } }
record! { pub struct SetAclRequest { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
record! { pub struct SetAclResponse { pub stat: Stat } }
record! { pub struct AddWatchRequest { pub path: String, pub mode: i32 } }
record! { pub struct WatcherEvent { pub event_type: i32, pub state: i32, pub path: String } }
record! { pub struct ErrorResponse { pub err: i32 } }
record! { pub struct CreateResponse { pub path: String } }
record! { pub struct Create2Response { pub path: String, pub stat: Stat } }
record! { pub struct ExistsRequest { pub path: String, pub watch: bool } }
record! { pub struct ExistsResponse { pub stat: Stat } }
record! { pub struct GetDataResponse { pub data: Option<Vec<u8>>, pub stat: Stat } }
record! { pub struct GetChildrenResponse { pub children: Vec<String> } }
record! { pub struct GetAllChildrenNumberResponse { pub total_number: i32 } }
record! { pub struct GetChildren2Response { pub children: Vec<String>, pub stat: Stat } }
record! { pub struct GetAclResponse { pub acl: Vec<Acl>, pub stat: Stat } }
record! { pub struct CheckWatchesRequest { pub path: String, pub watcher_type: i32 } }
record! { pub struct RemoveWatchesRequest { pub path: String, pub watcher_type: i32 } }
record! { pub struct GetEphemeralsRequest { pub prefix_path: String } }
record! { pub struct GetEphemeralsResponse { pub ephemerals: Vec<String> } }
record! { pub struct WhoAmIResponse { pub client_info: Vec<ClientInfo> } }

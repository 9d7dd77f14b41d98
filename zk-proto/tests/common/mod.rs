//! Proptest strategies for every zk-proto record, request and multi result, shared by the
//! integration tests (`mod common;`). Not every test file uses every strategy.
#![allow(dead_code)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use zk_proto::data::*;
use zk_proto::proto::*;
use zk_proto::request::{MultiOp, MultiResult, Request};
use zk_proto::txn::*;
use zk_proto::OpCode;

/// Cases per property: enough to hit every shape, small enough for two cores.
pub const CASES: u32 = 256;

pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Failures are reported with their minimal input; don't write regression files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Builds a record from one strategy per field: `rec!(Name { field: strategy, ... })`.
macro_rules! rec {
    ($name:ident { $($f:ident : $s:expr),+ $(,)? }) => {
        ($($s,)+).prop_map(|($($f,)+)| $name { $($f),+ })
    };
}

/// Any valid UTF-8 (including multi-byte and NUL characters), kept short.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[/a-z0-9._-]{0,12}",
        1 => vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ]
}

pub fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(string(), 0..5)
}

/// A non-null buffer (null decodes as empty, so it cannot round-trip).
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

/// A nullable buffer: `None` (length -1), empty and non-empty are all distinct.
pub fn opt_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    option::of(bytes())
}

pub fn opt_bool() -> impl Strategy<Value = Option<bool>> {
    option::of(any::<bool>())
}

// ---- data.rs ----

pub fn id() -> impl Strategy<Value = Id> {
    rec!(Id {
        scheme: string(),
        id: string()
    })
}

pub fn acl() -> impl Strategy<Value = Acl> {
    rec!(Acl {
        perms: any::<i32>(),
        id: id()
    })
}

pub fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..4)
}

pub fn stat() -> impl Strategy<Value = Stat> {
    rec!(Stat {
        czxid: any::<i64>(),
        mzxid: any::<i64>(),
        ctime: any::<i64>(),
        mtime: any::<i64>(),
        version: any::<i32>(),
        cversion: any::<i32>(),
        aversion: any::<i32>(),
        ephemeral_owner: any::<i64>(),
        data_length: any::<i32>(),
        num_children: any::<i32>(),
        pzxid: any::<i64>(),
    })
}

pub fn stat_persisted() -> impl Strategy<Value = StatPersisted> {
    rec!(StatPersisted {
        czxid: any::<i64>(),
        mzxid: any::<i64>(),
        ctime: any::<i64>(),
        mtime: any::<i64>(),
        version: any::<i32>(),
        cversion: any::<i32>(),
        aversion: any::<i32>(),
        ephemeral_owner: any::<i64>(),
        pzxid: any::<i64>(),
    })
}

pub fn client_info() -> impl Strategy<Value = ClientInfo> {
    rec!(ClientInfo {
        auth_scheme: string(),
        user: string()
    })
}

// ---- proto.rs ----

pub fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    rec!(ConnectRequest {
        protocol_version: any::<i32>(),
        last_zxid_seen: any::<i64>(),
        time_out: any::<i32>(),
        session_id: any::<i64>(),
        passwd: bytes(),
        read_only: opt_bool(),
    })
}

pub fn connect_response() -> impl Strategy<Value = ConnectResponse> {
    rec!(ConnectResponse {
        protocol_version: any::<i32>(),
        time_out: any::<i32>(),
        session_id: any::<i64>(),
        passwd: bytes(),
        read_only: opt_bool(),
    })
}

pub fn set_watches() -> impl Strategy<Value = SetWatches> {
    rec!(SetWatches {
        relative_zxid: any::<i64>(),
        data_watches: strings(),
        exist_watches: strings(),
        child_watches: strings(),
    })
}

pub fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    rec!(SetWatches2 {
        relative_zxid: any::<i64>(),
        data_watches: strings(),
        exist_watches: strings(),
        child_watches: strings(),
        persistent_watches: strings(),
        persistent_recursive_watches: strings(),
    })
}

pub fn request_header() -> impl Strategy<Value = RequestHeader> {
    rec!(RequestHeader {
        xid: any::<i32>(),
        op_type: any::<i32>()
    })
}

pub fn multi_header() -> impl Strategy<Value = MultiHeader> {
    rec!(MultiHeader {
        op_type: any::<i32>(),
        done: any::<bool>(),
        err: any::<i32>()
    })
}

pub fn auth_packet() -> impl Strategy<Value = AuthPacket> {
    rec!(AuthPacket {
        auth_type: any::<i32>(),
        scheme: string(),
        auth: bytes()
    })
}

pub fn reply_header() -> impl Strategy<Value = ReplyHeader> {
    rec!(ReplyHeader {
        xid: any::<i32>(),
        zxid: any::<i64>(),
        err: any::<i32>()
    })
}

pub fn get_data_request() -> impl Strategy<Value = GetDataRequest> {
    rec!(GetDataRequest {
        path: string(),
        watch: any::<bool>()
    })
}

pub fn set_data_request() -> impl Strategy<Value = SetDataRequest> {
    rec!(SetDataRequest {
        path: string(),
        data: opt_bytes(),
        version: any::<i32>()
    })
}

pub fn reconfig_request() -> impl Strategy<Value = ReconfigRequest> {
    rec!(ReconfigRequest {
        joining_servers: string(),
        leaving_servers: string(),
        new_members: string(),
        cur_config_id: any::<i64>(),
    })
}

pub fn set_data_response() -> impl Strategy<Value = SetDataResponse> {
    rec!(SetDataResponse { stat: stat() })
}

pub fn get_sasl_request() -> impl Strategy<Value = GetSaslRequest> {
    rec!(GetSaslRequest { token: bytes() })
}

pub fn set_sasl_request() -> impl Strategy<Value = SetSaslRequest> {
    rec!(SetSaslRequest { token: bytes() })
}

pub fn set_sasl_response() -> impl Strategy<Value = SetSaslResponse> {
    rec!(SetSaslResponse { token: bytes() })
}

pub fn create_request() -> impl Strategy<Value = CreateRequest> {
    rec!(CreateRequest {
        path: string(),
        data: opt_bytes(),
        acl: acls(),
        flags: any::<i32>()
    })
}

pub fn create_ttl_request() -> impl Strategy<Value = CreateTtlRequest> {
    rec!(CreateTtlRequest {
        path: string(),
        data: opt_bytes(),
        acl: acls(),
        flags: any::<i32>(),
        ttl: any::<i64>(),
    })
}

pub fn delete_request() -> impl Strategy<Value = DeleteRequest> {
    rec!(DeleteRequest {
        path: string(),
        version: any::<i32>()
    })
}

pub fn get_children_request() -> impl Strategy<Value = GetChildrenRequest> {
    rec!(GetChildrenRequest {
        path: string(),
        watch: any::<bool>()
    })
}

pub fn get_all_children_number_request() -> impl Strategy<Value = GetAllChildrenNumberRequest> {
    rec!(GetAllChildrenNumberRequest { path: string() })
}

pub fn get_children2_request() -> impl Strategy<Value = GetChildren2Request> {
    rec!(GetChildren2Request {
        path: string(),
        watch: any::<bool>()
    })
}

pub fn check_version_request() -> impl Strategy<Value = CheckVersionRequest> {
    rec!(CheckVersionRequest {
        path: string(),
        version: any::<i32>()
    })
}

pub fn sync_request() -> impl Strategy<Value = SyncRequest> {
    rec!(SyncRequest { path: string() })
}

pub fn sync_response() -> impl Strategy<Value = SyncResponse> {
    rec!(SyncResponse { path: string() })
}

pub fn get_acl_request() -> impl Strategy<Value = GetAclRequest> {
    rec!(GetAclRequest { path: string() })
}

pub fn set_acl_request() -> impl Strategy<Value = SetAclRequest> {
    rec!(SetAclRequest {
        path: string(),
        acl: acls(),
        version: any::<i32>()
    })
}

pub fn set_acl_response() -> impl Strategy<Value = SetAclResponse> {
    rec!(SetAclResponse { stat: stat() })
}

pub fn add_watch_request() -> impl Strategy<Value = AddWatchRequest> {
    rec!(AddWatchRequest {
        path: string(),
        mode: any::<i32>()
    })
}

pub fn watcher_event() -> impl Strategy<Value = WatcherEvent> {
    rec!(WatcherEvent {
        event_type: any::<i32>(),
        state: any::<i32>(),
        path: string()
    })
}

pub fn error_response() -> impl Strategy<Value = ErrorResponse> {
    rec!(ErrorResponse { err: any::<i32>() })
}

pub fn create_response() -> impl Strategy<Value = CreateResponse> {
    rec!(CreateResponse { path: string() })
}

pub fn create2_response() -> impl Strategy<Value = Create2Response> {
    rec!(Create2Response {
        path: string(),
        stat: stat()
    })
}

pub fn exists_request() -> impl Strategy<Value = ExistsRequest> {
    rec!(ExistsRequest {
        path: string(),
        watch: any::<bool>()
    })
}

pub fn exists_response() -> impl Strategy<Value = ExistsResponse> {
    rec!(ExistsResponse { stat: stat() })
}

pub fn get_data_response() -> impl Strategy<Value = GetDataResponse> {
    rec!(GetDataResponse {
        data: opt_bytes(),
        stat: stat()
    })
}

pub fn get_children_response() -> impl Strategy<Value = GetChildrenResponse> {
    rec!(GetChildrenResponse {
        children: strings()
    })
}

pub fn get_all_children_number_response() -> impl Strategy<Value = GetAllChildrenNumberResponse> {
    rec!(GetAllChildrenNumberResponse {
        total_number: any::<i32>()
    })
}

pub fn get_children2_response() -> impl Strategy<Value = GetChildren2Response> {
    rec!(GetChildren2Response {
        children: strings(),
        stat: stat()
    })
}

pub fn get_acl_response() -> impl Strategy<Value = GetAclResponse> {
    rec!(GetAclResponse {
        acl: acls(),
        stat: stat()
    })
}

pub fn check_watches_request() -> impl Strategy<Value = CheckWatchesRequest> {
    rec!(CheckWatchesRequest {
        path: string(),
        watcher_type: any::<i32>()
    })
}

pub fn remove_watches_request() -> impl Strategy<Value = RemoveWatchesRequest> {
    rec!(RemoveWatchesRequest {
        path: string(),
        watcher_type: any::<i32>()
    })
}

pub fn get_ephemerals_request() -> impl Strategy<Value = GetEphemeralsRequest> {
    rec!(GetEphemeralsRequest {
        prefix_path: string()
    })
}

pub fn get_ephemerals_response() -> impl Strategy<Value = GetEphemeralsResponse> {
    rec!(GetEphemeralsResponse {
        ephemerals: strings()
    })
}

pub fn who_am_i_response() -> impl Strategy<Value = WhoAmIResponse> {
    rec!(WhoAmIResponse {
        client_info: vec(client_info(), 0..4)
    })
}

// ---- txn.rs ----

pub fn file_header() -> impl Strategy<Value = FileHeader> {
    rec!(FileHeader {
        magic: any::<i32>(),
        version: any::<i32>(),
        dbid: any::<i64>()
    })
}

pub fn txn_digest() -> impl Strategy<Value = TxnDigest> {
    rec!(TxnDigest {
        version: any::<i32>(),
        tree_digest: any::<i64>()
    })
}

pub fn txn_header() -> impl Strategy<Value = TxnHeader> {
    rec!(TxnHeader {
        client_id: any::<i64>(),
        cxid: any::<i32>(),
        zxid: any::<i64>(),
        time: any::<i64>(),
        txn_type: any::<i32>(),
    })
}

pub fn create_txn_v0() -> impl Strategy<Value = CreateTxnV0> {
    rec!(CreateTxnV0 {
        path: string(),
        data: opt_bytes(),
        acl: acls(),
        ephemeral: any::<bool>()
    })
}

pub fn create_txn() -> impl Strategy<Value = CreateTxn> {
    rec!(CreateTxn {
        path: string(),
        data: opt_bytes(),
        acl: acls(),
        ephemeral: any::<bool>(),
        parent_cversion: any::<i32>(),
    })
}

pub fn create_ttl_txn() -> impl Strategy<Value = CreateTtlTxn> {
    rec!(CreateTtlTxn {
        path: string(),
        data: opt_bytes(),
        acl: acls(),
        parent_cversion: any::<i32>(),
        ttl: any::<i64>(),
    })
}

pub fn create_container_txn() -> impl Strategy<Value = CreateContainerTxn> {
    rec!(CreateContainerTxn {
        path: string(),
        data: opt_bytes(),
        acl: acls(),
        parent_cversion: any::<i32>(),
    })
}

pub fn delete_txn() -> impl Strategy<Value = DeleteTxn> {
    rec!(DeleteTxn { path: string() })
}

pub fn set_data_txn() -> impl Strategy<Value = SetDataTxn> {
    rec!(SetDataTxn {
        path: string(),
        data: opt_bytes(),
        version: any::<i32>()
    })
}

pub fn check_version_txn() -> impl Strategy<Value = CheckVersionTxn> {
    rec!(CheckVersionTxn {
        path: string(),
        version: any::<i32>()
    })
}

pub fn set_acl_txn() -> impl Strategy<Value = SetAclTxn> {
    rec!(SetAclTxn {
        path: string(),
        acl: acls(),
        version: any::<i32>()
    })
}

pub fn set_max_children_txn() -> impl Strategy<Value = SetMaxChildrenTxn> {
    rec!(SetMaxChildrenTxn {
        path: string(),
        max: any::<i32>()
    })
}

pub fn create_session_txn() -> impl Strategy<Value = CreateSessionTxn> {
    rec!(CreateSessionTxn {
        time_out: any::<i32>()
    })
}

pub fn close_session_txn() -> impl Strategy<Value = CloseSessionTxn> {
    rec!(CloseSessionTxn {
        paths_to_delete: strings()
    })
}

pub fn error_txn() -> impl Strategy<Value = ErrorTxn> {
    rec!(ErrorTxn { err: any::<i32>() })
}

pub fn txn() -> impl Strategy<Value = Txn> {
    rec!(Txn {
        txn_type: any::<i32>(),
        data: bytes()
    })
}

pub fn multi_txn() -> impl Strategy<Value = MultiTxn> {
    rec!(MultiTxn {
        txns: vec(txn(), 0..4)
    })
}

/// Invokes `$cb!` with `Type => strategy,` for every record type in data.rs, proto.rs and
/// txn.rs, so each test file can stamp out one property per type.
macro_rules! for_each_record {
    ($cb:ident) => {
        $cb! {
            id: Id => common::id(),
            acl: Acl => common::acl(),
            stat: Stat => common::stat(),
            stat_persisted: StatPersisted => common::stat_persisted(),
            client_info: ClientInfo => common::client_info(),
            connect_request: ConnectRequest => common::connect_request(),
            connect_response: ConnectResponse => common::connect_response(),
            set_watches: SetWatches => common::set_watches(),
            set_watches2: SetWatches2 => common::set_watches2(),
            request_header: RequestHeader => common::request_header(),
            multi_header: MultiHeader => common::multi_header(),
            auth_packet: AuthPacket => common::auth_packet(),
            reply_header: ReplyHeader => common::reply_header(),
            get_data_request: GetDataRequest => common::get_data_request(),
            set_data_request: SetDataRequest => common::set_data_request(),
            reconfig_request: ReconfigRequest => common::reconfig_request(),
            set_data_response: SetDataResponse => common::set_data_response(),
            get_sasl_request: GetSaslRequest => common::get_sasl_request(),
            set_sasl_request: SetSaslRequest => common::set_sasl_request(),
            set_sasl_response: SetSaslResponse => common::set_sasl_response(),
            create_request: CreateRequest => common::create_request(),
            create_ttl_request: CreateTtlRequest => common::create_ttl_request(),
            delete_request: DeleteRequest => common::delete_request(),
            get_children_request: GetChildrenRequest => common::get_children_request(),
            get_all_children_number_request: GetAllChildrenNumberRequest =>
                common::get_all_children_number_request(),
            get_children2_request: GetChildren2Request => common::get_children2_request(),
            check_version_request: CheckVersionRequest => common::check_version_request(),
            sync_request: SyncRequest => common::sync_request(),
            sync_response: SyncResponse => common::sync_response(),
            get_acl_request: GetAclRequest => common::get_acl_request(),
            set_acl_request: SetAclRequest => common::set_acl_request(),
            set_acl_response: SetAclResponse => common::set_acl_response(),
            add_watch_request: AddWatchRequest => common::add_watch_request(),
            watcher_event: WatcherEvent => common::watcher_event(),
            error_response: ErrorResponse => common::error_response(),
            create_response: CreateResponse => common::create_response(),
            create2_response: Create2Response => common::create2_response(),
            exists_request: ExistsRequest => common::exists_request(),
            exists_response: ExistsResponse => common::exists_response(),
            get_data_response: GetDataResponse => common::get_data_response(),
            get_children_response: GetChildrenResponse => common::get_children_response(),
            get_all_children_number_response: GetAllChildrenNumberResponse =>
                common::get_all_children_number_response(),
            get_children2_response: GetChildren2Response => common::get_children2_response(),
            get_acl_response: GetAclResponse => common::get_acl_response(),
            check_watches_request: CheckWatchesRequest => common::check_watches_request(),
            remove_watches_request: RemoveWatchesRequest => common::remove_watches_request(),
            get_ephemerals_request: GetEphemeralsRequest => common::get_ephemerals_request(),
            get_ephemerals_response: GetEphemeralsResponse => common::get_ephemerals_response(),
            who_am_i_response: WhoAmIResponse => common::who_am_i_response(),
            file_header: FileHeader => common::file_header(),
            txn_digest: TxnDigest => common::txn_digest(),
            txn_header: TxnHeader => common::txn_header(),
            create_txn_v0: CreateTxnV0 => common::create_txn_v0(),
            create_txn: CreateTxn => common::create_txn(),
            create_ttl_txn: CreateTtlTxn => common::create_ttl_txn(),
            create_container_txn: CreateContainerTxn => common::create_container_txn(),
            delete_txn: DeleteTxn => common::delete_txn(),
            set_data_txn: SetDataTxn => common::set_data_txn(),
            check_version_txn: CheckVersionTxn => common::check_version_txn(),
            set_acl_txn: SetAclTxn => common::set_acl_txn(),
            set_max_children_txn: SetMaxChildrenTxn => common::set_max_children_txn(),
            create_session_txn: CreateSessionTxn => common::create_session_txn(),
            close_session_txn: CloseSessionTxn => common::close_session_txn(),
            error_txn: ErrorTxn => common::error_txn(),
            txn: Txn => common::txn(),
            multi_txn: MultiTxn => common::multi_txn(),
        }
    };
}
pub(crate) use for_each_record;

// ---- request.rs ----

/// The opcodes `Request::Create` and `MultiOp::Create` carry.
pub fn create_op() -> impl Strategy<Value = OpCode> {
    prop::sample::select(vec![
        OpCode::Create,
        OpCode::Create2,
        OpCode::CreateContainer,
    ])
}

/// Every write op `multi` accepts.
pub fn multi_write_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        (create_op(), create_request()).prop_map(|(op, req)| MultiOp::Create { op, req }),
        create_ttl_request().prop_map(MultiOp::CreateTtl),
        delete_request().prop_map(MultiOp::Delete),
        set_data_request().prop_map(MultiOp::SetData),
        check_version_request().prop_map(MultiOp::Check),
    ]
}

/// Every read op `multiRead` accepts.
pub fn multi_read_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        get_data_request().prop_map(MultiOp::GetData),
        get_children_request().prop_map(MultiOp::GetChildren),
    ]
}

/// Opcodes that decode as `Request::Unknown`: unassigned numbers, and the three known codes
/// ZooKeeper never accepts from a client (notification, createSession, error).
pub fn unknown_op() -> impl Strategy<Value = i32> {
    prop_oneof![
        any::<i32>().prop_filter("a known opcode", |n| OpCode::from_i32(*n).is_none()),
        prop::sample::select(vec![
            OpCode::Notification.code(),
            OpCode::CreateSession.code(),
            OpCode::Error.code(),
            10,
            23,
            99,
            108,
            -2,
        ]),
    ]
}

pub fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (create_op(), create_request()).prop_map(|(op, req)| Request::Create { op, req }),
        create_ttl_request().prop_map(Request::CreateTtl),
        delete_request().prop_map(Request::Delete),
        string().prop_map(Request::DeleteContainer),
        exists_request().prop_map(Request::Exists),
        get_data_request().prop_map(Request::GetData),
        set_data_request().prop_map(Request::SetData),
        get_acl_request().prop_map(Request::GetAcl),
        set_acl_request().prop_map(Request::SetAcl),
        get_children_request().prop_map(Request::GetChildren),
        get_children2_request().prop_map(Request::GetChildren2),
        get_all_children_number_request().prop_map(Request::GetAllChildrenNumber),
        get_ephemerals_request().prop_map(Request::GetEphemerals),
        sync_request().prop_map(Request::Sync),
        check_version_request().prop_map(Request::Check),
        vec(multi_write_op(), 0..5).prop_map(Request::Multi),
        vec(multi_read_op(), 0..5).prop_map(Request::MultiRead),
        reconfig_request().prop_map(Request::Reconfig),
        check_watches_request().prop_map(Request::CheckWatches),
        remove_watches_request().prop_map(Request::RemoveWatches),
        add_watch_request().prop_map(Request::AddWatch),
        set_watches().prop_map(Request::SetWatches),
        set_watches2().prop_map(Request::SetWatches2),
        auth_packet().prop_map(Request::Auth),
        get_sasl_request().prop_map(Request::Sasl),
        Just(Request::WhoAmI),
        Just(Request::Ping),
        Just(Request::CloseSession),
        unknown_op().prop_map(Request::Unknown),
    ]
}

/// Which `Request` variant this is; exhaustive, so a new variant breaks the build here until
/// the strategy above (and the coverage test) learn about it.
pub fn request_kind(r: &Request) -> &'static str {
    match r {
        Request::Create { .. } => "Create",
        Request::CreateTtl(_) => "CreateTtl",
        Request::Delete(_) => "Delete",
        Request::DeleteContainer(_) => "DeleteContainer",
        Request::Exists(_) => "Exists",
        Request::GetData(_) => "GetData",
        Request::SetData(_) => "SetData",
        Request::GetAcl(_) => "GetAcl",
        Request::SetAcl(_) => "SetAcl",
        Request::GetChildren(_) => "GetChildren",
        Request::GetChildren2(_) => "GetChildren2",
        Request::GetAllChildrenNumber(_) => "GetAllChildrenNumber",
        Request::GetEphemerals(_) => "GetEphemerals",
        Request::Sync(_) => "Sync",
        Request::Check(_) => "Check",
        Request::Multi(_) => "Multi",
        Request::MultiRead(_) => "MultiRead",
        Request::Reconfig(_) => "Reconfig",
        Request::CheckWatches(_) => "CheckWatches",
        Request::RemoveWatches(_) => "RemoveWatches",
        Request::AddWatch(_) => "AddWatch",
        Request::SetWatches(_) => "SetWatches",
        Request::SetWatches2(_) => "SetWatches2",
        Request::Auth(_) => "Auth",
        Request::Sasl(_) => "Sasl",
        Request::WhoAmI => "WhoAmI",
        Request::Ping => "Ping",
        Request::CloseSession => "CloseSession",
        Request::Unknown(_) => "Unknown",
    }
}

pub const REQUEST_KINDS: usize = 29;

pub fn multi_op_kind(op: &MultiOp) -> &'static str {
    match op {
        MultiOp::Create { .. } => "Create",
        MultiOp::CreateTtl(_) => "CreateTtl",
        MultiOp::Delete(_) => "Delete",
        MultiOp::SetData(_) => "SetData",
        MultiOp::Check(_) => "Check",
        MultiOp::GetData(_) => "GetData",
        MultiOp::GetChildren(_) => "GetChildren",
    }
}

pub const MULTI_OP_KINDS: usize = 7;

/// Results whose encoding names their op (`Create2` only for the ops that answer with a stat).
pub fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        string().prop_map(MultiResult::Create),
        (
            prop::sample::select(vec![
                OpCode::Create2,
                OpCode::CreateTtl,
                OpCode::CreateContainer
            ]),
            string(),
            stat(),
        )
            .prop_map(|(op, path, stat)| MultiResult::Create2 { op, path, stat }),
        Just(MultiResult::Delete),
        stat().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        get_data_response().prop_map(MultiResult::GetData),
        strings().prop_map(MultiResult::GetChildren),
        any::<i32>().prop_map(MultiResult::Error),
    ]
}

pub fn multi_result_kind(r: &MultiResult) -> &'static str {
    match r {
        MultiResult::Create(_) => "Create",
        MultiResult::Create2 { .. } => "Create2",
        MultiResult::Delete => "Delete",
        MultiResult::SetData(_) => "SetData",
        MultiResult::Check => "Check",
        MultiResult::GetData(_) => "GetData",
        MultiResult::GetChildren(_) => "GetChildren",
        MultiResult::Error(_) => "Error",
    }
}

pub const MULTI_RESULT_KINDS: usize = 8;

/// Draws `n` values from `s` with a fixed seed: the same values on every run.
pub fn samples<S: Strategy>(s: S, n: usize) -> Vec<S::Value> {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| s.new_tree(&mut runner).expect("strategy").current())
        .collect()
}

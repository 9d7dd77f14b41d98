//! `/zookeeper/config` in the pure core: writing the ensemble's configuration into it is a
//! `setData` in ZooKeeper's `DataTree`, so a client watching the node hears `NodeDataChanged`
//! and reads the new text with ZooKeeper's stat; clients still cannot write it. No sockets.

mod harness;

use harness::Harness;
use zk_proto::codec::Decode;
use zk_proto::proto::*;
use zk_proto::request::Request;
use zk_proto::{ErrorCode, EventType};
use zk_server::core::config_node::ConfigNode;

fn get(h: &mut Harness, conn: u64, watch: bool) -> (Vec<u8>, zk_proto::data::Stat) {
    let (err, body) = h.call(
        conn,
        &Request::GetData(GetDataRequest {
            path: "/zookeeper/config".into(),
            watch,
        }),
    );
    assert_eq!(err, 0);
    let r = GetDataResponse::from_bytes(&body).unwrap();
    (r.data.unwrap_or_default(), r.stat)
}

#[test]
fn a_watcher_of_zookeeper_config_hears_the_configuration_written() {
    let mut h = Harness::new();
    let [watcher, _] = h.sessions;
    let (data, st) = get(&mut h, watcher, true);
    assert!(data.is_empty());
    assert_eq!((st.version, st.mzxid, st.mtime), (0, 0, 0));

    let text = b"server.1=127.0.0.1:2888:3888:participant\nversion=0".to_vec();
    let node = ConfigNode {
        data: text.clone(),
        version: 0,
    };
    let fx = h.core.set_config_node(&node, h.now);
    h.run(fx);
    assert_eq!(
        h.events(watcher),
        vec![(EventType::NodeDataChanged, "/zookeeper/config".to_owned())]
    );
    let (data, st) = get(&mut h, watcher, false);
    assert_eq!(data, text);
    assert_eq!(
        (st.czxid, st.mzxid, st.version, st.aversion, st.data_length),
        (0, 0, -1, -1, text.len() as i32)
    );
    assert_eq!(st.mtime, h.now.wall_ms);

    // The READ-only ACL still refuses a client's setData.
    let (err, _) = h.call(
        watcher,
        &Request::SetData(SetDataRequest {
            path: "/zookeeper/config".into(),
            data: Some(b"x".to_vec()),
            version: -1,
        }),
    );
    assert_eq!(err, ErrorCode::NoAuth.code());
}

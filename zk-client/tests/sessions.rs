//! Session life: reconnect with the same session after a server restart (watches re-set with
//! setWatches2, ephemerals kept), expiry, and failing over past a dead host.

mod common;

use std::time::Duration;

use common::*;
use zk_client::{Acl, Client, CreateMode, Error, EventType, SessionState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_session_watches_and_ephemerals() {
    if skip_external() {
        return;
    }
    bounded(async {
        let dir = TempDir::new();
        let addr = free_port();
        let server = start_durable(addr, &dir.0).await;
        let c = Client::builder()
            .session_timeout(Duration::from_secs(6))
            .connect(&addr.to_string())
            .await
            .unwrap();
        let mut states = c.state_events();
        assert_eq!(states.recv().await, Some(SessionState::Connected));
        c.create("/e", b"", &Acl::open_unsafe(), CreateMode::Ephemeral)
            .await
            .unwrap();
        c.create("/d", b"0", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        let (_, _, mut w) = c.get_data_w("/d").await.unwrap();
        let (_, mut created) = c.exists_w("/later").await.unwrap();

        server.shutdown().await;
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        // A request made while disconnected waits for the next connection.
        let queued = tokio::spawn({
            let c = c.clone();
            async move { c.exists("/e").await }
        });

        // Change things while the client is away: through another session, on the same data
        // served from a port the client does not know.
        let elsewhere = start_durable(free_port(), &dir.0).await;
        let other = connect(elsewhere.local_addr).await;
        other.set_data("/d", b"1", -1).await.unwrap();
        other
            .create("/later", b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        other.close().await;
        elsewhere.shutdown().await;
        assert_eq!(c.state(), SessionState::Disconnected);
        let server = start_durable(addr, &dir.0).await;
        let other = connect(addr).await;

        assert_eq!(
            soon("reconnect", c.wait_for_state(SessionState::Connected)).await,
            SessionState::Connected
        );
        let e = next_event(&mut w).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/d")
        );
        let e = next_event(&mut created).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeCreated, "/later")
        );
        assert!(queued.await.unwrap().unwrap().is_some(), "ephemeral kept");
        assert_eq!(c.get_ephemerals("/").await.unwrap(), vec!["/e"]);
        c.close().await;
        assert_eq!(other.exists("/e").await, Ok(None));
        other.close().await;
        server.shutdown().await;
    })
    .await;
}

/// No server reachable for longer than the session timeout: the client reports `Expired` by
/// itself (the server, once back, has expired the session too: the ephemeral is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_after_a_long_outage() {
    if skip_external() {
        return;
    }
    bounded(async {
        let dir = TempDir::new();
        let addr = free_port();
        let server = start_durable(addr, &dir.0).await;
        let c = Client::builder()
            .session_timeout(Duration::from_millis(1000))
            .connect(&addr.to_string())
            .await
            .unwrap();
        c.create("/e", b"", &Acl::open_unsafe(), CreateMode::Ephemeral)
            .await
            .unwrap();
        let (_, mut w) = c.exists_w("/e").await.unwrap();
        let mut states = c.state_events();
        assert_eq!(states.recv().await, Some(SessionState::Connected));
        server.shutdown().await;
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        let queued = tokio::spawn({
            let c = c.clone();
            async move { c.exists("/e").await }
        });
        assert_eq!(
            soon("expiry", states.recv()).await,
            Some(SessionState::Expired)
        );
        assert_eq!(queued.await.unwrap(), Err(Error::SessionExpired));
        assert_eq!(
            c.get_data("/").await.map(|_| ()),
            Err(Error::SessionExpired)
        );
        assert_eq!(w.recv().await, None, "watch streams end with the session");
        let server = start_durable(addr, &dir.0).await;
        let fresh = connect(addr).await;
        soon("the server to expire the session too", async {
            while fresh.exists("/e").await.unwrap().is_some() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert_eq!(c.state(), SessionState::Expired, "never reconnected");
        fresh.close().await;
        server.shutdown().await;
    })
    .await;
}

/// The session was closed behind the client's back while it was away: the server answers the
/// reconnect with a zero timeout and the client reports `Expired` long before its own deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_reported_by_the_server() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = Proxy::start(server.local_addr).await;
        let c = Client::builder()
            .session_timeout(Duration::from_secs(20))
            .connect(&proxy.addr.to_string())
            .await
            .unwrap();
        let (_, mut w) = c.exists_w("/x").await.unwrap();
        proxy.set_open(false);
        proxy.sever();
        assert_eq!(
            soon("disconnect", c.wait_for_state(SessionState::Disconnected)).await,
            SessionState::Disconnected
        );
        close_session_elsewhere(server.local_addr, c.session_id(), &c.session_password()).await;
        proxy.set_open(true);
        // Within EVENT_TIMEOUT (10 s), half the 20 s session timeout: the server said so.
        assert_eq!(
            soon("expiry", c.wait_for_state(SessionState::Expired)).await,
            SessionState::Expired
        );
        assert_eq!(w.recv().await, None);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn skips_a_dead_host() {
    bounded(async {
        let server = test_server().await;
        let dead = free_port();
        for _ in 0..3 {
            let c = Client::builder()
                .session_timeout(Duration::from_secs(4))
                .connect(&format!("{dead},{}", server.local_addr))
                .await
                .unwrap();
            assert!(c.exists("/").await.unwrap().is_some());
            c.close().await;
        }
        let err = Client::builder()
            .session_timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_millis(300))
            .connect(&dead.to_string())
            .await
            .unwrap_err();
        assert_eq!(err, Error::ConnectionLoss);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn skips_a_silent_host() {
    bounded(async {
        let server = test_server().await;
        let (hole, task) = black_hole().await;
        for _ in 0..3 {
            let c = Client::builder()
                .session_timeout(Duration::from_millis(1000))
                .connect(&format!("{hole},{}", server.local_addr))
                .await
                .unwrap();
            assert!(c.exists("/").await.unwrap().is_some());
            c.close().await;
        }
        task.abort();
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn dropped_connection_fails_requests_in_flight_then_reconnects() {
    if skip_external() {
        return;
    }
    bounded(async {
        let server = start().await;
        let proxy = Proxy::start(server.local_addr).await;
        let c = connect(proxy.addr).await;
        let mut states = c.state_events();
        assert_eq!(states.recv().await, Some(SessionState::Connected));
        let session_id = c.session_id();
        c.create("/x", b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        let calls: Vec<_> = (0..500)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.set_data("/x", b"v", -1).await })
            })
            .collect();
        tokio::task::yield_now().await;
        proxy.sever();
        let mut lost = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(_) => {}
                Err(Error::ConnectionLoss) => lost += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        assert_eq!(
            soon("reconnect", states.recv()).await,
            Some(SessionState::Connected)
        );
        assert_eq!(c.session_id(), session_id, "same session");
        let version = c.exists("/x").await.unwrap().unwrap().version;
        assert!(lost > 0, "the cut came with requests in flight");
        // Every request either got its reply or failed with ConnectionLoss; the ones that
        // failed may or may not have been applied.
        assert!(version as usize >= 500 - lost, "{version} vs {lost} lost");
        c.close().await;
        assert_eq!(
            soon("close", states.recv()).await,
            Some(SessionState::Closed)
        );
        server.shutdown().await;
    })
    .await;
}

/// A server that accepts the session (timeout 600 ms) and then never says another word: the
/// client must notice within the read timeout (2/3 of it) and reconnect with the same session.
#[tokio::test]
async fn silent_server_is_detected_by_the_read_timeout() {
    if skip_external() {
        return;
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use zk_proto::codec::{Decode, Encode};
    use zk_proto::proto::{ConnectRequest, ConnectResponse};

    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let fake = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut s, _)) = listener.accept().await {
                let mut len = [0u8; 4];
                s.read_exact(&mut len).await.unwrap();
                let mut body = vec![0; u32::from_be_bytes(len) as usize];
                s.read_exact(&mut body).await.unwrap();
                let req = ConnectRequest::from_bytes(&body).unwrap();
                seen_tx.send(req.session_id).unwrap();
                let resp = ConnectResponse {
                    protocol_version: 0,
                    time_out: 600,
                    session_id: 0x77,
                    passwd: vec![1; 16],
                    read_only: Some(false),
                }
                .to_bytes();
                let mut out = (resp.len() as u32).to_be_bytes().to_vec();
                out.extend_from_slice(&resp);
                s.write_all(&out).await.unwrap();
                held.push(s);
            }
        });
        let c = Client::builder()
            .session_timeout(Duration::from_millis(600))
            .connect(&addr.to_string())
            .await
            .unwrap();
        let mut states = c.state_events();
        assert_eq!(states.recv().await, Some(SessionState::Connected));
        assert_eq!(seen.recv().await, Some(0));
        let t0 = tokio::time::Instant::now();
        assert_eq!(
            soon("disconnect", states.recv()).await,
            Some(SessionState::Disconnected)
        );
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert_eq!(soon("reconnect", seen.recv()).await, Some(0x77));
        assert_eq!(
            soon("connected", states.recv()).await,
            Some(SessionState::Connected)
        );
        fake.abort();
    })
    .await;
}

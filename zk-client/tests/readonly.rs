//! Read-only mode (`readonlymode.enabled=true`) with three in-process servers: a follower whose
//! peers are gone keeps serving reads to read-only sessions, refuses their writes with
//! NotReadOnly, turns other clients away and answers `isro` with `ro`; a read-only session
//! moves to a read/write server as soon as one answers `isro` with `rw`; the follower
//! serves read/write again once its quorum is back; and without read-only mode a server
//! without a quorum serves nobody and answers `isro` with `null`.

mod common;

use std::time::Duration;

use common::ensemble::*;
use common::*;
use zk_client::{Acl, Client, CreateMode, Error, ErrorCode, SessionState};

const SESSION: Duration = Duration::from_secs(10);

/// Polls `isro` on `addr` until it answers `want` (a server without a quorum waits
/// `max(2 s, tickTime)` before it serves read-only clients).
async fn wait_isro(addr: std::net::SocketAddr, want: &str) {
    let deadline = tokio::time::Instant::now() + STABLE_TIMEOUT;
    loop {
        let got = four_letter(addr, "isro").await;
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "isro on {addr} is {got:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The body of an AdminServer command's answer (a plain HTTP/1.1 GET).
async fn admin_command(addr: std::net::SocketAddr, cmd: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /commands/{cmd} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut resp))
        .await
        .expect("the AdminServer answers")
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    resp.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// Stops every member but `keep`: it loses its quorum.
async fn stop_all_but(ens: &mut Ensemble, keep: u64) {
    for id in ens.ids() {
        if id != keep {
            ens.stop(id).await;
        }
    }
}

async fn read_only_client(connect_string: &str) -> zk_client::Result<Client> {
    Client::builder()
        .read_only(true)
        .session_timeout(SESSION)
        .connect_timeout(STABLE_TIMEOUT)
        .connect(connect_string)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_without_quorum_serves_read_only_sessions_until_its_quorum_returns() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        let (mut ens, leader) = Ensemble::start(Options {
            read_only: true,
            ..Options::default()
        })
        .await;
        let follower = ens.ids().into_iter().find(|id| *id != leader).unwrap();
        let addr = ens.client_addr(follower);
        // A write the follower has applied before it is cut off.
        let rw = connect(addr).await;
        rw.create("/ro", b"seen", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        rw.sync("/").await.unwrap();
        assert_eq!(four_letter(addr, "isro").await.as_deref(), Some("rw"));
        let rw_admin = admin_command(ens.admin_addr(follower), "is_read_only").await;
        assert!(rw_admin.contains(r#""read_only": false"#), "{rw_admin}");
        stop_all_but(&mut ens, follower).await;

        wait_isro(addr, "ro").await;
        let srvr = four_letter(addr, "srvr").await.unwrap();
        assert!(srvr.contains("Mode: read-only\n"), "{srvr}");
        let mntr = four_letter(addr, "mntr").await.unwrap();
        assert!(mntr.contains("zk_server_state\tread-only\n"), "{mntr}");
        let ro = admin_command(ens.admin_addr(follower), "is_read_only").await;
        assert!(ro.contains(r#""read_only": true"#), "{ro}");
        // The session that did not ask for read-only service is not taken back (it keeps
        // trying: its only server closes each attempt).
        assert_eq!(rw.state(), SessionState::Disconnected);

        let c = read_only_client(&addr.to_string()).await.unwrap();
        assert_eq!(c.state(), SessionState::ConnectedReadOnly);
        assert_eq!(c.get_data("/ro").await.unwrap().0, b"seen");
        assert!(c
            .get_children("/")
            .await
            .unwrap()
            .contains(&"ro".to_owned()));
        let not_ro = Error::Server(ErrorCode::NotReadOnly);
        assert_eq!(
            c.create("/new", b"", &Acl::open_unsafe(), CreateMode::Persistent)
                .await
                .unwrap_err(),
            not_ro
        );
        assert_eq!(c.set_data("/ro", b"x", -1).await.unwrap_err(), not_ro);
        assert_eq!(c.delete("/ro", -1).await.unwrap_err(), not_ro);
        assert_eq!(c.sync("/").await.unwrap_err(), not_ro);
        // Still there, unchanged, and the session still works after the refusals.
        assert_eq!(c.get_data("/ro").await.unwrap().0, b"seen");

        // zkCli's -r asks for read-only service; without it there is no session to be had.
        let zkcli = |args: Vec<String>| {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_zkcli"))
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .expect("zkcli runs")
            })
        };
        let server = addr.to_string();
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let out = zkcli(words(&[
            "-server", &server, "-timeout", "2000", "-r", "get", "/ro",
        ]))
        .await
        .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("WatchedEvent state:ConnectedReadOnly type:None path:null\nseen\n"),
            "{text}"
        );
        let out = zkcli(words(&[
            "-server", &server, "-timeout", "1000", "get", "/ro",
        ]))
        .await
        .unwrap();
        assert!(!out.status.success(), "{out:?}");

        // A client that did not ask for read-only service is turned away.
        let refused = Client::builder()
            .session_timeout(SESSION)
            .connect_timeout(Duration::from_secs(2))
            .connect(&addr.to_string())
            .await;
        assert!(
            refused.is_err(),
            "a read/write client connected to a read-only server"
        );

        // The quorum returns: the follower leaves read-only mode, and the read-only session's
        // client reconnects and gets a read/write session (a new one: the read-only session
        // was local to that server).
        let ro_sid = c.session_id();
        for id in ens.ids() {
            if id != follower {
                ens.restart(id).await;
            }
        }
        ens.wait_stable().await;
        wait_isro(addr, "rw").await;
        assert_eq!(
            soon(
                "a read/write session",
                c.wait_for_state(SessionState::Connected)
            )
            .await,
            SessionState::Connected
        );
        assert_ne!(c.session_id(), ro_sid);
        c.create("/after", b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        ens.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_session_moves_to_a_read_write_server_once_one_answers() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        let (mut ens, leader) = Ensemble::start(Options {
            read_only: true,
            ..Options::default()
        })
        .await;
        let follower = ens.ids().into_iter().find(|id| *id != leader).unwrap();
        let ro_addr = ens.client_addr(follower);
        stop_all_but(&mut ens, follower).await;
        wait_isro(ro_addr, "ro").await;

        // A read/write server the client cannot reach yet.
        let rw_server = start().await;
        let gate = Proxy::start(rw_server.local_addr).await;
        gate.set_open(false);
        let c = read_only_client(&format!("{ro_addr},{}", gate.addr))
            .await
            .unwrap();
        assert_eq!(c.state(), SessionState::ConnectedReadOnly);
        assert_eq!(c.connected_host(), Some(ro_addr.to_string()));
        let ro_sid = c.session_id();
        let mut states = c.state_events();

        gate.set_open(true);
        assert_eq!(
            soon(
                "a read/write session",
                c.wait_for_state(SessionState::Connected)
            )
            .await,
            SessionState::Connected
        );
        assert_eq!(c.connected_host(), Some(gate.addr.to_string()));
        assert_ne!(c.session_id(), ro_sid);
        c.create("/moved", b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        // It went through a disconnection, as a client leaving a server does.
        let mut seen = Vec::new();
        while let Ok(s) = states.try_recv() {
            seen.push(s);
        }
        assert!(
            seen.ends_with(&[SessionState::Disconnected, SessionState::Connected]),
            "{seen:?}"
        );
        c.close().await;
        rw_server.shutdown().await;
        ens.shutdown().await;
    })
    .await
}

/// Without `readonlymode.enabled` a server without a quorum serves nobody, and says so to a
/// read-only client probing for a read/write server (`isro` answers `null`, not `rw`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_read_only_mode_a_server_without_quorum_serves_nobody() {
    if skip_external() {
        return;
    }
    bounded_long(async {
        let (mut ens, leader) = Ensemble::start(Options::default()).await;
        let follower = ens.ids().into_iter().find(|id| *id != leader).unwrap();
        let addr = ens.client_addr(follower);
        stop_all_but(&mut ens, follower).await;
        wait_isro(addr, "null").await;
        // Well past the read-only grace period: still nobody served.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(four_letter(addr, "isro").await.as_deref(), Some("null"));
        let ro = Client::builder()
            .read_only(true)
            .session_timeout(SESSION)
            .connect_timeout(Duration::from_secs(2))
            .connect(&addr.to_string())
            .await;
        assert!(ro.is_err(), "a server without quorum accepted a session");
        ens.shutdown().await;
    })
    .await
}

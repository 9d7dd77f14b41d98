//! End to end: the agent finds the leader through a 503 and a 307, and registers again with
//! its ID, its tasks and its unacknowledged updates when the master closes the stream.

mod agent_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_support::*;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

/// A master that is not the leader: 503 first (no leader yet), then 307 to `leader`.
async fn start_follower(leader: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/api/v1/agent",
        post(move || {
            let h = h.clone();
            async move {
                if h.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                } else {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [("Location", format!("http://{leader}/api/v1/agent"))],
                    )
                        .into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_follows_the_leader_and_reregisters_after_the_stream_closes() {
    let master = FakeMaster::start().await;
    let (follower, hits) = start_follower(master.addr).await;
    let work = temp_dir("reconnect");
    let port = free_port();
    let agent = Agent::start_with_master(&follower.to_string(), &work, port, &[]);
    master.wait_registers(1).await;
    assert!(hits.load(Ordering::SeqCst) >= 2, "503 then 307");
    let aid = master.agent_id.clone();

    master.hold("kept");
    master.run_task(&aid, command_task("kept", "sleep 30"));
    let starting = master.wait_state("kept", "TASK_STARTING").await;

    master.close_stream();
    let reg = master.wait_registers(2).await;
    let registered_again = Instant::now();
    assert_eq!(reg["register"]["agent_id"]["value"], aid.as_str());
    let tasks = reg["register"]["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().any(|t| t["task_id"]["value"] == "kept"),
        "{reg}"
    );
    // The unacknowledged head goes again at once, on the new stream, with the same uuid.
    let resent = master
        .wait_for("STARTING on the new stream", |m| {
            m.calls().into_iter().find(|c| {
                c.stream_id.as_deref() == Some("stream-2")
                    && c.body["update"]["status"]["uuid"] == starting["uuid"]
            })
        })
        .await;
    assert!(
        resent.at.duration_since(registered_again) < Duration::from_secs(5),
        "resent by the registration, not by the 10 s timer"
    );
    master.release("kept");
    master.send(ack_event(&starting));
    master.wait_state("kept", "TASK_RUNNING").await;
    master.kill_task("kept", Some(Duration::from_secs(1)));
    master.wait_state("kept", "TASK_KILLED").await;
    drop(agent);
    let _ = std::fs::remove_dir_all(&work);
}

//! The agent's connection to the leading master (docs/mesos-agent-protocol.md): leader
//! detection, REGISTER with its RecordIO event stream, and the calls (UPDATE, PONG).
//!
//! The link task owns the stream; it reports [`LinkInput`]s to the runtime. It gives up a
//! stream, and registers again, when the stream closes, when the leader changes, when no PING
//! came for 5 x `ping_interval_seconds`, or when a call was answered 403.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::agent::config::MasterSource;
use crate::agent::core::Core;
use crate::recordio;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub const PATH: &str = "/api/v1/agent";
/// The most bytes one event may have.
const MAX_EVENT: usize = 16 << 20;
/// How long the master may take to answer a call or REGISTER's headers.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Redirects followed for one REGISTER.
const MAX_REDIRECTS: usize = 3;
/// The most registration attempts wait.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A registered stream: where calls go and what they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `host:port` of the master.
    pub master: String,
    pub stream_id: String,
    pub agent_id: String,
}

#[derive(Debug)]
pub enum LinkInput {
    Registered {
        session: Session,
        master_info: Option<Value>,
    },
    Event(Value),
    Disconnected(String),
}

/// Follows the leading master: `host:port`, or None while there is none.
pub fn detect_leader(
    source: &MasterSource,
    zk_session_timeout: Duration,
) -> watch::Receiver<Option<String>> {
    match source {
        MasterSource::Fixed(addr) => {
            let (tx, rx) = watch::channel(Some(addr.clone()));
            // Keep the sender alive for the life of the process: the value never changes.
            tokio::spawn(async move { tx.closed().await });
            rx
        }
        MasterSource::Zk(url) => {
            let (tx, rx) = watch::channel(None);
            let url = url.clone();
            tokio::spawn(async move {
                loop {
                    let client = match tokio::time::timeout(
                        zk_session_timeout.max(Duration::from_secs(1)),
                        crate::zk::connect(&url, zk_session_timeout),
                    )
                    .await
                    {
                        Ok(Ok(c)) => c,
                        Ok(Err(e)) => {
                            tracing::warn!("cannot connect to ZooKeeper {}: {e}", url.servers);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                        Err(_) => {
                            tracing::warn!("timed out connecting to ZooKeeper {}", url.servers);
                            continue;
                        }
                    };
                    let mut leaders = crate::zk::watch_leading_master(&client, &url);
                    loop {
                        tokio::select! {
                            l = leaders.recv() => match l {
                                Some(info) => {
                                    let addr = info.map(|m| m.address());
                                    tracing::info!(leader = ?addr, "detected the leading master");
                                    tx.send_replace(addr);
                                }
                                None => break,
                            },
                            _ = tx.closed() => return,
                        }
                    }
                    tracing::warn!("lost the ZooKeeper session; detecting the leader again");
                    client.close().await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
            rx
        }
    }
}

/// Posts one call on `session`; returns the answer's status.
pub async fn send_call(
    client: &HttpClient,
    session: &Session,
    call: &Value,
) -> Result<StatusCode, String> {
    let req = hyper::Request::post(format!("http://{}{PATH}", session.master))
        .header("Content-Type", "application/json")
        .header("Mesos-Agent-Id", &session.agent_id)
        .header("Mesos-Stream-Id", &session.stream_id)
        .body(Full::new(Bytes::from(call.to_string())))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(CALL_TIMEOUT, client.request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    // Drain the (empty) body so the connection can be reused.
    let _ = tokio::time::timeout(CALL_TIMEOUT, resp.into_body().collect()).await;
    Ok(status)
}

/// Where a 307 points: `host:port` from `Location`.
pub fn redirect_target(location: &str) -> Option<String> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))
        .or_else(|| location.strip_prefix("//"))?;
    let hostport = rest.split('/').next()?;
    hostport
        .rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        .map(|_| hostport.to_string())
}

/// The wait before registration attempt `attempt` (0 based): `factor` doubling, at most
/// 4 x `factor` or 5 s, whichever is less (but never below `factor`).
pub fn backoff(factor: Duration, attempt: u32) -> Duration {
    let cap = factor.saturating_mul(4).min(MAX_BACKOFF).max(factor);
    factor.saturating_mul(1u32 << attempt.min(16)).min(cap)
}

pub struct Link {
    pub client: HttpClient,
    pub core: Arc<Mutex<Core>>,
    pub tx: mpsc::UnboundedSender<LinkInput>,
    pub leader: watch::Receiver<Option<String>>,
    pub backoff_factor: Duration,
    /// The stream IDs on which a call was refused with 403 (stale ones are ignored).
    pub refused: mpsc::UnboundedReceiver<String>,
}

enum Ended {
    /// A stream was open; register again soon.
    Stream(String),
    /// No stream was opened.
    Failed(String),
}

impl Link {
    /// Runs until the runtime drops its receiver.
    pub async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let addr = loop {
                if let Some(a) = self.leader.borrow_and_update().clone() {
                    break a;
                }
                if self.leader.changed().await.is_err() {
                    return;
                }
            };
            match self.register(&addr).await {
                Ended::Stream(why) => {
                    tracing::warn!("disconnected from the master: {why}");
                    attempt = 0;
                    if self.tx.send(LinkInput::Disconnected(why)).is_err() {
                        return;
                    }
                    tokio::time::sleep(self.backoff_factor.min(Duration::from_secs(1))).await;
                }
                Ended::Failed(why) => {
                    let wait = backoff(self.backoff_factor, attempt);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(
                        "registering with {addr} failed: {why}; trying again in {wait:?}"
                    );
                    if self.tx.is_closed() {
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.leader.changed() => {}
                    }
                }
            }
        }
    }

    async fn register(&mut self, leader: &str) -> Ended {
        let body = {
            let core = match self.core.lock() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            core.register_call().to_string()
        };
        let mut target = leader.to_string();
        let mut hops = 0;
        let resp = loop {
            let req = match hyper::Request::post(format!("http://{target}{PATH}"))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(Full::new(Bytes::from(body.clone())))
            {
                Ok(r) => r,
                Err(e) => return Ended::Failed(format!("bad master address '{target}': {e}")),
            };
            let resp = match tokio::time::timeout(CALL_TIMEOUT, self.client.request(req)).await {
                Err(_) => {
                    return Ended::Failed(format!("{target} did not answer REGISTER in time"))
                }
                Ok(Err(e)) => return Ended::Failed(format!("cannot reach {target}: {e}")),
                Ok(Ok(r)) => r,
            };
            match resp.status() {
                StatusCode::OK => break resp,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                    if hops < MAX_REDIRECTS =>
                {
                    let loc = resp
                        .headers()
                        .get("Location")
                        .and_then(|v| v.to_str().ok())
                        .and_then(redirect_target);
                    match loc {
                        Some(t) => {
                            tracing::info!("{target} is not the leader; following to {t}");
                            target = t;
                            hops += 1;
                        }
                        None => {
                            return Ended::Failed(format!(
                                "{target} redirected without a usable Location"
                            ))
                        }
                    }
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    return Ended::Failed(format!("{target} has no leading master (503)"))
                }
                s => {
                    let text = match tokio::time::timeout(CALL_TIMEOUT, resp.into_body().collect())
                        .await
                    {
                        Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                        _ => String::new(),
                    };
                    return Ended::Failed(format!(
                        "{target} refused REGISTER with {s}: {}",
                        text.trim()
                    ));
                }
            }
        };
        let stream_id = resp
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut body = resp.into_body();
        let mut decoder = recordio::Decoder::new();
        let mut ping_timeout = CALL_TIMEOUT;
        let mut deadline = tokio::time::Instant::now() + ping_timeout;
        let mut registered = false;
        loop {
            // Take out every whole record first.
            loop {
                let record = match decoder.next_record(MAX_EVENT) {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(e) => {
                        return self.ended(registered, format!("bad stream from {target}: {e}"))
                    }
                };
                let event: Value = match serde_json::from_slice(&record) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!("dropping an event that is not JSON: {e}");
                        continue;
                    }
                };
                let ty = event.get("type").and_then(Value::as_str).unwrap_or("");
                if !registered {
                    if ty != "REGISTERED" {
                        return Ended::Failed(format!(
                            "{target}'s stream began with {ty}, not REGISTERED"
                        ));
                    }
                    let Some(agent_id) = event
                        .pointer("/registered/agent_id/value")
                        .and_then(Value::as_str)
                        .filter(|id| crate::agent::layout::safe_component(id))
                    else {
                        return Ended::Failed(format!(
                            "{target}'s REGISTERED has no usable agent_id"
                        ));
                    };
                    let interval = event
                        .pointer("/registered/ping_interval_seconds")
                        .and_then(Value::as_f64)
                        .filter(|s| s.is_finite() && *s > 0.0)
                        .unwrap_or(15.0)
                        .min(86_400.0);
                    ping_timeout = Duration::from_secs_f64(interval * 5.0);
                    deadline = tokio::time::Instant::now() + ping_timeout;
                    registered = true;
                    tracing::info!(agent_id, master = target, "registered with the master");
                    let session = Session {
                        master: target.clone(),
                        stream_id: stream_id.clone(),
                        agent_id: agent_id.to_string(),
                    };
                    let master_info = event.pointer("/registered/master_info").cloned();
                    if self
                        .tx
                        .send(LinkInput::Registered {
                            session,
                            master_info,
                        })
                        .is_err()
                    {
                        return Ended::Stream("the agent is stopping".into());
                    }
                    continue;
                }
                if ty == "PING" {
                    deadline = tokio::time::Instant::now() + ping_timeout;
                }
                if self.tx.send(LinkInput::Event(event)).is_err() {
                    return Ended::Stream("the agent is stopping".into());
                }
            }
            tokio::select! {
                frame = body.frame() => match frame {
                    None => return self.ended(registered, format!("{target} closed the stream")),
                    Some(Err(e)) => return self.ended(registered, format!("the stream from {target} failed: {e}")),
                    Some(Ok(f)) => {
                        if let Ok(data) = f.into_data() {
                            decoder.feed(&data);
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    return self.ended(registered, if registered {
                        format!("no PING from {target} for {ping_timeout:?}")
                    } else {
                        format!("{target} sent no REGISTERED in time")
                    });
                }
                changed = self.leader.changed() => {
                    let now_leader = self.leader.borrow_and_update().clone();
                    if changed.is_err() || now_leader.as_deref() != Some(leader) {
                        return self.ended(registered, format!("the leading master changed to {now_leader:?}"));
                    }
                }
                refused = self.refused.recv(), if registered => match refused {
                    Some(id) if id == stream_id => {
                        return Ended::Stream(format!("{target} does not know this stream (403)"));
                    }
                    Some(_) => {}
                    None => return Ended::Stream("the agent is stopping".into()),
                },
            }
        }
    }

    fn ended(&self, registered: bool, why: String) -> Ended {
        if registered {
            Ended::Stream(why)
        } else {
            Ended::Failed(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_name_host_and_port() {
        assert_eq!(
            redirect_target("http://10.0.0.1:5050/api/v1/agent").as_deref(),
            Some("10.0.0.1:5050")
        );
        assert_eq!(
            redirect_target("//m2:5050/api/v1/agent").as_deref(),
            Some("m2:5050")
        );
        assert_eq!(redirect_target("/api/v1/agent"), None);
        assert_eq!(redirect_target("http://m2/api"), None);
    }

    #[test]
    fn backoff_doubles_and_stays_bounded() {
        let f = Duration::from_secs(1);
        assert_eq!(backoff(f, 0), Duration::from_secs(1));
        assert_eq!(backoff(f, 1), Duration::from_secs(2));
        assert_eq!(backoff(f, 2), Duration::from_secs(4));
        assert_eq!(backoff(f, 3), Duration::from_secs(4));
        assert_eq!(backoff(f, 40), Duration::from_secs(4));
        assert_eq!(
            backoff(Duration::from_millis(100), 10),
            Duration::from_millis(400)
        );
        assert_eq!(backoff(Duration::from_secs(10), 3), Duration::from_secs(10));
    }
}

//! A client of the v1 scheduler HTTP API, as frameworks use it (`mesos-execute`, Marathon):
//! find the leading master, SUBSCRIBE and read the event stream, send calls.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::http_client;
use crate::zk::ZkUrl;

pub const PATH: &str = "/api/v1/scheduler";

/// Where the master is: `zk://.../mesos` or `host:port`.
#[derive(Debug, Clone)]
pub enum MasterSource {
    Zk(ZkUrl),
    Fixed(String),
}

impl MasterSource {
    pub fn parse(s: &str) -> Result<MasterSource> {
        let s = s.trim();
        if s.starts_with("zk://") {
            Ok(MasterSource::Zk(ZkUrl::parse(s).map_err(|e| anyhow!(e))?))
        } else if s.contains(':') {
            Ok(MasterSource::Fixed(s.to_string()))
        } else if !s.is_empty() {
            Ok(MasterSource::Fixed(format!("{s}:5050")))
        } else {
            bail!("no master given (zk://host:port/mesos or host:port)")
        }
    }

    /// The leading master's `ip:port`, waiting up to `timeout` for one to be elected.
    pub async fn resolve(&self, timeout: Duration) -> Result<String> {
        match self {
            MasterSource::Fixed(a) => Ok(a.clone()),
            MasterSource::Zk(url) => {
                let deadline = Instant::now() + timeout;
                let client =
                    tokio::time::timeout(timeout, crate::zk::connect(url, Duration::from_secs(10)))
                        .await
                        .map_err(|_| {
                            anyhow!(
                                "ZooKeeper at {} did not answer within {timeout:?}",
                                url.servers
                            )
                        })??;
                loop {
                    if let Some(m) = crate::zk::leading_master(&client, url).await? {
                        client.close().await;
                        return Ok(m.address());
                    }
                    if Instant::now() >= deadline {
                        client.close().await;
                        bail!(
                            "no master is leading under {} (waited {timeout:?})",
                            url.path
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// An open subscription.
pub struct Subscription {
    /// The master that accepted it (`ip:port`).
    pub master: String,
    pub framework_id: String,
    pub stream_id: String,
    pub heartbeat_interval: Duration,
    /// Every event after SUBSCRIBED; the channel ends when the stream does.
    pub events: mpsc::Receiver<Value>,
}

/// SUBSCRIBEs `framework_info` (with `id` set when re-subscribing) at `master`, following
/// redirects to the leader and retrying while no leader is elected, until `timeout`.
pub async fn subscribe(
    master: &str,
    framework_info: &Value,
    timeout: Duration,
) -> Result<Subscription> {
    let deadline = Instant::now() + timeout;
    let mut addr = master.to_string();
    let mut call = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}});
    if let Some(id) = framework_info.get("id") {
        call["framework_id"] = id.clone();
    }
    loop {
        let resp = http_client::send(
            &addr,
            Method::POST,
            PATH,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            Bytes::from(call.to_string()),
        )
        .await;
        let retry = match resp {
            Ok(resp) if resp.status() == StatusCode::OK => {
                let stream_id = resp
                    .headers()
                    .get("Mesos-Stream-Id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let mut events = http_client::recordio_events(resp.into_body());
                let first = tokio::time::timeout(http_client::TIMEOUT, events.recv())
                    .await
                    .map_err(|_| anyhow!("no SUBSCRIBED event from {addr}"))?
                    .ok_or_else(|| anyhow!("{addr} closed the stream before SUBSCRIBED"))?;
                if first["type"] != "SUBSCRIBED" {
                    bail!("expected SUBSCRIBED from {addr}, got {first}");
                }
                let s = &first["subscribed"];
                return Ok(Subscription {
                    master: addr,
                    framework_id: s["framework_id"]["value"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    stream_id,
                    heartbeat_interval: Duration::from_secs_f64(
                        s["heartbeat_interval_seconds"].as_f64().unwrap_or(15.0),
                    ),
                    events,
                });
            }
            Ok(resp) if resp.status() == StatusCode::TEMPORARY_REDIRECT => {
                let loc = resp
                    .headers()
                    .get(hyper::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(http_client::authority_of);
                match loc {
                    Some(a) => {
                        addr = a;
                        continue;
                    }
                    None => format!("{addr} redirected without a Location"),
                }
            }
            Ok(resp) if resp.status() == StatusCode::SERVICE_UNAVAILABLE => {
                format!("{addr}: no leading master yet")
            }
            Ok(resp) => {
                let status = resp.status();
                let body = http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    .unwrap_or_default();
                bail!("SUBSCRIBE refused by {addr}: {status} {body}");
            }
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("could not subscribe: {retry}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        addr = master.to_string();
    }
}

impl Subscription {
    /// Sends a call (any type but SUBSCRIBE) for this framework; the master answers 202.
    pub async fn call(&self, mut call: Value) -> Result<()> {
        call["framework_id"] = json!({"value": self.framework_id});
        let r = http_client::post_json(
            &self.master,
            PATH,
            &[("Mesos-Stream-Id", &self.stream_id)],
            &call,
        )
        .await
        .with_context(|| format!("{} call", call["type"]))?;
        if r.status != StatusCode::ACCEPTED && !r.status.is_success() {
            bail!("{} call refused: {} {}", call["type"], r.status, r.text());
        }
        Ok(())
    }

    pub async fn acknowledge(&self, status: &Value) -> Result<()> {
        let Some(uuid) = status.get("uuid") else {
            return Ok(());
        };
        self.call(json!({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid}}))
            .await
    }

    pub async fn decline(&self, offer_ids: Vec<Value>, refuse_seconds: f64) -> Result<()> {
        self.call(
            json!({"type": "DECLINE", "decline": {"offer_ids": offer_ids,
            "filters": {"refuse_seconds": refuse_seconds}}}),
        )
        .await
    }

    pub async fn launch(&self, offer_ids: Vec<Value>, tasks: Vec<Value>) -> Result<()> {
        self.call(json!({"type": "ACCEPT", "accept": {"offer_ids": offer_ids,
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}}))
            .await
    }
}

/// The value of scalar resource `name` in a v1 resource array.
pub fn scalar(resources: &Value, name: &str) -> f64 {
    resources
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == name)
        .filter_map(|r| r.pointer("/scalar/value").and_then(Value::as_f64))
        .sum()
}

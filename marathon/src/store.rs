//! Marathon's state in ZooKeeper, under `<zk path>/state` (`/marathon/state`):
//!
//! | znode | data |
//! |---|---|
//! | `state/framework-id` | the Mesos framework id (text) |
//! | `state/apps/<app>` | the app's current definition (JSON) |
//! | `state/app-versions/<app>/<version>` | every stored definition (JSON) |
//! | `state/instances/<task id>` | one task record (JSON) |
//! | `state/deployments` | the deployments in progress (JSON array) |
//!
//! `<app>` is the app id without its leading `/`, with `/` written `_` (which app ids cannot
//! contain). Writes are plain last-writer-wins: only the leader (the latch holder) writes.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use zk_client::{Acl, Client, CreateMode, Error as ZkError, ErrorCode};

use crate::app::App;
use crate::core::{Deployment, Instance, Scheduler};

pub struct Store {
    client: Client,
    root: String,
}

pub fn app_node(app_id: &str) -> String {
    app_id.trim_start_matches('/').replace('/', "_")
}

fn app_id_of(node: &str) -> String {
    format!("/{}", node.replace('_', "/"))
}

impl Store {
    /// `base` is the `--zk` URL's path (e.g. `/marathon`).
    pub fn new(client: Client, base: &str) -> Store {
        let root = if base == "/" {
            "/state".to_string()
        } else {
            format!("{base}/state")
        };
        Store { client, root }
    }

    async fn put(&self, path: &str, data: &[u8]) -> Result<()> {
        loop {
            match self.client.set_data(path, data, -1).await {
                Ok(_) => return Ok(()),
                Err(ZkError::Server(ErrorCode::NoNode)) => {
                    if let Some((parent, _)) = path.rsplit_once('/') {
                        if !parent.is_empty() {
                            zk_client::recipes::ensure_path(&self.client, parent).await?;
                        }
                    }
                    match self
                        .client
                        .create(path, data, &Acl::open_unsafe(), CreateMode::Persistent)
                        .await
                    {
                        Ok(_) => return Ok(()),
                        // Made meanwhile (or by our own create whose answer was lost): write.
                        Err(ZkError::Server(ErrorCode::NodeExists))
                        | Err(ZkError::ConnectionLoss) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(ZkError::ConnectionLoss) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                Err(e) => return Err(e).with_context(|| format!("writing {path}")),
            }
        }
    }

    async fn remove(&self, path: &str) -> Result<()> {
        // Children first (app versions).
        if let Ok(children) = self.client.get_children(path).await {
            for c in children {
                Box::pin(self.remove(&format!("{path}/{c}"))).await?;
            }
        }
        match self.client.delete(path, -1).await {
            Ok(()) | Err(ZkError::Server(ErrorCode::NoNode)) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting {path}")),
        }
    }

    async fn children(&self, path: &str) -> Result<Vec<String>> {
        match self.client.get_children(path).await {
            Ok(c) => Ok(c),
            Err(ZkError::Server(ErrorCode::NoNode)) => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("listing {path}")),
        }
    }

    async fn get_json(&self, path: &str) -> Result<Option<Value>> {
        match self.client.get_data(path).await {
            Ok((data, _)) => Ok(serde_json::from_slice(&data).ok()),
            Err(ZkError::Server(ErrorCode::NoNode)) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {path}")),
        }
    }

    pub async fn framework_id(&self) -> Result<Option<String>> {
        match self
            .client
            .get_data(&format!("{}/framework-id", self.root))
            .await
        {
            Ok((data, _)) => {
                Ok(Some(String::from_utf8_lossy(&data).trim().to_string())
                    .filter(|s| !s.is_empty()))
            }
            Err(ZkError::Server(ErrorCode::NoNode)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn set_framework_id(&self, id: Option<&str>) -> Result<()> {
        let path = format!("{}/framework-id", self.root);
        match id {
            Some(id) => self.put(&path, id.as_bytes()).await,
            None => self.remove(&path).await,
        }
    }

    pub async fn save_app(&self, app: &App) -> Result<()> {
        let node = app_node(&app.id);
        let data = app.to_json().to_string();
        self.put(
            &format!("{}/app-versions/{node}/{}", self.root, app.version),
            data.as_bytes(),
        )
        .await?;
        self.put(&format!("{}/apps/{node}", self.root), data.as_bytes())
            .await
    }

    pub async fn delete_app(&self, app_id: &str) -> Result<()> {
        let node = app_node(app_id);
        self.remove(&format!("{}/apps/{node}", self.root)).await?;
        self.remove(&format!("{}/app-versions/{node}", self.root))
            .await
    }

    /// The stored versions of an app (oldest first).
    pub async fn versions(&self, app_id: &str) -> Result<Vec<String>> {
        let mut v = self
            .children(&format!("{}/app-versions/{}", self.root, app_node(app_id)))
            .await?;
        v.sort();
        Ok(v)
    }

    pub async fn app_version(&self, app_id: &str, version: &str) -> Result<Option<Value>> {
        self.get_json(&format!(
            "{}/app-versions/{}/{version}",
            self.root,
            app_node(app_id)
        ))
        .await
    }

    pub async fn save_instance(&self, i: Option<&Instance>, task_id: &str) -> Result<()> {
        let path = format!("{}/instances/{task_id}", self.root);
        match i {
            Some(i) => {
                self.put(&path, instance_json(i).to_string().as_bytes())
                    .await
            }
            None => self.remove(&path).await,
        }
    }

    pub async fn save_deployments(&self, deployments: &[Deployment]) -> Result<()> {
        let list: Vec<Value> = deployments
            .iter()
            .map(|d| {
                json!({"id": d.id, "appId": d.app_id, "action": d.action, "version": d.version,
                       "startedAt": d.started_ms})
            })
            .collect();
        self.put(
            &format!("{}/deployments", self.root),
            Value::Array(list).to_string().as_bytes(),
        )
        .await
    }

    /// Loads apps and task records into a fresh scheduler.
    pub async fn load(&self) -> Result<Scheduler> {
        let mut s = Scheduler::new();
        for node in self.children(&format!("{}/apps", self.root)).await? {
            let Some(v) = self.get_json(&format!("{}/apps/{node}", self.root)).await? else {
                continue;
            };
            let version = v["version"].as_str().unwrap_or("").to_string();
            match crate::app::parse(&v, "/", &version) {
                Ok(mut app) => {
                    app.last_scaling_at = v["versionInfo"]["lastScalingAt"]
                        .as_str()
                        .unwrap_or(&version)
                        .to_string();
                    app.last_config_change_at = v["versionInfo"]["lastConfigChangeAt"]
                        .as_str()
                        .unwrap_or(&version)
                        .to_string();
                    for p in app.service_ports() {
                        s.service_ports.insert(p);
                    }
                    let id = app_id_of(&node);
                    let mut versions = Vec::new();
                    for v in self.versions(&id).await? {
                        if let Some(j) = self.app_version(&id, &v).await? {
                            versions.push((v, j));
                        }
                    }
                    s.versions.insert(id.clone(), versions);
                    s.apps.insert(id, app);
                }
                Err(e) => tracing::error!(app = node, "stored app is invalid, skipped: {e:?}"),
            }
        }
        for t in self.children(&format!("{}/instances", self.root)).await? {
            if let Some(v) = self
                .get_json(&format!("{}/instances/{t}", self.root))
                .await?
            {
                if let Some(i) = instance_from_json(&v) {
                    s.instances.insert(i.task_id.clone(), i);
                }
            }
        }
        s.framework_id = self.framework_id().await?;
        if let Some(list) = self.get_json(&format!("{}/deployments", self.root)).await? {
            for d in list.as_array().into_iter().flatten() {
                let (Some(id), Some(app_id)) = (d["id"].as_str(), d["appId"].as_str()) else {
                    continue;
                };
                if s.apps.contains_key(app_id) || s.instances_of(app_id).next().is_some() {
                    s.deployments.insert(
                        app_id.to_string(),
                        Deployment {
                            id: id.to_string(),
                            app_id: app_id.to_string(),
                            action: d["action"].as_str().unwrap_or("").to_string(),
                            version: d["version"].as_str().unwrap_or("").to_string(),
                            started_ms: d["startedAt"].as_u64().unwrap_or(0),
                        },
                    );
                }
            }
        }
        Ok(s)
    }
}

pub fn instance_json(i: &Instance) -> Value {
    json!({
        "taskId": i.task_id, "appId": i.app_id, "agentId": i.agent_id, "host": i.host,
        "attributes": i.placement.attributes, "ports": i.ports, "state": i.state,
        "stagedAt": i.staged_at_ms, "startedAt": i.started_at_ms, "version": i.version,
        "killing": i.killing, "healthy": i.healthy,
    })
}

pub fn instance_from_json(v: &Value) -> Option<Instance> {
    let host = v["host"].as_str()?.to_string();
    let attributes: BTreeMap<String, String> = v["attributes"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Some(Instance {
        task_id: v["taskId"].as_str()?.to_string(),
        app_id: v["appId"].as_str()?.to_string(),
        agent_id: v["agentId"].as_str()?.to_string(),
        placement: crate::constraints::Placement {
            hostname: host.clone(),
            attributes,
        },
        host,
        ports: v["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_u64().map(|p| p as u32))
                    .collect()
            })
            .unwrap_or_default(),
        state: v["state"].as_str().unwrap_or("TASK_STAGING").to_string(),
        staged_at_ms: v["stagedAt"].as_u64().unwrap_or(0),
        started_at_ms: v["startedAt"].as_u64(),
        version: v["version"].as_str().unwrap_or("").to_string(),
        healthy: v["healthy"].as_bool(),
        health_results: Vec::new(),
        killing: v["killing"].as_bool().unwrap_or(false),
        kill_sent_ms: None,
    })
}

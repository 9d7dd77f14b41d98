//! REST API v2 (axum), in Marathon 1.x's shapes and status codes. A standby instance proxies
//! every `/v2` call to the leader, adding `X-Marathon-Via`; every answer carries
//! `X-Marathon-Leader`.

// Handlers return `Result<_, Response>` (the error is the finished HTTP answer). A Response is
// large, but each is made once per request, off any hot path: boxing them buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::{json, Value};

use crate::app::{self, App};
use crate::core::{iso, Action, Instance, Scheduler};
use crate::runtime::{now_ms, Handle};
use crate::validation;

pub fn router(h: Handle) -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/v2/info", get(info))
        .route("/v2/leader", any(leader))
        .route("/v2/apps", any(apps_root))
        .route("/v2/apps/{*rest}", any(apps_path))
        .route("/v2/groups", any(groups))
        .route("/v2/groups/{*rest}", any(groups))
        .route("/v2/tasks", get(all_tasks))
        .route("/v2/tasks/delete", axum::routing::post(tasks_delete))
        .route("/v2/deployments", get(deployments))
        .route(
            "/v2/deployments/{id}",
            axum::routing::delete(deployment_delete),
        )
        .route("/v2/queue", get(queue))
        .route("/v2/events", get(events))
        .route("/metrics", get(metrics))
        .route("/", get(crate::ui::index))
        .route("/ui/", get(crate::ui::index))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(h.clone(), leader_only))
        .with_state(h)
}

/// Every answer names the leader (`X-Marathon-Leader`); on a standby, every `/v2` call but
/// `/v2/leader` (answered here) and `/v2/events` (redirected) is proxied to the leader.
async fn leader_only(
    State(h): State<Handle>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let local = !path.starts_with("/v2/") || path == "/v2/leader" || path == "/v2/events";
    if local || elected(&h) {
        let r = next.run(req).await;
        return with_leader(&h, r);
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(e) => return message(StatusCode::BAD_REQUEST, format!("Reading the body: {e}")),
    };
    with_leader(
        &h,
        proxy(&h, &parts.method, &parts.uri, &parts.headers, body).await,
    )
}

fn json_status(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    json_status(StatusCode::OK, v)
}

fn message(status: StatusCode, m: impl Into<String>) -> Response {
    json_status(status, json!({"message": m.into()}))
}

async fn not_found(uri: Uri) -> Response {
    message(
        StatusCode::NOT_FOUND,
        format!("The requested resource {} was not found", uri.path()),
    )
}

fn internal(e: anyhow::Error) -> Response {
    message(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
}

fn flag(q: &BTreeMap<String, String>, k: &str) -> bool {
    q.get(k)
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Not the leader: forward the request to it (once), or 503 when none is known.
async fn proxy(
    h: &Handle,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let lead = h.leadership.borrow().clone();
    let Some(leader) = lead.leader.filter(|l| *l != h.me) else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not determine the current leader",
        );
    };
    if headers.get("X-Marathon-Via").is_some() {
        return message(
            StatusCode::BAD_GATEWAY,
            "Proxy loop: the request was proxied already",
        );
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut hs: Vec<(&str, &str)> = vec![("X-Marathon-Via", h.me.as_str())];
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        hs.push(("Content-Type", ct));
    }
    match mesos::http_client::request(&leader, method.clone(), path, &hs, body).await {
        Ok(r) => {
            let mut resp = Response::new(Body::from(r.body));
            *resp.status_mut() = r.status;
            for (k, v) in r.headers.iter() {
                if k != header::TRANSFER_ENCODING
                    && k != header::CONNECTION
                    && k != header::CONTENT_LENGTH
                {
                    resp.headers_mut().insert(k.clone(), v.clone());
                }
            }
            resp
        }
        Err(e) => message(
            StatusCode::BAD_GATEWAY,
            format!("Proxying to the leader {leader}: {e:#}"),
        ),
    }
}

fn with_leader(h: &Handle, mut r: Response) -> Response {
    if let Some(l) = h.leadership.borrow().leader.clone() {
        if let Ok(v) = HeaderValue::from_str(&format!("http://{l}")) {
            r.headers_mut().insert("X-Marathon-Leader", v);
        }
    }
    r
}

fn elected(h: &Handle) -> bool {
    h.leadership.borrow().elected
}

// ---------------------------------------------------------------- JSON views

pub fn task_json(s: &Scheduler, i: &Instance) -> Value {
    let app = s.apps.get(&i.app_id);
    json!({
        "id": i.task_id,
        "appId": i.app_id,
        "host": i.host,
        "ports": i.ports,
        "servicePorts": app.map(App::service_ports).unwrap_or_default(),
        "slaveId": i.agent_id,
        "stagedAt": iso(i.staged_at_ms),
        "startedAt": i.started_at_ms.map(iso),
        "version": i.version,
        "state": i.state,
        "ipAddresses": [{"ipAddress": i.host, "protocol": "IPv4"}],
        "healthCheckResults": i.health_results,
    })
}

/// An app with its runtime fields; `embed` adds `tasks`, `lastTaskFailure`...
pub fn app_json(s: &Scheduler, app: &App, embed: &[String]) -> Value {
    let mut j = app.to_json();
    let checks = !app.health_checks.is_empty();
    let insts: Vec<&Instance> = s.instances_of(&app.id).collect();
    j["tasksStaged"] = json!(insts
        .iter()
        .filter(|i| i.state == "TASK_STAGING" || i.state == "TASK_STARTING")
        .count());
    j["tasksRunning"] = json!(insts.iter().filter(|i| i.running()).count());
    j["tasksHealthy"] = json!(if checks {
        insts.iter().filter(|i| i.healthy == Some(true)).count()
    } else {
        0
    });
    j["tasksUnhealthy"] = json!(insts.iter().filter(|i| i.healthy == Some(false)).count());
    j["deployments"] = match s.deployments.get(&app.id) {
        Some(d) => json!([{"id": d.id}]),
        None => json!([]),
    };
    let wants = |k: &str| {
        embed
            .iter()
            .any(|e| e == k || e == &format!("app.{k}") || e == &format!("apps.{k}"))
    };
    if wants("tasks") {
        j["tasks"] = Value::Array(insts.iter().map(|i| task_json(s, i)).collect());
    }
    if wants("lastTaskFailure") || wants("failures") {
        if let Some(f) = s.last_failure.get(&app.id) {
            j["lastTaskFailure"] = f.clone();
        }
    }
    j
}

fn deployment_json(s: &Scheduler, d: &crate::core::Deployment) -> Value {
    let _ = s;
    json!({
        "id": d.id,
        "version": d.version,
        "affectedApps": [d.app_id],
        "affectedPods": [],
        "steps": [{"actions": [{"action": d.action, "app": d.app_id}]}],
        "currentActions": [{"action": d.action, "app": d.app_id, "readinessCheckResults": []}],
        "currentStep": 1,
        "totalSteps": 1,
    })
}

// ---------------------------------------------------------------- endpoints

async fn info(State(h): State<Handle>) -> Response {
    let mut v = (*h.info).clone();
    let lead = h.leadership.borrow().clone();
    v["elected"] = json!(lead.elected);
    v["leader"] = json!(lead.leader);
    if lead.elected {
        if let Ok((fid, master)) = h
            .run(|ctx, _| (ctx.scheduler.framework_id.clone(), ctx.master.clone()))
            .await
        {
            v["frameworkId"] = json!(fid);
            if let Some(m) = master {
                v["marathon_config"]["mesos_leader_ui_url"] = json!(format!("http://{m}"));
            }
        }
    }
    ok(v)
}

async fn leader(
    State(h): State<Handle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::DELETE {
        if !elected(&h) {
            return proxy(&h, &method, &uri, &headers, body).await;
        }
        // Abdicate: the scheduler stops, the latch passes to a standby, and this instance
        // rejoins the latch as a standby.
        h.abdicate();
        return ok(json!({"message": "Leadership abdicated"}));
    }
    match h.leadership.borrow().leader.clone() {
        Some(l) => ok(json!({"leader": l})),
        None => message(StatusCode::NOT_FOUND, "There is no leader"),
    }
}

async fn apps_root(
    State(h): State<Handle>,
    method: Method,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let r = match method {
        Method::GET => list_apps(&h, &q).await,
        Method::POST => create_app(&h, &q, &body).await,
        Method::PUT => put_apps(&h, &q, &body).await,
        _ => message(
            StatusCode::METHOD_NOT_ALLOWED,
            "Use GET, POST or PUT on /v2/apps",
        ),
    };
    r
}

fn embeds(q: &[(String, String)]) -> Vec<String> {
    q.iter()
        .filter(|(k, _)| k == "embed")
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

async fn list_apps(h: &Handle, q: &[(String, String)]) -> Response {
    let embed = embeds(q);
    let get = |k: &str| q.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let (cmd, id, label) = (get("cmd"), get("id"), get("label"));
    let r = h
        .run(move |ctx, _| {
            let s = &ctx.scheduler;
            let apps: Vec<Value> = s
                .apps
                .values()
                .filter(|a| {
                    cmd.as_ref()
                        .is_none_or(|c| a.cmd.as_deref().is_some_and(|x| x.contains(c.as_str())))
                })
                .filter(|a| id.as_ref().is_none_or(|i| a.id.contains(i.as_str())))
                .filter(|a| label.as_ref().is_none_or(|l| label_matches(a, l)))
                .map(|a| app_json(s, a, &embed))
                .collect();
            json!({"apps": apps})
        })
        .await;
    match r {
        Ok(v) => ok(v),
        Err(e) => internal(e),
    }
}

/// `label=key`, `label=key==value`, `label=key!=value` (Marathon's label selector, one term).
fn label_matches(a: &App, sel: &str) -> bool {
    if let Some((k, v)) = sel.split_once("==") {
        a.labels.get(k.trim()).is_some_and(|x| x == v.trim())
    } else if let Some((k, v)) = sel.split_once("!=") {
        a.labels.get(k.trim()).is_none_or(|x| x != v.trim())
    } else {
        a.labels.contains_key(sel.trim())
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body).map_err(|e| {
        json_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Invalid JSON", "details": [{"path": "/", "errors": [format!("{e}")]}]}),
        )
    })
}

fn invalid(errs: &[validation::ValidationError]) -> Response {
    json_status(StatusCode::UNPROCESSABLE_ENTITY, validation::body(errs))
}

async fn create_app(h: &Handle, _q: &[(String, String)], body: &Bytes) -> Response {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = now_ms();
    let app = match app::parse(&v, "/", &iso(now)) {
        Ok(a) => a,
        Err(errs) => return invalid(&errs),
    };
    let deployment = uuid::Uuid::new_v4().to_string();
    let r = h
        .run(move |ctx, out| {
            let id = app.id.clone();
            if ctx.scheduler.apps.contains_key(&id) {
                return Err(message(
                    StatusCode::CONFLICT,
                    format!("An app with id [{id}] already exists."),
                ));
            }
            let d = ctx.scheduler.put_app(app, deployment, now, out);
            out.push(Action::Event(json!({"eventType": "api_post_event", "timestamp": iso(now),
                "clientIp": "", "uri": "/v2/apps", "appDefinition": ctx.scheduler.apps[&id].to_json()})));
            let mut j = app_json(&ctx.scheduler, &ctx.scheduler.apps[&id], &["tasks".to_string()]);
            j["deployments"] = json!([{"id": d}]);
            Ok((id, d, j))
        })
        .await;
    match r {
        Ok(Ok((id, d, j))) => {
            let mut resp = json_status(StatusCode::CREATED, j);
            if let Ok(v) = HeaderValue::from_str(&format!("/v2/apps{id}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&d) {
                resp.headers_mut().insert("Marathon-Deployment-Id", v);
            }
            resp
        }
        Ok(Err(r)) => r,
        Err(e) => internal(e),
    }
}

/// Applies `change` to app `id` (PUT/PATCH semantics: the fields given replace the stored
/// ones; a missing app is created by PUT). 409 while a deployment runs, unless `force`.
async fn change_app(h: &Handle, id: String, change: Value, force: bool, create: bool) -> Response {
    let now = now_ms();
    let deployment = uuid::Uuid::new_v4().to_string();
    let r = h
        .run(move |ctx, out| {
            let s = &mut ctx.scheduler;
            if !force {
                if let Some(d) = s.deployments.get(&id) {
                    return Err(json_status(
                        StatusCode::CONFLICT,
                        json!({"message": format!("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'."),
                               "deployments": [{"id": d.id}]}),
                    ));
                }
            }
            let next = match s.apps.get(&id) {
                Some(old) => old.patched(&change, &iso(now)),
                None if create => {
                    let mut c = change.clone();
                    c["id"] = json!(id);
                    app::parse(&c, "/", &iso(now))
                }
                None => return Err(message(StatusCode::NOT_FOUND, format!("App '{id}' does not exist"))),
            };
            let next = match next {
                Ok(a) => a,
                Err(errs) => return Err(invalid(&errs)),
            };
            let version = next.version.clone();
            let created = !s.apps.contains_key(&id);
            let d = s.put_app(next, deployment, now, out);
            Ok((created, json!({"version": version, "deploymentId": d})))
        })
        .await;
    match r {
        // A PUT that creates the app answers 201, as Marathon does.
        Ok(Ok((true, v))) => json_status(StatusCode::CREATED, v),
        Ok(Ok((false, v))) => ok(v),
        Ok(Err(r)) => r,
        Err(e) => internal(e),
    }
}

async fn put_apps(h: &Handle, q: &[(String, String)], body: &Bytes) -> Response {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(list) = v.as_array() else {
        return json_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            validation::body(&[validation::ValidationError {
                path: "/".into(),
                errors: vec!["error.expected.jsarray".into()],
            }]),
        );
    };
    let force = q
        .iter()
        .any(|(k, v)| k == "force" && v.eq_ignore_ascii_case("true"));
    let mut last = None;
    for a in list {
        let Some(id) = a
            .get("id")
            .and_then(Value::as_str)
            .and_then(|i| app::normalize_id(i, "/"))
        else {
            return json_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                validation::body(&[validation::ValidationError {
                    path: "/id".into(),
                    errors: vec!["error.path.missing".into()],
                }]),
            );
        };
        let r = change_app(h, id, a.clone(), force, true).await;
        if !r.status().is_success() {
            return r;
        }
        last = Some(r);
    }
    last.unwrap_or_else(|| ok(json!({"version": iso(now_ms()), "deploymentId": Value::Null})))
}

async fn apps_path(
    State(h): State<Handle>,
    method: Method,
    uri: Uri,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let qm: BTreeMap<String, String> = q.iter().cloned().collect();
    let path = uri.path().trim_start_matches("/v2/apps");
    // Split "/<app id>[/restart|/tasks[/<task>]|/versions[/<v>]]".
    let (id_part, suffix) = split_suffix(path);
    let Some(id) = app::normalize_id(id_part, "/") else {
        return with_leader(
            &h,
            message(
                StatusCode::NOT_FOUND,
                format!("App '{id_part}' does not exist"),
            ),
        );
    };
    let force = flag(&qm, "force");
    let r = match (method.clone(), suffix.as_slice()) {
        (Method::GET, []) => {
            // Marathon always embeds an app's tasks and last failure here.
            let mut embed = embeds(&q);
            embed.extend(["tasks".to_string(), "lastTaskFailure".to_string()]);
            let id2 = id.clone();
            match h
                .run(move |ctx, _| {
                    ctx.scheduler
                        .apps
                        .get(&id2)
                        .map(|a| app_json(&ctx.scheduler, a, &embed))
                })
                .await
            {
                Ok(Some(a)) => ok(json!({"app": a})),
                Ok(None) => message(StatusCode::NOT_FOUND, format!("App '{id}' does not exist")),
                Err(e) => internal(e),
            }
        }
        (Method::PUT, []) | (Method::PATCH, []) => match parse_body(&body) {
            Ok(v) => change_app(&h, id, v, force, method == Method::PUT).await,
            Err(r) => r,
        },
        (Method::DELETE, []) => {
            let now = now_ms();
            let d = uuid::Uuid::new_v4().to_string();
            let id2 = id.clone();
            match h
                .run(move |ctx, out| {
                    let s = &mut ctx.scheduler;
                    if !s.apps.contains_key(&id2) {
                        return Err(StatusCode::NOT_FOUND);
                    }
                    if !force && s.deployments.contains_key(&id2) {
                        return Err(StatusCode::CONFLICT);
                    }
                    s.delete_app(&id2, d.clone(), now, out);
                    Ok(d)
                })
                .await
            {
                Ok(Ok(d)) => ok(json!({"version": iso(now), "deploymentId": d})),
                Ok(Err(StatusCode::NOT_FOUND)) => {
                    message(StatusCode::NOT_FOUND, format!("App '{id}' does not exist"))
                }
                Ok(Err(code)) => message(
                    code,
                    "App is locked by one or more deployments. Override with the option '?force=true'.",
                ),
                Err(e) => internal(e),
            }
        }
        (Method::POST, ["restart"]) => {
            let now = now_ms();
            let d = uuid::Uuid::new_v4().to_string();
            let id2 = id.clone();
            let r = h
                .run(move |ctx, out| {
                    let s = &mut ctx.scheduler;
                    if !s.apps.contains_key(&id2) {
                        return Err(StatusCode::NOT_FOUND);
                    }
                    if !force && s.deployments.contains_key(&id2) {
                        return Err(StatusCode::CONFLICT);
                    }
                    let dep = s.restart_app(&id2, d, now, out);
                    Ok(json!({"version": iso(now), "deploymentId": dep}))
                })
                .await;
            match r {
                Ok(Ok(v)) => ok(v),
                Ok(Err(StatusCode::NOT_FOUND)) => message(StatusCode::NOT_FOUND, format!("App '{id}' does not exist")),
                Ok(Err(s)) => message(s, "App is locked by one or more deployments. Override with the option '?force=true'."),
                Err(e) => internal(e),
            }
        }
        (Method::GET, ["tasks"]) => {
            let id2 = id.clone();
            match h
                .run(move |ctx, _| {
                    let s = &ctx.scheduler;
                    s.apps.contains_key(&id2).then(|| {
                        let t: Vec<Value> = s.instances_of(&id2).map(|i| task_json(s, i)).collect();
                        json!({"tasks": t})
                    })
                })
                .await
            {
                Ok(Some(v)) => ok(v),
                Ok(None) => message(StatusCode::NOT_FOUND, format!("App '{id}' does not exist")),
                Err(e) => internal(e),
            }
        }
        (Method::DELETE, ["tasks"]) => {
            let scale = flag(&qm, "scale");
            let host = qm.get("host").cloned();
            kill_tasks(&h, Some(id), None, host, scale).await
        }
        (Method::DELETE, ["tasks", task]) => {
            let scale = flag(&qm, "scale");
            kill_tasks(&h, Some(id), Some(vec![task.to_string()]), None, scale).await
        }
        (Method::GET, ["versions"]) => {
            let id2 = id.clone();
            match h
                .run(move |ctx, _| {
                    let s = &ctx.scheduler;
                    s.apps.contains_key(&id2).then(|| {
                        // Newest first, as Marathon lists them.
                        let mut v: Vec<&str> = s
                            .versions
                            .get(&id2)
                            .map(|l| l.iter().map(|(v, _)| v.as_str()).collect())
                            .unwrap_or_default();
                        v.reverse();
                        json!({ "versions": v })
                    })
                })
                .await
            {
                Ok(Some(v)) => ok(v),
                Ok(None) => message(StatusCode::NOT_FOUND, format!("App '{id}' does not exist")),
                Err(e) => internal(e),
            }
        }
        (Method::GET, ["versions", version]) => {
            let (id2, version) = (id.clone(), version.to_string());
            match h
                .run(move |ctx, _| {
                    ctx.scheduler
                        .versions
                        .get(&id2)
                        .and_then(|l| l.iter().find(|(v, _)| *v == version))
                        .map(|(_, j)| j.clone())
                })
                .await
            {
                Ok(Some(v)) => ok(v),
                Ok(None) => message(
                    StatusCode::NOT_FOUND,
                    format!("App '{id}' has no such version"),
                ),
                Err(e) => internal(e),
            }
        }
        _ => message(
            StatusCode::NOT_FOUND,
            format!("The requested resource {} was not found", uri.path()),
        ),
    };
    r
}

/// `/a/b/tasks/x` -> ("/a/b", ["tasks", "x"]).
fn split_suffix(path: &str) -> (&str, Vec<&str>) {
    for key in ["/tasks", "/restart", "/versions"] {
        if let Some(i) = path.rfind(key) {
            let rest = &path[i + key.len()..];
            if rest.is_empty() || rest.starts_with('/') {
                let mut parts = vec![&key[1..]];
                parts.extend(rest.split('/').filter(|s| !s.is_empty()));
                return (&path[..i], parts);
            }
        }
    }
    (path, Vec::new())
}

async fn kill_tasks(
    h: &Handle,
    app: Option<String>,
    tasks: Option<Vec<String>>,
    host: Option<String>,
    scale: bool,
) -> Response {
    let now = now_ms();
    let r = h
        .run(move |ctx, out| {
            let s = &mut ctx.scheduler;
            if let Some(a) = &app {
                if !s.apps.contains_key(a) {
                    return Err(message(
                        StatusCode::NOT_FOUND,
                        format!("App '{a}' does not exist"),
                    ));
                }
            }
            let victims: Vec<String> = s
                .instances
                .values()
                .filter(|i| app.as_ref().is_none_or(|a| *a == i.app_id))
                .filter(|i| tasks.as_ref().is_none_or(|t| t.contains(&i.task_id)))
                .filter(|i| host.as_ref().is_none_or(|h| *h == i.host))
                .map(|i| i.task_id.clone())
                .collect();
            if victims.is_empty() && tasks.is_some() {
                return Err(message(StatusCode::NOT_FOUND, "Task does not exist"));
            }
            let killed: Vec<Value> = victims
                .iter()
                .filter_map(|t| s.instances.get(t).map(|i| task_json(s, i)))
                .collect();
            for t in &victims {
                s.kill_task(t, scale, now, out);
            }
            s.step(now, out);
            Ok(if scale {
                json!({"version": iso(now), "deploymentId": uuid::Uuid::new_v4().to_string()})
            } else if tasks.as_ref().is_some_and(|t| t.len() == 1) {
                json!({"task": killed.first()})
            } else {
                json!({"tasks": killed})
            })
        })
        .await;
    match r {
        Ok(Ok(v)) => ok(v),
        Ok(Err(r)) => r,
        Err(e) => internal(e),
    }
}

async fn all_tasks(State(h): State<Handle>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let status = q.get("status").cloned();
    match h
        .run(move |ctx, _| {
            let s = &ctx.scheduler;
            let t: Vec<Value> = s
                .instances
                .values()
                .filter(|i| match status.as_deref() {
                    Some("running") => i.running(),
                    Some("staging") => i.state == "TASK_STAGING",
                    _ => true,
                })
                .map(|i| task_json(s, i))
                .collect();
            json!({"tasks": t})
        })
        .await
    {
        Ok(v) => ok(v),
        Err(e) => internal(e),
    }
}

async fn tasks_delete(
    State(h): State<Handle>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let v = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(ids) = v["ids"].as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect::<Vec<_>>()
    }) else {
        return json_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            validation::body(&[validation::ValidationError {
                path: "/ids".into(),
                errors: vec!["error.path.missing".into()],
            }]),
        );
    };
    with_leader(
        &h,
        kill_tasks(&h, None, Some(ids), None, flag(&q, "scale")).await,
    )
}

async fn deployments(State(h): State<Handle>) -> Response {
    match h
        .run(|ctx, _| {
            let s = &ctx.scheduler;
            // One entry per deployment (a group's apps share one).
            let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
            for d in s.deployments.values() {
                let j = deployment_json(s, d);
                match by_id.get_mut(&d.id) {
                    None => {
                        by_id.insert(d.id.clone(), j);
                    }
                    Some(e) => {
                        for key in ["affectedApps", "currentActions"] {
                            if let (Some(a), Some(b)) = (e[key].as_array_mut(), j[key].as_array()) {
                                a.extend(b.iter().cloned());
                            }
                        }
                        if let (Some(a), Some(b)) = (
                            e["steps"][0]["actions"].as_array_mut(),
                            j["steps"][0]["actions"].as_array(),
                        ) {
                            a.extend(b.iter().cloned());
                        }
                    }
                }
            }
            Value::Array(by_id.into_values().collect())
        })
        .await
    {
        Ok(v) => ok(v),
        Err(e) => internal(e),
    }
}

/// DELETE a deployment: `force=true` just forgets it; otherwise it is rolled back by
/// restoring the app's previous definition (here: the target stays, and the deployment is
/// cancelled) — Marathon's rollback creates a new deployment.
async fn deployment_delete(
    State(h): State<Handle>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let now = now_ms();
    let force = flag(&q, "force");
    let new_dep = uuid::Uuid::new_v4().to_string();
    match h
        .run(move |ctx, out| {
            ctx.scheduler
                .cancel_deployment(&id, !force, new_dep, now, out)
        })
        .await
    {
        // force=true: stopped, nothing rolled back (Marathon answers 202 with no body).
        Ok(Some(None)) if force => StatusCode::ACCEPTED.into_response(),
        Ok(Some(d)) => ok(json!({"version": iso(now), "deploymentId": d})),
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            format!(
                "DeploymentPlan {} does not exist",
                uri.path().rsplit('/').next().unwrap_or("")
            ),
        ),
        Err(e) => internal(e),
    }
}

async fn queue(State(h): State<Handle>) -> Response {
    let now = now_ms();
    match h
        .run(move |ctx, _| {
            let s = &ctx.scheduler;
            let items: Vec<Value> = s
                .apps
                .values()
                .filter_map(|a| {
                    let live = s.instances_of(&a.id).filter(|i| !i.killing).count() as u32;
                    let count = a.instances.saturating_sub(live);
                    (count > 0).then(|| {
                        let delay = s.backoff.get(&a.id);
                        json!({
                            "app": app_json(s, a, &[]),
                            "count": count,
                            "delay": {"timeLeftSeconds": delay.map_or(0, |b| b.until_ms.saturating_sub(now) / 1000),
                                      "overdue": delay.is_none_or(|b| b.until_ms <= now)},
                            "since": iso(now),
                        })
                    })
                })
                .collect();
            json!({"queue": items})
        })
        .await
    {
        Ok(v) => ok(v),
        Err(e) => internal(e),
    }
}

async fn metrics(State(h): State<Handle>) -> Response {
    let elected = elected(&h);
    let mut v = json!({"version": "4.0.0", "counters": {}, "gauges": {}, "histograms": {}, "meters": {}, "timers": {}});
    if elected {
        if let Ok((apps, tasks, running, deployments)) = h
            .run(|ctx, _| {
                let s = &ctx.scheduler;
                (
                    s.apps.len(),
                    s.instances.len(),
                    s.instances.values().filter(|i| i.running()).count(),
                    s.deployments.len(),
                )
            })
            .await
        {
            v["gauges"] = json!({
                "marathon.apps.active.gauge": {"value": apps},
                "marathon.instances.launched.gauge": {"value": tasks},
                "marathon.instances.running.gauge": {"value": running},
                "marathon.deployments.active.gauge": {"value": deployments},
            });
        }
    }
    v["gauges"]["marathon.leadership.elected.gauge"] =
        json!({"value": if elected { 1 } else { 0 }});
    ok(v)
}

/// `/v2/events`: server-sent events (`event: <type>` and `data: <json>`), optionally filtered
/// with `event_type=`. A standby redirects to the leader.
async fn events(
    State(h): State<Handle>,
    uri: Uri,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if !elected(&h) {
        let lead = h.leadership.borrow().leader.clone();
        return match lead {
            Some(l) => {
                let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "http://{l}{}",
                    uri.path_and_query().map_or("", |p| p.as_str())
                )) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            None => message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Could not determine the current leader",
            ),
        };
    }
    let types: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "event_type")
        .map(|(_, v)| v.clone())
        .collect();
    let rx = h.events.subscribe();
    let attached = json!({"eventType": "event_stream_attached", "timestamp": iso(now_ms()), "remoteAddress": ""});
    let first = sse(&attached);
    let stream = futures_util::stream::unfold(
        (rx, Some(first), types),
        |(mut rx, first, types)| async move {
            if let Some(f) = first {
                return Some((Ok::<Bytes, Infallible>(f), (rx, None, types)));
            }
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let ty = ev["eventType"].as_str().unwrap_or("").to_string();
                        if types.is_empty() || types.contains(&ty) {
                            return Some((Ok(sse(&ev)), (rx, None, types)));
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return None,
                }
            }
        },
    );
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn sse(ev: &Value) -> Bytes {
    let ty = ev["eventType"].as_str().unwrap_or("message");
    Bytes::from(format!("event: {ty}\ndata: {ev}\n\n"))
}

// ---------------------------------------------------------------- groups

/// The group `gid` (`/` for the root) as Marathon shows it, built from the app ids.
fn group_json(s: &Scheduler, gid: &str, embed: &[String]) -> Value {
    let prefix = if gid == "/" {
        "/".to_string()
    } else {
        format!("{gid}/")
    };
    let mut apps = Vec::new();
    let mut subgroups = std::collections::BTreeSet::new();
    for a in s.apps.values() {
        let Some(rest) = a.id.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            None => apps.push(app_json(s, a, embed)),
            Some((g, _)) => {
                subgroups.insert(format!("{prefix}{g}"));
            }
        }
    }
    let groups: Vec<Value> = subgroups.iter().map(|g| group_json(s, g, embed)).collect();
    let version = s
        .apps
        .values()
        .filter(|a| a.id.starts_with(&prefix))
        .map(|a| a.version.clone())
        .max()
        .unwrap_or_else(|| iso(now_ms()));
    json!({"id": gid, "apps": apps, "groups": groups, "dependencies": [], "version": version, "pods": []})
}

/// Every app of a group definition (recursively), ids made absolute, each checked.
fn group_apps(
    v: &Value,
    gid: &str,
    version: &str,
    path: &str,
    out: &mut Vec<App>,
    errs: &mut Vec<validation::ValidationError>,
) {
    // A group's dependencies hold back every app in it.
    let group_deps: Vec<String> = v["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().and_then(|d| app::normalize_id(d, gid)))
        .collect();
    for (i, a) in v["apps"].as_array().into_iter().flatten().enumerate() {
        match app::parse(a, gid, version) {
            Ok(mut app) => {
                for d in &group_deps {
                    if !app.dependencies.contains(d) {
                        app.dependencies.push(d.clone());
                    }
                }
                out.push(app)
            }
            Err(list) => errs.extend(list.into_iter().map(|mut e| {
                e.path = format!("{path}/apps({i}){}", e.path.trim_end_matches('/'));
                e
            })),
        }
    }
    for (i, g) in v["groups"].as_array().into_iter().flatten().enumerate() {
        let Some(sub) = g["id"].as_str().and_then(|x| app::normalize_id(x, gid)) else {
            errs.push(validation::ValidationError {
                path: format!("{path}/groups({i})/id"),
                errors: vec!["error.path.missing".into()],
            });
            continue;
        };
        group_apps(g, &sub, version, &format!("{path}/groups({i})"), out, errs);
    }
}

async fn groups(
    State(h): State<Handle>,
    method: Method,
    uri: Uri,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let raw = uri.path().trim_start_matches("/v2/groups");
    let force = q
        .iter()
        .any(|(k, v)| k == "force" && v.eq_ignore_ascii_case("true"));
    let r = match method {
        Method::GET => {
            let Some(gid) = app::normalize_id(raw, "/") else {
                return message(
                    StatusCode::NOT_FOUND,
                    format!("Group '{raw}' does not exist"),
                );
            };
            let embed = embeds(&q);
            let g = gid.clone();
            match h
                .run(move |ctx, _| {
                    let s = &ctx.scheduler;
                    let prefix = format!("{}/", g.trim_end_matches('/'));
                    let exists = g == "/" || s.apps.keys().any(|a| a.starts_with(&prefix));
                    exists.then(|| group_json(s, &g, &embed))
                })
                .await
            {
                Ok(Some(v)) => ok(v),
                Ok(None) => message(
                    StatusCode::NOT_FOUND,
                    format!("Group '{gid}' does not exist"),
                ),
                Err(e) => internal(e),
            }
        }
        Method::POST | Method::PUT => {
            let v = match parse_body(&body) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let from_path = app::normalize_id(raw, "/");
            let Some(gid) = from_path
                .filter(|g| g != "/" || method == Method::PUT)
                .or_else(|| v["id"].as_str().and_then(|x| app::normalize_id(x, "/")))
            else {
                return invalid(&[validation::ValidationError {
                    path: "/id".into(),
                    errors: vec!["error.path.missing".into()],
                }]);
            };
            let now = now_ms();
            let version = iso(now);
            let mut apps = Vec::new();
            let mut errs = Vec::new();
            group_apps(&v, &gid, &version, "", &mut apps, &mut errs);
            if !errs.is_empty() {
                return invalid(&errs);
            }
            let create = method == Method::POST;
            let dep = uuid::Uuid::new_v4().to_string();
            let r = h
                .run(move |ctx, out| {
                    let s = &mut ctx.scheduler;
                    let prefix = format!("{}/", gid.trim_end_matches('/'));
                    if create && s.apps.keys().any(|a| a.starts_with(&prefix)) {
                        return Err(message(StatusCode::CONFLICT, format!("Group {gid} already exists")));
                    }
                    if !force && apps.iter().any(|a| s.deployments.contains_key(&a.id)) {
                        return Err(message(StatusCode::CONFLICT, "Group is locked by one or more deployments. Override with the option '?force=true'."));
                    }
                    // PUT replaces the group: its apps that the new definition leaves out go.
                    if !create {
                        let keep: std::collections::BTreeSet<String> =
                            apps.iter().map(|a| a.id.clone()).collect();
                        let gone: Vec<String> = s
                            .apps
                            .keys()
                            .filter(|a| a.starts_with(&prefix) && !keep.contains(*a))
                            .cloned()
                            .collect();
                        for id in gone {
                            s.delete_app(&id, dep.clone(), now, out);
                        }
                    }
                    for a in apps {
                        let a = match s.apps.get(&a.id) {
                            Some(old) => match old.patched(&a.to_json(), &version) {
                                Ok(x) => x,
                                Err(e) => return Err(invalid(&e)),
                            },
                            None => a,
                        };
                        s.put_app(a, dep.clone(), now, out);
                    }
                    Ok(json!({"version": version, "deploymentId": dep}))
                })
                .await;
            match r {
                Ok(Ok(v)) => json_status(
                    if create {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    },
                    v,
                ),
                Ok(Err(r)) => r,
                Err(e) => internal(e),
            }
        }
        Method::DELETE => {
            let Some(gid) = app::normalize_id(raw, "/") else {
                return message(
                    StatusCode::NOT_FOUND,
                    format!("Group '{raw}' does not exist"),
                );
            };
            let now = now_ms();
            let dep = uuid::Uuid::new_v4().to_string();
            let g = gid.clone();
            match h
                .run(move |ctx, out| {
                    let s = &mut ctx.scheduler;
                    let prefix = if g == "/" {
                        "/".to_string()
                    } else {
                        format!("{g}/")
                    };
                    let ids: Vec<String> = s
                        .apps
                        .keys()
                        .filter(|a| a.starts_with(&prefix))
                        .cloned()
                        .collect();
                    if ids.is_empty() && g != "/" {
                        return None;
                    }
                    for id in ids {
                        s.delete_app(&id, dep.clone(), now, out);
                    }
                    Some(json!({"version": iso(now), "deploymentId": dep}))
                })
                .await
            {
                Ok(Some(v)) => ok(v),
                Ok(None) => message(
                    StatusCode::NOT_FOUND,
                    format!("Group '{gid}' does not exist"),
                ),
                Err(e) => internal(e),
            }
        }
        _ => message(
            StatusCode::METHOD_NOT_ALLOWED,
            "Use GET, POST, PUT or DELETE on /v2/groups",
        ),
    };
    r
}

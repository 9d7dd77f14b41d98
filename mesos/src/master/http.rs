//! The master's HTTP server (axum): the v1 scheduler API, the agent API
//! (`docs/mesos-agent-protocol.md`), the operator endpoints and the web UI.
//!
//! A master that does not lead answers the APIs and state endpoints with 307 to the leader, or
//! 503 when none is elected; `/health`, `/version`, `/metrics/snapshot` and `/master/flags` are
//! answered by every master.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::core::CallError;
use super::runtime::{now_ms, system_metrics, Handle};
use super::state::{self, Context};

pub fn router(h: Handle) -> Router {
    Router::new()
        .route("/api/v1/scheduler", post(scheduler))
        .route("/api/v1/agent", post(agent))
        .route("/master/state", get(master_state))
        .route("/master/state.json", get(master_state))
        .route("/state", get(master_state))
        .route("/state.json", get(master_state))
        .route("/master/state-summary", get(state_summary))
        .route("/master/frameworks", get(frameworks))
        .route("/frameworks", get(frameworks))
        .route("/master/slaves", get(slaves))
        .route("/slaves", get(slaves))
        .route("/master/tasks", get(tasks))
        .route("/tasks", get(tasks))
        .route("/master/flags", get(flags))
        .route("/flags", get(flags))
        .route("/metrics/snapshot", get(metrics))
        .route("/health", get(health))
        .route("/master/health", get(health))
        .route("/version", get(version))
        .route("/master/redirect", get(redirect_endpoint))
        .route("/redirect", get(redirect_endpoint))
        .route(
            "/master/maintenance/schedule",
            get(get_schedule).post(post_schedule),
        )
        .route("/master/maintenance/status", get(maintenance_status))
        .route("/master/machine/down", post(machine_down))
        .route("/master/machine/up", post(machine_up))
        .route("/master/teardown", post(teardown))
        .route("/teardown", post(teardown))
        .route("/", get(super::ui::index))
        .route("/index.html", get(super::ui::index))
        .fallback(not_found)
        .with_state(h)
}

async fn not_found(uri: Uri) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("No such endpoint: {}", uri.path()),
    )
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn json_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn call_error(e: CallError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    text(status, e.message)
}

fn internal(e: anyhow::Error) -> Response {
    text(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
}

/// 307 to the leader (same path and query), or 503 when there is none.
fn redirect(h: &Handle, uri: &Uri) -> Response {
    let lead = h.leadership.borrow().clone();
    match lead.leader {
        Some(l) => {
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let location = format!("http://{}{}", l.address(), path);
            let mut r = text(
                StatusCode::TEMPORARY_REDIRECT,
                format!(
                    "This master is not the leader, redirecting to {}",
                    l.address()
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "No master is currently leading",
        ),
    }
}

fn elected(h: &Handle) -> bool {
    h.leadership.borrow().elected
}

/// Parses a JSON request body; the error is the 4xx status and message.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, (StatusCode, String)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if ct.is_some_and(|ct| ct.starts_with("application/x-protobuf")) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type application/x-protobuf is not supported; send application/json".into(),
        ));
    }
    if body.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "Expecting a JSON body".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err((StatusCode::BAD_REQUEST, "Expecting a JSON object".into())),
        Err(e) => Err((
            StatusCode::BAD_REQUEST,
            format!("Failed to parse body into JSON: {e}"),
        )),
    }
}

/// Calls `f` when dropped: tells the master a stream's reader went away.
struct OnDrop(Option<Box<dyn FnOnce() + Send>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

fn streaming(rx: tokio::sync::mpsc::Receiver<Bytes>, guard: OnDrop, stream_id: &str) -> Response {
    let body = futures_util::stream::unfold((rx, guard), |(mut rx, g)| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, Infallible>(b), (rx, g)))
    });
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(stream_id) {
        h.insert("Mesos-Stream-Id", v);
    }
    r
}

async fn scheduler(State(h): State<Handle>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if !elected(&h) {
        return redirect(&h, &uri);
    }
    let call = match parse_body(&headers, &body) {
        Ok(v) => v,
        Err((status, message)) => return text(status, message),
    };
    let stream_header = headers
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if call.get("type").and_then(Value::as_str) == Some("SUBSCRIBE") {
        if stream_header.is_some() {
            return text(
                StatusCode::BAD_REQUEST,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        return match h.subscribe(call).await {
            Ok(Ok((_fid, stream, rx))) => {
                let hh = h.clone();
                let s = stream.clone();
                let guard = OnDrop(Some(Box::new(move || hh.framework_stream_closed(s))));
                streaming(rx, guard, &stream)
            }
            Ok(Err(e)) => call_error(e),
            Err(e) => internal(e),
        };
    }
    let r = h
        .run(move |st, fx| {
            st.master
                .framework_call(now_ms(), stream_header.as_deref(), &call, fx)
        })
        .await;
    match r {
        Ok(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Ok(Err(e)) => call_error(e),
        Err(e) => internal(e),
    }
}

async fn agent(State(h): State<Handle>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if !elected(&h) {
        return redirect(&h, &uri);
    }
    let call = match parse_body(&headers, &body) {
        Ok(v) => v,
        Err((status, message)) => return text(status, message),
    };
    if call.get("type").and_then(Value::as_str) == Some("REGISTER") {
        return match h.register_agent(call).await {
            Ok(Ok((aid, conn, rx))) => {
                let hh = h.clone();
                let a = aid.clone();
                let guard = OnDrop(Some(Box::new(move || hh.agent_stream_closed(a, conn))));
                streaming(rx, guard, &conn.to_string())
            }
            Ok(Err(e)) => call_error(e),
            Err(e) => internal(e),
        };
    }
    let Some(aid) = headers
        .get("Mesos-Agent-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "Agent calls other than REGISTER need the 'Mesos-Agent-Id' header",
        );
    };
    let conn = headers
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let r = h
        .run(move |st, fx| st.master.agent_call(now_ms(), &aid, conn, &call, fx))
        .await;
    match r {
        Ok(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Ok(Err(e)) => call_error(e),
        Err(e) => internal(e),
    }
}

/// Runs a read-only view of the leader's state as JSON.
async fn leader_view(
    h: &Handle,
    uri: &Uri,
    f: impl FnOnce(&super::core::Master, &Context<'_>) -> Value + Send + 'static,
) -> Response {
    if !elected(h) {
        return redirect(h, uri);
    }
    let flags = h.flags.clone();
    let cluster = h.cluster.clone();
    let leader = h.leadership.borrow().leader.as_ref().map(|l| l.to_json());
    let r = h
        .run(move |st, _fx| {
            let ctx = Context {
                flags: &flags,
                cluster: cluster.as_deref(),
                leader,
                elected: true,
            };
            f(&st.master, &ctx)
        })
        .await;
    match r {
        Ok(v) => json_response(&v),
        Err(e) => internal(e),
    }
}

async fn master_state(State(h): State<Handle>, uri: Uri) -> Response {
    leader_view(&h, &uri, state::state).await
}

async fn state_summary(State(h): State<Handle>, uri: Uri) -> Response {
    leader_view(&h, &uri, state::state_summary).await
}

async fn frameworks(
    State(h): State<Handle>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let only = q.get("framework_id").cloned();
    leader_view(&h, &uri, move |m, _| state::frameworks(m, only.as_deref())).await
}

async fn slaves(
    State(h): State<Handle>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let only = q.get("slave_id").or_else(|| q.get("agent_id")).cloned();
    leader_view(&h, &uri, move |m, _| state::slaves(m, only.as_deref())).await
}

async fn tasks(
    State(h): State<Handle>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let num = |k: &str, d: usize| -> Result<usize, String> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v
                .parse()
                .map_err(|_| format!("Failed to parse '{k}': '{v}' is not a non-negative integer")),
        }
    };
    let (limit, offset) = match (num("limit", 100), num("offset", 0)) {
        (Ok(l), Ok(o)) => (l, o),
        (Err(m), _) | (_, Err(m)) => return text(StatusCode::BAD_REQUEST, m),
    };
    let descending = match q.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("des") | Some("desc") => true,
        Some(o) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Unknown 'order' '{o}': use 'asc' or 'des'"),
            )
        }
    };
    let fid = q.get("framework_id").cloned();
    let tid = q.get("task_id").cloned();
    leader_view(&h, &uri, move |m, _| {
        state::tasks(m, limit, offset, descending, fid.as_deref(), tid.as_deref())
    })
    .await
}

async fn flags(State(h): State<Handle>) -> Response {
    json_response(&json!({ "flags": *h.flags }))
}

async fn metrics(State(h): State<Handle>) -> Response {
    let elected = elected(&h);
    let system = system_metrics();
    let r = h
        .run(move |st, _fx| state::metrics(&st.master, elected, now_ms(), &system))
        .await;
    match r {
        Ok(v) => json_response(&v),
        Err(e) => internal(e),
    }
}

async fn health() -> Response {
    StatusCode::OK.into_response()
}

async fn version() -> Response {
    json_response(&state::version())
}

async fn redirect_endpoint(State(h): State<Handle>) -> Response {
    let lead = h.leadership.borrow().clone();
    match lead.leader {
        Some(l) => {
            let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("http://{}", l.address())) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "No master is currently leading",
        ),
    }
}

async fn get_schedule(State(h): State<Handle>, uri: Uri) -> Response {
    leader_view(&h, &uri, |m, _| m.maintenance_schedule.clone()).await
}

async fn maintenance_status(State(h): State<Handle>, uri: Uri) -> Response {
    leader_view(&h, &uri, |m, _| state::maintenance_status(m)).await
}

/// A maintenance POST: parse the JSON body, run `f` on the master, answer 200 or the error.
async fn maintenance_post(
    h: Handle,
    uri: Uri,
    body: Bytes,
    f: fn(&mut super::core::Master, &Value, &mut Vec<super::core::Effect>) -> Result<(), CallError>,
) -> Response {
    if !elected(&h) {
        return redirect(&h, &uri);
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body into JSON: {e}"),
            )
        }
    };
    match h.run(move |st, fx| f(&mut st.master, &v, fx)).await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => call_error(e),
        Err(e) => internal(e),
    }
}

async fn post_schedule(State(h): State<Handle>, uri: Uri, body: Bytes) -> Response {
    maintenance_post(h, uri, body, |m, v, fx| m.set_schedule(v, fx)).await
}

async fn machine_down(State(h): State<Handle>, uri: Uri, body: Bytes) -> Response {
    maintenance_post(h, uri, body, |m, v, fx| m.machines_down(v, fx)).await
}

async fn machine_up(State(h): State<Handle>, uri: Uri, body: Bytes) -> Response {
    maintenance_post(h, uri, body, |m, v, fx| m.machines_up(v, fx)).await
}

/// `POST /master/teardown` with the form body `frameworkId=<id>`.
async fn teardown(State(h): State<Handle>, uri: Uri, body: Bytes) -> Response {
    if !elected(&h) {
        return redirect(&h, &uri);
    }
    let text_body = String::from_utf8_lossy(&body).to_string();
    let Some(fid) = text_body
        .split('&')
        .find_map(|kv| kv.strip_prefix("frameworkId="))
        .map(str::to_string)
        .filter(|s| !s.is_empty())
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "Missing 'frameworkId' (send the form body frameworkId=<id>)",
        );
    };
    match h
        .run(move |st, fx| st.master.teardown(&fid, now_ms(), fx))
        .await
    {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => call_error(e),
        Err(e) => internal(e),
    }
}

//! The agent's own HTTP endpoints: `/state` (and its Mesos aliases), `/metrics/snapshot`,
//! `/health`, `/version`, `/flags`, `/files/{browse,read,download}`. A `jsonp=callback`
//! parameter wraps the JSON as Mesos does (its web UI reads agents that way).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::agent::core::Core;
use crate::agent::files::{self, FilesError};
use crate::agent::state_json::{self, StateContext, SystemSample};
use crate::agent::system;

/// What the endpoints read.
pub struct HttpState {
    pub core: Arc<Mutex<Core>>,
    pub pid: String,
    pub start_time: f64,
    pub flags: Vec<(String, String)>,
    /// `<work_dir>/slaves`, canonical.
    pub files_root: std::path::PathBuf,
    pub cpus: u64,
}

type Shared = Arc<HttpState>;
type Params = Query<HashMap<String, String>>;

fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    match core.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn json_response(v: &Value, params: &HashMap<String, String>) -> Response {
    let cb = params.get("jsonp").filter(|c| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_.$[]".contains(ch))
    });
    let (ctype, body) = match cb {
        Some(cb) => ("text/javascript", format!("{cb}({v});")),
        None => ("application/json", v.to_string()),
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

fn files_error(e: FilesError) -> Response {
    match e {
        FilesError::BadRequest(m) => (StatusCode::BAD_REQUEST, m).into_response(),
        FilesError::NotFound(m) => (StatusCode::NOT_FOUND, m).into_response(),
    }
}

async fn state(State(s): State<Shared>, Query(p): Params) -> Response {
    let v = state_json::state(
        &lock(&s.core),
        &StateContext {
            pid: &s.pid,
            start_time: s.start_time,
            flags: &s.flags,
        },
    );
    json_response(&v, &p)
}

async fn metrics(State(s): State<Shared>, Query(p): Params) -> Response {
    let sample = SystemSample {
        cpus: s.cpus,
        mem_total_bytes: system::meminfo("MemTotal").unwrap_or(0),
        mem_free_bytes: system::meminfo("MemAvailable")
            .or_else(|| system::meminfo("MemFree"))
            .unwrap_or(0),
        load: system::load_average(),
        now: system::wall_clock(),
    };
    let v = state_json::metrics(&lock(&s.core), s.start_time, &sample);
    json_response(&v, &p)
}

async fn version(Query(p): Params) -> Response {
    json_response(&state_json::version(), &p)
}

async fn flags(State(s): State<Shared>, Query(p): Params) -> Response {
    json_response(&state_json::flags(&s.flags), &p)
}

async fn browse(State(s): State<Shared>, Query(p): Params) -> Response {
    let root = s.files_root.clone();
    let path = p.get("path").cloned();
    match tokio::task::spawn_blocking(move || files::browse(&root, path.as_deref())).await {
        Ok(Ok(v)) => json_response(&v, &p),
        Ok(Err(e)) => files_error(e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn read(State(s): State<Shared>, Query(p): Params) -> Response {
    let root = s.files_root.clone();
    let q = p.clone();
    let r = tokio::task::spawn_blocking(move || {
        files::read(
            &root,
            q.get("path").map(String::as_str),
            q.get("offset").map(String::as_str),
            q.get("length").map(String::as_str),
        )
    })
    .await;
    match r {
        Ok(Ok(v)) => json_response(&v, &p),
        Ok(Err(e)) => files_error(e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn download(State(s): State<Shared>, Query(p): Params) -> Response {
    let path = match files::resolve(&s.files_root, p.get("path").map(String::as_str)) {
        Ok(p) => p,
        Err(e) => return files_error(e),
    };
    if path.is_dir() {
        return files_error(FilesError::BadRequest("Cannot download a directory".into()));
    }
    let file = match files::open_beneath(&s.files_root, &path) {
        Ok(f) => tokio::fs::File::from_std(f),
        Err(e) => return files_error(e),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().replace('"', ""))
        .unwrap_or_default();
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/state", get(state))
        .route("/state.json", get(state))
        .route("/slave(1)/state", get(state))
        .route("/slave(1)/state.json", get(state))
        .route("/metrics/snapshot", get(metrics))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/slave(1)/health", get(|| async { StatusCode::OK }))
        .route("/version", get(version))
        .route("/flags", get(flags))
        .route("/slave(1)/flags", get(flags))
        .route("/files/browse", get(browse))
        .route("/files/browse.json", get(browse))
        .route("/files/read", get(read))
        .route("/files/read.json", get(read))
        .route("/files/download", get(download))
        .route("/files/download.json", get(download))
        .with_state(shared)
}

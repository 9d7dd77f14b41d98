//! The two HTTP servers, tasks on the server's runtime that end with it: the AdminServer
//! (`admin.*`: `GET <commandURL>` lists the commands, `GET <commandURL>/<name>` runs one) and
//! the Prometheus endpoint (`metricsProvider.*`: `GET /metrics`). Both ask the core task, which
//! owns every value, with a oneshot reply.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{admin, metrics, ToCore};

#[derive(Clone)]
struct Shared {
    to_core: mpsc::UnboundedSender<ToCore>,
    command_url: String,
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down\n",
    )
        .into_response()
}

async fn list_commands(State(s): State<Shared>) -> Response {
    // As Jetty's CommandServlet: one link per command.
    let mut body = String::new();
    for name in admin::primary_names() {
        body.push_str(&format!(
            "<a href=\"{url}/{name}\">{name}</a>\n<br/>\n",
            url = s.command_url.trim_end_matches('/')
        ));
    }
    ([(header::CONTENT_TYPE, "text/html;charset=utf-8")], body).into_response()
}

async fn run_command(State(s): State<Shared>, Path(cmd): Path<String>) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.to_core.send(ToCore::Admin { cmd, reply }).is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(json) => {
            let body = serde_json::to_string_pretty(&json).unwrap_or_default();
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(_) => unavailable(),
    }
}

async fn scrape(State(s): State<Shared>) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.to_core.send(ToCore::Scrape { reply }).is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(ms) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics::prometheus_text(&ms),
        )
            .into_response(),
        Err(_) => unavailable(),
    }
}

async fn serve(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
) {
    let stop = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "{what} stopped");
    }
}

/// Binds the AdminServer on `addr` and serves it until shutdown.
pub(crate) async fn start_admin(
    addr: SocketAddr,
    command_url: &str,
    to_core: mpsc::UnboundedSender<ToCore>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let base = format!("/{}", command_url.trim_matches('/'));
    let shared = Shared {
        to_core,
        command_url: base.clone(),
    };
    let app = Router::new()
        .route(&base, get(list_commands))
        .route(&format!("{base}/"), get(list_commands))
        .route(&format!("{base}/{{cmd}}"), get(run_command))
        .with_state(shared);
    tracing::info!(%local, url = %base, "AdminServer serving");
    Ok((
        local,
        tokio::spawn(serve(listener, app, shutdown, "the AdminServer")),
    ))
}

/// Binds the Prometheus endpoint (`/metrics`) on `addr` and serves it until shutdown.
pub(crate) async fn start_metrics(
    addr: SocketAddr,
    to_core: mpsc::UnboundedSender<ToCore>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let shared = Shared {
        to_core,
        command_url: String::new(),
    };
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(shared);
    tracing::info!(%local, "Prometheus /metrics serving");
    Ok((
        local,
        tokio::spawn(serve(listener, app, shutdown, "the /metrics endpoint")),
    ))
}

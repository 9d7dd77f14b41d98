//! A small HTTP/1.1 client (hyper) for the v1 APIs: one request per connection, plain bodies
//! or a streamed response body. Every connect and header wait is bounded by a timeout.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long connecting and waiting for response headers may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Location` header's `host:port` (from `http://host:port/...` or `//host:port/...`).
    pub fn location_authority(&self) -> Option<String> {
        let loc = self.headers.get(hyper::header::LOCATION)?.to_str().ok()?;
        authority_of(loc)
    }
}

/// `host:port` of `http://host:port/path`, `//host:port/path` or `host:port`.
pub fn authority_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("//"))
        .unwrap_or(url);
    let auth = rest.split('/').next()?;
    (!auth.is_empty()).then(|| auth.to_string())
}

/// Sends one request to `addr` (`host:port`) and returns the response with its body still
/// streaming.
pub async fn send(
    addr: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<hyper::Response<Incoming>> {
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connecting to {addr} timed out"))?
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("HTTP handshake with {addr}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body))?;
    tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| anyhow!("{addr}{path}: no response within {TIMEOUT:?}"))?
        .with_context(|| format!("{addr}{path}"))
}

/// Sends one request and reads the whole body (bounded by the timeout too).
pub async fn request(
    addr: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<Reply> {
    let resp = send(addr, method, path, headers, body).await?;
    let (parts, body) = resp.into_parts();
    let body = tokio::time::timeout(TIMEOUT, body.collect())
        .await
        .map_err(|_| anyhow!("{addr}{path}: body not complete within {TIMEOUT:?}"))?
        .with_context(|| format!("{addr}{path}: reading the body"))?
        .to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// `GET path` as JSON.
pub async fn get_json(addr: &str, path: &str) -> Result<serde_json::Value> {
    let r = request(addr, Method::GET, path, &[], Bytes::new()).await?;
    if !r.status.is_success() {
        return Err(anyhow!("GET {addr}{path}: {} {}", r.status, r.text()));
    }
    serde_json::from_slice(&r.body).with_context(|| format!("GET {addr}{path}: not JSON"))
}

/// `POST path` with a JSON body.
pub async fn post_json(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Result<Reply> {
    let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    request(addr, Method::POST, path, &h, Bytes::from(body.to_string())).await
}

/// Reads RecordIO records (JSON) from a streamed body into a channel, until the body ends or
/// the receiver is dropped. A record that is not JSON ends the stream.
pub fn recordio_events(body: Incoming) -> tokio::sync::mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        let mut body = body;
        let mut dec = crate::recordio::Decoder::new();
        loop {
            let frame = tokio::select! {
                f = body.frame() => f,
                _ = tx.closed() => return,
            };
            let Some(Ok(frame)) = frame else { return };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            dec.feed(&data);
            loop {
                match dec.next_record(64 << 20) {
                    Ok(Some(rec)) => {
                        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&rec) else {
                            tracing::warn!("a RecordIO record is not JSON; dropping the stream");
                            return;
                        };
                        if tx.send(v).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("bad RecordIO stream: {e}");
                        return;
                    }
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            authority_of("http://1.2.3.4:5050/api").as_deref(),
            Some("1.2.3.4:5050")
        );
        assert_eq!(authority_of("//h:1/x").as_deref(), Some("h:1"));
        assert_eq!(authority_of("h:1").as_deref(), Some("h:1"));
        assert_eq!(authority_of("http:///x"), None);
    }
}

//! One client connection: a reader that cuts frames (or answers a four-letter word sent before
//! the handshake) and a writer that drains the connection's queue.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use super::four_letter;
use super::{IpCounts, Outgoing, RuntimeConfig, ToCore};
use crate::core::ConnId;
use zk_proto::data::Id;
use zk_proto::frame;

const SESSIONLESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) async fn serve(
    conn: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    cfg: Arc<RuntimeConfig>,
    to_core: mpsc::UnboundedSender<ToCore>,
    counts: Arc<IpCounts>,
    shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = stream.into_split();
    serve_io(
        conn,
        rd,
        wr,
        peer,
        Vec::new(),
        cfg,
        to_core,
        counts,
        shutdown,
    )
    .await;
}

/// Serves a connection over any byte stream (plain TCP halves, or a TLS stream's). `identities`
/// are what the transport proved (the `x509` id of a client certificate).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_io<R, W>(
    conn: ConnId,
    mut rd: R,
    wr: W,
    peer: SocketAddr,
    identities: Vec<Id>,
    cfg: Arc<RuntimeConfig>,
    to_core: mpsc::UnboundedSender<ToCore>,
    counts: Arc<IpCounts>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (answered_tx, mut answered) = oneshot::channel();
    let mut writer = tokio::spawn(write_loop(wr, out_rx, answered_tx));
    let mut connected = false;
    let mut writer_done = false;
    if to_core
        .send(ToCore::Opened {
            conn,
            peer,
            out: out_tx.clone(),
            identities,
        })
        .is_err()
    {
        counts.remove(peer.ip());
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut start = 0usize;
    let mut first = true;
    let mut framed = false;
    let max = cfg.core.max_buffer;
    // A connection that never completes a ConnectRequest is dropped, as ZooKeeper's
    // `zookeeper.nio.sessionlessCnxnTimeout` (10 s) does.
    let sessionless = tokio::time::sleep(SESSIONLESS_TIMEOUT);
    tokio::pin!(sessionless);
    'read: loop {
        let n = tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = shutdown.changed() => break,
            _ = &mut sessionless, if !framed => {
                tracing::info!(conn, %peer, "closing connection: no ConnectRequest within 10 s");
                let _ = to_core.send(ToCore::Transport(
                    super::tls::TransportEvent::SessionlessExpired,
                ));
                break;
            }
            // The core closed us (expiry, session moved, bad input): stop reading too.
            _ = &mut writer => { writer_done = true; break }
        };
        let _ = n;
        if first && buf.len() - start >= 4 {
            first = false;
            let word = &buf[start..start + 4];
            if let Some(cmd) = four_letter::command_name(word) {
                answer_four_letter(conn, cmd, &cfg, &to_core, &out_tx).await;
                break 'read;
            }
        }
        loop {
            match frame::check(&buf[start..], max) {
                Ok(Some(end)) => {
                    if framed && !connected {
                        // As ZooKeeper (which stops reading until the session is set up), take
                        // nothing after the ConnectRequest before it is answered: the Java
                        // client's Netty socket sends queued requests right behind it, and
                        // they must neither be read as a ConnectRequest nor run before the
                        // session exists.
                        tokio::select! {
                            r = &mut answered => if r.is_err() { break 'read },
                            _ = shutdown.changed() => break 'read,
                        }
                        connected = true;
                    }
                    framed = true;
                    let payload = buf[start + 4..start + end].to_vec();
                    start += end;
                    if to_core.send(ToCore::Frame { conn, payload }).is_err() {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // ZooKeeper's "Len error": the connection is closed.
                    tracing::warn!(conn, %peer, error = %e, "closing connection");
                    let _ = out_tx.send(Outgoing::Close);
                    break 'read;
                }
            }
        }
        if start > 0 && start == buf.len() {
            buf.clear();
            start = 0;
        } else if start > 64 * 1024 {
            buf.drain(..start);
            start = 0;
        }
    }
    let _ = to_core.send(ToCore::Closed { conn });
    let _ = out_tx.send(Outgoing::Close);
    drop(out_tx);
    if !writer_done {
        let _ = writer.await;
    }
    counts.remove(peer.ip());
}

async fn answer_four_letter(
    conn: ConnId,
    cmd: &'static str,
    cfg: &RuntimeConfig,
    to_core: &mpsc::UnboundedSender<ToCore>,
    out: &mpsc::UnboundedSender<Outgoing>,
) {
    let (reply, rx) = oneshot::channel();
    let allowed = cfg.four_letter_allowed(cmd);
    if to_core
        .send(ToCore::FourLetter {
            conn,
            cmd,
            allowed,
            reply,
        })
        .is_err()
    {
        return;
    }
    let text = rx.await.unwrap_or_default();
    let _ = out.send(Outgoing::Frame(text.into_bytes()));
    let _ = out.send(Outgoing::Close);
}

/// `answered` fires once the first frame (the ConnectResponse) is written.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    answered: oneshot::Sender<()>,
) {
    let mut answered = Some(answered);
    let mut batch: Vec<u8> = Vec::with_capacity(16 * 1024);
    while let Some(first) = rx.recv().await {
        let mut close = false;
        match first {
            Outgoing::Frame(f) => batch.extend_from_slice(&f),
            Outgoing::Close => close = true,
        }
        // Drain whatever else is queued into the same write.
        while !close && batch.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(Outgoing::Frame(f)) => batch.extend_from_slice(&f),
                Ok(Outgoing::Close) => close = true,
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            if wr.write_all(&batch).await.is_err() {
                break;
            }
            batch.clear();
            if let Some(a) = answered.take() {
                let _ = a.send(());
            }
        }
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

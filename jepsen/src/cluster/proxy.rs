//! A controllable TCP proxy for one directed link: connections dialled by one party (the
//! "forward" direction carries the dialler's bytes, the "backward" direction the answers).
//!
//! A blocked direction *stalls*: the proxy stops reading from that side, so the bytes wait in
//! the kernel's buffers and the sender's writes eventually block, exactly as with a firewall
//! that drops packets (TCP retransmits; nothing is lost or reordered, nothing is closed). The
//! applications notice only through their own timeouts, as they would in a real partition.
//! A connection opened while the link is blocked in either direction is accepted (a partition
//! looks like a black hole, not like a refused port) but not dialled onwards until the link is
//! open again, as a handshake would not complete through a one-way drop either. When the link
//! opens, the stalled bytes flow, and whatever a side closed in the meantime closes through.
//!
//! [`Proxy::cut`] is the loud variant: it closes every connection open at that moment.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the proxy tries to reach its target before it closes the accepted connection
/// (the dialler then sees an immediate end of stream, as if the port were closed).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a link lets through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    /// The dialler's bytes stall.
    pub block_forward: bool,
    /// The target's bytes stall.
    pub block_backward: bool,
    /// Connections opened before the last [`Proxy::cut`] close.
    pub cut_epoch: u64,
}

impl LinkState {
    pub fn open(&self) -> bool {
        !self.block_forward && !self.block_backward
    }

    fn blocks(&self, forward: bool) -> bool {
        if forward {
            self.block_forward
        } else {
            self.block_backward
        }
    }
}

/// A listener on 127.0.0.1 forwarding every connection to `target`.
pub struct Proxy {
    listen: SocketAddr,
    target: SocketAddr,
    state: watch::Sender<LinkState>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Binds a fresh port on 127.0.0.1 and starts forwarding to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let listen = listener.local_addr()?;
        let (state, rx) = watch::channel(LinkState::default());
        let accept = tokio::spawn(accept_loop(listener, target, rx));
        Ok(Proxy {
            listen,
            target,
            state,
            accept,
        })
    }

    /// Where the proxy listens.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    /// Sets which directions stall (the cut epoch is kept).
    pub fn set_blocked(&self, block_forward: bool, block_backward: bool) {
        self.state.send_if_modified(|s| {
            let changed = s.block_forward != block_forward || s.block_backward != block_backward;
            s.block_forward = block_forward;
            s.block_backward = block_backward;
            changed
        });
    }

    /// Closes every connection open now (new ones are unaffected).
    pub fn cut(&self) {
        self.state.send_modify(|s| s.cut_epoch += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The connection tasks end when they see the state's sender gone.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, rx: watch::Receiver<LinkState>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(serve(inbound, target, rx.clone()));
    }
}

/// Waits for a change of the link; false when the connection must close (the proxy is gone or
/// the link was cut since `epoch`).
async fn changed(rx: &mut watch::Receiver<LinkState>, epoch: u64) -> bool {
    rx.changed().await.is_ok() && rx.borrow_and_update().cut_epoch == epoch
}

async fn serve(inbound: TcpStream, target: SocketAddr, mut rx: watch::Receiver<LinkState>) {
    let _ = inbound.set_nodelay(true);
    let epoch = rx.borrow_and_update().cut_epoch;
    // No handshake through a blocked link: hold the accepted connection until it opens.
    while !rx.borrow().open() {
        if !changed(&mut rx, epoch).await {
            return;
        }
    }
    let outbound = tokio::select! {
        r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)) => match r {
            Ok(Ok(s)) => s,
            _ => return,
        },
        _ = async { while changed(&mut rx, epoch).await {} } => return,
    };
    let _ = outbound.set_nodelay(true);
    let (in_r, in_w) = inbound.into_split();
    let (out_r, out_w) = outbound.into_split();
    // Either pump ending (an end of stream, an error, a cut) ends both: dropping every half
    // closes both sockets.
    let (done_tx, done_rx) = watch::channel(false);
    let forward = pump(in_r, out_w, true, rx.clone(), epoch, done_rx.clone());
    let backward = pump(out_r, in_w, false, rx, epoch, done_rx);
    let done_tx2 = done_tx.clone();
    let f = tokio::spawn(async move {
        forward.await;
        let _ = done_tx.send(true);
    });
    let b = tokio::spawn(async move {
        backward.await;
        let _ = done_tx2.send(true);
    });
    let _ = f.await;
    let _ = b.await;
}

/// Copies `from` to `to` while the direction is open; stalls (reads nothing) while blocked.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    forward: bool,
    mut rx: watch::Receiver<LinkState>,
    epoch: u64,
    mut done: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if *done.borrow() {
            return;
        }
        if rx.borrow().blocks(forward) {
            tokio::select! {
                ok = changed(&mut rx, epoch) => if !ok { return },
                _ = done.changed() => return,
            }
            continue;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            ok = changed(&mut rx, epoch) => if ok { continue } else { return },
            _ = done.changed() => return,
        };
        // Bytes read before a block began are in flight: they arrive.
        tokio::select! {
            r = to.write_all(&buf[..n]) => if r.is_err() { return },
            _ = async { while changed(&mut rx, epoch).await {} } => return,
            _ = done.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut b = [0u8; 1024];
                    loop {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if s.write_all(&b[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    async fn read_some(s: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        let mut b = [0u8; 64];
        match tokio::time::timeout(within, s.read(&mut b)).await {
            Ok(Ok(n)) => Some(b[..n].to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn forwards_stalls_and_resumes() {
        let p = Proxy::start(echo_server().await).await.unwrap();
        let mut c = TcpStream::connect(p.listen_addr()).await.unwrap();
        c.write_all(b"a").await.unwrap();
        assert_eq!(
            read_some(&mut c, Duration::from_secs(2)).await,
            Some(b"a".to_vec())
        );
        p.set_blocked(true, true);
        c.write_all(b"b").await.unwrap();
        assert_eq!(read_some(&mut c, Duration::from_millis(200)).await, None);
        // A new connection is accepted, and stalls.
        let mut c2 = TcpStream::connect(p.listen_addr()).await.unwrap();
        c2.write_all(b"x").await.unwrap();
        assert_eq!(read_some(&mut c2, Duration::from_millis(200)).await, None);
        p.set_blocked(false, false);
        assert_eq!(
            read_some(&mut c, Duration::from_secs(2)).await,
            Some(b"b".to_vec())
        );
        assert_eq!(
            read_some(&mut c2, Duration::from_secs(2)).await,
            Some(b"x".to_vec())
        );
        // One way: the answers stall, then arrive.
        p.set_blocked(false, true);
        c.write_all(b"c").await.unwrap();
        assert_eq!(read_some(&mut c, Duration::from_millis(200)).await, None);
        p.set_blocked(false, false);
        assert_eq!(
            read_some(&mut c, Duration::from_secs(2)).await,
            Some(b"c".to_vec())
        );
        // A cut closes what is open.
        p.cut();
        assert_eq!(
            read_some(&mut c, Duration::from_secs(2)).await,
            Some(Vec::new())
        );
    }
}

//! TLS for client connections (`secureClientPort`, `client.portUnification`) and between
//! servers (`sslQuorum`), with rustls and its ring provider.
//!
//! - [`TlsSettings`] is built once at start-up from zoo.cfg ([`TlsSettings::from_config`]):
//!   the key and trust stores are read and checked there, so a store that cannot be used stops
//!   the server with an error naming the setting and the file.
//! - Every handshake runs on the connection's own task, bounded in time, so a slow or hostile
//!   client delays nobody else.
//! - A verified client certificate becomes the connection's `x509` identity (its subject DN as
//!   Java prints it, see [`dn`]), plus `super` when it is `X509AuthenticationProvider.superUser`;
//!   the core only ever sees those identities.

pub mod dn;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use zk_proto::data::Id;

use super::{conn, IpCounts, RuntimeConfig, ToCore};
use crate::config::{ClientAuth, ConfigError, ServerConfig, X509Settings};
use crate::core::ConnId;

pub use store::{load_key_store, load_trust_store};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS record carrying a handshake (ClientHello).
const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// What a client listener speaks.
#[derive(Clone)]
pub enum Listener {
    Plain,
    /// `client.portUnification`: TLS if the first byte is a TLS handshake, else plaintext.
    Unified(Arc<ClientTls>),
    Tls(Arc<ClientTls>),
}

/// The server side of client TLS (`ssl.*`).
pub struct ClientTls {
    acceptor: TlsAcceptor,
    /// `X509AuthenticationProvider.superUser`.
    super_user: Option<String>,
    detect_timeout: Duration,
    /// `zookeeper.netty.server.outstandingHandshake.limit` (0: no limit), and the handshakes
    /// under way it is held against.
    handshake_limit: usize,
    handshakes: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("super_user", &self.super_user)
            .finish_non_exhaustive()
    }
}

/// TLS between servers (`sslQuorum`, `ssl.quorum.*`, `portUnification`).
pub struct QuorumTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    /// `portUnification`: the quorum and election ports accept both TLS and plaintext peers
    /// (for rolling an ensemble onto or off TLS).
    unified: bool,
    /// `sslQuorum`: dial the other servers with TLS.
    dial_tls: bool,
    /// `ssl.quorum.hostnameVerification`: an accepted peer's certificate must be for its
    /// address (the dialling side checks the name through its rustls verifier).
    verify_peer_host: bool,
    detect_timeout: Duration,
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumTls")
            .field("unified", &self.unified)
            .finish_non_exhaustive()
    }
}

/// Everything TLS the runtime needs; the default is no TLS at all.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Client TLS; `None` when neither `secureClientPort` nor `client.portUnification` is set.
    pub client: Option<Arc<ClientTls>>,
    /// The plaintext client port also accepts TLS (`client.portUnification`).
    pub unify_client_port: bool,
    /// Serve TLS only on [`RuntimeConfig::client_addr`] (zoo.cfg has `secureClientPort` and
    /// no `clientPort`).
    pub client_port_is_secure: bool,
    /// An extra TLS-only client listener (`secureClientPort` beside `clientPort`).
    pub secure_client_addr: Option<SocketAddr>,
    /// Quorum TLS (`sslQuorum=true`, or `portUnification=true` to accept it).
    pub quorum: Option<Arc<QuorumTls>>,
}

impl TlsSettings {
    /// The listener kind of the main client port.
    pub(crate) fn main_listener(&self) -> Listener {
        match &self.client {
            Some(t) if self.client_port_is_secure => Listener::Tls(t.clone()),
            Some(t) if self.unify_client_port => Listener::Unified(t.clone()),
            _ => Listener::Plain,
        }
    }

    /// Reads zoo.cfg's TLS settings and the stores they name. `secure_client_addr` is the
    /// resolved `secureClientPort` address when it is served beside a plaintext `clientPort`.
    pub fn from_config(
        cfg: &ServerConfig,
        secure_client_addr: Option<SocketAddr>,
        client_port_is_secure: bool,
    ) -> Result<Self, ConfigError> {
        let t = &cfg.tls;
        if let Some(p) = t.auth_provider.as_deref().filter(|p| *p != "x509") {
            return Err(cfg.tls_error(
                "ssl.authProvider",
                format!("'{p}': only the built-in 'x509' provider exists in zkrs"),
            ));
        }
        let wants_client_tls =
            secure_client_addr.is_some() || client_port_is_secure || t.client_port_unification;
        let client = if wants_client_tls {
            let server = server_config(cfg, "ssl.", &t.client)?;
            Some(Arc::new(ClientTls {
                acceptor: TlsAcceptor::from(Arc::new(server)),
                super_user: t.x509_super_user.clone(),
                detect_timeout: Duration::from_millis(u64::from(
                    t.client.handshake_detection_timeout_ms,
                )),
                handshake_limit: usize::try_from(t.outstanding_handshake_limit).unwrap_or(0),
                handshakes: Default::default(),
            }))
        } else {
            None
        };
        let quorum = if t.ssl_quorum || t.quorum_port_unification {
            let server = server_config(cfg, "ssl.quorum.", &t.quorum)?;
            let client = client_config(cfg, "ssl.quorum.", &t.quorum)?;
            Some(Arc::new(QuorumTls {
                acceptor: TlsAcceptor::from(Arc::new(server)),
                connector: TlsConnector::from(Arc::new(client)),
                unified: t.quorum_port_unification,
                dial_tls: t.ssl_quorum,
                verify_peer_host: t.quorum.hostname_verification,
                detect_timeout: Duration::from_millis(u64::from(
                    t.quorum.handshake_detection_timeout_ms,
                )),
            }))
        } else {
            None
        };
        Ok(TlsSettings {
            client,
            unify_client_port: t.client_port_unification,
            client_port_is_secure,
            secure_client_addr,
            quorum,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Building rustls configurations from X509Util settings

/// The ring provider restricted to `ciphersuites`, if given.
fn provider(
    cfg: &ServerConfig,
    prefix: &str,
    s: &X509Settings,
) -> Result<Arc<CryptoProvider>, ConfigError> {
    let mut p = rustls::crypto::ring::default_provider();
    if let Some(wanted) = &s.cipher_suites {
        let name_of = |cs: &rustls::SupportedCipherSuite| {
            // rustls calls TLS 1.3 suites TLS13_*; Java and IANA call them TLS_*.
            let n = format!("{:?}", cs.suite());
            n.strip_prefix("TLS13_")
                .map_or(n.clone(), |rest| format!("TLS_{rest}"))
        };
        let known: Vec<String> = p.cipher_suites.iter().map(name_of).collect();
        let unknown: Vec<&String> = wanted.iter().filter(|w| !known.contains(w)).collect();
        if !unknown.is_empty() || wanted.is_empty() {
            return Err(cfg.tls_error(
                &format!("{prefix}ciphersuites"),
                format!(
                    "not supported by rustls: {}; supported: {}",
                    if wanted.is_empty() {
                        "(empty list)".to_string()
                    } else {
                        unknown
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                    known.join(",")
                ),
            ));
        }
        p.cipher_suites.retain(|cs| wanted.contains(&name_of(cs)));
    }
    Ok(Arc::new(p))
}

/// `enabledProtocols` (else `protocol`); both TLS 1.2 and 1.3 when neither is set.
fn versions(
    cfg: &ServerConfig,
    prefix: &str,
    s: &X509Settings,
) -> Result<Vec<&'static SupportedProtocolVersion>, ConfigError> {
    let (key, list) = match (&s.enabled_protocols, &s.protocol) {
        (Some(l), _) => ("enabledProtocols", l.clone()),
        (None, Some(p)) => ("protocol", vec![p.clone()]),
        (None, None) => return Ok(rustls::DEFAULT_VERSIONS.to_vec()),
    };
    let mut out: Vec<&'static SupportedProtocolVersion> = Vec::new();
    for name in &list {
        let v: &[&'static SupportedProtocolVersion] = match name.as_str() {
            "TLSv1.3" => &[&rustls::version::TLS13],
            "TLSv1.2" => &[&rustls::version::TLS12],
            "TLS" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            other => {
                return Err(cfg.tls_error(
                    &format!("{prefix}{key}"),
                    format!("'{other}' is not supported: rustls speaks only TLSv1.2 and TLSv1.3"),
                ))
            }
        };
        for x in v {
            if !out.iter().any(|o| o.version == x.version) {
                out.push(x);
            }
        }
    }
    if out.is_empty() {
        return Err(cfg.tls_error(&format!("{prefix}{key}"), "no protocol given"));
    }
    Ok(out)
}

fn refuse_unsupported(
    cfg: &ServerConfig,
    prefix: &str,
    s: &X509Settings,
) -> Result<(), ConfigError> {
    if s.crl || s.ocsp {
        let key = if s.crl { "crl" } else { "ocsp" };
        return Err(cfg.tls_error(
            &format!("{prefix}{key}"),
            "certificate revocation checks (CRL/OCSP) are not supported by zkrs",
        ));
    }
    if let Some(class) = &s.context_supplier_class {
        return Err(cfg.tls_error(
            &format!("{prefix}context.supplier.class"),
            format!("'{class}' is a Java class; zkrs builds its TLS context from the key and trust stores"),
        ));
    }
    Ok(())
}

fn trust_roots(
    cfg: &ServerConfig,
    prefix: &str,
    s: &X509Settings,
) -> Result<Option<RootCertStore>, ConfigError> {
    match &s.trust_store_location {
        None => Ok(None),
        Some(path) => load_trust_store(path, s.trust_store_type)
            .map(Some)
            .map_err(|e| cfg.tls_error(&format!("{prefix}trustStore.location"), e)),
    }
}

/// The server side (accepting) of one `X509Util`.
fn server_config(
    cfg: &ServerConfig,
    prefix: &str,
    s: &X509Settings,
) -> Result<rustls::ServerConfig, ConfigError> {
    refuse_unsupported(cfg, prefix, s)?;
    let key_key = format!("{prefix}keyStore.location");
    let Some(key_path) = &s.key_store_location else {
        return Err(cfg.tls_error(
            &key_key,
            "a key store (this server's certificate and private key) is required for TLS",
        ));
    };
    let (certs, key) =
        load_key_store(key_path, s.key_store_type).map_err(|e| cfg.tls_error(&key_key, e))?;
    let provider = provider(cfg, prefix, s)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(cfg, prefix, s)?)
        .map_err(|e| cfg.tls_error(&format!("{prefix}enabledProtocols"), e.to_string()))?;
    let builder = match s.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let Some(roots) = trust_roots(cfg, prefix, s)? else {
                return Err(cfg.tls_error(
                    &format!("{prefix}trustStore.location"),
                    format!(
                        "a trust store is required to verify client certificates \
                         ({prefix}clientAuth={}); set {prefix}clientAuth=none to not ask for them",
                        if auth == ClientAuth::Want {
                            "want"
                        } else {
                            "need"
                        }
                    ),
                ));
            };
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if auth == ClientAuth::Want {
                v = v.allow_unauthenticated();
            }
            let v = v.build().map_err(|e| {
                cfg.tls_error(&format!("{prefix}trustStore.location"), e.to_string())
            })?;
            builder.with_client_cert_verifier(v)
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| cfg.tls_error(&key_key, format!("{}: {e}", key_path.display())))
}

/// The client side (dialling) of one `X509Util`: the quorum's learners and election dialers.
fn client_config(
    cfg: &ServerConfig,
    prefix: &str,
    s: &X509Settings,
) -> Result<rustls::ClientConfig, ConfigError> {
    refuse_unsupported(cfg, prefix, s)?;
    let provider = provider(cfg, prefix, s)?;
    let Some(roots) = trust_roots(cfg, prefix, s)? else {
        return Err(cfg.tls_error(
            &format!("{prefix}trustStore.location"),
            "a trust store is required to verify the other servers' certificates",
        ));
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(cfg, prefix, s)?)
        .map_err(|e| cfg.tls_error(&format!("{prefix}enabledProtocols"), e.to_string()))?;
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| cfg.tls_error(&format!("{prefix}trustStore.location"), e.to_string()))?;
    let builder = if s.hostname_verification {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
    };
    let key_key = format!("{prefix}keyStore.location");
    match &s.key_store_location {
        Some(path) => {
            let (certs, key) =
                load_key_store(path, s.key_store_type).map_err(|e| cfg.tls_error(&key_key, e))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| cfg.tls_error(&key_key, format!("{}: {e}", path.display())))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// A TLS client of this server's own client port, built from zoo.cfg's `ssl.*` settings (the key
/// store is the client certificate, the trust store verifies the server): `zk-server status` of a
/// server whose one client port is `secureClientPort`, as `zkServer.sh status` does with
/// `FourLetterWordMain ... srvr true`.
pub fn own_client_connector(cfg: &ServerConfig) -> Result<TlsConnector, ConfigError> {
    client_config(cfg, "ssl.", &cfg.tls.client).map(|c| TlsConnector::from(Arc::new(c)))
}

/// `hostnameVerification=false`: the chain must still lead to a trusted CA, but the name the
/// certificate is for is not compared with the host dialled.
#[derive(Debug)]
pub struct ChainOnly(pub Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// Client connections

/// What a client listener tells the monitor (`outstanding_tls_handshake`,
/// `unsuccessful_handshake`, `non_mtls_local_conn_count`, `non_mtls_remote_conn_count`,
/// `sessionless_connections_expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportEvent {
    HandshakeStarted,
    /// The handshake finished; `ok: false` when it failed, timed out or was abandoned
    /// (`unsuccessful_handshake`, and an authentication failure, as ZooKeeper counts it).
    HandshakeEnded {
        ok: bool,
    },
    /// A client connection that speaks plaintext, from a loopback address or not.
    Plaintext {
        loopback: bool,
    },
    /// A connection closed for sending no ConnectRequest in time
    /// (`sessionless_connections_expired`).
    SessionlessExpired,
    /// A TLS client refused because `outstandingHandshake.limit` handshakes were under way
    /// (`tls_handshake_exceeded`).
    HandshakeExceeded,
}

fn report(to_core: &mpsc::UnboundedSender<ToCore>, ev: TransportEvent) {
    let _ = to_core.send(ToCore::Transport(ev));
}

/// Waits (up to `limit`) for the client's first byte and tells whether it opens a TLS
/// handshake. A client that sends nothing in time is taken for a plaintext one, as ZooKeeper's
/// unified ports do; the plaintext reader then applies its own limits.
async fn starts_with_tls(stream: &TcpStream, limit: Duration) -> std::io::Result<bool> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(limit, stream.peek(&mut first)).await {
        Ok(Ok(0)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
        Ok(Ok(_)) => Ok(first[0] == TLS_HANDSHAKE_BYTE),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// Serves one accepted client connection of a listener: the handshake (if any) happens here,
/// on the connection's own task.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_client(
    listener: Listener,
    id: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    cfg: Arc<RuntimeConfig>,
    to_core: mpsc::UnboundedSender<ToCore>,
    counts: Arc<IpCounts>,
    shutdown: watch::Receiver<bool>,
) {
    let tls = match listener {
        Listener::Plain => None,
        Listener::Tls(t) => Some(t),
        Listener::Unified(t) => match starts_with_tls(&stream, t.detect_timeout).await {
            Ok(true) => Some(t),
            Ok(false) => None,
            Err(_) => {
                counts.remove(peer.ip());
                return;
            }
        },
    };
    let Some(tls) = tls else {
        report(
            &to_core,
            TransportEvent::Plaintext {
                loopback: peer.ip().is_loopback(),
            },
        );
        conn::serve(id, stream, peer, cfg, to_core, counts, shutdown).await;
        return;
    };
    // ZooKeeper's handshake throttling: beyond the limit, close before the handshake.
    let throttled = tls.handshake_limit > 0;
    if throttled {
        use std::sync::atomic::Ordering::SeqCst;
        if tls.handshakes.fetch_add(1, SeqCst) + 1 > tls.handshake_limit {
            tls.handshakes.fetch_sub(1, SeqCst);
            tracing::warn!(conn = id, %peer, limit = tls.handshake_limit, "too many TLS handshakes under way; closing");
            report(&to_core, TransportEvent::HandshakeExceeded);
            counts.remove(peer.ip());
            return;
        }
    }
    report(&to_core, TransportEvent::HandshakeStarted);
    let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await;
    if throttled {
        tls.handshakes
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
    report(
        &to_core,
        TransportEvent::HandshakeEnded {
            ok: matches!(accepted, Ok(Ok(_))),
        },
    );
    let stream = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(conn = id, %peer, error = %e, "TLS handshake failed; closing");
            counts.remove(peer.ip());
            return;
        }
        Err(_) => {
            tracing::warn!(conn = id, %peer, "TLS handshake timed out; closing");
            counts.remove(peer.ip());
            return;
        }
    };
    let ids = match stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
    {
        None => Vec::new(),
        Some(cert) => match dn::subject_rfc2253(cert.as_ref()) {
            Ok(subject) => tls.identities(subject),
            Err(e) => {
                tracing::warn!(conn = id, %peer, error = %e, "client certificate subject unreadable; closing");
                counts.remove(peer.ip());
                return;
            }
        },
    };
    if let Some(x) = ids.iter().find(|i| i.scheme == "x509") {
        tracing::info!(conn = id, %peer, "Authenticated Id '{}' for scheme 'x509'", x.id);
    }
    let (rd, wr) = tokio::io::split(stream);
    conn::serve_io(id, rd, wr, peer, ids, cfg, to_core, counts, shutdown).await;
}

impl ClientTls {
    /// The identities a verified certificate with this subject gets (X509AuthenticationProvider).
    fn identities(&self, subject: String) -> Vec<Id> {
        let mut ids = Vec::with_capacity(2);
        if self.super_user.as_deref() == Some(subject.as_str()) {
            ids.push(Id::new("super", &subject));
        }
        ids.push(Id::new("x509", &subject));
        ids
    }
}

// ---------------------------------------------------------------------------------------------
// Quorum and election connections

/// A byte stream to another server, TLS or not.
pub(crate) trait PeerIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> PeerIo for T {}
pub(crate) type PeerStream = Box<dyn PeerIo>;

/// The accepting side of a quorum or election connection. `members` are the hosts of the
/// `server.N` lines: with hostname verification the peer's certificate must be valid for its
/// IP address, or for one of those names that resolves to that address (ZooKeeper looks the
/// name up from the address instead).
pub(crate) async fn accept_peer<'a>(
    tls: Option<&QuorumTls>,
    stream: TcpStream,
    members: impl Iterator<Item = &'a str>,
) -> std::io::Result<PeerStream> {
    let Some(tls) = tls else {
        return Ok(Box::new(stream));
    };
    if tls.unified && !starts_with_tls(&stream, tls.detect_timeout).await? {
        return Ok(Box::new(stream));
    }
    let peer_ip = stream.peer_addr()?.ip();
    let s = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
        })??;
    if tls.verify_peer_host {
        if let Some(cert) = s.get_ref().1.peer_certificates().and_then(|c| c.first()) {
            let cert = cert.clone();
            check_peer_host(&cert, peer_ip, members).await?;
        }
    }
    Ok(Box::new(s))
}

async fn check_peer_host<'a>(
    cert: &CertificateDer<'_>,
    ip: std::net::IpAddr,
    members: impl Iterator<Item = &'a str>,
) -> std::io::Result<()> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, m);
    let ee = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| bad(format!("unreadable peer certificate: {e}")))?;
    if ee
        .verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
        .is_ok()
    {
        return Ok(());
    }
    let names: Vec<String> = members
        .filter(|h| h.parse::<std::net::IpAddr>().is_err())
        .map(str::to_string)
        .collect();
    for name in names {
        let Ok(server_name) = ServerName::try_from(name.clone()) else {
            continue;
        };
        if ee.verify_is_valid_for_subject_name(&server_name).is_err() {
            continue;
        }
        let resolved = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((name.as_str(), 0)),
        )
        .await;
        if let Ok(Ok(mut addrs)) = resolved {
            if addrs.any(|a| a.ip() == ip) {
                return Ok(());
            }
        }
    }
    Err(bad(format!(
        "the peer's certificate is not valid for its address {ip} \
         (ssl.quorum.hostnameVerification)"
    )))
}

/// The dialling side of a quorum or election connection to `host` (as on its server.N line).
pub(crate) async fn connect_peer(
    tls: Option<&QuorumTls>,
    stream: TcpStream,
    host: &str,
) -> std::io::Result<PeerStream> {
    let Some(tls) = tls.filter(|t| t.dial_tls) else {
        return Ok(Box::new(stream));
    };
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let s = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.connector.connect(name, stream))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
        })??;
    Ok(Box::new(s))
}

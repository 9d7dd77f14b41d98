//! TLS to the server's secure client port (rustls with the ring provider), configured as Apache
//! ZooKeeper's Java client is: `zookeeper.client.secure=true` and the `zookeeper.ssl.*` keys
//! (PEM stores only).
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use zk_client::{tls::TlsOptions, Client};
//! let tls = TlsOptions::new("ca.pem").key_store("client.pem").build()?;
//! let client = Client::builder().tls(tls).connect("127.0.0.1:2281").await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::conn::{BoxStream, Connector};
use crate::connect_string::HostPort;

/// A TLS setting that cannot be used; the message names the setting or file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// What the Java client reads from `zookeeper.ssl.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// `zookeeper.ssl.trustStore.location`: CA certificates (PEM) the server's certificate
    /// must chain to.
    pub trust_store: PathBuf,
    /// `zookeeper.ssl.keyStore.location`: this client's private key and certificate chain in
    /// one PEM file, for servers that ask for client certificates.
    pub key_store: Option<PathBuf>,
    /// `zookeeper.ssl.hostnameVerification` (default true): the server's certificate must be
    /// for the host (name or IP) in the connect string.
    pub hostname_verification: bool,
    /// `zookeeper.ssl.enabledProtocols` (else `zookeeper.ssl.protocol`): TLSv1.2 and/or
    /// TLSv1.3; both when unset.
    pub protocols: Option<Vec<String>>,
    /// `zookeeper.ssl.ciphersuites` (Java/IANA names); rustls' defaults when unset.
    pub cipher_suites: Option<Vec<String>>,
}

impl TlsOptions {
    pub fn new(trust_store: impl Into<PathBuf>) -> Self {
        TlsOptions {
            trust_store: trust_store.into(),
            key_store: None,
            hostname_verification: true,
            protocols: None,
            cipher_suites: None,
        }
    }

    pub fn key_store(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_store = Some(path.into());
        self
    }

    pub fn hostname_verification(mut self, on: bool) -> Self {
        self.hostname_verification = on;
        self
    }

    /// From Java client properties (`zookeeper.client.secure`, `zookeeper.ssl.*`), as in a
    /// `-client-configuration` file. `Ok(None)` when `zookeeper.client.secure` is not true.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Option<Self>, TlsError> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if !get("zookeeper.client.secure").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        for (k, what) in [
            ("zookeeper.ssl.crl", "certificate revocation lists"),
            ("zookeeper.ssl.ocsp", "OCSP"),
        ] {
            if get(k).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                return Err(TlsError(format!("{k}: {what} are not supported by zkrs")));
            }
        }
        for k in [
            "zookeeper.ssl.keyStore.type",
            "zookeeper.ssl.trustStore.type",
        ] {
            if let Some(t) = get(k).filter(|t| !t.eq_ignore_ascii_case("PEM")) {
                return Err(TlsError(format!(
                    "{k}={t}: only PEM stores are supported by zkrs; convert with \
                     `openssl pkcs12 -in STORE -nodes -out STORE.pem`"
                )));
            }
        }
        let Some(trust) = get("zookeeper.ssl.trustStore.location") else {
            return Err(TlsError(
                "zookeeper.ssl.trustStore.location is required with zookeeper.client.secure=true \
                 (the CA certificates that signed the server's certificate, PEM)"
                    .into(),
            ));
        };
        let mut o = TlsOptions::new(trust);
        o.key_store = get("zookeeper.ssl.keyStore.location").map(PathBuf::from);
        if let Some(v) = get("zookeeper.ssl.hostnameVerification") {
            o.hostname_verification = match v.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(TlsError(format!(
                        "zookeeper.ssl.hostnameVerification: expected true or false, got '{v}'"
                    )))
                }
            };
        }
        let list = |v: &str| v.split(',').map(|s| s.trim().to_string()).collect();
        o.protocols = get("zookeeper.ssl.enabledProtocols")
            .or_else(|| get("zookeeper.ssl.protocol"))
            .map(list);
        o.cipher_suites = get("zookeeper.ssl.ciphersuites").map(list);
        Ok(Some(o))
    }

    /// Reads the stores and builds the rustls configuration.
    pub fn build(&self) -> Result<TlsConfig, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(wanted) = &self.cipher_suites {
            let name_of = |cs: &rustls::SupportedCipherSuite| {
                let n = format!("{:?}", cs.suite());
                n.strip_prefix("TLS13_")
                    .map_or(n.clone(), |rest| format!("TLS_{rest}"))
            };
            let known: Vec<String> = provider.cipher_suites.iter().map(name_of).collect();
            if let Some(bad) = wanted.iter().find(|w| !known.contains(w)) {
                return Err(TlsError(format!(
                    "cipher suite {bad} is not supported by rustls; supported: {}",
                    known.join(",")
                )));
            }
            provider
                .cipher_suites
                .retain(|cs| wanted.contains(&name_of(cs)));
        }
        let provider = Arc::new(provider);
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        match &self.protocols {
            None => versions.extend(rustls::DEFAULT_VERSIONS),
            Some(list) => {
                for p in list {
                    match p.as_str() {
                        "TLSv1.3" => versions.push(&rustls::version::TLS13),
                        "TLSv1.2" => versions.push(&rustls::version::TLS12),
                        "TLS" => versions.extend(rustls::DEFAULT_VERSIONS),
                        other => {
                            return Err(TlsError(format!(
                                "protocol {other} is not supported: rustls speaks only TLSv1.2 \
                                 and TLSv1.3"
                            )))
                        }
                    }
                }
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(u16::from(v.version)));
        versions.dedup_by_key(|v| v.version);
        let roots = load_roots(&self.trust_store)?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError(e.to_string()))?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError(format!("{}: {e}", self.trust_store.display())))?;
        let builder = if self.hostname_verification {
            builder.with_webpki_verifier(verifier)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
        };
        let config = match &self.key_store {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let (certs, key) = load_key_store(path)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| TlsError(format!("{}: {e}", path.display())))?
            }
        };
        Ok(TlsConfig(Arc::new(config)))
    }
}

/// A ready client TLS configuration (cheap to clone).
#[derive(Debug, Clone)]
pub struct TlsConfig(Arc<rustls::ClientConfig>);

impl TlsConfig {
    /// Any rustls client configuration.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> Self {
        TlsConfig(config)
    }

    /// Opens TCP, then TLS with the host of the connect string as the server name.
    pub(crate) fn connector(&self) -> Connector {
        let tls = TlsConnector::from(self.0.clone());
        Arc::new(move |host: &HostPort| {
            let addr = host.to_addr_string();
            let name = ServerName::try_from(host.host.clone());
            let tls = tls.clone();
            Box::pin(async move {
                let name =
                    name.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let s = TcpStream::connect(addr).await?;
                let _ = s.set_nodelay(true);
                let s = tls.connect(name, s).await?;
                Ok(Box::new(s) as BoxStream)
            })
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("cannot read {}: {e}", path.display())))
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let bytes = read(path)?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&bytes) {
        let c = c.map_err(|e| TlsError(format!("{}: bad PEM certificate: {e}", path.display())))?;
        roots
            .add(c)
            .map_err(|e| TlsError(format!("{}: unusable CA certificate: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(TlsError(format!(
            "{}: no certificate (-----BEGIN CERTIFICATE-----) in the trust store",
            path.display()
        )));
    }
    Ok(roots)
}

fn load_key_store(
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let bytes = read(path)?;
    if String::from_utf8_lossy(&bytes).contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(TlsError(format!(
            "{}: encrypted private keys are not supported; decrypt with `openssl pkey`",
            path.display()
        )));
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("{}: bad PEM certificate: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{}: no certificate in the key store; it must hold the private key and its \
             certificate chain",
            path.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| TlsError(format!("{}: no usable private key: {e}", path.display())))?;
    Ok((certs, key))
}

/// `hostnameVerification=false`: the chain is verified, the name is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Java properties text (`key=value`, `key: value`, `#`/`!` comments), as a
/// `-client-configuration` file holds; backslash line continuations are not needed there.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let cut = line
            .find(['=', ':'])
            .or_else(|| line.find(char::is_whitespace))
            .unwrap_or(line.len());
        let key = line[..cut].trim();
        let value = line.get(cut + 1..).unwrap_or("").trim();
        out.insert(key.to_string(), value.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_and_secure_flag() {
        let p = parse_properties(
            "# comment\nzookeeper.client.secure=true\nzookeeper.ssl.trustStore.location = /ca.pem\n\
             zookeeper.ssl.keyStore.location: /k.pem\nzookeeper.ssl.hostnameVerification=false\n",
        );
        let o = TlsOptions::from_properties(&p).unwrap().unwrap();
        assert_eq!(o.trust_store, PathBuf::from("/ca.pem"));
        assert_eq!(o.key_store, Some(PathBuf::from("/k.pem")));
        assert!(!o.hostname_verification);
        let plain = parse_properties("zookeeper.ssl.trustStore.location=/ca.pem\n");
        assert_eq!(TlsOptions::from_properties(&plain).unwrap(), None);
    }

    #[test]
    fn unusable_settings_are_refused_by_name() {
        let p = parse_properties("zookeeper.client.secure=true\n");
        let e = TlsOptions::from_properties(&p).unwrap_err();
        assert!(e.0.contains("zookeeper.ssl.trustStore.location"), "{e}");
        let p = parse_properties(
            "zookeeper.client.secure=true\nzookeeper.ssl.trustStore.location=/t.jks\n\
             zookeeper.ssl.trustStore.type=JKS\n",
        );
        let e = TlsOptions::from_properties(&p).unwrap_err();
        assert!(e.0.contains("trustStore.type=JKS"), "{e}");
        let e = TlsOptions::new("/nonexistent/ca.pem").build().unwrap_err();
        assert!(e.0.contains("/nonexistent/ca.pem"), "{e}");
        let mut o = TlsOptions::new("/nonexistent/ca.pem");
        o.protocols = Some(vec!["TLSv1.1".into()]);
        assert!(o.build().unwrap_err().0.contains("TLSv1.1"));
    }
}

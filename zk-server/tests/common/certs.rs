//! Test certificates made with rcgen: a CA, a server certificate for 127.0.0.1/localhost, and
//! client certificates, written as PEM files the way ZooKeeper's PEM stores hold them (a key
//! store is the private key and the certificate in one file).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

pub struct Ca {
    cert: Certificate,
    key: KeyPair,
    /// The CA certificate as a PEM trust store.
    pub trust_store: PathBuf,
}

/// A PEM key store (private key + certificate) in `dir`.
pub struct Identity {
    pub key_store: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        let trust_store = dir.join(format!("{name}.pem"));
        std::fs::write(&trust_store, cert.pem()).unwrap();
        Ca {
            cert,
            key,
            trust_store,
        }
    }

    /// A certificate for `127.0.0.1` and `localhost`, usable by servers (and, for the quorum,
    /// as a client of the other servers).
    pub fn server(&self, dir: &Path, file: &str) -> Identity {
        self.server_for(dir, file, &["127.0.0.1", "localhost"])
    }

    /// A server certificate for the given names and addresses only.
    pub fn server_for(&self, dir: &Path, file: &str, names: &[&str]) -> Identity {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        // rcgen starts with a CN of its own; the subject is encoded in push order.
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, "zkrs");
        p.distinguished_name.push(DnType::CommonName, "server");
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.issue(p, dir, file)
    }

    /// A client certificate with subject `CN=<cn>,O=zkrs` (as Java prints it).
    pub fn client(&self, dir: &Path, file: &str, cn: &str) -> Identity {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, "zkrs");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(p, dir, file)
    }

    fn issue(&self, p: CertificateParams, dir: &Path, file: &str) -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let key_store = dir.join(file);
        std::fs::write(&key_store, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
        Identity { key_store }
    }
}

/// A rustls client that trusts the CA certificates in `trust_store` and presents the certificate
/// and key of `key_store` (PEM files, as [`Ca`] writes them).
pub fn client_rustls(trust_store: &Path, key_store: &Path) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(trust_store).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let certs: Vec<_> = CertificateDer::pem_file_iter(key_store)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key_store).unwrap();
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(certs, key)
    .unwrap()
}

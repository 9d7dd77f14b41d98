//! Key and trust stores. Only PEM is read: ZooKeeper's PEM key store is one file holding the
//! private key and the certificate chain; its PEM trust store holds CA certificates.
//! PKCS12, JKS and BCFKS stores are refused with the command that converts them, since no
//! well-kept pure-Rust crate reads them.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use crate::config::StoreType;

fn store_type(path: &Path, explicit: Option<StoreType>) -> Result<StoreType, String> {
    let t = explicit
        .or_else(|| StoreType::from_file_name(path))
        .ok_or_else(|| {
            format!(
                "{}: cannot tell the store type from the file name; set the matching *.type key \
             (PEM, PKCS12, JKS or BCFKS)",
                path.display()
            )
        })?;
    match t {
        StoreType::Pem => Ok(t),
        StoreType::Pkcs12 => Err(format!(
            "{}: PKCS12 stores are not supported by zkrs; convert to PEM with \
             `openssl pkcs12 -in {} -nodes -out store.pem`",
            path.display(),
            path.display()
        )),
        StoreType::Jks | StoreType::Bcfks => Err(format!(
            "{}: {} stores are not supported by zkrs; convert to PKCS12 with `keytool \
             -importkeystore -srckeystore {} -destkeystore store.p12 -deststoretype PKCS12`, \
             then to PEM with `openssl pkcs12 -in store.p12 -nodes -out store.pem`",
            path.display(),
            t.name(),
            path.display()
        )),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A PEM key store: the private key and the certificate chain (leaf first), in one file.
pub fn load_key_store(
    path: &Path,
    explicit: Option<StoreType>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    store_type(path, explicit)?;
    let bytes = read(path)?;
    if String::from_utf8_lossy(&bytes).contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(format!(
            "{}: encrypted private keys are not supported by zkrs; decrypt it with \
             `openssl pkey -in KEY -out KEY.pem` and keep the file readable only by the server",
            path.display()
        ));
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate (-----BEGIN CERTIFICATE-----) in the key store; it must hold \
             the private key and its certificate chain",
            path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!(
            "{}: no usable private key (PKCS#8, PKCS#1 or SEC1 PEM) in the key store: {e}",
            path.display()
        )
    })?;
    Ok((certs, key))
}

/// A PEM trust store: one or more CA certificates.
pub fn load_trust_store(path: &Path, explicit: Option<StoreType>) -> Result<RootCertStore, String> {
    store_type(path, explicit)?;
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate (-----BEGIN CERTIFICATE-----) in the trust store",
            path.display()
        ));
    }
    let mut roots = RootCertStore::empty();
    for (i, c) in certs.into_iter().enumerate() {
        roots.add(c).map_err(|e| {
            format!(
                "{}: certificate {} is not a usable CA certificate: {e}",
                path.display(),
                i + 1
            )
        })?;
    }
    Ok(roots)
}

//! TLS settings: ZooKeeper's `X509Util` keys for client connections (`ssl.*`, system
//! properties `zookeeper.ssl.*`, read by `ClientX509Util`) and for the quorum (`ssl.quorum.*`,
//! `QuorumX509Util`), plus `client.portUnification` and the x509 auth provider's super user.
//!
//! The values are only parsed here (`&str` in, typed out); `runtime::tls` reads the key and
//! trust store files and builds the rustls configurations, and it is there that a store that
//! cannot be used stops start-up.

use std::path::PathBuf;

use super::{parse_bool, parse_int, parse_non_negative, ConfigError, Loc, PropDef, ServerConfig};

/// `ssl.clientAuth`: whether the server asks for a client certificate (X509Util.ClientAuth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// Do not ask for one.
    None,
    /// Ask; a client without one is still served (without an x509 identity).
    Want,
    /// Ask, and refuse the handshake without one. ZooKeeper's default.
    #[default]
    Need,
}

/// `ssl.keyStore.type` / `ssl.trustStore.type` (ZooKeeper's `KeyStoreFileType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Pem,
    Pkcs12,
    Jks,
    Bcfks,
}

impl StoreType {
    fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_uppercase().as_str() {
            "PEM" => Some(Self::Pem),
            "PKCS12" => Some(Self::Pkcs12),
            "JKS" => Some(Self::Jks),
            "BCFKS" => Some(Self::Bcfks),
            _ => None,
        }
    }

    /// ZooKeeper infers the type from the file name when none is given.
    pub fn from_file_name(path: &std::path::Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "pem" | "crt" | "cert" | "key" => Some(Self::Pem),
            "p12" | "pfx" => Some(Self::Pkcs12),
            "jks" => Some(Self::Jks),
            "bcfks" => Some(Self::Bcfks),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pem => "PEM",
            Self::Pkcs12 => "PKCS12",
            Self::Jks => "JKS",
            Self::Bcfks => "BCFKS",
        }
    }
}

/// One `X509Util`'s settings: `ssl.<name>` for client connections, `ssl.quorum.<name>` for
/// the quorum and election ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Settings {
    /// `keyStore.location`: this side's certificate chain and private key.
    pub key_store_location: Option<PathBuf>,
    /// `keyStore.password`: only meaningful for encrypted keys.
    pub key_store_password: Option<String>,
    /// `keyStore.passwordPath`: a file holding that password.
    pub key_store_password_path: Option<PathBuf>,
    /// `keyStore.type`; `None`: inferred from the file name.
    pub key_store_type: Option<StoreType>,
    /// `trustStore.location`: the CA certificates the other side's certificate must chain to.
    pub trust_store_location: Option<PathBuf>,
    /// `trustStore.password`.
    pub trust_store_password: Option<String>,
    /// `trustStore.passwordPath`.
    pub trust_store_password_path: Option<PathBuf>,
    /// `trustStore.type`; `None`: inferred from the file name.
    pub trust_store_type: Option<StoreType>,
    /// `protocol` (Java's default TLSv1.2), used when `enabledProtocols` is not set.
    pub protocol: Option<String>,
    /// `enabledProtocols`, comma-separated.
    pub enabled_protocols: Option<Vec<String>>,
    /// `ciphersuites`, comma-separated Java (IANA) names.
    pub cipher_suites: Option<Vec<String>>,
    /// `clientAuth` (default need).
    pub client_auth: ClientAuth,
    /// `hostnameVerification` (default true): a client checks the server's name (or IP)
    /// against its certificate.
    pub hostname_verification: bool,
    /// `handshakeDetectionTimeoutMillis` (default 5000): how long a unified port waits for a
    /// client's first byte.
    pub handshake_detection_timeout_ms: u32,
    /// `crl` / `ocsp`: revocation checks (not supported; refused when true).
    pub crl: bool,
    pub ocsp: bool,
    /// `context.supplier.class`: a Java class; refused.
    pub context_supplier_class: Option<String>,
}

impl Default for X509Settings {
    fn default() -> Self {
        Self {
            key_store_location: None,
            key_store_password: None,
            key_store_password_path: None,
            key_store_type: None,
            trust_store_location: None,
            trust_store_password: None,
            trust_store_password_path: None,
            trust_store_type: None,
            protocol: None,
            enabled_protocols: None,
            cipher_suites: None,
            client_auth: ClientAuth::Need,
            hostname_verification: true,
            handshake_detection_timeout_ms: 5000,
            crl: false,
            ocsp: false,
            context_supplier_class: None,
        }
    }
}

/// Everything TLS in zoo.cfg.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsConfig {
    /// `ssl.*` (ClientX509Util): the secure client port.
    pub client: X509Settings,
    /// `ssl.quorum.*` (QuorumX509Util): quorum and election connections.
    pub quorum: X509Settings,
    /// `sslQuorum`: TLS between servers.
    pub ssl_quorum: bool,
    /// `portUnification`: the quorum ports also accept the other kind (TLS or plaintext),
    /// for rolling an ensemble over to TLS.
    pub quorum_port_unification: bool,
    /// `client.portUnification` (system property `zookeeper.client.portUnification`): the
    /// plaintext client port also accepts TLS clients.
    pub client_port_unification: bool,
    /// `ssl.authProvider` (default `x509`): the scheme a client certificate authenticates as.
    pub auth_provider: Option<String>,
    /// `X509AuthenticationProvider.superUser`: a certificate subject DN that is `super`.
    pub x509_super_user: Option<String>,
    /// `zookeeper.netty.server.outstandingHandshake.limit` (default -1): when above 0, client
    /// TLS handshakes beyond this many at once are refused (`tls_handshake_exceeded`).
    pub outstanding_handshake_limit: i32,
}

/// The `X509Util` key names after the prefix.
const X509_NAMES: &[&str] = &[
    "keyStore.location",
    "keyStore.password",
    "keyStore.passwordPath",
    "keyStore.type",
    "trustStore.location",
    "trustStore.password",
    "trustStore.passwordPath",
    "trustStore.type",
    "protocol",
    "enabledProtocols",
    "ciphersuites",
    "clientAuth",
    "hostnameVerification",
    "handshakeDetectionTimeoutMillis",
    "crl",
    "ocsp",
    "context.supplier.class",
];

const fn zk(short: &'static str) -> PropDef {
    PropDef {
        short,
        prefixed: true,
    }
}

/// Every TLS system property, by its name without `zookeeper.` (how zoo.cfg writes it).
pub(super) const PROPS: &[PropDef] = &[
    zk("ssl.keyStore.location"),
    zk("ssl.keyStore.password"),
    zk("ssl.keyStore.passwordPath"),
    zk("ssl.keyStore.type"),
    zk("ssl.trustStore.location"),
    zk("ssl.trustStore.password"),
    zk("ssl.trustStore.passwordPath"),
    zk("ssl.trustStore.type"),
    zk("ssl.protocol"),
    zk("ssl.enabledProtocols"),
    zk("ssl.ciphersuites"),
    zk("ssl.clientAuth"),
    zk("ssl.hostnameVerification"),
    zk("ssl.handshakeDetectionTimeoutMillis"),
    zk("ssl.crl"),
    zk("ssl.ocsp"),
    zk("ssl.context.supplier.class"),
    zk("ssl.quorum.keyStore.location"),
    zk("ssl.quorum.keyStore.password"),
    zk("ssl.quorum.keyStore.passwordPath"),
    zk("ssl.quorum.keyStore.type"),
    zk("ssl.quorum.trustStore.location"),
    zk("ssl.quorum.trustStore.password"),
    zk("ssl.quorum.trustStore.passwordPath"),
    zk("ssl.quorum.trustStore.type"),
    zk("ssl.quorum.protocol"),
    zk("ssl.quorum.enabledProtocols"),
    zk("ssl.quorum.ciphersuites"),
    zk("ssl.quorum.clientAuth"),
    zk("ssl.quorum.hostnameVerification"),
    zk("ssl.quorum.handshakeDetectionTimeoutMillis"),
    zk("ssl.quorum.crl"),
    zk("ssl.quorum.ocsp"),
    zk("ssl.quorum.context.supplier.class"),
    zk("ssl.authProvider"),
    zk("ssl.sslProvider"),
    zk("client.portUnification"),
    zk("X509AuthenticationProvider.superUser"),
    zk("netty.server.outstandingHandshake.limit"),
    // NIO or Netty in ZooKeeper (TLS needs Netty there); zkrs has one connection layer.
    zk("serverCnxnFactory"),
];

/// The auth provider classes zkrs implements (`authProvider.N=<class>` naming one of these
/// needs no warning: the scheme is built in).
pub(super) const BUILT_IN_AUTH_PROVIDERS: &[&str] = &[
    "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
    "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
    "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
];

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

/// Sets a TLS setting by its short name; `Ok(false)` if `short` is not one.
pub(super) fn set_prop(
    cfg: &mut ServerConfig,
    short: &str,
    value: &str,
    loc: Loc<'_>,
) -> Result<bool, ConfigError> {
    let tls = &mut cfg.tls;
    match short {
        "ssl.authProvider" => {
            tls.auth_provider = non_empty(value);
            return Ok(true);
        }
        // Netty's JDK/OPENSSL choice, and NIO vs Netty: zkrs has one of each.
        "ssl.sslProvider" | "serverCnxnFactory" => return Ok(true),
        "client.portUnification" => {
            tls.client_port_unification = parse_bool(loc, value)?;
            return Ok(true);
        }
        "X509AuthenticationProvider.superUser" => {
            tls.x509_super_user = non_empty(value);
            return Ok(true);
        }
        "netty.server.outstandingHandshake.limit" => {
            tls.outstanding_handshake_limit = parse_int(loc, value)?;
            return Ok(true);
        }
        _ => {}
    }
    let (settings, name) = if let Some(name) = short.strip_prefix("ssl.quorum.") {
        (&mut tls.quorum, name)
    } else if let Some(name) = short.strip_prefix("ssl.") {
        (&mut tls.client, name)
    } else {
        return Ok(false);
    };
    if !X509_NAMES.contains(&name) {
        return Ok(false);
    }
    let store_type = |v: &str| {
        if v.is_empty() {
            return Ok(None);
        }
        StoreType::parse(v).map(Some).ok_or_else(|| {
            loc.err(format!(
                "unknown store type '{v}' (expected PEM, PKCS12, JKS or BCFKS)"
            ))
        })
    };
    match name {
        "keyStore.location" => settings.key_store_location = non_empty(value).map(PathBuf::from),
        "keyStore.password" => settings.key_store_password = non_empty(value),
        "keyStore.passwordPath" => {
            settings.key_store_password_path = non_empty(value).map(PathBuf::from);
        }
        "keyStore.type" => settings.key_store_type = store_type(value)?,
        "trustStore.location" => {
            settings.trust_store_location = non_empty(value).map(PathBuf::from);
        }
        "trustStore.password" => settings.trust_store_password = non_empty(value),
        "trustStore.passwordPath" => {
            settings.trust_store_password_path = non_empty(value).map(PathBuf::from);
        }
        "trustStore.type" => settings.trust_store_type = store_type(value)?,
        "protocol" => settings.protocol = non_empty(value),
        "enabledProtocols" => settings.enabled_protocols = Some(split_list(value)),
        "ciphersuites" => settings.cipher_suites = Some(split_list(value)),
        "clientAuth" => {
            settings.client_auth = match value.to_ascii_lowercase().as_str() {
                // ClientAuth.fromPropertyValue: empty means NEED.
                "" | "need" => ClientAuth::Need,
                "want" => ClientAuth::Want,
                "none" => ClientAuth::None,
                _ => {
                    return Err(loc.err(format!(
                        "invalid value '{value}' (expected 'none', 'want' or 'need')"
                    )))
                }
            };
        }
        "hostnameVerification" => settings.hostname_verification = parse_bool(loc, value)?,
        "handshakeDetectionTimeoutMillis" => {
            settings.handshake_detection_timeout_ms = parse_non_negative(loc, value)?;
        }
        "crl" => settings.crl = parse_bool(loc, value)?,
        "ocsp" => settings.ocsp = parse_bool(loc, value)?,
        "context.supplier.class" => settings.context_supplier_class = non_empty(value),
        _ => return Ok(false),
    }
    Ok(true)
}

impl ServerConfig {
    /// An error about a TLS setting, located at the zoo.cfg line that set `key` (when it came
    /// from zoo.cfg) and naming the key.
    pub fn tls_error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let short = key.strip_prefix("zookeeper.").unwrap_or(key);
        let loc = Loc {
            file: &self.config_file,
            line: self.origin.get(short).copied(),
            key: Some(short),
        };
        loc.err(message)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::{apply_jvm_flags_from, parse};
    use super::*;

    const CFG: &str = "dataDir=/d
clientPort=2181
secureClientPort=2281
sslQuorum=true
portUnification=false
client.portUnification=true
authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider
ssl.keyStore.location=/etc/zk/server.pem
ssl.keyStore.password=
ssl.trustStore.location=/etc/zk/ca.pem
ssl.trustStore.type=pem
ssl.clientAuth=want
ssl.hostnameVerification=false
ssl.enabledProtocols=TLSv1.3, TLSv1.2
ssl.ciphersuites=TLS_AES_128_GCM_SHA256
zookeeper.ssl.quorum.keyStore.location=/etc/zk/quorum.pem
ssl.quorum.trustStore.location=/etc/zk/quorum-ca.pem
X509AuthenticationProvider.superUser=CN=admin,O=zkrs
";

    #[test]
    fn zoo_cfg_tls_keys_are_read_without_warnings() {
        let (c, w) = parse(CFG, Path::new("zoo.cfg")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let t = &c.tls;
        assert!(t.ssl_quorum && t.client_port_unification && !t.quorum_port_unification);
        assert_eq!(c.secure_client_port, Some(2281));
        assert_eq!(
            t.client.key_store_location,
            Some(PathBuf::from("/etc/zk/server.pem"))
        );
        assert_eq!(t.client.key_store_password, None);
        assert_eq!(t.client.trust_store_type, Some(StoreType::Pem));
        assert_eq!(t.client.client_auth, ClientAuth::Want);
        assert!(!t.client.hostname_verification);
        assert_eq!(
            t.client.enabled_protocols,
            Some(vec!["TLSv1.3".to_string(), "TLSv1.2".to_string()])
        );
        assert_eq!(
            t.client.cipher_suites,
            Some(vec!["TLS_AES_128_GCM_SHA256".to_string()])
        );
        // The quorum has its own X509Util: ssl.quorum.* only.
        assert_eq!(
            t.quorum.key_store_location,
            Some(PathBuf::from("/etc/zk/quorum.pem"))
        );
        assert_eq!(t.quorum.client_auth, ClientAuth::Need);
        assert!(t.quorum.hostname_verification);
        assert_eq!(t.x509_super_user.as_deref(), Some("CN=admin,O=zkrs"));
    }

    #[test]
    fn the_outstanding_handshake_limit_is_read_and_checked() {
        let (mut c, _) = parse("dataDir=/d\nclientPort=2181\n", Path::new("zoo.cfg")).unwrap();
        assert_eq!(c.tls.outstanding_handshake_limit, 0, "off by default");
        let w = apply_jvm_flags_from(
            &mut c,
            "-Dzookeeper.netty.server.outstandingHandshake.limit=3",
            Path::new("SERVER_JVMFLAGS"),
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.tls.outstanding_handshake_limit, 3);
        let e = parse(
            "dataDir=/d\nclientPort=2181\nnetty.server.outstandingHandshake.limit=many\n",
            Path::new("zoo.cfg"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("zoo.cfg") && e.contains("netty.server.outstandingHandshake.limit"),
            "{e}"
        );
    }

    #[test]
    fn system_property_forms_work_as_jvm_flags() {
        let (mut c, _) = parse("dataDir=/d\nclientPort=2181\n", Path::new("zoo.cfg")).unwrap();
        let w = apply_jvm_flags_from(
            &mut c,
            "-Dzookeeper.ssl.keyStore.location=/k.pem -Dzookeeper.ssl.clientAuth=none \
             -Dzookeeper.client.portUnification=true",
            Path::new("SERVER_JVMFLAGS"),
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            c.tls.client.key_store_location,
            Some(PathBuf::from("/k.pem"))
        );
        assert_eq!(c.tls.client.client_auth, ClientAuth::None);
        assert!(c.tls.client_port_unification);
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        for (line, want) in [
            ("ssl.clientAuth=maybe", "expected 'none', 'want' or 'need'"),
            ("ssl.keyStore.type=PKCS11", "unknown store type 'PKCS11'"),
            ("sslQuorum=yes", "invalid boolean 'yes'"),
            (
                "ssl.quorum.hostnameVerification=nope",
                "invalid boolean 'nope'",
            ),
        ] {
            let text = format!("dataDir=/d\nclientPort=2181\n{line}\n");
            let e = parse(&text, Path::new("zoo.cfg")).unwrap_err();
            let key = line.split('=').next().unwrap();
            assert_eq!(e.line, Some(3), "{e}");
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn an_unknown_auth_provider_class_is_still_warned_about() {
        let (_, w) = parse(
            "dataDir=/d\nclientPort=2181\nauthProvider.1=com.example.Sasl\n",
            Path::new("zoo.cfg"),
        )
        .unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn store_types_are_inferred_from_file_names() {
        for (f, t) in [
            ("a.pem", Some(StoreType::Pem)),
            ("a.P12", Some(StoreType::Pkcs12)),
            ("a.pfx", Some(StoreType::Pkcs12)),
            ("a.jks", Some(StoreType::Jks)),
            ("a.bcfks", Some(StoreType::Bcfks)),
            ("a.store", None),
        ] {
            assert_eq!(StoreType::from_file_name(Path::new(f)), t, "{f}");
        }
    }
}

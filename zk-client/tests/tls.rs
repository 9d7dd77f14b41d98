//! TLS end to end: an in-process zk-server with a secure client port (and port unification)
//! and our client over rustls, with certificates made by the test. Covers the `x509` ACL
//! scheme and super user, clients refused for a certificate from another CA or none at all,
//! `ssl.clientAuth=want`, four-letter words over TLS, and start-up errors naming the file.

#[path = "../../zk-server/tests/common/certs.rs"]
mod certs;
mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use certs::Ca;
use common::bounded;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_client::tls::{TlsConfig, TlsOptions};
use zk_client::{Acl, Client, CreateMode, ErrorCode, Id, Perms};
use zk_server::config::{ClientAuth, ServerConfig};
use zk_server::runtime::tls::TlsSettings;
use zk_server::runtime::{RuntimeConfig, Server};

struct Pki {
    dir: PathBuf,
    ca: Ca,
    server_store: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("zkrs-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca::new(&dir, "ca");
        let server_store = ca.server(&dir, "server.pem").key_store;
        Pki {
            dir,
            ca,
            server_store,
        }
    }

    fn client(&self, cn: &str) -> TlsConfig {
        let id = self.ca.client(&self.dir, &format!("{cn}.pem"), cn);
        TlsOptions::new(&self.ca.trust_store)
            .key_store(id.key_store)
            .build()
            .unwrap()
    }

    fn anonymous(&self) -> TlsConfig {
        TlsOptions::new(&self.ca.trust_store).build().unwrap()
    }

    /// zoo.cfg's `ssl.*` as a test sets them.
    fn server_config(&self) -> ServerConfig {
        let mut c = ServerConfig::new(&self.dir);
        c.tls.client.key_store_location = Some(self.server_store.clone());
        c.tls.client.trust_store_location = Some(self.ca.trust_store.clone());
        c
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn runtime(tls: TlsSettings) -> RuntimeConfig {
    let mut rc = common::config("127.0.0.1:0".parse().unwrap());
    rc.tls = tls;
    rc
}

/// A plaintext client port plus a TLS-only `secureClientPort`.
async fn start_secure(cfg: &ServerConfig) -> (Server, SocketAddr) {
    let tls = TlsSettings::from_config(cfg, Some("127.0.0.1:0".parse().unwrap()), false).unwrap();
    let server = Server::start(runtime(tls)).await.unwrap();
    let secure = server.secure_addr.expect("secure listener");
    (server, secure)
}

async fn tls_client(tls: TlsConfig, addr: impl std::fmt::Display) -> zk_client::Result<Client> {
    Client::builder()
        .session_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .tls(tls)
        .connect(&addr.to_string())
        .await
}

fn x509_acl(dn: &str) -> Vec<Acl> {
    vec![Acl {
        perms: Perms::ALL,
        id: Id::new("x509", dn),
    }]
}

#[tokio::test]
async fn x509_identity_from_the_client_certificate_is_enforced_by_acls() {
    bounded(async {
        if common::skip_external() {
            return;
        }
        let pki = Pki::new("acl");
        let mut cfg = pki.server_config();
        cfg.tls.x509_super_user = Some("CN=admin,O=zkrs".to_string());
        let (server, secure) = start_secure(&cfg).await;

        let alice = tls_client(pki.client("alice"), secure).await.unwrap();
        let who = alice.whoami().await.unwrap();
        assert!(
            who.iter()
                .any(|c| c.auth_scheme == "x509" && c.user == "CN=alice,O=zkrs"),
            "{who:?}"
        );
        alice
            .create(
                "/secret",
                b"s3",
                &x509_acl("CN=alice,O=zkrs"),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        assert_eq!(alice.get_data("/secret").await.unwrap().0, b"s3");
        // `auth` expands to the certificate's identity, as for digest.
        let auth_acl = vec![Acl {
            perms: Perms::ALL,
            id: Id::new("auth", ""),
        }];
        alice
            .create("/mine", b"", &auth_acl, CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(
            alice.get_acl("/mine").await.unwrap().0,
            x509_acl("CN=alice,O=zkrs")
        );

        let bob = tls_client(pki.client("bob"), secure).await.unwrap();
        assert_eq!(
            bob.get_data("/secret").await.unwrap_err().code(),
            Some(ErrorCode::NoAuth)
        );
        // addauth x509 cannot claim another identity: it re-asserts the certificate's own.
        bob.add_auth("x509", b"CN=alice,O=zkrs").await.unwrap();
        assert_eq!(
            bob.get_data("/secret").await.unwrap_err().code(),
            Some(ErrorCode::NoAuth)
        );

        let plain = Client::connect(&server.local_addr.to_string())
            .await
            .unwrap();
        assert_eq!(
            plain.get_data("/secret").await.unwrap_err().code(),
            Some(ErrorCode::NoAuth)
        );
        // Without a certificate, addauth x509 fails and the server closes the session's
        // connection (AUTHFAILED), as ZooKeeper does.
        assert!(plain.add_auth("x509", b"").await.is_err());

        let admin = tls_client(pki.client("admin"), secure).await.unwrap();
        assert_eq!(admin.get_data("/secret").await.unwrap().0, b"s3");

        for c in [alice, bob, admin] {
            c.close().await;
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn clients_without_a_trusted_certificate_are_refused_and_others_still_served() {
    bounded(async {
        if common::skip_external() {
            return;
        }
        let pki = Pki::new("refuse");
        let (server, secure) = start_secure(&pki.server_config()).await;
        let good = tls_client(pki.client("good"), secure).await.unwrap();

        // A certificate signed by another CA.
        let other = Ca::new(&pki.dir, "other-ca");
        let rogue = other.client(&pki.dir, "rogue.pem", "good");
        let rogue_tls = TlsOptions::new(&pki.ca.trust_store)
            .key_store(rogue.key_store)
            .build()
            .unwrap();
        assert!(tls_client(rogue_tls, secure).await.is_err());
        // No certificate at all (ssl.clientAuth defaults to need).
        assert!(tls_client(pki.anonymous(), secure).await.is_err());
        // A client that does not trust the server's CA refuses the server.
        let distrust = TlsOptions::new(&other.trust_store).build().unwrap();
        assert!(tls_client(distrust, secure).await.is_err());
        // Plaintext to the TLS port is not served.
        let plain = Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .connect(&secure.to_string())
            .await;
        assert!(plain.is_err());

        good.create("/still", b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        good.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn client_auth_want_serves_clients_without_a_certificate() {
    bounded(async {
        if common::skip_external() {
            return;
        }
        let pki = Pki::new("want");
        let mut cfg = pki.server_config();
        cfg.tls.client.client_auth = ClientAuth::Want;
        let (server, secure) = start_secure(&cfg).await;
        let anon = tls_client(pki.anonymous(), secure).await.unwrap();
        let who = anon.whoami().await.unwrap();
        assert!(who.iter().all(|c| c.auth_scheme != "x509"), "{who:?}");
        let carol = tls_client(pki.client("carol"), secure).await.unwrap();
        assert!(carol
            .whoami()
            .await
            .unwrap()
            .iter()
            .any(|c| c.auth_scheme == "x509" && c.user == "CN=carol,O=zkrs"));
        anon.close().await;
        carol.close().await;
        server.shutdown().await;
    })
    .await;
}

/// `client.portUnification=true`: one port, TLS and plaintext clients, four-letter words both
/// ways; the host name in the connect string is verified against the certificate.
#[tokio::test]
async fn a_unified_port_serves_tls_and_plaintext_clients() {
    bounded(async {
        if common::skip_external() {
            return;
        }
        let pki = Pki::new("unified");
        let mut cfg = pki.server_config();
        cfg.tls.client_port_unification = true;
        let tls = TlsSettings::from_config(&cfg, None, false).unwrap();
        let server = Server::start(runtime(tls)).await.unwrap();
        let port = server.local_addr.port();

        let secure = tls_client(pki.client("dave"), format!("localhost:{port}"))
            .await
            .unwrap();
        secure
            .create("/both", b"x", &Acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        let plain = Client::connect(&format!("127.0.0.1:{port}")).await.unwrap();
        assert_eq!(plain.get_data("/both").await.unwrap().0, b"x");

        assert_eq!(plain_four_letter(server.local_addr, "ruok").await, "imok");
        assert_eq!(
            tls_four_letter(&pki, server.local_addr, "ruok").await,
            "imok"
        );
        secure.close().await;
        plain.close().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_secure_client_port_answers_four_letter_words_over_tls() {
    bounded(async {
        if common::skip_external() {
            return;
        }
        let pki = Pki::new("flw");
        let (server, secure) = start_secure(&pki.server_config()).await;
        assert_eq!(tls_four_letter(&pki, secure, "ruok").await, "imok");
        let srvr = tls_four_letter(&pki, secure, "srvr").await;
        assert!(srvr.contains("Mode: standalone"), "{srvr}");
        server.shutdown().await;
    })
    .await;
}

#[test]
fn unusable_stores_stop_start_up_with_the_file_and_key_named() {
    let pki = Pki::new("errors");
    let addr = Some("127.0.0.1:0".parse().unwrap());
    let mut cfg = pki.server_config();
    cfg.tls.client.key_store_location = Some(pki.dir.join("missing.pem"));
    let e = TlsSettings::from_config(&cfg, addr, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ssl.keyStore.location") && e.contains("missing.pem"),
        "{e}"
    );

    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let mut cfg = pki.server_config();
    cfg.tls.client.key_store_location = Some(garbage);
    let e = TlsSettings::from_config(&cfg, addr, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("garbage.pem") && e.contains("no certificate"),
        "{e}"
    );

    let mut cfg = pki.server_config();
    cfg.tls.client.trust_store_location = Some(pki.dir.join("store.p12"));
    let e = TlsSettings::from_config(&cfg, addr, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ssl.trustStore.location") && e.contains("PKCS12"),
        "{e}"
    );

    let mut cfg = pki.server_config();
    cfg.tls.client.trust_store_location = None;
    let e = TlsSettings::from_config(&cfg, addr, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("clientAuth=need"), "{e}");

    let mut cfg = pki.server_config();
    cfg.tls.client.enabled_protocols = Some(vec!["TLSv1.1".to_string()]);
    let e = TlsSettings::from_config(&cfg, addr, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ssl.enabledProtocols") && e.contains("TLSv1.1"),
        "{e}"
    );

    let mut cfg = pki.server_config();
    cfg.tls.client.cipher_suites = Some(vec!["TLS_RSA_WITH_AES_128_CBC_SHA".to_string()]);
    let e = TlsSettings::from_config(&cfg, addr, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ssl.ciphersuites") && e.contains("TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{e}"
    );
}

async fn plain_four_letter(addr: SocketAddr, cmd: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(cmd.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// A four-letter word over TLS, as `openssl s_client` would send it.
async fn tls_four_letter(pki: &Pki, addr: SocketAddr, cmd: &str) -> String {
    let config = certs::client_rustls(
        &pki.ca.trust_store,
        &pki.ca.client(&pki.dir, "flw.pem", "flw").key_store,
    );
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = connector.connect(name, tcp).await.unwrap();
    s.write_all(cmd.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    // The server closes after its answer; a peer closing without close_notify is fine here.
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8(out).unwrap()
}

/// zkcli with zkCli.sh's `-client-configuration FILE`, or the same keys as `-D` words in
/// `CLIENT_JVMFLAGS`.
#[tokio::test]
async fn zkcli_speaks_tls_from_a_client_configuration_file_or_jvm_flags() {
    bounded(async {
        if common::skip_external() {
            return;
        }
        let pki = Pki::new("zkcli");
        let (server, secure) = start_secure(&pki.server_config()).await;
        let erin = pki.ca.client(&pki.dir, "erin.pem", "erin");
        let props = pki.dir.join("client.properties");
        std::fs::write(
            &props,
            format!(
                "zookeeper.client.secure=true\nzookeeper.ssl.keyStore.location={}\n\
                 zookeeper.ssl.trustStore.location={}\n",
                erin.key_store.display(),
                pki.ca.trust_store.display()
            ),
        )
        .unwrap();
        let jvm_flags = format!(
            "-Xmx64m -Dzookeeper.client.secure=true -Dzookeeper.ssl.keyStore.location={} \
             -Dzookeeper.ssl.trustStore.location={}",
            erin.key_store.display(),
            pki.ca.trust_store.display()
        );
        let broken = pki.dir.join("broken.properties");
        std::fs::write(&broken, "zookeeper.client.secure=true\n").unwrap();
        let addr = secure.to_string();
        let (from_file, from_flags, refused) = tokio::task::spawn_blocking(move || {
            let run = |args: &[&str], env: Option<&str>| {
                let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_zkcli"));
                c.arg("-server").arg(&addr).args(args);
                c.env_remove("CLIENT_JVMFLAGS");
                if let Some(v) = env {
                    c.env("CLIENT_JVMFLAGS", v);
                }
                c.output().unwrap()
            };
            (
                run(
                    &["-client-configuration", props.to_str().unwrap(), "whoami"],
                    None,
                ),
                run(&["whoami"], Some(&jvm_flags)),
                run(
                    &["-client-configuration", broken.to_str().unwrap(), "whoami"],
                    None,
                ),
            )
        })
        .await
        .unwrap();
        for out in [&from_file, &from_flags] {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            assert!(text.lines().any(|l| l == "x509: CN=erin,O=zkrs"), "{text}");
        }
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains("broken.properties") && err.contains("zookeeper.ssl.trustStore.location"),
            "{err}"
        );
        server.shutdown().await;
    })
    .await;
}

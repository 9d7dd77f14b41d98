//! TLS for zkcli as zkCli.sh configures it: `-client-configuration FILE` (Java properties with
//! `zookeeper.client.secure=true` and `zookeeper.ssl.*`), and `-Dzookeeper.*` words in
//! `CLIENT_JVMFLAGS`; the file wins over the flags, as in ZKClientConfig.

use std::collections::BTreeMap;

use zk_client::tls::{parse_properties, TlsConfig, TlsOptions};

/// `-Dkey=value` words of a JVM flags string.
fn jvm_properties(flags: &str) -> BTreeMap<String, String> {
    flags
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("-D"))
        .map(|d| d.split_once('=').unwrap_or((d, "")))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The TLS configuration, or `None` for plaintext.
pub fn client_tls(config_file: Option<&str>) -> Result<Option<TlsConfig>, String> {
    let mut props = jvm_properties(&std::env::var("CLIENT_JVMFLAGS").unwrap_or_default());
    if let Some(path) = config_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read client configuration {path}: {e}"))?;
        props.extend(parse_properties(&text));
    }
    let opts = TlsOptions::from_properties(&props).map_err(|e| match config_file {
        Some(p) => format!("{p}: {e}"),
        None => e.to_string(),
    })?;
    opts.map(|o| o.build().map_err(|e| e.to_string()))
        .transpose()
}

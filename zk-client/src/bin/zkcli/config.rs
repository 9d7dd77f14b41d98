//! `config -c`: the ensemble's client addresses, as zkCli's `ConfigUtils.getClientConfigStr`
//! prints them from `/zookeeper/config`: `<version> <host:port>,<host:port>,...`.
//!
//! zkCli loads the text into a `java.util.Properties` and walks its entries in that map's
//! order (a `ConcurrentHashMap` of 16 slots, more past 12 keys: by the slot of the key's
//! `String.hashCode`, then file order), so the servers come out as ZooKeeper's client prints
//! them (`server.2` before `server.1`). A server whose line has no client address adds an
//! empty field: a static zoo.cfg's three servers give `0 ,,`.

/// The `-c` line for `/zookeeper/config`'s text.
pub fn client_config_str(text: &str) -> String {
    let entries: Vec<(&str, &str)> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (l.trim(), ""),
        })
        .collect();
    let mut version = "";
    let mut fields: Vec<String> = Vec::new();
    for i in properties_order(&entries) {
        let (key, value) = entries[i];
        if key == "version" {
            version = value;
        }
        if key.starts_with("server.") {
            fields.push(client_address(value).unwrap_or_default());
        }
    }
    format!("{version} {}", fields.join(","))
}

/// `host:port` from the part after `;` of a `server.N` value (IPv6 brackets dropped, as Java's
/// `getHostString` has none; a bare port is on `0.0.0.0`).
fn client_address(value: &str) -> Option<String> {
    let (_, client) = value.split_once(';')?;
    let client = client.trim();
    let (host, port) = match client.rsplit_once(':') {
        Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p),
        None => ("0.0.0.0", client),
    };
    Some(format!("{host}:{port}"))
}

/// Indices of `entries` in the iteration order of a `Properties` loaded from them (later
/// duplicates replace earlier values in place).
fn properties_order(entries: &[(&str, &str)]) -> Vec<usize> {
    let mut keys: Vec<usize> = Vec::new();
    for (i, (k, _)) in entries.iter().enumerate() {
        match keys.iter().position(|&j| entries[j].0 == *k) {
            Some(pos) => keys[pos] = i,
            None => keys.push(i),
        }
    }
    // ConcurrentHashMap: 16 slots, doubled whenever the count reaches 3/4 of them.
    let mut slots: u32 = 16;
    while keys.len() as u32 >= slots / 4 * 3 {
        slots *= 2;
    }
    let slot = |k: &str| {
        let h = k
            .encode_utf16()
            .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
        ((h ^ (h >> 16)) & 0x7fff_ffff) & (slots - 1)
    };
    let mut order = keys.clone();
    // Stable: keys sharing a slot stay in file order.
    order.sort_by_key(|&i| slot(entries[i].0));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_zkcli_prints_them() {
        // Apache zkCli 3.8.0 `config -c` against Apache ZooKeeper 3.8.0 ensembles.
        let dynamic = "server.1=127.0.0.1:59909:49305:participant;127.0.0.1:56959\n\
                       server.2=127.0.0.1:35569:43973:participant;127.0.0.1:46287\n\
                       server.3=127.0.0.1:56355:50239:participant;127.0.0.1:42305\nversion=0";
        assert_eq!(
            client_config_str(dynamic),
            "0 127.0.0.1:46287,127.0.0.1:56959,127.0.0.1:42305"
        );
        let static_with_observer = "server.1=127.0.0.1:57775:53461:participant\n\
                                    server.2=127.0.0.1:42717:45499:participant\n\
                                    server.3=127.0.0.1:57137:34937:participant\n\
                                    server.4=127.0.0.1:34809:45631:observer\nversion=0";
        assert_eq!(client_config_str(static_with_observer), "0 ,,,");
        // A standalone server's empty node.
        assert_eq!(client_config_str(""), " ");
        assert_eq!(
            client_config_str("server.1=h:1:2:participant;2181\nversion=100000000"),
            "100000000 0.0.0.0:2181"
        );
    }
}

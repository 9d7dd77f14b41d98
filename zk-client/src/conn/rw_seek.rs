//! While a session is connected read-only, the shell looks for a read/write server, as
//! ZooKeeper's client does (`ClientCnxn.pingRwServer`): every so often it asks the next host of
//! the connect string `isro` (a four-letter word, on a connection of its own); the first that
//! answers `rw` is where the session goes next. The pause between probes starts at 100 ms and
//! doubles after each probe up to 60 s; finding a server resets it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::Connector;
use crate::connect_string::HostPort;

const MIN_INTERVAL_MS: u64 = 100;
const MAX_INTERVAL_MS: u64 = 60_000;
/// How long one probe (connect, ask, read the answer) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A probe under way: the host, if it answered `rw`.
type Probe = Pin<Box<dyn Future<Output = Option<HostPort>> + Send>>;

pub(crate) struct RwSeeker {
    interval_ms: u64,
    next_host: usize,
    /// When the next probe starts (while read-only and no probe runs).
    at: Option<Instant>,
    running: Option<Probe>,
}

impl RwSeeker {
    pub fn new() -> Self {
        RwSeeker {
            interval_ms: MIN_INTERVAL_MS,
            next_host: 0,
            at: None,
            running: None,
        }
    }

    /// Seeks while `read_only`; stops (dropping a probe under way) otherwise.
    pub fn set_seeking(&mut self, read_only: bool) {
        if !read_only {
            self.at = None;
            self.running = None;
        } else if self.at.is_none() && self.running.is_none() {
            self.at = Some(Instant::now() + Duration::from_millis(self.interval_ms));
        }
    }

    /// Resolves with a host that answered `rw`; never while not seeking. Cancel-safe: the
    /// state of a probe under way is kept in `self`.
    pub async fn found(
        &mut self,
        hosts: &[HostPort],
        current: Option<&str>,
        connector: &Connector,
    ) -> HostPort {
        loop {
            if self.running.is_none() {
                let Some(at) = self.at else {
                    return std::future::pending().await;
                };
                tokio::time::sleep_until(at).await;
                self.at = None;
                let Some(host) = self.pick(hosts, current) else {
                    return std::future::pending().await;
                };
                self.interval_ms = (self.interval_ms * 2).min(MAX_INTERVAL_MS);
                tracing::debug!(host = %host.to_addr_string(), "checking whether the server is read/write");
                self.running = Some(Box::pin(is_rw(connector.clone(), host)));
            }
            if let Some(probe) = self.running.as_mut() {
                let found = probe.await;
                self.running = None;
                if let Some(host) = found {
                    self.interval_ms = MIN_INTERVAL_MS;
                    tracing::info!(host = %host.to_addr_string(), "read/write server found");
                    return host;
                }
                self.at = Some(Instant::now() + Duration::from_millis(self.interval_ms));
            }
        }
    }

    /// The next host in the list other than the one the session is on.
    fn pick(&mut self, hosts: &[HostPort], current: Option<&str>) -> Option<HostPort> {
        for _ in 0..hosts.len() {
            let h = &hosts[self.next_host % hosts.len()];
            self.next_host = self.next_host.wrapping_add(1);
            if Some(h.to_addr_string().as_str()) != current {
                return Some(h.clone());
            }
        }
        None
    }
}

/// Asks `host` `isro`; the host when it answers `rw` within [`PROBE_TIMEOUT`].
async fn is_rw(connector: Connector, host: HostPort) -> Option<HostPort> {
    let ask = async {
        let mut s = connector(&host).await.ok()?;
        s.write_all(b"isro").await.ok()?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.ok()?;
        Some(answer)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, ask).await {
        Ok(Some(answer)) if String::from_utf8_lossy(&answer).trim() == "rw" => Some(host),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::conn::BoxStream;

    /// Fake servers answering `isro` with what `answers` says for their host; every dial is
    /// recorded with its (virtual) time.
    struct Fake {
        answers: Mutex<HashMap<String, &'static str>>,
        dials: Mutex<Vec<(String, u64)>>,
        start: Instant,
    }

    fn connector(fake: &Arc<Fake>) -> Connector {
        let fake = fake.clone();
        Arc::new(move |h: &HostPort| {
            let fake = fake.clone();
            let host = h.host.clone();
            Box::pin(async move {
                let ms = fake.start.elapsed().as_millis() as u64;
                fake.dials.lock().unwrap().push((host.clone(), ms));
                let answer = fake.answers.lock().unwrap().get(&host).copied();
                let Some(answer) = answer else {
                    return Err(std::io::ErrorKind::ConnectionRefused.into());
                };
                let (client, mut server) = tokio::io::duplex(1024);
                tokio::spawn(async move {
                    let mut word = [0u8; 4];
                    if server.read_exact(&mut word).await.is_ok() && &word == b"isro" {
                        let _ = server.write_all(answer.as_bytes()).await;
                    }
                });
                Ok(Box::new(client) as BoxStream)
            })
        })
    }

    fn host(name: &str) -> HostPort {
        HostPort {
            host: name.into(),
            port: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probes_other_hosts_with_a_doubling_pause_until_one_answers_rw() {
        let fake = Arc::new(Fake {
            answers: Mutex::new(HashMap::from([
                ("b".to_owned(), "ro"),
                ("c".to_owned(), "null"),
            ])),
            dials: Mutex::new(Vec::new()),
            start: Instant::now(),
        });
        let conn = connector(&fake);
        let hosts = [host("a"), host("b"), host("c"), host("d")];
        let flip = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2000)).await;
            flip.answers.lock().unwrap().insert("b".to_owned(), "rw");
        });
        let mut s = RwSeeker::new();
        s.set_seeking(true);
        // The session is on "a": it is never asked. "d" is down.
        let found = s.found(&hosts, Some("a:1"), &conn).await;
        assert_eq!(found.host, "b");
        let dials = fake.dials.lock().unwrap().clone();
        let want: Vec<(String, u64)> = [
            ("b", 100),
            ("c", 300),
            ("d", 700),
            ("b", 1500),
            ("c", 3100),
            ("d", 6300),
            ("b", 12700),
        ]
        .iter()
        .map(|(h, t)| (h.to_string(), *t))
        .collect();
        assert_eq!(dials, want);
        // Found: the pause starts again from 100 ms, with the next host in turn; not
        // seeking: nothing happens.
        fake.answers.lock().unwrap().insert("c".to_owned(), "rw");
        s.set_seeking(true);
        let again = tokio::time::timeout(
            Duration::from_millis(150),
            s.found(&hosts, Some("a:1"), &conn),
        );
        assert_eq!(again.await.map(|h| h.host), Ok("c".to_owned()));
        s.set_seeking(false);
        let idle = tokio::time::timeout(Duration::from_secs(120), s.found(&hosts, None, &conn));
        assert!(idle.await.is_err());
        assert_eq!(fake.dials.lock().unwrap().len(), want.len() + 1);
    }
}

//! Ports for servers under test, picked so that concurrent tests rarely meet and the kernel never
//! hands one of them out as the source port of some outgoing connection.
//!
//! Std only: besides `testkit` itself, the zk-server and zk-client tests include this file with
//! `#[path]` (testkit depends on mesos, which depends on zk-client, so they cannot depend on it).
//!
//! Asking the kernel for port 0 and closing the listener again is not enough for a test that
//! starts servers as processes: the kernel may give the same port to the next caller (another
//! server of the same ensemble, or a client's connection) before the server binds it. That is how
//! an observer test once saw two of its servers configured with one port.

use std::sync::atomic::{AtomicU16, Ordering};

/// Hands out ports free (a moment ago) on every one of `hosts`, counting up from a start in
/// `base..base + spread` that a hash of the PID picks: below the kernel's ephemeral range
/// (32768-60999 by default), never the same port twice in one process, and far apart for the
/// consecutive PIDs of tests started together. Meant for a `static`.
pub struct Ports {
    next: AtomicU16,
    base: u16,
    spread: u16,
    hosts: &'static [&'static str],
}

impl Ports {
    pub const fn new(base: u16, spread: u16, hosts: &'static [&'static str]) -> Ports {
        Ports {
            next: AtomicU16::new(0),
            base,
            spread,
            hosts,
        }
    }

    /// The next port free on every host; panics when the range runs out.
    pub fn next(&self) -> u16 {
        // Fibonacci hashing scatters neighbouring PIDs over the whole spread.
        let start = std::process::id().wrapping_mul(2_654_435_761) % u32::from(self.spread);
        let _ = self.next.compare_exchange(
            0,
            self.base + start as u16,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        loop {
            let p = self.next.fetch_add(1, Ordering::SeqCst);
            assert!(p >= self.base, "ports above {} ran out", self.base);
            if self
                .hosts
                .iter()
                .all(|h| std::net::TcpListener::bind((*h, p)).is_ok())
            {
                return p;
            }
        }
    }
}

/// The zk-server and zk-client tests' ports: 25000-30999, free on every address (servers listen
/// on 0.0.0.0), apart from the mesos and marathon tests' ranges (11000-25000) and from the
/// 31000-32000 a Mesos agent offers by default.
pub static ZK_PORTS: Ports = Ports::new(25_000, 5_000, &["0.0.0.0"]);

/// A port for a server under test (see [`ZK_PORTS`]).
pub fn free_port() -> u16 {
    ZK_PORTS.next()
}

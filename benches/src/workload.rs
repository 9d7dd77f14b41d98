//! The closed-loop write workload of `write-bench` and `cluster-bench`: clients with one
//! session and one request in flight each, doing `create` of new znodes or `setData` on their
//! own znode for a measured window after a warm-up, with client-side latencies.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::task::JoinHandle;
use zk_proto::request::Request;

use crate::args::Args;
use crate::client::{create_req, set_data_req, Client};
use crate::stats::{latencies, Latencies};

/// The write each client repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A new znode `/bench/c<i>/n<k>` per op.
    Create,
    /// `setData` on the client's own znode `/bench/c<i>`.
    Set,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Set => "set",
        }
    }

    /// `create`, or `set` (also `setData`).
    pub fn parse(s: &str) -> Result<Op> {
        match s {
            "create" => Ok(Op::Create),
            "set" | "setData" => Ok(Op::Set),
            o => bail!("unknown op {o:?} (create, set)"),
        }
    }

    /// The `--ops` list (default `create,set`).
    pub fn from_args(a: &mut Args) -> Result<Vec<Op>> {
        a.list::<String>("--ops", &["create".into(), "set".into()])?
            .iter()
            .map(|s| Op::parse(s))
            .collect()
    }

    /// The `k`-th request of the client whose own znode is `own`.
    fn request(self, own: &str, k: u64, value: &[u8]) -> Request {
        match self {
            Op::Create => create_req(format!("{own}/n{k:010}"), value.to_vec()),
            Op::Set => set_data_req(own.to_owned(), value.to_vec()),
        }
    }
}

/// Connects one client (with its own session) to each of `addrs`, concurrently.
pub async fn connect_all(addrs: &[SocketAddr]) -> Result<Vec<Client>> {
    let handles: Vec<_> = addrs
        .iter()
        .map(|&a| tokio::spawn(Client::connect(a)))
        .collect();
    let mut conns = Vec::with_capacity(addrs.len());
    for (i, h) in handles.into_iter().enumerate() {
        conns.push(
            h.await?
                .with_context(|| format!("client {i} connecting to {}", addrs[i]))?,
        );
    }
    Ok(conns)
}

/// Creates `/bench` (through the first client) and each client's own znode `/bench/c<i>`
/// holding `value`.
pub async fn create_own_znodes(conns: &mut [Client], value: &[u8]) -> Result<()> {
    let Some(first) = conns.first_mut() else {
        return Ok(());
    };
    let err = first.call(&create_req("/bench".into(), Vec::new())).await?;
    if err != 0 {
        bail!("create /bench failed: error {err}");
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let err = c
            .call(&create_req(format!("/bench/c{i}"), value.to_vec()))
            .await?;
        if err != 0 {
            bail!("create /bench/c{i} failed: error {err}");
        }
    }
    Ok(())
}

/// What one client's loop returns: the latencies (us) of its ops inside the window, and how
/// many replies carried an error.
type ClientResult = Result<(Vec<u32>, u64)>;

/// The client loops of one run, started by [`Workload::start`]; the measured window is
/// `warm_end..end`.
pub struct Workload {
    warm_end: Instant,
    end: Instant,
    tasks: Vec<JoinHandle<ClientResult>>,
}

impl Workload {
    /// Starts one closed loop per client, doing `op` with `value`, measured from `warmup`
    /// after now for `duration`; `capacity` latency samples are reserved per client.
    pub fn start(
        conns: Vec<Client>,
        op: Op,
        value: &[u8],
        warmup: Duration,
        duration: Duration,
        capacity: usize,
    ) -> Workload {
        let warm_end = Instant::now() + warmup;
        let end = warm_end + duration;
        let tasks = conns
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                tokio::spawn(client_loop(
                    c,
                    i,
                    op,
                    value.to_vec(),
                    warm_end,
                    end,
                    capacity,
                ))
            })
            .collect();
        Workload {
            warm_end,
            end,
            tasks,
        }
    }

    /// Sleeps until the warm-up is over.
    pub async fn until_warm(&self) {
        tokio::time::sleep_until(self.warm_end.into()).await;
    }

    /// Sleeps until the window is over.
    pub async fn until_end(&self) {
        tokio::time::sleep_until(self.end.into()).await;
    }

    /// Waits for every client; returns the latencies of the ops inside the window and how
    /// many replies carried an error.
    pub async fn finish(self) -> Result<(Latencies, u64)> {
        let mut samples = Vec::new();
        let mut errors = 0;
        for (i, t) in self.tasks.into_iter().enumerate() {
            let (lat, errs) = t.await?.with_context(|| format!("client {i}"))?;
            samples.extend_from_slice(&lat);
            errors += errs;
        }
        Ok((latencies(&mut samples), errors))
    }
}

/// One client's closed loop; returns the latencies (us) of the ops that started and ended
/// inside the window, and how many replies carried an error.
async fn client_loop(
    mut c: Client,
    i: usize,
    op: Op,
    value: Vec<u8>,
    warm_end: Instant,
    end: Instant,
    capacity: usize,
) -> ClientResult {
    let mut lat = Vec::with_capacity(capacity);
    let mut errors = 0;
    let own = format!("/bench/c{i}");
    let mut k = 0u64;
    loop {
        let req = op.request(&own, k, &value);
        k += 1;
        let start = Instant::now();
        if start >= end {
            break;
        }
        let err = c.call(&req).await?;
        let done = Instant::now();
        if err != 0 {
            errors += 1;
        }
        if start >= warm_end && done <= end {
            lat.push(micros(done.duration_since(start)));
        }
    }
    Ok((lat, errors))
}

/// A latency sample: `d` in microseconds, saturating at `u32::MAX`.
pub fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_parse_by_name() {
        assert_eq!(Op::parse("create").unwrap(), Op::Create);
        assert_eq!(Op::parse("set").unwrap(), Op::Set);
        assert_eq!(Op::parse("setData").unwrap(), Op::Set);
        assert!(Op::parse("delete").is_err());
        assert_eq!(Op::Create.name(), "create");
        assert_eq!(Op::Set.name(), "set");
    }

    #[test]
    fn samples_saturate() {
        assert_eq!(micros(Duration::from_micros(1500)), 1500);
        assert_eq!(micros(Duration::from_secs(1 << 40)), u32::MAX);
    }
}

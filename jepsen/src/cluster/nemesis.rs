//! The nemesis: a seeded schedule that alternates heal periods and fault periods on an
//! [`Ensemble`], healing each fault at the end of its period, and records every fault period
//! for the report. The schedule's choices (which fault, which shape, which nodes, how long)
//! come only from a [`SplitMix64`] seeded by the caller; only "the leader" depends on the run.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::net::{self, Grudge};
use super::{Ensemble, SplitMix64};

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// SIGKILL of random nodes (usually a minority, sometimes a majority); restarted at heal.
    Kill,
    /// SIGSTOP of a node (the leader half of the time), sometimes longer than syncLimit and
    /// than the session timeout; SIGCONT at heal.
    Pause,
    /// A server-to-server partition: halves, the leader isolated, a majorities ring, a bridge,
    /// or one-way drops.
    Partition,
    /// Clients cut off from some servers (the leader a third of the time).
    ClientPartition,
    /// SIGKILL of the leader; restarted at heal.
    LeaderKill,
    /// A node's data disk (a tmpfs of its own) filled until ENOSPC, the leader's half of the
    /// time; freed at heal. A server that stops on the write error, as ZooKeeper does, is
    /// restarted then; any other exit is a crash.
    DiskFull,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::ClientPartition,
        FaultKind::LeaderKill,
        FaultKind::DiskFull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::ClientPartition => "client-partition",
            FaultKind::LeaderKill => "leader-kill",
            FaultKind::DiskFull => "disk-full",
        }
    }

    /// `kill,pause,partition` (also `all`, `none`).
    pub fn parse_list(s: &str) -> Result<Vec<FaultKind>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => out.extend(FaultKind::ALL),
                "none" => {}
                p => out.push(p.parse()?),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown fault {s:?} (kill, pause, partition, client-partition, \
                     leader-kill, disk-full)"
                )
            })
    }
}

/// How the nemesis schedules faults.
#[derive(Clone, Debug)]
pub struct NemesisOptions {
    pub kinds: Vec<FaultKind>,
    pub seed: u64,
    /// A fault period lasts between these (pauses choose their own length, see
    /// [`FaultKind::Pause`]).
    pub fault_min: Duration,
    pub fault_max: Duration,
    /// A heal period (nothing injected) lasts between these.
    pub heal_min: Duration,
    pub heal_max: Duration,
    /// The workload's session timeout: some pauses last longer.
    pub session_timeout: Duration,
    /// How long the ensemble may take to elect a leader after the final heal.
    pub stable_timeout: Duration,
}

impl NemesisOptions {
    /// Faults of 2–6 s, heal periods of 2–4 s, for a 4 s session timeout.
    pub fn new(kinds: Vec<FaultKind>, seed: u64) -> Self {
        NemesisOptions {
            kinds,
            seed,
            fault_min: Duration::from_secs(2),
            fault_max: Duration::from_secs(6),
            heal_min: Duration::from_secs(2),
            heal_max: Duration::from_secs(4),
            session_timeout: Duration::from_secs(4),
            // More than initLimit (20 s): a learner may need a whole snapshot to rejoin.
            stable_timeout: Duration::from_secs(60),
        }
    }
}

/// One fault period, for the report (times in ns since the run's origin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPeriod {
    pub start_ns: u64,
    pub end_ns: u64,
    pub kind: FaultKind,
    pub description: String,
}

/// A fault in force, and what undoes it.
#[derive(Clone, Debug)]
enum Active {
    Killed(Vec<u64>),
    Paused(Vec<u64>),
    Partitioned,
    ClientsBlocked(Vec<u64>),
    DiskFull(Vec<u64>),
}

/// Runs a fault schedule on a shared [`Ensemble`].
pub struct Nemesis {
    ens: Arc<Ensemble>,
    opts: NemesisOptions,
    rng: SplitMix64,
    origin: Instant,
    periods: Vec<FaultPeriod>,
    /// Kinds still to inject in this round of the schedule.
    bag: Vec<FaultKind>,
}

impl Nemesis {
    /// `origin` is the run's time zero (the history's), for the recorded periods.
    pub fn new(ens: Arc<Ensemble>, opts: NemesisOptions, origin: Instant) -> Nemesis {
        Nemesis {
            rng: SplitMix64::new(opts.seed),
            ens,
            opts,
            origin,
            periods: Vec::new(),
            bag: Vec::new(),
        }
    }

    /// The fault periods so far.
    pub fn periods(&self) -> &[FaultPeriod] {
        &self.periods
    }

    pub fn into_periods(self) -> Vec<FaultPeriod> {
        self.periods
    }

    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_nanos() as u64
    }

    /// Alternates heal and fault periods until `deadline` (a fault running then is healed
    /// early), then heals everything and waits for a stable ensemble; returns its leader.
    pub async fn run(&mut self, deadline: Instant) -> Result<u64> {
        let result = self.schedule(deadline).await;
        let stable = self.heal_all().await;
        result?;
        stable
    }

    async fn schedule(&mut self, deadline: Instant) -> Result<()> {
        if self.opts.kinds.is_empty() {
            sleep_until(deadline).await;
            return Ok(());
        }
        loop {
            let quiet = self.rng.duration(self.opts.heal_min, self.opts.heal_max);
            sleep_until((Instant::now() + quiet).min(deadline)).await;
            if Instant::now() >= deadline {
                return Ok(());
            }
            // Kinds come from a shuffled bag, so a short run still sees each of them.
            if self.bag.is_empty() {
                self.bag = self.opts.kinds.clone();
                self.rng.shuffle(&mut self.bag);
            }
            let kind = self.bag.pop().expect("refilled");
            let (active, description, length) = self.inject(kind).await?;
            let start = Instant::now();
            tracing::info!(fault = %kind, %description, ?length, "nemesis: fault");
            sleep_until((start + length).min(deadline)).await;
            let mut description = description;
            if let Some(note) = self.undo(&active).await? {
                description.push_str(&note);
            }
            let end = Instant::now();
            tracing::info!(fault = %kind, "nemesis: healed");
            self.periods.push(FaultPeriod {
                start_ns: self.ns(start),
                end_ns: self.ns(end),
                kind,
                description,
            });
        }
    }

    /// Every fault undone ([`Ensemble::heal_all`]), then [`Ensemble::wait_stable`].
    pub async fn heal_all(&mut self) -> Result<u64> {
        self.ens.heal_all()?;
        self.ens.wait_stable(self.opts.stable_timeout).await
    }

    /// A random node, and the leader if one is known (else that random node).
    async fn node_or_leader(&mut self) -> (u64, u64) {
        let nodes = self.ens.nodes().to_vec();
        let random = self.rng.pick(&nodes);
        let leader = self.ens.leader().await.unwrap_or(random);
        (random, leader)
    }

    /// Injects one fault of `kind`; returns it, its description and how long it should last.
    async fn inject(&mut self, kind: FaultKind) -> Result<(Active, String, Duration)> {
        let nodes = self.ens.nodes().to_vec();
        let n = nodes.len() as u64;
        let mut length = self.rng.duration(self.opts.fault_min, self.opts.fault_max);
        Ok(match kind {
            FaultKind::Kill => {
                let majority = self.rng.chance(0.25);
                let minority = 1 + self.rng.below((n / 2).max(1));
                let count = if majority { n / 2 + 1 } else { minority };
                let mut v = nodes.clone();
                self.rng.shuffle(&mut v);
                v.truncate(count as usize);
                v.sort_unstable();
                for &x in &v {
                    self.ens.kill(x);
                }
                (Active::Killed(v.clone()), format!("kill {v:?}"), length)
            }
            FaultKind::LeaderKill => {
                let (_, leader) = self.node_or_leader().await;
                self.ens.kill(leader);
                (
                    Active::Killed(vec![leader]),
                    format!("kill leader {leader}"),
                    length,
                )
            }
            FaultKind::Pause => {
                let use_leader = self.rng.chance(0.5);
                let (random, leader) = self.node_or_leader().await;
                let x = if use_leader { leader } else { random };
                let sync = self.ens.sync_window();
                let session = self.opts.session_timeout;
                let (len, what) = match self.rng.below(3) {
                    0 => (
                        self.rng.duration(sync.mul_f64(0.2), sync.mul_f64(0.8)),
                        "< syncLimit",
                    ),
                    1 => (
                        self.rng.duration(sync.mul_f64(1.5), sync.mul_f64(3.0)),
                        "> syncLimit",
                    ),
                    _ => (
                        self.rng
                            .duration(session.mul_f64(1.2), session.mul_f64(2.0))
                            .max(sync.mul_f64(1.5)),
                        "> session timeout",
                    ),
                };
                length = len;
                let role = if x == leader { " (leader)" } else { "" };
                if self.ens.is_running(x) {
                    self.ens.pause(x)?;
                }
                (
                    Active::Paused(vec![x]),
                    format!("pause {x}{role} for {:.1} s {what}", len.as_secs_f64()),
                    length,
                )
            }
            FaultKind::Partition => {
                let shape = self.rng.below(5);
                let cut = self.rng.chance(0.5);
                let outgoing = self.rng.chance(0.5);
                let use_leader = self.rng.chance(0.5);
                let (random, leader) = self.node_or_leader().await;
                let (g, mut d): (Grudge, String) = match shape {
                    0 => net::halves(&nodes, &mut self.rng),
                    1 => net::isolate(&nodes, leader),
                    2 => net::majorities_ring(&nodes, &mut self.rng),
                    3 => net::bridge(&nodes, &mut self.rng),
                    _ => net::one_way(&nodes, if use_leader { leader } else { random }, outgoing),
                };
                if shape == 1 {
                    d.push_str(" (leader)");
                }
                self.ens.net().set_grudge(&g);
                if cut {
                    self.ens.net().cut_grudge(&g);
                    d.push_str(", connections reset");
                }
                (Active::Partitioned, d, length)
            }
            FaultKind::ClientPartition => {
                let use_leader = self.rng.chance(1.0 / 3.0);
                let cut = self.rng.chance(0.5);
                let count = 1 + self.rng.below((n / 2).max(1));
                let mut v = nodes.clone();
                self.rng.shuffle(&mut v);
                let (_, leader) = self.node_or_leader().await;
                let mut v: Vec<u64> = if use_leader {
                    vec![leader]
                } else {
                    v.into_iter().take(count as usize).collect()
                };
                v.sort_unstable();
                for &x in &v {
                    self.ens.net().block_client(x);
                    if cut {
                        self.ens.net().cut_clients(x);
                    }
                }
                let mut d = format!("clients cut off from {v:?}");
                if use_leader {
                    d.push_str(" (leader)");
                }
                if cut {
                    d.push_str(", connections reset");
                }
                (Active::ClientsBlocked(v), d, length)
            }
            FaultKind::DiskFull => {
                let use_leader = self.rng.chance(0.5);
                let (random, leader) = self.node_or_leader().await;
                let x = if use_leader { leader } else { random };
                let bytes = self.ens.fill_disk(x)?;
                let role = if x == leader { " (leader)" } else { "" };
                (
                    Active::DiskFull(vec![x]),
                    format!(
                        "disk of {x}{role} full ({:.1} MiB of ballast)",
                        bytes as f64 / f64::from(1 << 20)
                    ),
                    length,
                )
            }
        })
    }

    /// Undoes a fault; returns a note for its description (how a full disk ended).
    async fn undo(&self, a: &Active) -> Result<Option<String>> {
        let mut may_exit: &[u64] = &[];
        let mut reaped = Vec::new();
        match a {
            Active::Killed(v) => {
                for &x in v {
                    if !self.ens.is_running(x) {
                        self.ens.start_node(x)?;
                    }
                }
            }
            Active::Paused(v) => {
                for &x in v {
                    if self.ens.is_paused(x) {
                        self.ens.resume(x)?;
                    }
                }
            }
            Active::Partitioned => self.ens.net().heal(),
            Active::ClientsBlocked(v) => {
                for &x in v {
                    self.ens.net().heal_client(x);
                }
            }
            Active::DiskFull(v) => {
                for &x in v {
                    self.ens.free_disk(x)?;
                }
                // A victim that met ENOSPC just before the ballast went may still be on its way
                // out: wait (bounded) until each one either answers or has exited, so that its
                // exit is seen here and it is restarted, not missed by the final settle.
                // (The grace first: one that just failed may still answer for a moment.)
                tokio::time::sleep(Duration::from_millis(300)).await;
                let deadline = Instant::now() + Duration::from_secs(5);
                for &x in v {
                    while self.ens.is_running(x)
                        && self.ens.status(x).await.is_none()
                        && Instant::now() < deadline
                    {
                        reaped.extend(self.ens.reap_exited());
                        if reaped.iter().any(|(id, _)| *id == x) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                may_exit = v;
            }
        }
        let mut note = None;
        reaped.extend(self.ens.reap_exited());
        for (x, how) in reaped {
            if !may_exit.contains(&x) {
                // With disks of their own, a disk the server's own data filled is the run's
                // sizing, not a crash: say so.
                if self.ens.options().disk_bytes.is_some() {
                    let free = self.ens.disk_available(x).unwrap_or(u64::MAX);
                    if free < 64 << 20 {
                        bail!(
                            "server {x} stopped ({how}): its data disk filled up by itself \
                             ({} MiB free, no ballast); give it more room (--disk-mb); see {}",
                            free >> 20,
                            self.ens.log_path(x).display()
                        );
                    }
                }
                bail!(
                    "server {x} exited by itself ({how}); see {}",
                    self.ens.log_path(x).display()
                );
            }
            // Stopping on a failed write is the right answer to a full disk: restart it.
            self.ens.start_node(x)?;
            note = Some(format!("; {x} stopped on the full disk ({how}), restarted"));
        }
        Ok(note)
    }
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds() {
        assert_eq!(
            FaultKind::parse_list("partition, kill,kill").unwrap(),
            vec![FaultKind::Kill, FaultKind::Partition]
        );
        assert_eq!(FaultKind::parse_list("all").unwrap().len(), 6);
        assert!(FaultKind::parse_list("flood").is_err());
        for k in FaultKind::ALL {
            assert_eq!(k.name().parse::<FaultKind>().unwrap(), k);
        }
    }
}

//! An ensemble of real server processes on 127.0.0.1 — zkrs's `zk-server` binary or Apache
//! ZooKeeper's `QuorumPeerMain` from Debian's `zookeeper` package — configured as operators do
//! (one zoo.cfg with `server.N=host:quorumPort:electionPort` lines per server, a dataDir holding
//! `myid`), as `zk-server/tests/cluster.rs` does. Roles are read from `srvr`'s `Mode:` line.
//!
//! Every process is stopped by its own PID (`Child::kill`, i.e. SIGKILL to that PID; never by
//! name), also when the [`Ensemble`] is dropped on an error or a panic. Every wait is bounded.
//! A Ctrl-C in the terminal reaches the servers too (they are in the bench's process group),
//! and both kinds of server exit on SIGINT.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Which server the ensemble runs.
#[derive(Debug, Clone)]
pub enum Flavor {
    /// zkrs: `BIN CONFIG`.
    Zkrs { bin: PathBuf },
    /// Apache ZooKeeper: `java -cp CLASSPATH QuorumPeerMain CONFIG`.
    Apache { java: PathBuf, classpath: String },
}

/// `zk-server` beside the running executable (cargo builds both into the same directory),
/// else `target/release/zk-server`.
pub fn default_zk_server() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("zk-server")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("target/release/zk-server"))
}

/// Debian's jar of Apache ZooKeeper (`apt-get install -y zookeeper`).
pub const DEBIAN_ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

impl Flavor {
    pub fn name(&self) -> &'static str {
        match self {
            Flavor::Zkrs { .. } => "zkrs",
            Flavor::Apache { .. } => "apache",
        }
    }

    /// Apache ZooKeeper from Debian's package, launched as `scripts/interop.sh` does (as
    /// Debian's `zkServer.sh start-foreground`, plus slf4j-simple so that it logs at all).
    pub fn apache_debian() -> Result<Flavor> {
        if !Path::new(DEBIAN_ZOOKEEPER_JAR).is_file() {
            bail!("{DEBIAN_ZOOKEEPER_JAR} not found: install Debian's package (apt-get install -y zookeeper)");
        }
        let java = find_in_path("java")
            .context("java not found in PATH (Debian's zookeeper package depends on a JRE)")?;
        let mut classpath = format!("/etc/zookeeper/conf:{DEBIAN_ZOOKEEPER_JAR}");
        if Path::new("/usr/share/java/slf4j-simple.jar").is_file() {
            classpath.push_str(":/usr/share/java/slf4j-simple.jar");
        }
        Ok(Flavor::Apache { java, classpath })
    }

    /// A one-line description of the server build (its version where it says one).
    pub fn describe(&self) -> String {
        match self {
            Flavor::Zkrs { bin } => {
                let v = Command::new(bin)
                    .arg("version")
                    .stdin(Stdio::null())
                    .output()
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_default();
                format!("{} ({v})", bin.display())
            }
            Flavor::Apache { java, .. } => {
                let jar = std::fs::canonicalize(DEBIAN_ZOOKEEPER_JAR).map_or_else(
                    |_| DEBIAN_ZOOKEEPER_JAR.to_owned(),
                    |p| p.display().to_string(),
                );
                format!("{} QuorumPeerMain, {jar}", java.display())
            }
        }
    }

    fn command(&self, node: &Node) -> Command {
        match self {
            Flavor::Zkrs { bin } => {
                let mut c = Command::new(bin);
                c.arg(&node.cfg);
                c
            }
            Flavor::Apache { java, classpath } => {
                let mut c = Command::new(java);
                // zkEnv.sh's default heap (ZK_SERVER_HEAP=1000), as upstream runs it.
                c.arg("-Xmx1000m")
                    .arg(format!("-Dzookeeper.log.dir={}", node.dir.display()))
                    .arg("-Dzookeeper.log.file=zookeeper.log")
                    .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=info")
                    .arg("-cp")
                    .arg(classpath)
                    .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                    .arg(&node.cfg);
                c
            }
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The zoo.cfg settings every server of the ensemble shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `tickTime` in milliseconds (ZooKeeper's default: 2000).
    pub tick_ms: u64,
    /// `initLimit` and `syncLimit` in ticks (zoo_sample.cfg's 10 and 5).
    pub init_limit: u32,
    pub sync_limit: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
        }
    }
}

/// One server's zoo.cfg. Both servers read every key; Apache takes `forceSync` as the system
/// property `zookeeper.forceSync`, as it does for any key it does not know.
pub fn zoo_cfg(s: &Settings, data_dir: &Path, client_port: u16, servers: &str) -> String {
    format!(
        "tickTime={}\ninitLimit={}\nsyncLimit={}\ndataDir={}\nclientPort={client_port}\n\
         clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nforceSync=yes\n\
         4lw.commands.whitelist=*\nadmin.enableServer=false\n{servers}",
        s.tick_ms,
        s.init_limit,
        s.sync_limit,
        data_dir.display()
    )
}

pub struct Node {
    pub id: u64,
    /// dataDir (with `myid`).
    pub dir: PathBuf,
    pub cfg: PathBuf,
    /// The server's stdout and stderr.
    pub log: PathBuf,
    pub client_port: u16,
    child: Option<Child>,
}

impl Node {
    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_port))
    }

    /// The PID of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

pub struct Ensemble {
    pub flavor: Flavor,
    /// Holds every server's zoo.cfg, dataDir and log.
    pub root: PathBuf,
    pub nodes: Vec<Node>,
}

/// What one look at a set of servers found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// Each server's `Mode:` (None: not answering, or "not currently serving requests").
    pub modes: Vec<(u64, Option<String>)>,
    /// The leader, when every server serves, exactly one leads and all others follow.
    pub leader: Option<u64>,
}

impl Look {
    pub fn of(modes: Vec<(u64, Option<String>)>) -> Look {
        let leaders: Vec<u64> = modes
            .iter()
            .filter(|(_, m)| m.as_deref() == Some("leader"))
            .map(|(id, _)| *id)
            .collect();
        let followers = modes
            .iter()
            .filter(|(_, m)| m.as_deref() == Some("follower"))
            .count();
        let leader = (leaders.len() == 1 && followers + 1 == modes.len()).then(|| leaders[0]);
        Look { modes, leader }
    }
}

impl Ensemble {
    /// Writes zoo.cfg, dataDir and `myid` for servers 1..=n under `root` (which must not exist
    /// yet); starts nothing.
    pub fn create(flavor: Flavor, root: &Path, n: u64, settings: &Settings) -> Result<Ensemble> {
        if root.exists() {
            bail!("{} already exists", root.display());
        }
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        // Hold every listener until all ports are picked, so that they differ.
        let listeners: Vec<TcpListener> = (0..3 * n)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<_>>()?;
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<_>>()?;
        drop(listeners);
        let mut servers = String::new();
        for id in 1..=n {
            let i = 3 * (id - 1) as usize;
            servers.push_str(&format!(
                "server.{id}=127.0.0.1:{}:{}\n",
                ports[i + 1],
                ports[i + 2]
            ));
        }
        let mut nodes = Vec::new();
        for id in 1..=n {
            let dir = root.join(format!("data{id}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("myid"), format!("{id}\n"))?;
            let client_port = ports[3 * (id - 1) as usize];
            let cfg = root.join(format!("zoo{id}.cfg"));
            std::fs::write(&cfg, zoo_cfg(settings, &dir, client_port, &servers))?;
            nodes.push(Node {
                id,
                dir,
                cfg,
                log: root.join(format!("server{id}.log")),
                client_port,
                child: None,
            });
        }
        Ok(Ensemble {
            flavor,
            root: root.to_path_buf(),
            nodes,
        })
    }

    /// One standalone server (a zoo.cfg without `server.N` lines) under `root`; starts nothing.
    pub fn standalone(flavor: Flavor, root: &Path, settings: &Settings) -> Result<Ensemble> {
        let e = Ensemble::create(flavor, root, 1, settings)?;
        let n = &e.nodes[0];
        std::fs::write(&n.cfg, zoo_cfg(settings, &n.dir, n.client_port, ""))?;
        Ok(e)
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// `host:port` of every server, for a connect string.
    pub fn client_addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| n.client_addr().to_string())
            .collect()
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("a server of this ensemble")
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("a server of this ensemble")
    }

    /// Starts server `id` (its log is appended to).
    pub fn start(&mut self, id: u64) -> Result<()> {
        let flavor = self.flavor.clone();
        let n = self.node_mut(id);
        if n.child.is_some() {
            bail!("server {id} is already running");
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&n.log)
            .with_context(|| format!("opening {}", n.log.display()))?;
        let child = flavor
            .command(n)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting server {id} ({})", flavor.name()))?;
        n.child = Some(child);
        Ok(())
    }

    pub fn start_all(&mut self) -> Result<()> {
        for id in self.ids() {
            self.start(id)?;
        }
        Ok(())
    }

    /// SIGKILL to server `id`'s PID (no shutdown path runs), then reaps it.
    pub fn kill(&mut self, id: u64) -> Result<()> {
        if let Some(mut c) = self.node_mut(id).child.take() {
            c.kill().with_context(|| format!("kill -9 {}", c.id()))?;
            c.wait()?;
        }
        Ok(())
    }

    /// `Mode:` of server `id` from `srvr`, or None while it does not serve.
    pub fn mode(&self, id: u64) -> Option<String> {
        srvr_mode(&four_letter(self.node(id).client_port, "srvr")?)
    }

    pub fn look(&self, ids: &[u64]) -> Look {
        Look::of(ids.iter().map(|&id| (id, self.mode(id))).collect())
    }

    /// Fails (with the end of its log) if one of `ids` has exited or was never started.
    pub fn check_running(&mut self, ids: &[u64]) -> Result<()> {
        for &id in ids {
            let n = self.node_mut(id);
            let status = match n.child.as_mut() {
                None => bail!("server {id} is not running"),
                Some(c) => c.try_wait()?,
            };
            if let Some(st) = status {
                n.child = None;
                bail!(
                    "server {id} exited ({st}); end of {}:\n{}",
                    n.log.display(),
                    log_tail(&n.log, 20)
                );
            }
        }
        Ok(())
    }

    /// Polls `srvr` on `ids` every `every` until they are stable (all serve, one leads, the
    /// others follow); returns the leader and the instant the look that saw it ended.
    pub fn wait_stable(
        &mut self,
        ids: &[u64],
        within: Duration,
        every: Duration,
    ) -> Result<(u64, Instant)> {
        let start = Instant::now();
        let mut next = start;
        loop {
            self.check_running(ids)?;
            let look = self.look(ids);
            let seen = Instant::now();
            if let Some(l) = look.leader {
                return Ok((l, seen));
            }
            if seen.duration_since(start) > within {
                bail!(
                    "servers {ids:?} not stable within {within:?}: modes {:?}; logs in {}",
                    look.modes,
                    self.root.display()
                );
            }
            next += every;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    }

    /// Stops every server (SIGKILL by PID) and deletes `root`.
    pub fn remove(mut self) -> Result<()> {
        self.kill_all();
        std::fs::remove_dir_all(&self.root)
            .with_context(|| format!("removing {}", self.root.display()))
    }

    fn kill_all(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Sends a four-letter word and reads the whole answer (None if the server does not answer
/// within a short bound).
pub fn four_letter(port: u16, cmd: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The `Mode:` of a `srvr` answer (None for "not currently serving requests").
pub fn srvr_mode(answer: &str) -> Option<String> {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(|m| m.trim().to_owned())
}

/// The last `n` lines of a file.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_quorum_and_client_settings() {
        let cfg = zoo_cfg(
            &Settings::default(),
            Path::new("/d/data1"),
            2181,
            "server.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n",
        );
        for line in [
            "tickTime=2000",
            "initLimit=10",
            "syncLimit=5",
            "dataDir=/d/data1",
            "clientPort=2181",
            "forceSync=yes",
            "4lw.commands.whitelist=*",
            "server.2=127.0.0.1:3:4",
        ] {
            assert!(cfg.lines().any(|l| l == line), "{line} in\n{cfg}");
        }
        // zkrs reads every key without a warning.
        let (parsed, warnings) = zk_server::config::parse(&cfg, Path::new("zoo.cfg")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(parsed.tick_time_ms, 2000);
        assert!(parsed.force_sync);
    }

    #[test]
    fn modes_and_stability() {
        let answer = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\n\
                      Node count: 5\n";
        assert_eq!(srvr_mode(answer).as_deref(), Some("follower"));
        assert_eq!(
            srvr_mode("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
        let m = |v: &[(u64, Option<&str>)]| {
            Look::of(v.iter().map(|(i, m)| (*i, m.map(str::to_owned))).collect()).leader
        };
        assert_eq!(m(&[(1, Some("follower")), (2, Some("leader"))]), Some(2));
        assert_eq!(m(&[(1, Some("follower")), (2, Some("follower"))]), None);
        assert_eq!(m(&[(1, None), (2, Some("leader"))]), None);
        assert_eq!(m(&[(1, Some("leader")), (2, Some("leader"))]), None);
        assert_eq!(m(&[(3, Some("leader"))]), Some(3));
    }

    #[test]
    fn ensemble_files_and_ports() {
        let root = std::env::temp_dir().join(format!("zkrs-ensemble-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let e = Ensemble::create(
            Flavor::Zkrs {
                bin: PathBuf::from("/nonexistent"),
            },
            &root,
            3,
            &Settings::default(),
        )
        .unwrap();
        assert_eq!(e.ids(), vec![1, 2, 3]);
        let myid = std::fs::read_to_string(e.node(2).dir.join("myid")).unwrap();
        assert_eq!(myid.trim(), "2");
        let cfg = std::fs::read_to_string(&e.node(3).cfg).unwrap();
        assert_eq!(cfg.lines().filter(|l| l.starts_with("server.")).count(), 3);
        let mut ports: Vec<u16> = e.nodes.iter().map(|n| n.client_port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3);
        assert!(e.node(1).pid().is_none());
        e.remove().unwrap();
        assert!(!root.exists());
    }
}

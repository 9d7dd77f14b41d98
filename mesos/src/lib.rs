//! A thin Mesos: a master that elects its leader and keeps its registry in ZooKeeper, an agent
//! that runs command tasks, and the `mesos-execute` / `mesos-resolve` tools.
//!
//! Module map:
//! - [`flags`]: Mesos-style flags from the command line, `MESOS_*` variables and flag files.
//! - [`resources`]: scalar and range resources, their text and JSON forms, arithmetic.
//! - [`recordio`]: the v1 APIs' stream framing.
//! - [`zk`]: `zk://` URLs, the `json.info_` leader group, the registry znode.
//! - [`agent`]: the agent: registration, command tasks in sandboxes, status updates.
//! - [`master`]: the master: election, registry, allocator, scheduler API, operator endpoints.
pub mod agent;
pub mod flags;
pub mod master;
pub mod recordio;
pub mod resources;
pub mod zk;

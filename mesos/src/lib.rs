//! A thin Mesos: a master that elects its leader and keeps its registry in ZooKeeper, an agent
//! that runs command tasks, and the `mesos-execute` / `mesos-resolve` tools.
//!
//! Module map:
//! - [`daemon`]: logging and the runtime around a long-running binary's server.
//! - [`flags`]: Mesos-style flags from the command line, `MESOS_*` variables and flag files.
//! - [`resources`]: scalar and range resources, their text and JSON forms, arithmetic.
//! - [`recordio`]: the v1 APIs' stream framing.
//! - [`http_client`]: a small HTTP/1.1 client (hyper) for the v1 APIs.
//! - [`scheduler`]: a v1 scheduler API client (used by `mesos-execute` and Marathon).
//! - [`zk`]: `zk://` URLs, the `json.info_` leader group, the registry znode.
//! - [`agent`]: the agent: registration, command tasks in sandboxes, status updates.
//! - [`master`]: the master: election, registry, allocator, scheduler API, operator endpoints.
pub mod agent;
pub mod daemon;
pub mod flags;
pub mod http_client;
pub mod master;
pub mod recordio;
pub mod resources;
pub mod scheduler;
pub mod zk;

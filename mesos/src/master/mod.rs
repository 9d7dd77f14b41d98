//! The master.
//!
//! - [`core`]: the pure state machine (frameworks, agents, tasks, offers, maintenance).
//! - [`allocator`]: Dominant Resource Fairness.
//! - [`state`]: the operator endpoints' JSON (`/master/state`, `/metrics/snapshot`, ...).
//! - [`http`]: the HTTP server: scheduler and agent APIs, operator endpoints, the web UI.
//! - [`options`]: the flags `mesos-master` accepts.
//! - [`runtime`]: the tokio shell: leader election and registry in ZooKeeper, timers, streams.
//! - [`ui`]: the web UI page.

pub mod allocator;
pub mod core;
pub mod http;
pub mod options;
pub mod runtime;
pub mod state;
pub mod ui;

//! A Marathon-compatible framework on our Mesos and ZooKeeper.
//!
//! Module map:
//! - [`constraints`]: placement constraints (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS).
//! - [`health`]: health checks (HTTP, TCP, COMMAND): the pure per-task state and the checker.
pub mod constraints;
pub mod health;

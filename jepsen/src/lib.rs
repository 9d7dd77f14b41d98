//! A Jepsen-style harness for zkrs: real `zk-server` processes (never linked), nemeses that
//! kill, pause and partition them, concurrent client workloads recorded as histories, and
//! checkers (linearizability, set completeness, id uniqueness, session guarantees).

pub mod checker;
pub mod cluster;
pub mod history;
pub mod report;
pub mod workload;

//! A Marathon-compatible framework on our Mesos and ZooKeeper.
//!
//! Module map:
//! - [`app`]: app definitions: parsing, validation (422 bodies), Marathon 1.x defaults and JSON.
//! - [`validation`]: Marathon's validation error shape.
//! - [`constraints`]: placement constraints (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS).
//! - [`offer_match`]: one instance's resources and host ports out of an offer.
//! - [`health`]: health checks (HTTP, TCP, COMMAND): the pure per-task state and the checker.
//! - [`core`]: the scheduler as a pure state machine (launch, backoff, scale, roll, kill).
//! - [`options`]: the flags `marathon` accepts.
//! - [`store`]: the state in ZooKeeper under `/marathon/state`.
//! - [`runtime`]: the leader latch, the subscription to the Mesos master, the event bus.
//! - [`api`]: REST API v2 and `/v2/events`; [`ui`]: the web UI.

/// The Marathon release whose API we follow.
pub const VERSION: &str = "1.11.0";

pub mod api;
pub mod app;
pub mod constraints;
pub mod core;
pub mod health;
pub mod offer_match;
pub mod options;
pub mod runtime;
pub mod store;
pub mod ui;
pub mod validation;

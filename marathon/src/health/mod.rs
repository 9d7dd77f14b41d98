//! Marathon 1.x health checks (`healthChecks[]` of an app).
//!
//! - [`check`]: the [`HealthCheck`] definition: parsed and validated from the app JSON, written
//!   back with exactly the fields Marathon 1.x returns.
//! - [`state`]: [`Health`], the pure per-task, per-check state (Marathon's `Health` plus the
//!   decisions of its `HealthCheckActor`), and [`next_check_due_ms`]. Time is an argument.
//! - [`checker`]: [`run_check`], which performs one check (HTTP GET, TCP connect, or a shell
//!   command) bounded by `timeoutSeconds`.
//!
//! The runtime that ties them together (a timer per task, calling `run_check` when
//! [`next_check_due_ms`] says so, feeding the result to [`Health::on_result`] and killing the
//! task on [`Verdict::Kill`]) lives with the scheduler, not here.
pub mod check;
pub mod checker;
pub mod state;

pub use check::{
    HealthCheck, Level, PortRef, Probe, Protocol, Scheme, DEFAULT_DELAY_SECONDS,
    DEFAULT_GRACE_PERIOD_SECONDS, DEFAULT_INTERVAL_SECONDS, DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_TIMEOUT_SECONDS,
};
pub use checker::run_check;
pub use state::{format_timestamp_ms, next_check_due_ms, CheckResult, Health, Verdict};

/// Marathon's 422 body entry; shared with the rest of the app's validation.
pub use crate::validation::ValidationError;

//! Per-task, per-check health: a pure state machine. Every time is an argument in milliseconds
//! since the Unix epoch; nothing here reads a clock.
//!
//! Semantics (mesosphere/marathon and apache/mesos):
//! - `core/health/Health.scala`: a success sets `firstSuccess` (once) and `lastSuccess` and
//!   resets `consecutiveFailures`; a failure sets `lastFailure`, `lastFailureCause` and adds one;
//!   `alive` is "the last success is newer than the last failure".
//! - `core/health/HealthResult.scala` `Ignored`: an HTTP 1xx under `ignoreHttp1xx` leaves the
//!   state as it was.
//! - `core/health/impl/HealthCheckActor.scala` `ignoreFailures`: until the first success, a
//!   failure within `gracePeriodSeconds` of the task's start is dropped, not counted.
//! - Kill rule, Marathon-level checks (`HealthCheckActor.checkConsecutiveFailures`, called with
//!   the health *before* the failure is added): kill when that count `>= maxConsecutiveFailures`
//!   and `maxConsecutiveFailures > 0`. So with the default 3 the 4th consecutive failure kills
//!   ("fails more than maxConsecutiveFailures", docs/docs/health-checks.md), and 0 never kills.
//! - Kill rule, Mesos-level checks (COMMAND, MESOS_*; mesos `src/checks/health_checker.cpp`
//!   `failure()`): the count after adding the failure `>= consecutive_failures`, so the 3rd
//!   failure kills and 0 kills on the first counted failure. Mesos' grace period test is
//!   inclusive (`elapsed <= grace`, only when grace > 0); Marathon's is strict.
use serde_json::{json, Value};

use super::check::{HealthCheck, Level};

/// The outcome of one check, as [`crate::health::run_check`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    Healthy,
    /// With the cause shown as `lastFailureCause`.
    Unhealthy(String),
    /// Discarded (HTTP 1xx with `ignoreHttp1xx`): the health stays as it was.
    Ignored,
}

impl From<Result<(), String>> for CheckResult {
    fn from(r: Result<(), String>) -> Self {
        match r {
            Ok(()) => CheckResult::Healthy,
            Err(cause) => CheckResult::Unhealthy(cause),
        }
    }
}

/// What [`Health::on_result`] did, and what the caller must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A success was recorded.
    Healthy,
    /// A failure was recorded; the task stays.
    Failed,
    /// A failure before the first success, within the grace period: not recorded.
    IgnoredInGracePeriod,
    /// The result was discarded ([`CheckResult::Ignored`]).
    Ignored,
    /// A failure was recorded and the task must be killed. Repeats on every further failure
    /// until a success: the caller's kill must be idempotent, as Marathon's is.
    Kill,
}

/// Marathon's `Health` for one task and one check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub first_success_ms: Option<u64>,
    pub last_success_ms: Option<u64>,
    pub last_failure_ms: Option<u64>,
    pub last_failure_cause: Option<String>,
    pub consecutive_failures: u32,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    /// Marathon's `Health.alive`: there is a success newer than the last failure. Derived, not
    /// stored, so it cannot disagree with the timestamps.
    pub fn alive(&self) -> bool {
        match (self.last_success_ms, self.last_failure_ms) {
            (Some(s), Some(f)) => s > f,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.alive()
    }

    /// Whether a failure at `now_ms` would be dropped: no success yet, and still within the
    /// grace period counted from the task's start (Marathon: since the task became running).
    pub fn in_grace_period(&self, check: &HealthCheck, task_started_ms: u64, now_ms: u64) -> bool {
        if self.first_success_ms.is_some() {
            return false;
        }
        let grace_ms = u64::from(check.grace_period_seconds) * 1000;
        let elapsed_ms = now_ms.saturating_sub(task_started_ms);
        match check.level() {
            Level::Marathon => elapsed_ms < grace_ms,
            Level::Mesos => grace_ms > 0 && elapsed_ms <= grace_ms,
        }
    }

    /// Whether the recorded failures call for a kill under the check's rule (see the module
    /// docs). This is the rule [`Health::on_result`] applies after recording a failure.
    pub fn must_kill(&self, check: &HealthCheck) -> bool {
        let max = check.max_consecutive_failures;
        match check.level() {
            Level::Marathon => max > 0 && self.consecutive_failures > max,
            Level::Mesos => self.consecutive_failures > 0 && self.consecutive_failures >= max,
        }
    }

    /// Feeds one result, observed at `now_ms`, for a task that started at `task_started_ms`.
    pub fn on_result(
        &mut self,
        check: &HealthCheck,
        task_started_ms: u64,
        now_ms: u64,
        result: CheckResult,
    ) -> Verdict {
        match result {
            CheckResult::Healthy => {
                self.first_success_ms.get_or_insert(now_ms);
                self.last_success_ms = Some(now_ms);
                self.consecutive_failures = 0;
                Verdict::Healthy
            }
            CheckResult::Ignored => Verdict::Ignored,
            CheckResult::Unhealthy(_) if self.in_grace_period(check, task_started_ms, now_ms) => {
                Verdict::IgnoredInGracePeriod
            }
            CheckResult::Unhealthy(cause) => {
                self.last_failure_ms = Some(now_ms);
                self.last_failure_cause = Some(cause);
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if self.must_kill(check) {
                    Verdict::Kill
                } else {
                    Verdict::Failed
                }
            }
        }
    }

    /// One entry of a task's `healthCheckResults[]`, as Marathon's `Formats.HealthWrites`
    /// writes it: every key present, absent times and cause as `null`.
    pub fn to_json(&self, instance_id: &str) -> Value {
        let ts = |t: Option<u64>| t.map(format_timestamp_ms);
        json!({
            "alive": self.alive(),
            "consecutiveFailures": self.consecutive_failures,
            "firstSuccess": ts(self.first_success_ms),
            "lastFailure": ts(self.last_failure_ms),
            "lastSuccess": ts(self.last_success_ms),
            "lastFailureCause": self.last_failure_cause,
            "instanceId": instance_id,
        })
    }
}

/// When the next check of a task is due: `delaySeconds` after the task started for the first
/// check (Mesos' health checker), then `intervalSeconds` after the previous check completed.
/// An interval of 0 is taken as 1 s, so a runtime cannot spin.
///
/// Marathon 1.x itself runs its own (HTTP/HTTPS/TCP) checks on an app-wide tick every
/// `intervalSeconds`, first after min(interval, 5 s), and ignores `delaySeconds`; a per-task
/// schedule is simpler to reason about and differs only in phase.
pub fn next_check_due_ms(
    check: &HealthCheck,
    task_started_ms: u64,
    last_check_ms: Option<u64>,
) -> u64 {
    match last_check_ms {
        None => task_started_ms.saturating_add(u64::from(check.delay_seconds) * 1000),
        Some(last) => last.saturating_add(u64::from(check.interval_seconds.max(1)) * 1000),
    }
}

/// Marathon's `Timestamp.toString`: UTC, always with milliseconds, e.g.
/// `2026-11-22T10:00:00.000Z`.
pub fn format_timestamp_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let sod = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::check::{PortRef, Probe, Scheme};

    /// 2026-11-22T10:00:00.000Z
    const T0: u64 = 1_795_341_600_000;
    const S: u64 = 1000;

    fn http(grace_s: u32, max: u32) -> HealthCheck {
        HealthCheck {
            grace_period_seconds: grace_s,
            max_consecutive_failures: max,
            ..HealthCheck::with_probe(Probe::Http {
                scheme: Scheme::Http,
                level: Level::Marathon,
                path: None,
                port: PortRef::Index(0),
                ignore_http1xx: false,
            })
        }
    }

    fn command(grace_s: u32, max: u32) -> HealthCheck {
        HealthCheck {
            grace_period_seconds: grace_s,
            max_consecutive_failures: max,
            ..HealthCheck::with_probe(Probe::Command {
                value: "true".into(),
            })
        }
    }

    fn fail(cause: &str) -> CheckResult {
        CheckResult::Unhealthy(cause.into())
    }

    #[test]
    fn timestamps_look_like_marathons() {
        assert_eq!(format_timestamp_ms(T0), "2026-11-22T10:00:00.000Z");
        assert_eq!(format_timestamp_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp_ms(951_782_400_123),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            format_timestamp_ms(T0 + 86_399_999 - 36_000_000),
            "2026-11-22T23:59:59.999Z"
        );
    }

    #[test]
    fn fresh_health_is_not_alive() {
        let h = Health::new();
        assert!(!h.alive());
        assert_eq!(
            h.to_json("app.instance-1"),
            json!({
                "alive": false,
                "consecutiveFailures": 0,
                "firstSuccess": null,
                "lastFailure": null,
                "lastSuccess": null,
                "lastFailureCause": null,
                "instanceId": "app.instance-1",
            })
        );
    }

    #[test]
    fn failures_in_grace_period_are_dropped_until_first_success() {
        let hc = http(300, 3);
        let mut h = Health::new();
        for t in [T0, T0 + 100 * S, T0 + 299 * S + 999] {
            assert_eq!(
                h.on_result(&hc, T0, t, fail("down")),
                Verdict::IgnoredInGracePeriod
            );
        }
        assert_eq!(h, Health::new());
        // Marathon: `since + grace > now`, so the boundary itself counts.
        assert_eq!(
            h.on_result(&hc, T0, T0 + 300 * S, fail("down")),
            Verdict::Failed
        );
        assert_eq!(h.consecutive_failures, 1);
        assert_eq!(h.last_failure_cause.as_deref(), Some("down"));
    }

    #[test]
    fn a_success_ends_the_grace_period_early() {
        let hc = http(300, 1);
        let mut h = Health::new();
        assert_eq!(
            h.on_result(&hc, T0, T0 + 10 * S, CheckResult::Healthy),
            Verdict::Healthy
        );
        assert!(h.alive());
        assert_eq!(
            h.on_result(&hc, T0, T0 + 20 * S, fail("500")),
            Verdict::Failed
        );
        assert!(!h.alive());
        assert_eq!(
            h.on_result(&hc, T0, T0 + 30 * S, fail("500")),
            Verdict::Kill
        );
    }

    #[test]
    fn marathon_level_kills_on_the_failure_after_max() {
        let hc = http(0, 3);
        let mut h = Health::new();
        let verdicts: Vec<_> = (1..=5)
            .map(|i| h.on_result(&hc, T0, T0 + i * S, fail("refused")))
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Failed,
                Verdict::Failed,
                Verdict::Failed,
                Verdict::Kill,
                Verdict::Kill
            ]
        );
        assert_eq!(h.consecutive_failures, 5);
        assert!(h.must_kill(&hc));
    }

    #[test]
    fn marathon_level_zero_max_never_kills() {
        let hc = http(0, 0);
        let mut h = Health::new();
        for i in 1..=10 {
            assert_eq!(h.on_result(&hc, T0, T0 + i * S, fail("x")), Verdict::Failed);
        }
        assert!(!h.must_kill(&hc));
    }

    #[test]
    fn mesos_level_kills_at_max_and_zero_kills_at_once() {
        let hc = command(0, 3);
        let mut h = Health::new();
        let verdicts: Vec<_> = (1..=3)
            .map(|i| h.on_result(&hc, T0, T0 + i * S, fail("exit 1")))
            .collect();
        assert_eq!(verdicts, [Verdict::Failed, Verdict::Failed, Verdict::Kill]);

        let hc0 = command(0, 0);
        let mut h0 = Health::new();
        assert!(!h0.must_kill(&hc0));
        assert_eq!(
            h0.on_result(&hc0, T0, T0 + S, fail("exit 1")),
            Verdict::Kill
        );
    }

    #[test]
    fn mesos_level_grace_boundary_is_inclusive_and_zero_grace_is_none() {
        let hc = command(10, 3);
        let mut h = Health::new();
        assert_eq!(
            h.on_result(&hc, T0, T0 + 10 * S, fail("x")),
            Verdict::IgnoredInGracePeriod
        );
        assert_eq!(
            h.on_result(&hc, T0, T0 + 10 * S + 1, fail("x")),
            Verdict::Failed
        );
        let mut h = Health::new();
        assert_eq!(
            h.on_result(&command(0, 3), T0, T0, fail("x")),
            Verdict::Failed
        );
    }

    #[test]
    fn recovery_resets_the_count_but_keeps_the_history() {
        let hc = http(0, 3);
        let mut h = Health::new();
        h.on_result(&hc, T0, T0 + S, CheckResult::Healthy);
        for i in 2..=4 {
            h.on_result(&hc, T0, T0 + i * S, fail("timeout"));
        }
        assert_eq!(h.consecutive_failures, 3);
        assert_eq!(
            h.on_result(&hc, T0, T0 + 5 * S, CheckResult::Healthy),
            Verdict::Healthy
        );
        assert_eq!(
            h,
            Health {
                first_success_ms: Some(T0 + S),
                last_success_ms: Some(T0 + 5 * S),
                last_failure_ms: Some(T0 + 4 * S),
                last_failure_cause: Some("timeout".into()),
                consecutive_failures: 0,
            }
        );
        assert!(h.alive());
        assert!(!h.must_kill(&hc));
        // Counting starts over: three more failures do not kill, the fourth does.
        let v: Vec<_> = (6..=9)
            .map(|i| h.on_result(&hc, T0, T0 + i * S, fail("timeout")))
            .collect();
        assert_eq!(
            v,
            [
                Verdict::Failed,
                Verdict::Failed,
                Verdict::Failed,
                Verdict::Kill
            ]
        );
        assert_eq!(
            h.to_json("i1"),
            json!({
                "alive": false,
                "consecutiveFailures": 4,
                "firstSuccess": "2026-11-22T10:00:01.000Z",
                "lastFailure": "2026-11-22T10:00:09.000Z",
                "lastSuccess": "2026-11-22T10:00:05.000Z",
                "lastFailureCause": "timeout",
                "instanceId": "i1",
            })
        );
    }

    #[test]
    fn ignored_results_change_nothing() {
        let hc = http(0, 1);
        let mut h = Health::new();
        h.on_result(&hc, T0, T0 + S, fail("x"));
        let before = h.clone();
        assert_eq!(
            h.on_result(&hc, T0, T0 + 2 * S, CheckResult::Ignored),
            Verdict::Ignored
        );
        assert_eq!(h, before);
    }

    #[test]
    fn result_converts_from_std_result() {
        assert_eq!(CheckResult::from(Ok(())), CheckResult::Healthy);
        assert_eq!(
            CheckResult::from(Err("no".to_string())),
            CheckResult::Unhealthy("no".into())
        );
    }

    #[test]
    fn first_check_after_delay_then_every_interval() {
        let hc = HealthCheck {
            delay_seconds: 15,
            interval_seconds: 60,
            ..http(300, 3)
        };
        assert_eq!(next_check_due_ms(&hc, T0, None), T0 + 15 * S);
        assert_eq!(next_check_due_ms(&hc, T0, Some(T0 + 16 * S)), T0 + 76 * S);
        let zero = HealthCheck {
            delay_seconds: 0,
            interval_seconds: 0,
            ..hc
        };
        assert_eq!(next_check_due_ms(&zero, T0, None), T0);
        assert_eq!(next_check_due_ms(&zero, T0, Some(T0)), T0 + S);
    }
}

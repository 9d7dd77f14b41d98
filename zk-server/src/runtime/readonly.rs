//! When an ensemble member starts serving read-only clients (`readonlymode.enabled=true`): once
//! it has been LOOKING for `max(2 s, tickTime)` without a break (ZooKeeper's grace period, so
//! that a short re-election does not bounce clients through a read-only server). Any role
//! change ends read-only service (the core closes every connection on a role change). What a
//! read-only server does is the core's business ([`crate::core::readonly`]).

use zab::Role;

use super::CoreTask;

/// ZooKeeper's grace period before a LOOKING peer starts its read-only server.
const MIN_DELAY_MS: u64 = 2000;

#[derive(Debug)]
pub(crate) struct ReadOnlyTimer {
    enabled: bool,
    delay_ms: u64,
    /// When the current stretch of LOOKING began, until read-only service starts.
    looking_since_ms: Option<u64>,
}

impl ReadOnlyTimer {
    /// A peer starts LOOKING at `now_ms`.
    pub fn new(enabled: bool, tick_time_ms: u32, now_ms: u64) -> Self {
        ReadOnlyTimer {
            enabled,
            delay_ms: MIN_DELAY_MS.max(u64::from(tick_time_ms)),
            looking_since_ms: Some(now_ms),
        }
    }

    pub fn role_changed(&mut self, role: &Role, now_ms: u64) {
        if matches!(role, Role::Looking) {
            self.looking_since_ms.get_or_insert(now_ms);
        } else {
            self.looking_since_ms = None;
        }
    }

    /// When read-only service is due, if it is.
    pub fn deadline(&self) -> Option<u64> {
        self.enabled
            .then_some(self.looking_since_ms?.saturating_add(self.delay_ms))
    }
}

impl CoreTask {
    /// Starts read-only service once its time has come.
    pub(crate) fn read_only_tick(&mut self) {
        let now = self.now;
        let Some(r) = self.repl.as_mut() else { return };
        if r.ro.deadline().is_none_or(|d| d > now.mono_ms) {
            return;
        }
        r.ro.looking_since_ms = None;
        let fx = self.core.set_read_only(true, now);
        if self.core.is_read_only() {
            self.ctx.mode = "read-only";
            self.ctx.serving = true;
        }
        self.run_effects(fx);
    }

    /// The read-only timer's deadline, for the task's wake-ups.
    pub(crate) fn read_only_deadline(&self) -> Option<u64> {
        self.repl.as_ref().and_then(|r| r.ro.deadline())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_after_an_unbroken_stretch_of_looking() {
        let mut t = ReadOnlyTimer::new(true, 100, 1_000);
        assert_eq!(t.deadline(), Some(3_000));
        // Still LOOKING: the stretch goes on from its start.
        t.role_changed(&Role::Looking, 2_000);
        assert_eq!(t.deadline(), Some(3_000));
        t.role_changed(
            &Role::Following {
                leader: zab::PeerId(2),
                serving: false,
            },
            2_500,
        );
        assert_eq!(t.deadline(), None);
        t.role_changed(&Role::Looking, 4_000);
        assert_eq!(t.deadline(), Some(6_000));
        // A long tickTime stretches the grace period.
        assert_eq!(ReadOnlyTimer::new(true, 5_000, 0).deadline(), Some(5_000));
        assert_eq!(ReadOnlyTimer::new(false, 100, 0).deadline(), None);
    }
}

//! Auditing authentication failures under a flood: each failure is audited on its own up to a rate, and the rest are counted and audited as one aggregate entry per window, so an unauthenticated flood neither grows the audit store without bound nor queues behind it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How failures are audited. [`FailureAuditPolicy::default`]: 20 failures per second one by one,
/// the rest as one aggregate entry per second with their count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureAuditPolicy {
    /// Failures audited one by one in each window.
    pub individual_per_window: u32,
    /// The window.
    pub window: Duration,
}

impl Default for FailureAuditPolicy {
    fn default() -> Self {
        Self {
            individual_per_window: 20,
            window: Duration::from_secs(1),
        }
    }
}

/// What to do with one failure.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Audit this failure on its own.
    pub individual: bool,
    /// Failures of an earlier window that were only counted: audit them as one entry.
    pub aggregate: Option<u64>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    audited: u32,
    counted: u64,
}

/// The per-layer failure counter.
#[derive(Debug)]
pub(crate) struct FailureAudit {
    policy: FailureAuditPolicy,
    window: Mutex<Window>,
}

impl FailureAudit {
    pub(crate) fn new(policy: FailureAuditPolicy) -> Self {
        Self {
            policy,
            window: Mutex::new(Window {
                started: Instant::now(),
                audited: 0,
                counted: 0,
            }),
        }
    }

    pub(crate) fn policy(&self) -> FailureAuditPolicy {
        self.policy
    }

    /// Admits one failure at `now`.
    pub(crate) fn admit(&self, now: Instant) -> Admission {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let aggregate = Self::roll(&mut window, now, self.policy.window);
        let individual = window.audited < self.policy.individual_per_window;
        if individual {
            window.audited += 1;
        } else {
            window.counted += 1;
        }
        Admission {
            individual,
            aggregate,
        }
    }

    /// Closes the window when it is over, returning the failures it only counted (a ticker calls
    /// this, so the last window of a flood is reported without waiting for another failure).
    pub(crate) fn close_expired(&self, now: Instant) -> Option<u64> {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        Self::roll(&mut window, now, self.policy.window)
    }

    fn roll(window: &mut Window, now: Instant, length: Duration) -> Option<u64> {
        if now.duration_since(window.started) < length {
            return None;
        }
        let counted = std::mem::take(&mut window.counted);
        window.started = now;
        window.audited = 0;
        (counted > 0).then_some(counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_over_the_rate_are_counted_and_reported_once_per_window() {
        let audit = FailureAudit::new(FailureAuditPolicy {
            individual_per_window: 2,
            window: Duration::from_secs(1),
        });
        let t0 = Instant::now();
        let admitted: Vec<bool> = (0..5).map(|_| audit.admit(t0).individual).collect();
        assert_eq!(admitted, [true, true, false, false, false]);
        assert_eq!(audit.close_expired(t0 + Duration::from_millis(500)), None);
        let next = audit.admit(t0 + Duration::from_millis(1_100));
        assert_eq!(
            next,
            Admission {
                individual: true,
                aggregate: Some(3)
            }
        );
        audit.admit(t0 + Duration::from_millis(1_200));
        audit.admit(t0 + Duration::from_millis(1_300));
        assert_eq!(
            audit.close_expired(t0 + Duration::from_millis(2_200)),
            Some(1)
        );
        assert_eq!(audit.close_expired(t0 + Duration::from_millis(3_300)), None);
    }
}

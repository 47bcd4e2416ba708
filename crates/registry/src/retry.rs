//! When and how long to wait before trying a registry request again.
//!
//! Retries are bounded in count and in time, with exponential backoff and full jitter. Reads,
//! manifest writes, mounts and upload starts are safe to repeat. Blob data is not: a chunk that
//! failed may have been half written, so uploads recover by asking the registry where the
//! upload stands (or by starting over) instead of repeating a request blindly; see `blobs`.

use std::time::{Duration, Instant};

pub use backoff::RetryPolicy;

/// How long registry steps are retried by default: longer than API calls, since an upload step
/// carries a whole chunk.
pub(crate) fn default_policy() -> RetryPolicy {
    RetryPolicy {
        max_elapsed: Duration::from_secs(120),
        ..RetryPolicy::default()
    }
}

/// Counts the failures of one step (a request, or an upload between two chunks that got
/// through) against the policy.
pub(crate) struct Attempts<'p> {
    policy: &'p RetryPolicy,
    failures: u32,
    first_failure: Option<Instant>,
}

impl<'p> Attempts<'p> {
    pub fn new(policy: &'p RetryPolicy) -> Self {
        Self {
            policy,
            failures: 0,
            first_failure: None,
        }
    }

    /// Records a failure; returns how long to wait before trying again, or `None` when the
    /// policy allows no more tries.
    pub fn failed(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        self.failures += 1;
        let first_failure = *self.first_failure.get_or_insert_with(Instant::now);
        let exhausted = self.failures >= self.policy.max_attempts
            || first_failure.elapsed() >= self.policy.max_elapsed;
        (!exhausted).then(|| self.policy.delay(self.failures, retry_after))
    }

    /// Progress was made: the next failure starts a fresh count.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.first_failure = None;
    }

    /// Attempts made so far in this step, the current one included.
    pub fn count(&self) -> u32 {
        self.failures + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_stop_at_the_limit_and_restart_after_progress() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let mut attempts = Attempts::new(&policy);
        assert!(attempts.failed(None).is_some());
        assert!(attempts.failed(None).is_some());
        assert_eq!(attempts.count(), 3);
        assert!(attempts.failed(None).is_none());

        attempts.succeeded();
        assert!(attempts.failed(None).is_some());
        assert!(RetryPolicy::none().delay(1, None) > Duration::ZERO);
        assert!(Attempts::new(&RetryPolicy::none()).failed(None).is_none());
    }

    #[test]
    fn attempts_stop_when_time_runs_out() {
        let policy = RetryPolicy {
            max_elapsed: Duration::ZERO,
            ..RetryPolicy::default()
        };
        assert!(Attempts::new(&policy).failed(None).is_none());
    }
}

//! When and how long to wait before trying a registry request again.
//!
//! Retries are bounded in count and in time, with exponential backoff and full jitter. Reads,
//! manifest writes, mounts and upload starts are safe to repeat. Blob data is not: a chunk that
//! failed may have been half written, so uploads recover by asking the registry where the
//! upload stands (or by starting over) instead of repeating a request blindly; see `blobs`.

use std::time::{Duration, Instant};

use rand::Rng as _;

/// How often and how long requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts of one step in all, the first included.
    pub max_attempts: u32,
    /// No retry starts once this much time has passed since the step first failed.
    pub max_elapsed: Duration,
    /// The ceiling of the first backoff; it doubles with each retry.
    pub base_delay: Duration,
    /// The largest backoff, and the largest `Retry-After` honoured.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(120),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1 for the first): the server's `Retry-After` when
    /// it gave one, else exponential backoff with jitter between half and all of the ceiling.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }

        let exponent = retry.saturating_sub(1).min(16);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
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
    fn backoff_grows_is_jittered_and_bounded() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let fourth = policy.delay(4, None);
            assert!(fourth >= Duration::from_millis(400) && fourth <= Duration::from_millis(800));
            assert!(policy.delay(40, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(9))),
            Duration::from_secs(1)
        );
    }

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

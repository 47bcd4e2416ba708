//! When and how long to wait before trying a request again.
//!
//! Retries are bounded both in count and in total time. A request that changes something is only
//! retried when the server cannot have acted on it (rate limited, or the connection was never
//! made); a request that is safe to repeat is also retried on server errors and broken
//! connections.

use std::time::Duration;

use rand::Rng as _;

/// How often and how long requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No retry starts once this much time has passed since the first attempt.
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
            max_elapsed: Duration::from_secs(90),
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

    /// The wait before retry number `retry` (1 for the first retry): the server's `Retry-After`
    /// when it gave one, else exponential backoff with full jitter.
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

/// Whether repeating a request could apply a change twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Reads, full-body updates and deletes: repeating them ends in the same state.
    Safe,
    /// Creates and one-shot actions (create deploy, finalize, rollback).
    Unsafe,
}

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Failure {
    /// The connection was never made: the server saw nothing.
    Connect,
    /// The request may have reached the server (timeout, reset while waiting for the answer).
    Transport,
    Status(u16),
}

pub(crate) fn is_retryable(failure: Failure, idempotency: Idempotency) -> bool {
    match failure {
        Failure::Connect => true,
        Failure::Status(429) => true,
        Failure::Status(status) if (500..=599).contains(&status) => {
            idempotency == Idempotency::Safe
        }
        Failure::Status(_) => false,
        Failure::Transport => idempotency == Idempotency::Safe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_only_repeated_when_the_server_cannot_have_acted() {
        use Failure::*;
        use Idempotency::*;

        assert!(is_retryable(Status(429), Unsafe));
        assert!(is_retryable(Connect, Unsafe));
        assert!(!is_retryable(Status(503), Unsafe));
        assert!(!is_retryable(Transport, Unsafe));
        assert!(is_retryable(Status(503), Safe));
        assert!(is_retryable(Transport, Safe));
        assert!(!is_retryable(Status(404), Safe));
    }

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
            assert!(policy.delay(30, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(9))),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
    }
}

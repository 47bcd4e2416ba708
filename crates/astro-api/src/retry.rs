//! When and how long to wait before trying a request again.
//!
//! Retries are bounded both in count and in total time. A request that changes something is only
//! retried when the server cannot have acted on it (rate limited, or the connection was never
//! made); a request that is safe to repeat is also retried on server errors and broken
//! connections.

use std::future::Future;
use std::time::{Duration, Instant};

pub use backoff::RetryPolicy;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::Error;

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

/// Why one attempt of a request failed.
pub(crate) enum AttemptError {
    Transport(reqwest::Error),
    Status {
        status: u16,
        retry_after: Option<Duration>,
        error: Error,
    },
}

/// Runs `attempt` until it answers, or until `may_retry(failure, attempts made, started)` says
/// to stop, sleeping as `policy` says between attempts. Shared by every client of this crate,
/// which differ only in how they make one attempt and when they give up.
pub(crate) async fn with_retries<Answer, Attempt>(
    operation: &str,
    url: &str,
    policy: &RetryPolicy,
    may_retry: impl Fn(Failure, u32, Instant) -> bool,
    mut attempt: impl FnMut() -> Attempt,
) -> Result<Answer, Error>
where
    Attempt: Future<Output = Result<Answer, AttemptError>>,
{
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (failure, retry_after, error) = match attempt().await {
            Ok(answer) => return Ok(answer),
            Err(AttemptError::Status {
                status,
                retry_after,
                error,
            }) => (Failure::Status(status), retry_after, error),
            Err(AttemptError::Transport(source)) => {
                let failure = if source.is_connect() {
                    Failure::Connect
                } else {
                    Failure::Transport
                };
                let error = Error::Transport {
                    operation: operation.to_owned(),
                    url: url.to_owned(),
                    attempts,
                    source,
                };
                (failure, None, error)
            }
        };

        if !may_retry(failure, attempts, started) {
            return Err(error);
        }
        let delay = policy.delay(attempts, retry_after);
        tracing::warn!(
            operation,
            attempt = attempts,
            delay_ms = delay.as_millis() as u64,
            "retrying after: {error}"
        );
        tokio::time::sleep(delay).await;
    }
}

/// A `Retry-After` in seconds (the only form Astro and Airflow send).
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
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
}

//! When and how long to wait before trying a request again.
//!
//! Retries are bounded both in count and in total time. A request that changes something is only
//! retried when the server cannot have acted on it (rate limited, or the connection was never
//! made); a request that is safe to repeat is also retried on server errors and broken
//! connections.

pub use backoff::RetryPolicy;

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
}

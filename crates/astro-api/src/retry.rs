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
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

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

/// A `Retry-After` as a wait from now: either form HTTP allows, seconds (what Astro and Airflow
/// send) or an HTTP date (what a proxy or Azure Storage may send).
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    retry_after_from(value, OffsetDateTime::now_utc())
}

/// The wait a `Retry-After` value asks for at `now`; a date in the past asks for none.
fn retry_after_from(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }

    // IMF-fixdate, the only date form a sender may generate (RFC 9110, section 5.6.7).
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = PrimitiveDateTime::parse(value, format).ok()?.assume_utc();
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use reqwest::header::HeaderValue;
    use time::macros::datetime;

    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_as_an_http_date() {
        let now = datetime!(2015-10-21 07:28:00 UTC);

        assert_eq!(retry_after_from("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after_from(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after_from("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after_from("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after_from("soon", now), None);
        assert_eq!(retry_after_from("-5", now), None);

        assert_eq!(
            parse_retry_after(&headers("7")),
            Some(Duration::from_secs(7))
        );
        let in_a_minute = OffsetDateTime::now_utc() + time::Duration::seconds(60);
        let date = in_a_minute
            .format(format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] \
                 [hour]:[minute]:[second] GMT"
            ))
            .unwrap();
        let wait = parse_retry_after(&headers(&date)).unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after(&HeaderMap::new()), None);
    }

    /// A policy whose own backoff would take far longer than the test allows.
    fn slow_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(300),
            base_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(120),
        }
    }

    fn throttled(retry_after: Duration) -> AttemptError {
        AttemptError::Status {
            status: 429,
            retry_after: Some(retry_after),
            error: Error::MissingOrganization,
        }
    }

    #[tokio::test]
    async fn the_wait_between_attempts_is_the_servers_retry_after() {
        let attempts = AtomicU32::new(0);
        let started = Instant::now();

        let answer = with_retries(
            "reading",
            "http://x",
            &slow_policy(),
            |failure, made, _| is_retryable(failure, Idempotency::Safe) && made < 3,
            || async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(throttled(Duration::from_millis(300))),
                    _ => Ok("answered"),
                }
            },
        )
        .await;

        let waited = started.elapsed();
        assert_eq!(answer.ok(), Some("answered"));
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        assert!(waited >= Duration::from_millis(600), "{waited:?}");
        assert!(
            waited < Duration::from_secs(10),
            "backoff was used: {waited:?}"
        );
    }

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

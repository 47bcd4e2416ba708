//! Wall-clock time in the shapes Astro and Azure write it.
//!
//! Astro writes timestamps as RFC 3339 in UTC to the second; Azure Blob version ids carry seven
//! fractional digits; HTTP headers use the IMF-fixdate of RFC 9110.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

const SECONDS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

const VERSION_ID: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");

const HTTP_DATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

const IMAGE_TAG: &[BorrowedFormatItem<'_>] =
    format_description!("deploy-[year]-[month]-[day]T[hour]-[minute]-[second]");

/// The current time in UTC.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `2026-12-03T18:33:00Z`, as Astro answers `createdAt` and friends.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(SECONDS).unwrap_or_default()
}

/// `2026-12-03T18:33:00.1234567Z`, the shape of an Azure Blob `x-ms-version-id`.
pub(crate) fn version_id(at: OffsetDateTime) -> String {
    at.format(VERSION_ID).unwrap_or_default()
}

/// `Thu, 03 Dec 2026 18:33:00 GMT`, for `Last-Modified` and `Date` headers.
pub(crate) fn http_date(at: OffsetDateTime) -> String {
    at.format(HTTP_DATE).unwrap_or_default()
}

/// `deploy-2026-12-03T18-33-00`, the image tag Astro hands out with a deploy.
pub(crate) fn image_tag(at: OffsetDateTime) -> String {
    at.format(IMAGE_TAG).unwrap_or_default()
}

/// Parses any RFC 3339 timestamp (a client's `overrideUntil`, a stored version id).
pub(crate) fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Milliseconds since the Unix epoch, the form deadlines take in the state file.
pub(crate) fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_match_astro_and_azure() {
        let at = datetime!(2026-12-03 18:33:00.123_456_789 UTC);

        assert_eq!(rfc3339(at), "2026-12-03T18:33:00Z");
        assert_eq!(version_id(at), "2026-12-03T18:33:00.1234567Z");
        assert_eq!(http_date(at), "Thu, 03 Dec 2026 18:33:00 GMT");
        assert_eq!(image_tag(at), "deploy-2026-12-03T18-33-00");
        let parsed = parse_rfc3339("2026-12-03T18:33:00.1234567Z");
        assert_eq!(parsed, Some(at - time::Duration::nanoseconds(89)));
    }
}

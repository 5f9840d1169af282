//! What an attempt's outcome means, and when to try again. Pure functions, unit-tested here.

use std::time::{Duration, SystemTime};

use crate::endpoint::Backoff;

/// A `Retry-After` longer than this is cut to it: a partner cannot park a delivery for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done.
    Delivered,
    /// Network error, timeout, 408, 429 or 5xx: try again (if attempts remain), not before
    /// `retry_after` when the response said so.
    Retry { retry_after: Option<Duration> },
    /// 410: the endpoint is gone; disable it.
    Gone,
    /// Any other status (other 4xx, and 1xx/3xx, which a webhook receiver has no business
    /// sending since redirects are not followed): dead-letter at once.
    Reject,
}

/// Classifies a response status.
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry { retry_after },
        410 => Verdict::Gone,
        _ => Verdict::Reject,
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (relative to `now`). Capped at
/// [`MAX_RETRY_AFTER`]; a date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The delay before the next attempt after `failed_attempts` failures (1-based): full jitter,
/// uniform in `[min, min(max, min * 2^(failed_attempts-1))]`, and never shorter than the
/// partner's `Retry-After`.
pub fn next_delay(
    backoff: Backoff,
    failed_attempts: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exponent = failed_attempts.saturating_sub(1).min(32);
    let ceiling = backoff
        .min
        .saturating_mul(1u32 << exponent.min(31))
        .min(backoff.max);
    let floor = backoff.min.min(ceiling);
    let span = ceiling.saturating_sub(floor).as_millis() as u64;
    let jittered = floor
        + Duration::from_millis(if span == 0 {
            0
        } else {
            fastrand::u64(0..=span)
        });
    match retry_after {
        Some(after) => jittered.max(after),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_spec_says() {
        assert_eq!(classify_status(200, None), Verdict::Delivered);
        assert_eq!(classify_status(204, None), Verdict::Delivered);
        for s in [408, 429, 500, 502, 503, 599] {
            assert!(
                matches!(classify_status(s, None), Verdict::Retry { .. }),
                "{s}"
            );
        }
        assert_eq!(classify_status(410, None), Verdict::Gone);
        for s in [400, 401, 403, 404, 422, 301] {
            assert_eq!(classify_status(s, None), Verdict::Reject, "{s}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_exponentially_within_bounds() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..200 {
            let d1 = next_delay(b, 1, None);
            assert_eq!(d1, Duration::from_millis(100));
            let d3 = next_delay(b, 3, None);
            assert!(
                d3 >= Duration::from_millis(100) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d20 = next_delay(b, 20, None);
            assert!(
                d20 >= Duration::from_millis(100) && d20 <= Duration::from_secs(1),
                "{d20:?}"
            );
            assert!(next_delay(b, 1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        }
        // Jitter spreads the delays: not all equal.
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| next_delay(b, 4, None)).collect();
        assert!(spread.len() > 5);
    }
}

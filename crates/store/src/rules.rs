//! The append rules both backends share, so that SQLite and Cassandra agree on what an append
//! means: validation, in-batch eventId deduplication and the expected-version check.
use std::collections::HashSet;

use crate::{ExpectedVersion, NewEvent, Result, StoreError};

/// The longest aggregate id, eventId and eventType the store takes, in bytes. Cassandra refuses
/// a key over 64 KiB, and only after the event row is written (a retry then stores the event
/// again); one limit for both backends keeps them alike and is far above any real id.
pub const MAX_ID_BYTES: usize = 1024;

/// Rejects requests no backend can store: an empty aggregate id or an event without an id
/// (the id is what makes a retry idempotent, so it cannot be optional), and ids or types longer
/// than [`MAX_ID_BYTES`] (named by their length, not quoted).
pub(crate) fn validate(aggregate_id: &str, events: &[NewEvent]) -> Result<()> {
    if aggregate_id.is_empty() {
        return Err(StoreError::Invalid("aggregate id must not be empty".into()));
    }
    if aggregate_id.len() > MAX_ID_BYTES {
        return Err(StoreError::Invalid(format!("the aggregate id is {} bytes long; at most {MAX_ID_BYTES} are stored", aggregate_id.len())));
    }
    for (i, e) in events.iter().enumerate() {
        for (what, value) in [("eventId", &e.event_id), ("eventType", &e.event_type)] {
            if value.len() > MAX_ID_BYTES {
                return Err(StoreError::Invalid(format!("event {i} of the append has an {what} of {} bytes; at most {MAX_ID_BYTES} are stored", value.len())));
            }
        }
    }
    if let Some(i) = events.iter().position(|e| e.event_id.is_empty()) {
        return Err(StoreError::Invalid(format!("event {i} of the append has an empty eventId")));
    }
    if let Some(i) = events.iter().position(|e| e.event_type.is_empty()) {
        return Err(StoreError::Invalid(format!("event {i} of the append has an empty eventType")));
    }
    Ok(())
}

/// Keeps the first occurrence of each eventId within one append: a batch that repeats an event
/// stores it once, exactly as a retried append would.
pub(crate) fn dedup_batch(events: Vec<NewEvent>) -> Vec<NewEvent> {
    let mut seen = HashSet::new();
    events.into_iter().filter(|e| seen.insert(e.event_id.clone())).collect()
}

/// The optimistic concurrency check, made against the version the backend just read.
pub(crate) fn check_expected(aggregate_id: &str, expected: ExpectedVersion, current: u64) -> Result<()> {
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current == 0,
        ExpectedVersion::Exact(v) => current == v,
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict { aggregate_id: aggregate_id.to_string(), expected, current })
    }
}

/// Sequence numbers, counts and limits are u64/usize in the API and signed 64-bit in both
/// databases; values past i64::MAX are refused rather than wrapped.
pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} exceeds the store's 64-bit signed range")))
}

pub(crate) fn from_i64(what: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("stored {what} {v} is negative")))
}

/// A `limit` as a SQL/CQL integer (saturating: a limit larger than the store is no limit).
pub(crate) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn ev(id: &str) -> NewEvent {
        NewEvent { event_id: id.into(), event_type: "t".into(), event_time: Utc::now(), payload: serde_json::json!({}) }
    }

    #[test]
    fn dedup_keeps_first_occurrence_in_order() {
        let ids: Vec<_> = dedup_batch(vec![ev("a"), ev("b"), ev("a"), ev("c")]).into_iter().map(|e| e.event_id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn expected_version_rules() {
        assert!(check_expected("x", ExpectedVersion::Any, 7).is_ok());
        assert!(check_expected("x", ExpectedVersion::NoStream, 0).is_ok());
        assert!(matches!(check_expected("x", ExpectedVersion::NoStream, 1), Err(StoreError::Conflict { current: 1, .. })));
        assert!(check_expected("x", ExpectedVersion::Exact(3), 3).is_ok());
        assert!(matches!(check_expected("x", ExpectedVersion::Exact(2), 3), Err(StoreError::Conflict { current: 3, .. })));
    }

    #[test]
    fn validation_rejects_missing_ids() {
        assert!(matches!(validate("", &[]), Err(StoreError::Invalid(_))));
        assert!(matches!(validate("a", &[ev("")]), Err(StoreError::Invalid(_))));
        assert!(validate("a", &[ev("1")]).is_ok());
    }
}

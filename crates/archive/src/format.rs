//! The archive's object format and names.
//!
//! An object is one batch of events as JSON Lines — each line a [`StoredEvent`] exactly as the
//! store returned it, in the store's time order — compressed with zstd. JSON Lines because a
//! restore (and a human with `zstdcat`) can stream it line by line, and because the envelope is
//! already JSON: nothing is lost or reformatted, so a restore is byte-identical.
//!
//! Names are a pure function of the batch: `<prefix>/<yyyy>/<mm>/<dd>/<first time>_<last time>_
//! <first aggregate>-<first sequence>_<count>.jsonl.zst`. A retried run after a crash reads the
//! same batch, so it computes the same name and overwrites its own earlier upload instead of
//! leaving a duplicate beside it.
use std::io::Write;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use switchboard_store::StoredEvent;

use crate::error::{ArchiveError, Result};

/// One encoded batch: the compressed object and how large its JSON Lines were.
pub struct Encoded {
    pub bytes: Bytes,
    pub uncompressed_len: u64,
    pub checksum: String,
}

/// Appends one event as a JSON line (the one serialization used for objects and restores).
pub fn write_line(out: &mut impl Write, event: &StoredEvent) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

/// Compresses a batch into one object.
pub fn encode(events: &[StoredEvent], level: i32) -> Result<Encoded> {
    let encode_err = |e: std::io::Error| ArchiveError::Encode(e.to_string());
    let mut lines = Vec::with_capacity(events.len() * 256);
    for event in events {
        write_line(&mut lines, event).map_err(encode_err)?;
    }
    let compressed = zstd::bulk::compress(&lines, level).map_err(encode_err)?;
    let bytes = Bytes::from(compressed);
    Ok(Encoded { checksum: checksum(&bytes), uncompressed_len: lines.len() as u64, bytes })
}

/// Decompresses and parses one object.
pub fn decode(key: &str, bytes: &[u8]) -> Result<Vec<StoredEvent>> {
    let corrupt = |detail: String| ArchiveError::Corrupt { key: key.to_string(), detail };
    let lines = zstd::stream::decode_all(bytes).map_err(|e| corrupt(format!("not zstd: {e}")))?;
    lines
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| serde_json::from_slice(line).map_err(|e| corrupt(format!("line {}: {e}", n + 1))))
        .collect()
}

/// `sha256:<hex>` of an object's bytes: what the index records and every read checks.
pub fn checksum(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The deterministic object name of a non-empty batch (None for an empty one).
pub fn object_key(prefix: &str, events: &[StoredEvent]) -> Option<String> {
    let (first, last) = (events.first()?, events.last()?);
    let stamp = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%S%.6fZ").to_string();
    Some(format!(
        "{prefix}/{}/{}_{}_{}-{}_{}.jsonl.zst",
        first.event_time.format("%Y/%m/%d"),
        stamp(&first.event_time),
        stamp(&last.event_time),
        aggregate_slug(&first.aggregate_id),
        first.sequence,
        events.len()
    ))
}

/// An aggregate id made safe for an object name: readable characters kept (at most 40), the
/// rest replaced, plus 8 hex digits of its hash so that two ids that sanitize alike still differ.
fn aggregate_slug(aggregate_id: &str) -> String {
    let readable: String = aggregate_id
        .chars()
        .take(40)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
        .collect();
    let digest = Sha256::digest(aggregate_id.as_bytes());
    format!("{readable}~{:02x}{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2], digest[3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn event(aggregate: &str, sequence: u64, second: u32) -> StoredEvent {
        StoredEvent {
            aggregate_id: aggregate.into(),
            sequence,
            event_id: format!("{aggregate}-{sequence}"),
            event_type: "member.updated".into(),
            event_time: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, second).unwrap(),
            payload: serde_json::from_str(r#"{"z":1,"a":1.50,"big":12345678901234567890123,"n":1e400}"#).unwrap(),
        }
    }

    #[test]
    fn encode_decode_round_trips_exactly() {
        let events = vec![event("member/1", 1, 0), event("member/2", 7, 1)];
        let encoded = encode(&events, 3).unwrap();
        let decoded = decode("k", &encoded.bytes).unwrap();
        assert_eq!(decoded, events);
        // Key order and number spelling survive (preserve_order + arbitrary_precision): the
        // decoded event serializes to exactly the bytes of the original.
        let line = |e: &StoredEvent| {
            let mut out = Vec::new();
            write_line(&mut out, e).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(line(&decoded[0]), line(&events[0]));
        assert!(line(&decoded[0]).contains(r#""payload":{"z":1,"a":1.50,"big":12345678901234567890123,"#));
        assert_eq!(encoded.checksum, checksum(&encoded.bytes));
        assert!(encoded.uncompressed_len > encoded.bytes.len() as u64 / 2);
    }

    #[test]
    fn garbage_is_reported_as_corrupt_with_its_key() {
        let err = decode("events/x", b"not zstd").unwrap_err();
        assert!(err.to_string().contains("events/x"), "{err}");
        let bad_line = zstd::bulk::compress(b"{\"nope\":1}\n", 3).unwrap();
        let err = decode("events/y", &bad_line).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn object_key_is_deterministic_and_names_window_and_first_sequence() {
        let events = vec![event("member/1", 5, 0), event("member/2", 1, 9)];
        let key = object_key("events", &events).unwrap();
        assert_eq!(key, object_key("events", &events.clone()).unwrap());
        assert!(key.starts_with("events/2026/01/02/20260102T030400.000000Z_20260102T030409.000000Z_member_1~"), "{key}");
        assert!(key.ends_with("-5_2.jsonl.zst"), "{key}");
        object_store::path::Path::parse(&key).unwrap();
        // Ids that sanitize to the same text still get different names.
        let other = object_key("events", &[event("member_1", 5, 0), event("member/2", 1, 9)]).unwrap();
        assert_ne!(key, other);
        assert_eq!(object_key("events", &[]), None);
    }
}

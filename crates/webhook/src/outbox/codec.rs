//! The outbox log's record format.
//!
//! A record is a frame: payload length (u32, little endian), CRC-32 of the payload (u32), then the
//! payload, whose first byte is its kind. Integers are little endian; a string or byte string is
//! its length (u32) and its bytes; an optional string is a presence byte (0 or 1) and the string.
//! A frame that is cut short or fails its checksum is not a record: how replay deals with one
//! (a torn tail, or corruption skipped up to the next good record) is in `log.rs`.

use crate::delivery::WebhookDelivery;
use crate::dlq::{AttemptRecord, DeadLetterReason};

/// Frame header: length and checksum.
pub(super) const FRAME_HEADER: usize = 8;
/// Larger payloads are refused when written and treated as corruption when read.
pub(super) const MAX_PAYLOAD: usize = 256 << 20;

const KIND_HEADER: u8 = 0;
const KIND_FULL: u8 = 1;
const KIND_STATE: u8 = 2;
const KIND_REMOVE: u8 = 3;
/// Version of the segment format, in each segment's header record.
pub(super) const FORMAT_VERSION: u32 = 1;

/// A delivery's retry state: attempts made, when the next is due, and whether it is already
/// judged dead (its dead-letter record not yet durable).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct RetryState {
    pub attempt_count: u32,
    pub next_attempt_at: i64,
    pub attempts: Vec<AttemptRecord>,
    pub dead: Option<(DeadLetterReason, String)>,
}

/// One decoded record. (Transient: built to be encoded, or decoded to be applied.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(super) enum Record {
    /// First record of every segment: sequence numbers below `next_seq` are taken.
    Header { next_seq: u64 },
    /// A delivery with its whole state (an enqueue, or a relocation during compaction).
    Full {
        seq: u64,
        enqueued_at: i64,
        delivery: WebhookDelivery,
        state: RetryState,
    },
    /// New retry state of a delivery written earlier.
    State { seq: u64, state: RetryState },
    /// The delivery left the outbox (delivered, or its dead letter is durable).
    Remove { seq: u64 },
}

/// Appends `record` as a frame to `out`; returns the frame's length.
pub(super) fn encode(out: &mut Vec<u8>, record: &Record) -> Result<usize, serde_json::Error> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    match record {
        Record::Header { next_seq } => {
            out.push(KIND_HEADER);
            put_u32(out, FORMAT_VERSION);
            put_u64(out, *next_seq);
        }
        Record::Full {
            seq,
            enqueued_at,
            delivery,
            state,
        } => {
            out.truncate(start);
            return encode_full(out, *seq, *enqueued_at, delivery, state);
        }
        Record::State { seq, state } => {
            out.push(KIND_STATE);
            put_u64(out, *seq);
            put_state(out, state)?;
        }
        Record::Remove { seq } => {
            out.push(KIND_REMOVE);
            put_u64(out, *seq);
        }
    }
    Ok(seal(out, start))
}

/// Appends a full record of a borrowed delivery (what `encode` does for `Record::Full`, without
/// the copy of the delivery a `Record` would need).
pub(super) fn encode_full(
    out: &mut Vec<u8>,
    seq: u64,
    enqueued_at: i64,
    delivery: &WebhookDelivery,
    state: &RetryState,
) -> Result<usize, serde_json::Error> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    out.push(KIND_FULL);
    put_u64(out, seq);
    put_i64(out, enqueued_at);
    put_bytes(out, delivery.delivery_id.as_bytes());
    put_bytes(out, delivery.event_id.as_bytes());
    put_bytes(out, delivery.endpoint.as_bytes());
    put_opt(out, delivery.correlation_id.as_deref());
    put_json(out, &delivery.headers)?;
    put_json(out, &delivery.original_event)?;
    put_state(out, state)?;
    put_bytes(out, &delivery.body);
    if out.len() - start - FRAME_HEADER > MAX_PAYLOAD {
        out.truncate(start);
        return Err(<serde_json::Error as serde::ser::Error>::custom(format!(
            "a webhook delivery of more than {} MiB cannot be stored in the outbox",
            MAX_PAYLOAD >> 20
        )));
    }
    Ok(seal(out, start))
}

/// Fills in the frame header of the frame starting at `start`; returns the frame's length.
fn seal(out: &mut [u8], start: usize) -> usize {
    let payload = &out[start + FRAME_HEADER..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// A length-prefixed JSON value, serialized in place.
fn put_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), serde_json::Error> {
    let at = out.len();
    put_u32(out, 0);
    serde_json::to_writer(&mut *out, value)?;
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Whether a payload looks like a record, by its kind, its size and its sequence number (below
/// `max_seq`), before any checksum is computed: the cheap test of a resynchronizing scan.
pub(super) fn plausible(payload: &[u8], max_seq: u64) -> bool {
    let seq = || payload.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    match payload.first() {
        Some(&KIND_HEADER) => payload.len() == 13 && payload[1..5] == FORMAT_VERSION.to_le_bytes(),
        // seq, count, next, attempts length, presence byte at least.
        Some(&KIND_STATE) => payload.len() >= 26 && seq().is_some_and(|s| s > 0 && s < max_seq),
        Some(&KIND_REMOVE) => payload.len() == 9 && seq().is_some_and(|s| s > 0 && s < max_seq),
        Some(&KIND_FULL) => payload.len() >= 60 && seq().is_some_and(|s| s > 0 && s < max_seq),
        _ => false,
    }
}

/// The payload length and checksum of a frame header.
pub(super) fn frame_header(bytes: &[u8; FRAME_HEADER]) -> (usize, u32) {
    let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().unwrap_or_default());
    (len, crc)
}

/// Why a payload whose checksum matched does not decode.
#[derive(Debug, PartialEq)]
pub(super) enum DecodeError {
    /// Written by a build with another segment format: refuse to open rather than guess.
    Version(u32),
    Malformed(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Version(v) => write!(
                f,
                "segment format version {v}; this build reads version {FORMAT_VERSION}"
            ),
            DecodeError::Malformed(m) => f.write_str(m),
        }
    }
}

/// Decodes a payload whose checksum matched.
pub(super) fn decode(payload: &[u8]) -> Result<Record, DecodeError> {
    decode_record(payload).map_err(|e| match e.strip_prefix(VERSION_PREFIX) {
        Some(v) => DecodeError::Version(v.parse().unwrap_or(0)),
        None => DecodeError::Malformed(e),
    })
}

const VERSION_PREFIX: &str = "version:";

fn decode_record(payload: &[u8]) -> Result<Record, String> {
    let mut r = Reader { bytes: payload };
    let kind = r.u8()?;
    let record = match kind {
        KIND_HEADER => {
            let version = r.u32()?;
            if version != FORMAT_VERSION {
                return Err(format!("{VERSION_PREFIX}{version}"));
            }
            Record::Header {
                next_seq: r.u64()?,
            }
        }
        KIND_FULL => {
            let seq = r.u64()?;
            let enqueued_at = r.i64()?;
            let delivery_id = r.string()?;
            let event_id = r.string()?;
            let endpoint = r.string()?;
            let correlation_id = r.opt_string()?;
            let headers = serde_json::from_str(&r.string()?).map_err(|e| e.to_string())?;
            let original_event = serde_json::from_str(&r.string()?).map_err(|e| e.to_string())?;
            let state = r.state()?;
            let body = bytes::Bytes::copy_from_slice(r.bytes()?);
            Record::Full {
                seq,
                enqueued_at,
                delivery: WebhookDelivery {
                    delivery_id,
                    event_id,
                    endpoint,
                    body,
                    headers,
                    original_event,
                    correlation_id,
                },
                state,
            }
        }
        KIND_STATE => Record::State {
            seq: r.u64()?,
            state: r.state()?,
        },
        KIND_REMOVE => Record::Remove { seq: r.u64()? },
        other => return Err(format!("unknown record kind {other}")),
    };
    if !r.bytes.is_empty() {
        return Err(format!("{} bytes after the record", r.bytes.len()));
    }
    Ok(record)
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_u32(out, v.len() as u32);
    out.extend_from_slice(v);
}

fn put_opt(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => {
            out.push(1);
            put_bytes(out, s.as_bytes());
        }
        None => out.push(0),
    }
}

fn put_state(out: &mut Vec<u8>, state: &RetryState) -> Result<(), serde_json::Error> {
    put_u32(out, state.attempt_count);
    put_i64(out, state.next_attempt_at);
    if state.attempts.is_empty() {
        put_bytes(out, b"");
    } else {
        put_json(out, &state.attempts)?;
    }
    match &state.dead {
        Some((reason, message)) => {
            out.push(1);
            put_bytes(out, reason.as_str().as_bytes());
            put_bytes(out, message.as_bytes());
        }
        None => out.push(0),
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("record ends early".to_owned());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a text field is not UTF-8".to_owned())
    }

    fn opt_string(&mut self) -> Result<Option<String>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            other => Err(format!("presence byte {other}")),
        }
    }

    fn state(&mut self) -> Result<RetryState, String> {
        let attempt_count = self.u32()?;
        let next_attempt_at = self.i64()?;
        let attempts = self.bytes()?;
        let attempts = if attempts.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(attempts).map_err(|e| e.to_string())?
        };
        let dead = match self.u8()? {
            0 => None,
            1 => {
                let reason = self.string()?;
                let reason = DeadLetterReason::parse(&reason)
                    .ok_or_else(|| format!("unknown dead-letter reason {reason:?}"))?;
                Some((reason, self.string()?))
            }
            other => return Err(format!("presence byte {other}")),
        };
        Ok(RetryState {
            attempt_count,
            next_attempt_at,
            attempts,
            dead,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WebhookDelivery {
        WebhookDelivery::new("evt-1", "partner", b"{\"a\":1}".to_vec(), serde_json::json!({"x": [1, 2]}))
            .with_header("traceparent", "00-abc-def-01")
            .with_correlation_id("corr-9")
    }

    fn roundtrip(record: &Record) -> Record {
        let mut out = Vec::new();
        let n = encode(&mut out, record).unwrap();
        assert_eq!(n, out.len());
        let (len, crc) = frame_header(out[..FRAME_HEADER].try_into().unwrap());
        assert_eq!(len, out.len() - FRAME_HEADER);
        assert_eq!(crc, crc32fast::hash(&out[FRAME_HEADER..]));
        decode(&out[FRAME_HEADER..]).unwrap()
    }

    #[test]
    fn every_record_kind_round_trips() {
        let state = RetryState {
            attempt_count: 2,
            next_attempt_at: 1_700_000_000_123,
            attempts: vec![AttemptRecord {
                attempt: 1,
                at: chrono::Utc::now(),
                status: Some(503),
                error: Some("busy".into()),
                duration_ms: 12,
            }],
            dead: Some((DeadLetterReason::Rejected, "HTTP 400".into())),
        };
        match roundtrip(&Record::Full { seq: 7, enqueued_at: -5, delivery: sample(), state: state.clone() }) {
            Record::Full { seq, enqueued_at, delivery, state: s } => {
                assert_eq!((seq, enqueued_at), (7, -5));
                assert_eq!(delivery, sample());
                assert_eq!(s, state);
            }
            other => panic!("{other:?}"),
        }
        match roundtrip(&Record::State { seq: 9, state: RetryState::default() }) {
            Record::State { seq, state } => assert_eq!((seq, state), (9, RetryState::default())),
            other => panic!("{other:?}"),
        }
        assert!(matches!(roundtrip(&Record::Remove { seq: 11 }), Record::Remove { seq: 11 }));
        assert!(matches!(roundtrip(&Record::Header { next_seq: 42 }), Record::Header { next_seq: 42 }));
    }

    #[test]
    fn a_truncated_or_unknown_payload_is_an_error_not_a_record() {
        let mut out = Vec::new();
        encode(&mut out, &Record::Full { seq: 1, enqueued_at: 0, delivery: sample(), state: RetryState::default() }).unwrap();
        let payload = &out[FRAME_HEADER..];
        let malformed = |m: &str| DecodeError::Malformed(m.to_owned());
        assert_eq!(decode(&payload[..payload.len() - 1]).unwrap_err(), malformed("record ends early"));
        assert_eq!(decode(&[9]).unwrap_err(), malformed("unknown record kind 9"));
        let mut longer = payload.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), malformed("1 bytes after the record"));
        let mut future = vec![KIND_HEADER];
        future.extend_from_slice(&2u32.to_le_bytes());
        future.extend_from_slice(&1u64.to_le_bytes());
        assert_eq!(decode(&future).unwrap_err(), DecodeError::Version(2));
    }
}

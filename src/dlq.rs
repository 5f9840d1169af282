//! The dead-letter record: the seed's DLQ envelope.
//!
//! ```json
//! {"originalEvent": {...}, "error": {"type": "...", "message": "...", "stackTrace": "..."},
//!  "processingContext": {"processor": "...", "timestamp": "...", "correlationId": "..."}}
//! ```
//! `originalEvent` is the event as received: the parsed JSON when it parsed, else the raw text (a
//! string) so nothing is lost. `stackTrace` holds the chain of causes (Rust has no stack trace to
//! give that would help an operator). Extra fields (`attempts` for webhooks, `rule`, `target`) sit
//! beside these. The record's key is the eventId when there is one.
use serde_json::{json, Map, Value};

pub const DLQ_TOPIC: &str = "events.dlq";

/// Why an event or a delivery was dead-lettered. `kind` is the `error.type` and the
/// `events_dlq_total{reason}` label.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub kind: &'static str,
    pub message: String,
    pub causes: Vec<String>,
    pub processor: &'static str,
    pub extra: Map<String, Value>,
}

impl DeadLetter {
    pub fn new(kind: &'static str, message: impl Into<String>, processor: &'static str) -> DeadLetter {
        DeadLetter { kind, message: message.into(), causes: Vec::new(), processor, extra: Map::new() }
    }

    pub fn with(mut self, key: &str, value: Value) -> DeadLetter {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// The record, for an event given as raw bytes (parsed if it is JSON).
    pub fn record(&self, original: &[u8]) -> Value {
        let original = serde_json::from_slice::<Value>(original)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(original).into_owned()));
        self.record_value(original)
    }

    pub fn record_value(&self, original: Value) -> Value {
        let correlation = original
            .pointer("/metadata/correlationId")
            .and_then(Value::as_str)
            .or_else(|| original.get("eventId").and_then(Value::as_str))
            .map(|s| Value::String(s.to_string()))
            .unwrap_or(Value::Null);
        let mut rec = json!({
            "originalEvent": original,
            "error": {"type": self.kind, "message": self.message, "stackTrace": self.causes.join("\n")},
            "processingContext": {
                "processor": self.processor,
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "correlationId": correlation,
            }
        });
        if let Value::Object(m) = &mut rec {
            for (k, v) in &self.extra {
                m.insert(k.clone(), v.clone());
            }
        }
        rec
    }
}

/// The record's key: the original event's eventId when it has one.
pub fn record_key(record: &Value) -> Option<String> {
    record.pointer("/originalEvent/eventId").and_then(Value::as_str).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_has_the_seed_shape() {
        let d = DeadLetter::new("InvalidEnvelope", "eventTime: is required", "pipeline").with("rule", json!("r1"));
        let r = d.record(br#"{"eventId":"e1","metadata":{"correlationId":"c9"}}"#);
        assert_eq!(r["originalEvent"]["eventId"], "e1");
        assert_eq!(r["error"]["type"], "InvalidEnvelope");
        assert_eq!(r["error"]["message"], "eventTime: is required");
        assert_eq!(r["processingContext"]["processor"], "pipeline");
        assert_eq!(r["processingContext"]["correlationId"], "c9");
        assert!(r["processingContext"]["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(r["rule"], "r1");
        assert_eq!(record_key(&r).as_deref(), Some("e1"));
    }

    #[test]
    fn unparsable_input_is_kept_as_text() {
        let r = DeadLetter::new("InvalidJson", "expected value", "pipeline").record(b"{not json");
        assert_eq!(r["originalEvent"], "{not json");
        assert_eq!(record_key(&r), None);
    }
}

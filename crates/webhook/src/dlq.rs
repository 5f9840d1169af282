//! Dead letters: the record written when a delivery cannot be made, and the sink it goes to.
//!
//! The record is the seed's `send_to_dlq` envelope (`originalEvent`, `error {type, message,
//! stackTrace}`, `processingContext {processor, timestamp, correlationId}`) plus what a person
//! needs to decide on a replay: the endpoint (label only: scheme, host, path — never a query or a
//! header), and every attempt with its time, status or error.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::WebhookDelivery;
use crate::error::DeadLetterError;

/// Where dead letters go. The gateway implements it on the local bus or Kafka `events.dlq`.
/// `dead_letter` returns `Ok` only once the record is durable: the delivery is removed from the
/// outbox after that, and kept (and dead-lettered again later) if it fails.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    async fn dead_letter(&self, record: DeadLetterRecord) -> Result<(), DeadLetterError>;
}

/// One attempt of a delivery, as kept in the outbox and in the dead-letter record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// 1-based.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The HTTP status, when a response arrived.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    /// What went wrong without a response (timeout, connection reset, ...), or the start of a
    /// rejecting response's body.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Why a delivery was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadLetterReason {
    /// Every attempt failed with a retryable outcome.
    RetriesExhausted,
    /// A 4xx other than 408, 410 and 429: retrying would not help.
    Rejected,
    /// The endpoint answered 410 Gone (now or earlier) and is disabled.
    EndpointGone,
}

impl DeadLetterReason {
    /// The `error.type` of the record, and the `result` label of webhook_deliveries_total.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::RetriesExhausted => "WebhookRetriesExhausted",
            DeadLetterReason::Rejected => "WebhookRejected",
            DeadLetterReason::EndpointGone => "WebhookEndpointGone",
        }
    }

    /// The reason whose [`as_str`](Self::as_str) is `s`.
    pub fn parse(s: &str) -> Option<DeadLetterReason> {
        [
            DeadLetterReason::RetriesExhausted,
            DeadLetterReason::Rejected,
            DeadLetterReason::EndpointGone,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    /// Rust has no exception stack; this holds the last attempt's error chain (or is empty).
    pub stack_trace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingContext {
    pub processor: String,
    pub timestamp: DateTime<Utc>,
    pub correlation_id: Option<String>,
}

/// The dead-letter envelope. Serialize it with serde_json to get the wire format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterRecord {
    pub original_event: serde_json::Value,
    pub error: ErrorInfo,
    pub processing_context: ProcessingContext,
    /// The delivery's outbox id and its `webhook-id` (the eventId, or the eventId with a suffix:
    /// see the gateway's docs/webhooks.md), for replay and deduplication.
    pub delivery_id: String,
    pub webhook_id: String,
    pub endpoint_key: String,
    /// The endpoint's label ([`crate::Endpoint::label`]): scheme://host[:port]/path of its URL, or the
    /// label it was configured with (the gateway: the URL as written, `${VAR}` placeholders kept).
    pub endpoint: String,
    pub attempts: Vec<AttemptRecord>,
    /// The request body as it was sent (the transformed event): UTF-8 text, or base64 when
    /// `bodyEncoding` is `"base64"`. Kept so a replay sends exactly what the partner missed.
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body_encoding: Option<String>,
    /// The delivery's own headers (e.g. traceparent); never the endpoint's secret headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

impl DeadLetterRecord {
    /// The delivery again, for `dlq replay`: same delivery id and webhook-id (the partner can
    /// deduplicate), same body and headers, attempts starting from zero. Enqueue it with
    /// [`crate::Dispatcher::enqueue`]; a 410-disabled endpoint must be re-enabled first or it
    /// comes straight back.
    pub fn to_delivery(&self) -> Result<WebhookDelivery, base64::DecodeError> {
        use base64::Engine as _;
        let body = match self.body_encoding.as_deref() {
            Some("base64") => base64::engine::general_purpose::STANDARD.decode(&self.body)?,
            _ => self.body.clone().into_bytes(),
        };
        Ok(WebhookDelivery {
            delivery_id: self.delivery_id.clone(),
            event_id: self.webhook_id.clone(),
            endpoint: self.endpoint_key.clone(),
            body: body.into(),
            headers: self.headers.clone(),
            original_event: self.original_event.clone(),
            correlation_id: self.processing_context.correlation_id.clone(),
        })
    }

    /// The record's key on `events.dlq`: the eventId, as in the seed (the original event's
    /// `eventId`; the `webhook-id` when the event has none).
    pub fn key(&self) -> &str {
        self.original_event.get("eventId").and_then(serde_json::Value::as_str).unwrap_or(&self.webhook_id)
    }
}

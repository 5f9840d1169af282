//! `WebhookDelivery`: one event bound for one endpoint, as it is written to the outbox.

use serde::{Deserialize, Serialize};

/// One delivery. Its `delivery_id` is stable (by default `eventId` + endpoint key), so enqueueing
/// the same delivery twice — a gateway that crashed after the outbox write but before the source
/// offset was acknowledged sees the event again — stores it once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Unique per (event, endpoint); the outbox's idempotency key.
    pub delivery_id: String,
    /// The event's `eventId`, sent as `webhook-id` (stable across retries, so the receiver can
    /// deduplicate).
    pub event_id: String,
    /// The key of the [`crate::Endpoint`] to deliver to.
    pub endpoint: String,
    /// The request body: the (transformed) event, as bytes (shared, not copied, by each attempt).
    pub body: bytes::Bytes,
    /// Headers of this delivery alone (for example `traceparent`). Not secret: they may be logged.
    pub headers: Vec<(String, String)>,
    /// The event as it arrived, for the dead-letter record.
    pub original_event: serde_json::Value,
    /// Correlation id for the dead-letter record's processingContext, if the event has one.
    pub correlation_id: Option<String>,
}

impl WebhookDelivery {
    /// A delivery with `delivery_id = "{event_id}/{endpoint}"`, no extra headers.
    pub fn new(
        event_id: impl Into<String>,
        endpoint: impl Into<String>,
        body: impl Into<bytes::Bytes>,
        original_event: serde_json::Value,
    ) -> Self {
        let event_id = event_id.into();
        let endpoint = endpoint.into();
        WebhookDelivery {
            delivery_id: format!("{event_id}/{endpoint}"),
            event_id,
            endpoint,
            body: body.into(),
            headers: Vec::new(),
            original_event,
            correlation_id: None,
        }
    }

    /// Adds a header of this delivery only (e.g. `traceparent`).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }
}

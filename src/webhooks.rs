//! The gateway side of webhook delivery: turns planned webhook deliveries into durable outbox
//! rows of switchboard-webhook, whose workers deliver them.
use std::sync::Arc;

use serde_json::Value;
use switchboard_core::lang::WebhookTarget;

use crate::sinks::SinkError;

/// One planned webhook delivery.
pub struct WebhookJob {
    pub rule: String,
    pub target: Arc<WebhookTarget>,
    /// The original event (for the DLQ record).
    pub event: Value,
    /// The (transformed) body.
    pub body: Vec<u8>,
    pub traceparent: String,
    pub rules_version: String,
}

#[derive(Clone, Default)]
pub struct Webhooks {}

impl Webhooks {
    pub async fn enqueue(&self, jobs: Vec<WebhookJob>) -> Result<(), SinkError> {
        if jobs.is_empty() {
            return Ok(());
        }
        Err(SinkError::Outbox("webhook delivery is not wired into serve yet".into()))
    }
}

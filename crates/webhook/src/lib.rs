//! Webhook delivery (filled in by the webhook issue).

//! Errors of the webhook crate. Each says what failed and, where it helps, what to do next.
//! None of them carries a secret: URLs appear only as their metric label (scheme, host, path).

use std::path::PathBuf;

/// An endpoint that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("webhook URL is not valid: {0}")]
    Url(String),
    #[error("webhook URL must use http or https, not {0:?}")]
    Scheme(String),
    #[error("invalid signing secret: {0} (use whsec_<base64> or a raw secret)")]
    SigningSecret(&'static str),
    #[error("header {name:?} is not a valid HTTP header name or value")]
    Header { name: String },
    #[error("{0}")]
    Invalid(&'static str),
}

/// A failure of the durable outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    #[error("cannot create the outbox directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("outbox database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("outbox record cannot be (de)serialized: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the outbox writer thread has stopped; reopen the outbox")]
    Closed,
    #[error("outbox commit failed: {0}")]
    Commit(String),
    #[error("the webhook outbox holds {held} deliveries, at its limit of {limit} (webhooks.outbox_max_deliveries): new deliveries wait until partners catch up")]
    Full { held: usize, limit: usize },
}

/// Why [`crate::Dispatcher::enqueue`] refused a delivery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    #[error("no endpoint with key {0:?} is registered; register it before enqueueing")]
    UnknownEndpoint(String),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// A dead-letter sink that could not make a record durable. The delivery stays in the outbox and
/// the dead-lettering is retried.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter sink failed: {0}")]
pub struct DeadLetterError(pub String);

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("cannot register webhook metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot start the dispatcher's runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

//! Webhook delivery that loses nothing.
//!
//! A delivery is written to a durable [`Outbox`] (an append-only log, group-committed, fsync'd) before the
//! gateway acknowledges the source; a [`Dispatcher`] runs one worker per [`Endpoint`] that
//! delivers from the outbox with the endpoint's method, headers, timeout, concurrency limit, rate
//! limit and circuit breaker, retries with exponential backoff and full jitter, signs with
//! Standard Webhooks v1, and hands what cannot be delivered to a [`DeadLetterSink`]. A row leaves
//! the outbox only when it is delivered or its dead-letter record is durable.
//!
//! ```text
//! enqueue ──fsync──> outbox (log)    ──claim due rows──> worker(endpoint) ──> attempt tasks ──HTTP──> partner
//!                        ▲                                                    │
//!                        └──── retry state (attempt count, history, next time) ┤
//!                                                                             └──> DeadLetterSink (events.dlq)
//! ```

mod breaker;
mod client;
mod delivery;
mod dispatcher;
mod dlq;
mod endpoint;
mod error;
mod metrics;
mod outbox;
mod retry;
mod secret;
mod sign;

pub use breaker::CircuitState;
pub use delivery::WebhookDelivery;
pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use dlq::{
    AttemptRecord, DeadLetterReason, DeadLetterRecord, DeadLetterSink, ErrorInfo, ProcessingContext,
};
pub use endpoint::{Backoff, CircuitBreaker, Endpoint, EndpointConfig, Method, RateLimit};
pub use error::{ConfigError, DeadLetterError, EnqueueError, OutboxError, StartError};
pub use metrics::Metrics;
pub use outbox::{Outbox, OutboxOptions, PendingDelivery};
pub use retry::{classify_status, next_delay, parse_retry_after, Verdict, MAX_RETRY_AFTER};
pub use secret::Secret;
pub use sign::SigningKey;

//! Prometheus metrics, registered into the registry the gateway passes in.
//!
//! The `endpoint` label is the endpoint's label (scheme://host[:port]/path): never a query
//! string, a header or a key that could carry a secret.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The crate's metrics. Cloning shares the underlying collectors.
#[derive(Clone)]
pub struct Metrics {
    /// Final outcome of each delivery: result = delivered | exhausted | rejected | gone.
    pub deliveries: IntCounterVec,
    /// Every attempt: result = success | retryable | rejected | gone.
    pub attempts: IntCounterVec,
    /// Duration of each attempt, from sending to the end of the response (or the error).
    pub duration: HistogramVec,
    /// Rows in the outbox.
    pub outbox_depth: IntGauge,
    /// The outbox's limit (`OutboxOptions::max_deliveries`), for alerts on depth / limit.
    pub outbox_limit: IntGauge,
    /// 0 closed, 1 half-open, 2 open.
    pub circuit_state: IntGaugeVec,
    /// 1 once a 410 has disabled the endpoint.
    pub endpoint_disabled: IntGaugeVec,
    /// Dead-letter records the sink failed to make durable (they are retried).
    pub dead_letter_failures: IntCounterVec,
}

impl Metrics {
    /// Creates the metrics and registers them. Fails if the names are already registered.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Metrics {
            deliveries: IntCounterVec::new(
                Opts::new(
                    "webhook_deliveries_total",
                    "Webhook deliveries by final result",
                ),
                &["endpoint", "result"],
            )?,
            attempts: IntCounterVec::new(
                Opts::new(
                    "webhook_attempts_total",
                    "Webhook delivery attempts by outcome",
                ),
                &["endpoint", "result"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "webhook_delivery_duration_seconds",
                    "Duration of one webhook attempt",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ]),
                &["endpoint"],
            )?,
            outbox_depth: IntGauge::new(
                "webhook_outbox_depth",
                "Deliveries in the webhook outbox",
            )?,
            outbox_limit: IntGauge::new(
                "webhook_outbox_limit",
                "Most deliveries the webhook outbox holds before enqueues wait (back-pressure)",
            )?,
            circuit_state: IntGaugeVec::new(
                Opts::new(
                    "webhook_circuit_state",
                    "Circuit breaker state: 0 closed, 1 half-open, 2 open",
                ),
                &["endpoint"],
            )?,
            endpoint_disabled: IntGaugeVec::new(
                Opts::new(
                    "webhook_endpoint_disabled",
                    "1 when a 410 Gone disabled the endpoint",
                ),
                &["endpoint"],
            )?,
            dead_letter_failures: IntCounterVec::new(
                Opts::new(
                    "webhook_dead_letter_failures_total",
                    "Dead-letter writes that failed and will be retried",
                ),
                &["endpoint"],
            )?,
        };
        registry.register(Box::new(metrics.deliveries.clone()))?;
        registry.register(Box::new(metrics.attempts.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.outbox_depth.clone()))?;
        registry.register(Box::new(metrics.outbox_limit.clone()))?;
        registry.register(Box::new(metrics.circuit_state.clone()))?;
        registry.register(Box::new(metrics.endpoint_disabled.clone()))?;
        registry.register(Box::new(metrics.dead_letter_failures.clone()))?;
        Ok(metrics)
    }
}

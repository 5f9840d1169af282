//! Prometheus metrics, with the seed's names (see examples/prometheus-alerts.yaml and
//! examples/grafana-dashboard.json, which use exactly these).
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    /// Messages published to topics, by the event's type.
    pub events_published: IntCounterVec,
    /// Events taken from a source and processed (routed, dropped as duplicate or dead-lettered).
    pub events_processed: IntCounter,
    /// Decode → deliveries durable, per event.
    pub processing_duration: Histogram,
    /// Per batch, the time of each stage of planning and making it durable: `plan`, `publish`
    /// (topic messages and DLQ records acknowledged), `outbox` (webhook rows committed),
    /// `store` (event-store appends), `dedup` (the eventIds recorded).
    pub batch_stage_duration: prometheus::HistogramVec,
    /// Records written to the DLQ, by reason.
    pub events_dlq: IntCounterVec,
    /// Processing errors by type (invalid_json, invalid_envelope, template, transform, sink, ...).
    pub processing_errors: IntCounterVec,
    /// Events dropped as duplicates by eventId.
    pub events_duplicate: IntCounter,
    /// Events each rule fired for (`default` for the default block).
    pub rule_matches: IntCounterVec,
    pub rules_reload: IntCounterVec,
    /// 1 for the version of the rule set currently serving.
    pub rules_version_info: IntGaugeVec,
    pub rules_loaded: IntGauge,
    /// Kafka consumer lag per topic and partition.
    pub consumer_lag: IntGaugeVec,
    /// Events accepted by HTTP ingestion.
    pub http_ingested: IntCounterVec,
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let events_processed = IntCounter::new("events_processed_total", "Events taken from a source and processed")?;
        registry.register(Box::new(events_processed.clone()))?;
        let events_duplicate = IntCounter::new("events_duplicate_total", "Events dropped as duplicates by eventId")?;
        registry.register(Box::new(events_duplicate.clone()))?;
        let processing_duration = Histogram::with_opts(
            HistogramOpts::new("event_processing_duration_seconds", "From decode until every delivery is durable")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )?;
        registry.register(Box::new(processing_duration.clone()))?;
        let batch_stage_duration = prometheus::HistogramVec::new(
            HistogramOpts::new("batch_stage_duration_seconds", "Per batch: time spent in each stage of planning and delivery")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["stage"],
        )?;
        registry.register(Box::new(batch_stage_duration.clone()))?;
        let rules_loaded = IntGauge::new("rules_loaded", "Rules in the serving rule set")?;
        registry.register(Box::new(rules_loaded.clone()))?;
        Ok(Metrics {
            events_published: counter_vec(&registry, "events_published_total", "Messages published to topics", &["event_type"])?,
            events_dlq: counter_vec(&registry, "events_dlq_total", "Records written to the dead-letter queue", &["reason"])?,
            processing_errors: counter_vec(&registry, "events_processing_errors_total", "Processing errors", &["error_type"])?,
            rule_matches: counter_vec(&registry, "rule_matches_total", "Events each rule fired for", &["rule"])?,
            rules_reload: counter_vec(&registry, "rules_reload_total", "Rule set reloads", &["result"])?,
            rules_version_info: gauge_vec(&registry, "rules_version_info", "The serving rule set version", &["version"])?,
            consumer_lag: gauge_vec(&registry, "kafka_consumer_lag", "Consumer lag in messages", &["topic", "partition"])?,
            http_ingested: counter_vec(&registry, "http_events_ingested_total", "Events accepted over HTTP", &["mode"])?,
            registry,
            events_processed,
            processing_duration,
            batch_stage_duration,
            events_duplicate,
            rules_loaded,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

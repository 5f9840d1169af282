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

/// `events_processing_errors_total{error_type}` values: from the pipeline (`invalid_json`,
/// `invalid_envelope`, `delivery_planning`), the sources (`sink`) and HTTP refusals
/// (`validation` per refused event or request, `unauthorized`, `body_too_large`).
pub const ERROR_TYPES: &[&str] =
    &["invalid_json", "invalid_envelope", "delivery_planning", "sink", "validation", "unauthorized", "body_too_large"];

/// `events_dlq_total{reason}` values (the DLQ record's `error.type`) the pipeline writes.
pub const DLQ_REASONS: &[&str] = &["InvalidJson", "InvalidEnvelope", "UndeliverableTarget"];

/// Labelled families announced even before their first series.
const ANNOUNCED: &[(&str, &str, &str)] = &[
    ("events_published_total", "Messages published to topics", "counter"),
    ("events_dlq_total", "Records written to the dead-letter queue", "counter"),
    ("events_processing_errors_total", "Processing errors", "counter"),
    ("rule_matches_total", "Events each rule fired for", "counter"),
    ("rules_reload_total", "Rule set reloads", "counter"),
    ("kafka_consumer_lag", "Consumer lag in messages", "gauge"),
];

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
        let metrics = Metrics {
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
        };
        metrics.init_known_labels();
        Ok(metrics)
    }

    /// The label values the code knows, at 0 from startup, so every family shows in `/metrics`
    /// before its first event (a counter that appears only on its first increment hides a
    /// rate() from the first event, and alerts on absent series).
    fn init_known_labels(&self) {
        for result in ["success", "failure"] {
            self.rules_reload.with_label_values(&[result]);
        }
        for kind in ERROR_TYPES {
            self.processing_errors.with_label_values(&[kind]);
        }
        for reason in DLQ_REASONS {
            self.events_dlq.with_label_values(&[reason]);
        }
    }

    /// `rule_matches_total{rule}` at 0 for every rule of a snapshot (called at start and on
    /// each install; counters of rules that left the set keep their last value).
    pub fn init_rules<'a>(&self, names: impl Iterator<Item = &'a str>) {
        for name in names {
            self.rule_matches.with_label_values(&[name]);
        }
    }

    /// The text exposition format. A labelled family with no series yet (`events_published_total`
    /// before the first publish: its label values are event types, unknown in advance) is still
    /// announced with its `# HELP` and `# TYPE` lines.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&families, &mut buf);
        let mut text = String::from_utf8(buf).unwrap_or_default();
        for (name, help, kind) in ANNOUNCED {
            if !families.iter().any(|f| f.name() == *name) {
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            }
        }
        text
    }
}

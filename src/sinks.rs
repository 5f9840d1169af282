//! Topic sinks: where routed messages (and DLQ records) are published — the local bus in embedded
//! mode, Kafka otherwise. `publish` returns only once every message of the batch is durable
//! (fsynced on the local bus; acknowledged by all in-sync replicas on Kafka), which is what lets
//! the source acknowledge its offsets afterwards.
use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::bus::{LocalBus, Record};

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub value: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    #[error("Kafka did not acknowledge a message to {topic}: {message}")]
    Kafka { topic: String, message: String },
    #[error("the local bus writer stopped: {0}")]
    Join(String),
    #[error("webhook outbox: {0}")]
    Outbox(String),
    #[error("event store: {0}")]
    Store(String),
}

/// The producer settings: the seed's batching defaults, made durable and idempotent.
pub fn producer_config(brokers: &str, overrides: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("batch.size", "16384")
        .set("linger.ms", "10")
        .set("max.in.flight.requests.per.connection", "5")
        .set("queue.buffering.max.kbytes", "32768")
        .set("message.timeout.ms", "120000");
    for (k, v) in overrides {
        c.set(k, v);
    }
    c
}

#[derive(Clone)]
pub enum TopicSink {
    Local(LocalBus),
    Kafka(FutureProducer),
}

impl TopicSink {
    pub fn kafka(brokers: &str, overrides: &BTreeMap<String, String>) -> Result<TopicSink, rdkafka::error::KafkaError> {
        Ok(TopicSink::Kafka(producer_config(brokers, overrides).create()?))
    }

    /// Publishes a batch; returns when all of it is durable.
    pub async fn publish(&self, messages: Vec<OutMessage>) -> Result<(), SinkError> {
        if messages.is_empty() {
            return Ok(());
        }
        match self {
            TopicSink::Local(bus) => {
                let bus = bus.clone();
                tokio::task::spawn_blocking(move || -> Result<(), SinkError> {
                    let mut by_topic: BTreeMap<String, Vec<Record>> = BTreeMap::new();
                    for m in messages {
                        by_topic
                            .entry(m.topic)
                            .or_default()
                            .push(Record { key: m.key, headers: m.headers, value: m.value });
                    }
                    for (topic, records) in by_topic {
                        bus.append(&topic, &records)?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| SinkError::Join(e.to_string()))?
            }
            TopicSink::Kafka(producer) => {
                let sends = messages.iter().map(|m| {
                    let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
                    for (k, v) in &m.headers {
                        headers = headers.insert(Header { key: k, value: Some(v) });
                    }
                    let mut record = FutureRecord::to(&m.topic).payload(&m.value).headers(headers);
                    if let Some(k) = &m.key {
                        record = record.key(k);
                    }
                    let topic = m.topic.clone();
                    let fut = producer.send(record, Duration::from_secs(120));
                    async move { fut.await.map(|_| ()).map_err(|(e, _)| SinkError::Kafka { topic, message: e.to_string() }) }
                });
                let results = futures::future::join_all(sends).await;
                results.into_iter().collect()
            }
        }
    }

    /// Waits for queued Kafka messages (shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let TopicSink::Kafka(p) = self {
            if let Err(e) = p.flush(timeout) {
                tracing::warn!(error = %e, "Kafka producer flush incomplete at shutdown");
            }
        }
    }
}

//! Topic sinks: where routed messages (and DLQ records) are published — the local bus in embedded
//! mode, Kafka otherwise. `publish` returns only once every message of the batch is durable
//! (fsynced on the local bus; acknowledged by all in-sync replicas on Kafka), which is what lets
//! the source acknowledge its offsets afterwards.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::bus::{LocalBus, Record};

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Shared with the input (a delivery without a transform) or the transform's output, or
    /// the text made for it (a `Vec` taken over without a copy): copied once, into librdkafka's
    /// queue or the local bus's frame.
    pub value: bytes::Bytes,
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
    /// The idempotent producer hit a fatal error (librdkafka's `ERR__FATAL`, e.g. a sequence
    /// gap the broker cannot explain): it takes no message again, so retrying is pointless and
    /// the gateway stops (exit 2) for its supervisor to start it afresh.
    #[error("the Kafka producer hit a fatal error: {0}")]
    Fatal(String),
}

/// The producer settings: the seed's batching defaults, made durable and idempotent.
///
/// `batch.size` is the seed's 16 KiB as librdkafka counts it: the seed's value is the Java
/// client's, which fills a batch up to 16 KiB of *compressed* bytes (by its running estimate of
/// the compression ratio); librdkafka counts the messages' bytes before compression. At the 4x
/// that librdkafka itself assumes for lz4 (our 1 KB JSON events compress ~3.5x), 64 KiB of
/// messages is the seed's 16 KiB on the wire. Measured (docs/performance.md): with 16,384 the
/// gateway spent ~20% more CPU per event and delivered ~20% less.
pub fn producer_config(brokers: &str, overrides: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("batch.size", "65536")
        .set("linger.ms", "10")
        .set("max.in.flight.requests.per.connection", "5")
        .set("queue.buffering.max.kbytes", "32768")
        .set("message.timeout.ms", "120000");
    for (k, v) in overrides {
        c.set(k, v);
    }
    c
}

/// The acknowledgements one `publish` call waits for: a counter the delivery callbacks count
/// down, instead of a future per message.
pub struct Acks {
    pending: AtomicUsize,
    first_error: Mutex<Option<SinkError>>,
    done: tokio::sync::Notify,
}

impl Acks {
    fn settle(&self, n: usize) {
        if self.pending.fetch_sub(n, Ordering::AcqRel) == n {
            // notify_one keeps a permit when nobody waits yet: the wake-up is never lost.
            self.done.notify_one();
        }
    }

    fn fail(&self, error: SinkError) {
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(error);
    }
}

/// Counts delivery reports down on the producer's polling thread.
#[derive(Default)]
pub struct AckContext;

impl ClientContext for AckContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::error!(error = %error, reason, "Kafka producer error");
    }
}

/// The producer's fatal error, asked of librdkafka itself (an atomic read while there is none).
fn fatal_error(producer: &KafkaProducer) -> Option<String> {
    let mut buf = [0 as std::ffi::c_char; 512];
    // SAFETY: the handle is live while `producer` is borrowed; librdkafka writes a NUL-terminated
    // string of at most `buf.len()` bytes into `buf`.
    unsafe {
        let err = rdkafka::bindings::rd_kafka_fatal_error(producer.client().native_ptr(), buf.as_mut_ptr(), buf.len());
        if err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
    }
}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Arc<Acks>;

    fn delivery(&self, result: &DeliveryResult<'_>, acks: Arc<Acks>) {
        if let Err((e, m)) = result {
            acks.fail(SinkError::Kafka { topic: m.topic().to_string(), message: e.to_string() });
        }
        acks.settle(1);
    }
}

pub type KafkaProducer = ThreadedProducer<AckContext>;

#[derive(Clone)]
pub enum TopicSink {
    Local(LocalBus),
    /// Several producers, each with its own connections: librdkafka puts one partition in each
    /// produce request, and an idempotent producer has one request in flight at a time, so with
    /// hundreds of output partitions one producer waits out a round trip per partition. A topic
    /// always uses the same producer, so each partition keeps one idempotent writer (order and
    /// dedup by sequence number hold).
    Kafka(Arc<[KafkaProducer]>),
}

/// How long `publish` retries a message while librdkafka's queue is full (as `message.timeout.ms`).
const QUEUE_FULL_TIMEOUT: Duration = Duration::from_secs(120);

impl TopicSink {
    pub fn kafka(brokers: &str, overrides: &BTreeMap<String, String>, producers: usize) -> Result<TopicSink, rdkafka::error::KafkaError> {
        let mut all = Vec::with_capacity(producers.max(1));
        for i in 0..producers.max(1) {
            let mut config = producer_config(brokers, overrides);
            if !overrides.contains_key("client.id") {
                config.set("client.id", format!("switchboard-{i}"));
            }
            all.push(config.create_with_context(AckContext)?);
        }
        Ok(TopicSink::Kafka(all.into()))
    }

    /// Which of `n` producers a topic's messages always go through: a fixed hash of its name, so
    /// the choice is the same in every process and after every restart.
    fn producer_index(n: usize, topic: &str) -> usize {
        (crate::dedup::fnv1a_64(topic.as_bytes()) % n as u64) as usize
    }

    fn producer_for<'p>(producers: &'p [KafkaProducer], topic: &str) -> &'p KafkaProducer {
        &producers[TopicSink::producer_index(producers.len(), topic)]
    }

    /// The first fatal error of a Kafka producer, if one had one.
    pub fn fatal(&self) -> Option<String> {
        match self {
            TopicSink::Local(_) => None,
            TopicSink::Kafka(producers) => producers.iter().find_map(fatal_error),
        }
    }

    /// Publishes a batch; returns when all of it is durable.
    pub async fn publish(&self, messages: Vec<OutMessage>) -> Result<(), SinkError> {
        if messages.is_empty() {
            return Ok(());
        }
        if let Some(reason) = self.fatal() {
            return Err(SinkError::Fatal(reason));
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
                            .push(Record { key: m.key, headers: m.headers, value: m.value.into() });
                    }
                    for (topic, records) in by_topic {
                        bus.append(&topic, &records)?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| SinkError::Join(e.to_string()))?
            }
            TopicSink::Kafka(producers) => {
                let acks = Arc::new(Acks {
                    pending: AtomicUsize::new(messages.len()),
                    first_error: Mutex::new(None),
                    done: tokio::sync::Notify::new(),
                });
                for m in &messages {
                    let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
                    for (k, v) in &m.headers {
                        headers = headers.insert(Header { key: k, value: Some(v) });
                    }
                    let mut record = BaseRecord::with_opaque_to(&m.topic, acks.clone()).payload(&m.value[..]).headers(headers);
                    if let Some(k) = &m.key {
                        record = record.key(k);
                    }
                    let producer = TopicSink::producer_for(producers, &m.topic);
                    let since = Instant::now();
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) if since.elapsed() < QUEUE_FULL_TIMEOUT => {
                                record = back;
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err((e, _)) => {
                                // Never queued, so no report will count it down.
                                acks.fail(SinkError::Kafka { topic: m.topic.clone(), message: e.to_string() });
                                acks.settle(1);
                                break;
                            }
                        }
                    }
                }
                acks.done.notified().await;
                let first_error = acks.first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
                match first_error {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
        }
    }

    /// Waits for queued Kafka messages (shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let TopicSink::Kafka(producers) = self {
            // One deadline for all of them, so shutdown stays within its grace period.
            let deadline = Instant::now() + timeout;
            for p in producers.iter() {
                if let Err(e) = p.flush(deadline.saturating_duration_since(Instant::now())) {
                    tracing::warn!(error = %e, "Kafka producer flush incomplete at shutdown");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    fn brokers() -> String {
        std::env::var("SWITCHBOARD_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
    }

    fn message(topic: &str, i: usize) -> OutMessage {
        OutMessage {
            topic: topic.to_string(),
            key: Some(format!("k{i}").into_bytes()),
            headers: vec![("rule".into(), b"r".to_vec())],
            value: format!("{{\"i\":{i}}}").into_bytes().into(),
        }
    }

    /// Against the real broker (scripts/services): `publish` returns once every message is
    /// acknowledged, and a message that cannot be produced fails the batch, naming its topic.
    #[tokio::test]
    async fn kafka_publish_waits_for_every_ack_and_reports_a_refusal() {
        let sink = TopicSink::kafka(&brokers(), &BTreeMap::new(), 3).expect("producers");
        let run = rand::random::<u32>();
        let topics: Vec<String> = (0..6).map(|t| format!("sinks-test-{run}-{t}")).collect();
        let spread: std::collections::HashSet<usize> = (0..30).map(|i| TopicSink::producer_index(3, &format!("topic-{i}"))).collect();
        assert_eq!(spread, (0..3).collect(), "thirty topics use all three producers");
        // Fixed values (FNV-1a 64 of the name): the same in every process and build.
        assert_eq!(TopicSink::producer_index(4, "events.out"), 2);
        assert_eq!(TopicSink::producer_index(3, "crm.members"), 1);
        assert_eq!(TopicSink::producer_index(3, "topic-0"), 2);
        let batch: Vec<OutMessage> = (0..600).map(|i| message(&topics[i % 6], i)).collect();
        sink.publish(batch).await.expect("a batch to new topics is acknowledged");

        let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("consumer");
        for t in &topics {
            let md = consumer.fetch_metadata(Some(t), Duration::from_secs(10)).expect("metadata");
            let (_, high) = consumer.fetch_watermarks(t, 0, Duration::from_secs(10)).expect("watermarks");
            assert_eq!(md.topics()[0].partitions().len(), 1);
            assert_eq!(high, 100, "every acknowledged message of {t} is on the broker");
        }
        let topic = topics[0].clone();

        // Larger than message.max.bytes (1 MB): refused when handed to librdkafka, and the batch
        // fails instead of waiting for a report that will never come.
        let mut big = message(&topic, 1);
        big.value = vec![b'x'; 2 << 20].into();
        let started = Instant::now();
        let err = sink.publish(vec![message(&topic, 0), big]).await.expect_err("a 2 MB message is refused");
        assert!(matches!(&err, SinkError::Kafka { topic: t, .. } if *t == topic), "{err}");
        assert!(started.elapsed() < Duration::from_secs(60), "reported, not timed out");
    }

    /// One partition whose idempotence window (librdkafka counts five messages in flight against
    /// it) is full nearly all the time: batches of a few messages, no linger. The vendored
    /// librdkafka carries a patch for exactly this state (vendor/rdkafka-sys/PATCHES.md: the
    /// broker thread no longer asks for an immediate wake-up while the window is full, and waits
    /// for a response instead of spinning on `poll(0)`): every message must still be delivered,
    /// once, in order.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_idempotence_window_still_delivers_everything_in_order() {
        let props: BTreeMap<String, String> =
            [("batch.size", "100"), ("linger.ms", "0")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sink = TopicSink::kafka(&brokers(), &props, 1).expect("producer");
        let topic = format!("sink-window-{}-{}", std::process::id(), rand::random::<u32>());
        const N: usize = 4000;
        let batch: Vec<OutMessage> = (0..N).map(|i| message(&topic, i)).collect();
        let started = Instant::now();
        sink.publish(batch).await.expect("every message is acknowledged");
        let took = started.elapsed();

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", format!("{topic}-check"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let mut seen = Vec::with_capacity(N);
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < N && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(500)) {
                let m = m.expect("a message");
                let v: serde_json::Value = serde_json::from_slice(m.payload().expect("a value")).expect("JSON");
                seen.push(v["i"].as_u64().expect("i") as usize);
            }
        }
        assert_eq!(seen.len(), N, "every message is on the broker (published in {took:?})");
        assert!(seen.iter().enumerate().all(|(i, v)| i == *v), "in order, each once");
        let (_, high) = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10)).expect("watermarks");
        assert_eq!(high, N as i64, "no message was written twice");
    }

    /// A fatal error of the idempotent producer (raised with librdkafka's own test hook, as a
    /// broker that lost acknowledged data would) makes every later publish fail as `Fatal`, which
    /// the router turns into a stop instead of retrying for ever.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_fatal_producer_error_fails_every_later_publish() {
        let sink = TopicSink::kafka(&brokers(), &BTreeMap::new(), 1).expect("producer");
        let topic = format!("sink-fatal-{}", std::process::id());
        sink.publish(vec![message(&topic, 0)]).await.expect("published before the error");
        assert_eq!(sink.fatal(), None);
        let TopicSink::Kafka(producers) = &sink else { unreachable!() };
        // SAFETY: the producer's handle is live for the call; the reason is a C string literal.
        let raised = unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                producers[0].client().native_ptr(),
                rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                c"a test of the fatal path".as_ptr(),
            )
        };
        assert_eq!(raised, rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
        let started = Instant::now();
        while sink.fatal().is_none() && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(sink.fatal().is_some_and(|r| r.contains("a test of the fatal path")), "{:?}", sink.fatal());
        let err = sink.publish(vec![message(&topic, 1)]).await.expect_err("nothing is taken after a fatal error");
        assert!(matches!(err, SinkError::Fatal(_)), "{err}");
    }
}

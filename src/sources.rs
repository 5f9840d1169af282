//! Sources: the loops that take events from the local bus or a Kafka consumer group, run them
//! through the pipeline, and acknowledge them only once every planned delivery is durable.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::bus::LocalBus;
use crate::config::KafkaConfig;
use crate::metrics::Metrics;
use crate::pipeline::{Input, Pipeline};
use crate::sinks::TopicSink;

/// Retries delivering a batch until it is durable or shutdown is requested. Returns false when
/// shutdown interrupted it (the batch stays unacknowledged and is redelivered on restart).
///
/// Planning (decode, dedup, match, transform, serialize) runs on the blocking pool, so batches in
/// flight are planned on every core while this task only awaits durability.
async fn deliver_until_durable(
    pipeline: &Arc<Pipeline>,
    inputs: Arc<Vec<Input>>,
    sink: &TopicSink,
    cancel: &CancellationToken,
) -> bool {
    let mut backoff = Duration::from_millis(100);
    // The snapshot current when the batch is first planned routes it on every attempt.
    let snapshot = pipeline.snapshot.load_full();
    loop {
        let (p, batch, s) = (pipeline.clone(), inputs.clone(), snapshot.clone());
        let plan = match tokio::task::spawn_blocking(move || p.plan_on(&batch, &s)).await {
            Ok(plan) => plan,
            Err(e) => {
                // A panic while planning: retried like a failed delivery, never acknowledged.
                tracing::error!(error = %e, "planning a batch failed");
                tokio::select! {
                    _ = cancel.cancelled() => return false,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        match pipeline.deliver(plan, sink).await {
            Ok(()) => return true,
            Err(crate::sinks::SinkError::Fatal(reason)) => {
                // Retrying cannot help: stop, unacknowledged, for the router to end in an error.
                tracing::error!(reason = %reason, events = inputs.len(), "the producer cannot deliver any more; stopping");
                cancel.cancel();
                return false;
            }
            Err(e) => {
                pipeline.metrics.processing_errors.with_label_values(&["sink"]).inc();
                tracing::error!(error = %e, events = inputs.len(), retry_in_ms = backoff.as_millis() as u64, "deliveries not durable; retrying the batch");
                tokio::select! {
                    _ = cancel.cancelled() => return false,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// The embedded mode's router: reads the local bus ingest topic as consumer `group`.
pub async fn run_local(
    pipeline: Arc<Pipeline>,
    bus: LocalBus,
    sink: TopicSink,
    topic: String,
    group: String,
    batch_size: usize,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut next = bus.committed(&group, &topic)?;
    let source_topic: Arc<str> = Arc::from(topic.as_str());
    tracing::info!(topic = %topic, group = %group, from_offset = next, "local bus router started");
    // The same lag gauge as Kafka mode, `kafka_consumer_lag{topic, partition="0"}`: the topic's
    // message count minus the group's committed offset (a local bus topic has one partition).
    let lag = |next: u64| {
        let end = bus.topics().into_iter().find(|(name, _)| *name == topic).map_or(0, |(_, n)| n);
        pipeline.metrics.consumer_lag.with_label_values(&[topic.as_str(), "0"]).set(end.saturating_sub(next) as i64);
    };
    loop {
        if cancel.is_cancelled() {
            break;
        }
        lag(next);
        let records = {
            let bus = bus.clone();
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || bus.read(&topic, next, batch_size)).await??
        };
        if records.is_empty() {
            tokio::select! {
                _ = cancel.cancelled() => break,
                r = bus.wait_beyond(&topic, next) => r?,
            }
            continue;
        }
        let last = records.last().map(|(o, _)| *o).unwrap_or(next);
        let inputs: Vec<Input> = records
            .into_iter()
            .map(|(offset, r)| Input {
                value: r.value.into(),
                headers: r.headers,
                source: Some(crate::pipeline::InputSource { topic: source_topic.clone(), partition: 0, offset: offset as i64 }),
            })
            .collect();
        if !deliver_until_durable(&pipeline, Arc::new(inputs), &sink, &cancel).await {
            break;
        }
        next = last + 1;
        let (b, t, g) = (bus.clone(), topic.clone(), group.clone());
        tokio::task::spawn_blocking(move || b.commit(&g, &t, next)).await??;
        lag(next);
    }
    tracing::info!(topic = %topic, committed = next, "local bus router stopped");
    Ok(())
}

/// Commits stored offsets when partitions are revoked (cooperative-sticky: only the revoked ones
/// move), and publishes consumer lag from librdkafka's statistics.
pub struct GatewayContext {
    metrics: Arc<Metrics>,
}

impl ClientContext for GatewayContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || !p.desired {
                    continue;
                }
                // librdkafka's consumer_lag is -1 until the group has committed once (a new
                // group, or one stuck on its first batch): then the lag is everything from the
                // log start, as auto.offset.reset=earliest reads it.
                let lag = if p.consumer_lag >= 0 {
                    p.consumer_lag
                } else if p.hi_offset >= 0 && p.committed_offset < 0 {
                    p.hi_offset - p.lo_offset.max(0)
                } else {
                    continue;
                };
                self.metrics.consumer_lag.with_label_values(&[topic.as_str(), &partition.to_string()]).set(lag);
            }
        }
    }
}

impl ConsumerContext for GatewayContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Another member reports these partitions' lag from now on: two series for one
            // partition would be counted twice by a sum().
            for e in tpl.elements() {
                let _ = self.metrics.consumer_lag.remove_label_values(&[e.topic(), &e.partition().to_string()]);
            }
            // Offsets are stored only for events whose deliveries are durable, so committing them
            // now is safe, and it spares the next owner a redelivery.
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => tracing::info!(partitions = tpl.count(), "committed offsets on revoke"),
                Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => tracing::warn!(error = %e, "commit on revoke failed"),
            }
        }
    }
}

pub type GatewayConsumer = StreamConsumer<GatewayContext>;

pub fn consumer(config: &KafkaConfig, metrics: Arc<Metrics>) -> anyhow::Result<GatewayConsumer> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // Offsets are stored by hand, only after the deliveries are durable.
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.min.bytes", "1024")
        .set("fetch.wait.max.ms", "100")
        .set("max.partition.fetch.bytes", "1048576")
        .set("max.poll.interval.ms", "300000")
        .set("session.timeout.ms", "30000")
        .set("heartbeat.interval.ms", "3000")
        .set("statistics.interval.ms", "5000");
    for (k, v) in &config.consumer {
        c.set(k, v);
    }
    let consumer: GatewayConsumer = c.create_with_context(GatewayContext { metrics })?;
    let mut subs: Vec<String> = config.topics.clone();
    if let Some(p) = &config.topic_pattern {
        subs.push(if p.starts_with('^') { p.clone() } else { format!("^{p}") });
    }
    let refs: Vec<&str> = subs.iter().map(String::as_str).collect();
    consumer.subscribe(&refs)?;
    Ok(consumer)
}

/// The message's headers, read through librdkafka's C API: rdkafka's `Headers::iter` panics on
/// a header name that is not UTF-8 (`CStr::to_str().unwrap()`), and one such message would stop
/// the router for good (it is redelivered after every restart). Names are read lossily.
fn message_headers(m: &BorrowedMessage<'_>) -> Vec<(String, Vec<u8>)> {
    use rdkafka::bindings as rd;
    let mut out = Vec::new();
    // SAFETY: `m.ptr()` is the live message `m` borrows; the headers and the name/value pointers
    // librdkafka hands out belong to it and are copied before `m` can go away.
    unsafe {
        let mut hdrs: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
        if rd::rd_kafka_message_headers(m.ptr(), &mut hdrs) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || hdrs.is_null() {
            return out;
        }
        for idx in 0..rd::rd_kafka_header_cnt(hdrs) {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0usize);
            if rd::rd_kafka_header_get_all(hdrs, idx, &mut name, &mut value, &mut size) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                continue;
            }
            let name = String::from_utf8_lossy(std::ffi::CStr::from_ptr(name).to_bytes()).into_owned();
            let value = if value.is_null() { Vec::new() } else { std::slice::from_raw_parts(value.cast::<u8>(), size).to_vec() };
            out.push((name, value));
        }
    }
    out
}

/// Headers that mean something only when the gateway itself wrote them (HTTP ingestion onto the
/// local bus, `dlq replay`): taken from a Kafka input they would let any producer skip dedup
/// or change an event's dedup key, so they are dropped.
const INTERNAL_HEADERS: [&str; 2] = [crate::pipeline::REPLAY_HEADER, crate::http::CLOUDEVENT_HEADER];

/// The input of a message. `topics` keeps one shared name per topic read, so a message costs no
/// allocation for its topic's name.
fn to_input(m: &BorrowedMessage<'_>, trust_internal: bool, topics: &mut HashSet<Arc<str>>) -> Input {
    let mut headers = message_headers(m);
    if !trust_internal {
        headers.retain(|(k, _)| !INTERNAL_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)));
    }
    let name = m.topic();
    let topic = match topics.get(name) {
        Some(t) => t.clone(),
        None => {
            let t: Arc<str> = Arc::from(name);
            topics.insert(t.clone());
            t
        }
    };
    Input {
        value: Arc::from(m.payload().unwrap_or_default()),
        headers,
        source: Some(crate::pipeline::InputSource { topic, partition: m.partition(), offset: m.offset() }),
    }
}

/// The offsets to store once a batch is durable: one past the highest offset per partition.
fn next_offsets(batch: &[Input]) -> HashMap<(Arc<str>, i32), i64> {
    let mut next: HashMap<(Arc<str>, i32), i64> = HashMap::new();
    for source in batch.iter().filter_map(|i| i.source.as_ref()) {
        let e = next.entry((source.topic.clone(), source.partition)).or_insert(source.offset + 1);
        *e = (*e).max(source.offset + 1);
    }
    next
}

fn store_offsets(consumer: &GatewayConsumer, next: HashMap<(Arc<str>, i32), i64>) {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        if let Err(e) = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset)) {
            tracing::warn!(error = %e, "offset list");
        }
    }
    if let Err(e) = consumer.store_offsets(&tpl) {
        // A partition revoked meanwhile: its new owner redelivers (at least once).
        tracing::warn!(error = %e, "storing offsets failed");
    }
}

/// The Kafka router: batches of up to `batch_size` (or what `batch_linger` gathered after the
/// first message of a batch arrived), up to `batches_in_flight` of them being
/// delivered at once (planning the next while the previous ones wait for their acks). Batches
/// complete in order, and a batch's offsets are stored only once it and every batch before it
/// are durable, so a stored offset never passes an event that is not durable (at least once).
/// The consumer keeps polling into a bounded buffer meanwhile (so the group does not evict it)
/// and pauses its assignment when `max_in_flight` messages are buffered.
#[allow(clippy::too_many_arguments)]
pub async fn run_kafka(
    pipeline: Arc<Pipeline>,
    consumer: GatewayConsumer,
    sink: TopicSink,
    batch_size: usize,
    batch_linger: Duration,
    max_in_flight: usize,
    batches_in_flight: usize,
    ingest_topic: String,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut pending: VecDeque<Input> = VecDeque::new();
    let mut topics: HashSet<Arc<str>> = HashSet::new();
    // One stream for the router's life: `recv()` would register and drop a waker slot (two
    // lock round trips) per message.
    let mut stream = consumer.stream();
    // When the oldest buffered message arrived (the batch linger runs from there).
    let mut oldest: Option<tokio::time::Instant> = None;
    // Back-pressure: the assignment is paused while `max_in_flight` messages are buffered. The
    // consumer is still polled meanwhile (a StreamConsumer serves rebalances and statistics only
    // from its poll, and the group evicts a member that does not poll for max.poll.interval.ms);
    // a partition assigned while paused is paused as soon as it delivers.
    let mut paused = false;
    let (p, s, c) = (&pipeline, &sink, &cancel);
    let mut in_flight = FuturesOrdered::new();
    let batches_in_flight = batches_in_flight.max(1);
    // Turns of the loop and messages taken since the router last yielded.
    let mut since_yield = 0usize;
    tracing::info!(batch_size, batch_linger_ms = batch_linger.as_millis() as u64, batches_in_flight, "Kafka router started");
    let interrupted = loop {
        // Start every batch that is due: full, or its first message has lingered long enough.
        while in_flight.len() < batches_in_flight
            && !pending.is_empty()
            && (pending.len() >= batch_size || oldest.is_some_and(|t| t.elapsed() >= batch_linger))
        {
            let take = pending.len().min(batch_size);
            let batch: Vec<Input> = pending.drain(..take).collect();
            oldest = if pending.is_empty() { None } else { Some(tokio::time::Instant::now()) };
            let offsets = next_offsets(&batch);
            let inputs: Arc<Vec<Input>> = Arc::new(batch);
            in_flight.push_back(async move { (deliver_until_durable(p, inputs, s, c).await, offsets) });
        }
        // librdkafka's receive is not a tokio resource, so tokio's cooperative budget never
        // makes this loop yield: do it by hand, so that on a one-core runtime the HTTP server
        // and the reloader keep their turn however busy the stream is.
        since_yield += 1;
        if since_yield >= 64 {
            since_yield = 0;
            tokio::task::yield_now().await;
        }
        if paused && pending.len() < max_in_flight / 2 {
            // The assignment as it is now: partitions may have come and gone while paused.
            match consumer.assignment() {
                Ok(assignment) => match consumer.resume(&assignment) {
                    Ok(()) => paused = false,
                    Err(e) => tracing::warn!(error = %e, "resuming the consumer failed"),
                },
                Err(e) => tracing::warn!(error = %e, "reading the assignment to resume failed"),
            }
        }
        let linger_until = oldest.map(|t| t + batch_linger);
        tokio::select! {
            _ = cancel.cancelled() => break false,
            Some((durable, offsets)) = in_flight.next(), if !in_flight.is_empty() => {
                if !durable {
                    break true;
                }
                store_offsets(&consumer, offsets);
            }
            m = stream.next() => {
                // This message, then what librdkafka has fetched already, without a turn of the
                // loop per message (each turn sets up every branch of the select, a timer among
                // them): up to a batch more, never past the buffer's bound, until nothing is
                // ready (the select waits for it) or an error.
                let mut next = Some(m.expect("Kafka streams never end"));
                let mut taken = 0;
                while let Some(m) = next.take() {
                    match m {
                        Ok(m) => {
                            // The gateway's own headers count only on the topic it writes to itself.
                            pending.push_back(to_input(&m, m.topic() == ingest_topic, &mut topics));
                            taken += 1;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Kafka consume error");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            break;
                        }
                    }
                    if taken <= batch_size && pending.len() < max_in_flight {
                        next = stream.next().now_or_never().flatten();
                    }
                }
                if taken > 0 {
                    oldest.get_or_insert_with(tokio::time::Instant::now);
                    // The messages beyond the first count toward the next yield, as turns do.
                    since_yield += taken - 1;
                }
                // Full: pause the whole assignment. A message while paused comes from what was
                // fetched before, or from a partition assigned since: pause again.
                if pending.len() >= max_in_flight {
                    if let Ok(assignment) = consumer.assignment() {
                        if consumer.pause(&assignment).is_ok() {
                            if !paused {
                                tracing::debug!(buffered = pending.len(), "back-pressure: consumer paused");
                            }
                            paused = true;
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(linger_until.unwrap_or_else(tokio::time::Instant::now)),
                if linger_until.is_some() && in_flight.len() < batches_in_flight => {}
        }
    };
    // Shutdown: let the batches being delivered finish (each stops retrying once cancelled) and
    // store the offsets of those that became durable, in order.
    if !interrupted {
        while let Some((durable, offsets)) = in_flight.next().await {
            if !durable {
                break;
            }
            store_offsets(&consumer, offsets);
        }
    }
    drop(in_flight);
    // Shutdown: commit what is durable, synchronously.
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(error = %e, "final commit failed"),
    }
    tracing::info!(buffered_uncommitted = pending.len(), "Kafka router stopped");
    if let Some(reason) = sink.fatal() {
        anyhow::bail!("the Kafka producer hit a fatal error ({reason}); what was not delivered is delivered again after the restart");
    }
    Ok(())
}

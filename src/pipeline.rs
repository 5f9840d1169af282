//! The per-event pipeline: decode → validate → dedup → match → plan, then hand the plan to the
//! sinks and, once every planned delivery is durable, record the eventIds for dedup.
//!
//! Each event is evaluated against exactly one rule-set snapshot: the one current (an
//! `ArcSwap::load`) when the event is evaluated. Its version travels with every output
//! (`rules-version` header), so a reload never routes half an event by old rules.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use serde_json::Value;
use switchboard_core::event::EnvelopeView;
use switchboard_core::lang::{DeliveryKind, Payload, RuleSet};
use switchboard_store::{EventStore, ExpectedVersion, NewEvent, StoreError};

use crate::dedup::Dedup;
use crate::dlq::{self, DeadLetter};
use crate::metrics::Metrics;
use crate::sinks::{OutMessage, SinkError, TopicSink};
use crate::webhooks::{WebhookJob, Webhooks};

/// An immutable, compiled rule set with its load time. Replaced whole on reload.
pub struct Snapshot {
    pub rules: RuleSet,
    pub loaded_at: DateTime<Utc>,
}

impl Snapshot {
    pub fn version(&self) -> &str {
        self.rules.version()
    }
}

/// A header marking an event re-injected by `switchboard dlq replay`: it skips dedup (its eventId
/// may have been seen when it was dead-lettered).
pub const REPLAY_HEADER: &str = "x-switchboard-replay";

/// One event as a source delivers it.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The message's bytes, shared: a delivery without a transform forwards them as they are.
    pub value: Arc<[u8]>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Where it was read: named in its dead-letter records, so an operator can find the message.
    pub source: Option<InputSource>,
}

/// A message's place in its source: topic, partition (0 on the local bus) and offset.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSource {
    /// Shared by every message read from the topic (one allocation per topic, not per message).
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
}

impl Input {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Everything a batch of events must make durable before its source offsets are acknowledged.
#[derive(Default)]
pub struct Plan {
    pub messages: Vec<OutMessage>,
    pub webhooks: Vec<WebhookJob>,
    pub store: Vec<StoreAppend>,
    /// EventIds to record for dedup once the rest is durable.
    pub event_ids: Vec<String>,
    pub started: Option<Instant>,
    pub events: usize,
}

/// A `to store` delivery: the event appended to its aggregate; the rule and trace context go
/// with the dead letter when the store refuses the append for good.
pub struct StoreAppend {
    pub aggregate_id: String,
    pub event: Value,
    pub rule: String,
    pub traceparent: String,
}

pub struct Pipeline {
    pub snapshot: ArcSwap<Snapshot>,
    pub metrics: Arc<Metrics>,
    dedup: Mutex<Dedup>,
    /// EventIds planned in a batch that is not durable yet: a later batch in flight skips them
    /// (its offsets are stored only after this batch's, so nothing is lost if this one fails
    /// and is retried).
    in_flight_ids: Mutex<HashSet<String>>,
    dlq_topic: String,
    webhooks: Webhooks,
    store: Option<Arc<dyn EventStore>>,
    /// The largest message the sink takes (Kafka: the producer's `message.max.bytes`), so that
    /// a delivery that can never be published is a dead letter at planning instead of a batch
    /// retried for ever. `None`: no limit (the local bus).
    max_message_bytes: Option<usize>,
}

/// What a message costs against `message.max.bytes`: value, key and headers, and room for the
/// record's framing.
fn message_size(m: &OutMessage) -> usize {
    m.value.len() + m.key.as_ref().map_or(0, Vec::len) + m.headers.iter().map(|(k, v)| k.len() + v.len() + 8).sum::<usize>() + 128
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A W3C traceparent: the input's, or a new trace (random ids) when the input carries none.
fn traceparent(input: &Input, event: Option<&Value>) -> String {
    if let Some(tp) = input.header("traceparent").filter(|t| is_traceparent(t)) {
        return tp.to_string();
    }
    if let Some(tp) = event.and_then(|e| e.pointer("/metadata/traceparent")).and_then(Value::as_str) {
        if is_traceparent(tp) {
            return tp.to_string();
        }
    }
    let trace: u128 = rand::random::<u128>() | 1;
    let span: u64 = rand::random::<u64>() | 1;
    format!("00-{trace:032x}-{span:016x}-01")
}

/// A valid W3C traceparent (Trace Context §3.2): `version-traceid-parentid-flags`, all lower-case
/// hex; the version is not `ff`; trace-id (32) and parent-id (16) are not all zeros; flags are 2.
/// Version `00` is exactly 55 characters; a later version may append `-...` fields after them.
/// Anything else is treated as absent (a new trace is started).
pub(crate) fn is_traceparent(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if s.len() < 55 || !s.is_char_boundary(55) {
        return false;
    }
    let (head, rest) = s.split_at(55);
    let parts: Vec<&str> = head.split('-').collect();
    if parts.len() != 4 || !hex(parts[0], 2) || !hex(parts[1], 32) || !hex(parts[2], 16) || !hex(parts[3], 2) {
        return false;
    }
    if parts[0] == "ff" || parts[1].bytes().all(|b| b == b'0') || parts[2].bytes().all(|b| b == b'0') {
        return false;
    }
    if parts[0] == "00" {
        rest.is_empty()
    } else {
        rest.is_empty() || rest.starts_with('-')
    }
}

/// The dedup key of an event: its eventId, or for a CloudEvent (marked by HTTP ingestion) its
/// `source` and `id` (the pair CloudEvents makes unique), NUL-separated so no two pairs collide.
fn dedup_key(input: &Input, envelope: &EnvelopeView<'_>) -> String {
    let id = envelope.event_id.unwrap_or_default().to_string();
    if input.header(crate::http::CLOUDEVENT_HEADER).is_some() {
        let source = envelope.producer_service.unwrap_or_default();
        format!("ce\u{0}{source}\u{0}{id}")
    } else {
        id
    }
}

impl Pipeline {
    pub fn new(
        snapshot: Snapshot,
        metrics: Arc<Metrics>,
        dedup: Dedup,
        dlq_topic: String,
        webhooks: Webhooks,
        store: Option<Arc<dyn EventStore>>,
    ) -> Pipeline {
        metrics.rules_loaded.set(snapshot.rules.rule_count() as i64);
        metrics.rules_version_info.with_label_values(&[snapshot.version()]).set(1);
        metrics.init_rules(snapshot.rules.rule_names());
        Pipeline {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics,
            dedup: Mutex::new(dedup),
            in_flight_ids: Mutex::new(HashSet::new()),
            dlq_topic,
            webhooks,
            store,
            max_message_bytes: None,
        }
    }

    /// Sets the largest message the sink takes (see the field).
    pub fn with_max_message_bytes(mut self, max: Option<usize>) -> Pipeline {
        self.max_message_bytes = max;
        self
    }

    /// Installs a new snapshot atomically; events already being evaluated finish on the old one.
    /// Its webhook targets are registered first, so none of its deliveries finds no endpoint; a
    /// target whose endpoint cannot be built refuses the snapshot (the old one keeps serving).
    pub fn install(&self, snapshot: Snapshot) -> Result<(), String> {
        self.webhooks.register_all(snapshot.rules.webhook_targets()).map_err(|e| e.to_string())?;
        let old = self.snapshot.swap(Arc::new(snapshot));
        let new = self.snapshot.load();
        // One series, the current version's: the old one is removed, not left at 0 for ever.
        let _ = self.metrics.rules_version_info.remove_label_values(&[old.version()]);
        self.metrics.rules_version_info.with_label_values(&[new.version()]).set(1);
        self.metrics.rules_loaded.set(new.rules.rule_count() as i64);
        self.metrics.init_rules(new.rules.rule_names());
        Ok(())
    }

    fn dead_letter(&self, plan: &mut Plan, letter: DeadLetter, input: &Input) {
        self.metrics.events_dlq.with_label_values(&[letter.kind]).inc();
        let mut record = letter.record(&input.value);
        if let Value::Object(m) = &mut record {
            if let Some(src) = &input.source {
                if let Some(Value::Object(ctx)) = m.get_mut("processingContext") {
                    ctx.insert("source".into(), serde_json::json!({"topic": &*src.topic, "partition": src.partition, "offset": src.offset}));
                }
            }
            // Bytes that are not UTF-8 are kept as text lossily in originalEvent; the exact
            // bytes go along in base64.
            if std::str::from_utf8(&input.value).is_err() {
                use base64::Engine as _;
                m.insert("originalEventBase64".into(), Value::String(base64::engine::general_purpose::STANDARD.encode(&input.value)));
            }
        }
        // Like every other output: the input's valid traceparent (or its event's), else a new one.
        let trace = traceparent(input, record.get("originalEvent"));
        let key = dlq::record_key(&record).map(String::into_bytes);
        let headers = vec![("error-type".into(), letter.kind.as_bytes().to_vec()), ("traceparent".into(), trace.into_bytes())];
        let mut value = serde_json::to_vec(&record).unwrap_or_default();
        if let Some(max) = self.max_message_bytes {
            // A record the DLQ topic cannot take (a large non-JSON input grows when escaped)
            // would fail its batch for ever: the original event is cut, as text, to a quarter
            // of the limit or less, and the record says so.
            // (Its text is escaped in the record, up to 6 bytes a character, so the cut is
            // halved until the record fits.)
            let text = String::from_utf8_lossy(&input.value);
            let mut cut = (max / 4).min(text.len());
            while value.len() + 512 > max && cut > 0 {
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                if let Value::Object(m) = &mut record {
                    m.remove("originalEventBase64");
                    m.insert("originalEvent".into(), Value::String(text[..cut].to_string()));
                    m.insert("originalEventTruncated".into(), Value::Bool(true));
                    m.insert("originalEventBytes".into(), Value::from(input.value.len()));
                }
                value = serde_json::to_vec(&record).unwrap_or_default();
                cut /= 2;
            }
        }
        plan.messages.push(OutMessage { topic: self.dlq_topic.clone(), key, headers, value: value.into() });
    }

    /// Decodes, validates, deduplicates and routes a batch on `snapshot` (the current one when
    /// the batch is first planned). No I/O: the plan is delivered by [`Pipeline::deliver`]. A
    /// batch whose delivery failed is planned again on the snapshot of its first plan, so that
    /// each event is routed by one snapshot even when a reload came between the attempts.
    pub fn plan_on(&self, inputs: &[Input], snapshot: &Arc<Snapshot>) -> Plan {
        let mut plan = Plan { started: Some(Instant::now()), events: inputs.len(), ..Plan::default() };
        let mut batch_ids: HashSet<String> = HashSet::new();
        let now = now_ms();
        for input in inputs {
            self.metrics.events_processed.inc();
            let value: Value = match serde_json::from_slice(&input.value) {
                Ok(v) => v,
                Err(e) => {
                    self.metrics.processing_errors.with_label_values(&["invalid_json"]).inc();
                    self.dead_letter(&mut plan, DeadLetter::new("InvalidJson", format!("not valid JSON: {e}"), "pipeline"), input);
                    continue;
                }
            };
            // The checks of HTTP ingestion: a CloudEvent's `type` is any non-empty string.
            let cloudevent = input.header(crate::http::CLOUDEVENT_HEADER).is_some();
            let envelope = match crate::http::check_envelope(&value, cloudevent) {
                Ok(env) => env,
                Err(errors) => {
                    self.metrics.processing_errors.with_label_values(&["invalid_envelope"]).inc();
                    let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                    self.dead_letter(&mut plan, DeadLetter::new("InvalidEnvelope", message, "pipeline"), input);
                    continue;
                }
            };
            // validate() guarantees eventId and eventType are present. The dedup key is the
            // eventId, or source + id for a CloudEvent.
            let event_id = dedup_key(input, &envelope);
            let event_type = envelope.event_type.unwrap_or_default();
            let replayed = input.header(REPLAY_HEADER).is_some();
            let duplicate = batch_ids.contains(&event_id)
                || (!replayed
                    && (self.in_flight_ids.lock().unwrap_or_else(|p| p.into_inner()).contains(&event_id)
                        || self.dedup.lock().unwrap_or_else(|p| p.into_inner()).is_duplicate(&event_id, now)));
            if duplicate {
                self.metrics.events_duplicate.inc();
                continue;
            }
            batch_ids.insert(event_id.clone());
            plan.event_ids.push(event_id.clone());
            self.route(&mut plan, snapshot, input, &value, event_type, &event_id);
        }
        self.in_flight_ids.lock().unwrap_or_else(|p| p.into_inner()).extend(plan.event_ids.iter().cloned());
        if let Some(t) = plan.started {
            self.metrics.batch_stage_duration.with_label_values(&["plan"]).observe(t.elapsed().as_secs_f64());
        }
        plan
    }

    #[allow(clippy::too_many_arguments)]
    fn route(&self, plan: &mut Plan, snapshot: &Snapshot, input: &Input, event: &Value, event_type: &str, dedup_key: &str) {
        // Deliveries without a transform forward the input's bytes (it parsed as this event).
        let evaluation = snapshot.rules.evaluate_text(event, input.value.clone());
        for rule in &evaluation.matched {
            self.metrics.rule_matches.with_label_values(&[rule.as_str()]).inc();
        }
        let trace = traceparent(input, Some(event));
        for delivery in evaluation.deliveries {
            match delivery.kind {
                DeliveryKind::Topic { topic, key, headers } => {
                    // The rule set's headers come first (eventType, eventVersion, the rule's own).
                    let mut hs: Vec<(String, Vec<u8>)> =
                        headers.into_iter().map(|(k, v)| (k, v.expose().as_bytes().to_vec())).collect();
                    for (k, v) in [("rule", delivery.rule.as_str()), ("rules-version", snapshot.version()), ("traceparent", trace.as_str())] {
                        if !hs.iter().any(|(name, _)| name == k) {
                            hs.push((k.to_string(), v.as_bytes().to_vec()));
                        }
                    }
                    let message = OutMessage { topic, key: key.map(String::into_bytes), headers: hs, value: message_bytes(&delivery.payload) };
                    if let Some(max) = self.max_message_bytes.filter(|max| message_size(&message) > *max) {
                        self.metrics.processing_errors.with_label_values(&["delivery_planning"]).inc();
                        let reason = format!(
                            "the message for topic {} is about {} bytes, larger than the producer's message.max.bytes ({max})",
                            message.topic,
                            message_size(&message)
                        );
                        let letter = DeadLetter::new("UndeliverableTarget", reason, "pipeline").with("rule", Value::String(delivery.rule.clone()));
                        self.dead_letter(plan, letter, input);
                        continue;
                    }
                    self.metrics.events_published.with_label_values(&[event_type]).inc();
                    plan.messages.push(message);
                }
                DeliveryKind::Webhook { target } => {
                    plan.webhooks.push(WebhookJob {
                        rule: delivery.rule,
                        target,
                        event: event.clone(),
                        body: delivery.payload.to_vec(),
                        traceparent: trace.clone(),
                        rules_version: snapshot.version().to_string(),
                        dedup_key: dedup_key.to_string(),
                        transform: delivery.transform.clone(),
                    });
                }
                DeliveryKind::Store { aggregate_id } => plan.store.push(StoreAppend {
                    aggregate_id,
                    event: event.clone(),
                    rule: delivery.rule.clone(),
                    traceparent: trace.clone(),
                }),
                DeliveryKind::Dlq { reason } => {
                    self.metrics.processing_errors.with_label_values(&["delivery_planning"]).inc();
                    let letter = DeadLetter::new("UndeliverableTarget", reason, "pipeline")
                        .with("rule", Value::String(delivery.rule.clone()));
                    self.dead_letter(plan, letter, input);
                }
            }
        }
    }

    /// Makes a plan durable: topic messages (and DLQ records), webhook outbox rows, store appends;
    /// then records the batch's eventIds for dedup. An error leaves the source unacknowledged, so
    /// the batch is redelivered (at least once).
    pub async fn deliver(&self, plan: Plan, sink: &TopicSink) -> Result<(), SinkError> {
        let Plan { messages, webhooks, store, event_ids, started, events } = plan;
        let stage = |name: &str, since: Instant| {
            self.metrics.batch_stage_duration.with_label_values(&[name]).observe(since.elapsed().as_secs_f64());
        };
        let durable = async {
            let t = Instant::now();
            let publish = async {
                let out = sink.publish(messages).await;
                stage("publish", t);
                out
            };
            let outbox = async {
                let out = self.webhooks.enqueue(webhooks).await;
                stage("outbox", t);
                out
            };
            let (topics, hooks) = tokio::join!(publish, outbox);
            topics?;
            hooks?;
            let t = Instant::now();
            self.append_to_store(store, sink).await?;
            stage("store", t);
            let t = Instant::now();
            let recorded = self
                .dedup
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(event_ids.iter().map(String::as_str), now_ms())
                .map_err(|e| SinkError::Join(format!("dedup log: {e}")));
            stage("dedup", t);
            recorded
        }
        .await;
        // Durable (now in the dedup log) or failed (the batch is planned again): either way no
        // longer in flight.
        {
            let mut in_flight = self.in_flight_ids.lock().unwrap_or_else(|p| p.into_inner());
            for id in &event_ids {
                in_flight.remove(id);
            }
        }
        durable?;
        if let Some(t) = started {
            // Every event of the batch waited for the whole batch to become durable.
            let latency = t.elapsed().as_secs_f64();
            for _ in 0..events {
                self.metrics.processing_duration.observe(latency);
            }
        }
        Ok(())
    }

    /// Appends each `to store` delivery. An append the store refuses for good
    /// ([`StoreError::Invalid`]: an id it can not take, an event it can not hold) would fail
    /// the same way on every retry and hold up everything behind it, so that event goes to the
    /// DLQ with the store's reason instead; any other error (the backend unreachable) fails the
    /// batch, which is planned again.
    async fn append_to_store(&self, appends: Vec<StoreAppend>, sink: &TopicSink) -> Result<(), SinkError> {
        if appends.is_empty() {
            return Ok(());
        }
        let Some(store) = &self.store else {
            return Err(SinkError::Store("a rule delivers `to store` but no event store is open".into()));
        };
        let mut refused = Vec::new();
        for StoreAppend { aggregate_id, event, rule, traceparent } in appends {
            let new = NewEvent {
                event_id: event.get("eventId").and_then(Value::as_str).unwrap_or_default().to_string(),
                event_type: event.get("eventType").and_then(Value::as_str).unwrap_or_default().to_string(),
                event_time: event
                    .get("eventTime")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(Utc::now),
                payload: event.clone(),
            };
            match store.append(&aggregate_id, vec![new], ExpectedVersion::Any).await {
                Ok(_) => {}
                Err(e @ StoreError::Invalid(_)) => {
                    self.metrics.processing_errors.with_label_values(&["delivery_planning"]).inc();
                    self.metrics.events_dlq.with_label_values(&["UndeliverableTarget"]).inc();
                    let record = DeadLetter::new("UndeliverableTarget", format!("store: {e}"), "pipeline")
                        .with("rule", Value::String(rule))
                        .record_value(event);
                    refused.push(OutMessage {
                        topic: self.dlq_topic.clone(),
                        key: dlq::record_key(&record).map(String::into_bytes),
                        headers: vec![
                            ("error-type".into(), b"UndeliverableTarget".to_vec()),
                            ("traceparent".into(), traceparent.into_bytes()),
                        ],
                        value: serde_json::to_vec(&record).unwrap_or_default().into(),
                    });
                }
                Err(e) => return Err(SinkError::Store(e.to_string())),
            }
        }
        if !refused.is_empty() {
            sink.publish(refused).await?;
        }
        Ok(())
    }
}

/// A topic message's bytes: the text a delivery already has (the event as it arrived, or a
/// transform's output) is shared, not copied; an event held as a value is serialized.
fn message_bytes(payload: &Payload) -> bytes::Bytes {
    match payload {
        Payload::Json(text) => bytes::Bytes::from_owner(text.clone()),
        Payload::Event(_) => payload.to_vec().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_valid_traceparent_is_accepted() {
        assert!(is_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(is_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"), "a later version may add fields");
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-abc",
            "",
        ] {
            assert!(!is_traceparent(bad), "{bad}");
        }
        let input = Input { value: Arc::from(&[][..]), headers: vec![("traceparent".into(), b"00-ABC".to_vec())], ..Input::default() };
        assert!(is_traceparent(&traceparent(&input, None)));
        assert_ne!(traceparent(&input, None), "00-ABC");
    }

    #[test]
    fn cloudevents_dedup_on_source_and_id() {
        let env = |id: &'static str, source: &'static str| EnvelopeView { event_id: Some(id), event_type: None, event_time: None, producer_service: Some(source), subject_id: None };
        let ce = Input { value: Arc::from(&[][..]), headers: vec![(crate::http::CLOUDEVENT_HEADER.into(), b"1.0".to_vec())], ..Input::default() };
        let seed = Input { value: Arc::from(&[][..]), headers: vec![], ..Input::default() };
        assert_ne!(dedup_key(&ce, &env("1", "a")), dedup_key(&ce, &env("1", "b")));
        assert_eq!(dedup_key(&ce, &env("1", "a")), dedup_key(&ce, &env("1", "a")));
        assert_eq!(dedup_key(&seed, &env("1", "a")), "1");
        assert_eq!(dedup_key(&seed, &env("1", "b")), "1", "seed envelopes dedup by eventId alone");
    }

    #[test]
    fn traceparent_is_carried_or_created() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let input = Input { value: Arc::from(&[][..]), headers: vec![("traceparent".into(), tp.as_bytes().to_vec())], ..Input::default() };
        assert_eq!(traceparent(&input, None), tp);
        let bare = Input { value: Arc::from(&[][..]), headers: vec![], ..Input::default() };
        let made = traceparent(&bare, None);
        assert!(is_traceparent(&made), "{made}");
        let bad = Input { value: Arc::from(&[][..]), headers: vec![("traceparent".into(), b"00-0000-bad".to_vec())], ..Input::default() };
        assert_ne!(traceparent(&bad, None), "00-0000-bad");
    }
}

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
use switchboard_core::event::Envelope;
use switchboard_core::lang::{DeliveryKind, RuleSet};
use switchboard_store::{EventStore, ExpectedVersion, NewEvent};

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
#[derive(Debug, Clone)]
pub struct Input {
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
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
    pub store: Vec<(String, Value)>,
    /// EventIds to record for dedup once the rest is durable.
    pub event_ids: Vec<String>,
    pub started: Option<Instant>,
    pub events: usize,
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

fn is_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 4
        && [2, 32, 16, 2].iter().zip(&parts).all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
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
        Pipeline {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics,
            dedup: Mutex::new(dedup),
            in_flight_ids: Mutex::new(HashSet::new()),
            dlq_topic,
            webhooks,
            store,
        }
    }

    /// Installs a new snapshot atomically; events already being evaluated finish on the old one.
    /// Its webhook targets are registered first, so none of its deliveries finds no endpoint.
    pub fn install(&self, snapshot: Snapshot) {
        if let Err(e) = self.webhooks.register_all(snapshot.rules.webhook_targets()) {
            // A target that does not build fails its deliveries (retried, never acknowledged).
            tracing::error!(error = %e, "registering webhook targets of the new rules");
        }
        let old = self.snapshot.swap(Arc::new(snapshot));
        let new = self.snapshot.load();
        self.metrics.rules_version_info.with_label_values(&[old.version()]).set(0);
        self.metrics.rules_version_info.with_label_values(&[new.version()]).set(1);
        self.metrics.rules_loaded.set(new.rules.rule_count() as i64);
    }

    fn dead_letter(&self, plan: &mut Plan, letter: DeadLetter, original: &[u8]) {
        self.metrics.events_dlq.with_label_values(&[letter.kind]).inc();
        let record = letter.record(original);
        plan.messages.push(OutMessage {
            topic: self.dlq_topic.clone(),
            key: dlq::record_key(&record).map(String::into_bytes),
            headers: vec![("error-type".into(), letter.kind.as_bytes().to_vec())],
            value: serde_json::to_vec(&record).unwrap_or_default(),
        });
    }

    /// Decodes, validates, deduplicates and routes a batch. No I/O: the plan is delivered by
    /// [`Pipeline::deliver`].
    pub fn plan(&self, inputs: &[Input]) -> Plan {
        let mut plan = Plan { started: Some(Instant::now()), events: inputs.len(), ..Plan::default() };
        let mut batch_ids: HashSet<String> = HashSet::new();
        let now = now_ms();
        for input in inputs {
            self.metrics.events_processed.inc();
            let value: Value = match serde_json::from_slice(&input.value) {
                Ok(v) => v,
                Err(e) => {
                    self.metrics.processing_errors.with_label_values(&["invalid_json"]).inc();
                    self.dead_letter(&mut plan, DeadLetter::new("InvalidJson", format!("not valid JSON: {e}"), "pipeline"), &input.value);
                    continue;
                }
            };
            let envelope = match Envelope::from_value_ref(&value) {
                Ok(env) => env,
                Err(e) => {
                    self.metrics.processing_errors.with_label_values(&["invalid_envelope"]).inc();
                    self.dead_letter(&mut plan, DeadLetter::new("InvalidEnvelope", e.to_string(), "pipeline"), &input.value);
                    continue;
                }
            };
            if let Err(errors) = envelope.validate() {
                self.metrics.processing_errors.with_label_values(&["invalid_envelope"]).inc();
                let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                self.dead_letter(&mut plan, DeadLetter::new("InvalidEnvelope", message, "pipeline"), &input.value);
                continue;
            }
            // validate() guarantees eventId and eventType are present.
            let event_id = envelope.event_id.clone().unwrap_or_default();
            let event_type = envelope.event_type.clone().unwrap_or_default();
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
            self.route(&mut plan, input, &value, &event_type);
        }
        self.in_flight_ids.lock().unwrap_or_else(|p| p.into_inner()).extend(plan.event_ids.iter().cloned());
        if let Some(t) = plan.started {
            self.metrics.batch_stage_duration.with_label_values(&["plan"]).observe(t.elapsed().as_secs_f64());
        }
        plan
    }

    fn route(&self, plan: &mut Plan, input: &Input, event: &Value, event_type: &str) {
        let snapshot = self.snapshot.load();
        // Deliveries without a transform forward the input's bytes (it parsed as this event).
        let evaluation = snapshot.rules.evaluate_text(event, Arc::from(&input.value[..]));
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
                    self.metrics.events_published.with_label_values(&[event_type]).inc();
                    plan.messages.push(OutMessage {
                        topic,
                        key: key.map(String::into_bytes),
                        headers: hs,
                        value: delivery.payload.to_vec(),
                    });
                }
                DeliveryKind::Webhook { target } => {
                    plan.webhooks.push(WebhookJob {
                        rule: delivery.rule,
                        target,
                        event: event.clone(),
                        body: delivery.payload.to_vec(),
                        traceparent: trace.clone(),
                        rules_version: snapshot.version().to_string(),
                    });
                }
                DeliveryKind::Store { aggregate_id } => plan.store.push((aggregate_id, event.clone())),
                DeliveryKind::Dlq { reason } => {
                    self.metrics.processing_errors.with_label_values(&["delivery_planning"]).inc();
                    let letter = DeadLetter::new("UndeliverableTarget", reason, "pipeline")
                        .with("rule", Value::String(delivery.rule.clone()));
                    self.dead_letter(plan, letter, &input.value);
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
            self.append_to_store(store).await?;
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

    async fn append_to_store(&self, appends: Vec<(String, Value)>) -> Result<(), SinkError> {
        if appends.is_empty() {
            return Ok(());
        }
        let Some(store) = &self.store else {
            return Err(SinkError::Store("a rule delivers `to store` but no event store is open".into()));
        };
        for (aggregate_id, event) in appends {
            let new = NewEvent {
                event_id: event.get("eventId").and_then(Value::as_str).unwrap_or_default().to_string(),
                event_type: event.get("eventType").and_then(Value::as_str).unwrap_or_default().to_string(),
                event_time: event
                    .get("eventTime")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(Utc::now),
                payload: event,
            };
            store
                .append(&aggregate_id, vec![new], ExpectedVersion::Any)
                .await
                .map_err(|e| SinkError::Store(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_carried_or_created() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let input = Input { value: vec![], headers: vec![("traceparent".into(), tp.as_bytes().to_vec())] };
        assert_eq!(traceparent(&input, None), tp);
        let bare = Input { value: vec![], headers: vec![] };
        let made = traceparent(&bare, None);
        assert!(is_traceparent(&made), "{made}");
        let bad = Input { value: vec![], headers: vec![("traceparent".into(), b"00-0000-bad".to_vec())] };
        assert_ne!(traceparent(&bad, None), "00-0000-bad");
    }
}

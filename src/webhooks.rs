//! The gateway side of webhook delivery: turns planned webhook deliveries into durable outbox rows
//! of switchboard-webhook (whose workers deliver them), and implements its dead-letter sink on the
//! gateway's DLQ topic.
//!
//! Endpoint identity: one outbox endpoint per distinct `to webhook` target (URL, method, headers,
//! signing — as written, with `${VAR}` placeholders, so the key is stable across restarts and
//! never derived from a secret's value). Timeout and retry are the endpoint's settings, which a
//! reload updates. A reload that changes a target's URL or headers makes it a new endpoint;
//! deliveries already in the outbox keep the endpoint they were planned for, which stays
//! registered for the life of the process.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use switchboard_core::lang::{WebhookMethod, WebhookTarget};
use switchboard_webhook::{
    Backoff, DeadLetterError, DeadLetterRecord, DeadLetterSink, Dispatcher, Endpoint, EndpointConfig, Method, Secret,
    WebhookDelivery,
};

use crate::metrics::Metrics;
use crate::sinks::{OutMessage, SinkError, TopicSink};

/// One planned webhook delivery.
pub struct WebhookJob {
    pub rule: String,
    pub target: Arc<WebhookTarget>,
    /// The original event (for the DLQ record).
    pub event: Value,
    /// The (transformed) body.
    pub body: Vec<u8>,
    pub traceparent: String,
    pub rules_version: String,
    /// The event's dedup key (its eventId; for a CloudEvent, source and id).
    pub dedup_key: String,
    /// The transform whose output `body` is, if any.
    pub transform: Option<String>,
}

/// The `webhook-id` of a delivery: what a partner deduplicates by, so the same on every retry
/// and replay of one delivery, and different for two deliveries that are not the same message.
///
/// - The event itself from a seed envelope: its `eventId`, as is.
/// - A transform's output: `{eventId}.{transform}` (the transform's file name without `.json`),
///   as two rules may send one event to one partner through two transforms.
/// - A CloudEvent: the `id` is unique only with its `source`, so `{id}.src-{16 hex of FNV-1a 64
///   of the source}` (then the transform's suffix).
/// - When that is not a header value of visible ASCII up to 200 bytes (a non-ASCII eventId):
///   `msg_` and 32 hex digits of a hash of it.
pub fn webhook_id(event_id: &str, dedup_key: &str, transform: Option<&str>) -> String {
    let mut id = event_id.to_string();
    if let Some(rest) = dedup_key.strip_prefix("ce\u{0}") {
        let source = rest.rsplit_once('\u{0}').map_or("", |(source, _)| source);
        id.push_str(&format!(".src-{:016x}", crate::dedup::fnv1a_64(source.as_bytes())));
    }
    if let Some(t) = transform {
        id.push('.');
        id.push_str(t.strip_suffix(".json").unwrap_or(t));
    }
    let visible = !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic());
    if !visible {
        let h1 = crate::dedup::fnv1a_64(id.as_bytes());
        let h2 = crate::dedup::fnv1a_64(format!("{id}\u{0}webhook-id").as_bytes());
        id = format!("msg_{h1:016x}{h2:016x}");
    }
    id
}

/// The outbox endpoint key of a target: FNV-1a 64 of what makes it another partner or another
/// request, as written (placeholders, not values): the URL, the method, the headers and the
/// signing secret. How it is attempted (timeout, retry, backoff) is not part of it, so changing
/// those, by a reload or across a restart, updates the endpoint and keeps its pending rows.
pub fn endpoint_key(target: &WebhookTarget) -> String {
    let headers: Vec<(&str, &str)> = target.headers.iter().map(|(k, v)| (k.as_str(), v.shown())).collect();
    let identity = format!(
        "url={:?}|method={}|headers={headers:?}|sign={:?}",
        target.url.shown(),
        target.method.as_str(),
        target.sign.as_ref().map(|s| s.shown())
    );
    format!("wh-{:016x}", crate::dedup::fnv1a_64(identity.as_bytes()))
}

fn endpoint_config(key: &str, t: &WebhookTarget) -> EndpointConfig {
    let mut c = EndpointConfig::new(key, Secret::new(t.url.expose()));
    c.method = match t.method {
        WebhookMethod::Post => Method::Post,
        WebhookMethod::Put => Method::Put,
        WebhookMethod::Patch => Method::Patch,
    };
    c.headers = t.headers.iter().map(|(k, v)| (k.clone(), Secret::new(v.expose()))).collect();
    c.timeout = t.timeout;
    c.attempts = t.attempts;
    c.backoff = Backoff { min: t.backoff_min, max: t.backoff_max };
    c.signing_secret = t.sign.as_ref().map(|s| Secret::new(s.expose()));
    c.label = Some(shown_label(t.url.shown()));
    c
}

/// The label of an endpoint in logs, metrics and dead letters: its URL as written in the rules
/// (a `${VAR}` stays a placeholder, so a URL taken whole from the environment, as chat webhooks
/// that hold their token in the path are, shows as `${HOOK_URL}`), without user info, query or
/// fragment.
pub fn shown_label(shown: &str) -> String {
    let end = shown.find(['?', '#']).unwrap_or(shown.len());
    let text = &shown[..end];
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => text.to_string(),
    }
}

/// Hands planned webhook deliveries to the dispatcher's outbox.
#[derive(Clone)]
pub struct Webhooks {
    dispatcher: Dispatcher,
    registered: Arc<Mutex<HashSet<String>>>,
}

impl Webhooks {
    pub fn new(dispatcher: Dispatcher) -> Webhooks {
        Webhooks { dispatcher, registered: Arc::default() }
    }

    /// Registers every webhook target of a rule set (at start and after each reload), so that
    /// rows left in the outbox by an earlier run resume at once, before any new event arrives.
    ///
    /// All or nothing: every new target's endpoint is built first, and if one cannot be (a
    /// `${VAR}` header that resolved to a value HTTP cannot carry, a `whsec_` secret that is not
    /// base64), none is registered and the error names the target. A reload then refuses the new
    /// rules, as for any other diagnostic.
    ///
    /// Every target's endpoint is registered again, so a reload that changed a target's timeout
    /// or retry updates it. Two targets with one key (they differ only in timeout or retry) get
    /// the settings of the first in rule order, as the planner keeps the first such delivery.
    pub fn register_all<'a>(&self, targets: impl IntoIterator<Item = &'a WebhookTarget>) -> Result<(), SinkError> {
        let mut built: Vec<(String, Endpoint)> = Vec::new();
        for target in targets {
            let key = endpoint_key(target);
            if built.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let endpoint = Endpoint::new(endpoint_config(&key, target))
                .map_err(|e| SinkError::Outbox(format!("webhook target {}: {e}", shown_label(target.url.shown()))))?;
            built.push((key, endpoint));
        }
        for (key, endpoint) in built {
            self.dispatcher.register(endpoint);
            self.registered.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
        }
        Ok(())
    }

    /// Warns about outbox rows whose endpoint no current target has (a target whose URL, method,
    /// headers or signing secret changed while deliveries to it were pending): they wait, counted
    /// in `webhook_outbox_depth`, until a target with that key is configured again.
    pub async fn warn_unconfigured(&self) {
        let Ok(keys) = self.dispatcher.outbox().endpoints_with_rows().await else { return };
        let registered = self.registered.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for key in keys.into_iter().filter(|k| !registered.contains(k)) {
            tracing::warn!(endpoint_key = %key,
                "the webhook outbox holds deliveries for a target the rules no longer have (its URL, method, headers or signing secret changed); they are delivered when that target is configured again");
        }
    }

    /// Re-enqueues dead-lettered webhook deliveries (`switchboard dlq replay` through a running
    /// gateway, which holds the outbox). Their endpoints must be registered (targets of the
    /// current rules); a 410-disabled endpoint is re-enabled first, as replaying is the operator
    /// saying the partner is back.
    pub async fn replay(&self, records: Vec<DeadLetterRecord>) -> Result<usize, SinkError> {
        let dispatcher = &self.dispatcher;
        let mut deliveries = Vec::with_capacity(records.len());
        for r in &records {
            if dispatcher.is_disabled(&r.endpoint_key) {
                dispatcher.enable_endpoint(&r.endpoint_key).await.map_err(|e| SinkError::Outbox(e.to_string()))?;
            }
            deliveries.push(r.to_delivery().map_err(|e| SinkError::Outbox(format!("dead letter {}: {e}", r.delivery_id)))?);
        }
        let n = deliveries.len();
        dispatcher.enqueue_batch(deliveries).await.map_err(|e| SinkError::Outbox(e.to_string()))?;
        Ok(n)
    }

    /// Writes the jobs to the outbox durably (one transaction); returns once they are durable.
    pub async fn enqueue(&self, jobs: Vec<WebhookJob>) -> Result<(), SinkError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let dispatcher = &self.dispatcher;
        let mut deliveries = Vec::with_capacity(jobs.len());
        for job in jobs {
            let key = endpoint_key(&job.target);
            let fresh = !self.registered.lock().unwrap_or_else(|p| p.into_inner()).contains(&key);
            if fresh {
                // Registered with its snapshot (register_all) unless the snapshot was installed
                // some other way; a key is marked registered only once its endpoint is.
                let endpoint = Endpoint::new(endpoint_config(&key, &job.target))
                    .map_err(|e| SinkError::Outbox(format!("webhook target of rule {}: {e}", job.rule)))?;
                dispatcher.register(endpoint);
                self.registered.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone());
            }
            let event_id = job.event.get("eventId").and_then(Value::as_str).unwrap_or_default();
            let id = webhook_id(event_id, &job.dedup_key, job.transform.as_deref());
            let correlation = job.event.pointer("/metadata/correlationId").and_then(Value::as_str).map(String::from);
            // The outbox's idempotency key, `{webhook-id}/{endpoint}`: one row per message and
            // target, so a re-planned event (after a crash) is stored once, and two rules whose
            // deliveries differ (another transform) are two rows.
            let mut d = WebhookDelivery::new(id, key, job.body, job.event)
                .with_header("traceparent", job.traceparent)
                .with_header("x-switchboard-rule", job.rule)
                .with_header("x-switchboard-rules-version", job.rules_version);
            if let Some(c) = correlation {
                d = d.with_correlation_id(c);
            }
            deliveries.push(d);
        }
        dispatcher.enqueue_batch(deliveries).await.map_err(|e| SinkError::Outbox(e.to_string()))
    }
}

/// Dead letters of the webhook dispatcher go to the gateway's DLQ topic (local bus or Kafka).
pub struct DlqTopic {
    pub sink: TopicSink,
    pub topic: String,
    pub metrics: Arc<Metrics>,
}

#[async_trait::async_trait]
impl DeadLetterSink for DlqTopic {
    async fn dead_letter(&self, record: DeadLetterRecord) -> Result<(), DeadLetterError> {
        let kind = record.error.kind.clone();
        let value = serde_json::to_vec(&record).map_err(|e| DeadLetterError(e.to_string()))?;
        let message = OutMessage {
            topic: self.topic.clone(),
            key: Some(record.key().as_bytes().to_vec()),
            headers: vec![("error-type".into(), kind.as_bytes().to_vec())],
            value: value.into(),
        };
        self.sink.publish(vec![message]).await.map_err(|e| DeadLetterError(e.to_string()))?;
        self.metrics.events_dlq.with_label_values(&[kind.as_str()]).inc();
        Ok(())
    }
}

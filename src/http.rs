//! The HTTP surface (axum on hyper): ingestion, rules, reload, metrics, health.
//!
//! `POST /events` takes one envelope, a JSON array of them, or CloudEvents (binary mode: `ce-*`
//! headers; structured mode: `application/cloudevents+json`; batch:
//! `application/cloudevents-batch+json`). Every event of a request is validated first; if any is
//! invalid the request is refused whole with a 400 naming the index and the field, and nothing is
//! accepted. Otherwise all are appended to the ingest topic (Kafka or the local bus) and the 202 is
//! sent only once they are durable there.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use switchboard_core::event::{Envelope, EnvelopeError};

use crate::cloudevents;
use crate::reload::Reloader;
use crate::sinks::{OutMessage, TopicSink};

pub struct AppState {
    pub reloader: Arc<Reloader>,
    pub ingest: TopicSink,
    pub ingest_topic: String,
    pub mode: &'static str,
    pub auth_token: Option<String>,
    pub ready: AtomicBool,
    pub extra: Option<Router<()>>,
    pub webhooks: crate::webhooks::Webhooks,
}

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let extra = state.extra.clone();
    let app = Router::new()
        .route("/events", post(ingest))
        .route("/rules", get(rules))
        .route("/-/reload", post(reload))
        .route("/-/dlq/replay", post(replay_webhooks))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state);
    match extra {
        Some(extra) => app.merge(extra),
        None => app,
    }
}

fn error(status: StatusCode, field: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"field": field, "message": message}}))).into_response()
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.auth_token else { return true };
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(given) = given.strip_prefix("Bearer ") else { return false };
    // Constant-time comparison: the token is a secret.
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Decodes the request into envelopes (as JSON values) and whether it was a batch (an array),
/// naming the offending field (and its index in a batch).
fn decode(headers: &HeaderMap, body: &[u8]) -> Result<(Vec<Value>, bool), (Option<usize>, EnvelopeError)> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let parse = |body: &[u8]| -> Result<Value, (Option<usize>, EnvelopeError)> {
        serde_json::from_slice(body)
            .map_err(|e| (None, EnvelopeError { field: "$".into(), message: format!("not valid JSON: {e}") }))
    };
    if headers.contains_key("ce-specversion") {
        return cloudevents::from_binary(headers, body).map(|e| (vec![e], false)).map_err(|e| (None, e));
    }
    if ct.starts_with("application/cloudevents-batch+json") {
        let Value::Array(items) = parse(body)? else {
            return Err((None, EnvelopeError { field: "$".into(), message: "a CloudEvents batch is a JSON array".into() }));
        };
        let events = items.iter().enumerate().map(|(i, v)| cloudevents::from_structured(v).map_err(|e| (Some(i), e)));
        return Ok((events.collect::<Result<_, _>>()?, true));
    }
    if ct.starts_with("application/cloudevents+json") {
        return cloudevents::from_structured(&parse(body)?).map(|e| (vec![e], false)).map_err(|e| (None, e));
    }
    match parse(body)? {
        Value::Array(items) => Ok((items, true)),
        one => Ok((vec![one], false)),
    }
}

async fn ingest(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization", "a valid bearer token is required");
    }
    let (events, batch) = match decode(&headers, &body) {
        Ok(decoded) => decoded,
        Err((index, e)) => return refuse(index, &e),
    };
    if events.is_empty() {
        return error(StatusCode::BAD_REQUEST, "$", "no events in the request");
    }
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok()).map(String::from);
    let mut messages = Vec::with_capacity(events.len());
    for (i, value) in events.into_iter().enumerate() {
        let index = batch.then_some(i);
        let envelope = match Envelope::from_value_ref(&value) {
            Ok(env) => env,
            Err(e) => return refuse(index, &e),
        };
        if let Err(errors) = envelope.validate() {
            return refuse(index, &errors[0]);
        }
        let mut hs = Vec::new();
        if let Some(tp) = &traceparent {
            hs.push(("traceparent".to_string(), tp.as_bytes().to_vec()));
        }
        messages.push(OutMessage {
            topic: state.ingest_topic.clone(),
            key: envelope.subject.as_ref().and_then(|s| s.id.clone()).map(String::into_bytes),
            headers: hs,
            value: serde_json::to_vec(&value).unwrap_or_default(),
        });
    }
    let count = messages.len();
    match state.ingest.publish(messages).await {
        Ok(()) => {
            state.reloader.pipeline.metrics.http_ingested.with_label_values(&[state.mode]).inc_by(count as u64);
            (StatusCode::ACCEPTED, Json(json!({"accepted": count}))).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "ingestion not durable");
            error(StatusCode::SERVICE_UNAVAILABLE, "$", &format!("the events could not be made durable: {e}"))
        }
    }
}

fn refuse(index: Option<usize>, e: &EnvelopeError) -> Response {
    let mut body = json!({"error": {"field": e.field, "message": e.message}});
    if let Some(i) = index {
        body["error"]["index"] = json!(i);
    }
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn rules(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = state.reloader.pipeline.snapshot.load();
    let status = state.reloader.status();
    Json(json!({
        "version": snapshot.version(),
        "loaded_at": snapshot.loaded_at.to_rfc3339(),
        "rule_count": snapshot.rules.rule_count(),
        "rules": snapshot.rules.rule_names().collect::<Vec<_>>(),
        "last_reload": status.last_attempt.map(|t| t.to_rfc3339()),
        "last_result": status.last_result,
        "last_error": status.last_error,
    }))
    .into_response()
}

async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization", "a valid bearer token is required");
    }
    match state.reloader.reload("POST /-/reload").await {
        Ok(version) => Json(json!({"result": "success", "version": version})).into_response(),
        Err(diagnostics) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"result": "failure", "error": diagnostics, "version": state.reloader.pipeline.snapshot.load().version()})),
        )
            .into_response(),
    }
}

/// `switchboard dlq replay` sends webhook dead letters here while the gateway runs (it holds the
/// outbox): a JSON array of DLQ records.
async fn replay_webhooks(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization", "a valid bearer token is required");
    }
    let records: Vec<switchboard_webhook::DeadLetterRecord> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "$", &format!("not an array of webhook dead letters: {e}")),
    };
    match state.webhooks.replay(records).await {
        Ok(n) => Json(json!({"replayed": n})).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, "$", &e.to_string()),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.reloader.pipeline.metrics.render()).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting or stopping").into_response()
    }
}

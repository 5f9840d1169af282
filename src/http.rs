//! The HTTP surface (axum on hyper): ingestion, rules, reload, metrics, health.
//!
//! `POST /events` takes one envelope, a JSON array of them, or CloudEvents (binary mode: `ce-*`
//! headers; structured mode: `application/cloudevents+json`; batch:
//! `application/cloudevents-batch+json`). Every event of a request is validated first; if any is
//! invalid the request is refused whole with a 400 naming the index and the field of every
//! problem, and nothing is accepted. Otherwise all are appended to the ingest topic (Kafka or the local bus) and the 202 is
//! sent only once they are durable there.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use switchboard_core::event::{Envelope, EnvelopeError, EnvelopeView};

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
        .route("/-/dlq/replay-events", post(replay_events))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state.clone());
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app,
    };
    // Every write (every POST: /events, /-/reload, /-/dlq/replay, /aggregates/{id}/events) needs
    // the bearer token when one is configured. A middleware runs before any body is read, so a
    // caller without the token gets 401 before the size limit is looked at.
    app.layer(axum::middleware::from_fn_with_state(state, require_auth))
}

async fn require_auth(State(state): State<Arc<AppState>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.method() == axum::http::Method::POST && !authorized(&state, request.headers()) {
        state.reloader.pipeline.metrics.processing_errors.with_label_values(&["unauthorized"]).inc();
        let mut response = error(StatusCode::UNAUTHORIZED, "Authorization", "a valid bearer token is required");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return response;
    }
    if request.method() == axum::http::Method::POST && state.auth_token.is_none() && request.uri().path().starts_with("/-/") {
        // With no token, the admin endpoints (reload, the DLQ replays, which re-send any body
        // given to the partners' endpoints, signed) answer only callers on this host.
        let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        if let Some(peer) = peer.filter(|p| !is_loopback(p.ip())) {
            state.reloader.pipeline.metrics.processing_errors.with_label_values(&["unauthorized"]).inc();
            tracing::warn!(peer = %peer.ip(), path = request.uri().path(), "an admin endpoint refused a caller from another host (http.auth_token is not set)");
            return error(
                StatusCode::FORBIDDEN,
                "Authorization",
                "with no http.auth_token set, the admin endpoints (/-/...) answer only callers on this host",
            );
        }
    }
    next.run(request).await
}

/// Loopback, also as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what a dual-stack listener sees).
pub fn is_loopback(ip: std::net::IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

fn error(status: StatusCode, field: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"field": field, "message": message}}))).into_response()
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.auth_token else { return true };
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    // The scheme is case-insensitive (RFC 7235 §2.1): `Bearer`, `bearer`, `BEARER`.
    let Some((scheme, given)) = given.split_once(' ') else { return false };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let given = given.trim_start_matches(' ');
    // Constant-time comparison: the token is a secret.
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A request body read under the size limit: a 413 in the JSON error shape when it is over.
fn body_or_413(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            state.reloader.pipeline.metrics.processing_errors.with_label_values(&["body_too_large"]).inc();
            error(status, "body", "the request body is larger than http.max_body_bytes")
        } else {
            state.reloader.pipeline.metrics.processing_errors.with_label_values(&["validation"]).inc();
            error(status, "body", &rejection.body_text())
        }
    })
}

/// Marks an ingest-topic message as a CloudEvent: the pipeline then dedups it by `source` + `id`
/// and does not hold its `type` to the seed's dotted-lower-case pattern.
pub const CLOUDEVENT_HEADER: &str = "x-switchboard-cloudevent";

/// What a request decodes into: each event (or its problems), whether it was an array, whether
/// it was CloudEvents.
struct Decoded {
    events: Vec<Result<Value, Vec<EnvelopeError>>>,
    batch: bool,
    cloudevents: bool,
}

fn one(field: &str, message: impl Into<String>) -> EnvelopeError {
    EnvelopeError { field: field.to_string(), message: message.into() }
}

/// Decodes the request. The mode is chosen by the Content-Type first (CloudEvents HTTP binding
/// §3): `application/cloudevents+json` is structured mode and `application/cloudevents-batch+json`
/// batched mode, whatever `ce-*` headers come along; otherwise a `ce-specversion` header means
/// binary mode; otherwise the body is a seed envelope or an array of them. Media types compare
/// case-insensitively and ignore parameters.
fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Decoded, EnvelopeError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(cloudevents::media_type);
    let parse = |body: &[u8]| -> Result<Value, EnvelopeError> {
        serde_json::from_slice(body).map_err(|e| one("$", format!("not valid JSON: {e}")))
    };
    match ct.as_deref() {
        Some("application/cloudevents-batch+json") => {
            let Value::Array(items) = parse(body)? else {
                return Err(one("$", "a CloudEvents batch is a JSON array"));
            };
            let events = items.iter().map(cloudevents::from_structured).collect();
            Ok(Decoded { events, batch: true, cloudevents: true })
        }
        Some("application/cloudevents+json") => {
            Ok(Decoded { events: vec![cloudevents::from_structured(&parse(body)?)], batch: false, cloudevents: true })
        }
        _ if headers.contains_key("ce-specversion") => {
            Ok(Decoded { events: vec![cloudevents::from_binary(headers, body)], batch: false, cloudevents: true })
        }
        _ => match parse(body)? {
            Value::Array(items) => Ok(Decoded { events: items.into_iter().map(Ok).collect(), batch: true, cloudevents: false }),
            v => Ok(Decoded { events: vec![Ok(v)], batch: false, cloudevents: false }),
        },
    }
}

/// For CloudEvents input, an envelope field named by validation is reported as the CloudEvents
/// attribute the client sent.
fn ce_attribute(field: &str) -> &str {
    match field {
        "eventId" => "id",
        "eventType" => "type",
        "eventTime" => "time",
        "producer.service" => "source",
        "producer" => "source",
        "subject.id" | "subject" => "subject",
        "dataContentType" => "datacontenttype",
        "dataSchema" => "dataschema",
        other => other,
    }
}

/// Checks an envelope decoded from a request: every problem, not only the first. CloudEvents
/// are not held to the seed's `eventType` pattern (any non-empty `type` is a CloudEvents type).
pub fn check_envelope(value: &Value, cloudevent: bool) -> Result<EnvelopeView<'_>, Vec<EnvelopeError>> {
    let envelope = Envelope::view(value).map_err(|e| vec![e])?;
    match envelope.validate() {
        Ok(()) => Ok(envelope),
        Err(errors) => {
            let errors: Vec<EnvelopeError> = errors
                .into_iter()
                .filter(|e| !(cloudevent && e.field == "eventType" && envelope.event_type.is_some_and(|t| !t.is_empty())))
                .collect();
            if errors.is_empty() {
                Ok(envelope)
            } else {
                Err(errors)
            }
        }
    }
}

async fn ingest(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization", "a valid bearer token is required");
    }
    let body = match body_or_413(&state, body) {
        Ok(b) => b,
        Err(response) => return response,
    };
    let validation = |n: usize| state.reloader.pipeline.metrics.processing_errors.with_label_values(&["validation"]).inc_by(n as u64);
    let Decoded { events, batch, cloudevents } = match decode(&headers, &body) {
        Ok(decoded) => decoded,
        Err(e) => {
            validation(1);
            return refuse(vec![(None, e)]);
        }
    };
    if events.is_empty() && !(batch && cloudevents) {
        validation(1);
        return error(StatusCode::BAD_REQUEST, "$", "no events in the request");
    }
    // Only a valid W3C traceparent is carried (an invalid one is treated as absent).
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|t| crate::pipeline::is_traceparent(t))
        .map(String::from);
    let mut messages = Vec::with_capacity(events.len());
    let mut problems: Vec<(Option<usize>, EnvelopeError)> = Vec::new();
    let mut refused = 0;
    for (i, decoded) in events.into_iter().enumerate() {
        let index = batch.then_some(i);
        // The message key is the event's subject.id.
        let checked = decoded.and_then(|value| {
            let key = check_envelope(&value, cloudevents)?.subject_id.map(|id| id.as_bytes().to_vec());
            Ok((value, key))
        });
        let (value, key) = match checked {
            Ok(ok) => ok,
            Err(errors) => {
                refused += 1;
                for mut e in errors {
                    if cloudevents {
                        e.field = ce_attribute(&e.field).to_string();
                    }
                    problems.push((index, e));
                }
                continue;
            }
        };
        if !problems.is_empty() {
            continue;
        }
        let mut hs = Vec::new();
        if let Some(tp) = &traceparent {
            hs.push(("traceparent".to_string(), tp.as_bytes().to_vec()));
        }
        if cloudevents {
            hs.push((CLOUDEVENT_HEADER.to_string(), b"1.0".to_vec()));
        }
        messages.push(OutMessage {
            topic: state.ingest_topic.clone(),
            key,
            headers: hs,
            value: serde_json::to_vec(&value).unwrap_or_default().into(),
        });
    }
    if !problems.is_empty() {
        validation(refused);
        return refuse(problems);
    }
    let count = messages.len();
    if count == 0 {
        return (StatusCode::ACCEPTED, Json(json!({"accepted": 0}))).into_response();
    }
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

/// A 400 with every problem of the request: `error` is the first (the shape clients already
/// read), `errors` all of them, each `{field, message, index?}`.
fn refuse(problems: Vec<(Option<usize>, EnvelopeError)>) -> Response {
    let all: Vec<Value> = problems
        .iter()
        .map(|(index, e)| {
            let mut v = json!({"field": e.field, "message": e.message});
            if let Some(i) = index {
                v["index"] = json!(i);
            }
            v
        })
        .collect();
    let first = all.first().cloned().unwrap_or_else(|| json!({"field": "$", "message": "invalid request"}));
    (StatusCode::BAD_REQUEST, Json(json!({"error": first, "errors": all}))).into_response()
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
async fn replay_webhooks(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization", "a valid bearer token is required");
    }
    let body = match body_or_413(&state, body) {
        Ok(b) => b,
        Err(response) => return response,
    };
    let records: Vec<switchboard_webhook::DeadLetterRecord> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "$", &format!("not an array of webhook dead letters: {e}")),
    };
    match state.webhooks.replay(records).await {
        Ok(n) => Json(json!({"replayed": n})).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, "$", &e.to_string()),
    }
}

/// `switchboard dlq replay` sends the original events of pipeline dead letters here while the
/// gateway runs: a JSON array of events, appended to the ingest topic through the gateway's own
/// sink (on the local bus only the gateway may append: its index is per process), marked as
/// replayed so that dedup lets them through.
async fn replay_events(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization", "a valid bearer token is required");
    }
    let body = match body_or_413(&state, body) {
        Ok(b) => b,
        Err(response) => return response,
    };
    let events: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, "$", &format!("not an array of events: {e}")),
    };
    if let Some(i) = events.iter().position(|e| !e.is_object()) {
        return error(StatusCode::BAD_REQUEST, &format!("[{i}]"), "an event is a JSON object");
    }
    let n = events.len();
    let messages = crate::cmd::dlq::replay_messages(events, &state.ingest_topic);
    match state.ingest.publish(messages).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"replayed": n}))).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "$", &e.to_string()),
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

//! The event store over HTTP: the read side and the command side of the seed's CQRS example.
//! The full description (bodies, parameters, errors, paging) is in docs/event-store.md.
//!
//! - `GET /aggregates/{id}/events?from=N&limit=M` — the aggregate's events with sequence >= N
//!   (default 1), in sequence order.
//! - `GET /events?type=T&from=RFC3339&to=RFC3339&limit=M&after=CURSOR` — events by time (`from`
//!   inclusive, `to` exclusive; default the last 24 hours), optionally of one type; `next` in the
//!   response is the cursor of the following page.
//! - `POST /aggregates/{id}/events` with `{"expectedVersion": N | "any" | "none", "events": [...]}`
//!   appends with optimistic concurrency: 201 with the new version, 409 with the current version
//!   on a conflict, 400 naming the field of an invalid envelope. Re-appending an eventId already in
//!   the aggregate is a no-op (`appended` counts what was new).
//!
//! Every refusal is `{"error": {"field", "message"}}` with a 4xx status.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::event::Envelope;
use switchboard_store::{EventStore, ExpectedVersion, NewEvent, StoreError, StoredEvent, TimePosition};

type Store = Arc<dyn EventStore>;

/// The most events one GET answers; a larger `limit` is capped to it.
const MAX_LIMIT: usize = 10_000;
/// The events one GET answers without a `limit`.
const DEFAULT_LIMIT: usize = 1_000;

/// The store's routes; `POST /aggregates/{id}/events` bodies over `max_body_bytes`
/// (`http.max_body_bytes`) are a 413.
pub fn router(store: Store, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/aggregates/{id}/events", get(read_aggregate).post(append))
        .route("/events", get(read_by_time))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(store)
}

fn error(status: StatusCode, field: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"field": field, "message": message}}))).into_response()
}

fn bad(field: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, field, message)
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::Conflict { current, .. } => (
            StatusCode::CONFLICT,
            Json(json!({"error": {"field": "expectedVersion", "message": e.to_string()}, "currentVersion": current})),
        )
            .into_response(),
        StoreError::Invalid(m) => bad("$", &m),
        other => error(StatusCode::SERVICE_UNAVAILABLE, "$", &other.to_string()),
    }
}

fn event_json(e: &StoredEvent) -> Value {
    json!({"aggregateId": e.aggregate_id, "sequence": e.sequence, "event": e.payload})
}

/// The aggregate id of the path: not empty, not only whitespace.
#[allow(clippy::result_large_err)] // the error is the HTTP response itself, built once
fn aggregate_id(id: String) -> Result<String, Response> {
    if id.trim().is_empty() {
        return Err(bad("aggregateId", "the aggregate id (the path segment after /aggregates/) is empty or blank"));
    }
    Ok(id)
}

/// The query string as (name, value) pairs. Each parameter is parsed by the handler so that a
/// bad one is a JSON 400 naming it (axum's `Query` answers plain text without the name).
struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(pairs) = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| bad("query", &format!("not a query string: {}", e.body_text())))?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(bad(name, "given more than once"));
            }
        }
        Ok(Params(pairs))
    }
}

impl Params {
    fn text(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// An unsigned integer parameter of at most `max`.
    #[allow(clippy::result_large_err)]
    fn number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, Response> {
        let Some(text) = self.text(name) else { return Ok(None) };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(bad(name, &format!("{text:?} is not an integer from {min} to {max}"))),
        }
    }

    /// `limit`: default 1,000; above 10,000 it is capped to 10,000 (the answer's `limit` says so).
    #[allow(clippy::result_large_err)]
    fn limit(&self) -> Result<usize, Response> {
        let n = self.number("limit", 1, u64::MAX)?;
        Ok(n.map_or(DEFAULT_LIMIT, |n| usize::try_from(n).unwrap_or(usize::MAX).min(MAX_LIMIT)))
    }
}

async fn read_aggregate(State(store): State<Store>, Path(id): Path<String>, params: Params) -> Response {
    let id = match aggregate_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let (from, limit) = match (params.number("from", 0, i64::MAX as u64), params.limit()) {
        (Ok(from), Ok(limit)) => (from.unwrap_or(1), limit),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match store.read(&id, from, limit).await {
        Ok(events) => {
            let version = events.last().map(|e| e.sequence);
            Json(json!({
                "aggregateId": id,
                "events": events.iter().map(event_json).collect::<Vec<_>>(),
                "lastSequence": version,
                "limit": limit,
            }))
            .into_response()
        }
        Err(e) => store_error(e),
    }
}

#[allow(clippy::result_large_err)] // the error is the HTTP response itself, built once
fn parse_time(field: &str, text: Option<&str>, default: DateTime<Utc>) -> Result<DateTime<Utc>, Response> {
    match text {
        None => Ok(default),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(field, &format!("{t:?} is not an RFC 3339 timestamp ({e})"))),
    }
}

/// The opaque paging cursor of `GET /events`: the [`TimePosition`] of the last event of a page
/// (eventTime in microseconds, sequence, aggregate id), base64url without padding.
fn encode_cursor(p: &TimePosition) -> String {
    let text = format!("{}.{}.{}", p.event_time.timestamp_micros(), p.sequence, p.aggregate_id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Option<TimePosition> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '.');
    let micros: i64 = parts.next()?.parse().ok()?;
    let sequence: u64 = parts.next()?.parse().ok()?;
    let aggregate_id = parts.next()?.to_string();
    Some(TimePosition { event_time: DateTime::from_timestamp_micros(micros)?, aggregate_id, sequence })
}

async fn read_by_time(State(store): State<Store>, params: Params) -> Response {
    let now = Utc::now();
    let from = match parse_time("from", params.text("from"), now - chrono::Duration::hours(24)) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let to = match parse_time("to", params.text("to"), now) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let limit = match params.limit() {
        Ok(l) => l,
        Err(r) => return r,
    };
    let after = match params.text("after").map(|c| decode_cursor(c).ok_or(c)) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(c)) => return bad("after", &format!("{c:?} is not a cursor from a previous answer's \"next\"")),
    };
    let event_type = params.text("type");
    // One more than asked for tells whether there is a next page.
    match store.read_by_time_after(from, to, event_type, after.as_ref(), limit + 1).await {
        Ok(mut events) => {
            let more = events.len() > limit;
            events.truncate(limit);
            let next = if more { events.last().map(|e| encode_cursor(&TimePosition::of(e))) } else { None };
            Json(json!({"events": events.iter().map(event_json).collect::<Vec<_>>(), "next": next, "limit": limit})).into_response()
        }
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppendBody {
    expected_version: Value,
    events: Vec<Value>,
}

/// `expectedVersion`: a version from 0 (none) to the store's largest (i64::MAX), "any" or "none".
fn expected(v: &Value) -> Option<ExpectedVersion> {
    match v {
        Value::String(s) if s == "any" => Some(ExpectedVersion::Any),
        Value::String(s) if s == "none" => Some(ExpectedVersion::NoStream),
        Value::Number(n) => n.as_i64().and_then(|n| u64::try_from(n).ok()).map(|n| if n == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(n) }),
        _ => None,
    }
}

/// The body of a POST: under the size limit (413 over it, like `POST /events`) and JSON (415
/// for another Content-Type).
#[allow(clippy::result_large_err)]
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            error(status, "body", "the request body is larger than http.max_body_bytes")
        } else {
            error(status, "body", &rejection.body_text())
        }
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(crate::cloudevents::is_json) {
        let given = content_type.map_or("none".to_string(), |c| format!("{c:?}"));
        return Err(error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type", &format!("must be application/json (given: {given})")));
    }
    Ok(body)
}

async fn append(State(store): State<Store>, Path(id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let id = match aggregate_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let body = match json_body(&headers, body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let body: AppendBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad("$", &format!("not a {{\"expectedVersion\", \"events\"}} object: {e}")),
    };
    let Some(expected) = expected(&body.expected_version) else {
        return bad("expectedVersion", "must be a version number from 0 to 9223372036854775807, \"any\" or \"none\"");
    };
    let mut events = Vec::with_capacity(body.events.len());
    for (i, value) in body.events.into_iter().enumerate() {
        let env = match Envelope::view(&value) {
            Ok(env) => env,
            Err(e) => return bad(&format!("events[{i}].{}", e.field), &e.message),
        };
        if let Err(errors) = env.validate() {
            return bad(&format!("events[{i}].{}", errors[0].field), &errors[0].message);
        }
        // validate() guarantees these three are present and eventTime parses.
        let (event_id, event_type) = (env.event_id.unwrap_or_default().to_string(), env.event_type.unwrap_or_default().to_string());
        let event_time = env.event_time_utc().unwrap_or_else(Utc::now);
        events.push(NewEvent { event_id, event_type, event_time, payload: value });
    }
    if events.is_empty() {
        return bad("events", "no events to append");
    }
    match store.append(&id, events, expected).await {
        Ok(r) => (StatusCode::CREATED, Json(json!({"aggregateId": id, "version": r.version, "appended": r.appended}))).into_response(),
        Err(e) => store_error(e),
    }
}

//! The event store over HTTP: the read side and the command side of the seed's CQRS example.
//!
//! - `GET /aggregates/{id}/events?from=N&limit=M` — the aggregate's events with sequence >= N
//!   (default 1), in sequence order.
//! - `GET /events?type=T&from=RFC3339&to=RFC3339&limit=M` — events by time (`from` inclusive, `to`
//!   exclusive; default the last 24 hours), optionally of one type.
//! - `POST /aggregates/{id}/events` with `{"expectedVersion": N | "any" | "none", "events": [...]}`
//!   appends with optimistic concurrency: 201 with the new version, 409 with the current version
//!   on a conflict, 400 naming the field of an invalid envelope. Re-appending an eventId already in
//!   the aggregate is a no-op (`appended` counts what was new).
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::event::Envelope;
use switchboard_store::{EventStore, ExpectedVersion, NewEvent, StoreError, StoredEvent};

type Store = Arc<dyn EventStore>;

const MAX_LIMIT: usize = 10_000;

pub fn router(store: Store) -> Router {
    Router::new()
        .route("/aggregates/{id}/events", get(read_aggregate).post(append))
        .route("/events", get(read_by_time))
        .with_state(store)
}

fn error(status: StatusCode, field: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"field": field, "message": message}}))).into_response()
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::Conflict { current, .. } => (
            StatusCode::CONFLICT,
            Json(json!({"error": {"field": "expectedVersion", "message": e.to_string()}, "currentVersion": current})),
        )
            .into_response(),
        StoreError::Invalid(m) => error(StatusCode::BAD_REQUEST, "$", &m),
        other => error(StatusCode::SERVICE_UNAVAILABLE, "$", &other.to_string()),
    }
}

fn event_json(e: &StoredEvent) -> Value {
    json!({"aggregateId": e.aggregate_id, "sequence": e.sequence, "event": e.payload})
}

#[derive(Deserialize)]
struct AggregateQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

async fn read_aggregate(State(store): State<Store>, Path(id): Path<String>, Query(q): Query<AggregateQuery>) -> Response {
    let limit = q.limit.unwrap_or(1000).min(MAX_LIMIT);
    match store.read(&id, q.from.unwrap_or(1), limit).await {
        Ok(events) => {
            let version = events.last().map(|e| e.sequence);
            Json(json!({"aggregateId": id, "events": events.iter().map(event_json).collect::<Vec<_>>(), "lastSequence": version}))
                .into_response()
        }
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
struct TimeQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

#[allow(clippy::result_large_err)] // the error is the HTTP response itself, built once
fn parse_time(field: &str, text: Option<&str>, default: DateTime<Utc>) -> Result<DateTime<Utc>, Response> {
    match text {
        None => Ok(default),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| error(StatusCode::BAD_REQUEST, field, &format!("{t:?} is not an RFC 3339 timestamp ({e})"))),
    }
}

async fn read_by_time(State(store): State<Store>, Query(q): Query<TimeQuery>) -> Response {
    let now = Utc::now();
    let from = match parse_time("from", q.from.as_deref(), now - chrono::Duration::hours(24)) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let to = match parse_time("to", q.to.as_deref(), now) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let limit = q.limit.unwrap_or(1000).min(MAX_LIMIT);
    match store.read_by_time(from, to, q.event_type.as_deref(), limit).await {
        Ok(events) => Json(json!({"events": events.iter().map(event_json).collect::<Vec<_>>()})).into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppendBody {
    expected_version: Value,
    events: Vec<Value>,
}

fn expected(v: &Value) -> Option<ExpectedVersion> {
    match v {
        Value::String(s) if s == "any" => Some(ExpectedVersion::Any),
        Value::String(s) if s == "none" => Some(ExpectedVersion::NoStream),
        Value::Number(n) => n.as_u64().map(|n| if n == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(n) }),
        _ => None,
    }
}

async fn append(State(store): State<Store>, Path(id): Path<String>, body: Result<Json<AppendBody>, axum::extract::rejection::JsonRejection>) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "$", &e.body_text()),
    };
    let Some(expected) = expected(&body.expected_version) else {
        return error(StatusCode::BAD_REQUEST, "expectedVersion", "must be a version number, \"any\" or \"none\"");
    };
    let mut events = Vec::with_capacity(body.events.len());
    for (i, value) in body.events.into_iter().enumerate() {
        let env = match Envelope::from_value_ref(&value) {
            Ok(env) => env,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("events[{i}].{}", e.field), &e.message),
        };
        if let Err(errors) = env.validate() {
            return error(StatusCode::BAD_REQUEST, &format!("events[{i}].{}", errors[0].field), &errors[0].message);
        }
        // validate() guarantees these three are present and eventTime parses.
        events.push(NewEvent {
            event_id: env.event_id.clone().unwrap_or_default(),
            event_type: env.event_type.clone().unwrap_or_default(),
            event_time: env.event_time_utc().unwrap_or_else(Utc::now),
            payload: value,
        });
    }
    if events.is_empty() {
        return error(StatusCode::BAD_REQUEST, "events", "no events to append");
    }
    match store.append(&id, events, expected).await {
        Ok(r) => (StatusCode::CREATED, Json(json!({"aggregateId": id, "version": r.version, "appended": r.appended}))).into_response(),
        Err(e) => store_error(e),
    }
}

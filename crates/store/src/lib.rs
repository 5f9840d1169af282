//! The event store: an [`EventStore`] trait with an embedded SQLite default and a
//! ScyllaDB/Cassandra backend, plus the archive index the archiver keeps with the store.
//!
//! The trait is object safe (`Arc<dyn EventStore>`) so the gateway picks a backend from config.
//! (This file is the seam both the store and the archiver code against; backends live in their
//! own modules.)
pub mod config;
pub mod scylla;
pub mod sqlite;
mod codec;
mod rules;

pub use rules::MAX_ID_BYTES;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event as stored: its place in its aggregate plus the full envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub aggregate_id: String,
    /// 1-based position in the aggregate.
    pub sequence: u64,
    pub event_id: String,
    pub event_type: String,
    pub event_time: DateTime<Utc>,
    /// The whole envelope, exactly as appended.
    pub payload: Value,
}

/// An event to append (the store assigns the sequence number).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: String,
    pub event_type: String,
    pub event_time: DateTime<Utc>,
    pub payload: Value,
}

/// What an append expects the aggregate's current version (its last sequence, 0 when empty) to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the current version is.
    Any,
    /// The aggregate must not exist yet.
    NoStream,
    /// The aggregate's last sequence number must be exactly this.
    Exact(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The aggregate's version after the append.
    pub version: u64,
    /// Events actually written (events whose eventId was already stored are skipped).
    pub appended: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub aggregate_id: String,
    pub version: u64,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// A place in the time order of [`EventStore::read_by_time`] (eventTime, then aggregate id, then
/// sequence): unique per stored event, so paging with it is stable when many events share one
/// eventTime.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimePosition {
    pub event_time: DateTime<Utc>,
    pub aggregate_id: String,
    pub sequence: u64,
}

impl TimePosition {
    /// The position of a stored event.
    pub fn of(e: &StoredEvent) -> TimePosition {
        TimePosition { event_time: e.event_time, aggregate_id: e.aggregate_id.clone(), sequence: e.sequence }
    }
}

/// A position in the global ordered feed (for projections).
pub type FeedPosition = u64;

/// An entry of the archive index: one verified object in cold storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    pub object_key: String,
    pub checksum: String,
    pub size_bytes: u64,
    pub count: u64,
    pub first_time: DateTime<Utc>,
    pub last_time: DateTime<Utc>,
    /// (aggregate, first sequence, last sequence) for each aggregate in the object.
    pub aggregates: Vec<(String, u64, u64)>,
    pub archived_at: DateTime<Utc>,
}

/// What [`EventStore::restore_archived`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreCounts {
    pub restored: u64,
    pub already_present: u64,
}

/// Checks the events given to `restore_archived`: all of `aggregate_id`, sequences from 1.
pub(crate) fn check_restore(aggregate_id: &str, events: &[StoredEvent]) -> Result<()> {
    if aggregate_id.is_empty() {
        return Err(StoreError::Invalid("the aggregate id is empty".into()));
    }
    for e in events {
        if e.aggregate_id != aggregate_id {
            return Err(StoreError::Invalid(format!("event {} belongs to {}, not {aggregate_id}", e.event_id, e.aggregate_id)));
        }
        if e.sequence == 0 {
            return Err(StoreError::Invalid(format!("event {} has sequence 0 (sequences start at 1)", e.event_id)));
        }
    }
    Ok(())
}

/// Identifies one stored event for deletion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub aggregate_id: String,
    pub sequence: u64,
}

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("version conflict on aggregate {aggregate_id}: expected {expected:?}, current version is {current}")]
    Conflict { aggregate_id: String, expected: ExpectedVersion, current: u64 },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("store backend error: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    /// Appends in order with optimistic concurrency; events whose eventId is already stored in
    /// this aggregate are skipped (idempotent re-append, never a duplicate).
    async fn append(&self, aggregate_id: &str, events: Vec<NewEvent>, expected: ExpectedVersion) -> Result<AppendResult>;
    /// Events with sequence >= `from_version`, in sequence order, at most `limit`.
    async fn read(&self, aggregate_id: &str, from_version: u64, limit: usize) -> Result<Vec<StoredEvent>>;
    /// Events with `from <= eventTime < to`, in time order (ties by aggregate, sequence), optionally
    /// of one event type, at most `limit`.
    async fn read_by_time(&self, from: DateTime<Utc>, to: DateTime<Utc>, event_type: Option<&str>, limit: usize) -> Result<Vec<StoredEvent>>;
    /// [`read_by_time`](EventStore::read_by_time) continued: only events after `after` in that
    /// order (the [`TimePosition`] of the last event of the previous page), for paging.
    async fn read_by_time_after(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        event_type: Option<&str>,
        after: Option<&TimePosition>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        match after {
            None => self.read_by_time(from, to, event_type, limit).await,
            Some(_) => Err(StoreError::Invalid("this backend cannot page reads by time".into())),
        }
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()>;
    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>>;
    /// The ordered feed: events after `after`, with their feed positions, at most `limit`.
    async fn feed(&self, after: FeedPosition, limit: usize) -> Result<Vec<(FeedPosition, StoredEvent)>>;
    /// Deletes archived events from the hot store.
    async fn delete(&self, keys: &[EventKey]) -> Result<()>;
    /// Puts archived events of one aggregate back at their original sequences (the archiver's
    /// `restore --into-store`). Per event: a free sequence gets the event as it was archived;
    /// a sequence holding the same eventId is left alone (counted as already present); one
    /// holding another event is [`StoreError::Invalid`]. The aggregate's version never goes
    /// down, and restored events join the ordered feed at its end.
    async fn restore_archived(&self, aggregate_id: &str, events: Vec<StoredEvent>) -> Result<RestoreCounts>;
    async fn record_archive(&self, entry: ArchiveEntry) -> Result<()>;
    async fn list_archives(&self) -> Result<Vec<ArchiveEntry>>;
}

//! The scale-out backend: ScyllaDB or Apache Cassandra through the `scylla` driver (prepared
//! statements, token-aware routing by its default load balancing, paged reads).
//!
//! Data structure (docs/event-store.md explains each change from the seed's schema):
//! - `events`, partitioned by (aggregate_id, bucket) with `bucket = (sequence - 1) / bucket_size`
//!   and clustered by sequence_number, so no partition grows past `bucket_size` rows however long
//!   the aggregate lives. Rows are written with `INSERT ... IF NOT EXISTS` (a lightweight
//!   transaction on the sequence number): of two appenders racing for version N+1 exactly one
//!   is applied. A batch of events in one bucket is one conditional batch (all or nothing).
//! - `aggregate_versions`: a hint of each aggregate's version, written `USING TIMESTAMP version`
//!   so the highest version always wins; the truth is the `events` rows, which the hint only
//!   saves scanning for (and which keeps versions after archived rows are deleted).
//! - `event_ids`: (aggregate_id, event_id) -> sequence and feed position, for idempotency.
//! - `events_by_time`: hourly partitions, with a TTL, for time queries; `time_buckets` lists the
//!   non-empty hours so a wide range reads only partitions that exist.
//! - `feed`: the ordered feed, in minute partitions keyed by a position made of the write's
//!   microsecond timestamp and a per-process node byte; `feed_buckets` lists non-empty minutes.
//! - `snapshots`, `archives` (the archive index), `store_meta` (the bucket size, fixed per
//!   keyspace).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use ::scylla::client::session::Session;
use ::scylla::client::session_builder::SessionBuilder;
use ::scylla::serialize::row::SerializeRow;
use ::scylla::statement::batch::{Batch, BatchType};
use ::scylla::statement::prepared::PreparedStatement;
use ::scylla::statement::{Consistency, SerialConsistency};
use ::scylla::value::{CqlValue, Row};

use crate::codec::{backend, from_micros, json_text, parse_json};
use crate::rules::{check_expected, dedup_batch, from_i64, limit_i64, to_i64, validate};
use crate::{
    AppendResult, ArchiveEntry, EventKey, EventStore, ExpectedVersion, FeedPosition, NewEvent, Result, Snapshot,
    RestoreCounts, StoreError, StoredEvent, TimePosition, check_restore,
};

/// Keyspace replication. `Simple { replication_factor: 1 }` is for a single test node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    Simple { replication_factor: u32 },
    /// Datacenter name and replica count, e.g. `[("dc1", 3), ("dc2", 3)]` as in the seed.
    NetworkTopology(Vec<(String, u32)>),
}

impl Replication {
    fn to_cql(&self) -> String {
        match self {
            Replication::Simple { replication_factor } => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}")
            }
            Replication::NetworkTopology(dcs) => {
                let dcs: Vec<String> = dcs.iter().map(|(dc, n)| format!("'{}': {n}", dc.replace('\'', "''"))).collect();
                format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
            }
        }
    }
}

/// Options for [`ScyllaStore::connect`].
#[derive(Debug, Clone)]
pub struct ScyllaOptions {
    /// Contact points, `host:port`; the driver discovers the rest of the cluster.
    pub nodes: Vec<String>,
    /// Letters, digits and `_`, at most 48 characters.
    pub keyspace: String,
    pub replication: Replication,
    /// Creates the keyspace with `tablets = {'enabled': false}`. **Required on ScyllaDB**, where
    /// tablets are the default and do not support the lightweight transactions this store's
    /// concurrency control depends on. Must be false on Apache Cassandra, which rejects the option.
    pub disable_tablets: bool,
    /// Creates the keyspace and tables when missing (otherwise they must exist).
    pub create_schema: bool,
    /// Sequences per `events` partition. Fixed for a keyspace once chosen (checked at connect).
    pub bucket_size: u64,
    /// How long rows live in `events_by_time` (None: forever). Time queries see nothing older,
    /// so it must be longer than the archiver's retention if the archiver finds old events by
    /// time (see docs/event-store.md).
    pub events_by_time_ttl: Option<Duration>,
    /// The feed shows only entries older than this, so that an append in flight (its position
    /// already taken, its row not yet written) is not skipped by a poller that has moved past
    /// it. Must exceed the worst append latency and the clock skew between gateway nodes.
    pub feed_settle: Duration,
    pub consistency: Consistency,
    pub serial_consistency: SerialConsistency,
    /// Rows per page for paged reads.
    pub page_size: i32,
}

impl Default for ScyllaOptions {
    fn default() -> Self {
        ScyllaOptions {
            nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "switchboard".into(),
            replication: Replication::Simple { replication_factor: 1 },
            disable_tablets: false,
            create_schema: true,
            bucket_size: 10_000,
            events_by_time_ttl: Some(Duration::from_secs(30 * 24 * 3600)),
            feed_settle: Duration::from_secs(1),
            consistency: Consistency::LocalQuorum,
            serial_consistency: SerialConsistency::LocalSerial,
            page_size: 1000,
        }
    }
}

const HOUR_US: i64 = 3_600_000_000;
const MINUTE_US: i64 = 60_000_000;
/// Feed positions are `microseconds << NODE_BITS | node`.
const NODE_BITS: u32 = 8;
/// Aggregates whose last appended version a store remembers.
const VERSION_CACHE: usize = 100_000;
/// Retries of an `ExpectedVersion::Any` append that keeps losing races.
const ANY_RETRIES: usize = 50;

struct Statements {
    insert_event: PreparedStatement,
    last_in_bucket: PreparedStatement,
    version_hint: PreparedStatement,
    set_version_hint: PreparedStatement,
    known_ids: PreparedStatement,
    insert_event_id: PreparedStatement,
    event_id_position: PreparedStatement,
    read_bucket: PreparedStatement,
    insert_by_time: PreparedStatement,
    insert_time_bucket: PreparedStatement,
    time_buckets: PreparedStatement,
    read_by_time: PreparedStatement,
    insert_feed: PreparedStatement,
    insert_feed_bucket: PreparedStatement,
    feed_buckets: PreparedStatement,
    read_feed: PreparedStatement,
    event_at: PreparedStatement,
    delete_event: PreparedStatement,
    delete_by_time: PreparedStatement,
    delete_feed: PreparedStatement,
    insert_snapshot: PreparedStatement,
    latest_snapshot: PreparedStatement,
    insert_archive: PreparedStatement,
    list_archives: PreparedStatement,
}

/// The ScyllaDB/Cassandra event store.
pub struct ScyllaStore {
    session: Session,
    st: Statements,
    bucket_size: u64,
    feed_settle_us: i64,
    serial_consistency: SerialConsistency,
    consistency: Consistency,
    node: u64,
    last_position: Mutex<u64>,
    /// The last version this process appended per aggregate (a lower bound of the truth; see
    /// `append`). Bounded: cleared when it holds `VERSION_CACHE` aggregates.
    versions: Mutex<HashMap<String, u64>>,
    /// Time and feed buckets this process listed during the current hour, with that hour. The
    /// index rows are idempotent: this only saves rewriting the same hot row on every append,
    /// and forgetting hourly rewrites rows often enough to outlive their TTL.
    listed_buckets: Mutex<(i64, HashSet<(u8, i64)>)>,
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn valid_keyspace(name: &str) -> bool {
    !name.is_empty() && name.len() <= 48 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// (aggregate_id, sequence, event_id, event_type, event_time_us, payload)
type EventRow = (String, i64, String, String, i64, String);

fn stored(row: EventRow) -> Result<StoredEvent> {
    let (aggregate_id, sequence, event_id, event_type, time, payload) = row;
    Ok(StoredEvent {
        aggregate_id,
        sequence: from_i64("sequence", sequence)?,
        event_id,
        event_type,
        event_time: from_micros("event time", time)?,
        payload: parse_json("payload", &payload)?,
    })
}

/// Whether a lightweight transaction was applied: the first column of its first row.
fn applied(result: ::scylla::response::query_result::QueryResult) -> Result<bool> {
    let rows = result.into_rows_result().map_err(backend)?;
    let first: Option<Row> = rows.maybe_first_row::<Row>().map_err(backend)?;
    match first.and_then(|r| r.columns.into_iter().next().flatten()) {
        Some(CqlValue::Boolean(b)) => Ok(b),
        other => Err(StoreError::Backend(format!("a conditional write returned no [applied] flag: {other:?}"))),
    }
}

impl ScyllaStore {
    /// Connects, creates the schema if asked, and prepares every statement.
    pub async fn connect(opts: ScyllaOptions) -> Result<Self> {
        if !valid_keyspace(&opts.keyspace) {
            return Err(StoreError::Invalid(format!(
                "keyspace {:?}: use letters, digits and '_' (at most 48 characters)",
                opts.keyspace
            )));
        }
        if opts.bucket_size == 0 {
            return Err(StoreError::Invalid("bucket_size must be at least 1".into()));
        }
        let session = SessionBuilder::new()
            .known_nodes(&opts.nodes)
            .build()
            .await
            .map_err(|e| StoreError::Backend(format!("connecting to {}: {e}", opts.nodes.join(","))))?;
        if opts.create_schema {
            create_schema(&session, &opts).await?;
        }
        let ks = &opts.keyspace;
        let prep = |cql: String| {
            let session = &session;
            let (consistency, serial) = (opts.consistency, opts.serial_consistency);
            let page_size = opts.page_size.max(1);
            async move {
                let mut ps = session.prepare(cql.as_str()).await.map_err(|e| StoreError::Backend(format!("preparing {cql}: {e}")))?;
                ps.set_consistency(consistency);
                ps.set_serial_consistency(Some(serial));
                ps.set_page_size(page_size);
                Ok::<_, StoreError>(ps)
            }
        };
        let ttl = opts.events_by_time_ttl.map(|d| d.as_secs().max(1)).unwrap_or(0);
        let st = Statements {
            insert_event: prep(format!(
                "INSERT INTO {ks}.events (aggregate_id, bucket, sequence_number, event_id, event_type, event_time_us, payload, append_last)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
            ))
            .await?,
            last_in_bucket: prep(format!(
                "SELECT sequence_number, append_last FROM {ks}.events WHERE aggregate_id = ? AND bucket = ? ORDER BY sequence_number DESC LIMIT 1"
            ))
            .await?,
            version_hint: prep(format!("SELECT version FROM {ks}.aggregate_versions WHERE aggregate_id = ?")).await?,
            set_version_hint: prep(format!("UPDATE {ks}.aggregate_versions USING TIMESTAMP ? SET version = ? WHERE aggregate_id = ?")).await?,
            known_ids: prep(format!("SELECT event_id FROM {ks}.event_ids WHERE aggregate_id = ? AND event_id IN ?")).await?,
            insert_event_id: prep(format!(
                "INSERT INTO {ks}.event_ids (aggregate_id, event_id, sequence_number, feed_position) VALUES (?, ?, ?, ?)"
            ))
            .await?,
            event_id_position: prep(format!("SELECT feed_position FROM {ks}.event_ids WHERE aggregate_id = ? AND event_id = ?")).await?,
            read_bucket: prep(format!(
                "SELECT aggregate_id, sequence_number, event_id, event_type, event_time_us, payload FROM {ks}.events
                 WHERE aggregate_id = ? AND bucket = ? AND sequence_number >= ? AND sequence_number <= ? LIMIT ?"
            ))
            .await?,
            insert_by_time: prep(format!(
                "INSERT INTO {ks}.events_by_time (time_bucket, event_time_us, aggregate_id, sequence_number, event_id, event_type, payload)
                 VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL {ttl}"
            ))
            .await?,
            insert_time_bucket: prep(format!("INSERT INTO {ks}.time_buckets (shard, time_bucket) VALUES (0, ?) USING TTL {ttl}")).await?,
            time_buckets: prep(format!("SELECT time_bucket FROM {ks}.time_buckets WHERE shard = 0 AND time_bucket >= ? AND time_bucket <= ?")).await?,
            read_by_time: prep(format!(
                "SELECT aggregate_id, sequence_number, event_id, event_type, event_time_us, payload FROM {ks}.events_by_time
                 WHERE time_bucket = ? AND event_time_us >= ? AND event_time_us < ?"
            ))
            .await?,
            insert_feed: prep(format!(
                "INSERT INTO {ks}.feed (feed_bucket, position, aggregate_id, sequence_number, event_id, event_type, event_time_us, payload)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            insert_feed_bucket: prep(format!("INSERT INTO {ks}.feed_buckets (shard, feed_bucket) VALUES (0, ?)")).await?,
            feed_buckets: prep(format!("SELECT feed_bucket FROM {ks}.feed_buckets WHERE shard = 0 AND feed_bucket >= ? AND feed_bucket <= ?")).await?,
            read_feed: prep(format!(
                "SELECT position, aggregate_id, sequence_number, event_id, event_type, event_time_us, payload FROM {ks}.feed
                 WHERE feed_bucket = ? AND position > ? AND position < ?"
            ))
            .await?,
            event_at: prep(format!(
                "SELECT event_id, event_time_us FROM {ks}.events WHERE aggregate_id = ? AND bucket = ? AND sequence_number = ?"
            ))
            .await?,
            delete_event: prep(format!("DELETE FROM {ks}.events WHERE aggregate_id = ? AND bucket = ? AND sequence_number = ?")).await?,
            delete_by_time: prep(format!(
                "DELETE FROM {ks}.events_by_time WHERE time_bucket = ? AND event_time_us = ? AND aggregate_id = ? AND sequence_number = ?"
            ))
            .await?,
            delete_feed: prep(format!(
                "DELETE FROM {ks}.feed WHERE feed_bucket = ? AND position = ? AND aggregate_id = ? AND sequence_number = ?"
            ))
            .await?,
            insert_snapshot: prep(format!(
                "INSERT INTO {ks}.snapshots (aggregate_id, version, snapshot_data, created_at_us) VALUES (?, ?, ?, ?)"
            ))
            .await?,
            latest_snapshot: prep(format!(
                "SELECT version, snapshot_data, created_at_us FROM {ks}.snapshots WHERE aggregate_id = ? LIMIT 1"
            ))
            .await?,
            insert_archive: prep(format!(
                "INSERT INTO {ks}.archives (object_key, checksum, size_bytes, count, first_time_us, last_time_us, aggregates, archived_at_us)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            list_archives: prep(format!(
                "SELECT object_key, checksum, size_bytes, count, first_time_us, last_time_us, aggregates, archived_at_us FROM {ks}.archives"
            ))
            .await?,
        };
        let store = ScyllaStore {
            session,
            st,
            bucket_size: opts.bucket_size,
            feed_settle_us: i64::try_from(opts.feed_settle.as_micros()).unwrap_or(i64::MAX),
            serial_consistency: opts.serial_consistency,
            consistency: opts.consistency,
            node: node_byte(),
            last_position: Mutex::new(0),
            versions: Mutex::new(HashMap::new()),
            listed_buckets: Mutex::new((0, HashSet::new())),
        };
        store.check_bucket_size(ks).await?;
        Ok(store)
    }

    /// The bucket size decides where every event lives, so a keyspace keeps the one it was
    /// created with: the first store to connect records it, later ones must agree.
    async fn check_bucket_size(&self, ks: &str) -> Result<()> {
        let mut claim = self
            .session
            .prepare(format!("INSERT INTO {ks}.store_meta (key, value) VALUES ('bucket_size', ?) IF NOT EXISTS"))
            .await
            .map_err(backend)?;
        claim.set_serial_consistency(Some(self.serial_consistency));
        claim.set_consistency(self.consistency);
        let result = self.session.execute_unpaged(&claim, (self.bucket_size.to_string(),)).await.map_err(backend)?;
        let rows = result.into_rows_result().map_err(backend)?;
        let row: Option<Row> = rows.maybe_first_row::<Row>().map_err(backend)?;
        let columns = row.map(|r| r.columns).unwrap_or_default();
        if let Some(Some(CqlValue::Boolean(false))) = columns.first() {
            let stored = columns.iter().find_map(|c| match c {
                Some(CqlValue::Text(v)) if v != "bucket_size" => Some(v.clone()),
                _ => None,
            });
            if stored.as_deref() != Some(self.bucket_size.to_string().as_str()) {
                return Err(StoreError::Invalid(format!(
                    "keyspace {ks} was created with bucket_size {}, not {}",
                    stored.unwrap_or_default(),
                    self.bucket_size
                )));
            }
        }
        Ok(())
    }

    fn cached_version(&self, aggregate_id: &str) -> Option<u64> {
        self.versions.lock().ok().and_then(|m| m.get(aggregate_id).copied())
    }

    fn remember_version(&self, aggregate_id: &str, version: u64) {
        if let Ok(mut m) = self.versions.lock() {
            if m.len() >= VERSION_CACHE && !m.contains_key(aggregate_id) {
                m.clear();
            }
            let v = m.entry(aggregate_id.to_string()).or_insert(version);
            *v = (*v).max(version);
        }
    }

    fn bucket(&self, sequence: u64) -> Result<i64> {
        to_i64("bucket", sequence.saturating_sub(1) / self.bucket_size)
    }

    /// The aggregate's version: the hint, then forward through the events rows past it (the hint
    /// lags when a writer stopped between its events and its hint). A row whose append continues
    /// into the next bucket counts as the whole append, so no one claims sequences that append
    /// is still writing.
    async fn current_version(&self, aggregate_id: &str) -> Result<u64> {
        let hint: Option<(Option<i64>,)> = self.first_row(&self.st.version_hint, (aggregate_id,)).await?;
        let mut version = match hint {
            Some((Some(v),)) => from_i64("version", v)?,
            _ => 0,
        };
        loop {
            let bucket = self.bucket(version + 1)?;
            let last: Option<(i64, Option<i64>)> = self.first_row(&self.st.last_in_bucket, (aggregate_id, bucket)).await?;
            let Some((last, append_last)) = last else { break };
            let last = from_i64("sequence", last)?.max(from_i64("sequence", append_last.unwrap_or(0))?);
            if last <= version {
                break;
            }
            version = last;
            // Only a version that fills its bucket can continue in the next one.
            if version % self.bucket_size != 0 {
                break;
            }
        }
        Ok(version)
    }

    async fn known_event_ids(&self, aggregate_id: &str, ids: Vec<String>) -> Result<HashSet<String>> {
        let mut known = HashSet::new();
        for chunk in ids.chunks(100) {
            let mut rows = self
                .session
                .execute_iter(self.st.known_ids.clone(), (aggregate_id, chunk.to_vec()))
                .await
                .map_err(backend)?
                .rows_stream::<(String,)>()
                .map_err(backend)?;
            while let Some(row) = rows.next().await {
                known.insert(row.map_err(backend)?.0);
            }
        }
        Ok(known)
    }

    /// Writes `events` as sequences `current+1..`, one conditional batch per bucket. Returns
    /// false when another appender took `current + 1` first (nothing was written).
    async fn insert_events(&self, aggregate_id: &str, current: u64, events: &[NewEvent]) -> Result<bool> {
        let last = to_i64("sequence", current + events.len() as u64)?;
        let mut first_chunk = true;
        let mut seq = current + 1;
        let mut rest = events;
        while !rest.is_empty() {
            let bucket = self.bucket(seq)?;
            let room = (self.bucket_size - (seq - 1) % self.bucket_size) as usize;
            let (chunk, tail) = rest.split_at(room.min(rest.len()));
            let mut batch = Batch::new(BatchType::Logged);
            batch.set_serial_consistency(Some(self.serial_consistency));
            batch.set_consistency(self.consistency);
            let mut values = Vec::with_capacity(chunk.len());
            for e in chunk {
                batch.append_statement(self.st.insert_event.clone());
                values.push((
                    aggregate_id,
                    bucket,
                    to_i64("sequence", seq)?,
                    e.event_id.as_str(),
                    e.event_type.as_str(),
                    e.event_time.timestamp_micros(),
                    json_text(&e.payload)?,
                    last,
                ));
                seq += 1;
            }
            let won = applied(self.session.batch(&batch, values).await.map_err(backend)?)?;
            if !won {
                if first_chunk {
                    return Ok(false);
                }
                // Unreachable while every writer honours `append_last` (see current_version).
                return Err(StoreError::Backend(format!(
                    "append to {aggregate_id} was interrupted at sequence {}: another writer took the next bucket",
                    seq - chunk.len() as u64
                )));
            }
            first_chunk = false;
            rest = tail;
        }
        Ok(true)
    }

    /// Feed positions for `n` events: increasing within this process, roughly time-ordered
    /// across processes (the node byte keeps two processes from taking the same position in the
    /// same microsecond unless they drew the same byte).
    fn take_positions(&self, n: usize) -> Result<Vec<u64>> {
        let mut last = self.last_position.lock().map_err(|_| StoreError::Backend("feed position lock poisoned".into()))?;
        let now = (u64::try_from(now_us()).unwrap_or(0) << NODE_BITS) | self.node;
        let mut next = now.max(*last + (1 << NODE_BITS));
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(next);
            next += 1 << NODE_BITS;
        }
        *last = next - (1 << NODE_BITS);
        Ok(out)
    }

    /// Whether this process still has to write the index row for a time or feed bucket.
    fn first_listing(&self, kind: u8, bucket: i64) -> bool {
        let hour = now_us().div_euclid(HOUR_US);
        match self.listed_buckets.lock() {
            Ok(mut listed) => {
                let (since, set) = &mut *listed;
                if *since != hour {
                    *since = hour;
                    set.clear();
                }
                set.insert((kind, bucket))
            }
            Err(_) => true,
        }
    }

    /// After the events are in: the idempotency rows, the time index, the feed and the version
    /// hint, each group one single-partition batch, all concurrently.
    async fn write_derived(&self, aggregate_id: &str, first_seq: u64, events: &[NewEvent]) -> Result<()> {
        let positions = self.take_positions(events.len())?;
        let mut by_time: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        let mut by_feed: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            by_time.entry(e.event_time.timestamp_micros().div_euclid(HOUR_US)).or_default().push(i);
            by_feed.entry(to_i64("position", positions[i])? >> NODE_BITS).or_default().push(i);
        }
        let payloads = events.iter().map(|e| json_text(&e.payload)).collect::<Result<Vec<_>>>()?;
        let seqs = (0..events.len()).map(|i| to_i64("sequence", first_seq + i as u64)).collect::<Result<Vec<_>>>()?;
        let pos = positions.iter().map(|p| to_i64("position", *p)).collect::<Result<Vec<_>>>()?;

        let mut writes: Vec<BoxFuture<'_, Result<()>>> = Vec::new();
        let mut ids = self.batch();
        let mut id_values = Vec::new();
        for (i, e) in events.iter().enumerate() {
            ids.append_statement(self.st.insert_event_id.clone());
            id_values.push((aggregate_id, e.event_id.as_str(), seqs[i], pos[i]));
        }
        writes.push(self.run_batch(ids, id_values).boxed());
        for (hour, members) in &by_time {
            let mut b = self.batch();
            let mut values = Vec::new();
            for &i in members {
                let e = &events[i];
                b.append_statement(self.st.insert_by_time.clone());
                values.push((*hour, e.event_time.timestamp_micros(), aggregate_id, seqs[i], e.event_id.as_str(), e.event_type.as_str(), payloads[i].as_str()));
            }
            writes.push(self.run_batch(b, values).boxed());
        }
        for (us, members) in &by_feed {
            let minute = us.div_euclid(MINUTE_US);
            let mut b = self.batch();
            let mut values = Vec::new();
            for &i in members {
                let e = &events[i];
                b.append_statement(self.st.insert_feed.clone());
                values.push((minute, pos[i], aggregate_id, seqs[i], e.event_id.as_str(), e.event_type.as_str(), e.event_time.timestamp_micros(), payloads[i].as_str()));
            }
            writes.push(self.run_batch(b, values).boxed());
        }
        let mut index_writes = Vec::new();
        for hour in by_time.keys().filter(|h| self.first_listing(0, **h)) {
            index_writes.push(self.session.execute_unpaged(&self.st.insert_time_bucket, (*hour,)));
        }
        for minute in by_feed.keys().map(|us| us.div_euclid(MINUTE_US)).collect::<HashSet<_>>() {
            if self.first_listing(1, minute) {
                index_writes.push(self.session.execute_unpaged(&self.st.insert_feed_bucket, (minute,)));
            }
        }
        let version = seqs.last().copied().unwrap_or(0);
        let hint = self.session.execute_unpaged(&self.st.set_version_hint, (version, version, aggregate_id));
        // Index rows first: a bucket must be listed before a reader can need it.
        futures::future::try_join_all(index_writes).await.map_err(backend)?;
        let (derived, hint) = futures::join!(futures::future::try_join_all(writes), hint);
        derived?;
        hint.map_err(backend)?;
        Ok(())
    }

    fn batch(&self) -> Batch {
        let mut b = Batch::new(BatchType::Unlogged);
        b.set_consistency(self.consistency);
        b
    }

    async fn run_batch<V: SerializeRow>(&self, batch: Batch, values: Vec<V>) -> Result<()> {
        self.session.batch(&batch, values).await.map_err(backend)?;
        Ok(())
    }

    /// Deletes one event from `events`, `events_by_time` and the feed; its eventId row and the
    /// aggregate's version stay (idempotency and versions outlive archiving).
    async fn delete_one(&self, key: &EventKey) -> Result<()> {
        let bucket = self.bucket(key.sequence)?;
        let seq = to_i64("sequence", key.sequence)?;
        let row: Option<(String, i64)> = self.first_row(&self.st.event_at, (key.aggregate_id.as_str(), bucket, seq)).await?;
        let Some((event_id, time)) = row else { return Ok(()) }; // already gone
        let position: Option<(Option<i64>,)> =
            self.first_row(&self.st.event_id_position, (key.aggregate_id.as_str(), event_id.as_str())).await?;
        if let Some((Some(position),)) = position {
            let minute = (position >> NODE_BITS).div_euclid(MINUTE_US);
            self.session
                .execute_unpaged(&self.st.delete_feed, (minute, position, key.aggregate_id.as_str(), seq))
                .await
                .map_err(backend)?;
        }
        self.session
            .execute_unpaged(&self.st.delete_by_time, (time.div_euclid(HOUR_US), time, key.aggregate_id.as_str(), seq))
            .await
            .map_err(backend)?;
        // The events row last: while it exists, a retried delete can still find the others.
        self.session.execute_unpaged(&self.st.delete_event, (key.aggregate_id.as_str(), bucket, seq)).await.map_err(backend)?;
        Ok(())
    }

    /// The first row of a prepared statement's result, if there is one.
    async fn first_row<T>(&self, statement: &PreparedStatement, values: impl SerializeRow) -> Result<Option<T>>
    where
        T: for<'f> ::scylla::deserialize::row::DeserializeRow<'f, 'f>,
    {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(backend)?
            .into_rows_result()
            .map_err(backend)?
            .maybe_first_row::<T>()
            .map_err(backend)
    }

    /// The eventId stored at (aggregate, sequence), if any.
    async fn event_id_at(&self, aggregate_id: &str, sequence: u64) -> Result<Option<String>> {
        let key = (aggregate_id, self.bucket(sequence)?, to_i64("sequence", sequence)?);
        let row: Option<(String, i64)> = self.first_row(&self.st.event_at, key).await?;
        Ok(row.map(|(id, _)| id))
    }

    fn restored_or_conflict(&self, aggregate_id: &str, e: &StoredEvent, there: &str, counts: &mut RestoreCounts) -> Result<()> {
        if there == e.event_id {
            counts.already_present += 1;
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "{aggregate_id} #{} holds event {there}, not the archived {}; refusing to overwrite it",
                e.sequence, e.event_id
            )))
        }
    }

    async fn read_range(&self, aggregate_id: &str, from: u64, to: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        if from > to || limit == 0 {
            return Ok(out);
        }
        let mut bucket = self.bucket(from)?;
        let last_bucket = self.bucket(to)?;
        let (from, to) = (to_i64("sequence", from)?, to_i64("sequence", to)?);
        while bucket <= last_bucket && out.len() < limit {
            let left = limit_i64(limit - out.len()).min(i32::MAX as i64) as i32;
            let mut rows = self
                .session
                .execute_iter(self.st.read_bucket.clone(), (aggregate_id, bucket, from, to, left))
                .await
                .map_err(backend)?
                .rows_stream::<EventRow>()
                .map_err(backend)?;
            while let Some(row) = rows.try_next().await.map_err(backend)? {
                out.push(stored(row)?);
            }
            bucket += 1;
        }
        out.truncate(limit);
        Ok(out)
    }
}

/// A per-process byte for feed positions, from the clock and the process id (no randomness
/// crate needed for a tie-breaker).
fn node_byte() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    u64::from((nanos ^ std::process::id().wrapping_mul(2_654_435_761)) & 0xff)
}

async fn create_schema(session: &Session, opts: &ScyllaOptions) -> Result<()> {
    let ks = &opts.keyspace;
    let tablets = if opts.disable_tablets { " AND tablets = {'enabled': false}" } else { "" };
    let ttl = opts.events_by_time_ttl.map(|d| d.as_secs().max(1)).unwrap_or(0);
    let statements = [
        format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {}{tablets}", opts.replication.to_cql()),
        format!(
            "CREATE TABLE IF NOT EXISTS {ks}.events (
                aggregate_id text, bucket bigint, sequence_number bigint,
                event_id text, event_type text, event_time_us bigint, payload text, append_last bigint,
                PRIMARY KEY ((aggregate_id, bucket), sequence_number)
            ) WITH CLUSTERING ORDER BY (sequence_number ASC)
              AND compaction = {{'class': 'LeveledCompactionStrategy'}}"
        ),
        format!("CREATE TABLE IF NOT EXISTS {ks}.aggregate_versions (aggregate_id text PRIMARY KEY, version bigint)"),
        format!(
            "CREATE TABLE IF NOT EXISTS {ks}.event_ids (
                aggregate_id text, event_id text, sequence_number bigint, feed_position bigint,
                PRIMARY KEY (aggregate_id, event_id))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {ks}.events_by_time (
                time_bucket bigint, event_time_us bigint, aggregate_id text, sequence_number bigint,
                event_id text, event_type text, payload text,
                PRIMARY KEY (time_bucket, event_time_us, aggregate_id, sequence_number)
            ) WITH default_time_to_live = {ttl}"
        ),
        format!("CREATE TABLE IF NOT EXISTS {ks}.time_buckets (shard int, time_bucket bigint, PRIMARY KEY (shard, time_bucket))"),
        format!(
            "CREATE TABLE IF NOT EXISTS {ks}.feed (
                feed_bucket bigint, position bigint, aggregate_id text, sequence_number bigint,
                event_id text, event_type text, event_time_us bigint, payload text,
                PRIMARY KEY (feed_bucket, position, aggregate_id, sequence_number))"
        ),
        format!("CREATE TABLE IF NOT EXISTS {ks}.feed_buckets (shard int, feed_bucket bigint, PRIMARY KEY (shard, feed_bucket))"),
        format!(
            "CREATE TABLE IF NOT EXISTS {ks}.snapshots (
                aggregate_id text, version bigint, snapshot_data text, created_at_us bigint,
                PRIMARY KEY (aggregate_id, version)
            ) WITH CLUSTERING ORDER BY (version DESC)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {ks}.archives (
                object_key text PRIMARY KEY, checksum text, size_bytes bigint, count bigint,
                first_time_us bigint, last_time_us bigint, aggregates text, archived_at_us bigint)"
        ),
        format!("CREATE TABLE IF NOT EXISTS {ks}.store_meta (key text PRIMARY KEY, value text)"),
    ];
    for cql in statements {
        session.query_unpaged(cql.as_str(), ()).await.map_err(|e| StoreError::Backend(format!("{e} (in: {cql})")))?;
    }
    session.await_schema_agreement().await.map_err(backend)?;
    Ok(())
}

#[async_trait::async_trait]
impl EventStore for ScyllaStore {
    async fn append(&self, aggregate_id: &str, events: Vec<NewEvent>, expected: ExpectedVersion) -> Result<AppendResult> {
        validate(aggregate_id, &events)?;
        let events = dedup_batch(events);
        if events.is_empty() {
            return Ok(AppendResult { version: self.current_version(aggregate_id).await?, appended: 0 });
        }
        let ids = events.iter().map(|e| e.event_id.clone()).collect();
        // The version this process last saw is a safe guess to try first: versions never go
        // down, and the LWT on `guess + 1` fails if anyone went past it (then the version is
        // read for real). It saves reading the hint and probing the bucket on the hot path.
        let guess = self.cached_version(aggregate_id).filter(|c| match expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => *c == 0,
            ExpectedVersion::Exact(v) => v == *c,
        });
        let (mut known, mut current) = match guess {
            Some(c) => (self.known_event_ids(aggregate_id, ids).await?, c),
            None => {
                // Independent reads, issued together.
                let (known, current) = futures::join!(self.known_event_ids(aggregate_id, ids), self.current_version(aggregate_id));
                (known?, current?)
            }
        };
        for _ in 0..ANY_RETRIES {
            let fresh: Vec<NewEvent> = events.iter().filter(|e| !known.contains(&e.event_id)).cloned().collect();
            // Nothing new: a retried append is a no-op whatever version it expected.
            if fresh.is_empty() {
                let version = if guess.is_some() { self.current_version(aggregate_id).await? } else { current };
                return Ok(AppendResult { version, appended: 0 });
            }
            check_expected(aggregate_id, expected, current)?;
            if self.insert_events(aggregate_id, current, &fresh).await? {
                self.write_derived(aggregate_id, current + 1, &fresh).await?;
                let version = current + fresh.len() as u64;
                self.remember_version(aggregate_id, version);
                return Ok(AppendResult { version, appended: fresh.len() });
            }
            // Lost the race for current+1. The winner may have been a retry of this very append
            // whose eventId rows are not written yet: learn the ids from the events rows.
            let now = self.current_version(aggregate_id).await?;
            for e in self.read_range(aggregate_id, current + 1, now, usize::MAX).await? {
                known.insert(e.event_id);
            }
            if expected != ExpectedVersion::Any && fresh.iter().any(|e| !known.contains(&e.event_id)) {
                return Err(StoreError::Conflict { aggregate_id: aggregate_id.to_string(), expected, current: now });
            }
            current = now;
        }
        Err(StoreError::Backend(format!("append to {aggregate_id} lost {ANY_RETRIES} races in a row; retry later")))
    }

    async fn read(&self, aggregate_id: &str, from_version: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let to = self.current_version(aggregate_id).await?;
        self.read_range(aggregate_id, from_version.max(1), to, limit).await
    }

    async fn read_by_time(&self, from: DateTime<Utc>, to: DateTime<Utc>, event_type: Option<&str>, limit: usize) -> Result<Vec<StoredEvent>> {
        self.read_by_time_after(from, to, event_type, None, limit).await
    }

    async fn read_by_time_after(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        event_type: Option<&str>,
        after: Option<&TimePosition>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let (mut from, to) = (from.timestamp_micros(), to.timestamp_micros());
        // Paging: start at the cursor's microsecond and skip what is not after it. Rows come in
        // the clustering order (event_time_us, aggregate_id, sequence_number), the cursor's order.
        let after = after.map(|p| (p.event_time.timestamp_micros(), p.aggregate_id.as_str(), p.sequence));
        if let Some((t, _, _)) = after {
            from = from.max(t);
        }
        let mut out = Vec::new();
        if from >= to || limit == 0 {
            return Ok(out);
        }
        let mut hours = self
            .session
            .execute_iter(self.st.time_buckets.clone(), (from.div_euclid(HOUR_US), (to - 1).div_euclid(HOUR_US)))
            .await
            .map_err(backend)?
            .rows_stream::<(i64,)>()
            .map_err(backend)?;
        let mut buckets = Vec::new();
        while let Some((hour,)) = hours.try_next().await.map_err(backend)? {
            buckets.push(hour);
        }
        for hour in buckets {
            let mut rows = self
                .session
                .execute_iter(self.st.read_by_time.clone(), (hour, from, to))
                .await
                .map_err(backend)?
                .rows_stream::<EventRow>()
                .map_err(backend)?;
            while let Some(row) = rows.try_next().await.map_err(backend)? {
                if let Some((t, a, seq)) = after {
                    if (row.4, row.0.as_str(), row.1) <= (t, a, i64::try_from(seq).unwrap_or(i64::MAX)) {
                        continue;
                    }
                }
                if event_type.is_none_or(|t| t == row.3) {
                    out.push(stored(row)?);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        validate(&snapshot.aggregate_id, &[])?;
        let values = (
            snapshot.aggregate_id.as_str(),
            to_i64("snapshot version", snapshot.version)?,
            json_text(&snapshot.data)?,
            snapshot.created_at.timestamp_micros(),
        );
        self.session.execute_unpaged(&self.st.insert_snapshot, values).await.map_err(backend)?;
        Ok(())
    }

    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>> {
        let row: Option<(i64, String, i64)> = self.first_row(&self.st.latest_snapshot, (aggregate_id,)).await?;
        row.map(|(version, data, created_at)| {
            Ok(Snapshot {
                aggregate_id: aggregate_id.to_string(),
                version: from_i64("snapshot version", version)?,
                data: parse_json("snapshot", &data)?,
                created_at: from_micros("snapshot time", created_at)?,
            })
        })
        .transpose()
    }

    async fn feed(&self, after: FeedPosition, limit: usize) -> Result<Vec<(FeedPosition, StoredEvent)>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let after = to_i64("feed position", after)?;
        let horizon_us = now_us() - self.feed_settle_us;
        let horizon = horizon_us << NODE_BITS;
        let mut minutes = self
            .session
            .execute_iter(self.st.feed_buckets.clone(), ((after >> NODE_BITS).div_euclid(MINUTE_US), horizon_us.div_euclid(MINUTE_US)))
            .await
            .map_err(backend)?
            .rows_stream::<(i64,)>()
            .map_err(backend)?;
        let mut buckets = Vec::new();
        while let Some((minute,)) = minutes.try_next().await.map_err(backend)? {
            buckets.push(minute);
        }
        for minute in buckets {
            let mut rows = self
                .session
                .execute_iter(self.st.read_feed.clone(), (minute, after, horizon))
                .await
                .map_err(backend)?
                .rows_stream::<(i64, String, i64, String, String, i64, String)>()
                .map_err(backend)?;
            while let Some((position, a, s, id, ty, time, payload)) = rows.try_next().await.map_err(backend)? {
                let position = from_i64("feed position", position)?;
                // A full page still takes the rows that share its last position (two processes
                // can, rarely, take the same one): the next poll starts after that position.
                if out.len() >= limit && out.last().is_some_and(|(last, _)| *last != position) {
                    return Ok(out);
                }
                out.push((position, stored((a, s, id, ty, time, payload))?));
            }
            if out.len() >= limit {
                return Ok(out);
            }
        }
        Ok(out)
    }

    async fn delete(&self, keys: &[EventKey]) -> Result<()> {
        for chunk in keys.chunks(16) {
            futures::future::try_join_all(chunk.iter().map(|key| self.delete_one(key))).await?;
        }
        Ok(())
    }

    async fn restore_archived(&self, aggregate_id: &str, events: Vec<StoredEvent>) -> Result<RestoreCounts> {
        check_restore(aggregate_id, &events)?;
        let mut counts = RestoreCounts::default();
        // Every sequence is checked before anything is written, so a conflict writes nothing.
        let mut missing = Vec::new();
        for e in events {
            match self.event_id_at(aggregate_id, e.sequence).await? {
                Some(id) => self.restored_or_conflict(aggregate_id, &e, &id, &mut counts)?,
                None => missing.push(e),
            }
        }
        for e in missing {
            let bucket = self.bucket(e.sequence)?;
            let seq = to_i64("sequence", e.sequence)?;
            // A conditional write of the one row: of two restores racing, one writes it.
            let mut batch = Batch::new(BatchType::Logged);
            batch.set_serial_consistency(Some(self.serial_consistency));
            batch.set_consistency(self.consistency);
            batch.append_statement(self.st.insert_event.clone());
            let payload = json_text(&e.payload)?;
            let values = vec![(
                aggregate_id,
                bucket,
                seq,
                e.event_id.as_str(),
                e.event_type.as_str(),
                e.event_time.timestamp_micros(),
                payload,
                seq,
            )];
            if !applied(self.session.batch(&batch, values).await.map_err(backend)?)? {
                let id = self.event_id_at(aggregate_id, e.sequence).await?.unwrap_or_default();
                self.restored_or_conflict(aggregate_id, &e, &id, &mut counts)?;
                continue;
            }
            let new = NewEvent { event_id: e.event_id, event_type: e.event_type, event_time: e.event_time, payload: e.payload };
            // The eventId row (with a new feed position), the time index, the feed and the
            // version hint (written USING TIMESTAMP version: it never goes down).
            self.write_derived(aggregate_id, e.sequence, std::slice::from_ref(&new)).await?;
            counts.restored += 1;
        }
        Ok(counts)
    }

    async fn record_archive(&self, entry: ArchiveEntry) -> Result<()> {
        let values = (
            entry.object_key.as_str(),
            entry.checksum.as_str(),
            to_i64("size_bytes", entry.size_bytes)?,
            to_i64("count", entry.count)?,
            entry.first_time.timestamp_micros(),
            entry.last_time.timestamp_micros(),
            serde_json::to_string(&entry.aggregates).map_err(backend)?,
            entry.archived_at.timestamp_micros(),
        );
        self.session.execute_unpaged(&self.st.insert_archive, values).await.map_err(backend)?;
        Ok(())
    }

    async fn list_archives(&self) -> Result<Vec<ArchiveEntry>> {
        type ArchiveRow = (String, String, i64, i64, i64, i64, String, i64);
        let mut rows = self
            .session
            .execute_iter(self.st.list_archives.clone(), ())
            .await
            .map_err(backend)?
            .rows_stream::<ArchiveRow>()
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some((object_key, checksum, size, count, first, last, aggregates, archived_at)) = rows.try_next().await.map_err(backend)? {
            out.push(ArchiveEntry {
                object_key,
                checksum,
                size_bytes: from_i64("size_bytes", size)?,
                count: from_i64("count", count)?,
                first_time: from_micros("first_time", first)?,
                last_time: from_micros("last_time", last)?,
                aggregates: parse_json("archive aggregates", &aggregates)?,
                archived_at: from_micros("archived_at", archived_at)?,
            });
        }
        // Same order as SQLite: by first event time, then key (a full scan comes in token order).
        out.sort_by(|a, b| (a.first_time, &a.object_key).cmp(&(b.first_time, &b.object_key)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_cql() {
        assert_eq!(Replication::Simple { replication_factor: 1 }.to_cql(), "{'class': 'SimpleStrategy', 'replication_factor': 1}");
        assert_eq!(
            Replication::NetworkTopology(vec![("dc1".into(), 3), ("dc2".into(), 3)]).to_cql(),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}"
        );
    }

    #[test]
    fn keyspace_names() {
        assert!(valid_keyspace("event_store_1"));
        assert!(!valid_keyspace("drop table x;"));
        assert!(!valid_keyspace(""));
        assert!(!valid_keyspace(&"k".repeat(49)));
    }
}

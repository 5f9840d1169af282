//! The embedded SQLite backend: one database file holds the events, the aggregate versions, the
//! eventId index, the snapshots and the archive index.
//!
//! Writes go through a single writer thread that owns the only writing connection: SQLite
//! admits one writer at a time anyway, and funnelling every write through one thread lets it
//! *group commit* — it takes every write queued while the previous transaction was syncing and
//! commits them together, so N concurrent appenders pay for one fsync instead of N. Each write
//! runs inside its own savepoint, so one append's conflict or error never undoes a neighbour's.
//! Reads use a small pool of read-only connections; WAL mode lets them run beside the writer.
//!
//! Data structure: `events` is keyed by an AUTOINCREMENT `position`, which is the global feed
//! order (assigned in commit order by the single writer, never reused after a delete), with a
//! unique (aggregate_id, sequence) index for aggregate reads and a time index for time queries.
//! `aggregates` keeps each aggregate's version and `event_ids` each stored eventId, both apart
//! from `events`, so that deleting archived events neither rewinds a version nor forgets which
//! events were already appended.
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{backend, from_micros, json_text, parse_json};
use crate::rules::{check_expected, dedup_batch, from_i64, limit_i64, to_i64, validate};
use crate::{
    AppendResult, ArchiveEntry, EventKey, EventStore, ExpectedVersion, FeedPosition, NewEvent, Result, Snapshot, TimePosition,
    RestoreCounts, StoreError, StoredEvent, check_restore,
};

/// How hard each commit pushes data to the disk (SQLite's `PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// The WAL is fsynced at every commit: an acknowledged append survives a power loss.
    #[default]
    Full,
    /// The WAL is fsynced only at checkpoints: an acknowledged append survives a crash of the
    /// process but the last commits can be lost on power loss or an OS crash. The database is
    /// never corrupted either way. Several times faster for appends of one event.
    Normal,
}

/// Options for [`SqliteStore::open`]. `Default` is the safe, durable configuration.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Most writes committed in one transaction (group commit).
    pub max_batch: usize,
    /// Writes waiting for the writer thread before appenders are made to wait (back-pressure).
    pub queue_depth: usize,
    /// Read connections (each read holds one for its duration).
    pub readers: usize,
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            max_batch: 512,
            queue_depth: 4096,
            readers: 2,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_id TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,
    event_id     TEXT    NOT NULL,
    event_type   TEXT    NOT NULL,
    event_time   INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    payload      TEXT    NOT NULL  -- the whole envelope, JSON
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_aggregate ON events (aggregate_id, sequence);
CREATE INDEX IF NOT EXISTS events_by_time ON events (event_time, aggregate_id, sequence);
CREATE TABLE IF NOT EXISTS aggregates (
    aggregate_id TEXT PRIMARY KEY,
    version      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_ids (
    aggregate_id TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,
    PRIMARY KEY (aggregate_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    aggregate_id TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    data         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (aggregate_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archives (
    object_key   TEXT PRIMARY KEY,
    checksum     TEXT    NOT NULL,
    size_bytes   INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    first_time   INTEGER NOT NULL,
    last_time    INTEGER NOT NULL,
    aggregates   TEXT    NOT NULL, -- JSON [[aggregate, first_sequence, last_sequence], ...]
    archived_at  INTEGER NOT NULL
);
";

/// One queued write. The writer runs it inside the group transaction, then, once the commit's
/// fate is known, has it deliver its reply: the write's own result, or the commit's error.
trait Write: Send {
    /// Runs the write; false when it failed, so its savepoint is rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    fn finish(self: Box<Self>, commit_error: Option<&str>);
}

type Job = Box<dyn Write>;

struct Pending<T, F> {
    work: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T: Send, F: FnOnce(&Connection) -> Result<T> + Send> Write for Pending<T, F> {
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        let out = work(conn);
        let ok = out.is_ok();
        self.outcome = Some(out);
        ok
    }

    fn finish(self: Box<Self>, commit_error: Option<&str>) {
        let out = match (commit_error, self.outcome) {
            (Some(e), _) => Err(StoreError::Backend(format!("commit failed: {e}"))),
            (None, Some(out)) => out,
            (None, None) => Err(StoreError::Backend("the write was not run".into())),
        };
        // The appender may have gone away (its future dropped): nobody to tell.
        let _ = self.reply.send(out);
    }
}

struct Writer {
    jobs: mpsc::Sender<Job>,
    thread: JoinHandle<()>,
}

/// The embedded event store. Dropping it finishes the writes already queued, stops the writer
/// thread and closes the database, so the same file can be reopened right after.
pub struct SqliteStore {
    writer: Option<Writer>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, in WAL mode with the configured
    /// synchronous level, and starts the writer thread.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<Self> {
        let max_batch = opts.max_batch.max(1);
        let conn = Connection::open(path).map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
        conn.busy_timeout(opts.busy_timeout).map_err(backend)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("{}: could not enable WAL (journal mode is {mode})", path.display())));
        }
        let sync = match opts.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous={sync};")).map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;

        let mut readers = Vec::new();
        for _ in 0..opts.readers.max(1) {
            let r = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(backend)?;
            r.busy_timeout(opts.busy_timeout).map_err(backend)?;
            readers.push(Mutex::new(r));
        }

        let (jobs, rx) = mpsc::channel(opts.queue_depth.max(1));
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch))
            .map_err(backend)?;
        Ok(SqliteStore { writer: Some(Writer { jobs, thread }), readers: Arc::new(readers), next_reader: AtomicUsize::new(0) })
    }

    /// Runs `f` on the writer connection as part of the next group commit and returns its result
    /// once that commit is durable.
    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let (reply, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(Pending { work: Some(f), outcome: None, reply });
        let writer = self.writer.as_ref().ok_or_else(|| StoreError::Backend("store is closed".into()))?;
        writer.jobs.send(job).await.map_err(|_| StoreError::Backend("the SQLite writer thread has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("the SQLite writer thread stopped before replying".into()))?
    }

    /// Runs `f` on one of the read connections, off the async runtime.
    async fn read_with<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let readers = Arc::clone(&self.readers);
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        tokio::task::spawn_blocking(move || {
            let conn = readers[i].lock().map_err(|_| StoreError::Backend("a read connection was poisoned".into()))?;
            f(&conn)
        })
        .await
        .map_err(backend)?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(Writer { jobs, thread }) = self.writer.take() {
            drop(jobs); // the writer drains what is queued, then sees the channel closed
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch.drain(..));
    }
}

/// One group commit: every job in its own savepoint inside one IMMEDIATE transaction.
fn commit_batch(conn: &Connection, jobs: impl Iterator<Item = Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        jobs.for_each(|job| job.finish(Some(&msg)));
        return;
    }
    let mut done: Vec<Job> = Vec::new();
    for mut job in jobs {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            job.finish(Some(&e.to_string()));
            continue;
        }
        let ok = job.run(conn);
        let end = if ok { conn.execute_batch("RELEASE job") } else { conn.execute_batch("ROLLBACK TO job; RELEASE job") };
        match end {
            Ok(()) => done.push(job),
            Err(e) => job.finish(Some(&e.to_string())),
        }
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if commit.is_err() {
        // Leaves the connection usable for the next batch.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let commit_error = commit.err();
    for job in done {
        job.finish(commit_error.as_deref());
    }
}

fn row_to_event(r: &Row<'_>) -> rusqlite::Result<(i64, String, i64, String, String, i64, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

type EventRow = (i64, String, i64, String, String, i64, String);

fn event_from_row(row: EventRow) -> Result<(FeedPosition, StoredEvent)> {
    let (position, aggregate_id, sequence, event_id, event_type, time, payload) = row;
    Ok((
        from_i64("position", position)?,
        StoredEvent {
            aggregate_id,
            sequence: from_i64("sequence", sequence)?,
            event_id,
            event_type,
            event_time: from_micros("event time", time)?,
            payload: parse_json("payload", &payload)?,
        },
    ))
}

const EVENT_COLUMNS: &str = "position, aggregate_id, sequence, event_id, event_type, event_time, payload";

fn query_events(conn: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<(FeedPosition, StoredEvent)>> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt.query_map(params, row_to_event).map_err(backend)?;
    rows.map(|r| r.map_err(backend).and_then(event_from_row)).collect()
}

fn append_in_tx(conn: &Connection, aggregate_id: &str, events: Vec<NewEvent>, expected: ExpectedVersion) -> Result<AppendResult> {
    let current: i64 = conn
        .prepare_cached("SELECT version FROM aggregates WHERE aggregate_id = ?1")
        .and_then(|mut s| s.query_row([aggregate_id], |r| r.get(0)).optional())
        .map_err(backend)?
        .unwrap_or(0);
    let current = from_i64("version", current)?;

    let mut fresh = Vec::with_capacity(events.len());
    {
        let mut known = conn.prepare_cached("SELECT 1 FROM event_ids WHERE aggregate_id = ?1 AND event_id = ?2").map_err(backend)?;
        for e in dedup_batch(events) {
            if !known.exists(params![aggregate_id, e.event_id]).map_err(backend)? {
                fresh.push(e);
            }
        }
    }
    // Nothing new: a retried append is a no-op whatever version it expected.
    if fresh.is_empty() {
        return Ok(AppendResult { version: current, appended: 0 });
    }
    check_expected(aggregate_id, expected, current)?;

    let mut insert_event = conn
        .prepare_cached(
            "INSERT INTO events (aggregate_id, sequence, event_id, event_type, event_time, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(backend)?;
    let mut insert_id =
        conn.prepare_cached("INSERT INTO event_ids (aggregate_id, event_id, sequence) VALUES (?1, ?2, ?3)").map_err(backend)?;
    let mut version = current;
    for e in &fresh {
        version += 1;
        let seq = to_i64("sequence", version)?;
        insert_event
            .execute(params![aggregate_id, seq, e.event_id, e.event_type, micros(e.event_time), json_text(&e.payload)?])
            .map_err(backend)?;
        insert_id.execute(params![aggregate_id, e.event_id, seq]).map_err(backend)?;
    }
    let version_i64 = to_i64("version", version)?;
    conn.prepare_cached(
        "INSERT INTO aggregates (aggregate_id, version) VALUES (?1, ?2) ON CONFLICT (aggregate_id) DO UPDATE SET version = excluded.version",
    )
    .and_then(|mut s| s.execute(params![aggregate_id, version_i64]))
    .map_err(backend)?;
    Ok(AppendResult { version, appended: fresh.len() })
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, aggregate_id: &str, events: Vec<NewEvent>, expected: ExpectedVersion) -> Result<AppendResult> {
        validate(aggregate_id, &events)?;
        let aggregate_id = aggregate_id.to_string();
        self.write(move |conn| append_in_tx(conn, &aggregate_id, events, expected)).await
    }

    async fn read(&self, aggregate_id: &str, from_version: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let aggregate_id = aggregate_id.to_string();
        let from = to_i64("from_version", from_version)?;
        self.read_with(move |conn| {
            let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_id = ?1 AND sequence >= ?2 ORDER BY sequence LIMIT ?3");
            Ok(query_events(conn, &sql, &[&aggregate_id, &from, &limit_i64(limit)])?.into_iter().map(|(_, e)| e).collect())
        })
        .await
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
        let (from, to) = (micros(from), micros(to));
        let event_type = event_type.map(str::to_string);
        let after = match after {
            Some(p) => Some((micros(p.event_time), p.aggregate_id.clone(), to_i64("sequence", p.sequence)?)),
            None => None,
        };
        self.read_with(move |conn| {
            let limit = limit_i64(limit);
            // The order is the time index's: (event_time, aggregate_id, sequence), unique per event.
            let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_time >= ?1 AND event_time < ?2 AND (?3 IS NULL OR event_type = ?3)");
            let (at, agg, seq) = match &after {
                Some((t, a, s)) => (Some(*t), Some(a.as_str()), Some(*s)),
                None => (None, None, None),
            };
            if after.is_some() {
                sql.push_str(" AND (event_time, aggregate_id, sequence) > (?4, ?5, ?6)");
            }
            sql.push_str(" ORDER BY event_time, aggregate_id, sequence LIMIT ?7");
            let rows = query_events(conn, &sql, &[&from, &to, &event_type, &at, &agg, &seq, &limit])?;
            Ok(rows.into_iter().map(|(_, e)| e).collect())
        })
        .await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        validate(&snapshot.aggregate_id, &[])?;
        let version = to_i64("snapshot version", snapshot.version)?;
        let data = json_text(&snapshot.data)?;
        self.write(move |conn| {
            conn.prepare_cached("INSERT OR REPLACE INTO snapshots (aggregate_id, version, data, created_at) VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut s| s.execute(params![snapshot.aggregate_id, version, data, micros(snapshot.created_at)]))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>> {
        let aggregate_id = aggregate_id.to_string();
        self.read_with(move |conn| {
            let row: Option<(i64, String, i64)> = conn
                .prepare_cached("SELECT version, data, created_at FROM snapshots WHERE aggregate_id = ?1 ORDER BY version DESC LIMIT 1")
                .and_then(|mut s| s.query_row([&aggregate_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
                .map_err(backend)?;
            row.map(|(version, data, created_at)| {
                Ok(Snapshot {
                    aggregate_id: aggregate_id.clone(),
                    version: from_i64("snapshot version", version)?,
                    data: parse_json("snapshot", &data)?,
                    created_at: from_micros("snapshot time", created_at)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn feed(&self, after: FeedPosition, limit: usize) -> Result<Vec<(FeedPosition, StoredEvent)>> {
        let after = to_i64("feed position", after)?;
        self.read_with(move |conn| {
            query_events(conn, &format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"), &[
                &after,
                &limit_i64(limit),
            ])
        })
        .await
    }

    async fn delete(&self, keys: &[EventKey]) -> Result<()> {
        let keys = keys
            .iter()
            .map(|k| Ok((k.aggregate_id.clone(), to_i64("sequence", k.sequence)?)))
            .collect::<Result<Vec<_>>>()?;
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached("DELETE FROM events WHERE aggregate_id = ?1 AND sequence = ?2").map_err(backend)?;
            for (aggregate_id, sequence) in &keys {
                stmt.execute(params![aggregate_id, sequence]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn restore_archived(&self, aggregate_id: &str, events: Vec<StoredEvent>) -> Result<RestoreCounts> {
        check_restore(aggregate_id, &events)?;
        let aggregate_id = aggregate_id.to_string();
        // One job: a conflict anywhere rolls the whole call back (its savepoint).
        self.write(move |conn| {
            let mut counts = RestoreCounts::default();
            let mut at = conn.prepare_cached("SELECT event_id FROM events WHERE aggregate_id = ?1 AND sequence = ?2").map_err(backend)?;
            let mut id_at =
                conn.prepare_cached("SELECT sequence FROM event_ids WHERE aggregate_id = ?1 AND event_id = ?2").map_err(backend)?;
            let mut insert_event = conn
                .prepare_cached(
                    "INSERT INTO events (aggregate_id, sequence, event_id, event_type, event_time, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(backend)?;
            let mut insert_id = conn
                .prepare_cached("INSERT OR IGNORE INTO event_ids (aggregate_id, event_id, sequence) VALUES (?1, ?2, ?3)")
                .map_err(backend)?;
            let mut highest = 0u64;
            for e in &events {
                let seq = to_i64("sequence", e.sequence)?;
                highest = highest.max(e.sequence);
                let there: Option<String> = at.query_row(params![aggregate_id, seq], |r| r.get(0)).optional().map_err(backend)?;
                match there {
                    Some(id) if id == e.event_id => counts.already_present += 1,
                    Some(id) => {
                        return Err(StoreError::Invalid(format!(
                            "{aggregate_id} #{} holds event {id}, not the archived {}; refusing to overwrite it",
                            e.sequence, e.event_id
                        )))
                    }
                    None => {
                        let known: Option<i64> =
                            id_at.query_row(params![aggregate_id, e.event_id], |r| r.get(0)).optional().map_err(backend)?;
                        if let Some(other) = known.filter(|s| *s != seq) {
                            return Err(StoreError::Invalid(format!(
                                "event {} of {aggregate_id} is recorded at #{other}, not at the archived #{}",
                                e.event_id, e.sequence
                            )));
                        }
                        insert_event
                            .execute(params![aggregate_id, seq, e.event_id, e.event_type, micros(e.event_time), json_text(&e.payload)?])
                            .map_err(backend)?;
                        insert_id.execute(params![aggregate_id, e.event_id, seq]).map_err(backend)?;
                        counts.restored += 1;
                    }
                }
            }
            if highest > 0 {
                conn.prepare_cached(
                    "INSERT INTO aggregates (aggregate_id, version) VALUES (?1, ?2)
                     ON CONFLICT (aggregate_id) DO UPDATE SET version = max(version, excluded.version)",
                )
                .and_then(|mut s| s.execute(params![aggregate_id, to_i64("version", highest).unwrap_or(i64::MAX)]))
                .map_err(backend)?;
            }
            Ok(counts)
        })
        .await
    }

    async fn record_archive(&self, entry: ArchiveEntry) -> Result<()> {
        let aggregates = serde_json::to_string(&entry.aggregates).map_err(backend)?;
        let size = to_i64("size_bytes", entry.size_bytes)?;
        let count = to_i64("count", entry.count)?;
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO archives (object_key, checksum, size_bytes, count, first_time, last_time, aggregates, archived_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    entry.object_key,
                    entry.checksum,
                    size,
                    count,
                    micros(entry.first_time),
                    micros(entry.last_time),
                    aggregates,
                    micros(entry.archived_at)
                ])
            })
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn list_archives(&self) -> Result<Vec<ArchiveEntry>> {
        self.read_with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT object_key, checksum, size_bytes, count, first_time, last_time, aggregates, archived_at
                     FROM archives ORDER BY first_time, object_key",
                )
                .map_err(backend)?;
            type ArchiveRow = (String, String, i64, i64, i64, i64, String, i64);
            let rows = stmt
                .query_map([], |r| -> rusqlite::Result<ArchiveRow> {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })
                .map_err(backend)?;
            rows.map(|r| {
                let (object_key, checksum, size, count, first, last, aggregates, archived_at) = r.map_err(backend)?;
                Ok(ArchiveEntry {
                    object_key,
                    checksum,
                    size_bytes: from_i64("size_bytes", size)?,
                    count: from_i64("count", count)?,
                    first_time: from_micros("first_time", first)?,
                    last_time: from_micros("last_time", last)?,
                    aggregates: parse_json("archive aggregates", &aggregates)?,
                    archived_at: from_micros("archived_at", archived_at)?,
                })
            })
            .collect()
        })
        .await
    }
}

//! The durable outbox: an SQLite database in WAL mode with `synchronous=FULL`, owned by one
//! writer thread that commits in groups.
//!
//! Why SQLite rather than an append log: the outbox is a *queue with a schedule* — deliveries are
//! removed out of order, retried at per-row times, and inspected by operators — and SQLite gives
//! indexed "what is due for endpoint E" queries, atomic multi-row updates and crash recovery for
//! free, where a log would need its own compaction and index. Throughput comes from group commit:
//! every call is a job sent over a bounded channel to the writer thread, which runs all queued
//! jobs in one transaction and fsyncs once, then answers each caller. Batches holding only
//! claims and removals commit without an fsync (see `Durability`). `enqueue` therefore returns
//! only when the delivery is on disk, and many concurrent enqueues share one fsync.
//!
//! Data structure: one row per delivery, keyed by an autoincrement `seq` (order of arrival) and a
//! unique `delivery_id` (idempotent enqueue). `next_attempt_at` (ms since the epoch) and
//! `attempt_count`/`attempts` hold the retry state, so a restart resumes where it stopped.
//! Claims — rows an attempt is working on — are a set of row ids held by the writer thread, not a
//! column: claiming then costs no row rewrite (a row holds a 1 KiB body, and SQLite rewrites the
//! whole row on any update). The set is empty on open; the exclusive lock guarantees no other
//! process holds claims. (The `claimed` column of the first schema is no longer used.)
//! `dead_reason` marks rows whose
//! dead-letter record could not be written yet: they are retried as dead letters, not as HTTP.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::delivery::WebhookDelivery;
use crate::dlq::{AttemptRecord, DeadLetterReason};
use crate::error::OutboxError;

/// Jobs waiting for the writer thread. Bounded: callers wait (back-pressure) rather than queue
/// without limit.
const JOB_QUEUE: usize = 4096;
/// At most this many jobs share one transaction, so no caller waits behind an unbounded batch.
const MAX_JOBS_PER_COMMIT: usize = 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT    NOT NULL UNIQUE,
    event_id        TEXT    NOT NULL,
    endpoint        TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    headers         TEXT    NOT NULL,
    original_event  TEXT    NOT NULL,
    correlation_id  TEXT,
    enqueued_at     INTEGER NOT NULL,
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    attempts        TEXT    NOT NULL DEFAULT '[]',
    dead_reason     TEXT,
    dead_message    TEXT,
    claimed         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_by_due ON deliveries (endpoint, next_attempt_at, seq);
DROP INDEX IF EXISTS deliveries_due;
CREATE TABLE IF NOT EXISTS disabled_endpoints (
    endpoint    TEXT PRIMARY KEY,
    disabled_at INTEGER NOT NULL,
    reason      TEXT NOT NULL
);
PRAGMA user_version = 1;
";

/// What a job sees: the connection (inside the open transaction) and the change it makes to the
/// number of rows, applied to the depth counter only if the transaction commits.
struct JobContext<'a> {
    conn: &'a Connection,
    depth_delta: i64,
    /// Row ids claimed by attempts in this process.
    claimed: &'a mut std::collections::HashSet<i64>,
}

type Finisher = Box<dyn FnOnce(Result<(), String>) + Send>;
/// `None`: the transaction could not begin, so the job must not run; its finisher reports why.
type RunJob = Box<dyn FnOnce(Option<&mut JobContext<'_>>) -> Finisher + Send>;

/// Whether a job's effect must survive power loss before its caller hears back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Enqueues and retry state: the commit fsyncs (`synchronous=FULL`).
    Fsync,
    /// Claims, releases and removals: losing one to a power cut only means a delivery is
    /// attempted again (at least once), so a batch made only of these commits without an fsync
    /// (`synchronous=NORMAL`; the next fsync'd commit or checkpoint makes it durable). This
    /// takes the fsync off the delivery hot path.
    Lazy,
    /// Like `Lazy`, and nobody waits on it (the attempt has already given back its slot): a
    /// batch made only of these waits a moment for more, so one commit covers many removals —
    /// each commit rewrites the touched pages, and that, not the statements, is the cost.
    Removal,
}

/// How long a batch of removals waits for company.
const REMOVAL_LINGER: std::time::Duration = std::time::Duration::from_millis(2);

struct Job {
    durability: Durability,
    run: RunJob,
}

/// Deliveries just committed, each with its row id (`None`: a duplicate, not stored).
pub(crate) type HandedOver = Vec<(WebhookDelivery, Option<i64>)>;

/// A handle to the outbox. Cheap to clone; the writer thread stops when the last handle is
/// dropped, releasing the database.
#[derive(Clone)]
pub struct Outbox {
    jobs: mpsc::Sender<Job>,
    depth: Arc<AtomicI64>,
    path: Arc<PathBuf>,
}

/// A delivery taken from the outbox for an attempt (or for dead-lettering).
#[derive(Debug, Clone)]
pub(crate) struct ClaimedDelivery {
    pub seq: i64,
    pub delivery: WebhookDelivery,
    pub attempt_count: u32,
    pub attempts: Vec<AttemptRecord>,
    /// Set when the delivery was already judged dead but its record is not yet durable.
    pub dead: Option<(DeadLetterReason, String)>,
}

pub(crate) struct Claim {
    pub rows: Vec<ClaimedDelivery>,
    /// When the earliest unclaimed row of the endpoint becomes due, if there is one.
    pub next_due_ms: Option<i64>,
}

/// One row of the outbox as an operator sees it (no body, no headers).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub delivery_id: String,
    pub event_id: String,
    pub endpoint: String,
    pub attempt_count: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: Vec<AttemptRecord>,
    pub dead_reason: Option<DeadLetterReason>,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir` (file `outbox.sqlite3`). One gateway instance owns
    /// one directory: the database is opened in exclusive locking mode, so a second process
    /// opening the same directory fails instead of delivering the same rows twice.
    pub fn open(dir: impl AsRef<Path>) -> Result<Outbox, OutboxError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| OutboxError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("outbox.sqlite3");
        let conn = open_connection(&path).map_err(|e| locked_error(e, &path))?;
        let rows: i64 = conn.query_row("SELECT count(*) FROM deliveries", [], |r| r.get(0))?;
        let depth = Arc::new(AtomicI64::new(rows));

        let (jobs, receiver) = mpsc::channel::<Job>(JOB_QUEUE);
        let thread_depth = Arc::clone(&depth);
        std::thread::Builder::new()
            .name("webhook-outbox".into())
            .spawn(move || writer_thread(conn, receiver, thread_depth))
            .map_err(|e| {
                OutboxError::Commit(format!("cannot start the outbox writer thread: {e}"))
            })?;
        Ok(Outbox {
            jobs,
            depth,
            path: Arc::new(path),
        })
    }
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows in the outbox (pending, retrying or awaiting their dead-letter write), as of the last
    /// commit. Reads a counter; no query.
    pub fn depth(&self) -> i64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Writes one delivery durably. Returns after the fsync. A delivery whose `delivery_id` is
    /// already in the outbox is not stored twice. Prefer [`Dispatcher::enqueue`](crate::Dispatcher::enqueue),
    /// which also wakes the endpoint's worker.
    pub async fn enqueue(&self, delivery: WebhookDelivery) -> Result<bool, OutboxError> {
        Ok(self.enqueue_batch(vec![delivery]).await? == 1)
    }

    /// Writes several deliveries in one transaction; returns how many were new.
    pub async fn enqueue_batch(
        &self,
        deliveries: Vec<WebhookDelivery>,
    ) -> Result<usize, OutboxError> {
        let claims = vec![false; deliveries.len()];
        self.enqueue_with_handoff(deliveries, claims, |_| {}).await
    }

    /// Writes deliveries durably; those with `claim[i]` set are stored as already claimed and,
    /// once committed, passed to `handoff` with their row id (`None` for a duplicate that was not
    /// stored), so a worker can attempt them without reading them back. `handoff` runs on the
    /// writer thread right after the commit — also when the caller's future was dropped in the
    /// meantime, so a claimed row is never left without an owner — and gets `None` if the commit
    /// failed.
    pub(crate) async fn enqueue_with_handoff<H>(
        &self,
        deliveries: Vec<WebhookDelivery>,
        claim: Vec<bool>,
        handoff: H,
    ) -> Result<usize, OutboxError>
    where
        H: FnOnce(Option<HandedOver>) + Send + 'static,
    {
        let now = now_ms();
        let mut handoff = Some(handoff);
        let (inserted, _) = self
            .call_with(
                Durability::Fsync,
                move |ctx| {
                    let mut stmt = ctx.conn.prepare_cached(
                        "INSERT OR IGNORE INTO deliveries
                         (delivery_id, event_id, endpoint, body, headers, original_event, correlation_id,
                          enqueued_at, next_attempt_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    )?;
                    let mut inserted = 0;
                    let mut rows = Vec::with_capacity(deliveries.len());
                    for (d, claimed) in deliveries.into_iter().zip(claim) {
                        let n = stmt.execute(params![
                            d.delivery_id,
                            d.event_id,
                            d.endpoint,
                            d.body,
                            serde_json::to_string(&d.headers)?,
                            serde_json::to_string(&d.original_event)?,
                            d.correlation_id,
                            now,
                        ])?;
                        inserted += n;
                        let seq = (n == 1).then(|| ctx.conn.last_insert_rowid());
                        if let (Some(seq), true) = (seq, claimed) {
                            ctx.claimed.insert(seq);
                        }
                        rows.push((d, seq));
                    }
                    ctx.depth_delta += inserted as i64;
                    Ok((inserted, rows))
                },
                move |committed: Option<&mut (usize, HandedOver)>| {
                    if let Some(handoff) = handoff.take() {
                        handoff(committed.map(|(_, rows)| std::mem::take(rows)));
                    }
                },
            )
            .await?;
        Ok(inserted)
    }

    /// Every row, oldest first, up to `limit` (for operators and tests; bodies are left out).
    pub async fn pending(&self, limit: usize) -> Result<Vec<PendingDelivery>, OutboxError> {
        self.call(Durability::Lazy, move |ctx| {
            let mut stmt = ctx.conn.prepare_cached(
                "SELECT delivery_id, event_id, endpoint, attempt_count, next_attempt_at, attempts, dead_reason
                 FROM deliveries ORDER BY seq LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (delivery_id, event_id, endpoint, attempt_count, next, attempts, dead) = row?;
                out.push(PendingDelivery {
                    delivery_id,
                    event_id,
                    endpoint,
                    attempt_count: attempt_count as u32,
                    next_attempt_at: ms_to_datetime(next),
                    attempts: serde_json::from_str(&attempts)?,
                    dead_reason: dead.as_deref().and_then(parse_reason),
                });
            }
            Ok(out)
        })
        .await
    }

    /// Endpoint keys that have rows, so the gateway can warn about rows whose endpoint is no
    /// longer configured (they wait, untouched, until an endpoint with that key is registered).
    pub async fn endpoints_with_rows(&self) -> Result<Vec<String>, OutboxError> {
        self.call(Durability::Lazy, |ctx| {
            let mut stmt = ctx
                .conn
                .prepare_cached("SELECT DISTINCT endpoint FROM deliveries")?;
            let keys = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(keys)
        })
        .await
    }

    /// Endpoints disabled by a 410, persisted so a restart does not start delivering again.
    pub async fn disabled_endpoints(&self) -> Result<Vec<String>, OutboxError> {
        self.call(Durability::Lazy, |ctx| {
            let mut stmt = ctx
                .conn
                .prepare_cached("SELECT endpoint FROM disabled_endpoints")?;
            let keys = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(keys)
        })
        .await
    }

    pub(crate) async fn set_disabled(
        &self,
        endpoint: String,
        reason: String,
    ) -> Result<(), OutboxError> {
        let now = now_ms();
        self.call(Durability::Fsync, move |ctx| {
            ctx.conn.prepare_cached("INSERT OR REPLACE INTO disabled_endpoints (endpoint, disabled_at, reason) VALUES (?1, ?2, ?3)")?.execute(params![endpoint, now, reason],)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn clear_disabled(&self, endpoint: String) -> Result<bool, OutboxError> {
        self.call(Durability::Fsync, move |ctx| {
            Ok(ctx
                .conn
                .prepare_cached("DELETE FROM disabled_endpoints WHERE endpoint = ?1")?
                .execute(params![endpoint])?
                > 0)
        })
        .await
    }

    /// Claims up to `limit` rows of `endpoint` that are due at `now_ms`.
    pub(crate) async fn claim_due(
        &self,
        endpoint: String,
        now_ms: i64,
        limit: usize,
    ) -> Result<Claim, OutboxError> {
        self.call(Durability::Lazy, move |ctx| {
            // Walk the endpoint's rows in due order (index only), skipping claimed ones: they
            // are at most the attempts in flight plus the hand-off queues, so the walk is short.
            let mut chosen = Vec::new();
            let mut next_due_ms = None;
            {
                let mut walk = ctx.conn.prepare_cached(
                    "SELECT seq, next_attempt_at FROM deliveries WHERE endpoint = ?1 ORDER BY next_attempt_at, seq",
                )?;
                let mut query = walk.query(params![endpoint])?;
                while let Some(r) = query.next()? {
                    let seq: i64 = r.get(0)?;
                    if ctx.claimed.contains(&seq) {
                        continue;
                    }
                    let due: i64 = r.get(1)?;
                    if due <= now_ms && chosen.len() < limit {
                        chosen.push(seq);
                    } else {
                        next_due_ms = Some(due);
                        break;
                    }
                }
            }
            let mut rows = Vec::with_capacity(chosen.len());
            let mut read = ctx.conn.prepare_cached(
                "SELECT delivery_id, event_id, body, headers, original_event, correlation_id,
                        attempt_count, attempts, dead_reason, dead_message
                 FROM deliveries WHERE seq = ?1",
            )?;
            for seq in chosen {
                let row = read.query_row(params![seq], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                    ))
                })?;
                let (delivery_id, event_id, body, headers, original, correlation_id, count, attempts, dead_reason, dead_message) = row;
                ctx.claimed.insert(seq);
                rows.push(ClaimedDelivery {
                    seq,
                    delivery: WebhookDelivery {
                        delivery_id,
                        event_id,
                        endpoint: endpoint.clone(),
                        body,
                        headers: serde_json::from_str(&headers)?,
                        original_event: serde_json::from_str(&original)?,
                        correlation_id,
                    },
                    attempt_count: count as u32,
                    attempts: serde_json::from_str(&attempts)?,
                    dead: dead_reason
                        .as_deref()
                        .and_then(parse_reason)
                        .map(|reason| (reason, dead_message.unwrap_or_default())),
                });
            }
            Ok(Claim { rows, next_due_ms })
        })
        .await
    }

    /// Persists a failed attempt and when to try again; releases the claim.
    pub(crate) async fn schedule_retry(
        &self,
        seq: i64,
        attempts: &[AttemptRecord],
        next_attempt_ms: i64,
    ) -> Result<(), OutboxError> {
        let json = serde_json::to_string(attempts)?;
        let count = attempts.len() as i64;
        self.call(Durability::Fsync, move |ctx| {
            ctx.conn.prepare_cached("UPDATE deliveries SET attempt_count = ?2, attempts = ?3, next_attempt_at = ?4 WHERE seq = ?1")?.execute(params![seq, count, json, next_attempt_ms],)?;
            ctx.claimed.remove(&seq);
            Ok(())
        })
        .await
    }

    /// Persists that the delivery is dead but its record is not yet durable; the dead-lettering
    /// is retried at `next_attempt_ms`.
    pub(crate) async fn schedule_dead_letter(
        &self,
        seq: i64,
        attempts: &[AttemptRecord],
        reason: DeadLetterReason,
        message: String,
        next_attempt_ms: i64,
    ) -> Result<(), OutboxError> {
        let json = serde_json::to_string(attempts)?;
        let count = attempts.len() as i64;
        self.call(Durability::Fsync, move |ctx| {
            ctx.conn
                .prepare_cached(
                    "UPDATE deliveries SET attempt_count = ?2, attempts = ?3, next_attempt_at = ?4,
                        dead_reason = ?5, dead_message = ?6 WHERE seq = ?1",
                )?
                .execute(params![
                    seq,
                    count,
                    json,
                    next_attempt_ms,
                    reason.as_str(),
                    message
                ])?;
            ctx.claimed.remove(&seq);
            Ok(())
        })
        .await
    }

    /// Releases a claim without recording anything (shutdown caught the attempt before it began).
    pub(crate) async fn release(&self, seq: i64) -> Result<(), OutboxError> {
        self.call(Durability::Lazy, move |ctx| {
            ctx.claimed.remove(&seq);
            Ok(())
        })
        .await
    }

    /// Removes a delivered (or durably dead-lettered) row.
    pub(crate) async fn remove(&self, seq: i64) -> Result<(), OutboxError> {
        self.call(Durability::Removal, move |ctx| {
            ctx.depth_delta -= ctx
                .conn
                .prepare_cached("DELETE FROM deliveries WHERE seq = ?1")?
                .execute(params![seq])? as i64;
            ctx.claimed.remove(&seq);
            Ok(())
        })
        .await
    }

    /// Runs `f` on the writer thread inside its current transaction and waits for the commit.
    async fn call<T, F>(&self, durability: Durability, f: F) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut JobContext<'_>) -> Result<T, OutboxError> + Send + 'static,
    {
        self.call_with(durability, f, |_: Option<&mut T>| {}).await
    }

    /// Like `call`, and runs `on_commit` on the writer thread once the transaction's fate is
    /// known: with the result if it committed, `None` otherwise.
    async fn call_with<T, F, C>(
        &self,
        durability: Durability,
        f: F,
        on_commit: C,
    ) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut JobContext<'_>) -> Result<T, OutboxError> + Send + 'static,
        C: FnOnce(Option<&mut T>) + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run: RunJob = Box::new(move |ctx| {
            let result = ctx.map(f);
            Box::new(move |commit: Result<(), String>| {
                let mut result = result;
                match (&mut result, &commit) {
                    (Some(Ok(value)), Ok(())) => on_commit(Some(value)),
                    _ => on_commit(None),
                }
                let outcome = match (result, commit) {
                    (Some(Err(e)), _) => Err(e),
                    (_, Err(message)) => Err(OutboxError::Commit(message)),
                    (Some(Ok(value)), Ok(())) => Ok(value),
                    (None, Ok(())) => Err(OutboxError::Commit("the job did not run".into())),
                };
                // The caller may have been cancelled and dropped its receiver: nothing to tell.
                let _ = reply.send(outcome);
            })
        });
        self.jobs
            .send(Job { durability, run })
            .await
            .map_err(|_| OutboxError::Closed)?;
        answer.await.map_err(|_| OutboxError::Closed)?
    }
}

/// Group commit: take every queued job (up to a cap), run them in one transaction, fsync once,
/// then answer them all.
fn writer_thread(conn: Connection, mut jobs: mpsc::Receiver<Job>, depth: Arc<AtomicI64>) {
    // open_connection left it at FULL.
    let mut mode = Durability::Fsync;
    let mut claimed = std::collections::HashSet::new();
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        drain_into(&mut jobs, &mut batch);
        if batch.len() < MAX_JOBS_PER_COMMIT
            && batch.iter().all(|j| j.durability == Durability::Removal)
        {
            std::thread::sleep(REMOVAL_LINGER);
            drain_into(&mut jobs, &mut batch);
        }
        let wanted = if batch.iter().any(|j| j.durability == Durability::Fsync) {
            Durability::Fsync
        } else {
            Durability::Lazy
        };
        let begin = set_synchronous(&conn, &mut mode, wanted).and_then(|()| {
            conn.prepare_cached("BEGIN IMMEDIATE")
                .and_then(|mut s| s.execute([]))
                .map(|_| ())
        });
        if let Err(e) = begin {
            let message = e.to_string();
            tracing::error!(error = %message, "outbox transaction could not begin");
            for job in batch {
                (job.run)(None)(Err(message.clone()));
            }
            continue;
        }
        let mut ctx = JobContext {
            conn: &conn,
            depth_delta: 0,
            claimed: &mut claimed,
        };
        let mut finishers = Vec::with_capacity(batch.len());
        for job in batch {
            finishers.push((job.run)(Some(&mut ctx)));
        }
        let delta = ctx.depth_delta;
        let commit = conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(|e| e.to_string());
        match &commit {
            Ok(()) => {
                depth.fetch_add(delta, Ordering::Relaxed);
            }
            Err(message) => {
                tracing::error!(error = %message, "outbox commit failed; rolling back");
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        for finish in finishers {
            finish(commit.clone());
        }
    }
}

/// Moves queued jobs into the batch, up to the cap, without waiting.
fn drain_into(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_JOBS_PER_COMMIT {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Switches `synchronous` between FULL and NORMAL (outside a transaction) when the batch needs
/// the other one.
fn set_synchronous(
    conn: &Connection,
    mode: &mut Durability,
    wanted: Durability,
) -> Result<(), rusqlite::Error> {
    if *mode != wanted {
        let value = if wanted == Durability::Fsync {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.pragma_update(None, "synchronous", value)?;
        *mode = wanted;
    }
    Ok(())
}

/// Opens the database, takes the exclusive lock, creates the schema and releases stale claims.
fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    // A restarting instance may briefly overlap its predecessor's shutdown: wait for its lock.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: in WAL mode, NORMAL may lose the last commits on power loss; enqueue promises
    // durability, so every commit fsyncs the WAL.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoint every ~40 MB of WAL rather than 4 MB: the hot pages (the newest leaves of the
    // table and its indexes) are rewritten by every commit, and a longer interval copies each of
    // them into the database once instead of ten times.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(SCHEMA)?;
    // Claims are in-process state; the previous owner is gone (we hold the exclusive lock).
    // Rows written by the first schema may still say claimed = 1; claims now live in memory.
    conn.execute("UPDATE deliveries SET claimed = 0 WHERE claimed != 0", [])?;
    Ok(conn)
}

fn locked_error(e: rusqlite::Error, path: &Path) -> OutboxError {
    if let rusqlite::Error::SqliteFailure(err, _) = &e {
        if err.code == rusqlite::ErrorCode::DatabaseBusy {
            return OutboxError::Commit(format!(
                "{} is in use by another gateway instance; give each instance its own outbox directory",
                path.display()
            ));
        }
    }
    OutboxError::Sqlite(e)
}

fn parse_reason(s: &str) -> Option<DeadLetterReason> {
    [
        DeadLetterReason::RetriesExhausted,
        DeadLetterReason::Rejected,
        DeadLetterReason::EndpointGone,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn ms_to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

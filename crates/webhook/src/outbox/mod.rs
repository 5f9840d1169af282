//! The durable outbox: a segmented append-only log on local disk with an in-memory index
//! ([`log`]), owned by one writer thread that commits in groups.
//!
//! Group commit: every call is a job sent over a bounded channel to the writer thread, which runs
//! all queued jobs against the index, writes the records they appended in one write, fsyncs once
//! if any job needs it, then answers each caller. `enqueue` therefore returns only when the
//! delivery is on disk, and many concurrent enqueues share one fsync. Batches holding only
//! claims and removals are written without an fsync (see `Durability`).
//!
//! Why a log and not SQLite (the first version): each SQLite commit rewrote the B-tree pages it
//! touched (table and two indexes, ~1 KiB rows), so a delivery cost an insert and a delete of
//! page writes plus checkpoints — 12,000–23,000 durable enqueues/s on the development machine and
//! half of the dispatcher's CPU. The log writes each delivery once, sequentially; the queue
//! structure (due order per endpoint, idempotency by delivery id, claims) lives in memory and is
//! rebuilt from the log at open. The cost is memory: about 260 bytes of index per delivery in the
//! outbox (ids and bodies stay on disk). See `log.rs` for compaction and crash recovery.
//!
//! Claims — rows an attempt is working on — are a set held by the writer thread. It is empty on
//! open: the directory lock guarantees no other process holds claims.
//!
//! An outbox written by the SQLite version (`outbox.sqlite3`) is imported at open (`import.rs`).

mod codec;
mod import;
mod log;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{mpsc, oneshot};

use self::codec::RetryState;
use self::log::{Log, SEGMENT_BYTES};
use crate::delivery::WebhookDelivery;
use crate::dlq::{AttemptRecord, DeadLetterReason};
use crate::error::OutboxError;

/// Jobs waiting for the writer thread. Bounded: callers wait (back-pressure) rather than queue
/// without limit.
const JOB_QUEUE: usize = 4096;
/// At most this many jobs share one commit, so no caller waits behind an unbounded batch.
const MAX_JOBS_PER_COMMIT: usize = 1024;
/// How long `open` waits for another instance to release the directory before giving up (a
/// restarting instance may briefly overlap its predecessor's shutdown).
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// Endpoints disabled by a 410, rewritten atomically on change.
const DISABLED_FILE: &str = "disabled.json";
const LOCK_FILE: &str = "lock";

/// What a job sees: the log, the claims and the disabled endpoints.
struct JobContext<'a> {
    log: &'a mut Log,
    /// Refuse enqueues that would take the outbox past this many deliveries.
    max_deliveries: usize,
    /// Row ids claimed by attempts in this process.
    claimed: &'a mut HashSet<u64>,
    disabled: &'a mut Disabled,
}

type Finisher = Box<dyn FnOnce(Result<(), String>) + Send>;
/// `None`: the log is not usable (an earlier write failed and reopening it failed too), so the
/// job must not run; its finisher reports why.
type RunJob = Box<dyn FnOnce(Option<&mut JobContext<'_>>) -> Finisher + Send>;

/// Whether a job's effect must survive power loss before its caller hears back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Enqueues and retry state: the commit fsyncs.
    Fsync,
    /// Claims, releases and removals: losing one to a power cut only means a delivery is
    /// attempted again (at least once), so a batch made only of these is written without an
    /// fsync (the next fsync'd commit makes it durable). This takes the fsync off the delivery
    /// hot path.
    Lazy,
    /// Like `Lazy`, and nobody waits on it (the attempt has already given back its slot): a
    /// batch made only of these waits a moment for more, so one write covers many removals.
    Removal,
}

/// How long a batch of removals waits for company.
const REMOVAL_LINGER: Duration = Duration::from_millis(2);

struct Job {
    durability: Durability,
    run: RunJob,
}

/// Deliveries just committed, each with its row id (`None`: a duplicate, not stored).
pub(crate) type HandedOver = Vec<(WebhookDelivery, Option<u64>)>;

/// A handle to the outbox. Cheap to clone; the writer thread stops when the last handle is
/// dropped, releasing the directory.
#[derive(Clone)]
pub struct Outbox {
    jobs: mpsc::Sender<Job>,
    depth: Arc<AtomicI64>,
    path: Arc<PathBuf>,
    /// Rows to remove, applied by the writer thread at its next batch (see `remove`).
    removals: Arc<std::sync::Mutex<Vec<u64>>>,
    max_deliveries: usize,
    /// Bumped each time the writer thread rebuilt its index from disk after a failed write.
    generation: Arc<AtomicU64>,
}

/// A delivery taken from the outbox for an attempt (or for dead-lettering).
#[derive(Debug, Clone)]
pub(crate) struct ClaimedDelivery {
    pub seq: u64,
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

/// How an outbox is opened.
#[derive(Debug, Clone)]
pub struct OutboxOptions {
    /// Once the outbox holds this many deliveries, enqueues fail with [`OutboxError::Full`] (back-pressure: the gateway does not acknowledge the source and
    /// retries), so a partner that is down for long bounds the index's memory (about 260 bytes a
    /// delivery) instead of growing it without limit. Retries and rows already held are not
    /// affected. Default 1,000,000.
    pub max_deliveries: usize,
    /// A segment file is closed and a new one started at this size. Default 64 MiB.
    pub segment_bytes: u64,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        OutboxOptions {
            max_deliveries: 1_000_000,
            segment_bytes: SEGMENT_BYTES,
        }
    }
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
    /// Opens (or creates) the outbox in `dir` with the default [`OutboxOptions`]. One gateway
    /// instance owns one directory: `open` takes an exclusive lock on `dir/lock` (waiting up to
    /// 5 s), so a second process opening the same directory fails instead of delivering the same
    /// rows twice.
    pub fn open(dir: impl AsRef<Path>) -> Result<Outbox, OutboxError> {
        Outbox::open_with(dir, OutboxOptions::default())
    }

    /// `open` with explicit options.
    pub fn open_with(dir: impl AsRef<Path>, options: OutboxOptions) -> Result<Outbox, OutboxError> {
        let OutboxOptions {
            max_deliveries,
            segment_bytes,
        } = options;
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| OutboxError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let lock = lock_dir(dir)?;
        let io = |what: &str, e: std::io::Error| {
            OutboxError::Commit(format!("{what} in {}: {e}", dir.display()))
        };
        let (mut log, report) =
            Log::open(dir, segment_bytes).map_err(|e| io("cannot open the outbox log", e))?;
        if let Some(at) = &report.torn_tail {
            tracing::warn!(%at, "outbox: dropped a record cut short by a crash (its commit was never acknowledged)");
        }
        for at in &report.corrupt {
            tracing::error!(%at, "outbox: a segment is corrupt; the rest of it was skipped");
        }
        let mut disabled =
            Disabled::load(dir).map_err(|e| io("cannot read the disabled endpoints", e))?;
        import::import_sqlite(dir, &mut log, &mut disabled)?;
        let depth = Arc::new(AtomicI64::new(log.len() as i64));

        let (jobs, receiver) = mpsc::channel::<Job>(JOB_QUEUE);
        let thread_depth = Arc::clone(&depth);
        let removals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let thread_removals = Arc::clone(&removals);
        let generation = Arc::new(AtomicU64::new(0));
        let thread_generation = Arc::clone(&generation);
        let thread_dir = dir.to_owned();
        std::thread::Builder::new()
            .name("webhook-outbox".into())
            .spawn(move || {
                writer_thread(
                    Writer {
                        dir: thread_dir,
                        segment_bytes,
                        max_deliveries,
                        log: Some(log),
                        claimed: HashSet::new(),
                        disabled,
                        removals: thread_removals,
                        generation: thread_generation,
                        _lock: lock,
                    },
                    receiver,
                    thread_depth,
                )
            })
            .map_err(|e| {
                OutboxError::Commit(format!("cannot start the outbox writer thread: {e}"))
            })?;
        Ok(Outbox {
            jobs,
            depth,
            path: Arc::new(dir.to_owned()),
            removals,
            max_deliveries,
            generation,
        })
    }

    /// The outbox directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes each time the outbox rebuilt its index from disk after a failed write. Every claim
    /// was dropped then, and rows whose removal or retry state was lost are due again: a worker
    /// that sees a new generation looks at the outbox at once.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The most deliveries the outbox takes ([`OutboxOptions::max_deliveries`]).
    pub fn limit(&self) -> usize {
        self.max_deliveries
    }

    /// Rows in the outbox (pending, retrying or awaiting their dead-letter write), as of the last
    /// commit. Reads a counter.
    pub fn depth(&self) -> i64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Writes one delivery durably. Returns after the fsync. A delivery whose `delivery_id` is
    /// already in the outbox is not stored twice. Prefer [`Dispatcher::enqueue`](crate::Dispatcher::enqueue),
    /// which also wakes the endpoint's worker.
    pub async fn enqueue(&self, delivery: WebhookDelivery) -> Result<bool, OutboxError> {
        Ok(self.enqueue_batch(vec![delivery]).await? == 1)
    }

    /// Writes several deliveries in one commit; returns how many were new.
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
                    // Whole batches only: a caller retries the batch. A batch is refused only
                    // when the outbox is at its limit already, so the limit may be passed by one
                    // batch, and no batch is too large to ever get in.
                    let held = ctx.log.len();
                    if held >= ctx.max_deliveries {
                        return Err(OutboxError::Full {
                            held,
                            limit: ctx.max_deliveries,
                        });
                    }
                    let mut inserted = 0;
                    let mut rows = Vec::with_capacity(deliveries.len());
                    for (d, claimed) in deliveries.into_iter().zip(claim) {
                        let seq = match ctx.log.insert(&d, now) {
                            Ok(seq) => seq,
                            Err(error) => {
                                // Nothing of a failed batch stays (the caller retries it whole),
                                // and nothing stays claimed.
                                for (_, seq) in &rows {
                                    if let Some(seq) = seq {
                                        ctx.claimed.remove(seq);
                                        ctx.log.remove(*seq)?;
                                    }
                                }
                                return Err(error.into());
                            }
                        };
                        if let Some(seq) = seq {
                            inserted += 1;
                            if claimed {
                                ctx.claimed.insert(seq);
                            }
                        }
                        rows.push((d, seq));
                    }
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
            let seqs: Vec<u64> = ctx.log.entries().take(limit).map(|(seq, _)| seq).collect();
            // The ids are on disk, not in the index.
            let read = ctx.log.read_many(&seqs);
            let mut out = Vec::with_capacity(seqs.len());
            for (seq, delivery) in seqs.into_iter().zip(read) {
                let e = ctx.log.entry(seq).expect("a delivery just listed");
                let (delivery_id, event_id) = match delivery {
                    Ok(d) => (d.delivery_id, d.event_id),
                    Err(error) => (format!("<unreadable: {error}>"), String::new()),
                };
                out.push(PendingDelivery {
                    delivery_id,
                    event_id,
                    endpoint: e.endpoint.to_string(),
                    attempt_count: e.attempt_count,
                    next_attempt_at: ms_to_datetime(e.next_attempt_at),
                    attempts: e.attempts().to_vec(),
                    dead_reason: e.dead_reason(),
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
            Ok(ctx.log.endpoints().map(str::to_owned).collect())
        })
        .await
    }

    /// Endpoints disabled by a 410, persisted so a restart does not start delivering again.
    pub async fn disabled_endpoints(&self) -> Result<Vec<String>, OutboxError> {
        self.call(Durability::Lazy, |ctx| {
            Ok(ctx.disabled.endpoints.keys().cloned().collect())
        })
        .await
    }

    pub(crate) async fn set_disabled(
        &self,
        endpoint: String,
        reason: String,
    ) -> Result<(), OutboxError> {
        let now = now_ms();
        self.call(Durability::Lazy, move |ctx| {
            ctx.disabled.change(|e| {
                e.insert(endpoint, (now, reason));
            })
        })
        .await
    }

    pub(crate) async fn clear_disabled(&self, endpoint: String) -> Result<bool, OutboxError> {
        self.call(Durability::Lazy, move |ctx| {
            if !ctx.disabled.endpoints.contains_key(&endpoint) {
                return Ok(false);
            }
            ctx.disabled.change(|e| {
                e.remove(&endpoint);
            })?;
            Ok(true)
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
            // Walk the endpoint's rows in due order, skipping claimed ones: they are at most the
            // attempts in flight plus the hand-off queues, so the walk is short.
            let mut chosen = Vec::new();
            let mut next_due_ms = None;
            for (due, seq) in ctx.log.due(&endpoint) {
                if ctx.claimed.contains(&seq) {
                    continue;
                }
                if due <= now_ms && chosen.len() < limit {
                    chosen.push(seq);
                } else {
                    next_due_ms = Some(due);
                    break;
                }
            }
            let mut rows = Vec::with_capacity(chosen.len());
            let read = ctx.log.read_many(&chosen);
            for (seq, delivery) in chosen.into_iter().zip(read) {
                let delivery = match delivery {
                    Ok(delivery) => delivery,
                    Err(error) => {
                        // Left in the outbox and skipped until the next open (which reads the
                        // segment again), so one unreadable record does not stop the endpoint.
                        tracing::error!(seq, endpoint_key = %endpoint, %error,
                            "cannot read a webhook delivery back from the outbox; skipping it until the next restart");
                        ctx.claimed.insert(seq);
                        continue;
                    }
                };
                let state = ctx.log.entry(seq).expect("a delivery just walked").state();
                rows.push(ClaimedDelivery {
                    seq,
                    delivery,
                    attempt_count: state.attempt_count,
                    attempts: state.attempts,
                    dead: state.dead,
                });
            }
            for row in &rows {
                ctx.claimed.insert(row.seq);
            }
            Ok(Claim { rows, next_due_ms })
        })
        .await
    }

    /// Persists a failed attempt and when to try again; releases the claim.
    pub(crate) async fn schedule_retry(
        &self,
        seq: u64,
        attempts: &[AttemptRecord],
        next_attempt_ms: i64,
    ) -> Result<(), OutboxError> {
        self.restate(seq, attempts, None, next_attempt_ms).await
    }

    /// Persists that the delivery is dead but its record is not yet durable; the dead-lettering
    /// is retried at `next_attempt_ms`.
    pub(crate) async fn schedule_dead_letter(
        &self,
        seq: u64,
        attempts: &[AttemptRecord],
        reason: DeadLetterReason,
        message: String,
        next_attempt_ms: i64,
    ) -> Result<(), OutboxError> {
        self.restate(seq, attempts, Some((reason, message)), next_attempt_ms)
            .await
    }

    async fn restate(
        &self,
        seq: u64,
        attempts: &[AttemptRecord],
        dead: Option<(DeadLetterReason, String)>,
        next_attempt_ms: i64,
    ) -> Result<(), OutboxError> {
        let state = RetryState {
            attempt_count: attempts.len() as u32,
            next_attempt_at: next_attempt_ms,
            attempts: attempts.to_vec(),
            dead,
        };
        self.call(Durability::Fsync, move |ctx| {
            ctx.log.set_state(seq, state)?;
            ctx.claimed.remove(&seq);
            Ok(())
        })
        .await
    }

    /// Releases a claim without recording anything (shutdown caught the attempt before it began).
    pub(crate) async fn release(&self, seq: u64) -> Result<(), OutboxError> {
        self.call(Durability::Lazy, move |ctx| {
            ctx.claimed.remove(&seq);
            Ok(())
        })
        .await
    }

    /// Removes a delivered (or durably dead-lettered) row, without waiting. Nobody waits on a
    /// removal (the row stays claimed until it is applied, so no worker takes it again), so
    /// removals are not jobs: they collect in a list that the writer thread applies at its next
    /// batch, and only the first of a list sends a job to wake it. Written without an fsync; a
    /// failed write is logged by the writer thread (the row is then attempted again after a
    /// restart: at least once).
    pub(crate) fn remove(&self, seq: u64) {
        let first = {
            let mut removals = self.removals.lock().unwrap_or_else(|p| p.into_inner());
            removals.push(seq);
            removals.len() == 1
        };
        if first {
            let wake: RunJob = Box::new(|_| Box::new(|_| {}));
            // A full queue means the writer thread has a batch coming, which applies the list;
            // a closed one means the outbox is gone.
            let _ = self.jobs.try_send(Job {
                durability: Durability::Removal,
                run: wake,
            });
        }
    }

    /// Applies the removals not yet applied and fsyncs everything written so far (at shutdown,
    /// so a clean restart attempts nothing that was delivered).
    pub async fn flush(&self) -> Result<(), OutboxError> {
        self.call(Durability::Fsync, |_| Ok(())).await
    }

    /// Runs `f` on the writer thread and waits for the commit.
    async fn call<T, F>(&self, durability: Durability, f: F) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut JobContext<'_>) -> Result<T, OutboxError> + Send + 'static,
    {
        self.call_with(durability, f, |_: Option<&mut T>| {}).await
    }

    /// Like `call`, and runs `on_commit` on the writer thread once the commit's fate is known:
    /// with the result if it committed, `None` otherwise.
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

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    segment_bytes: u64,
    max_deliveries: usize,
    /// `None` after a failed write whose reopen failed too; reopened at the next batch.
    log: Option<Log>,
    claimed: HashSet<u64>,
    disabled: Disabled,
    removals: Arc<std::sync::Mutex<Vec<u64>>>,
    generation: Arc<AtomicU64>,
    _lock: File,
}

impl Writer {
    /// After a failed write the index may be ahead of the disk: rebuild it from the disk.
    ///
    /// Every claim is dropped. Claims made by the failed batch have no owner (their callers got
    /// an error), and releases that could not run while the log was unusable never happened, so
    /// which claims still have an owner is not known. An attempt still running may therefore see
    /// its row claimed and attempted once more (at least once; the partner deduplicates by
    /// `webhook-id`) — the price of never leaving a row claimed by nobody. The generation bump
    /// tells the workers to look at the outbox again.
    fn reopen(&mut self) -> Result<(), String> {
        self.log = None;
        match Log::open(&self.dir, self.segment_bytes) {
            Ok((log, _)) => {
                self.claimed.clear();
                self.log = Some(log);
                self.generation.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => Err(format!("cannot reopen the outbox log: {e}")),
        }
    }
}

/// Group commit: take every queued job (up to a cap), run them, write and fsync once, then
/// answer them all.
fn writer_thread(mut writer: Writer, mut jobs: mpsc::Receiver<Job>, depth: Arc<AtomicI64>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        drain_into(&mut jobs, &mut batch);
        linger_for_removals(&mut jobs, &mut batch);
        let sync = batch.iter().any(|j| j.durability == Durability::Fsync);
        if writer.log.is_none() {
            if let Err(message) = writer.reopen() {
                tracing::error!(error = %message, "outbox unusable");
                for job in batch {
                    (job.run)(None)(Err(message.clone()));
                }
                continue;
            }
        }
        let Writer {
            log,
            claimed,
            disabled,
            removals,
            max_deliveries,
            ..
        } = &mut writer;
        let log = log.as_mut().expect("reopened above");
        let removed = std::mem::take(&mut *removals.lock().unwrap_or_else(|p| p.into_inner()));
        for seq in &removed {
            claimed.remove(seq);
            if let Err(error) = log.remove(*seq) {
                tracing::error!(%error, "cannot record a webhook delivery's removal; it is attempted again after a restart");
            }
        }
        let mut ctx = JobContext {
            log,
            max_deliveries: *max_deliveries,
            claimed,
            disabled,
        };
        let mut finishers = Vec::with_capacity(batch.len());
        for job in batch {
            finishers.push((job.run)(Some(&mut ctx)));
        }
        let commit = log.commit(sync).map_err(|e| e.to_string());
        if let Err(message) = &commit {
            if !removed.is_empty() {
                tracing::error!(rows = removed.len(), "delivered or dead-lettered webhook deliveries were not removed from the outbox; they are attempted again");
            }
            tracing::error!(error = %message, "outbox write failed; rebuilding the index from disk");
            if let Err(again) = writer.reopen() {
                tracing::error!(error = %again, "outbox unusable");
            }
        }
        if let Some(log) = &writer.log {
            depth.store(log.len() as i64, Ordering::Relaxed);
        }
        for finish in finishers {
            finish(commit.clone());
        }
    }
}

/// A batch made only of removals waits up to `REMOVAL_LINGER` for more of them, so one write
/// covers many; it stops waiting as soon as a job arrives that someone waits on.
fn linger_for_removals(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    let deadline = Instant::now() + REMOVAL_LINGER;
    while batch.len() < MAX_JOBS_PER_COMMIT
        && batch.iter().all(|j| j.durability == Durability::Removal)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_micros(100));
        drain_into(jobs, batch);
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

/// Takes the directory's exclusive lock, waiting up to `LOCK_WAIT` for a predecessor.
fn lock_dir(dir: &Path) -> Result<File, OutboxError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| OutboxError::Commit(format!("cannot open {}: {e}", path.display())))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OutboxError::Commit(format!(
                    "{} is in use by another gateway instance; give each instance its own outbox directory",
                    dir.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(OutboxError::Commit(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )))
            }
        }
    }
}

/// Endpoints a 410 disabled: `disabled.json`, replaced atomically (write, fsync, rename) on
/// every change.
struct Disabled {
    path: PathBuf,
    /// Endpoint key → (disabled at, ms since the epoch; reason).
    endpoints: BTreeMap<String, (i64, String)>,
}

impl Disabled {
    fn load(dir: &Path) -> std::io::Result<Disabled> {
        let path = dir.join(DISABLED_FILE);
        let endpoints = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Disabled { path, endpoints })
    }

    /// Applies `edit` and writes the file; memory changes only if the file was written.
    fn change(
        &mut self,
        edit: impl FnOnce(&mut BTreeMap<String, (i64, String)>),
    ) -> Result<(), OutboxError> {
        let mut endpoints = self.endpoints.clone();
        edit(&mut endpoints);
        let before = std::mem::replace(&mut self.endpoints, endpoints);
        if let Err(e) = self.save() {
            self.endpoints = before;
            return Err(OutboxError::Commit(format!("cannot write {DISABLED_FILE}: {e}")));
        }
        Ok(())
    }

    fn save(&self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.endpoints).map_err(std::io::Error::other)?;
        {
            let file = File::create(&tmp)?;
            std::io::Write::write_all(&mut &file, &bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn ms_to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a failed write the outbox rebuilds its index from disk: the failed batch's
    /// deliveries are not there (their callers got an error and retry), no claim survives, so no
    /// row is left claimed by nobody, and the generation tells the workers to look again.
    #[tokio::test]
    async fn a_failed_write_leaves_no_row_claimed_by_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let one = |i: usize| WebhookDelivery::new(format!("evt-{i}"), "partner", "{}", serde_json::Value::Null);
        outbox.enqueue_batch(vec![one(0), one(1)]).await.unwrap();
        let held = outbox.claim_due("partner".into(), now_ms() + 1, 1).await.unwrap();
        assert_eq!(held.rows.len(), 1);
        let generation = outbox.generation();

        outbox.call(Durability::Lazy, |ctx| { ctx.log.fail_next_write = true; Ok(()) }).await.unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let failed = outbox
            .enqueue_with_handoff(vec![one(2)], vec![true], move |rows| tx.send(rows.is_none()).unwrap())
            .await;
        assert!(failed.is_err(), "{failed:?}");
        assert!(rx.recv().unwrap(), "the hand-off heard that nothing was committed");
        assert_eq!(outbox.generation(), generation + 1);
        assert_eq!(outbox.depth(), 2, "the failed batch is not in the outbox");

        // The caller retries: stored now, and claimable like every other row.
        assert_eq!(outbox.enqueue_batch(vec![one(2)]).await.unwrap(), 1);
        let claim = outbox.claim_due("partner".into(), now_ms() + 1, 10).await.unwrap();
        let mut ids: Vec<String> = claim.rows.iter().map(|r| r.delivery.event_id.clone()).collect();
        ids.sort();
        assert_eq!(ids, ["evt-0", "evt-1", "evt-2"], "the claim held before the failure was dropped too");
    }

    /// A delivery too large to store fails its whole batch, and leaves nothing of it behind:
    /// neither stored rows (a retry would take them for duplicates) nor claims.
    #[tokio::test]
    async fn a_batch_with_a_delivery_too_large_to_store_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let small = WebhookDelivery::new("evt-0", "partner", "{}", serde_json::Value::Null);
        let huge = WebhookDelivery::new("evt-1", "partner", vec![b'x'; codec::MAX_PAYLOAD + 1], serde_json::Value::Null);
        let failed = outbox.enqueue_with_handoff(vec![small.clone(), huge], vec![true, true], |_| {}).await;
        assert!(failed.unwrap_err().to_string().contains("cannot be stored"));
        assert_eq!(outbox.depth(), 0);
        assert_eq!(outbox.enqueue_batch(vec![small]).await.unwrap(), 1, "not taken for a duplicate");
        let claim = outbox.claim_due("partner".into(), now_ms() + 1, 10).await.unwrap();
        assert_eq!(claim.rows.len(), 1, "and not left claimed");
    }

    /// At its limit the outbox refuses whole batches (back-pressure), and takes them again once
    /// deliveries have left.
    #[tokio::test]
    async fn a_full_outbox_refuses_a_batch_and_takes_it_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let options = OutboxOptions { max_deliveries: 3, ..OutboxOptions::default() };
        let outbox = Outbox::open_with(dir.path(), options).unwrap();
        let batch = |from: usize, n: usize| -> Vec<WebhookDelivery> {
            (from..from + n).map(|i| WebhookDelivery::new(format!("evt-{i}"), "partner", "{}", serde_json::Value::Null)).collect()
        };
        assert_eq!(outbox.enqueue_batch(batch(0, 2)).await.unwrap(), 2);
        // Below the limit a batch gets in whole, even one that passes it (so no batch is too
        // large to ever get in); at the limit the next one waits.
        assert_eq!(outbox.enqueue_batch(batch(2, 2)).await.unwrap(), 2);
        match outbox.enqueue_batch(batch(4, 1)).await {
            Err(OutboxError::Full { held: 4, limit: 3 }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(outbox.depth(), 4, "nothing of the refused batch was stored");
        let claim = outbox.claim_due("partner".into(), now_ms() + 1, 2).await.unwrap();
        for row in &claim.rows {
            outbox.remove(row.seq);
        }
        outbox.flush().await.unwrap();
        assert_eq!(outbox.enqueue_batch(batch(4, 1)).await.unwrap(), 1);
        assert_eq!(outbox.depth(), 3);
    }

    /// A record that fails its checksum when read back (a bad disk block under a running
    /// gateway) costs that delivery only: the others of the endpoint are still claimed.
    #[tokio::test]
    async fn an_unreadable_record_is_skipped_not_a_stuck_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let deliveries: Vec<WebhookDelivery> = (0..3)
            .map(|i| WebhookDelivery::new(format!("evt-{i}"), "partner", format!("body-{i}-{}", "x".repeat(100)), serde_json::Value::Null))
            .collect();
        assert_eq!(outbox.enqueue_batch(deliveries).await.unwrap(), 3);
        let segment = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "log"))
            .unwrap();
        let mut bytes = std::fs::read(&segment).unwrap();
        let at = bytes.windows(6).position(|w| w == b"body-1").unwrap();
        bytes[at] ^= 1;
        // Overwritten in place: the writer thread holds the file open.
        let file = File::options().write(true).open(&segment).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &bytes, 0).unwrap();

        let claim = outbox.claim_due("partner".into(), now_ms() + 1, 10).await.unwrap();
        let ids: Vec<&str> = claim.rows.iter().map(|r| r.delivery.delivery_id.as_str()).collect();
        assert_eq!(ids, ["evt-0/partner", "evt-2/partner"]);
        assert_eq!(outbox.depth(), 3, "the unreadable one stays in the outbox");
        let again = outbox.claim_due("partner".into(), now_ms() + 1, 10).await.unwrap();
        assert!(again.rows.is_empty(), "and is not retried in a loop");
    }
}

//! The dispatcher: one worker task per endpoint takes due deliveries from the outbox and starts an
//! attempt task for each, within the endpoint's concurrency limit, circuit breaker and rate limit.
//!
//! Why per-endpoint workers: a slow or failing partner fills only its own concurrency permits and
//! its own rows; other endpoints' workers keep claiming theirs, and `enqueue` never waits on a
//! partner (only on the outbox fsync). The outbox is the queue: a worker claims rows in batches,
//! sleeps until the next row is due, and is woken by `enqueue` and by finished attempts.
//!
//! Shutdown: when the token is cancelled the workers stop claiming; attempts in flight have
//! `drain_timeout` to finish and record their outcome, after which they are abandoned — their rows
//! stay in the outbox and are attempted again after the restart (the receiver deduplicates by
//! `webhook-id`).

use std::collections::VecDeque;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use prometheus::Registry;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::breaker::{Admission, Breaker, CircuitState, TokenBucket};
use crate::client::HttpClient;
use crate::delivery::WebhookDelivery;
use crate::dlq::{
    AttemptRecord, DeadLetterReason, DeadLetterRecord, DeadLetterSink, ErrorInfo, ProcessingContext,
};
use crate::endpoint::Endpoint;
use crate::error::{EnqueueError, StartError};
use crate::metrics::Metrics;
use crate::outbox::{now_ms, ClaimedDelivery, HandedOver, Outbox};
use crate::retry::{classify_status, next_delay, parse_retry_after, Verdict};

/// Longest a worker with a full `ready` queue goes without looking for due rows in the outbox.
const CLAIM_INTERVAL: Duration = Duration::from_millis(20);

/// The dead-letter message of a delivery to an endpoint that answered 410 (now or before).
const GONE_MESSAGE: &str = "the endpoint answered 410 Gone and is disabled";

/// Tuning of the dispatcher as a whole (per-endpoint settings live on [`Endpoint`]).
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// After shutdown is signalled, how long attempts in flight may run before they are abandoned
    /// (left in the outbox, attempted again after the restart).
    pub drain_timeout: Duration,
    /// Longest a worker sleeps without looking at the outbox. A safety net only: `enqueue` and
    /// finished attempts wake it at once.
    pub idle_poll: Duration,
    /// Bytes of a rejecting response's body kept in the attempt history and dead-letter record.
    pub max_error_body: usize,
    /// Delay before writing a dead letter again after the sink failed.
    pub dead_letter_retry: Duration,
    /// Idle keep-alive connections kept per host.
    pub pool_max_idle_per_host: usize,
    pub user_agent: String,
    /// PEM text of CA certificates trusted for HTTPS endpoints besides the webpki roots (a
    /// partner behind a private CA); empty: the webpki roots only.
    pub extra_root_certs: Vec<u8>,
    /// Threads of the dispatcher's own Tokio runtime, where workers, attempts and the HTTP
    /// connections run, apart from the caller's other work (1: a single-threaded runtime, which
    /// on the webhook benchmark delivered ~10% more per CPU than sharing a work-stealing one; a
    /// thread delivered up to ~41,000 deliveries/s there). 0: run on the runtime that calls `start`.
    pub threads: usize,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            drain_timeout: Duration::from_secs(10),
            idle_poll: Duration::from_secs(1),
            max_error_body: 1024,
            dead_letter_retry: Duration::from_secs(5),
            pool_max_idle_per_host: 64,
            user_agent: concat!("switchboard-webhook/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_root_certs: Vec::new(),
            threads: 1,
        }
    }
}

/// Delivers webhooks from an [`Outbox`]. Cheap to clone.
///
/// With a runtime of its own (`threads` ≥ 1), dropping the last handle stops that runtime: its
/// tasks are dropped where they are, as in a crash (rows in flight stay in the outbox and are
/// attempted again by the next dispatcher on it). Cancel the shutdown token and await
/// [`Dispatcher::drained`] first to stop cleanly.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
    /// Held by the handles only (not by the tasks, which hold `inner`): the last one dropped
    /// stops the dispatcher's own runtime.
    _own_runtime: Option<Arc<tokio::sync::oneshot::Sender<()>>>,
}

struct Inner {
    outbox: Outbox,
    client: HttpClient,
    dead_letters: Arc<dyn DeadLetterSink>,
    metrics: Metrics,
    config: DispatcherConfig,
    endpoints: RwLock<HashMap<String, Arc<Worker>>>,
    /// Endpoints a 410 disabled, as persisted in the outbox.
    disabled: RwLock<HashSet<String>>,
    /// Cancelled by the gateway: stop claiming, let attempts finish.
    shutdown: CancellationToken,
    /// Cancelled after `drain_timeout`: abandon attempts in flight.
    abort: CancellationToken,
    tasks: TaskTracker,
    /// Where the tasks run: the dispatcher's own runtime, or the caller's.
    runtime: tokio::runtime::Handle,
}

/// One endpoint's worker state.
///
/// Fresh deliveries take a short cut: `enqueue` stores them already claimed and hands them to
/// `ready` (bounded by `ready_capacity`), so the hot path never reads a row back. Everything else
/// — retries, rows from before a restart, deliveries that found `ready` full — is claimed from
/// the outbox when due; `db_due_ms` is the earliest time the outbox may hold a due unclaimed row
/// of this endpoint, so the worker queries only when something can be there.
struct Worker {
    key: String,
    current: RwLock<Arc<Current>>,
    permits: Arc<Semaphore>,
    breaker: Breaker,
    bucket: Option<TokenBucket>,
    disabled: AtomicBool,
    wake: Notify,
    ready: Mutex<VecDeque<ClaimedDelivery>>,
    /// Rows in `ready` plus slots reserved by enqueues not yet committed.
    ready_reserved: AtomicUsize,
    ready_capacity: usize,
    db_due_ms: AtomicI64,
}

/// An endpoint as its attempts use it, replaced whole when a reload changes the endpoint: the
/// headers every request starts from and the metric handles of the hot path, made once here
/// rather than per attempt (a labelled lookup hashes the labels and takes a lock).
struct Current {
    endpoint: Endpoint,
    base_headers: HeaderMap,
    succeeded: prometheus::IntCounter,
    delivered: prometheus::IntCounter,
    duration: prometheus::Histogram,
    circuit: prometheus::IntGauge,
}

impl Current {
    fn new(inner: &Inner, endpoint: Endpoint) -> Current {
        let label = endpoint.label();
        let metrics = &inner.metrics;
        let mut base_headers = inner.client.base_headers(&endpoint.headers);
        if !base_headers.contains_key(CONTENT_TYPE) {
            base_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Current {
            base_headers,
            succeeded: metrics.attempts.with_label_values(&[label, "success"]),
            delivered: metrics.deliveries.with_label_values(&[label, "delivered"]),
            duration: metrics.duration.with_label_values(&[label]),
            circuit: metrics.circuit_state.with_label_values(&[label]),
            endpoint,
        }
    }
}

impl Worker {
    fn current(&self) -> Arc<Current> {
        // Poisoning leaves a valid Arc (the write is one assignment).
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reserves a slot in `ready` for a delivery being enqueued.
    fn try_reserve(&self) -> bool {
        self.ready_reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.ready_capacity).then_some(n + 1)
            })
            .is_ok()
    }

    fn unreserve(&self) {
        self.ready_reserved.fetch_sub(1, Ordering::AcqRel);
    }

    fn push_ready(&self, row: ClaimedDelivery) {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(row);
    }

    fn pop_ready(&self, limit: usize) -> Vec<ClaimedDelivery> {
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        let take = limit.min(ready.len());
        let rows: Vec<ClaimedDelivery> = ready.drain(..take).collect();
        drop(ready);
        self.ready_reserved.fetch_sub(rows.len(), Ordering::AcqRel);
        rows
    }

    /// The outbox may hold a row of this endpoint that is due at `due_ms`.
    fn due_in_outbox(&self, due_ms: i64) {
        self.db_due_ms.fetch_min(due_ms, Ordering::AcqRel);
        self.wake.notify_one();
    }
}

impl Dispatcher {
    /// Registers the metrics in `registry`, builds the pooled HTTP client (rustls, keep-alive, no
    /// redirects: a signed delivery must not be forwarded elsewhere) and starts one worker per
    /// endpoint. Rows already in the outbox — from before a restart — are resumed.
    pub async fn start(
        outbox: Outbox,
        endpoints: Vec<Endpoint>,
        dead_letters: Arc<dyn DeadLetterSink>,
        registry: &Registry,
        config: DispatcherConfig,
        shutdown: CancellationToken,
    ) -> Result<Dispatcher, StartError> {
        let metrics = Metrics::register(registry)?;
        let client = HttpClient::new(
            &config.user_agent,
            config.pool_max_idle_per_host,
            &config.extra_root_certs,
        )
        .map_err(StartError::Client)?;
        for var in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
            if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
                // The value may hold credentials: only the name is logged.
                tracing::warn!(variable = var, "a proxy is configured in the environment; webhook deliveries do not use proxies and connect to partners directly");
            }
        }
        let (runtime, stop_runtime) = match config.threads {
            0 => (tokio::runtime::Handle::current(), None),
            threads => {
                let (handle, stop) = own_runtime(threads).map_err(StartError::Runtime)?;
                (handle, Some(stop))
            }
        };
        let disabled: HashSet<String> = outbox.disabled_endpoints().await?.into_iter().collect();
        metrics.outbox_depth.set(outbox.depth());
        metrics.outbox_limit.set(outbox.limit().min(i64::MAX as usize) as i64);
        let dispatcher = Dispatcher {
            inner: Arc::new(Inner {
                outbox: outbox.clone(),
                client,
                dead_letters,
                metrics,
                config,
                endpoints: RwLock::new(HashMap::new()),
                disabled: RwLock::new(disabled),
                shutdown,
                abort: CancellationToken::new(),
                tasks: TaskTracker::new(),
                runtime,
            }),
            _own_runtime: stop_runtime.map(Arc::new),
        };
        for endpoint in endpoints {
            dispatcher.register(endpoint);
        }
        // Started with no endpoints, the caller registers them later (the gateway, from its
        // rules) and checks for rows of unconfigured endpoints itself.
        let registered: HashSet<String> = dispatcher.read_endpoints().keys().cloned().collect();
        for key in outbox.endpoints_with_rows().await?.into_iter().filter(|_| !registered.is_empty()) {
            if !registered.contains(&key) {
                tracing::warn!(endpoint_key = %key, "outbox holds deliveries for an endpoint that is not configured; they wait until it is registered again");
            }
        }
        Ok(dispatcher)
    }

    /// Adds an endpoint, or replaces the configuration of one with the same key (a rule reload).
    /// Its concurrency limit, rate limit and breaker settings are fixed when it is first
    /// registered; URL, method, headers, timeout, attempts, backoff and signing follow reloads.
    pub fn register(&self, endpoint: Endpoint) {
        let inner = &self.inner;
        let mut endpoints = inner.endpoints.write().unwrap_or_else(|p| p.into_inner());
        if let Some(worker) = endpoints.get(endpoint.key()) {
            let current = Arc::new(Current::new(inner, endpoint));
            *worker.current.write().unwrap_or_else(|p| p.into_inner()) = current;
            worker.wake.notify_one();
            return;
        }
        let disabled = inner
            .disabled
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(endpoint.key());
        inner
            .metrics
            .circuit_state
            .with_label_values(&[endpoint.label()])
            .set(CircuitState::Closed as i64);
        inner
            .metrics
            .endpoint_disabled
            .with_label_values(&[endpoint.label()])
            .set(i64::from(disabled));
        let worker = Arc::new(Worker {
            key: endpoint.key().to_owned(),
            permits: Arc::new(Semaphore::new(endpoint.concurrency)),
            breaker: Breaker::new(endpoint.circuit_breaker),
            bucket: endpoint.rate_limit.map(TokenBucket::new),
            disabled: AtomicBool::new(disabled),
            wake: Notify::new(),
            ready: Mutex::new(VecDeque::new()),
            ready_reserved: AtomicUsize::new(0),
            ready_capacity: (2 * endpoint.concurrency).max(32),
            // Rows from before a restart may be due: look at once.
            db_due_ms: AtomicI64::new(0),
            current: RwLock::new(Arc::new(Current::new(inner, endpoint))),
        });
        endpoints.insert(worker.key.clone(), Arc::clone(&worker));
        inner
            .tasks
            .spawn_on(run_worker(Arc::clone(inner), worker), &inner.runtime);
    }

    /// Writes a delivery to the outbox durably and wakes its endpoint's worker. When this returns
    /// `Ok` the source offset may be acknowledged. Never waits on the partner.
    pub async fn enqueue(&self, delivery: WebhookDelivery) -> Result<(), EnqueueError> {
        self.enqueue_batch(vec![delivery]).await
    }

    /// Several deliveries in one outbox transaction (one fsync), e.g. all those planned for one
    /// batch of source events.
    pub async fn enqueue_batch(
        &self,
        deliveries: Vec<WebhookDelivery>,
    ) -> Result<(), EnqueueError> {
        let workers: Vec<Arc<Worker>> = {
            let endpoints = self.read_endpoints();
            let mut workers = Vec::with_capacity(deliveries.len());
            for d in &deliveries {
                match endpoints.get(&d.endpoint) {
                    Some(w) => workers.push(Arc::clone(w)),
                    None => return Err(EnqueueError::UnknownEndpoint(d.endpoint.clone())),
                }
            }
            workers
        };
        let claims: Vec<bool> = workers.iter().map(|w| w.try_reserve()).collect();
        // Gives the reserved slots back if the hand-off never runs (the job was dropped unrun,
        // e.g. with this future while it waited for room in the outbox's queue).
        let mut reserved = Reservations {
            workers,
            claims: claims.clone(),
            settled: false,
        };
        // Runs on the outbox thread after the commit, even if this future is dropped.
        let handoff = move |committed: Option<HandedOver>| {
            reserved.settled = true;
            match committed {
                Some(rows) => {
                    for (((delivery, seq), claimed), worker) in
                        rows.into_iter().zip(&reserved.claims).zip(&reserved.workers)
                    {
                        match (*claimed, seq) {
                            (true, Some(seq)) => worker.push_ready(ClaimedDelivery {
                                seq,
                                delivery,
                                attempt_count: 0,
                                attempts: Vec::new(),
                                dead: None,
                            }),
                            (true, None) => worker.unreserve(),
                            (false, Some(_)) => {
                                worker.db_due_ms.fetch_min(0, Ordering::AcqRel);
                            }
                            (false, None) => {}
                        }
                        worker.wake.notify_one();
                    }
                }
                None => reserved.release(),
            }
        };
        self.inner
            .outbox
            .enqueue_with_handoff(deliveries, claims, handoff)
            .await?;
        self.inner
            .metrics
            .outbox_depth
            .set(self.inner.outbox.depth());
        Ok(())
    }

    /// Re-enables an endpoint a 410 disabled (after the partner says it is back). Deliveries
    /// enqueued from now on are attempted again; those already dead-lettered stay in the DLQ.
    pub async fn enable_endpoint(&self, key: &str) -> Result<bool, EnqueueError> {
        let was = self.inner.outbox.clear_disabled(key.to_owned()).await?;
        self.inner
            .disabled
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        if let Some(worker) = self.read_endpoints().get(key) {
            worker.disabled.store(false, Ordering::Release);
            self.inner
                .metrics
                .endpoint_disabled
                .with_label_values(&[worker.current().endpoint.label()])
                .set(0);
            worker.due_in_outbox(0);
        }
        Ok(was)
    }

    /// Whether a 410 has disabled the endpoint.
    pub fn is_disabled(&self, key: &str) -> bool {
        self.read_endpoints()
            .get(key)
            .is_some_and(|w| w.disabled.load(Ordering::Acquire))
    }

    /// The outbox this dispatcher delivers from.
    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Waits for the shutdown token, then for attempts in flight (at most `drain_timeout`, after
    /// which they are abandoned and stay in the outbox). When it returns, no task of the
    /// dispatcher is running.
    pub async fn drained(&self) {
        let inner = &self.inner;
        inner.shutdown.cancelled().await;
        inner.tasks.close();
        if tokio::time::timeout(inner.config.drain_timeout, inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "webhook attempts still in flight after the drain timeout; they stay in the outbox"
            );
            inner.abort.cancel();
            inner.tasks.wait().await;
        }
        if let Err(error) = inner.outbox.flush().await {
            tracing::error!(%error, "cannot flush the webhook outbox at shutdown; delivered rows may be attempted again");
        }
        inner.metrics.outbox_depth.set(inner.outbox.depth());
    }

    fn read_endpoints(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Worker>>> {
        self.inner
            .endpoints
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Slots reserved in the workers' `ready` queues by one enqueue.
struct Reservations {
    workers: Vec<Arc<Worker>>,
    claims: Vec<bool>,
    /// The hand-off ran (and gave back or used every slot).
    settled: bool,
}

impl Reservations {
    fn release(&self) {
        for (claimed, worker) in self.claims.iter().zip(&self.workers) {
            if *claimed {
                worker.unreserve();
            }
        }
    }
}

impl Drop for Reservations {
    fn drop(&mut self) {
        if !self.settled {
            self.release();
        }
    }
}

/// Claims due rows for one endpoint and starts attempts, until shutdown.
async fn run_worker(inner: Arc<Inner>, worker: Arc<Worker>) {
    let mut last_claim = Instant::now();
    let mut generation = inner.outbox.generation();
    loop {
        if inner.shutdown.is_cancelled() {
            break;
        }
        if inner.outbox.generation() != generation {
            // The outbox rebuilt its index after a failed write: rows may be due again.
            generation = inner.outbox.generation();
            worker.db_due_ms.store(0, Ordering::Release);
        }
        let now = Instant::now();
        let free = worker.permits.available_permits();
        let disabled = worker.disabled.load(Ordering::Acquire);
        // A disabled endpoint is drained to the DLQ without HTTP, so the breaker does not apply.
        let (limit, probe, breaker_until) = if disabled {
            (free, false, None)
        } else {
            match worker.breaker.admission(now) {
                Admission::Any => (free, false, None),
                Admission::Probe => (free.min(1), true, None),
                Admission::Wait(until) => (0, false, until),
            }
        };
        // Rows claimed ahead (or handed over at enqueue) first; the outbox when they do not fill
        // the free slots, when `ready` runs low, or at least every CLAIM_INTERVAL so due
        // retries are not starved by a steady stream of fresh deliveries.
        let mut rows = worker.pop_ready(limit);
        let wanted = limit - rows.len();
        let low = worker.ready_reserved.load(Ordering::Acquire) <= worker.ready_capacity / 2;
        if limit > 0
            && (wanted > 0 || low || last_claim.elapsed() >= CLAIM_INTERVAL)
            && worker.db_due_ms.load(Ordering::Acquire) <= now_ms()
        {
            last_claim = Instant::now();
            // Clear first, then lower it to what the claim saw: a retry scheduled meanwhile has
            // already lowered it again and is not lost.
            worker.db_due_ms.store(i64::MAX, Ordering::Release);
            // Claim ahead into `ready` as well, so a backlog (retries, rows from before a
            // restart, enqueues that found `ready` full) is read in a few large claims rather than
            // one outbox round trip per finished attempt.
            let room = worker
                .ready_capacity
                .saturating_sub(worker.ready_reserved.load(Ordering::Acquire));
            match inner
                .outbox
                .claim_due(worker.key.clone(), now_ms(), wanted + room)
                .await
            {
                Ok(claim) => {
                    let mut claimed = claim.rows;
                    let ahead = claimed.split_off(wanted.min(claimed.len()));
                    rows.extend(claimed);
                    worker.ready_reserved.fetch_add(ahead.len(), Ordering::AcqRel);
                    for row in ahead {
                        worker.push_ready(row);
                    }
                    if let Some(due) = claim.next_due_ms {
                        worker.db_due_ms.fetch_min(due, Ordering::AcqRel);
                    }
                }
                Err(error) => {
                    tracing::error!(endpoint_key = %worker.key, %error, "cannot claim webhook deliveries; retrying");
                    worker
                        .db_due_ms
                        .fetch_min(now_ms() + 1000, Ordering::AcqRel);
                }
            }
        }
        if probe {
            if rows.is_empty() {
                worker.breaker.probe_abandoned();
            } else {
                worker.breaker.probe_started();
            }
        }
        let full = limit > 0 && rows.len() == limit;
        for row in rows {
            // Only this worker takes permits, and it took no more rows than were free, so this
            // succeeds; if it ever did not, the row is released back to the outbox.
            match Arc::clone(&worker.permits).try_acquire_owned() {
                Ok(permit) => {
                    inner.tasks.spawn_on(
                        run_attempt(Arc::clone(&inner), Arc::clone(&worker), row, permit, probe),
                        &inner.runtime,
                    );
                }
                Err(_) => {
                    if inner.outbox.release(row.seq).await.is_ok() {
                        worker.due_in_outbox(0);
                    }
                }
            }
        }
        if full {
            continue;
        }
        inner.metrics.outbox_depth.set(inner.outbox.depth());
        let mut wake_at = now + inner.config.idle_poll;
        let due = worker.db_due_ms.load(Ordering::Acquire);
        if due != i64::MAX {
            let wait = Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64);
            wake_at = wake_at.min(Instant::now() + wait);
        }
        if let Some(until) = breaker_until {
            wake_at = wake_at.min(until);
        }
        tokio::select! {
            _ = inner.shutdown.cancelled() => break,
            _ = worker.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at.into()) => {}
        }
    }
}

/// Starts the dispatcher's own runtime on a thread of its own, which runs until the returned
/// sender is dropped (with the last `Dispatcher` handle); tasks still running then are dropped
/// (their rows stay in the outbox).
fn own_runtime(
    threads: usize,
) -> std::io::Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>)> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (started, handle) = std::sync::mpsc::channel();
    // The runtime is built, run and dropped on its own thread: a runtime may not be dropped in
    // an async context, which `start` is (if this thread could not be spawned, say).
    std::thread::Builder::new()
        .name("webhook-dispatch".into())
        .spawn(move || {
            let mut builder = if threads == 1 {
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(threads);
                builder
            };
            // Its own workers and blocking threads (DNS lookups) are `webhook-worker`; this
            // thread, driving it, is `webhook-dispatch`.
            let runtime = match builder.enable_all().thread_name("webhook-worker").build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = started.send(Err(error));
                    return;
                }
            };
            let _ = started.send(Ok(runtime.handle().clone()));
            // A current-thread runtime runs its tasks only inside `block_on`: this thread is it.
            runtime.block_on(async {
                let _ = stopped.await;
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        })?;
    let handle = handle
        .recv()
        .map_err(|_| std::io::Error::other("the dispatcher's runtime thread ended at start"))??;
    Ok((handle, stop))
}

/// One attempt (or one dead-letter write) for one claimed row.
async fn run_attempt(
    inner: Arc<Inner>,
    worker: Arc<Worker>,
    row: ClaimedDelivery,
    permit: OwnedSemaphorePermit,
    probe: bool,
) {
    let mut permit = Some(permit);
    let seq = row.seq;
    tokio::select! {
        _ = attempt(&inner, &worker, row, &mut permit) => {}
        // Abandoned at the drain timeout: the row keeps its claim only in this process's view;
        // the next open of the outbox releases it.
        _ = inner.abort.cancelled() => {
            tracing::debug!(seq, "webhook attempt abandoned at shutdown; it stays in the outbox");
        }
    }
    if probe {
        // If the probe produced no HTTP verdict (dead letter, shutdown), let the next one go.
        worker.breaker.probe_abandoned();
    }
    drop(permit);
    worker.wake.notify_one();
}

/// `permit` is the endpoint's concurrency slot; a delivered attempt gives it back before removing
/// its row, so the partner's next request does not wait on the outbox.
async fn attempt(
    inner: &Inner,
    worker: &Worker,
    row: ClaimedDelivery,
    permit: &mut Option<OwnedSemaphorePermit>,
) {
    let current = worker.current();
    let endpoint = &current.endpoint;
    if let Some((reason, message)) = row.dead.clone() {
        let attempts = row.attempts.clone();
        return dead_letter(inner, worker, endpoint, row, attempts, reason, message).await;
    }
    if worker.disabled.load(Ordering::Acquire) {
        let attempts = row.attempts.clone();
        let message = GONE_MESSAGE.to_owned();
        return dead_letter(
            inner,
            worker,
            endpoint,
            row,
            attempts,
            DeadLetterReason::EndpointGone,
            message,
        )
        .await;
    }
    if let Some(bucket) = &worker.bucket {
        tokio::select! {
            _ = bucket.take() => {}
            _ = inner.shutdown.cancelled() => {
                // Not started: hand the row back untouched.
                if let Err(error) = inner.outbox.release(row.seq).await {
                    tracing::error!(%error, "cannot release a webhook delivery at shutdown");
                }
                worker.due_in_outbox(0);
                return;
            }
        }
    }

    let attempt_number = row.attempt_count + 1;
    let (verdict, record) = send(inner, &current, &row.delivery, attempt_number).await;
    let label = endpoint.label();
    match verdict {
        Verdict::Delivered => current.succeeded.inc(),
        Verdict::Retry { .. } => inner.metrics.attempts.with_label_values(&[label, "retryable"]).inc(),
        Verdict::Reject => inner.metrics.attempts.with_label_values(&[label, "rejected"]).inc(),
        Verdict::Gone => inner.metrics.attempts.with_label_values(&[label, "gone"]).inc(),
    }
    current.duration.observe(record.duration_ms as f64 / 1000.0);
    // The attempt history, for the outcomes that record it (a delivered row is removed).
    let history = |row: &ClaimedDelivery| {
        let mut attempts = row.attempts.clone();
        attempts.push(record.clone());
        attempts
    };

    match verdict {
        Verdict::Delivered => {
            worker.breaker.record_success();
            current.circuit.set(worker.breaker.state() as i64);
            // Counted before the removal, so an empty outbox implies the count is complete.
            current.delivered.inc();
            // The row stays claimed until it is removed, so no worker takes it again meanwhile.
            drop(permit.take());
            worker.wake.notify_one();
            inner.outbox.remove(row.seq);
            tracing::debug!(endpoint = %label, delivery_id = %row.delivery.delivery_id, attempt = attempt_number, "webhook delivered");
        }
        Verdict::Retry { retry_after } => {
            if worker.breaker.record_failure(Instant::now()) {
                tracing::warn!(endpoint = %label, "circuit breaker opened");
            }
            current.circuit.set(worker.breaker.state() as i64);
            let attempts = history(&row);
            let error = describe_failure(&record);
            if attempt_number >= endpoint.attempts {
                let message = format!("{attempt_number} attempts failed; last: {error}");
                return dead_letter(
                    inner,
                    worker,
                    endpoint,
                    row,
                    attempts,
                    DeadLetterReason::RetriesExhausted,
                    message,
                )
                .await;
            }
            let delay = next_delay(endpoint.backoff, attempt_number, retry_after);
            tracing::debug!(endpoint = %label, delivery_id = %row.delivery.delivery_id, attempt = attempt_number, %error, delay_ms = delay.as_millis() as u64, "webhook attempt failed; retrying");
            let next = now_ms() + delay.as_millis() as i64;
            match inner.outbox.schedule_retry(row.seq, &attempts, next).await {
                Ok(()) => worker.due_in_outbox(next),
                Err(error) => {
                    tracing::error!(endpoint = %label, delivery_id = %row.delivery.delivery_id, %error, "cannot persist the retry; the outbox rebuilds its index and the delivery is attempted again");
                }
            }
        }
        Verdict::Gone => {
            worker.breaker.record_success();
            current.circuit.set(worker.breaker.state() as i64);
            let attempts = history(&row);
            if !worker.disabled.swap(true, Ordering::AcqRel) {
                tracing::warn!(endpoint = %label, endpoint_key = %worker.key, "endpoint answered 410 Gone: disabled; its deliveries go to the dead-letter queue");
                inner
                    .metrics
                    .endpoint_disabled
                    .with_label_values(&[label])
                    .set(1);
                inner
                    .disabled
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(worker.key.clone());
                if let Err(error) = inner
                    .outbox
                    .set_disabled(worker.key.clone(), "410 Gone".into())
                    .await
                {
                    tracing::error!(endpoint = %label, %error, "cannot persist that the endpoint is disabled");
                }
            }
            let message = GONE_MESSAGE.to_owned();
            dead_letter(
                inner,
                worker,
                endpoint,
                row,
                attempts,
                DeadLetterReason::EndpointGone,
                message,
            )
            .await;
        }
        Verdict::Reject => {
            worker.breaker.record_success();
            current.circuit.set(worker.breaker.state() as i64);
            let attempts = history(&row);
            let message = format!("rejected: {}", describe_failure(&record));
            dead_letter(
                inner,
                worker,
                endpoint,
                row,
                attempts,
                DeadLetterReason::Rejected,
                message,
            )
            .await;
        }
    }
}

/// Sends one attempt and classifies it. Never logs or returns a header value or the URL's query.
async fn send(
    inner: &Inner,
    current: &Current,
    delivery: &WebhookDelivery,
    attempt_number: u32,
) -> (Verdict, AttemptRecord) {
    let at = Utc::now();
    let started = Instant::now();
    let record = |status: Option<u16>, error: Option<String>| AttemptRecord {
        attempt: attempt_number,
        at,
        status,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let endpoint = &current.endpoint;
    let headers = match request_headers(current, delivery, at.timestamp()) {
        Ok(h) => h,
        Err(message) => return (Verdict::Reject, record(None, Some(message))),
    };
    // The verdict, from the response head; the start of the body is kept for the record when
    // it explains a failure.
    let decide = |status: http::StatusCode, retry_after: Option<&str>| {
        let retry_after = retry_after.and_then(|v| parse_retry_after(v, SystemTime::now()));
        let verdict = classify_status(status.as_u16(), retry_after);
        let keep = if verdict == Verdict::Delivered { 0 } else { inner.config.max_error_body };
        (verdict, keep)
    };
    let answer = inner
        .client
        .send(
            endpoint.method.to_http(),
            &endpoint.uri,
            headers,
            delivery.body.clone(),
            endpoint.timeout,
            decide,
            64 * 1024,
        )
        .await;
    match answer {
        Ok(answer) => {
            let error = (!answer.body.is_empty()).then_some(answer.body);
            (answer.decision, record(Some(answer.status.as_u16()), error))
        }
        Err(error) => (
            Verdict::Retry { retry_after: None },
            record(None, Some(error.to_string())),
        ),
    }
}

/// Endpoint headers (secret, marked sensitive) with the defaults (`Current::base_headers`), then
/// the delivery's own where the endpoint has no header of that name, then the Standard Webhooks
/// headers, which nothing overrides.
fn request_headers(
    current: &Current,
    delivery: &WebhookDelivery,
    timestamp: i64,
) -> Result<HeaderMap, String> {
    let endpoint = &current.endpoint;
    let mut headers = current.base_headers.clone();
    for (name, value) in &delivery.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            // The delivery's headers add to the endpoint's, never replace them: a replayed
            // dead-letter record cannot swap the partner's Authorization or content-type.
            (Ok(name), Ok(value)) => {
                if !headers.contains_key(&name) {
                    headers.insert(name, value);
                }
            }
            _ => {
                tracing::warn!(header = %name, "skipping a delivery header that is not valid HTTP")
            }
        }
    }
    let id = HeaderValue::from_str(&delivery.event_id)
        .map_err(|_| "the eventId cannot be sent as the webhook-id header".to_owned())?;
    headers.insert("webhook-id", id);
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
    if let Some(key) = &endpoint.signing_key {
        let signature = key.sign(&delivery.event_id, timestamp, &delivery.body);
        let value = HeaderValue::from_str(&signature)
            .map_err(|_| "signature is not a header value".to_owned())?;
        headers.insert("webhook-signature", value);
    }
    Ok(headers)
}

fn describe_failure(record: &AttemptRecord) -> String {
    match (record.status, &record.error) {
        (Some(status), Some(body)) => format!("HTTP {status}: {body}"),
        (Some(status), None) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "unknown failure".to_owned(),
    }
}

/// Writes the dead-letter record; removes the row once it is durable, or keeps it (marked dead)
/// and tries again later.
async fn dead_letter(
    inner: &Inner,
    worker: &Worker,
    endpoint: &Endpoint,
    row: ClaimedDelivery,
    attempts: Vec<AttemptRecord>,
    reason: DeadLetterReason,
    message: String,
) {
    let label = endpoint.label();
    let stack_trace = attempts
        .last()
        .and_then(|a| a.error.clone())
        .unwrap_or_default();
    let (body, body_encoding) = match String::from_utf8(row.delivery.body.to_vec()) {
        Ok(text) => (text, None),
        Err(_) => {
            use base64::Engine as _;
            (
                base64::engine::general_purpose::STANDARD.encode(&row.delivery.body),
                Some("base64".to_owned()),
            )
        }
    };
    let record = DeadLetterRecord {
        original_event: row.delivery.original_event.clone(),
        error: ErrorInfo {
            kind: reason.as_str().to_owned(),
            message: message.clone(),
            stack_trace,
        },
        processing_context: ProcessingContext {
            processor: "webhook".to_owned(),
            timestamp: Utc::now(),
            correlation_id: row.delivery.correlation_id.clone(),
        },
        delivery_id: row.delivery.delivery_id.clone(),
        webhook_id: row.delivery.event_id.clone(),
        endpoint_key: row.delivery.endpoint.clone(),
        endpoint: label.to_owned(),
        attempts: attempts.clone(),
        body,
        body_encoding,
        headers: row.delivery.headers.clone(),
    };
    match inner.dead_letters.dead_letter(record).await {
        Ok(()) => {
            let result = match reason {
                DeadLetterReason::RetriesExhausted => "exhausted",
                DeadLetterReason::Rejected => "rejected",
                DeadLetterReason::EndpointGone => "gone",
            };
            inner
                .metrics
                .deliveries
                .with_label_values(&[label, result])
                .inc();
            tracing::warn!(endpoint = %label, delivery_id = %row.delivery.delivery_id, reason = reason.as_str(), attempts = attempts.len(), "webhook delivery dead-lettered");
            inner.outbox.remove(row.seq);
        }
        Err(error) => {
            inner
                .metrics
                .dead_letter_failures
                .with_label_values(&[label])
                .inc();
            tracing::error!(endpoint = %label, delivery_id = %row.delivery.delivery_id, %error, "cannot write the dead letter; keeping the delivery and trying again");
            let next = now_ms() + inner.config.dead_letter_retry.as_millis() as i64;
            match inner
                .outbox
                .schedule_dead_letter(row.seq, &attempts, reason, message, next)
                .await
            {
                Ok(()) => worker.due_in_outbox(next),
                Err(error) => {
                    tracing::error!(endpoint = %label, %error, "cannot persist the dead-letter state; the outbox rebuilds its index and the delivery is dead-lettered again");
                }
            }
        }
    }
}

//! `switchboard serve`: the gateway. Config builds the runtime; the runtime runs until SIGTERM or
//! SIGINT, then stops intake, drains in-flight deliveries, commits offsets and exits 0 within the
//! grace period.
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::LocalBus;
use crate::cli::GlobalArgs;
use crate::config::{Config, Overrides};
use crate::dedup::Dedup;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::reload::{build_snapshot, Reloader};
use crate::sinks::TopicSink;
use crate::webhooks::{DlqTopic, Webhooks};
use crate::{sources, Outcome};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for HTTP (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(global, &Overrides { listen: args.listen })?;
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(serve(config));
    // Blocking tasks still running (a store call, a reload) do not hold the exit past this.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result?;
    Ok(Outcome::Success)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        _ => {
            // Without signal handlers the process still stops on the default action.
            std::future::pending::<()>().await;
        }
    }
}

/// A router task's end: its error, or its panic as an error.
fn flatten_router(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match joined {
        Ok(result) => result,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(anyhow::anyhow!("the router panicked: {what}"))
        }
        Err(e) => Err(anyhow::anyhow!("the router task ended: {e}")),
    }
}

/// The archiver as a periodic task: one run every `every`, the first one a minute after start.
async fn run_archiver(
    archiver: switchboard_archive::Archiver,
    store: Arc<dyn switchboard_store::EventStore>,
    every: std::time::Duration,
    cancel: CancellationToken,
) {
    let mut next = tokio::time::Instant::now() + std::time::Duration::from_secs(60).min(every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let cutoff = archiver.cutoff(chrono::Utc::now());
        // A run is not interrupted by shutdown midway: each object is uploaded, verified, indexed
        // and only then deleted, so stopping between objects is always safe.
        match archiver.run_once(store.as_ref(), cutoff).await {
            Ok(report) => tracing::info!(report = ?report, "archive run finished"),
            Err(e) => tracing::error!(error = %e, "archive run failed; nothing unverified was deleted"),
        }
        next = tokio::time::Instant::now() + every;
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new()?);
    let (rules_dir, transforms_dir) = (config.rules.clone(), config.transforms.clone());
    // A change from here until the watcher is set up would otherwise go unseen.
    let build_started = std::time::SystemTime::now();
    let snapshot = tokio::task::spawn_blocking(move || build_snapshot(&rules_dir, &transforms_dir))
        .await?
        .map_err(|diagnostics| anyhow::anyhow!("the rule set does not load:\n{diagnostics}"))?;
    std::fs::create_dir_all(&config.data).with_context(|| format!("creating the data directory {}", config.data.display()))?;
    let dedup = Dedup::open(
        &config.data.join("dedup.log"),
        config.pipeline.dedup_window,
        config.pipeline.dedup_capacity,
        chrono::Utc::now().timestamp_millis(),
    )
    .context("opening the dedup log")?;

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    // Set by a task that stopped on an error: the process then exits 2 after draining the rest.
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let (sink, ingest_topic, mode, dlq_topic) = match &config.kafka {
        Some(k) => {
            let sink = TopicSink::kafka(&k.brokers, &k.producer, k.producers)?;
            let ingest = k.ingest_topic.clone().or_else(|| k.topics.first().cloned()).unwrap_or_else(|| "events.in".into());
            (sink, ingest, "kafka", k.dlq_topic.clone())
        }
        None => {
            let bus = LocalBus::open(&config.data).context("opening the local bus")?;
            (TopicSink::Local(bus), config.pipeline.ingest_topic.clone(), "embedded", crate::dlq::DLQ_TOPIC.to_string())
        }
    };
    let version = snapshot.version().to_string();
    let rule_count = snapshot.rules.rule_count();

    let outbox = switchboard_webhook::Outbox::open_with(config.data.join("outbox"), config.webhooks.outbox_options()).context("opening the webhook outbox")?;
    let dead_letters = Arc::new(DlqTopic { sink: sink.clone(), topic: dlq_topic.clone(), metrics: metrics.clone() });
    let dispatcher = switchboard_webhook::Dispatcher::start(
        outbox,
        Vec::new(),
        dead_letters,
        &metrics.registry,
        config.webhooks.dispatcher_config(config.shutdown_grace).map_err(anyhow::Error::msg)?,
        cancel.clone(),
    )
    .await
    .context("starting webhook delivery")?;
    {
        let d = dispatcher.clone();
        tasks.spawn(async move { d.drained().await });
    }
    let store = config.store_config().open().await.context("opening the event store")?;
    if let Some(archive) = &config.archive {
        let archive = crate::config::resolve_archive(archive).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
        if let Some(problem) = crate::config::archive_ttl_problem(&config.store_config(), &archive, Some(archive.every)) {
            anyhow::bail!("{problem}");
        }
        let archiver = switchboard_archive::Archiver::from_config(&archive, &config.data).context("the archiver")?;
        let (s, c, every) = (store.clone(), cancel.clone(), archive.every);
        tasks.spawn(async move { run_archiver(archiver, s, every, c).await });
    }
    let webhooks = Webhooks::new(dispatcher);
    webhooks.register_all(snapshot.rules.webhook_targets())?;
    webhooks.warn_unconfigured().await;
    // librdkafka's own default for message.max.bytes, unless the producer overrides it.
    let max_message_bytes = config.kafka.as_ref().map(|k| k.producer.get("message.max.bytes").and_then(|v| v.parse().ok()).unwrap_or(1_000_000));
    let pipeline = Arc::new(
        Pipeline::new(snapshot, metrics.clone(), dedup, dlq_topic, webhooks.clone(), Some(store.clone())).with_max_message_bytes(max_message_bytes),
    );
    let reloader = Arc::new(Reloader::new(pipeline.clone(), config.rules.clone(), config.transforms.clone()));

    match (&config.kafka, &sink) {
        (Some(k), _) => {
            let consumer = sources::consumer(k, metrics.clone())?;
            let (p, s, c, f) = (pipeline.clone(), sink.clone(), cancel.clone(), failed.clone());
            let (batch, inflight, batches) = (config.pipeline.batch_size, k.max_in_flight, k.batches_in_flight);
            let linger = config.pipeline.batch_linger;
            let trusted = ingest_topic.clone();
            tasks.spawn(async move {
                // Its own task, so that a panic in it is seen (a router that died silently would
                // leave the process up and ready with nothing consumed) and stops the gateway.
                let router = tokio::spawn(sources::run_kafka(p, consumer, s, batch, linger, inflight, batches, trusted, c.clone()));
                if let Err(e) = flatten_router(router.await) {
                    tracing::error!(error = %e, "the Kafka router stopped");
                    f.store(true, Ordering::Relaxed);
                    c.cancel();
                }
            });
        }
        (None, TopicSink::Local(bus)) => {
            let (p, b, s, c, f) = (pipeline.clone(), bus.clone(), sink.clone(), cancel.clone(), failed.clone());
            let (topic, group, batch) = (config.pipeline.ingest_topic.clone(), config.pipeline.group.clone(), config.pipeline.batch_size);
            tasks.spawn(async move {
                let router = tokio::spawn(sources::run_local(p, b, s, topic, group, batch, c.clone()));
                if let Err(e) = flatten_router(router.await) {
                    tracing::error!(error = %e, "the local bus router stopped");
                    f.store(true, Ordering::Relaxed);
                    c.cancel();
                }
            });
        }
        (None, TopicSink::Kafka(_)) => unreachable!("the Kafka sink exists only with a Kafka config"),
    }
    if config.reload.watch {
        let (r, c, d) = (reloader.clone(), cancel.clone(), config.reload.debounce);
        tasks.spawn(async move {
            if let Err(e) = r.watch(d, c, build_started).await {
                tracing::error!(error = %e, "the rules watcher stopped; SIGHUP and POST /-/reload still work");
            }
        });
    }
    {
        let (r, c) = (reloader.clone(), cancel.clone());
        tasks.spawn(async move {
            if let Err(e) = r.on_sighup(c).await {
                tracing::error!(error = %e, "no SIGHUP handler");
            }
        });
    }

    let state = Arc::new(AppState {
        reloader: reloader.clone(),
        ingest: sink.clone(),
        ingest_topic: ingest_topic.clone(),
        mode,
        auth_token: config.auth_token(),
        ready: false.into(),
        extra: Some(crate::http_store::router(store.clone(), config.http.max_body_bytes)),
        webhooks,
    });
    let app = http::router(state.clone(), config.http.max_body_bytes);
    let listener = tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    if state.auth_token.is_none() && !http::is_loopback(local_addr.ip()) {
        tracing::warn!(listen = %local_addr, "listening beyond this host with no http.auth_token: anyone who reaches it can POST events \
            (the admin endpoints /-/... answer only callers on this host); set http.auth_token");
    }
    {
        let (c, f) = (cancel.clone(), failed.clone());
        tasks.spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(c.clone().cancelled_owned()).await {
                tracing::error!(error = %e, "the HTTP server stopped");
                f.store(true, Ordering::Relaxed);
                c.cancel();
            }
        });
    }
    tasks.close();
    state.ready.store(true, Ordering::Relaxed);
    tracing::info!(listen = %local_addr, mode, ingest_topic = %ingest_topic, rules = rule_count, version = %version,
        data = %config.data.display(), "switchboard serving");

    tokio::select! {
        _ = shutdown_signal() => {}
        _ = cancel.cancelled() => {}
    }
    let deadline = tokio::time::Instant::now() + config.shutdown_grace;
    // A second SIGTERM or SIGINT while draining stops at once. Nothing acknowledged is lost:
    // what was not finished is not committed, so it is delivered again after the restart.
    tokio::spawn(async {
        shutdown_signal().await;
        tracing::warn!("a second signal while draining: exiting now; unfinished work will be redelivered");
        std::process::exit(1);
    });
    state.ready.store(false, Ordering::Relaxed);
    cancel.cancel();
    if tokio::time::timeout_at(deadline, tasks.wait()).await.is_err() {
        tracing::warn!(grace = ?config.shutdown_grace, "grace period over with work in flight; it will be redelivered");
    }
    // The producer's flush counts inside the grace (at least a moment, to hand over what the
    // finished batches produced; their offsets are committed only once it is acknowledged).
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    sink.flush(left.max(std::time::Duration::from_millis(200)));
    if failed.load(Ordering::Relaxed) {
        anyhow::bail!("switchboard stopped after a fatal error (see the log above)");
    }
    tracing::info!("switchboard stopped");
    Ok(())
}

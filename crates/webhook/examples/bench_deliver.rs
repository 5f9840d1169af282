//! Delivers N webhooks with 1 KiB bodies through the real outbox (fsync'd, in a temp dir) and
//! dispatcher to URL, and prints deliveries/s from the first enqueue to the last delivery.
//! Usage: `bench_deliver URL [N] [CONCURRENCY]`. Enqueues in batches of 256, as the gateway does
//! for a batch of source events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_webhook::*;

/// The allocator the `switchboard` binary uses (src/main.rs), so the dispatcher runs here as it
/// runs in the gateway. The bare clients below run with it too.
#[global_allocator]
static GLOBAL: switchboard_alloc::MiMalloc = switchboard_alloc::MiMalloc;

struct NoDeadLetters;

#[async_trait::async_trait]
impl DeadLetterSink for NoDeadLetters {
    async fn dead_letter(&self, _record: DeadLetterRecord) -> Result<(), DeadLetterError> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: bench_deliver URL [N] [CONCURRENCY]")?;
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50_000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::var_os("BENCH_RAW_REQWEST").is_some() {
        return runtime.block_on(raw_reqwest(url, n, concurrency));
    }
    if std::env::var_os("BENCH_RAW_HYPER").is_some() {
        return runtime.block_on(raw_hyper(url, n, concurrency));
    }
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let outbox = Outbox::open(dir.path())?;
        let mut config = EndpointConfig::new("bench", url.as_str());
        config.concurrency = concurrency;
        config.signing_secret = Some(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        let registry = prometheus::Registry::new();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let dispatcher = Dispatcher::start(
            outbox,
            vec![Endpoint::new(config)?],
            Arc::new(NoDeadLetters),
            &registry,
            DispatcherConfig {
                pool_max_idle_per_host: concurrency,
                ..Default::default()
            },
            shutdown.clone(),
        )
        .await?;
        let padding = "x".repeat(1024 - 60);
        let started = Instant::now();
        let mut enqueued = 0;
        while enqueued < n {
            let batch: Vec<WebhookDelivery> = (enqueued..(enqueued + 256).min(n))
                .map(|i| {
                    let id = format!("evt-{i:08}");
                    let body = format!(
                        "{{\"eventId\":\"{id}\",\"eventType\":\"bench\",\"pad\":\"{padding}\"}}"
                    );
                    WebhookDelivery::new(id, "bench", body.into_bytes(), serde_json::Value::Null)
                })
                .collect();
            enqueued += batch.len();
            dispatcher.enqueue_batch(batch).await?;
        }
        let enqueue_time = started.elapsed();
        let delivered = || {
            dispatcher
                .metrics()
                .deliveries
                .with_label_values(&[&url, "delivered"])
                .get() as usize
        };
        let exhausted = || {
            dispatcher
                .metrics()
                .deliveries
                .with_label_values(&[&url, "exhausted"])
                .get() as usize
        };
        while delivered() + exhausted() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let total = started.elapsed();
        println!(
            "enqueued {n} in {:.2}s ({:.0}/s durable)",
            enqueue_time.as_secs_f64(),
            n as f64 / enqueue_time.as_secs_f64()
        );
        println!(
            "delivered {} of {n} in {:.2}s",
            delivered(),
            total.as_secs_f64()
        );
        println!("deliveries_per_sec {:.0}", n as f64 / total.as_secs_f64());
        print_thread_cpu();
        shutdown.cancel();
        dispatcher.drained().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// The same requests from a bare reqwest client (no outbox, no signing): the client the
/// dispatcher used before src/client.rs. `BENCH_RAW_REQWEST=1 bench_deliver URL N CONCURRENCY`.
async fn raw_reqwest(
    url: String,
    n: usize,
    concurrency: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()?;
    let body = bytes::Bytes::from(bytes_body());
    let rate = send_all(n, concurrency, move || {
        let request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        async move {
            if let Ok(response) = request.send().await {
                let _ = response.bytes().await;
            }
        }
    })
    .await?;
    println!("raw_reqwest_per_sec {rate:.0}");
    Ok(())
}

/// The same requests from a bare hyper-util pooled client (no outbox, no signing): the client the
/// dispatcher uses (src/client.rs), so how much of the gap to wrk is the HTTP client's own.
/// `BENCH_RAW_HYPER=1 bench_deliver URL N CONCURRENCY`.
async fn raw_hyper(url: String, n: usize, concurrency: usize) -> Result<(), Box<dyn std::error::Error>> {
    use http_body_util::{BodyExt, Full};
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build(http);
    let body = bytes::Bytes::from(bytes_body());
    let uri: http::Uri = url.parse()?;
    let rate = send_all(n, concurrency, move || {
        let request = http::Request::post(uri.clone())
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let response = client.request(request);
        async move {
            if let Ok(response) = response.await {
                let _ = response.into_body().collect().await;
            }
        }
    })
    .await?;
    println!("raw_hyper_per_sec {rate:.0}");
    Ok(())
}

/// Sends `n` requests from `concurrency` tasks, each awaiting one `request()` at a time, and
/// returns requests per second.
async fn send_all<F, R>(n: usize, concurrency: usize, request: F) -> Result<f64, Box<dyn std::error::Error>>
where
    F: Fn() -> R + Clone + Send + 'static,
    R: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (request, next) = (request.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                request().await;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// CPU time of each thread of this process so far (Linux; nothing elsewhere): how the work
/// splits between the runtime's workers and the outbox's writer thread.
fn print_thread_cpu() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns: Option<u64> = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()));
        if let Some(ns) = ns {
            println!("cpu of thread {}: {:.2}s", name.trim(), ns as f64 / 1e9);
        }
    }
}

fn bytes_body() -> Vec<u8> {
    format!(
        "{{\"eventId\":\"evt-00000000\",\"eventType\":\"bench\",\"pad\":\"{}\"}}",
        "x".repeat(1024 - 60)
    )
    .into_bytes()
}

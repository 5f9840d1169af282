//! `switchboard dlq list|show|replay [--filter KEY=VALUE]...`: the dead-letter queue (`events.dlq`
//! on the local bus, or the configured DLQ topic on Kafka).
//!
//! Replay re-injects the chosen records: a webhook record (it has a `deliveryId`) goes back into
//! the webhook outbox under its original delivery id and `webhook-id` (so the partner can
//! deduplicate) — through the running gateway when one answers on the configured `listen`
//! address (it holds the outbox), else straight into the outbox under `--data`; any other record's `originalEvent` goes back
//! to the ingest topic with an `x-switchboard-replay` header, which lets it past dedup.
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::bus::LocalBus;
use crate::cli::{Format, GlobalArgs};
use crate::config::{Config, Overrides};
use crate::sinks::{OutMessage, TopicSink};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// One line per dead letter: position, error type, eventId, eventType, target, message.
    List {
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The whole record at a position (as printed by `list`).
    Show { position: String },
    /// Re-inject the records that match every filter (all records with --all).
    Replay {
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// Replay every record (required when no filter is given).
        #[arg(long)]
        all: bool,
        /// Print what would be replayed, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// A dead letter and where it sits (`OFFSET` on the local bus, `PARTITION:OFFSET` on Kafka).
struct Letter {
    position: String,
    record: Value,
}

fn field<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    let pointer = match key {
        "type" => "/error/type",
        "eventType" => "/originalEvent/eventType",
        "eventId" => "/originalEvent/eventId",
        "endpoint" => "/endpoint",
        "rule" => "/rule",
        _ => return None,
    };
    r.pointer(pointer).and_then(Value::as_str)
}

/// `KEY=VALUE` filters: type, eventType, eventId, endpoint (substring), rule. All must hold.
fn parse_filters(filters: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| {
            let (k, v) = f.split_once('=').with_context(|| format!("filter {f:?} is not KEY=VALUE"))?;
            if !["type", "eventType", "eventId", "endpoint", "rule"].contains(&k) {
                anyhow::bail!("unknown filter key {k:?}: use type, eventType, eventId, endpoint or rule");
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn matches(r: &Value, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match field(r, k) {
        Some(found) if k == "endpoint" => found.contains(v.as_str()),
        Some(found) => found == v,
        None => false,
    })
}

fn read_all(config: &Config) -> anyhow::Result<Vec<Letter>> {
    match &config.kafka {
        None => {
            if !config.data.join("bus").is_dir() {
                anyhow::bail!("no local bus under {} (is --data right? `switchboard serve` creates it)", config.data.display());
            }
            // Read-only: `serve` may be appending, and a reader must never repair its files.
            let bus = LocalBus::open_read_only(&config.data)?;
            let mut out = Vec::new();
            let mut next = 0;
            loop {
                let batch = bus.read(crate::dlq::DLQ_TOPIC, next, 1000)?;
                if batch.is_empty() {
                    break;
                }
                for (offset, r) in batch {
                    next = offset + 1;
                    let record = serde_json::from_slice(&r.value).unwrap_or(Value::Null);
                    out.push(Letter { position: offset.to_string(), record });
                }
            }
            Ok(out)
        }
        Some(k) => {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &k.brokers)
                .set("group.id", "switchboard-dlq-cli")
                .set("enable.auto.commit", "false")
                .create()?;
            let metadata = consumer.fetch_metadata(Some(&k.dlq_topic), Duration::from_secs(10))?;
            let mut tpl = TopicPartitionList::new();
            let mut ends = std::collections::HashMap::new();
            for t in metadata.topics() {
                for p in t.partitions() {
                    let (low, high) = consumer.fetch_watermarks(&k.dlq_topic, p.id(), Duration::from_secs(10))?;
                    if high > low {
                        tpl.add_partition_offset(&k.dlq_topic, p.id(), Offset::Offset(low))?;
                        ends.insert(p.id(), high);
                    }
                }
            }
            let mut out = Vec::new();
            if ends.is_empty() {
                return Ok(out);
            }
            consumer.assign(&tpl)?;
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !ends.is_empty() && std::time::Instant::now() < deadline {
                if let Some(m) = consumer.poll(Duration::from_millis(500)) {
                    let m = m?;
                    let record = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or(Value::Null);
                    out.push(Letter { position: format!("{}:{}", m.partition(), m.offset()), record });
                    if ends.get(&m.partition()).is_some_and(|end| m.offset() + 1 >= *end) {
                        ends.remove(&m.partition());
                    }
                }
            }
            Ok(out)
        }
    }
}

fn summary(l: &Letter) -> String {
    let r = &l.record;
    // Every field may hold an event's text: escaped, so a tab or newline in it can not shift the
    // columns and an escape sequence can not reach the terminal.
    let get = |p: &str| super::printable(r.pointer(p).and_then(Value::as_str).unwrap_or("-")).into_owned();
    let target = super::printable(r.get("endpoint").and_then(Value::as_str).or_else(|| r.get("rule").and_then(Value::as_str)).unwrap_or("-"));
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        l.position,
        get("/error/type"),
        get("/originalEvent/eventId"),
        get("/originalEvent/eventType"),
        target,
        get("/error/message")
    )
}

pub fn run(global: &GlobalArgs, args: DlqArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(global, &Overrides::default())?;
    let letters = read_all(&config)?;
    let stdout = std::io::stdout();
    match args.command {
        DlqCommand::List { filters, format } => {
            let filters = parse_filters(&filters)?;
            let mut out = stdout.lock();
            for l in letters.iter().filter(|l| matches(&l.record, &filters)) {
                match format {
                    Format::Text => writeln!(out, "{}", summary(l))?,
                    Format::Json => writeln!(out, "{}", json!({"position": l.position, "record": l.record}))?,
                }
            }
        }
        DlqCommand::Show { position } => {
            let l = letters.iter().find(|l| l.position == position).with_context(|| format!("no dead letter at {position}"))?;
            writeln!(stdout.lock(), "{}", serde_json::to_string_pretty(&l.record)?)?;
        }
        DlqCommand::Replay { filters, all, dry_run } => {
            let filters = parse_filters(&filters)?;
            if filters.is_empty() && !all {
                anyhow::bail!("give --filter KEY=VALUE or --all");
            }
            let chosen: Vec<&Letter> = letters.iter().filter(|l| matches(&l.record, &filters)).collect();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (webhook, events) = runtime.block_on(replay(&config, &chosen, dry_run))?;
            let verb = if dry_run { "would replay" } else { "replayed" };
            eprintln!("{verb} {} dead letters: {webhook} into the webhook outbox, {events} to the ingest topic", chosen.len());
        }
    }
    Ok(Outcome::Success)
}

/// Webhook dead letters go back into the outbox: through the running gateway (it holds the
/// outbox's lock) at `POST /-/dlq/replay`, or, when no gateway answers on the configured address,
/// straight into the outbox under `--data`.
async fn replay_webhooks(config: &Config, records: Vec<switchboard_webhook::DeadLetterRecord>) -> anyhow::Result<()> {
    let url = format!("http://{}/-/dlq/replay", config.listen);
    let mut request = reqwest::Client::new().post(&url).json(&records);
    if let Some(token) = config.auth_token() {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            anyhow::bail!("the gateway at {url} refused the replay ({status}): {}", response.text().await.unwrap_or_default())
        }
        Err(e) if e.is_connect() => {
            let deliveries = records
                .iter()
                .map(|r| r.to_delivery().with_context(|| format!("dead letter {}: body", r.delivery_id)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let outbox = switchboard_webhook::Outbox::open_with(config.data.join("outbox"), config.webhooks.outbox_options())?;
            outbox.enqueue_batch(deliveries).await?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("replaying through the gateway at {url}")),
    }
}

async fn replay(config: &Config, chosen: &[&Letter], dry_run: bool) -> anyhow::Result<(usize, usize)> {
    let mut webhook_records = Vec::new();
    let mut events = Vec::new();
    for l in chosen {
        if l.record.get("deliveryId").is_some() {
            let record: switchboard_webhook::DeadLetterRecord =
                serde_json::from_value(l.record.clone()).with_context(|| format!("dead letter {} is not a webhook record", l.position))?;
            webhook_records.push(record);
        } else if let Some(original @ Value::Object(_)) = l.record.get("originalEvent") {
            events.push(original.clone());
        } else {
            eprintln!("skipping dead letter {}: its original event is not a JSON object", l.position);
        }
    }
    let counts = (webhook_records.len(), events.len());
    if dry_run {
        return Ok(counts);
    }
    if !webhook_records.is_empty() {
        replay_webhooks(config, webhook_records).await?;
    }
    if !events.is_empty() {
        match &config.kafka {
            Some(k) => {
                // Kafka takes appends from any process.
                let sink = TopicSink::kafka(&k.brokers, &k.producer, k.producers)?;
                let topic = k.ingest_topic.clone().or_else(|| k.topics.first().cloned()).unwrap_or_else(|| "events.in".into());
                sink.publish(replay_messages(events, &topic)).await?;
                sink.flush(Duration::from_secs(10));
            }
            None => replay_events_locally(config, events).await?,
        }
    }
    Ok(counts)
}

/// The ingest-topic messages of replayed events: keyed by subject.id, marked as replayed.
pub fn replay_messages(events: Vec<Value>, topic: &str) -> Vec<OutMessage> {
    events
        .into_iter()
        .map(|e| OutMessage {
            topic: topic.to_string(),
            key: e.pointer("/subject/id").and_then(Value::as_str).map(|s| s.as_bytes().to_vec()),
            headers: vec![(crate::pipeline::REPLAY_HEADER.to_string(), b"1".to_vec())],
            value: serde_json::to_vec(&e).unwrap_or_default().into(),
        })
        .collect()
}

/// Embedded mode: only the process that owns the local bus may append to it (its index of the
/// log is in memory: an append from another process would be invisible to it and shift its
/// offsets). So the events go through the running gateway at `POST /-/dlq/replay-events`; when
/// none answers on the configured address, they are appended here, holding the webhook outbox's
/// lock meanwhile, which a gateway on the same `--data` holds for its whole life (a gateway
/// listening elsewhere makes this wait 5 s and fail, naming the lock, instead of corrupting).
async fn replay_events_locally(config: &Config, events: Vec<Value>) -> anyhow::Result<()> {
    let url = format!("http://{}/-/dlq/replay-events", config.listen);
    let mut request = reqwest::Client::new().post(&url).json(&events);
    if let Some(token) = config.auth_token() {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            anyhow::bail!("the gateway at {url} refused the replay ({status}): {}", response.text().await.unwrap_or_default())
        }
        Err(e) if e.is_connect() => {
            let _exclusive = switchboard_webhook::Outbox::open_with(config.data.join("outbox"), config.webhooks.outbox_options())
                .context("no gateway answered at the configured address, and the data directory's lock could not be taken")?;
            let sink = TopicSink::Local(LocalBus::open(&config.data)?);
            sink.publish(replay_messages(events, &config.pipeline.ingest_topic)).await?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("replaying through the gateway at {url}")),
    }
}

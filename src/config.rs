//! The gateway's configuration: one YAML file, environment overrides, command-line overrides.
//!
//! Precedence, strongest first: command-line flags, `SWITCHBOARD_*` environment variables, the
//! file, the defaults. With no file at all, `serve` runs the embedded mode on 127.0.0.1:8080 with
//! ./rules, ./transforms and ./data. Validation collects every error and reports them at once.
//! The YAML crate is `serde_yaml_ng`, a maintained fork of the deprecated `serde_yaml` with the same
//! API and located error messages (line and column).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::GlobalArgs;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listen address.
    pub listen: String,
    pub rules: PathBuf,
    pub transforms: PathBuf,
    /// Local state: the local bus, dedup state, webhook outbox, embedded store, local archive.
    pub data: PathBuf,
    /// Kafka: when absent, the local bus is used (embedded mode).
    pub kafka: Option<KafkaConfig>,
    pub http: HttpConfig,
    pub pipeline: PipelineConfig,
    pub reload: ReloadConfig,
    /// How long SIGTERM waits for in-flight deliveries before exiting.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// The event store (`to store`, the store HTTP API). Default: SQLite at `<data>/store.db`.
    pub store: Option<switchboard_store::config::StoreConfig>,
    /// The periodic archiver inside `serve`; absent: no archiving (`archive: {}` enables the defaults).
    pub archive: Option<switchboard_archive::ArchiveConfig>,
    pub webhooks: WebhooksConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            rules: "rules".into(),
            transforms: "transforms".into(),
            data: "data".into(),
            kafka: None,
            http: HttpConfig::default(),
            pipeline: PipelineConfig::default(),
            reload: ReloadConfig::default(),
            shutdown_grace: Duration::from_secs(30),
            store: None,
            archive: None,
            webhooks: WebhooksConfig::default(),
        }
    }
}

/// The webhook outbox (`<data>/outbox`). Per-endpoint settings live on each rule's webhook target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Most deliveries the outbox holds; past it, batches are not acknowledged and are retried
    /// (back-pressure on the source) until partners catch up. Bounds the outbox index's memory,
    /// about 260 bytes a delivery.
    pub outbox_max_deliveries: usize,
    /// Threads of the dispatcher's own runtime (deliveries run apart from routing); 0 runs them
    /// on the gateway's runtime.
    pub threads: usize,
    /// A PEM file of CA certificates trusted for HTTPS partners besides the webpki roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            outbox_max_deliveries: switchboard_webhook::OutboxOptions::default().max_deliveries,
            threads: switchboard_webhook::DispatcherConfig::default().threads,
            ca_file: None,
        }
    }
}

impl WebhooksConfig {
    pub fn outbox_options(&self) -> switchboard_webhook::OutboxOptions {
        switchboard_webhook::OutboxOptions { max_deliveries: self.outbox_max_deliveries, ..Default::default() }
    }

    /// The dispatcher's configuration; reads `ca_file`. Attempts in flight at shutdown get the
    /// part of `shutdown_grace` left once the rest has stopped: 80% of it (so a 30 s grace gives
    /// them 24 s), the last 20% for recording their outcomes and flushing the producer.
    pub fn dispatcher_config(&self, shutdown_grace: Duration) -> Result<switchboard_webhook::DispatcherConfig, String> {
        let extra_root_certs = match &self.ca_file {
            None => Vec::new(),
            Some(path) => std::fs::read(path).map_err(|e| format!("webhooks.ca_file: cannot read {}: {e}", path.display()))?,
        };
        Ok(switchboard_webhook::DispatcherConfig {
            threads: self.threads,
            extra_root_certs,
            drain_timeout: shutdown_grace.mul_f64(0.8),
            ..Default::default()
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The consumer group.
    pub group_id: String,
    /// Input topics by name.
    pub topics: Vec<String>,
    /// Input topics by regex (librdkafka `^` subscription), in addition to `topics`.
    pub topic_pattern: Option<String>,
    /// Where `POST /events` produces in Kafka mode (default: the first input topic).
    pub ingest_topic: Option<String>,
    /// The dead-letter topic.
    pub dlq_topic: String,
    /// Extra librdkafka producer properties (override the defaults).
    pub producer: BTreeMap<String, String>,
    /// Extra librdkafka consumer properties (override the defaults).
    pub consumer: BTreeMap<String, String>,
    /// Messages in flight (consumed, not yet committed) before the consumer pauses.
    pub max_in_flight: usize,
    /// Batches being delivered at once (the next planned while earlier ones await acks);
    /// offsets are still stored strictly in order. Under load this is what keeps the producers'
    /// queues deep enough for full produce requests: a batch of 500 events spreads ~1,700
    /// messages over up to hundreds of partitions, a few per partition, and librdkafka sends
    /// one request per partition (docs/performance.md).
    pub batches_in_flight: usize,
    /// Producer instances, each with its own broker connections; a topic always goes through the
    /// same one (by a hash of its name), so per-partition order and idempotence hold.
    pub producers: usize,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "switchboard".into(),
            topics: vec!["events.in".into()],
            topic_pattern: None,
            ingest_topic: None,
            dlq_topic: "events.dlq".into(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
            max_in_flight: 5000,
            batches_in_flight: 64,
            producers: 4,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// When set, `POST /events` and `POST /-/reload` need `Authorization: Bearer <token>`.
    /// `${VAR}` reads the environment at start.
    pub auth_token: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { max_body_bytes: 1 << 20, auth_token: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Events with an eventId seen within this window are dropped as duplicates.
    #[serde(with = "humantime_serde")]
    pub dedup_window: Duration,
    /// At most this many eventIds are remembered (oldest forgotten first): bounded memory.
    pub dedup_capacity: usize,
    /// Events taken from the source per batch.
    pub batch_size: usize,
    /// How long the first message of a Kafka batch waits for more before the batch is started
    /// anyway (a full batch starts at once). `0s` starts a batch as soon as a message is
    /// buffered and a batch slot is free, which at a light load is one event per batch (more
    /// CPU, and a worse p99 than `1ms` on the benchmark: docs/configuration.md).
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
    /// The local bus topic HTTP ingestion appends to in embedded mode.
    pub ingest_topic: String,
    /// The local bus consumer group of the router in embedded mode.
    pub group: String,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            dedup_window: Duration::from_secs(600),
            dedup_capacity: 1_000_000,
            batch_size: 500,
            batch_linger: Duration::from_millis(5),
            ingest_topic: "events.ingest".into(),
            group: "switchboard".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Watch the rules and transforms directories.
    pub watch: bool,
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig { watch: true, debounce: Duration::from_millis(250) }
    }
}

/// Every problem found in a configuration, reported at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration{}:\n{}", .file.as_ref().map(|f| format!(" in {}", f.display())).unwrap_or_default(), .errors.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub errors: Vec<String>,
}

/// Overrides from the command line of `serve`.
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
}

impl Config {
    /// File (if any) → environment → flags, then validation.
    pub fn load(global: &GlobalArgs, overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = global.config_file();
        let mut config = match &file {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")).collect();
        config.apply_env(&env).map_err(|errors| ConfigError { file: file.clone(), errors })?;
        if let Some(v) = &global.rules {
            config.rules = v.clone();
        }
        if let Some(v) = &global.transforms {
            config.transforms = v.clone();
        }
        if let Some(v) = &global.data {
            config.data = v.clone();
        }
        if let Some(v) = &overrides.listen {
            config.listen = v.clone();
        }
        config.validate().map_err(|errors| ConfigError { file, errors })?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let fail = |e: String| ConfigError { file: Some(path.to_path_buf()), errors: vec![e] };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        Self::from_yaml(&text).map_err(fail)
    }

    pub fn from_yaml(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }

    /// `SWITCHBOARD_LISTEN`, `_RULES`, `_TRANSFORMS`, `_DATA`, `_KAFKA_BROKERS` (enables Kafka),
    /// `_KAFKA_GROUP`, `_KAFKA_TOPICS` (comma-separated), `_HTTP_AUTH_TOKEN`, `_SHUTDOWN_GRACE`.
    pub fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        for (key, value) in env {
            match key.as_str() {
                "SWITCHBOARD_LISTEN" => self.listen = value.clone(),
                "SWITCHBOARD_RULES" => self.rules = value.into(),
                "SWITCHBOARD_TRANSFORMS" => self.transforms = value.into(),
                "SWITCHBOARD_DATA" => self.data = value.into(),
                "SWITCHBOARD_KAFKA_BROKERS" => self.kafka.get_or_insert_with(KafkaConfig::default).brokers = value.clone(),
                "SWITCHBOARD_KAFKA_GROUP" => self.kafka.get_or_insert_with(KafkaConfig::default).group_id = value.clone(),
                "SWITCHBOARD_KAFKA_TOPICS" => {
                    self.kafka.get_or_insert_with(KafkaConfig::default).topics =
                        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
                }
                "SWITCHBOARD_HTTP_AUTH_TOKEN" => self.http.auth_token = Some(value.clone()),
                "SWITCHBOARD_SHUTDOWN_GRACE" => match humantime::parse_duration(value) {
                    Ok(d) => self.shutdown_grace = d,
                    Err(e) => errors.push(format!("SWITCHBOARD_SHUTDOWN_GRACE: {e}")),
                },
                // Variables read elsewhere (logging, tests) are not configuration.
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!("listen: {:?} is not an address like 127.0.0.1:8080", self.listen));
        }
        if self.http.max_body_bytes == 0 {
            errors.push("http.max_body_bytes: must be positive".into());
        }
        if self.pipeline.batch_size == 0 {
            errors.push("pipeline.batch_size: must be positive".into());
        }
        if self.pipeline.batch_linger > Duration::from_secs(10) {
            errors.push("pipeline.batch_linger: at most 10s (a batch's first event waits this long at a light load)".into());
        }
        if self.webhooks.outbox_max_deliveries == 0 {
            errors.push("webhooks.outbox_max_deliveries: must be positive".into());
        }
        if self.webhooks.threads > 256 {
            errors.push(format!("webhooks.threads: {} is more than 256", self.webhooks.threads));
        }
        if let Some(path) = &self.webhooks.ca_file {
            if let Err(e) = std::fs::metadata(path) {
                errors.push(format!("webhooks.ca_file: cannot read {}: {e}", path.display()));
            }
        }
        if self.pipeline.dedup_capacity == 0 {
            errors.push("pipeline.dedup_capacity: must be positive (use dedup_window: 0s to disable dedup)".into());
        }
        for (name, topic) in [("pipeline.ingest_topic", &self.pipeline.ingest_topic), ("pipeline.group", &self.pipeline.group)] {
            if !crate::bus::valid_topic_name(topic) {
                errors.push(format!("{name}: {topic:?} is not a valid topic name"));
            }
        }
        if let Some(k) = &self.kafka {
            if k.brokers.trim().is_empty() {
                errors.push("kafka.brokers: must not be empty".into());
            }
            if k.topics.is_empty() && k.topic_pattern.is_none() {
                errors.push("kafka: give `topics` or `topic_pattern`".into());
            }
            if let Some(p) = &k.topic_pattern {
                // librdkafka anchors the pattern at the start (`^`), as the consumer does.
                let anchored = if p.starts_with('^') { p.clone() } else { format!("^{p}") };
                match regex::Regex::new(&anchored) {
                    Err(e) => errors.push(format!("kafka.topic_pattern: {e}")),
                    // Consuming its own dead letters would turn one bad event into an endless
                    // chain of records, each wrapping the one before.
                    Ok(re) if re.is_match(&k.dlq_topic) => errors.push(format!(
                        "kafka.topic_pattern: {p:?} matches the DLQ topic {:?}; the gateway would consume its own dead letters",
                        k.dlq_topic
                    )),
                    Ok(_) => {}
                }
            }
            if k.topics.contains(&k.dlq_topic) {
                errors.push(format!("kafka.topics: holds the DLQ topic {:?}; the gateway would consume its own dead letters", k.dlq_topic));
            }
            if k.batches_in_flight == 0 {
                errors.push("kafka.batches_in_flight: must be positive".into());
            }
            if k.max_in_flight == 0 {
                errors.push("kafka.max_in_flight: must be positive".into());
            }
            if !(1..=64).contains(&k.producers) {
                errors.push("kafka.producers: must be between 1 and 64".into());
            }
        }
        if let Some(a) = &self.archive {
            errors.extend(a.problems());
            if let Err(e) = resolve_archive(a) {
                errors.extend(e);
            }
        }
        if let Some(token) = &self.http.auth_token {
            if let Err(e) = resolve_env_string(token) {
                errors.push(format!("http.auth_token: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The configured store, or the embedded default `<data>/store.db`.
    pub fn store_config(&self) -> switchboard_store::config::StoreConfig {
        self.store.clone().unwrap_or_else(|| switchboard_store::config::StoreConfig::sqlite_in(&self.data))
    }

    pub fn auth_token(&self) -> Option<String> {
        self.http.auth_token.as_deref().and_then(|t| resolve_env_string(t).ok())
    }
}

/// On Cassandra the archiver finds old events through the time index, whose rows expire after
/// `events_by_time_ttl_secs`: an event older than that is never found and never archived. So
/// the retention (plus the run interval, for `serve`'s periodic runs) must be shorter than the
/// TTL. The defaults (30 days each, both from the seed) do not fit together, which is why this
/// is an error rather than a warning: the fix is a shorter `archive.older_than`, a longer TTL, or
/// `events_by_time_ttl_secs: 0`. Checked where an archiver starts (`serve`, `archive run` with
/// its `--older-than`), not when the file is loaded: the other commands (and `archive run
/// --older-than 7d` itself) must still work with such a file.
pub fn archive_ttl_problem(
    store: &switchboard_store::config::StoreConfig,
    archive: &switchboard_archive::ArchiveConfig,
    every: Option<Duration>,
) -> Option<String> {
    let switchboard_store::config::StoreConfig::Scylla { events_by_time_ttl_secs, .. } = store else { return None };
    if *events_by_time_ttl_secs == 0 {
        return None;
    }
    let ttl = Duration::from_secs(*events_by_time_ttl_secs);
    let reach = archive.older_than.saturating_add(every.unwrap_or_default());
    (reach >= ttl).then(|| {
        let what = match every {
            Some(e) => format!("archive.older_than ({}) plus archive.every ({})", humantime::format_duration(archive.older_than), humantime::format_duration(e)),
            None => format!("the retention ({})", humantime::format_duration(archive.older_than)),
        };
        format!(
            "{what} must be shorter than store.events_by_time_ttl_secs ({}): the archiver finds old events through the time index, \
             whose rows expire first, so nothing would ever be archived (shorten archive.older_than, lengthen the TTL, or set it to 0)",
            humantime::format_duration(ttl)
        )
    })
}

/// The archive configuration with `${VAR}` in its S3 target's endpoint, bucket, region and keys
/// read from the environment (as `http.auth_token` and the rules' webhooks do), so that no
/// secret has to be written into the file. Errors name the field, never the value.
pub fn resolve_archive(archive: &switchboard_archive::ArchiveConfig) -> Result<switchboard_archive::ArchiveConfig, Vec<String>> {
    let mut resolved = archive.clone();
    let mut errors = Vec::new();
    if let switchboard_archive::TargetConfig::S3(s3) = &mut resolved.target {
        let mut one = |name: &str, value: &mut String| match resolve_env_string(value) {
            Ok(v) => *value = v,
            Err(e) => errors.push(format!("archive.target.{name}: {e}")),
        };
        one("bucket", &mut s3.bucket);
        one("region", &mut s3.region);
        for (name, value) in [("endpoint", &mut s3.endpoint), ("access_key_id", &mut s3.access_key_id), ("secret_access_key", &mut s3.secret_access_key)] {
            if let Some(v) = value {
                one(name, v);
            }
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// Replaces `${NAME}` and `${NAME:-fallback}` with the environment's value; an unset or empty
/// variable without a fallback is an error (the value itself is never in the message).
pub fn resolve_env_string(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // The text is not quoted: it is usually a secret (an auth token).
            return Err(format!("an unterminated `${{` at character {} (the value is not shown)", s.len() - rest.len() + start + 1));
        };
        let inner = &after[..end];
        let (name, fallback) = match inner.split_once(":-") {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        match (std::env::var(name).ok().filter(|v| !v.is_empty()), fallback) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(f)) => out.push_str(f),
            (None, None) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_embedded_default() {
        let c = Config::from_yaml("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.kafka.is_none());
        c.validate().unwrap();
    }

    #[test]
    fn the_archive_target_reads_variables_and_an_unset_one_is_named_not_shown() {
        std::env::set_var("SB_CONFIG_TEST_S3_SECRET", "s3cr3t-value");
        let c = Config::from_yaml(
            "archive:\n  target:\n    kind: s3\n    bucket: \"${SB_CONFIG_TEST_BUCKET:-cold}\"\n    access_key_id: k\n    secret_access_key: \"${SB_CONFIG_TEST_S3_SECRET}\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        let resolved = resolve_archive(c.archive.as_ref().unwrap()).unwrap();
        let switchboard_archive::TargetConfig::S3(s3) = &resolved.target else { panic!("an S3 target") };
        assert_eq!((s3.bucket.as_str(), s3.secret_access_key.as_deref()), ("cold", Some("s3cr3t-value")));
        let c = Config::from_yaml("archive:\n  target:\n    kind: s3\n    bucket: b\n    access_key_id: k\n    secret_access_key: \"${SB_CONFIG_TEST_UNSET_SECRET}\"\n").unwrap();
        let errors = c.validate().unwrap_err();
        assert_eq!(errors, ["archive.target.secret_access_key: environment variable SB_CONFIG_TEST_UNSET_SECRET is not set"]);
    }

    #[test]
    fn an_archive_retention_past_the_cassandra_time_index_ttl_is_an_error() {
        let cassandra = "store:\n  backend: scylla\n  nodes: [\"127.0.0.1:9042\"]\n  keyspace: k\n";
        let problem = |yaml: &str| {
            let c = Config::from_yaml(yaml).unwrap();
            // The file itself loads: only starting an archiver is refused.
            c.validate().unwrap();
            let a = c.archive.as_ref().unwrap();
            archive_ttl_problem(&c.store_config(), a, Some(a.every))
        };
        let p = problem(&format!("{cassandra}archive: {{}}\n")).expect("30d + 1h against a 30-day TTL");
        assert!(p.contains("must be shorter than store.events_by_time_ttl_secs (30days)"), "{p}");
        assert_eq!(problem(&format!("{cassandra}archive:\n  older_than: 29d\n")), None);
        assert_eq!(problem(&format!("{cassandra}  events_by_time_ttl_secs: 0\narchive: {{}}\n")), None);
        assert_eq!(problem("archive: {}\n"), None, "the embedded store has no TTL");
    }

    #[test]
    fn file_values_and_durations() {
        let c = Config::from_yaml(
            "listen: 0.0.0.0:9000\nshutdown_grace: 5s\nkafka:\n  brokers: k:9092\n  topics: [a, b]\npipeline:\n  dedup_window: 1h\n",
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert_eq!(c.pipeline.dedup_window, Duration::from_secs(3600));
        assert_eq!(c.kafka.unwrap().topics, vec!["a", "b"]);
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let c = Config::from_yaml(include_str!("../examples/switchboard.yaml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.webhooks.outbox_max_deliveries, 1_000_000);
    }

    #[test]
    fn the_webhook_outbox_limit_is_read_and_must_be_positive() {
        assert_eq!(Config::default().webhooks.outbox_options().max_deliveries, 1_000_000);
        let c = Config::from_yaml("webhooks:\n  outbox_max_deliveries: 5000\n").unwrap();
        assert_eq!(c.webhooks.outbox_options().max_deliveries, 5000);
        let c = Config::from_yaml("webhooks:\n  outbox_max_deliveries: 0\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), vec!["webhooks.outbox_max_deliveries: must be positive".to_string()]);
    }

    #[test]
    fn webhook_threads_and_ca_file_reach_the_dispatcher() {
        let defaults = Config::default().webhooks.dispatcher_config(Duration::from_secs(30)).unwrap();
        assert_eq!((defaults.threads, defaults.extra_root_certs.len()), (1, 0));
        assert_eq!(defaults.drain_timeout, Duration::from_secs(24), "80% of shutdown_grace");
        let c = Config::from_yaml("shutdown_grace: 60s\n").unwrap();
        assert_eq!(c.webhooks.dispatcher_config(c.shutdown_grace).unwrap().drain_timeout, Duration::from_secs(48));
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let c = Config::from_yaml(&format!("webhooks:\n  threads: 0\n  ca_file: {}\n", ca.display())).unwrap();
        c.validate().unwrap();
        let d = c.webhooks.dispatcher_config(c.shutdown_grace).unwrap();
        assert_eq!(d.threads, 0);
        assert_eq!(d.extra_root_certs, b"-----BEGIN CERTIFICATE-----\n");
        let c = Config::from_yaml("webhooks:\n  ca_file: /nonexistent/ca.pem\n  threads: 1000\n").unwrap();
        let errors = c.validate().unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("webhooks.ca_file: cannot read /nonexistent/ca.pem")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("webhooks.threads:")), "{errors:?}");
        assert!(c.webhooks.dispatcher_config(c.shutdown_grace).is_err());
    }

    #[test]
    fn unknown_keys_are_refused_with_a_location() {
        let err = Config::from_yaml("listen: 1.2.3.4:1\nlisten_addr: x\n").unwrap_err();
        assert!(err.contains("listen_addr"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn batch_linger_defaults_to_5ms_takes_zero_and_is_bounded() {
        assert_eq!(Config::from_yaml("{}").unwrap().pipeline.batch_linger, Duration::from_millis(5));
        let c = Config::from_yaml("pipeline:\n  batch_linger: 0s\n").unwrap();
        assert_eq!(c.pipeline.batch_linger, Duration::ZERO);
        c.validate().unwrap();
        let errors = Config::from_yaml("pipeline:\n  batch_linger: 1m\n").unwrap().validate().unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("pipeline.batch_linger: at most 10s")), "{errors:?}");
    }

    #[test]
    fn every_error_is_reported() {
        let mut c = Config::from_yaml("listen: nowhere\npipeline:\n  batch_size: 0\n").unwrap();
        c.kafka = Some(KafkaConfig { topics: vec![], topic_pattern: Some("(".into()), ..KafkaConfig::default() });
        let errs = c.validate().unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
    #[test]
    fn the_input_topics_must_not_include_the_dlq_topic() {
        let mut c = Config::default();
        c.kafka = Some(KafkaConfig { topics: vec![], topic_pattern: Some("events\\..*".into()), ..KafkaConfig::default() });
        let errors = c.validate().unwrap_err();
        assert!(errors.iter().any(|e| e.contains("matches the DLQ topic \"events.dlq\"")), "{errors:?}");
        c.kafka = Some(KafkaConfig { topics: vec!["in".into(), "events.dlq".into()], ..KafkaConfig::default() });
        let errors = c.validate().unwrap_err();
        assert!(errors.iter().any(|e| e.contains("kafka.topics: holds the DLQ topic")), "{errors:?}");
        c.kafka = Some(KafkaConfig { topics: vec!["in".into()], topic_pattern: Some("events\\.in\\..*".into()), ..KafkaConfig::default() });
        assert!(c.validate().is_ok(), "{:?}", c.validate());
    }


    #[test]
    fn environment_overrides() {
        let mut c = Config::default();
        let env: BTreeMap<String, String> = [
            ("SWITCHBOARD_KAFKA_BROKERS", "b1:9092"),
            ("SWITCHBOARD_KAFKA_TOPICS", "x, y"),
            ("SWITCHBOARD_LISTEN", "127.0.0.1:1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        c.apply_env(&env).unwrap();
        let k = c.kafka.as_ref().unwrap();
        assert_eq!((k.brokers.as_str(), k.topics.clone()), ("b1:9092", vec!["x".to_string(), "y".to_string()]));
        assert_eq!(c.listen, "127.0.0.1:1");
    }

    #[test]
    fn env_strings_resolve_with_fallbacks() {
        std::env::set_var("SB_TEST_CFG_TOKEN", "s3cret");
        assert_eq!(resolve_env_string("Bearer ${SB_TEST_CFG_TOKEN}").unwrap(), "Bearer s3cret");
        assert_eq!(resolve_env_string("${SB_TEST_CFG_UNSET:-dev}").unwrap(), "dev");
        let err = resolve_env_string("${SB_TEST_CFG_UNSET}").unwrap_err();
        assert!(err.contains("SB_TEST_CFG_UNSET"));
    }
}

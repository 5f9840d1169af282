//! The archiver's configuration, as it appears under `archive:` in switchboard.yaml.
//!
//! Everything has a default, so an empty `archive: {}` archives events older than 30 days to
//! `<data>/archive/` in batches of 10,000. Durations are written the human way ("30d", "12h",
//! "90s").
//!
//! ```yaml
//! archive:
//!   older_than: 30d        # events whose eventTime is older than this are archived
//!   every: 1h              # how often `serve` runs the archiver
//!   batch_size: 10000      # events per object
//!   prefix: events         # object names start with this
//!   target:
//!     kind: s3             # or `local` (the default) with an optional `dir`
//!     endpoint: http://127.0.0.1:9000
//!     bucket: switchboard-archive
//!     region: us-east-1
//!     access_key_id: ...   # when absent, AWS_ACCESS_KEY_ID and friends are used
//!     secret_access_key: ...
//!     allow_http: true     # plain HTTP, for a loopback test server only
//! ```
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};

/// Parses a human duration ("30d", "12h", "1h 30m"); the form every duration in this config and
/// on the command line uses.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}` is not a duration like 30d or 12h: {e}"))
}

/// (De)serializes a `Duration` as humantime text, so YAML reads `older_than: 30d`.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// The archiver's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Events whose eventTime is older than now minus this are archived (default 30d).
    #[serde(with = "duration_text")]
    pub older_than: Duration,
    /// How often `serve` runs the archiver (default 1h). `archive run` ignores it.
    #[serde(with = "duration_text")]
    pub every: Duration,
    /// Events per archived object (default 10,000). Larger objects mean fewer requests and a
    /// better compression ratio, but more memory per batch and more work redone after a crash.
    pub batch_size: usize,
    /// The first segment of every object name (default `events`).
    pub prefix: String,
    /// zstd compression level, 1 (fastest) to 19 (default 3, zstd's own default).
    pub compression_level: i32,
    /// Where the objects go.
    pub target: TargetConfig,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            older_than: Duration::from_secs(30 * 24 * 3600),
            every: Duration::from_secs(3600),
            batch_size: 10_000,
            prefix: "events".to_string(),
            compression_level: 3,
            target: TargetConfig::default(),
        }
    }
}

impl ArchiveConfig {
    /// Every problem of the configuration at once (empty when it is valid).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.batch_size == 0 {
            problems.push("archive.batch_size must be at least 1".to_string());
        }
        if !(1..=19).contains(&self.compression_level) {
            problems.push(format!("archive.compression_level must be 1..=19, not {}", self.compression_level));
        }
        if self.every.is_zero() {
            problems.push("archive.every must be longer than zero".to_string());
        }
        let prefix_ok = !self.prefix.is_empty()
            && !self.prefix.starts_with('/')
            && !self.prefix.ends_with('/')
            && self.prefix.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        if !prefix_ok {
            problems.push(format!("archive.prefix `{}` must be a relative path like `events` or `sb/events`", self.prefix));
        }
        if let TargetConfig::S3(s3) = &self.target {
            if s3.bucket.trim().is_empty() {
                problems.push("archive.target.bucket is required for kind: s3".to_string());
            }
            if s3.access_key_id.is_some() != s3.secret_access_key.is_some() {
                problems.push("archive.target: give both access_key_id and secret_access_key, or neither".to_string());
            }
        }
        problems
    }

    /// `Ok` when [`problems`](Self::problems) is empty, else one error listing them all.
    pub fn validate(&self) -> Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ArchiveError::Config(problems.join("; ")))
        }
    }
}

/// Where archived objects are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetConfig {
    /// A local directory (default `<data>/archive`): the embedded, no-services setup.
    Local {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<PathBuf>,
    },
    /// An S3-compatible object store.
    S3(S3Config),
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig::Local { dir: None }
    }
}

/// An S3-compatible bucket. Fields left out fall back to the standard AWS environment variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// The endpoint URL for S3-compatible servers (MinIO, s3s-fs, ...); absent for AWS itself.
    /// Requests use path-style addressing when an endpoint is given.
    pub endpoint: Option<String>,
    pub bucket: String,
    /// Default `us-east-1`.
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow plain `http://` endpoints. Off by default: only for a server on loopback.
    pub allow_http: bool,
    /// Retries of one failed request (default 3) before the run fails.
    pub max_retries: usize,
    /// Give up on one request after this long (default 30s).
    #[serde(with = "duration_text")]
    pub timeout: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            bucket: String::new(),
            region: "us-east-1".to_string(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            max_retries: 3,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Never prints the secret key (configs end up in logs).
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("allow_http", &self.allow_http)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_yaml_like_json(text: &str) -> ArchiveConfig {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn empty_config_means_the_documented_defaults() {
        let config = from_yaml_like_json("{}");
        assert_eq!(config, ArchiveConfig::default());
        assert_eq!(config.older_than, Duration::from_secs(30 * 86_400));
        assert_eq!(config.target, TargetConfig::Local { dir: None });
        assert!(config.problems().is_empty());
    }

    #[test]
    fn s3_target_with_human_durations() {
        let config = from_yaml_like_json(
            r#"{"older_than": "7d", "batch_size": 500,
                "target": {"kind": "s3", "endpoint": "http://127.0.0.1:9000", "bucket": "b",
                           "access_key_id": "k", "secret_access_key": "s", "allow_http": true, "timeout": "5s"}}"#,
        );
        assert_eq!(config.older_than, Duration::from_secs(7 * 86_400));
        let TargetConfig::S3(s3) = &config.target else { panic!("expected s3, got {:?}", config.target) };
        assert_eq!(s3.bucket, "b");
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(s3.timeout, Duration::from_secs(5));
        assert!(!format!("{s3:?}").contains("\"s\""), "the secret must not be printed");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_reported_together() {
        assert!(serde_json::from_str::<ArchiveConfig>(r#"{"older_then": "7d"}"#).is_err());
        assert!(serde_json::from_str::<ArchiveConfig>(r#"{"target": {"kind": "s3", "bukket": "x"}}"#).is_err());
        let config = ArchiveConfig {
            batch_size: 0,
            prefix: "/abs".into(),
            target: TargetConfig::S3(S3Config { access_key_id: Some("k".into()), ..S3Config::default() }),
            ..ArchiveConfig::default()
        };
        let problems = config.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_documented_yaml_example_parses() {
        let yaml = "
older_than: 30d
every: 1h
batch_size: 10000
prefix: events
target:
  kind: s3
  endpoint: http://127.0.0.1:9000
  bucket: switchboard-archive
  region: us-east-1
  access_key_id: key
  secret_access_key: secret
  allow_http: true
";
        let config: ArchiveConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let TargetConfig::S3(s3) = config.target else { panic!("expected s3") };
        assert_eq!((s3.endpoint.as_deref(), s3.allow_http), (Some("http://127.0.0.1:9000"), true));
        let local: ArchiveConfig = serde_yaml_ng::from_str("target: {kind: local, dir: /var/archive}").unwrap();
        assert_eq!(local.target, TargetConfig::Local { dir: Some("/var/archive".into()) });
    }

    #[test]
    fn durations_round_trip_as_text() {
        let text = serde_json::to_string(&ArchiveConfig::default()).unwrap();
        assert!(text.contains("\"older_than\":\"30days\""), "{text}");
        assert_eq!(serde_json::from_str::<ArchiveConfig>(&text).unwrap(), ArchiveConfig::default());
        assert!(parse_duration("soon").is_err());
    }
}

//! The object store the archive lives in: a local directory or an S3 bucket, both through the
//! `object_store` crate, with a human description of where it is for every error message.
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};

use crate::config::{S3Config, TargetConfig};
use crate::error::{cause_chain, ArchiveError, Result};

/// An object store plus where it is ("local directory data/archive", "s3://bucket at http://…").
#[derive(Clone)]
pub struct ObjectTarget {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl std::fmt::Debug for ObjectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl std::fmt::Display for ObjectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl ObjectTarget {
    /// The target a config names; a local target without `dir` uses `<data_dir>/archive`.
    pub fn from_config(config: &TargetConfig, data_dir: &Path) -> Result<Self> {
        match config {
            TargetConfig::Local { dir } => match dir {
                Some(dir) => Self::local(dir),
                None => Self::local(&data_dir.join("archive")),
            },
            TargetConfig::S3(s3) => Self::s3(s3),
        }
    }

    /// A local directory, created when missing. Writes go to a temporary file renamed into
    /// place, so a crash never leaves half an object under its final name.
    pub fn local(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ArchiveError::Config(format!("creating archive directory {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| ArchiveError::Config(format!("archive directory {}: {}", dir.display(), cause_chain(&e))))?;
        Ok(ObjectTarget { store: Arc::new(store), description: format!("local directory {}", dir.display()) })
    }

    /// An S3 bucket. Bounded retries and a request timeout keep a dead server from stalling a
    /// run for minutes (object_store's own default retries for up to three minutes).
    pub fn s3(config: &S3Config) -> Result<Self> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&config.bucket).with_region(&config.region);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder.with_access_key_id(key).with_secret_access_key(secret);
        }
        let retry = RetryConfig {
            max_retries: config.max_retries,
            retry_timeout: config.timeout,
            ..RetryConfig::default()
        };
        let client = ClientOptions::new()
            .with_allow_http(config.allow_http)
            .with_timeout(config.timeout)
            .with_connect_timeout(config.timeout.min(std::time::Duration::from_secs(5)));
        let store = builder
            .with_retry(retry)
            .with_client_options(client)
            .build()
            .map_err(|e| ArchiveError::Config(format!("S3 bucket `{}`: {}", config.bucket, cause_chain(&e))))?;
        let description = match &config.endpoint {
            Some(endpoint) => format!("s3://{} at {}", config.bucket, crate::error::redact_userinfo(endpoint)),
            None => format!("s3://{}", config.bucket),
        };
        Ok(ObjectTarget { store: Arc::new(store), description })
    }

    /// Any other object store (tests, or a backend the config does not name yet).
    pub fn from_store(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Self {
        ObjectTarget { store, description: description.into() }
    }

    fn error(&self, op: &'static str, key: &str, err: object_store::Error) -> ArchiveError {
        ArchiveError::ObjectStore { target: self.description.clone(), op, key: key.to_string(), detail: cause_chain(&err) }
    }

    fn path(&self, key: &str) -> Result<ObjectPath> {
        ObjectPath::parse(key).map_err(|e| self.error("naming", key, e.into()))
    }

    /// Writes (or overwrites) one whole object.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(key)?;
        self.store.put(&path, PutPayload::from_bytes(bytes)).await.map_err(|e| self.error("uploading", key, e))?;
        Ok(())
    }

    /// Reads one whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        let result = self.store.get(&path).await.map_err(|e| self.error("downloading", key, e))?;
        result.bytes().await.map_err(|e| self.error("downloading", key, e))
    }
}

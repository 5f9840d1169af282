//! The store's section of the gateway config, and opening the backend it names, so that the
//! gateway's config and `serve` need one type and one call: `StoreConfig` -> `Arc<dyn EventStore>`.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::scylla::{Replication, ScyllaOptions, ScyllaStore};
use crate::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::{EventStore, Result, StoreError};

/// `backend = "sqlite"` (default, embedded) or `backend = "scylla"` (ScyllaDB or Cassandra).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StoreConfig {
    Sqlite {
        path: PathBuf,
        /// `full` (default: every commit fsynced) or `normal` (see docs/event-store.md).
        #[serde(default)]
        synchronous: SyncMode,
    },
    Scylla {
        #[serde(default = "default_nodes")]
        nodes: Vec<String>,
        #[serde(default = "default_keyspace")]
        keyspace: String,
        /// SimpleStrategy with this factor, unless `datacenters` is given.
        #[serde(default = "one")]
        replication_factor: u32,
        /// NetworkTopologyStrategy: datacenter name -> replicas.
        #[serde(default)]
        datacenters: Vec<(String, u32)>,
        /// Must be true on ScyllaDB (LWT needs a keyspace without tablets), false on Cassandra.
        #[serde(default)]
        disable_tablets: bool,
        /// TTL of the time index in seconds; 0 keeps it forever. Default 30 days.
        #[serde(default = "default_ttl_secs")]
        events_by_time_ttl_secs: u64,
        /// Sequences per partition; fixed per keyspace. Default 10,000.
        #[serde(default = "default_bucket")]
        bucket_size: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Full,
    Normal,
}

fn default_nodes() -> Vec<String> {
    vec!["127.0.0.1:9042".into()]
}
fn default_keyspace() -> String {
    "switchboard".into()
}
fn one() -> u32 {
    1
}
fn default_ttl_secs() -> u64 {
    30 * 24 * 3600
}
fn default_bucket() -> u64 {
    10_000
}

impl StoreConfig {
    /// The embedded default: `<data_dir>/store.db` (the gateway's), synchronous FULL.
    pub fn sqlite_in(data_dir: &std::path::Path) -> Self {
        StoreConfig::Sqlite { path: data_dir.join("store.db"), synchronous: SyncMode::Full }
    }

    /// Opens the configured backend (creating the SQLite file or the Cassandra schema if missing).
    pub async fn open(&self) -> Result<Arc<dyn EventStore>> {
        match self {
            StoreConfig::Sqlite { path, synchronous } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
                }
                let synchronous = match synchronous {
                    SyncMode::Full => Synchronous::Full,
                    SyncMode::Normal => Synchronous::Normal,
                };
                Ok(Arc::new(SqliteStore::open(path, SqliteOptions { synchronous, ..SqliteOptions::default() })?))
            }
            StoreConfig::Scylla {
                nodes,
                keyspace,
                replication_factor,
                datacenters,
                disable_tablets,
                events_by_time_ttl_secs,
                bucket_size,
            } => {
                let replication = if datacenters.is_empty() {
                    Replication::Simple { replication_factor: *replication_factor }
                } else {
                    Replication::NetworkTopology(datacenters.clone())
                };
                let opts = ScyllaOptions {
                    nodes: nodes.clone(),
                    keyspace: keyspace.clone(),
                    replication,
                    disable_tablets: *disable_tablets,
                    events_by_time_ttl: (*events_by_time_ttl_secs > 0).then(|| Duration::from_secs(*events_by_time_ttl_secs)),
                    bucket_size: *bucket_size,
                    ..ScyllaOptions::default()
                };
                Ok(Arc::new(ScyllaStore::connect(opts).await?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends_with_defaults() {
        let s: StoreConfig = serde_json::from_str(r#"{"backend": "sqlite", "path": "state/events.db"}"#).unwrap();
        assert_eq!(s, StoreConfig::Sqlite { path: "state/events.db".into(), synchronous: SyncMode::Full });
        let c: StoreConfig = serde_json::from_str(r#"{"backend": "scylla", "disable_tablets": true}"#).unwrap();
        match c {
            StoreConfig::Scylla { nodes, keyspace, disable_tablets, bucket_size, events_by_time_ttl_secs, .. } => {
                assert_eq!(nodes, ["127.0.0.1:9042"]);
                assert_eq!(keyspace, "switchboard");
                assert!(disable_tablets);
                assert_eq!((bucket_size, events_by_time_ttl_secs), (10_000, 2_592_000));
            }
            other => panic!("{other:?}"),
        }
        assert!(serde_json::from_str::<StoreConfig>(r#"{"backend": "postgres"}"#).is_err());
    }

    #[tokio::test]
    async fn opens_sqlite_creating_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::sqlite_in(&dir.path().join("state")).open().await.unwrap();
        assert!(store.read("a", 1, 1).await.unwrap().is_empty());
        assert!(dir.path().join("state/store.db").exists());
    }
}

//! One archive run: the events older than a cutoff leave the hot store for the object store,
//! batch by batch, and none is deleted before its object is verified and indexed.
//!
//! Per batch (at most `batch_size` events, the oldest first, in the store's time order):
//!
//! 1. read the oldest events before the cutoff;
//! 2. encode them (zstd JSON Lines) under their deterministic name;
//! 3. upload, then read the object back and compare size and checksum;
//! 4. record the object in the archive index (skipped when a crashed earlier run already did);
//! 5. delete exactly those events from the hot store.
//!
//! A crash between any two steps loses nothing: until step 5 the events are still in the hot
//! store, and the rerun reads the same batch, so it recomputes the same name and overwrites the
//! earlier upload. An object uploaded but never indexed is ignored by restores (they go by the
//! index); restores also drop an event that two indexed objects both hold, which can only
//! happen when a store deleted part of a batch before a crash.
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_store::{ArchiveEntry, EventKey, EventStore, StoredEvent};

use crate::config::ArchiveConfig;
use crate::error::{ArchiveError, Result};
use crate::format;
use crate::progress::Progress;
use crate::target::ObjectTarget;

/// Moves old events to an object store and reads them back.
#[derive(Debug, Clone)]
pub struct Archiver {
    pub(crate) target: ObjectTarget,
    older_than: Duration,
    batch_size: usize,
    prefix: String,
    compression_level: i32,
    pub(crate) progress: Progress,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Events archived and deleted from the hot store.
    pub events: u64,
    /// Objects written (one per batch).
    pub objects: u64,
    /// JSON Lines bytes before compression.
    pub uncompressed_bytes: u64,
    /// Bytes written to the object store.
    pub compressed_bytes: u64,
    /// Batches whose object a crashed earlier run had already indexed (rewritten, not re-indexed).
    pub already_indexed: u64,
}

/// A point a run has just passed; a step hook sees each and may stop the run there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// The object is uploaded and verified; nothing is indexed or deleted yet.
    Uploaded { batch: u64, key: &'a str },
    /// The object is in the archive index; its events are still in the hot store.
    Recorded { batch: u64, key: &'a str },
    /// The batch's events are deleted from the hot store.
    Deleted { batch: u64, key: &'a str, count: usize },
}

impl std::fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Uploaded { batch, key } => write!(f, "uploading batch {batch} ({key})"),
            Step::Recorded { batch, key } => write!(f, "indexing batch {batch} ({key})"),
            Step::Deleted { batch, key, count } => write!(f, "deleting the {count} events of batch {batch} ({key})"),
        }
    }
}

/// Called after every [`Step`]; `Break` stops the run right there with
/// [`ArchiveError::Interrupted`], leaving exactly what a process killed at that point leaves.
pub type StepHook<'h> = &'h mut (dyn FnMut(&Step<'_>) -> ControlFlow<()> + Send);

impl Archiver {
    /// An archiver writing to `target` with the settings of `config` (its `target` field is
    /// not used: the caller built `target`, see [`Archiver::from_config`]).
    pub fn new(target: ObjectTarget, config: &ArchiveConfig) -> Result<Self> {
        config.validate()?;
        Ok(Archiver {
            target,
            older_than: config.older_than,
            batch_size: config.batch_size,
            prefix: config.prefix.clone(),
            compression_level: config.compression_level,
            progress: Progress::default(),
        })
    }

    /// The archiver a config describes; a local target without `dir` is `<data_dir>/archive`.
    pub fn from_config(config: &ArchiveConfig, data_dir: &Path) -> Result<Self> {
        config.validate()?;
        let target = ObjectTarget::from_config(&config.target, data_dir)?;
        Self::new(target, config)
    }

    /// Reports progress this way (default: log lines).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Where the objects go.
    pub fn target(&self) -> &ObjectTarget {
        &self.target
    }

    /// The cutoff for a run at `now`: events older than this are archived.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::TimeDelta::from_std(self.older_than)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Archives every event with eventTime before `cutoff`. Safe to rerun after a crash or an
    /// error at any point, and safe to run while events are appended.
    pub async fn run_once(&self, store: &dyn EventStore, cutoff: DateTime<Utc>) -> Result<ArchiveReport> {
        self.run_once_with(store, cutoff, &mut |_| ControlFlow::Continue(())).await
    }

    /// [`run_once`](Self::run_once) with a hook called after each step (crash tests, progress
    /// of one's own, stopping between batches).
    pub async fn run_once_with(
        &self,
        store: &dyn EventStore,
        cutoff: DateTime<Utc>,
        hook: StepHook<'_>,
    ) -> Result<ArchiveReport> {
        // Names already indexed, with their checksums: a crashed run may have indexed a batch
        // without deleting it, and the rerun must neither index it twice nor overwrite an
        // indexed object with different content.
        let indexed: HashMap<String, String> =
            store.list_archives().await?.into_iter().map(|e| (e.object_key, e.checksum)).collect();
        let mut report = ArchiveReport::default();
        let mut phase = self.progress.start("archiving", None);
        let mut previous_first: Option<EventKey> = None;
        loop {
            let events = store.read_by_time(DateTime::<Utc>::MIN_UTC, cutoff, None, self.batch_size).await?;
            let (Some(first), Some(key)) = (events.first(), format::object_key(&self.prefix, &events)) else { break };
            let first_key = EventKey { aggregate_id: first.aggregate_id.clone(), sequence: first.sequence };
            if previous_first.as_ref() == Some(&first_key) {
                return Err(ArchiveError::DeleteIneffective {
                    aggregate_id: first_key.aggregate_id,
                    sequence: first_key.sequence,
                });
            }
            let batch = report.objects + 1;
            let encoded = format::encode(&events, self.compression_level)?;
            let already_indexed = match indexed.get(&key) {
                Some(checksum) if *checksum != encoded.checksum => {
                    return Err(ArchiveError::KeyCollision {
                        key,
                        indexed: checksum.clone(),
                        computed: encoded.checksum,
                    });
                }
                Some(_) => true,
                None => false,
            };

            self.target.put(&key, encoded.bytes.clone()).await?;
            self.verify(&key, encoded.bytes.len() as u64, &encoded.checksum).await?;
            step(hook, Step::Uploaded { batch, key: &key })?;

            if !already_indexed {
                store.record_archive(index_entry(&key, &encoded, &events)).await?;
            }
            step(hook, Step::Recorded { batch, key: &key })?;

            let keys: Vec<EventKey> =
                events.iter().map(|e| EventKey { aggregate_id: e.aggregate_id.clone(), sequence: e.sequence }).collect();
            store.delete(&keys).await?;
            step(hook, Step::Deleted { batch, key: &key, count: keys.len() })?;

            report.events += events.len() as u64;
            report.objects += 1;
            report.uncompressed_bytes += encoded.uncompressed_len;
            report.compressed_bytes += encoded.bytes.len() as u64;
            report.already_indexed += u64::from(already_indexed);
            phase.advance(events.len() as u64, encoded.bytes.len() as u64, &key);
            previous_first = Some(first_key);
        }
        phase.finish();
        Ok(report)
    }

    /// Reads the object back and compares it with what was uploaded: a store that acknowledged
    /// a write it did not keep (or kept truncated) must never cost the events.
    async fn verify(&self, key: &str, size: u64, checksum: &str) -> Result<()> {
        let back = self.target.get(key).await.map_err(|e| ArchiveError::Verify {
            target: self.target.to_string(),
            key: key.to_string(),
            detail: e.to_string(),
        })?;
        let detail = if back.len() as u64 != size {
            format!("read back {} bytes, uploaded {size}", back.len())
        } else {
            let read = format::checksum(&back);
            if read == checksum {
                return Ok(());
            }
            format!("read back checksum {read}, uploaded {checksum}")
        };
        Err(ArchiveError::Verify { target: self.target.to_string(), key: key.to_string(), detail })
    }
}

fn step(hook: StepHook<'_>, step: Step<'_>) -> Result<()> {
    match hook(&step) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(ArchiveError::Interrupted(step.to_string())),
    }
}

/// The index entry of one batch: its time window and each aggregate's sequence range.
fn index_entry(key: &str, encoded: &format::Encoded, events: &[StoredEvent]) -> ArchiveEntry {
    let mut ranges: Vec<(String, u64, u64)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for event in events {
        match position.get(event.aggregate_id.as_str()).and_then(|&i| ranges.get_mut(i)) {
            Some(range) => {
                range.1 = range.1.min(event.sequence);
                range.2 = range.2.max(event.sequence);
            }
            None => {
                position.insert(&event.aggregate_id, ranges.len());
                ranges.push((event.aggregate_id.clone(), event.sequence, event.sequence));
            }
        }
    }
    // Time order is the store's order; min/max guard against a store that breaks ties oddly.
    let first_time = events.iter().map(|e| e.event_time).min().unwrap_or(DateTime::<Utc>::MIN_UTC);
    let last_time = events.iter().map(|e| e.event_time).max().unwrap_or(DateTime::<Utc>::MIN_UTC);
    ArchiveEntry {
        object_key: key.to_string(),
        checksum: encoded.checksum.clone(),
        size_bytes: encoded.bytes.len() as u64,
        count: events.len() as u64,
        first_time,
        last_time,
        aggregates: ranges,
        archived_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use switchboard_store::sqlite::{SqliteOptions, SqliteStore};

    fn event(aggregate: &str, sequence: u64, second: u32) -> StoredEvent {
        StoredEvent {
            aggregate_id: aggregate.into(),
            sequence,
            event_id: format!("{aggregate}-{sequence}"),
            event_type: "t".into(),
            event_time: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).unwrap(),
            payload: json!({}),
        }
    }

    #[test]
    fn index_entry_holds_each_aggregates_range_and_the_window() {
        let events = vec![event("a", 3, 1), event("b", 1, 2), event("a", 4, 3), event("a", 5, 9)];
        let encoded = format::encode(&events, 3).unwrap();
        let entry = index_entry("k", &encoded, &events);
        assert_eq!(entry.aggregates, vec![("a".to_string(), 3, 5), ("b".to_string(), 1, 1)]);
        assert_eq!((entry.count, entry.size_bytes), (4, encoded.bytes.len() as u64));
        assert_eq!((entry.first_time, entry.last_time), (events[0].event_time, events[3].event_time));
        assert_eq!(entry.checksum, encoded.checksum);
    }

    #[test]
    fn cutoff_is_now_minus_older_than_and_saturates() {
        let dir = tempfile::tempdir().unwrap();
        let config = ArchiveConfig { older_than: Duration::from_secs(86_400), ..ArchiveConfig::default() };
        let archiver = Archiver::from_config(&config, dir.path()).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
        assert_eq!(archiver.cutoff(now), Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
        let forever = ArchiveConfig { older_than: Duration::MAX, ..ArchiveConfig::default() };
        assert_eq!(Archiver::from_config(&forever, dir.path()).unwrap().cutoff(now), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn an_invalid_config_builds_no_archiver() {
        let dir = tempfile::tempdir().unwrap();
        let err = Archiver::from_config(&ArchiveConfig { batch_size: 0, ..ArchiveConfig::default() }, dir.path()).unwrap_err();
        assert!(err.to_string().contains("batch_size"), "{err}");
    }

    /// `serve` spawns runs on the tokio runtime, which needs the future to be Send.
    #[test]
    fn a_run_is_a_send_future() {
        fn assert_send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db"), SqliteOptions::default()).unwrap();
        let archiver = Archiver::from_config(&ArchiveConfig::default(), dir.path()).unwrap();
        let run = archiver.run_once(&store, Utc::now());
        assert_send(&run);
        let restore = archiver.restore(&store, crate::RestoreFilter::default());
        assert_send(&restore);
    }
}

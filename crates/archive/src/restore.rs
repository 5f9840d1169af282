//! Reading the archive back: as a stream of events in time order, as JSON Lines, into an event
//! store, or merged with the hot store for one aggregate (`--include-archive`).
//!
//! A restore goes by the archive index, never by listing the bucket, so an object uploaded by a
//! run that crashed before indexing it is never read. Objects are read in groups whose time
//! windows overlap (usually one object per group): within a group events are sorted into the
//! store's order (time, aggregate, sequence) and an event held by two objects is kept once, so
//! the output is in time order and without duplicates while memory stays bounded by a group.
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;

use chrono::{DateTime, Utc};
use switchboard_store::{ArchiveEntry, EventStore, StoreError, StoredEvent};

use crate::archiver::Archiver;
use crate::error::{ArchiveError, Result};
use crate::format;
use crate::progress::Phase;
use crate::target::ObjectTarget;

/// Which archived events a restore reads: `from <= eventTime < to`, optionally one aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreFilter {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub aggregate: Option<String>,
}

impl Default for RestoreFilter {
    /// Everything in the archive.
    fn default() -> Self {
        RestoreFilter { from: DateTime::<Utc>::MIN_UTC, to: DateTime::<Utc>::MAX_UTC, aggregate: None }
    }
}

impl RestoreFilter {
    /// Every archived event of one aggregate.
    pub fn aggregate(aggregate_id: &str) -> Self {
        RestoreFilter { aggregate: Some(aggregate_id.to_string()), ..RestoreFilter::default() }
    }

    fn admits_object(&self, entry: &ArchiveEntry) -> bool {
        entry.first_time < self.to
            && entry.last_time >= self.from
            && self.aggregate.as_ref().is_none_or(|a| entry.aggregates.iter().any(|(id, _, _)| id == a))
    }

    fn admits(&self, event: &StoredEvent) -> bool {
        event.event_time >= self.from
            && event.event_time < self.to
            && self.aggregate.as_ref().is_none_or(|a| *a == event.aggregate_id)
    }
}

/// What [`Archiver::restore_into_store`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Events written into the store.
    pub restored: u64,
    /// Events the store already held (a second restore finds all of them there).
    pub already_present: u64,
}

/// A restore in progress: pull batches of events, in time order, with `next_batch`.
pub struct RestoreCursor {
    target: ObjectTarget,
    filter: RestoreFilter,
    groups: VecDeque<Vec<ArchiveEntry>>,
    total_hint: u64,
    phase: Option<Phase>,
}

impl RestoreCursor {
    /// Objects still to read.
    pub fn objects_left(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    /// Events in the matching objects: an upper bound on what the restore yields.
    pub fn total_hint(&self) -> u64 {
        self.total_hint
    }

    /// The next events in time order (never an empty batch), or None at the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<StoredEvent>>> {
        while let Some(group) = self.groups.pop_front() {
            let mut events = Vec::new();
            let mut bytes = 0;
            for entry in &group {
                let object = self.target.get(&entry.object_key).await?;
                let checksum = format::checksum(&object);
                if object.len() as u64 != entry.size_bytes || checksum != entry.checksum {
                    return Err(ArchiveError::Corrupt {
                        key: entry.object_key.clone(),
                        detail: format!(
                            "{} bytes with checksum {checksum}, the index recorded {} bytes with {}",
                            object.len(),
                            entry.size_bytes,
                            entry.checksum
                        ),
                    });
                }
                bytes += object.len() as u64;
                events.extend(format::decode(&entry.object_key, &object)?.into_iter().filter(|e| self.filter.admits(e)));
            }
            if group.len() > 1 {
                events.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
                events.dedup_by(|a, b| a.aggregate_id == b.aggregate_id && a.sequence == b.sequence);
            }
            if let Some(phase) = &mut self.phase {
                let name = group.first().map(|e| e.object_key.as_str()).unwrap_or_default();
                phase.advance(events.len() as u64, bytes, name);
            }
            if !events.is_empty() {
                return Ok(Some(events));
            }
        }
        if let Some(phase) = self.phase.take() {
            phase.finish();
        }
        Ok(None)
    }
}

/// The event store's time order: time, then aggregate, then sequence.
fn order_key(e: &StoredEvent) -> (DateTime<Utc>, &str, u64) {
    (e.event_time, e.aggregate_id.as_str(), e.sequence)
}

/// Sorts index entries by time and groups those whose windows overlap.
fn overlapping_groups(mut entries: Vec<ArchiveEntry>) -> VecDeque<Vec<ArchiveEntry>> {
    entries.sort_by(|a, b| (a.first_time, &a.object_key).cmp(&(b.first_time, &b.object_key)));
    let mut groups: VecDeque<Vec<ArchiveEntry>> = VecDeque::new();
    let mut group_end = DateTime::<Utc>::MIN_UTC;
    for entry in entries {
        match groups.back_mut() {
            Some(group) if entry.first_time <= group_end => {
                group_end = group_end.max(entry.last_time);
                group.push(entry);
            }
            _ => {
                group_end = entry.last_time;
                groups.push_back(vec![entry]);
            }
        }
    }
    groups
}

impl Archiver {
    /// Starts reading the archived events that `filter` admits, using the index kept in `store`.
    pub async fn restore(&self, store: &dyn EventStore, filter: RestoreFilter) -> Result<RestoreCursor> {
        let entries: Vec<ArchiveEntry> =
            store.list_archives().await?.into_iter().filter(|e| filter.admits_object(e)).collect();
        let total_hint = entries.iter().map(|e| e.count).sum();
        let phase = self.progress.start("restoring", Some(total_hint));
        Ok(RestoreCursor {
            target: self.target.clone(),
            filter,
            groups: overlapping_groups(entries),
            total_hint,
            phase: Some(phase),
        })
    }

    /// Writes the archived events as JSON Lines (the store's `StoredEvent` form, one per line,
    /// in time order) to `out`; returns how many.
    pub async fn restore_jsonl(&self, store: &dyn EventStore, filter: RestoreFilter, out: &mut dyn Write) -> Result<u64> {
        let mut cursor = self.restore(store, filter).await?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        let mut written = 0;
        while let Some(batch) = cursor.next_batch().await? {
            for event in &batch {
                format::write_line(&mut out, event)?;
            }
            written += batch.len() as u64;
        }
        out.flush()?;
        Ok(written)
    }

    /// Puts archived events back into `into` (which may be `index` itself, the store they were
    /// archived from) at their original sequences, through [`EventStore::restore_archived`].
    /// Idempotent: an event already there (same aggregate, sequence and eventId) is counted as
    /// present, never written twice; a sequence holding a different event is an error.
    pub async fn restore_into_store(
        &self,
        index: &dyn EventStore,
        filter: RestoreFilter,
        into: &dyn EventStore,
    ) -> Result<RestoreReport> {
        let mut cursor = self.restore(index, filter).await?;
        let mut report = RestoreReport::default();
        while let Some(batch) = cursor.next_batch().await? {
            let mut by_aggregate: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
            for event in batch {
                by_aggregate.entry(event.aggregate_id.clone()).or_default().push(event);
            }
            for (aggregate_id, mut events) in by_aggregate {
                events.sort_by_key(|e| e.sequence);
                restore_aggregate(into, &aggregate_id, events, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// One aggregate's whole history: its archived events merged with the hot store's, in
    /// sequence order (`--include-archive`).
    pub async fn read_including_archive(&self, store: &dyn EventStore, aggregate_id: &str) -> Result<Vec<StoredEvent>> {
        let mut by_sequence: BTreeMap<u64, StoredEvent> = BTreeMap::new();
        let mut cursor = self.restore(store, RestoreFilter::aggregate(aggregate_id)).await?;
        while let Some(batch) = cursor.next_batch().await? {
            by_sequence.extend(batch.into_iter().map(|e| (e.sequence, e)));
        }
        for event in read_all(store, aggregate_id, 0).await? {
            by_sequence.insert(event.sequence, event);
        }
        Ok(by_sequence.into_values().collect())
    }
}

/// Page size for reading one aggregate from the store.
const READ_PAGE: usize = 10_000;

/// Every hot event of `aggregate_id` with sequence >= `from`.
async fn read_all(store: &dyn EventStore, aggregate_id: &str, from: u64) -> Result<Vec<StoredEvent>> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let page = store.read(aggregate_id, next, READ_PAGE).await?;
        let Some(last) = page.last() else { break };
        next = last.sequence + 1;
        let full = page.len() == READ_PAGE;
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Puts one aggregate's archived events back at their sequences; the store skips those already
/// there and refuses (Invalid) a sequence that holds a different event.
async fn restore_aggregate(
    into: &dyn EventStore,
    aggregate_id: &str,
    events: Vec<StoredEvent>,
    report: &mut RestoreReport,
) -> Result<()> {
    match into.restore_archived(aggregate_id, events).await {
        Ok(counts) => {
            report.restored += counts.restored;
            report.already_present += counts.already_present;
            Ok(())
        }
        Err(StoreError::Invalid(why)) => Err(ArchiveError::Restore(why)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(key: &str, first: u32, last: u32) -> ArchiveEntry {
        let t = |s| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap();
        ArchiveEntry {
            object_key: key.into(),
            checksum: String::new(),
            size_bytes: 0,
            count: 1,
            first_time: t(first),
            last_time: t(last),
            aggregates: vec![("a".into(), 1, 1)],
            archived_at: t(0),
        }
    }

    #[test]
    fn objects_group_only_when_their_windows_overlap() {
        let groups = overlapping_groups(vec![entry("c", 20, 30), entry("a", 0, 10), entry("b", 10, 15), entry("d", 31, 40)]);
        let keys: Vec<Vec<&str>> = groups.iter().map(|g| g.iter().map(|e| e.object_key.as_str()).collect()).collect();
        assert_eq!(keys, vec![vec!["a", "b"], vec!["c"], vec!["d"]]);
    }

    #[test]
    fn filter_selects_objects_by_window_and_aggregate() {
        let filter = RestoreFilter {
            from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 20).unwrap(),
            aggregate: None,
        };
        assert!(filter.admits_object(&entry("x", 5, 10)));
        assert!(!filter.admits_object(&entry("x", 0, 9)));
        assert!(!filter.admits_object(&entry("x", 20, 25)), "`to` is exclusive");
        assert!(!RestoreFilter::aggregate("b").admits_object(&entry("x", 0, 1)));
        assert!(RestoreFilter::aggregate("a").admits_object(&entry("x", 0, 1)));
    }
}

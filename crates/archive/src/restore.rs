//! Reading the archive back: as a stream of events in time order, as JSON Lines, into an event
//! store, or merged with the hot store for one aggregate (`--include-archive`).
//!
//! A restore goes by the archive index, never by listing the bucket, so an object uploaded by a
//! run that crashed before indexing it is never read. Objects are read in groups whose time
//! windows overlap (usually one object per group): within a group events are sorted into the
//! store's order (time, aggregate, sequence) and an event held by two objects is kept once, so
//! the output is in time order and without duplicates while memory stays bounded by a group.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;

use chrono::{DateTime, Utc};
use switchboard_store::{ArchiveEntry, EventStore, ExpectedVersion, NewEvent, StoreError, StoredEvent};

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

    /// Puts archived events back into `into` (which may be `index` itself) at their original
    /// sequences. Idempotent: an event already there (same aggregate, sequence and eventId) is
    /// counted as present, never written twice.
    ///
    /// The store trait only appends after an aggregate's current version, so an aggregate can be
    /// restored into a store where it ends right before the archived range — an empty store, or
    /// one restored up to there. Anything else (e.g. the hot store the events were archived
    /// from, whose aggregates went on) is refused with an error instead of renumbering events.
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

async fn restore_aggregate(
    into: &dyn EventStore,
    aggregate_id: &str,
    events: Vec<StoredEvent>,
    report: &mut RestoreReport,
) -> Result<()> {
    let (Some(first), Some(last)) = (events.first().map(|e| e.sequence), events.last().map(|e| e.sequence)) else {
        return Ok(());
    };
    // Sequences are unique in an aggregate, so the range holds at most `last - first + 1` events.
    let span = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
    let present: HashMap<u64, String> = into
        .read(aggregate_id, first, span)
        .await?
        .into_iter()
        .filter(|e| e.sequence <= last)
        .map(|e| (e.sequence, e.event_id))
        .collect();
    let mut missing: Vec<StoredEvent> = Vec::new();
    for event in events {
        match present.get(&event.sequence) {
            Some(id) if *id == event.event_id => report.already_present += 1,
            Some(id) => {
                return Err(ArchiveError::Restore(format!(
                    "{aggregate_id} #{} is event {id} in the store but {} in the archive; refusing to overwrite it",
                    event.sequence, event.event_id
                )));
            }
            None => missing.push(event),
        }
    }
    // Append each run of consecutive sequences right after its predecessor.
    let mut runs: Vec<Vec<StoredEvent>> = Vec::new();
    for event in missing {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|prev| prev.sequence + 1 == event.sequence) => run.push(event),
            _ => runs.push(vec![event]),
        }
    }
    for run in runs {
        let (Some(start), Some(end)) = (run.first().map(|e| e.sequence), run.last().map(|e| e.sequence)) else { continue };
        let count = run.len();
        let new_events = run
            .into_iter()
            .map(|e| NewEvent { event_id: e.event_id, event_type: e.event_type, event_time: e.event_time, payload: e.payload })
            .collect();
        let cannot = |why: String| {
            ArchiveError::Restore(format!(
                "cannot put {aggregate_id} #{start}..#{end} back at its sequences: {why}. The event store can only \
                 append after an aggregate's version; restore into an empty store (or one that ends right before \
                 this range) instead"
            ))
        };
        match into.append(aggregate_id, new_events, ExpectedVersion::Exact(start.saturating_sub(1))).await {
            Ok(result) if result.appended == count && result.version == end => report.restored += count as u64,
            Ok(result) => {
                return Err(cannot(format!(
                    "the store appended {} of {count} (it remembers their eventIds) and is now at version {}",
                    result.appended, result.version
                )))
            }
            Err(StoreError::Conflict { current, .. }) => {
                return Err(cannot(format!("the aggregate's version in the store is {current}, not {}", start.saturating_sub(1))))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
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

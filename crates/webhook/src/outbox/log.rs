//! The outbox's storage: numbered segment files of records ([`codec`](super::codec)), appended
//! to and never rewritten, and the in-memory index rebuilt by replaying them at open.
//!
//! - **Appending.** Records of a group commit collect in `pending` and reach the active segment in
//!   one positional write; the commit then fsyncs if any job of the group asked for it.
//! - **The index.** Per delivery: ids, endpoint, retry state, and where its latest full record
//!   (the body) lies; per endpoint, the deliveries in due order. Bodies stay on disk and are read
//!   back only for rows that were not handed to a worker at enqueue (retries, rows from before a
//!   restart).
//! - **Pins.** A delivery pins the segment holding its full record and the one holding its latest
//!   state record. A segment with no pins holds nothing live.
//! - **Compaction, oldest first.** The oldest segment is deleted once nothing pins it. When dead
//!   bytes exceed the live bytes by more than a segment — some old deliveries keep an old segment
//!   alive, e.g. an endpoint that is down for days — the oldest segment's live deliveries are
//!   written again (full record with their current state) into the active segment, fsync'd, and
//!   the old segment is deleted. Space therefore stays within about twice the live data plus one
//!   segment, and segments are only ever deleted oldest first, so a removal record is never lost
//!   while the delivery it removes is still on disk.
//! - **Crash recovery.** A frame cut short or failing its checksum at the end of the last segment
//!   is a torn write: the file is truncated there. Anywhere else it is corruption: the rest of that
//!   segment is skipped and reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU64;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::codec::{self, DecodeError, Record, RetryState, FRAME_HEADER, MAX_PAYLOAD};
use crate::delivery::WebhookDelivery;
use crate::dlq::{AttemptRecord, DeadLetterReason};

/// A segment is closed and a new one started once it holds this many bytes.
pub(super) const SEGMENT_BYTES: u64 = 64 << 20;

/// Capacity of the append buffer kept between commits.
const PENDING_KEEP: usize = 4 << 20;

/// Where a record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

/// A delivery in the outbox, as the index holds it: kept small (about 90 bytes; ids and body
/// stay on disk), since a partner that is down makes the outbox hold many.
pub(super) struct Entry {
    pub endpoint: Arc<str>,
    pub attempt_count: u32,
    pub next_attempt_at: i64,
    /// Only deliveries that were attempted have a history.
    history: Option<Box<History>>,
    /// Hash of the delivery id (the key in `Log::ids`).
    id_hash: u64,
    full: Loc,
    state_segment: Option<NonZeroU64>,
}

struct History {
    attempts: Vec<AttemptRecord>,
    dead: Option<(DeadLetterReason, String)>,
}

impl Entry {
    pub fn state(&self) -> RetryState {
        RetryState {
            attempt_count: self.attempt_count,
            next_attempt_at: self.next_attempt_at,
            attempts: self.history.as_ref().map(|h| h.attempts.clone()).unwrap_or_default(),
            dead: self.history.as_ref().and_then(|h| h.dead.clone()),
        }
    }

    pub fn attempts(&self) -> &[AttemptRecord] {
        self.history.as_deref().map_or(&[], |h| &h.attempts)
    }

    pub fn dead_reason(&self) -> Option<DeadLetterReason> {
        self.history.as_ref().and_then(|h| h.dead.as_ref()).map(|(reason, _)| *reason)
    }

    fn set_state(&mut self, state: RetryState) {
        self.attempt_count = state.attempt_count;
        self.next_attempt_at = state.next_attempt_at;
        self.history = (!state.attempts.is_empty() || state.dead.is_some()).then(|| {
            Box::new(History {
                attempts: state.attempts,
                dead: state.dead,
            })
        });
    }
}

struct Segment {
    file: File,
    /// Bytes in the file (for the active segment: written so far).
    size: u64,
    /// Deliveries whose full record or latest state record is here.
    pins: u64,
    /// Bytes of the full records pinned here.
    live_bytes: u64,
    /// A record here could not be read: when compaction is done with the segment it is renamed
    /// `<name>.corrupt` and kept for the operator, not deleted.
    corrupt: bool,
}

pub(super) struct Log {
    dir: PathBuf,
    segment_bytes: u64,
    segments: BTreeMap<u64, Segment>,
    active: u64,
    /// Records appended since the last write, in order; they start at the active segment's size.
    pending: Vec<u8>,
    entries: BTreeMap<u64, Entry>,
    /// Delivery-id hash → seq, for idempotent enqueue; a hit is confirmed against the record on
    /// disk. Ids whose hash is already taken by another delivery go to `id_collisions`.
    ids: HashMap<u64, u64>,
    id_collisions: HashMap<Box<str>, u64>,
    hasher: RandomState,
    due: HashMap<Arc<str>, BTreeSet<(i64, u64)>>,
    next_seq: u64,
    total_bytes: u64,
    live_bytes: u64,
    /// Tests: the next write fails, as a full or failing disk would make it.
    #[cfg(test)]
    pub fail_next_write: bool,
}

/// What opening found that the operator should know about.
#[derive(Debug, Default)]
pub(super) struct OpenReport {
    pub torn_tail: Option<String>,
    pub corrupt: Vec<String>,
}

impl Log {
    /// Replays every segment in `dir`, then starts a new active segment.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<(Log, OpenReport)> {
        let mut ids: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            // Ids start at 1; a file named 0 or u64::MAX was not written by this outbox.
            if let Some(id) = name.strip_suffix(".log").and_then(|s| s.parse::<u64>().ok()) {
                if id != 0 && id != u64::MAX {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        let mut log = Log {
            dir: dir.to_owned(),
            segment_bytes,
            segments: BTreeMap::new(),
            active: 0,
            pending: Vec::new(),
            entries: BTreeMap::new(),
            ids: HashMap::new(),
            id_collisions: HashMap::new(),
            hasher: RandomState::new(),
            due: HashMap::new(),
            next_seq: 1,
            total_bytes: 0,
            live_bytes: 0,
            #[cfg(test)]
            fail_next_write: false,
        };
        let mut report = OpenReport::default();
        let last = ids.last().copied();
        for id in ids {
            log.replay_segment(id, Some(id) == last, &mut report)?;
        }
        log.start_segment(next_segment_id(last.unwrap_or(0))?)?;
        log.compact()?;
        Ok((log, report))
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.log"))
    }

    fn replay_segment(&mut self, id: u64, last: bool, report: &mut OpenReport) -> io::Result<()> {
        let path = self.segment_path(id);
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let bytes = std::fs::read(&path)?;
        self.segments.insert(
            id,
            Segment {
                file: file.try_clone()?,
                size: 0,
                pins: 0,
                live_bytes: 0,
                corrupt: false,
            },
        );
        let mut offset = 0usize;
        let mut problem = None;
        while offset < bytes.len() {
            match frame_at(&bytes, offset) {
                Ok((record, len)) => {
                    let loc = Loc {
                        segment: id,
                        offset: offset as u64,
                        len: len as u32,
                    };
                    self.apply(record, loc);
                    offset += len;
                }
                Err(FrameError::Version(e)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    ))
                }
                Err(FrameError::Bad { reason, declared }) => {
                    // A bad record with good ones after it is corruption in the middle: skip to
                    // the next good record. It is searched for only past the bad record's own
                    // extent (its declared length), never inside it: a payload may hold bytes
                    // that look like a record (an event id is data from outside). A bad record
                    // whose extent is unknown (its length is damaged or runs past the end) or
                    // reaches the end ends the readable part of the segment.
                    let max_seq = self.next_seq.saturating_add(bytes.len() as u64 / 17);
                    let next = declared
                        .map(|len| offset + FRAME_HEADER + len)
                        .filter(|&end| end < bytes.len())
                        .and_then(|end| next_valid_frame(&bytes, end, max_seq));
                    if let Some(next) = next {
                        report.corrupt.push(format!(
                            "{} at byte {offset}: {reason}; the record was skipped",
                            path.display()
                        ));
                        self.segment(id).corrupt = true;
                        offset = next;
                        continue;
                    }
                    problem = Some(reason);
                    break;
                }
            }
        }
        let mut size = bytes.len() as u64;
        if let Some(problem) = problem {
            let at = format!("{} at byte {offset}: {problem}", path.display());
            if last {
                // A torn write at the crash: the commit it belonged to was never acknowledged.
                // The cut bytes are kept beside the segment, in case they were something else.
                let cut = path.with_extension(format!("log.torn-{offset}"));
                {
                    let kept = File::create(&cut)?;
                    kept.write_all_at(&bytes[offset..], 0)?;
                    kept.sync_all()?;
                }
                file.set_len(offset as u64)?;
                file.sync_all()?;
                size = offset as u64;
                report.torn_tail = Some(format!("{at} (the {} cut bytes are in {})", bytes.len() - offset, cut.display()));
            } else {
                report.corrupt.push(format!("{at}; the rest of the segment was skipped"));
                self.segment(id).corrupt = true;
            }
        }
        self.segment(id).size = size;
        self.total_bytes += size;
        Ok(())
    }

    /// Applies a record read at open.
    fn apply(&mut self, record: Record, loc: Loc) {
        match record {
            Record::Header { next_seq } => self.next_seq = self.next_seq.max(next_seq),
            Record::Full {
                seq,
                delivery,
                state,
                ..
            } => {
                self.next_seq = self.next_seq.max(seq + 1);
                // A relocated copy replaces the original.
                self.drop_entry(seq);
                self.index(seq, &delivery, state, loc);
            }
            Record::State { seq, state } => {
                if self.entries.contains_key(&seq) {
                    self.restate(seq, state, loc.segment);
                }
            }
            Record::Remove { seq } => {
                self.drop_entry(seq);
            }
        }
    }

    fn start_segment(&mut self, id: u64) -> io::Result<()> {
        let path = self.segment_path(id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut header = Vec::new();
        codec::encode(&mut header, &Record::Header { next_seq: self.next_seq })
            .map_err(io::Error::other)?;
        let written = file
            .write_all_at(&header, 0)
            .and_then(|()| file.sync_all())
            .and_then(|()| File::open(&self.dir)?.sync_all());
        if let Err(e) = written {
            // Not left behind: the next roll would find the name taken.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        self.total_bytes += header.len() as u64;
        self.segments.insert(
            id,
            Segment {
                file,
                size: header.len() as u64,
                pins: 0,
                live_bytes: 0,
                corrupt: false,
            },
        );
        self.active = id;
        Ok(())
    }

    /// Where the next appended record will lie.
    fn next_offset(&self) -> u64 {
        self.segments[&self.active].size + self.pending.len() as u64
    }

    fn append(&mut self, record: &Record) -> Result<Loc, serde_json::Error> {
        self.append_with(|out| codec::encode(out, record))
    }

    fn append_full(
        &mut self,
        seq: u64,
        enqueued_at: i64,
        delivery: &WebhookDelivery,
        state: &RetryState,
    ) -> Result<Loc, serde_json::Error> {
        self.append_with(|out| codec::encode_full(out, seq, enqueued_at, delivery, state))
    }

    /// Appends the frame `encode` writes to `pending`; returns where it will lie.
    fn append_with(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<usize, serde_json::Error>,
    ) -> Result<Loc, serde_json::Error> {
        let offset = self.next_offset();
        let len = encode(&mut self.pending)?;
        Ok(Loc {
            segment: self.active,
            offset,
            len: len as u32,
        })
    }

    fn segment(&mut self, id: u64) -> &mut Segment {
        self.segments
            .get_mut(&id)
            .expect("a pinned segment is open")
    }

    fn index(&mut self, seq: u64, delivery: &WebhookDelivery, state: RetryState, full: Loc) {
        let endpoint: Arc<str> = match self.due.get_key_value(delivery.endpoint.as_str()) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(delivery.endpoint.as_str()),
        };
        self.due
            .entry(Arc::clone(&endpoint))
            .or_default()
            .insert((state.next_attempt_at, seq));
        let segment = self.segment(full.segment);
        segment.pins += 1;
        segment.live_bytes += u64::from(full.len);
        self.live_bytes += u64::from(full.len);
        let id_hash = self.hasher.hash_one(delivery.delivery_id.as_str());
        match self.ids.entry(id_hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(seq);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                if *o.get() != seq {
                    self.id_collisions.insert(delivery.delivery_id.as_str().into(), seq);
                }
            }
        }
        let mut entry = Entry {
            endpoint,
            attempt_count: 0,
            next_attempt_at: 0,
            history: None,
            id_hash,
            full,
            state_segment: None,
        };
        entry.set_state(state);
        self.entries.insert(seq, entry);
    }

    /// The seq of the delivery with this id, if it is in the outbox.
    fn find_id(&self, delivery_id: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(delivery_id);
        if let Some(&seq) = self.ids.get(&hash) {
            // A hash match is a duplicate only if the stored record says so. One that cannot be
            // read counts as a different delivery: storing it twice is at least once, skipping
            // it could lose it.
            if let Ok((stored, _)) = self.read_full(seq) {
                if stored.delivery_id == delivery_id {
                    return Some(seq);
                }
            }
        }
        if self.id_collisions.is_empty() {
            None
        } else {
            self.id_collisions.get(delivery_id).copied()
        }
    }

    fn restate(&mut self, seq: u64, state: RetryState, segment: u64) {
        let Some(entry) = self.entries.get_mut(&seq) else {
            return;
        };
        let old_due = (entry.next_attempt_at, seq);
        let new_due = (state.next_attempt_at, seq);
        let old_segment = entry
            .state_segment
            .replace(NonZeroU64::new(segment).expect("segment ids start at 1"));
        entry.set_state(state);
        let endpoint = Arc::clone(&entry.endpoint);
        if let Some(due) = self.due.get_mut(&endpoint) {
            due.remove(&old_due);
            due.insert(new_due);
        }
        if let Some(old) = old_segment {
            self.segment(old.get()).pins -= 1;
        }
        self.segment(segment).pins += 1;
    }

    /// Removes a delivery from the index (not from disk).
    fn drop_entry(&mut self, seq: u64) -> Option<Entry> {
        let entry = self.entries.remove(&seq)?;
        if self.ids.get(&entry.id_hash) == Some(&seq) {
            self.ids.remove(&entry.id_hash);
        } else if !self.id_collisions.is_empty() {
            self.id_collisions.retain(|_, s| *s != seq);
        }
        if let Some(due) = self.due.get_mut(&entry.endpoint) {
            due.remove(&(entry.next_attempt_at, seq));
            if due.is_empty() {
                self.due.remove(&entry.endpoint);
            }
        }
        let len = u64::from(entry.full.len);
        let full = self.segment(entry.full.segment);
        full.pins -= 1;
        full.live_bytes -= len;
        self.live_bytes -= len;
        if let Some(s) = entry.state_segment {
            self.segment(s.get()).pins -= 1;
        }
        Some(entry)
    }

    /// Appends a new delivery, due at `now`; `None` if its delivery id is already in the outbox.
    pub fn insert(&mut self, delivery: &WebhookDelivery, now: i64) -> Result<Option<u64>, serde_json::Error> {
        let seq = self.next_seq;
        let state = RetryState {
            next_attempt_at: now,
            ..RetryState::default()
        };
        Ok(self.import(delivery, now, state)?.then_some(seq))
    }

    /// Appends a delivery with its state as it was in an earlier version's outbox; `false` if its
    /// delivery id is already here.
    pub fn import(
        &mut self,
        delivery: &WebhookDelivery,
        enqueued_at: i64,
        state: RetryState,
    ) -> Result<bool, serde_json::Error> {
        if self.find_id(&delivery.delivery_id).is_some() {
            return Ok(false);
        }
        let seq = self.next_seq;
        let loc = self.append_full(seq, enqueued_at, delivery, &state)?;
        self.next_seq += 1;
        self.index(seq, delivery, state, loc);
        Ok(true)
    }

    /// Records a delivery's new retry state; `false` if it is not in the outbox.
    pub fn set_state(&mut self, seq: u64, state: RetryState) -> Result<bool, serde_json::Error> {
        if !self.entries.contains_key(&seq) {
            return Ok(false);
        }
        let record = Record::State { seq, state };
        let loc = self.append(&record)?;
        let Record::State { state, .. } = record else {
            unreachable!()
        };
        self.restate(seq, state, loc.segment);
        Ok(true)
    }

    /// Removes a delivery; `false` if it was not in the outbox.
    pub fn remove(&mut self, seq: u64) -> Result<bool, serde_json::Error> {
        if self.drop_entry(seq).is_none() {
            return Ok(false);
        }
        self.append(&Record::Remove { seq })?;
        Ok(true)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn entry(&self, seq: u64) -> Option<&Entry> {
        self.entries.get(&seq)
    }

    /// Every delivery, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &Entry)> {
        self.entries.iter().map(|(seq, e)| (*seq, e))
    }

    /// An endpoint's deliveries in due order: (due ms, seq).
    pub fn due(&self, endpoint: &str) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.due.get(endpoint).into_iter().flatten().copied()
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.due.keys().map(|k| &**k)
    }

    /// The delivery as it was enqueued (its body read back from its segment).
    #[cfg(test)]
    pub fn read(&self, seq: u64) -> io::Result<WebhookDelivery> {
        self.read_full(seq).map(|(delivery, _)| delivery)
    }

    /// The delivery and when it was enqueued.
    fn read_full(&self, seq: u64) -> io::Result<(WebhookDelivery, i64)> {
        let loc = self.loc(seq)?;
        let mut buffer = Vec::new();
        let frame = self.frame_bytes(loc, loc, &mut buffer)?;
        decode_full(seq, loc, frame)
    }

    /// Several deliveries, in the order given. Records that lie back to back on disk (those of
    /// one enqueued batch) are read with one `pread`.
    pub fn read_many(&self, seqs: &[u64]) -> Vec<io::Result<WebhookDelivery>> {
        let mut out: Vec<Option<io::Result<WebhookDelivery>>> = (0..seqs.len()).map(|_| None).collect();
        let mut order: Vec<(Loc, usize)> = Vec::with_capacity(seqs.len());
        for (i, seq) in seqs.iter().enumerate() {
            match self.loc(*seq) {
                Ok(loc) => order.push((loc, i)),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        order.sort_unstable_by_key(|(loc, _)| (loc.segment, loc.offset));
        let mut buffer = Vec::new();
        let mut run_start = 0;
        while run_start < order.len() {
            // The run: records that follow each other directly, up to 1 MiB.
            let first = order[run_start].0;
            let mut run_end = run_start + 1;
            while run_end < order.len() {
                let (prev, _) = order[run_end - 1];
                let (next, _) = order[run_end];
                let contiguous = next.segment == prev.segment
                    && next.offset == prev.offset + u64::from(prev.len)
                    && self.pending_holds(next) == self.pending_holds(prev);
                if !contiguous || next.offset + u64::from(next.len) - first.offset > 1 << 20 {
                    break;
                }
                run_end += 1;
            }
            let last = order[run_end - 1].0;
            match self.frame_bytes(first, last, &mut buffer) {
                Ok(bytes) => {
                    for &(loc, i) in &order[run_start..run_end] {
                        let at = (loc.offset - first.offset) as usize;
                        let frame = &bytes[at..at + loc.len as usize];
                        out[i] = Some(decode_full(seqs[i], loc, frame).map(|(d, _)| d));
                    }
                }
                Err(e) => {
                    for &(_, i) in &order[run_start..run_end] {
                        out[i] = Some(Err(io::Error::new(e.kind(), e.to_string())));
                    }
                }
            }
            run_start = run_end;
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(io::Error::other("not read"))))
            .collect()
    }

    /// Whether the record is appended but not yet written.
    fn pending_holds(&self, loc: Loc) -> bool {
        loc.segment == self.active && loc.offset >= self.segments[&self.active].size
    }

    fn loc(&self, seq: u64) -> io::Result<Loc> {
        self.entries
            .get(&seq)
            .map(|e| e.full)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no delivery {seq}")))
    }

    /// The bytes from the start of `first` to the end of `last` (same segment, `last` not before
    /// `first`): from `pending` if they are not written yet, else read into `buffer`.
    fn frame_bytes<'a>(&'a self, first: Loc, last: Loc, buffer: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
        let segment = &self.segments[&first.segment];
        let len = (last.offset + u64::from(last.len) - first.offset) as usize;
        if self.pending_holds(first) {
            let start = (first.offset - segment.size) as usize;
            return Ok(&self.pending[start..start + len]);
        }
        if self.pending_holds(last) {
            // `read_many` never builds such a run.
            return Err(io::Error::other("a run spans written and pending records"));
        }
        buffer.clear();
        buffer.resize(len, 0);
        segment.file.read_exact_at(buffer, first.offset)?;
        Ok(buffer)
    }

    /// Writes the pending records; fsyncs when `sync`. Then closes the active segment if it is
    /// full and compacts. On error the caller must reopen the log: the index may be ahead of the
    /// disk.
    pub fn commit(&mut self, sync: bool) -> io::Result<()> {
        self.write_pending(sync)?;
        if self.segments[&self.active].size >= self.segment_bytes {
            // The batch is durable. Closing the segment is housekeeping: its failure (logged)
            // leaves the log as it was, and is tried again at the next commit. Compaction fails
            // only when writing the moved copies fails; the index is then ahead of the disk, so
            // that fails the commit and the writer rebuilds the index.
            match self.roll() {
                Ok(()) => self.compact()?,
                Err(error) => {
                    tracing::error!(%error, dir = %self.dir.display(), "outbox: cannot start a new segment; appending to the current one");
                }
            }
        }
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        self.segments[&self.active].file.sync_data()?;
        self.start_segment(next_segment_id(self.active)?)
    }

    fn write_pending(&mut self, sync: bool) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_next_write && (sync || !self.pending.is_empty()) {
            self.fail_next_write = false;
            return Err(io::Error::other("injected write failure"));
        }
        let active = self.active;
        let segment = self.segments.get_mut(&active).expect("the active segment is open");
        if !self.pending.is_empty() {
            if let Err(e) = segment.file.write_all_at(&self.pending, segment.size) {
                // Drop a partial write so the file ends at the last whole commit.
                let _ = segment.file.set_len(segment.size);
                return Err(e);
            }
            segment.size += self.pending.len() as u64;
            self.total_bytes += self.pending.len() as u64;
            self.pending.clear();
            // One large group commit must not keep its buffer for the life of the process.
            self.pending.shrink_to(PENDING_KEEP);
        }
        if sync {
            segment.file.sync_data()?;
        }
        Ok(())
    }

    /// Deletes unpinned segments, oldest first, and relocates the oldest segment's live
    /// deliveries when dead bytes outweigh live ones by more than a segment.
    fn compact(&mut self) -> io::Result<()> {
        loop {
            let Some((&oldest, segment)) = self.segments.iter().next() else {
                return Ok(());
            };
            if oldest == self.active {
                return Ok(());
            }
            if segment.pins > 0 {
                let dead = self.total_bytes.saturating_sub(self.live_bytes);
                if dead <= self.live_bytes + self.segment_bytes {
                    return Ok(());
                }
                self.relocate(oldest)?;
                if self.segments[&oldest].pins > 0 {
                    // Something could not be moved (see relocate): the segment stays.
                    return Ok(());
                }
            }
            // Off the disk first, then out of the map: a segment that cannot be deleted must not
            // be forgotten while newer segments, holding its removals, are deleted after it.
            let path = self.segment_path(oldest);
            if self.segments[&oldest].corrupt {
                let kept = path.with_extension("log.corrupt");
                if let Err(e) = std::fs::rename(&path, &kept) {
                    tracing::error!(segment = %path.display(), error = %e, "outbox: cannot set aside a corrupt segment; compaction stops here");
                    return Ok(());
                }
                tracing::warn!(segment = %kept.display(), "outbox: a segment with unreadable records is done with; kept for inspection");
            } else if let Err(e) = std::fs::remove_file(&path) {
                tracing::error!(segment = %path.display(), error = %e, "outbox: cannot delete a segment; compaction stops here");
                return Ok(());
            }
            let segment = self.segments.remove(&oldest).expect("the oldest segment");
            debug_assert_eq!(segment.pins, 0);
            self.total_bytes -= segment.size;
        }
    }

    /// Writes every delivery whose full record is in segment `id` again, with its current state,
    /// into the active segment, and fsyncs it.
    fn relocate(&mut self, id: u64) -> io::Result<()> {
        let seqs: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.full.segment == id)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in seqs {
            let (delivery, enqueued_at) = match self.read_full(seq) {
                Ok(read) => read,
                Err(error) => {
                    // It cannot be delivered either: reported, dropped from the index, and the
                    // segment kept aside (renamed .corrupt) rather than deleted.
                    let endpoint = self.entries.get(&seq).map(|e| e.endpoint.to_string()).unwrap_or_default();
                    tracing::error!(seq, endpoint_key = %endpoint, %error, "outbox: a webhook delivery's record cannot be read; it is given up, its segment kept as .corrupt");
                    self.drop_entry(seq);
                    self.segment(id).corrupt = true;
                    continue;
                }
            };
            let state = self.entries[&seq].state();
            // Written before the old entry is dropped: if the copy cannot be made, the delivery
            // keeps its place and the segment stays.
            let loc = match self.append_full(seq, enqueued_at, &delivery, &state) {
                Ok(loc) => loc,
                Err(error) => {
                    tracing::error!(seq, %error, "outbox: cannot move a webhook delivery to a newer segment; its segment stays");
                    continue;
                }
            };
            self.drop_entry(seq);
            self.index(seq, &delivery, state, loc);
        }
        self.write_pending(true)
    }
}

/// The id after `id`; `u64::MAX` is never used (open ignores it).
fn next_segment_id(id: u64) -> io::Result<u64> {
    id.checked_add(1)
        .filter(|&n| n != u64::MAX)
        .ok_or_else(|| io::Error::other("segment ids are exhausted"))
}

/// The first offset after `from` where a whole, valid, non-empty record starts.
///
/// A candidate must look like a record before its checksum is computed (a known kind, the
/// exact size of its kind where that is fixed, a sequence number below `max_seq`), so scanning
/// garbage costs a few comparisons per byte, not a checksum over the rest of the file. It must
/// also be followed by another valid record or by the end of the file.
fn next_valid_frame(bytes: &[u8], from: usize, max_seq: u64) -> Option<usize> {
    let plausible = |at: usize| -> Option<usize> {
        let header: &[u8; FRAME_HEADER] = bytes.get(at..at + FRAME_HEADER)?.try_into().ok()?;
        let (len, _) = codec::frame_header(header);
        let payload = bytes.get(at + FRAME_HEADER..at + FRAME_HEADER + len)?;
        if !codec::plausible(payload, max_seq) {
            return None;
        }
        frame_at(bytes, at).ok().map(|(_, frame_len)| at + frame_len)
    };
    (from..bytes.len().saturating_sub(FRAME_HEADER)).find(|&at| match plausible(at) {
        Some(end) => end == bytes.len() || frame_at(bytes, end).is_ok(),
        None => false,
    })
}

enum FrameError {
    Version(DecodeError),
    /// `declared`: the payload length the header gives, when the header is whole and the length
    /// is plausible.
    Bad { reason: String, declared: Option<usize> },
}

/// The record at `offset` and its frame length.
fn frame_at(bytes: &[u8], offset: usize) -> Result<(Record, usize), FrameError> {
    let bad = |reason: &str, declared| FrameError::Bad { reason: reason.to_owned(), declared };
    let Some(header) = bytes.get(offset..offset + FRAME_HEADER) else {
        return Err(bad("a record header is cut short", None));
    };
    let (len, crc) = codec::frame_header(header.try_into().unwrap_or(&[0; FRAME_HEADER]));
    let start = offset + FRAME_HEADER;
    let declared = (len <= MAX_PAYLOAD).then_some(len);
    let Some(payload) = declared.and_then(|len| bytes.get(start..start + len)) else {
        return Err(bad("a record is cut short", None));
    };
    if crc32fast::hash(payload) != crc {
        return Err(bad("a record fails its checksum", declared));
    }
    match codec::decode(payload) {
        Ok(record) => Ok((record, FRAME_HEADER + len)),
        Err(e @ DecodeError::Version(_)) => Err(FrameError::Version(e)),
        Err(DecodeError::Malformed(e)) => Err(FrameError::Bad { reason: e, declared }),
    }
}

/// Checks and decodes one full record's frame (with `frame_at`, as replay does).
fn decode_full(seq: u64, loc: Loc, frame: &[u8]) -> io::Result<(WebhookDelivery, i64)> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    match frame_at(frame, 0) {
        Ok((
            Record::Full {
                delivery,
                enqueued_at,
                ..
            },
            len,
        )) if len == frame.len() => Ok((delivery, enqueued_at)),
        Ok(_) => Err(invalid(format!("delivery {seq}: not a full record"))),
        Err(FrameError::Bad { reason, .. }) => Err(invalid(format!(
            "delivery {seq}: its record in segment {}: {reason}",
            loc.segment
        ))),
        Err(FrameError::Version(e)) => Err(invalid(format!("delivery {seq}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(i: usize) -> WebhookDelivery {
        let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(200));
        WebhookDelivery::new(format!("evt-{i}"), "partner", body.into_bytes(), serde_json::json!({ "n": i }))
    }

    fn disk_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    }

    fn segment_ids(log: &Log) -> Vec<u64> {
        log.segments.keys().copied().collect()
    }

    #[test]
    fn inserts_states_and_removals_survive_a_reopen_and_ids_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, report) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert!(report.torn_tail.is_none() && report.corrupt.is_empty());
        let seqs: Vec<u64> = (0..10).map(|i| log.insert(&delivery(i), 1000 + i as i64).unwrap().unwrap()).collect();
        assert_eq!(log.insert(&delivery(3), 5).unwrap(), None, "same delivery id");
        log.remove(seqs[0]).unwrap();
        let state = RetryState { attempt_count: 1, next_attempt_at: 99, attempts: Vec::new(), dead: None };
        log.set_state(seqs[5], state.clone()).unwrap();
        log.commit(true).unwrap();
        // A record read back before and after the write is the same delivery.
        assert_eq!(log.read(seqs[7]).unwrap(), delivery(7));
        drop(log);

        let (mut log, _) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!(log.len(), 9);
        assert!(log.entry(seqs[0]).is_none());
        assert_eq!(log.entry(seqs[5]).unwrap().state(), state);
        assert_eq!(log.read(seqs[9]).unwrap(), delivery(9));
        let due: Vec<u64> = log.due("partner").map(|(_, seq)| seq).collect();
        assert_eq!(due[0], seqs[5], "due order follows the retry state");
        assert_eq!(log.insert(&delivery(3), 5).unwrap(), None, "ids are unique across a reopen");
        let next = log.insert(&delivery(100), 5).unwrap().unwrap();
        assert!(next > seqs[9], "sequence numbers are never reused");
    }

    /// A closed log holding `n` deliveries, and the segment they are in.
    fn written(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        for i in 0..n {
            log.insert(&delivery(i), 0).unwrap();
        }
        log.commit(true).unwrap();
        let segment = log.segment_path(log.active);
        (dir, segment)
    }

    /// Two delivery ids with one hash: both are stored, and each is still found as a duplicate.
    #[test]
    fn delivery_ids_whose_hashes_collide_are_told_apart_by_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        let a = log.insert(&delivery(1), 0).unwrap().unwrap();
        // Make delivery 2's hash point at delivery 1, as a collision would.
        let hash_b = log.hasher.hash_one(delivery(2).delivery_id.as_str());
        log.ids.insert(hash_b, a);
        let b = log.insert(&delivery(2), 0).unwrap().expect("not a duplicate of delivery 1");
        assert_eq!(log.id_collisions.len(), 1);
        assert_eq!(log.insert(&delivery(2), 0).unwrap(), None, "found through the collisions");
        assert_eq!(log.insert(&delivery(1), 0).unwrap(), None);
        log.remove(b).unwrap();
        assert!(log.id_collisions.is_empty());
        assert!(log.insert(&delivery(2), 0).unwrap().is_some(), "removed, so new again");
    }

    #[test]
    fn read_many_reads_runs_across_segments_and_the_unwritten_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), 4096).unwrap();
        let mut seqs = Vec::new();
        for i in 0..40 {
            seqs.push(log.insert(&delivery(i), 0).unwrap().unwrap());
            if i % 7 == 0 {
                log.commit(false).unwrap(); // some written (several segments), the rest pending
            }
        }
        assert!(segment_ids(&log).len() > 2);
        log.remove(seqs[3]).unwrap();
        // Out of order, with a gap, a removed one and one that never existed.
        let mut wanted: Vec<u64> = seqs.iter().rev().copied().collect();
        wanted.push(9999);
        let read = log.read_many(&wanted);
        for (seq, result) in wanted.iter().zip(&read) {
            match seqs.iter().position(|s| s == seq) {
                Some(3) | None => assert!(result.is_err(), "{seq}"),
                Some(i) => assert_eq!(result.as_ref().unwrap(), &delivery(i)),
            }
        }
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_the_rest_is_kept() {
        let (dir, active) = written(5);
        let whole = std::fs::metadata(&active).unwrap().len();
        // Half a record at the end, as a crash during a write leaves it.
        let mut torn = Vec::new();
        codec::encode(&mut torn, &Record::Remove { seq: 1 }).unwrap();
        let mut bytes = std::fs::read(&active).unwrap();
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        std::fs::write(&active, bytes).unwrap();

        let (log, report) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert!(report.torn_tail.unwrap().contains("cut short"));
        assert_eq!(log.len(), 5, "the half-written removal did not happen");
        assert_eq!(std::fs::metadata(&active).unwrap().len(), whole, "the torn bytes are gone");
    }

    #[test]
    fn a_flipped_bit_in_an_older_segment_is_reported_and_skipped() {
        let (dir, first) = written(3);
        // Reopened once, the segment is no longer the last one.
        drop(Log::open(dir.path(), SEGMENT_BYTES).unwrap());
        let mut bytes = std::fs::read(&first).unwrap();
        let last = bytes.len() - 5;
        bytes[last] ^= 1; // inside the last delivery's body
        std::fs::write(&first, bytes).unwrap();
        let (log, report) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!(report.corrupt.len(), 1, "{report:?}");
        assert!(report.corrupt[0].contains("checksum"));
        assert_eq!(log.len(), 2);
    }

    /// A bad record followed by good ones is corruption, not a torn write: only it is lost, the
    /// file is not cut, and once compaction is done with the segment it is kept as `.corrupt`.
    #[test]
    fn a_bad_record_before_good_ones_costs_only_itself_and_its_segment_is_kept() {
        let (dir, last) = written(5);
        let mut bytes = std::fs::read(&last).unwrap();
        let at = bytes.windows(8).position(|w| w == b"{\"n\":0,\"").unwrap();
        bytes[at + 5] ^= 1; // inside the first delivery's body
        std::fs::write(&last, &bytes).unwrap();
        let (mut log, report) = Log::open(dir.path(), 4096).unwrap();
        assert!(report.torn_tail.is_none(), "{report:?}");
        assert_eq!(report.corrupt.len(), 1, "{report:?}");
        assert_eq!(log.len(), 4, "the four good deliveries after it are kept");
        assert_eq!(std::fs::read(&last).unwrap().len(), bytes.len(), "nothing cut");
        // Remove the rest and roll past the segment: it is set aside, not deleted.
        let seqs: Vec<u64> = log.entries().map(|(seq, _)| seq).collect();
        for seq in seqs {
            log.remove(seq).unwrap();
        }
        for i in 100..140 {
            log.insert(&delivery(i), 0).unwrap();
            log.commit(false).unwrap();
        }
        assert!(!last.exists());
        assert!(last.with_extension("log.corrupt").exists());
    }

    /// Several bad records in a row (one bad disk sector) with good ones after them: only the bad
    /// ones are lost, even in the last segment, where a bad tail would be cut off.
    #[test]
    fn a_run_of_bad_records_before_good_ones_is_skipped_not_cut_off() {
        let (dir, last) = written(6);
        let mut bytes = std::fs::read(&last).unwrap();
        let first = bytes.windows(8).position(|w| w == b"{\"n\":0,\"").unwrap();
        let third = bytes.windows(8).position(|w| w == b"{\"n\":2,\"").unwrap();
        // Zero everything from inside delivery 0 to inside delivery 2, length fields included.
        for b in &mut bytes[first..third + 20] {
            *b = 0;
        }
        std::fs::write(&last, &bytes).unwrap();
        let (log, report) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert!(report.torn_tail.is_none(), "{report:?}");
        assert_eq!(report.corrupt.len(), 1, "{report:?}");
        assert_eq!(log.len(), 3, "deliveries 3, 4 and 5 are kept");
        assert_eq!(std::fs::read(&last).unwrap().len(), bytes.len(), "nothing cut");
    }

    /// A payload may hold bytes that look like a record (an event id or body is outside data).
    /// When its record is torn, the scan for the next good record must not start inside it, or
    /// the forged record would be applied: here, a removal of an acknowledged delivery.
    #[test]
    fn a_record_forged_inside_a_torn_payload_is_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        let victim = log.insert(&delivery(1), 0).unwrap().unwrap();
        log.commit(true).unwrap();
        let mut forged = Vec::new();
        codec::encode(&mut forged, &Record::Remove { seq: victim }).unwrap();
        let mut body = b"{\"pad\":\"".to_vec();
        body.extend_from_slice(&forged);
        body.extend_from_slice(&[b'x'; 2000]);
        let carrier = WebhookDelivery::new("evt-carrier", "partner", body, serde_json::Value::Null);
        log.insert(&carrier, 0).unwrap().unwrap();
        log.commit(true).unwrap();
        let active = log.segment_path(log.active);
        drop(log);
        // Torn 1,000 bytes before its end: the forged frame is whole, the carrier is not.
        let len = std::fs::metadata(&active).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&active).unwrap().set_len(len - 1000).unwrap();
        let (log, report) = Log::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert!(report.torn_tail.is_some(), "{report:?}");
        assert!(log.entry(victim).is_some(), "the forged removal was not applied");
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn a_segment_of_a_newer_format_is_refused_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{:020}.log", 1));
        let mut payload = vec![0u8];
        payload.extend_from_slice(&(codec::FORMAT_VERSION + 1).to_le_bytes());
        payload.extend_from_slice(&1u64.to_le_bytes());
        let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        std::fs::write(&path, &frame).unwrap();
        let error = Log::open(dir.path(), SEGMENT_BYTES).err().unwrap();
        assert!(error.to_string().contains("format version 2"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), frame);
    }

    /// Delivered rows free their segments; a few old rows that stay (an endpoint that is down)
    /// are moved forward instead of keeping every segment after theirs alive.
    #[test]
    fn compaction_deletes_dead_segments_and_moves_long_lived_rows_forward() {
        let dir = tempfile::tempdir().unwrap();
        let segment = 16 * 1024;
        let (mut log, _) = Log::open(dir.path(), segment).unwrap();
        let stuck = log.insert(&delivery(0), 0).unwrap().unwrap();
        let state = RetryState { attempt_count: 3, next_attempt_at: 77, attempts: Vec::new(), dead: None };
        log.set_state(stuck, state.clone()).unwrap();
        log.commit(true).unwrap();
        for i in 1..2000 {
            let seq = log.insert(&delivery(i), 0).unwrap().unwrap();
            log.commit(i % 10 == 0).unwrap();
            log.remove(seq).unwrap();
            log.commit(false).unwrap();
        }
        // ~600 KB were written; what is left is the stuck row plus at most a few segments.
        assert!(disk_bytes(dir.path()) < 4 * segment, "{} bytes on disk", disk_bytes(dir.path()));
        assert!(segment_ids(&log)[0] > 1, "the first segment was compacted away");
        drop(log);
        let (log, _) = Log::open(dir.path(), segment).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log.entry(stuck).unwrap().state(), state, "moved with its retry state");
        assert_eq!(log.read(stuck).unwrap(), delivery(0), "and its body");
    }
}

//! The local bus: durable append-only topics on local disk with consumer offsets.
//!
//! It is the embedded default when no Kafka is configured, so that `serve` with no external
//! service ingests over HTTP, routes, and writes its topic deliveries locally.
//!
//! Data structure: one directory per topic (`<data>/bus/topics/<name>/`) holding `log` — a
//! sequence of frames `[len: u32 LE][FNV-1a of the body: u32 LE][body]` — and an in-memory index
//! of frame positions rebuilt by one scan on open.
//! A torn tail (a crash mid-append) fails its length or checksum and is truncated on open, so a
//! partially written batch is never read. Appends are group-committed: a batch is written with
//! one `write_all` and made durable with one `sync_data` before the call returns, and only then
//! do its offsets become visible to readers. Consumer offsets live in
//! `<data>/bus/offsets/<group>/<topic>` (the next offset to read), replaced atomically by
//! write-to-temp, fsync, rename.
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

/// One message: value, optional key, headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub value: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid topic name {0:?}: use [A-Za-z0-9._-], 1 to 249 characters, not . or ..")]
    InvalidTopic(String),
    #[error("local bus I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("corrupt frame in {path} at byte {position} (valid frames follow it, so it is not a torn tail: the file was damaged; nothing was changed)")]
    Corrupt { path: PathBuf, position: u64 },
    #[error("no topic {0:?} on the local bus")]
    NoTopic(String),
}

type Result<T> = std::result::Result<T, BusError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BusError + '_ {
    move |source| BusError::Io { path: path.to_path_buf(), source }
}

/// Kafka's topic-name rule, so that a topic name is portable between the two buses.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

struct TopicLog {
    path: PathBuf,
    writer: Mutex<File>,
    /// Byte position of each frame; its index is the offset.
    positions: RwLock<Vec<u64>>,
    reader: File,
    /// The number of durable messages, for followers.
    end: watch::Sender<u64>,
}

/// A handle on the bus directory; cheap to clone.
#[derive(Clone)]
pub struct LocalBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    dir: PathBuf,
    topics: RwLock<BTreeMap<String, Arc<TopicLog>>>,
    offsets_lock: Mutex<()>,
    /// Opened by a reader (`topics`, `dlq list`): nothing is created, truncated or written.
    read_only: bool,
}

impl LocalBus {
    /// Opens (creating) the bus under `data_dir/bus`, loading every existing topic.
    pub fn open(data_dir: &Path) -> Result<LocalBus> {
        LocalBus::open_with(data_dir, false)
    }

    /// Opens an existing bus to read it, from another process than the gateway (which may be
    /// appending): no file is created, a torn tail is left alone (the writer repairs it when it
    /// opens), and a corrupt frame is an error naming the file and byte, never a truncation.
    pub fn open_read_only(data_dir: &Path) -> Result<LocalBus> {
        LocalBus::open_with(data_dir, true)
    }

    fn open_with(data_dir: &Path, read_only: bool) -> Result<LocalBus> {
        let dir = data_dir.join("bus");
        let topics_dir = dir.join("topics");
        if read_only {
            fs::metadata(&topics_dir).map_err(io_err(&topics_dir))?;
        } else {
            fs::create_dir_all(&topics_dir).map_err(io_err(&topics_dir))?;
        }
        let bus = LocalBus {
            inner: Arc::new(BusInner { dir, topics: RwLock::new(BTreeMap::new()), offsets_lock: Mutex::new(()), read_only }),
        };
        for entry in fs::read_dir(&topics_dir).map_err(io_err(&topics_dir))? {
            let entry = entry.map_err(io_err(&topics_dir))?;
            if let Some(name) = entry.file_name().to_str() {
                if valid_topic_name(name) {
                    match bus.topic(name) {
                        Ok(_) | Err(BusError::NoTopic(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(bus)
    }

    fn topic(&self, name: &str) -> Result<Arc<TopicLog>> {
        if let Some(t) = read_lock(&self.inner.topics).get(name) {
            return Ok(t.clone());
        }
        if !valid_topic_name(name) {
            return Err(BusError::InvalidTopic(name.to_string()));
        }
        let mut topics = write_lock(&self.inner.topics);
        if let Some(t) = topics.get(name) {
            return Ok(t.clone());
        }
        let dir = self.inner.dir.join("topics").join(name);
        let path = dir.join("log");
        if self.inner.read_only {
            // A topic that is not there reads as empty; nothing is created.
            if !path.exists() {
                return Err(BusError::NoTopic(name.to_string()));
            }
        } else {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let log = Arc::new(open_log(&path, self.inner.read_only)?);
        topics.insert(name.to_string(), log.clone());
        Ok(log)
    }

    /// Appends a batch durably; returns the offset of its first record.
    pub fn append(&self, topic: &str, records: &[Record]) -> Result<u64> {
        let log = self.topic(topic)?;
        let mut writer = log.writer.lock().unwrap_or_else(|p| p.into_inner());
        let start = writer.seek(SeekFrom::End(0)).map_err(io_err(&log.path))?;
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.value.len() + 64).sum());
        let mut new_positions = Vec::with_capacity(records.len());
        for r in records {
            new_positions.push(start + buf.len() as u64);
            encode_frame(r, &mut buf);
        }
        writer.write_all(&buf).map_err(io_err(&log.path))?;
        writer.sync_data().map_err(io_err(&log.path))?;
        let mut positions = write_lock(&log.positions);
        let first = positions.len() as u64;
        positions.extend(new_positions);
        let end = positions.len() as u64;
        drop(positions);
        drop(writer);
        log.end.send_replace(end);
        Ok(first)
    }

    /// Reads up to `max` records starting at `from`.
    pub fn read(&self, topic: &str, from: u64, max: usize) -> Result<Vec<(u64, Record)>> {
        let Some(log) = read_lock(&self.inner.topics).get(topic).cloned() else { return Ok(Vec::new()) };
        let positions = read_lock(&log.positions);
        let from_idx = from.min(positions.len() as u64) as usize;
        let to_idx = (from_idx + max).min(positions.len());
        if from_idx >= to_idx {
            return Ok(Vec::new());
        }
        let start = positions[from_idx];
        let end = positions.get(to_idx).copied();
        drop(positions);
        let end = match end {
            Some(e) => e,
            None => log.reader.metadata().map_err(io_err(&log.path))?.len(),
        };
        let mut buf = vec![0u8; (end - start) as usize];
        log.reader.read_exact_at(&mut buf, start).map_err(io_err(&log.path))?;
        let mut out = Vec::with_capacity(to_idx - from_idx);
        let mut pos = 0usize;
        for offset in from_idx..to_idx {
            let (record, used) = decode_frame(&buf[pos..])
                .ok_or_else(|| BusError::Corrupt { path: log.path.clone(), position: start + pos as u64 })?;
            out.push((offset as u64, record));
            pos += used;
        }
        Ok(out)
    }

    /// Every topic with its message count, by name.
    /// Whether the bus has `topic`.
    pub fn has_topic(&self, topic: &str) -> bool {
        read_lock(&self.inner.topics).contains_key(topic)
    }

    pub fn topics(&self) -> Vec<(String, u64)> {
        read_lock(&self.inner.topics)
            .iter()
            .map(|(name, t)| (name.clone(), read_lock(&t.positions).len() as u64))
            .collect()
    }

    /// Waits until `topic` has more than `offset` messages (creating the topic if needed).
    pub async fn wait_beyond(&self, topic: &str, offset: u64) -> Result<()> {
        let mut rx = self.topic(topic)?.end.subscribe();
        // The sender lives as long as the topic log, which the bus never drops.
        let _ = rx.wait_for(|end| *end > offset).await;
        Ok(())
    }

    /// The committed offset (next to read) of `group` on `topic`; 0 when none.
    pub fn committed(&self, group: &str, topic: &str) -> Result<u64> {
        let path = self.offset_path(group, topic)?;
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim().parse().unwrap_or(0)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(BusError::Io { path, source: e }),
        }
    }

    /// Durably records that `group` has processed `topic` up to (excluding) `next`.
    pub fn commit(&self, group: &str, topic: &str, next: u64) -> Result<()> {
        let path = self.offset_path(group, topic)?;
        let _guard = self.inner.offsets_lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = path.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(next.to_string().as_bytes()).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err(&dir))?;
        Ok(())
    }

    fn offset_path(&self, group: &str, topic: &str) -> Result<PathBuf> {
        if !valid_topic_name(group) {
            return Err(BusError::InvalidTopic(group.to_string()));
        }
        if !valid_topic_name(topic) {
            return Err(BusError::InvalidTopic(topic.to_string()));
        }
        Ok(self.inner.dir.join("offsets").join(group).join(topic))
    }
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn open_log(path: &Path, read_only: bool) -> Result<TopicLog> {
    open_log_in_chunks(path, read_only, INDEX_CHUNK)
}

/// How much of a log is read at a time while indexing it (a frame larger than this is read whole).
const INDEX_CHUNK: usize = 4 << 20;
/// After a frame that does not decode, how far on a valid frame is looked for. A torn tail is at
/// most one frame cut short; bytes past this much are damage whatever they hold.
const DAMAGE_SCAN: u64 = 64 << 20;

/// Opens a log and indexes its frames, reading `chunk` bytes at a time, so the memory it takes
/// is a chunk and the largest frame, not the log (the gateway opens every topic at start), and
/// checking each frame without copying its contents.
fn open_log_in_chunks(path: &Path, read_only: bool, chunk: usize) -> Result<TopicLog> {
    let mut file = if read_only {
        OpenOptions::new().read(true).open(path).map_err(io_err(path))?
    } else {
        OpenOptions::new().create(true).read(true).append(true).open(path).map_err(io_err(path))?
    };
    let total = file.metadata().map_err(io_err(path))?.len();
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut positions = Vec::new();
    // `window` holds the file's bytes from `window_at`; `at` is the next frame's position in it.
    let mut window: Vec<u8> = Vec::new();
    let mut window_at: u64 = 0;
    let mut at = 0usize;
    let mut eof = false;
    loop {
        let need = match frame_needs(&window[at..]) {
            Some(n) => n,
            None => 8,
        };
        let unread = total.saturating_sub(window_at + window.len() as u64);
        if window.len() - at < need && (need - (window.len() - at)) as u64 > unread {
            // A header claiming more than the file holds: a torn or damaged frame (checked
            // below), not a reason to read gigabytes.
            break;
        }
        if window.len() - at < need && !eof {
            // Drop what is indexed, then read at least what this frame needs.
            window.drain(..at);
            window_at += at as u64;
            at = 0;
            let want = need.max(chunk);
            let mut got = 0;
            window.reserve(want);
            while got < want {
                let old = window.len();
                window.resize(old + (want - got), 0);
                let n = file.read(&mut window[old..]).map_err(io_err(path))?;
                window.truncate(old + n);
                if n == 0 {
                    eof = true;
                    break;
                }
                got += n;
            }
            continue;
        }
        if at == window.len() {
            break;
        }
        match frame_len(&window[at..]) {
            Some(used) => {
                positions.push(window_at + at as u64);
                at += used;
            }
            None => break,
        }
    }
    let pos = window_at + at as u64;
    if pos < total {
        // A frame that does not decode. If a valid frame follows it somewhere, the file was
        // damaged in the middle: dropping everything from here would lose acknowledged records,
        // so that is an error for the operator. Otherwise it is a torn tail from a crash
        // mid-append, never acknowledged: the writer drops it, a reader ignores it.
        let rest_len = (total - pos).min(DAMAGE_SCAN) as usize;
        let mut rest = vec![0u8; rest_len];
        file.read_exact_at(&mut rest, pos).map_err(io_err(path))?;
        if total - pos > DAMAGE_SCAN || (1..rest.len()).any(|p| frame_len(&rest[p..]).is_some()) {
            return Err(BusError::Corrupt { path: path.to_path_buf(), position: pos });
        }
        if !read_only {
            tracing::warn!(path = %path.display(), valid_bytes = pos, total_bytes = total, "truncating a torn tail of the local bus log");
            file.set_len(pos).map_err(io_err(path))?;
            file.sync_data().map_err(io_err(path))?;
        }
    }
    let reader = File::open(path).map_err(io_err(path))?;
    let (end, _) = watch::channel(positions.len() as u64);
    Ok(TopicLog { path: path.to_path_buf(), writer: Mutex::new(file), positions: RwLock::new(positions), reader, end })
}

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
    buf.extend_from_slice(b);
}

fn encode_frame(r: &Record, buf: &mut Vec<u8>) {
    let header_at = buf.len();
    buf.extend_from_slice(&[0u8; 8]);
    let body_at = buf.len();
    match &r.key {
        Some(k) => {
            buf.push(1);
            put_bytes(buf, k);
        }
        None => buf.push(0),
    }
    buf.extend_from_slice(&(r.headers.len() as u32).to_le_bytes());
    for (k, v) in &r.headers {
        put_bytes(buf, k.as_bytes());
        put_bytes(buf, v);
    }
    put_bytes(buf, &r.value);
    let len = (buf.len() - body_at) as u32;
    let sum = fnv1a(&buf[body_at..]);
    buf[header_at..header_at + 4].copy_from_slice(&len.to_le_bytes());
    buf[header_at + 4..header_at + 8].copy_from_slice(&sum.to_le_bytes());
}

struct Cursor<'a> {
    b: &'a [u8],
}
impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// How many bytes the frame at the start of `bytes` takes, from its header (`None` until the
/// 8-byte header is there).
fn frame_needs(bytes: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    (bytes.len() >= 8).then_some(8 + len)
}

/// The length of the valid frame at the start of `bytes`: what [`decode_frame`] accepts,
/// checked without copying anything out.
fn frame_len(bytes: &[u8]) -> Option<usize> {
    let mut c = Cursor { b: bytes };
    let len = c.u32()? as usize;
    let sum = c.u32()?;
    let body = c.take(len)?;
    if fnv1a(body) != sum {
        return None;
    }
    let mut c = Cursor { b: body };
    if c.take(1)?[0] != 0 {
        c.bytes()?;
    }
    for _ in 0..c.u32()? {
        std::str::from_utf8(c.bytes()?).ok()?;
        c.bytes()?;
    }
    c.bytes()?;
    Some(8 + len)
}

/// Decodes one frame; `None` when the frame is incomplete or fails its checksum.
fn decode_frame(bytes: &[u8]) -> Option<(Record, usize)> {
    let mut c = Cursor { b: bytes };
    let len = c.u32()? as usize;
    let sum = c.u32()?;
    let body = c.take(len)?;
    if fnv1a(body) != sum {
        return None;
    }
    let mut c = Cursor { b: body };
    let key = match c.take(1)?[0] {
        0 => None,
        _ => Some(c.bytes()?.to_vec()),
    };
    let n = c.u32()? as usize;
    let mut headers = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let k = String::from_utf8(c.bytes()?.to_vec()).ok()?;
        headers.push((k, c.bytes()?.to_vec()));
    }
    let value = c.bytes()?.to_vec();
    Some((Record { key, headers, value }, 8 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: &str) -> Record {
        Record { key: Some(b"k".to_vec()), headers: vec![("eventType".into(), b"a.b".to_vec())], value: v.as_bytes().to_vec() }
    }

    #[test]
    fn append_read_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        assert_eq!(bus.append("t1", &[rec("a"), rec("b")]).unwrap(), 0);
        assert_eq!(bus.append("t1", &[rec("c")]).unwrap(), 2);
        let got = bus.read("t1", 1, 10).unwrap();
        assert_eq!(got, vec![(1, rec("b")), (2, rec("c"))]);
        drop(bus);
        let bus = LocalBus::open(dir.path()).unwrap();
        assert_eq!(bus.topics(), vec![("t1".to_string(), 3)]);
        assert_eq!(bus.read("t1", 0, 1).unwrap(), vec![(0, rec("a"))]);
        assert!(bus.read("nope", 0, 1).unwrap().is_empty());
    }

    /// The index built chunk by chunk is the one decoding the whole file gives, for every chunk
    /// size (frames straddle the chunk edges, some frames are larger than a chunk), and a torn
    /// tail or a header claiming more than the file holds is a torn tail at any chunk size.
    #[test]
    fn indexing_in_chunks_finds_every_frame() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        let records: Vec<Record> = (0..200).map(|i| rec(&"v".repeat(i * 7 % 300))).collect();
        bus.append("t", &records).unwrap();
        drop(bus);
        let path = dir.path().join("bus/topics/t/log");
        let bytes = std::fs::read(&path).unwrap();
        let mut expected = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            expected.push(pos as u64);
            pos += decode_frame(&bytes[pos..]).unwrap().1;
        }
        assert_eq!(expected.len(), 200);
        for chunk in [1, 7, 64, 333, 4096, 1 << 20] {
            let log = open_log_in_chunks(&path, true, chunk).unwrap();
            assert_eq!(*log.positions.read().unwrap(), expected, "chunk {chunk}");
        }
        let mut torn = bytes.clone();
        torn.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 5]);
        let mut huge = bytes.clone();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1]);
        for tail in [torn, huge] {
            std::fs::write(&path, &tail).unwrap();
            for chunk in [5, 333, 1 << 20] {
                let log = open_log_in_chunks(&path, true, chunk).unwrap();
                assert_eq!(log.positions.read().unwrap().len(), 200, "chunk {chunk}");
            }
        }
    }

    #[test]
    fn torn_tail_is_truncated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        bus.append("t", &[rec("a"), rec("b")]).unwrap();
        drop(bus);
        let path = dir.path().join("bus/topics/t/log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let mut frame = Vec::new();
        encode_frame(&rec("torn"), &mut frame);
        f.write_all(&frame[..frame.len() - 3]).unwrap();
        drop(f);
        let bus = LocalBus::open(dir.path()).unwrap();
        assert_eq!(bus.topics(), vec![("t".to_string(), 2)]);
        assert_eq!(bus.append("t", &[rec("c")]).unwrap(), 2);
        assert_eq!(bus.read("t", 2, 5).unwrap(), vec![(2, rec("c"))]);
    }

    #[test]
    fn a_reader_never_repairs_and_damage_in_the_middle_is_an_error_not_a_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        bus.append("t", &(0..6).map(|i| rec(&format!("value-{i}"))).collect::<Vec<_>>()).unwrap();
        drop(bus);
        let path = dir.path().join("bus/topics/t/log");
        let good = std::fs::read(&path).unwrap();

        // A torn tail: a reader sees the six records and leaves the file as it is.
        let mut frame = Vec::new();
        encode_frame(&rec("torn"), &mut frame);
        let mut torn = good.clone();
        torn.extend_from_slice(&frame[..frame.len() - 3]);
        std::fs::write(&path, &torn).unwrap();
        let reader = LocalBus::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.topics(), vec![("t".to_string(), 6)]);
        assert_eq!(std::fs::read(&path).unwrap(), torn, "a reader changes nothing");
        assert!(matches!(LocalBus::open_read_only(&dir.path().join("elsewhere")), Err(BusError::Io { .. })));

        // One byte flipped in the second frame's body: valid frames follow, so it is damage.
        let mut damaged = good.clone();
        let second = decode_frame(&good).unwrap().1;
        damaged[second + 12] ^= 0xff;
        std::fs::write(&path, &damaged).unwrap();
        for open in [LocalBus::open, LocalBus::open_read_only] {
            match open(dir.path()) {
                Err(BusError::Corrupt { position, .. }) => assert_eq!(position, second as u64),
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("a damaged log opened"),
            }
            assert_eq!(std::fs::read(&path).unwrap(), damaged, "nothing truncated");
        }
    }

    #[test]
    fn offsets_are_durable_and_per_group() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        assert_eq!(bus.committed("g", "t").unwrap(), 0);
        bus.commit("g", "t", 42).unwrap();
        bus.commit("h", "t", 7).unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        assert_eq!(bus.committed("g", "t").unwrap(), 42);
        assert_eq!(bus.committed("h", "t").unwrap(), 7);
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        assert!(matches!(bus.append("../x", &[rec("a")]), Err(BusError::InvalidTopic(_))));
        assert!(matches!(bus.append("a b", &[rec("a")]), Err(BusError::InvalidTopic(_))));
        assert!(valid_topic_name("events.member-created_v2"));
    }

    #[tokio::test]
    async fn followers_wake_on_append() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LocalBus::open(dir.path()).unwrap();
        let b2 = bus.clone();
        let waiter = tokio::spawn(async move { b2.wait_beyond("t", 0).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        bus.append("t", &[rec("a")]).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
    }
}

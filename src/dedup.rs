//! Deduplication by eventId within a time window, in bounded memory, surviving a restart.
//!
//! Data structure: a hash map from a 64-bit hash of the eventId to the time it was recorded, plus
//! a queue in recording order for eviction by age and by capacity (oldest first). Each recorded
//! batch is also appended to `<data>/dedup.log` (one `hash time` line per id); on open the log is
//! replayed, keeping only entries inside the window, and rewritten compactly when it has grown to
//! twice the live entries.
//!
//! The hash is SipHash-1-3 under a random 128-bit key that the log keeps on its first line
//! (`key <k0> <k1>`, made when the log is): eventIds come from producers, and with an unkeyed hash
//! (FNV-1a, before) a producer could compute an id that collides with another event's expected id
//! and have that event dropped as a duplicate. A log without a key line (written before the key)
//! holds unkeyed hashes that can not be compared: it is started afresh, with a warning.
//!
//! At-least-once matters here: an id is *recorded* only after every delivery planned for its event
//! is durable (see `pipeline`), so an event redelivered after a crash before that point is routed
//! again rather than dropped as a duplicate. A 64-bit hash collision could drop a distinct event;
//! at a million ids in the window the probability is about 3·10⁻⁸.
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// FNV-1a 64: an unkeyed hash, stable across restarts and builds, for names the gateway itself
/// chooses from (webhook endpoint keys, a topic's producer); never for producer-chosen ids (the
/// dedup window keys its hash, above).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The log's first line: the key its hashes were made with.
const KEY_LINE: &str = "key";

#[derive(Default, Clone, Copy)]
struct IdentityHasher(u64);
impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
#[derive(Default, Clone, Copy)]
struct BuildIdentity;
impl BuildHasher for BuildIdentity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

pub struct Dedup {
    key: (u64, u64),
    window_ms: i64,
    capacity: usize,
    seen: HashMap<u64, i64, BuildIdentity>,
    order: VecDeque<(u64, i64)>,
    log: Option<(PathBuf, File)>,
    logged_lines: usize,
}

impl Dedup {
    /// An in-memory window (no persistence): for tests and `dedup_window: 0s`.
    pub fn in_memory(window: Duration, capacity: usize) -> Dedup {
        Dedup {
            key: (rand::random(), rand::random()),
            window_ms: window.as_millis() as i64,
            capacity,
            seen: HashMap::with_hasher(BuildIdentity),
            order: VecDeque::new(),
            log: None,
            logged_lines: 0,
        }
    }

    /// Opens the persisted window at `path`, replaying the entries still inside it.
    pub fn open(path: &Path, window: Duration, capacity: usize, now_ms: i64) -> std::io::Result<Dedup> {
        let mut d = Dedup::in_memory(window, capacity);
        if let Ok(f) = File::open(path) {
            let mut lines = BufReader::new(f).lines();
            let keyed = match lines.next().transpose()?.as_deref().map(parse_key_line) {
                Some(Some(key)) => {
                    d.key = key;
                    true
                }
                // An empty log.
                None => true,
                // Unkeyed hashes (or a garbled first line): nothing to compare against, so the
                // window starts empty (at worst a duplicate goes through, at least once).
                Some(None) => {
                    tracing::warn!(path = %path.display(), "the dedup log has no key line (written by an older version): the dedup window starts empty");
                    false
                }
            };
            for line in lines.take_while(|_| keyed) {
                let line = line?;
                let mut parts = line.split(' ');
                let (Some(h), Some(t)) = (parts.next(), parts.next()) else { continue };
                // A torn last line from a crash parses as garbage and is skipped.
                let (Ok(h), Ok(t)) = (u64::from_str_radix(h, 16), t.parse::<i64>()) else { continue };
                d.insert(h, t);
            }
        }
        d.expire(now_ms);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        d.rewrite(path)?;
        Ok(d)
    }

    fn id_hash(&self, id: &str) -> u64 {
        let mut h = siphasher::sip::SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(id.as_bytes());
        h.finish()
    }

    fn insert(&mut self, h: u64, t: i64) {
        // On a refresh the queue keeps the old entry too; eviction skips it because its time no
        // longer matches the map's.
        self.seen.insert(h, t);
        self.order.push_back((h, t));
        while self.seen.len() > self.capacity {
            match self.order.pop_front() {
                Some((oh, ot)) => {
                    if self.seen.get(&oh) == Some(&ot) {
                        self.seen.remove(&oh);
                    }
                }
                None => break,
            }
        }
    }

    fn expire(&mut self, now_ms: i64) {
        while let Some(&(h, t)) = self.order.front() {
            if now_ms - t < self.window_ms {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&h) == Some(&t) {
                self.seen.remove(&h);
            }
        }
    }

    /// True when `event_id` was recorded within the window.
    pub fn is_duplicate(&mut self, event_id: &str, now_ms: i64) -> bool {
        if self.window_ms == 0 {
            return false;
        }
        self.expire(now_ms);
        self.seen.get(&self.id_hash(event_id)).is_some_and(|t| now_ms - t < self.window_ms)
    }

    /// Records ids whose deliveries are durable. Persisted before returning.
    pub fn record<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>, now_ms: i64) -> std::io::Result<()> {
        if self.window_ms == 0 {
            return Ok(());
        }
        let mut lines = String::new();
        for id in ids {
            let h = self.id_hash(id);
            self.insert(h, now_ms);
            lines.push_str(&format!("{h:x} {now_ms}\n"));
            self.logged_lines += 1;
        }
        if let Some((_, f)) = &mut self.log {
            f.write_all(lines.as_bytes())?;
            // Not fsynced: losing the tail of the dedup log after a power loss only lets a
            // duplicate through (at-least-once), never loses an event.
        }
        if self.logged_lines > 2 * self.seen.len().max(1024) {
            if let Some((path, _)) = self.log.take() {
                self.rewrite(&path)?;
            }
        }
        Ok(())
    }

    fn rewrite(&mut self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut out = format!("{KEY_LINE} {:x} {:x}\n", self.key.0, self.key.1);
        for (h, t) in &self.order {
            if self.seen.get(h) == Some(t) {
                out.push_str(&format!("{h:x} {t}\n"));
            }
        }
        fs::write(&tmp, out)?;
        fs::rename(&tmp, path)?;
        self.logged_lines = self.seen.len();
        let f = OpenOptions::new().append(true).create(true).open(path)?;
        self.log = Some((path.to_path_buf(), f));
        Ok(())
    }
}

/// `key <k0> <k1>` (hex), the log's first line.
fn parse_key_line(line: &str) -> Option<(u64, u64)> {
    let mut parts = line.split(' ');
    if parts.next() != Some(KEY_LINE) {
        return None;
    }
    let k0 = u64::from_str_radix(parts.next()?, 16).ok()?;
    let k1 = u64::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some((k0, k1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_the_window_only() {
        let mut d = Dedup::in_memory(Duration::from_secs(10), 100);
        assert!(!d.is_duplicate("a", 0));
        d.record(["a"], 0).unwrap();
        assert!(d.is_duplicate("a", 9_999));
        assert!(!d.is_duplicate("a", 10_000));
        assert!(!d.is_duplicate("b", 1));
    }

    #[test]
    fn capacity_bounds_memory() {
        let mut d = Dedup::in_memory(Duration::from_secs(3600), 3);
        d.record(["a", "b", "c", "d"], 0).unwrap();
        assert_eq!(d.seen.len(), 3);
        assert!(!d.is_duplicate("a", 1), "the oldest is forgotten first");
        assert!(d.is_duplicate("d", 1));
    }

    #[test]
    fn survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.log");
        let mut d = Dedup::open(&path, Duration::from_secs(60), 100, 0).unwrap();
        d.record(["e1", "e2"], 1_000).unwrap();
        drop(d);
        let mut d = Dedup::open(&path, Duration::from_secs(60), 100, 2_000).unwrap();
        assert!(d.is_duplicate("e1", 2_000));
        assert!(d.is_duplicate("e2", 2_000));
        assert!(!d.is_duplicate("e3", 2_000));
        drop(d);
        let mut d = Dedup::open(&path, Duration::from_secs(60), 100, 70_000).unwrap();
        assert!(!d.is_duplicate("e1", 70_000), "expired entries are not replayed");
    }

    #[test]
    fn the_key_is_kept_in_the_log_and_an_unkeyed_log_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.log");
        let mut d = Dedup::open(&path, Duration::from_secs(60), 100, 0).unwrap();
        d.record(["e1"], 1_000).unwrap();
        let key = d.key;
        drop(d);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(format!("key {:x} {:x}", key.0, key.1).as_str()), "{text}");
        // Another process's window has another key: the hashes differ.
        assert_ne!(Dedup::in_memory(Duration::from_secs(60), 10).id_hash("e1"), Dedup::open(&path, Duration::from_secs(60), 100, 2_000).unwrap().id_hash("e1"));
        let mut d = Dedup::open(&path, Duration::from_secs(60), 100, 2_000).unwrap();
        assert_eq!(d.key, key, "the key is read back");
        assert!(d.is_duplicate("e1", 2_000));
        drop(d);
        // A log of the unkeyed (FNV-1a) format: its entries can not be compared, so none count.
        std::fs::write(&path, format!("{:x} 1000\n", fnv1a_64(b"e1"))).unwrap();
        let mut d = Dedup::open(&path, Duration::from_secs(60), 100, 2_000).unwrap();
        assert!(!d.is_duplicate("e1", 2_000));
        d.record(["e2"], 2_000).unwrap();
        drop(d);
        let mut d = Dedup::open(&path, Duration::from_secs(60), 100, 3_000).unwrap();
        assert!(d.is_duplicate("e2", 3_000), "the rewritten log has a key line and its entries");
        assert_eq!(parse_key_line("key 1 2"), Some((1, 2)));
        for bad in ["key 1", "key x 2", "key 1 2 3", "keys 1 2", "1f 1000", ""] {
            assert_eq!(parse_key_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn zero_window_disables() {
        let mut d = Dedup::in_memory(Duration::ZERO, 10);
        d.record(["a"], 0).unwrap();
        assert!(!d.is_duplicate("a", 0));
    }
}

//! Import of an outbox written by the SQLite version (`outbox.sqlite3` in the same directory):
//! every row becomes a full record of the log with its retry state, the disabled endpoints move
//! to `disabled.json`, and once that is fsync'd the database is renamed to
//! `outbox.sqlite3.imported` (kept, not deleted, so an operator can still look at it). A crash in
//! between imports again at the next open; rows already imported are skipped by delivery id.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::codec::RetryState;
use super::log::Log;
use super::Disabled;
use crate::delivery::WebhookDelivery;
use crate::dlq::DeadLetterReason;
use crate::error::OutboxError;

const DATABASE: &str = "outbox.sqlite3";

/// Imports `dir/outbox.sqlite3` if it exists; returns how many deliveries it added.
pub(super) fn import_sqlite(
    dir: &Path,
    log: &mut Log,
    disabled: &mut Disabled,
) -> Result<usize, OutboxError> {
    let path = dir.join(DATABASE);
    if !path.exists() {
        return Ok(0);
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let mut imported = 0;
    {
        let mut rows = conn.prepare(
            "SELECT delivery_id, event_id, endpoint, body, headers, original_event, correlation_id,
                    enqueued_at, attempt_count, next_attempt_at, attempts, dead_reason, dead_message
             FROM deliveries ORDER BY seq",
        )?;
        let mut query = rows.query([])?;
        while let Some(r) = query.next()? {
            let delivery = WebhookDelivery {
                delivery_id: r.get(0)?,
                event_id: r.get(1)?,
                endpoint: r.get(2)?,
                body: r.get::<_, Vec<u8>>(3)?.into(),
                headers: serde_json::from_str(&r.get::<_, String>(4)?)?,
                original_event: serde_json::from_str(&r.get::<_, String>(5)?)?,
                correlation_id: r.get(6)?,
            };
            let enqueued_at: i64 = r.get(7)?;
            let dead = match r.get::<_, Option<String>>(11)? {
                Some(reason) => DeadLetterReason::parse(&reason)
                    .map(|reason| Ok::<_, rusqlite::Error>((reason, r.get::<_, Option<String>>(12)?.unwrap_or_default())))
                    .transpose()?,
                None => None,
            };
            let state = RetryState {
                attempt_count: r.get::<_, i64>(8)? as u32,
                next_attempt_at: r.get(9)?,
                attempts: serde_json::from_str(&r.get::<_, String>(10)?)?,
                dead,
            };
            if log.import(&delivery, enqueued_at, state)? {
                imported += 1;
            }
        }
        let mut gone = conn.prepare("SELECT endpoint, disabled_at, reason FROM disabled_endpoints")?;
        let mut query = gone.query([])?;
        while let Some(r) = query.next()? {
            disabled
                .endpoints
                .insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
    }
    let commit = |e: std::io::Error| OutboxError::Commit(format!("importing {}: {e}", path.display()));
    log.commit(true).map_err(commit)?;
    disabled.save().map_err(commit)?;
    conn.close().map_err(|(_, e)| OutboxError::Sqlite(e))?;
    std::fs::rename(&path, dir.join(format!("{DATABASE}.imported"))).map_err(commit)?;
    for suffix in ["-wal", "-shm"] {
        let side = dir.join(format!("{DATABASE}{suffix}"));
        if side.exists() {
            std::fs::rename(&side, dir.join(format!("{DATABASE}.imported{suffix}"))).map_err(commit)?;
        }
    }
    // The renames must be durable too, or a power cut would import the old outbox again.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(commit)?;
    tracing::info!(deliveries = imported, from = %path.display(), "outbox: imported the SQLite outbox of an earlier version");
    Ok(imported)
}

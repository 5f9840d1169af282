//! The archiver's errors: one kind per way a run, a restore or a configuration can fail, each
//! message saying what was (and was not) done so an operator knows whether anything was lost.
use switchboard_store::StoreError;

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// An object store call failed. `detail` holds the whole cause chain (connection refused,
    /// access denied, ...) because the object store's own top-level message rarely names it.
    #[error("{op} `{key}` on {target} failed: {detail}")]
    ObjectStore { target: String, op: &'static str, key: String, detail: String },
    #[error("verifying `{key}` on {target} failed: {detail}; the events stay in the event store")]
    Verify { target: String, key: String, detail: String },
    #[error("archived object `{key}` is unreadable: {detail}")]
    Corrupt { key: String, detail: String },
    /// Object names are deterministic, so a name already in the index with another checksum
    /// means two different batches map to one name. Overwriting would lose the indexed object.
    #[error(
        "object `{key}` is already in the archive index with checksum {indexed}, but this batch encodes to {computed}; \
         refusing to overwrite an archived object (nothing was uploaded or deleted)"
    )]
    KeyCollision { key: String, indexed: String, computed: String },
    /// The store's delete did not remove a batch: archiving it again would loop forever.
    #[error("the event store still returns `{aggregate_id}` #{sequence} after deleting it; stopping the run")]
    DeleteIneffective { aggregate_id: String, sequence: u64 },
    #[error("invalid archive configuration: {0}")]
    Config(String),
    #[error("encoding a batch: {0}")]
    Encode(String),
    #[error("restoring into the store: {0}")]
    Restore(String),
    /// A run stopped on purpose by its step hook (crash tests, cancellation): the steps already
    /// done stay done, which is exactly the state a killed process leaves behind.
    #[error("archive run interrupted after {0}")]
    Interrupted(String),
    #[error("writing restored events: {0}")]
    Output(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, ArchiveError>;

/// The full `source()` chain of an error, joined with ": " (reqwest and object_store keep the
/// useful part, e.g. "Connection refused", several levels down).
pub(crate) fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    redact_userinfo(&out)
}

/// Removes the user info of every URL in `text` (`http://user:secret@host` → `http://host`):
/// an endpoint written with credentials must not reach an error message through the HTTP
/// client's own errors, which quote the URL.
pub(crate) fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'').unwrap_or(tail.len());
        let authority = &tail[..end];
        out.push_str(authority.rsplit_once('@').map_or(authority, |(_, host)| host));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn user_info_is_removed_from_every_url() {
        assert_eq!(
            super::redact_userinfo("PUT http://u:hunter2@127.0.0.1:9001/b/k failed; see https://h/x"),
            "PUT http://127.0.0.1:9001/b/k failed; see https://h/x"
        );
    }
}

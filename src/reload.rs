//! Hot reload: rebuild the rule-set snapshot off the hot path and swap it in atomically.
//!
//! Triggers: a change under the rules or transforms directory (notify, debounced), SIGHUP, and
//! `POST /-/reload`. A snapshot that fails to build is never installed: its diagnostics are logged
//! and shown by `GET /rules`, and the current rules keep serving. Reloads are serialised, so two
//! triggers at once build twice at most and install in order.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{Pipeline, Snapshot};

#[derive(Debug, Clone, Serialize, Default)]
pub struct ReloadStatus {
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_result: Option<&'static str>,
    /// The diagnostics of the last failed reload, until a reload succeeds.
    pub last_error: Option<String>,
}

pub struct Reloader {
    pub pipeline: Arc<Pipeline>,
    pub rules_dir: PathBuf,
    pub transforms_dir: PathBuf,
    status: Mutex<ReloadStatus>,
    serial: tokio::sync::Mutex<()>,
}

/// Builds a snapshot from disk (blocking: call off the async threads).
pub fn build_snapshot(rules_dir: &std::path::Path, transforms_dir: &std::path::Path) -> Result<Snapshot, String> {
    let rules = crate::loader::load(rules_dir, transforms_dir, &crate::loader::LoadOptions { resolve_env: true })
        .map_err(|failure| failure.rendered)?;
    Ok(Snapshot { rules, loaded_at: Utc::now() })
}

impl Reloader {
    pub fn new(pipeline: Arc<Pipeline>, rules_dir: PathBuf, transforms_dir: PathBuf) -> Reloader {
        Reloader { pipeline, rules_dir, transforms_dir, status: Mutex::new(ReloadStatus::default()), serial: tokio::sync::Mutex::new(()) }
    }

    pub fn status(&self) -> ReloadStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds and, if it builds, installs. Returns the new version or the diagnostics.
    pub async fn reload(&self, cause: &str) -> Result<String, String> {
        let _serial = self.serial.lock().await;
        let (rules, transforms) = (self.rules_dir.clone(), self.transforms_dir.clone());
        let built = tokio::task::spawn_blocking(move || build_snapshot(&rules, &transforms))
            .await
            .unwrap_or_else(|e| Err(format!("the rule loader panicked: {e}")));
        let previous = self.pipeline.snapshot.load().version().to_string();
        // Installing registers the webhook endpoints, which can still refuse the snapshot.
        let built = built.and_then(|snapshot| {
            let (version, rules) = (snapshot.version().to_string(), snapshot.rules.rule_count());
            self.pipeline.install(snapshot).map(|()| (version, rules))
        });
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.last_attempt = Some(Utc::now());
        match built {
            Ok((version, rules)) => {
                self.pipeline.metrics.rules_reload.with_label_values(&["success"]).inc();
                status.last_result = Some("success");
                status.last_error = None;
                tracing::info!(cause, version = %version, previous = %previous, rules, "rules reloaded");
                Ok(version)
            }
            Err(diagnostics) => {
                self.pipeline.metrics.rules_reload.with_label_values(&["failure"]).inc();
                status.last_result = Some("failure");
                status.last_error = Some(diagnostics.clone());
                tracing::error!(cause, diagnostics = %diagnostics, "rules reload refused; the current rules keep serving");
                Err(diagnostics)
            }
        }
    }

    /// Watches the rules and transforms directories until cancelled; reloads after `debounce` of
    /// quiet (at most 8 × `debounce`, at least 2 s, after the first change, so a directory that
    /// never stops changing still reloads).
    ///
    /// Each directory is watched recursively, and its parent without recursion, so that the
    /// directory itself being created, removed, or replaced by a rename (`mv rules.new rules`, a
    /// deploy tool's swap) is seen too; after every change the watches are set again on the
    /// directories as they now are. Events of the parents about other entries are ignored.
    ///
    /// `since` is when the serving snapshot began to be built: a file changed after it, before
    /// the watches were set, is reloaded at once.
    pub async fn watch(self: Arc<Self>, debounce: Duration, cancel: CancellationToken, since: std::time::SystemTime) -> anyhow::Result<()> {
        let dirs: Vec<PathBuf> = [&self.rules_dir, &self.transforms_dir]
            .into_iter()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(64);
        let relevant = dirs.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(event) => {
                let ours = event.paths.is_empty() || event.paths.iter().any(|p| relevant.iter().any(|d| p.starts_with(d)));
                if !event.kind.is_access() && ours {
                    // A full channel already holds a pending wake-up: dropping this one loses nothing.
                    let _ = tx.try_send(());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the rules watcher reported an error; SIGHUP and POST /-/reload still reload");
                let _ = tx.try_send(());
            }
        })?;
        let mut watched = Watched::default();
        watched.refresh(&mut watcher, &dirs);
        if dirs.iter().any(|d| changed_since(d, since)) {
            let _ = self.reload("changed while starting").await;
        }
        let max_wait = (debounce * 8).max(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                got = rx.recv() => if got.is_none() { break },
            }
            // Debounce: wait for a quiet period so an editor's save-rename-chmod is one reload.
            let deadline = tokio::time::Instant::now() + max_wait;
            while tokio::time::Instant::now() < deadline {
                match tokio::time::timeout(debounce.min(deadline - tokio::time::Instant::now()), rx.recv()).await {
                    Ok(Some(())) => continue,
                    _ => break,
                }
            }
            watched.refresh(&mut watcher, &dirs);
            let _ = self.reload("file change").await;
        }
        drop(watcher);
        Ok(())
    }

    /// Reloads on SIGHUP until cancelled.
    pub async fn on_sighup(self: Arc<Self>, cancel: CancellationToken) -> anyhow::Result<()> {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = hup.recv() => { let _ = self.reload("SIGHUP").await; }
            }
        }
    }
}

/// Whether anything below `dir` (or `dir` itself) was modified at or after `since`.
fn changed_since(dir: &std::path::Path, since: std::time::SystemTime) -> bool {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    if modified(dir) {
        return true;
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > 100_000 {
                return false;
            }
            let path = entry.path();
            if modified(&path) {
                return true;
            }
            // Not through symbolic links (the loader follows them; a change there is caught by
            // the watches from now on).
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    false
}

/// What the watcher watches: each directory (recursively, by its identity when it was watched)
/// and its parent (not recursively).
#[derive(Default)]
struct Watched {
    dirs: std::collections::HashMap<PathBuf, Option<(u64, u64)>>,
    parents: std::collections::HashSet<PathBuf>,
}

/// A directory's identity (device, inode): another one after a rename or a re-creation.
fn identity(dir: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()))
}

impl Watched {
    /// Sets the watches again where a directory appeared, disappeared or was replaced.
    fn refresh(&mut self, watcher: &mut impl Watcher, dirs: &[PathBuf]) {
        for dir in dirs {
            if let Some(parent) = dir.parent() {
                if !self.parents.contains(parent) && parent.is_dir() {
                    match watcher.watch(parent, RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            self.parents.insert(parent.to_path_buf());
                        }
                        Err(e) => tracing::warn!(dir = %parent.display(), error = %e, "cannot watch the parent directory"),
                    }
                }
            }
            let now = identity(dir);
            let before = self.dirs.get(dir).copied().flatten();
            if now.is_some() && now == before {
                continue;
            }
            if before.is_some() {
                let _ = watcher.unwatch(dir);
            }
            let mut watching = None;
            if now.is_some() {
                match watcher.watch(dir, RecursiveMode::Recursive) {
                    Ok(()) => watching = now,
                    Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the directory"),
                }
            }
            self.dirs.insert(dir.clone(), watching);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_changed_after_the_build_began_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.rules"), "x").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let since = std::time::SystemTime::now();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!changed_since(dir.path(), since), "nothing changed since");
        std::fs::write(dir.path().join("sub/a.rules"), "y").unwrap();
        assert!(changed_since(dir.path(), since), "an edit below a subdirectory");
        assert!(!changed_since(&dir.path().join("missing"), since));
    }
}

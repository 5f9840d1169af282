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

    /// Watches the rules and transforms directories until cancelled; reloads after `debounce` of quiet.
    pub async fn watch(self: Arc<Self>, debounce: Duration, cancel: CancellationToken) -> anyhow::Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(64);
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                if !event.kind.is_access() {
                    // A full channel already holds a pending wake-up: dropping this one loses nothing.
                    let _ = tx.try_send(());
                }
            }
        })?;
        for dir in [&self.rules_dir, &self.transforms_dir] {
            if dir.exists() {
                watcher.watch(dir, RecursiveMode::Recursive)?;
            }
        }
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                got = rx.recv() => if got.is_none() { break },
            }
            // Debounce: wait for a quiet period so an editor's save-rename-chmod is one reload.
            while let Ok(Some(())) = tokio::time::timeout(debounce, rx.recv()).await {}
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

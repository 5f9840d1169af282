//! `switchboard archive run|list|restore|read`: the archiver on the configured event store (the
//! config file's `store:`, by default the embedded SQLite `<data>/store.db`) and archive target
//! (`--s3-bucket` / `--archive-dir`, else the config file's `archive.target`, else
//! `<data>/archive/`). All the work is in the switchboard-archive crate; this file only turns the
//! configuration and flags into its config and prints results.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use switchboard_archive::{ArchiveConfig, Archiver, Progress, RestoreFilter, S3Config, TargetConfig};
use switchboard_store::sqlite::{SqliteOptions, SqliteStore};
use switchboard_store::config::StoreConfig;
use switchboard_store::EventStore;

use crate::cli::{Format, GlobalArgs};
use crate::config::{Config, Overrides};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub command: ArchiveCommand,
}

/// Where the archive is: an S3 bucket when `--s3-bucket` is set, the directory `--archive-dir`
/// names, else the config file's `archive.target`, else `<data>/archive`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Local archive directory (default: the config's archive.target, else <data>/archive). Ignored when --s3-bucket is set.
    #[arg(long, global = true, value_name = "DIR")]
    pub archive_dir: Option<PathBuf>,
    /// Archive to this S3 bucket instead of a local directory.
    #[arg(long, global = true, env = "SWITCHBOARD_S3_BUCKET", value_name = "NAME")]
    pub s3_bucket: Option<String>,
    /// Endpoint of an S3-compatible server, e.g. http://127.0.0.1:9000 (default: AWS).
    #[arg(long, global = true, env = "SWITCHBOARD_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    #[arg(long, global = true, env = "SWITCHBOARD_S3_REGION", default_value = "us-east-1", value_name = "REGION")]
    pub s3_region: String,
    /// Access key (default: AWS_ACCESS_KEY_ID).
    #[arg(long, global = true, env = "SWITCHBOARD_S3_ACCESS_KEY_ID", hide_env_values = true, value_name = "KEY")]
    pub s3_access_key_id: Option<String>,
    /// Secret key (default: AWS_SECRET_ACCESS_KEY).
    #[arg(long, global = true, env = "SWITCHBOARD_S3_SECRET_ACCESS_KEY", hide_env_values = true, value_name = "SECRET")]
    pub s3_secret_access_key: Option<String>,
    /// Allow a plain http:// endpoint (a loopback test server only).
    #[arg(long, global = true, env = "SWITCHBOARD_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Move events older than the retention to the archive (verified, indexed, then deleted).
    Run(RunArgs),
    /// List the archived objects (the archive index).
    List(ListArgs),
    /// Write archived events as JSON Lines to stdout, or put them back into a store.
    Restore(RestoreArgs),
    /// Print one aggregate's events as JSON Lines, optionally including its archived history.
    Read(ReadArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Archive events whose eventTime is older than this (30d, 12h, ...; default: the config's
    /// archive.older_than, else 30d).
    #[arg(long, value_parser = switchboard_archive::parse_duration, value_name = "AGE")]
    pub older_than: Option<Duration>,
    /// Events per archived object (default: the config's archive.batch_size, else 10000).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Only events at or after this time (RFC 3339, or a date: 2026-01-31).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub from: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339, or a date).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub to: Option<DateTime<Utc>>,
    /// Only this aggregate's events.
    #[arg(long, value_name = "ID")]
    pub aggregate: Option<String>,
    /// Put the events back into the configured event store at their sequences.
    #[arg(long, conflicts_with = "into_db")]
    pub into_store: bool,
    /// Put the events into another SQLite event store (created when missing).
    #[arg(long, value_name = "FILE")]
    pub into_db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The aggregate id.
    pub aggregate: String,
    /// Include the aggregate's archived events (merged in sequence order).
    #[arg(long)]
    pub include_archive: bool,
}

/// RFC 3339, or a bare date meaning its midnight UTC.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{text}` is neither an RFC 3339 time (2026-01-31T12:00:00Z) nor a date (2026-01-31)"))
}

impl TargetArgs {
    /// The flags' target, else `configured` (the config file's, `<data>/archive` by default).
    fn target_config(&self, configured: TargetConfig) -> anyhow::Result<TargetConfig> {
        match &self.s3_bucket {
            Some(bucket) => Ok(TargetConfig::S3(S3Config {
                endpoint: self.s3_endpoint.clone(),
                bucket: bucket.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: self.s3_allow_http,
                ..S3Config::default()
            })),
            None if self.s3_endpoint.is_some() => bail!("--s3-endpoint needs --s3-bucket (or SWITCHBOARD_S3_BUCKET)"),
            None => Ok(match &self.archive_dir {
                Some(dir) => TargetConfig::Local { dir: Some(dir.clone()) },
                None => configured,
            }),
        }
    }
}

fn open_store(path: &Path) -> anyhow::Result<SqliteStore> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    SqliteStore::open(path, SqliteOptions::default()).with_context(|| format!("opening the event store {}", path.display()))
}

pub fn run(global: &GlobalArgs, args: ArchiveArgs) -> anyhow::Result<Outcome> {
    crate::logging::init();
    // The same configuration as `serve` (file, SWITCHBOARD_*, --data/--config): the archive
    // commands see the store and the archive the gateway writes.
    let config = Config::load(global, &Overrides::default())?;
    let data_dir = config.data.clone();
    let configured = match &config.archive {
        Some(a) => crate::config::resolve_archive(a).map_err(|e| anyhow::anyhow!(e.join("; ")))?,
        None => ArchiveConfig::default(),
    };
    let mut archive = ArchiveConfig { target: args.target.target_config(configured.target.clone())?, ..configured };
    if let ArchiveCommand::Run(run) = &args.command {
        archive.older_than = run.older_than.unwrap_or(archive.older_than);
        archive.batch_size = run.batch_size.unwrap_or(archive.batch_size);
        if let Some(problem) = archive.problems().into_iter().next() {
            bail!("{problem}");
        }
    }
    let store_config = config.store_config();
    if matches!(args.command, ArchiveCommand::Run(_)) {
        if let Some(problem) = crate::config::archive_ttl_problem(&store_config, &archive, None) {
            bail!("{problem}");
        }
    }
    if let StoreConfig::Sqlite { path, .. } = &store_config {
        // A mistyped --data must not make an empty store (and directory) and report nothing to
        // do: every command here reads the store's events or its archive index.
        if !path.is_file() {
            bail!(
                "no event store at {} (the gateway creates it when it starts; --data DIR, --config FILE or SWITCHBOARD_DATA names the one in use)",
                path.display()
            );
        }
    }
    let archiver = Archiver::from_config(&archive, &data_dir)?.with_progress(Progress::auto());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = store_config.open().await.context("opening the event store")?;
        let store = store.as_ref();
        match args.command {
            ArchiveCommand::Run(_) => run_once(&archiver, store).await,
            ArchiveCommand::List(list) => list_index(store, list.format).await,
            ArchiveCommand::Restore(restore) => restore_events(&archiver, store, restore).await,
            ArchiveCommand::Read(read) => read_aggregate(&archiver, store, read).await,
        }
    })?;
    Ok(Outcome::Success)
}

async fn run_once(archiver: &Archiver, store: &dyn EventStore) -> anyhow::Result<()> {
    let cutoff = archiver.cutoff(Utc::now());
    let report = archiver.run_once(store, cutoff).await?;
    eprintln!(
        "archived {} events before {} into {} objects on {} ({} bytes of JSON Lines, {} compressed)",
        report.events,
        cutoff.to_rfc3339(),
        report.objects,
        archiver.target(),
        report.uncompressed_bytes,
        report.compressed_bytes
    );
    Ok(())
}

async fn list_index(store: &dyn EventStore, format: Format) -> anyhow::Result<()> {
    let index = store.list_archives().await?;
    let mut out = std::io::stdout().lock();
    for entry in &index {
        match format {
            Format::Json => {
                serde_json::to_writer(&mut out, entry)?;
                writeln!(out)?;
            }
            Format::Text => writeln!(
                out,
                "{}  {} events  {} .. {}  {} aggregates  {} bytes  {}",
                entry.object_key,
                entry.count,
                entry.first_time.to_rfc3339(),
                entry.last_time.to_rfc3339(),
                entry.aggregates.len(),
                entry.size_bytes,
                entry.checksum
            )?,
        }
    }
    if format == Format::Text {
        let events: u64 = index.iter().map(|e| e.count).sum();
        eprintln!("{} objects, {events} events", index.len());
    }
    Ok(())
}

async fn restore_events(archiver: &Archiver, store: &dyn EventStore, args: RestoreArgs) -> anyhow::Result<()> {
    let defaults = RestoreFilter::default();
    let filter =
        RestoreFilter { from: args.from.unwrap_or(defaults.from), to: args.to.unwrap_or(defaults.to), aggregate: args.aggregate };
    let into = match (&args.into_db, args.into_store) {
        (Some(path), _) => Some(open_store(path)?),
        (None, true) => None,
        (None, false) => {
            let n = archiver.restore_jsonl(store, filter, &mut std::io::stdout().lock()).await?;
            eprintln!("restored {n} events");
            return Ok(());
        }
    };
    let target: &dyn EventStore = match &into {
        Some(other) => other,
        None => store,
    };
    let report = archiver.restore_into_store(store, filter, target).await?;
    eprintln!("restored {} events into the store ({} were already there)", report.restored, report.already_present);
    Ok(())
}

async fn read_aggregate(archiver: &Archiver, store: &dyn EventStore, args: ReadArgs) -> anyhow::Result<()> {
    let events = if args.include_archive {
        archiver.read_including_archive(store, &args.aggregate).await?
    } else {
        store.read(&args.aggregate, 0, usize::MAX).await?
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for event in &events {
        switchboard_archive::write_line(&mut out, event)?;
    }
    out.flush()?;
    Ok(())
}

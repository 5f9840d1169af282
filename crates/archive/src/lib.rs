//! The archiver: events older than a retention leave the hot event store for cold object
//! storage (a local directory by default, S3 when configured) and come back on demand.
//!
//! The guarantee is *nothing lost, nothing duplicated*: an event is deleted from the hot store
//! only after the object holding it was uploaded, read back and checked, and recorded in the
//! archive index; object names are deterministic, so a rerun after a crash overwrites instead of
//! duplicating; restores go by the index and drop an event two objects hold.
//!
//! ```no_run
//! # async fn example(store: &dyn switchboard_store::EventStore) -> Result<(), switchboard_archive::ArchiveError> {
//! use switchboard_archive::{ArchiveConfig, Archiver};
//! let config = ArchiveConfig::default(); // 30 days, <data>/archive
//! let archiver = Archiver::from_config(&config, std::path::Path::new("data"))?;
//! let report = archiver.run_once(store, archiver.cutoff(chrono::Utc::now())).await?;
//! println!("archived {} events in {} objects", report.events, report.objects);
//! # Ok(()) }
//! ```
mod archiver;
mod config;
mod error;
mod format;
mod progress;
mod restore;
mod target;

pub use archiver::{ArchiveReport, Archiver, Step, StepHook};
pub use config::{parse_duration, ArchiveConfig, S3Config, TargetConfig};
pub use error::{ArchiveError, Result};
pub use format::write_line;
pub use progress::Progress;
pub use restore::{RestoreCursor, RestoreFilter, RestoreReport};
pub use target::ObjectTarget;

//! `switchboard archive run|list|restore`.
use clap::{Args, Subcommand};

use crate::cli::GlobalArgs;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub command: ArchiveCommand,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Move events older than the retention to cold storage.
    Run,
    /// List the archived objects.
    List,
    /// Read archived events back.
    Restore,
}

pub fn run(_global: &GlobalArgs, _args: ArchiveArgs) -> anyhow::Result<Outcome> {
    super::not_implemented("archive", 9)
}

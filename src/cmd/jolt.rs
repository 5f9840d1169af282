//! `switchboard jolt SPEC [INPUT] [--context FILE]`.
use std::path::PathBuf;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct JoltArgs {
    /// The chain spec (a JSON array of {"operation", "spec"}, or one such object).
    pub spec: PathBuf,
    /// The input document (default: stdin).
    pub input: Option<PathBuf>,
    /// The context document that modify's `^` lookups read.
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
}

pub fn run(_global: &GlobalArgs, _args: JoltArgs) -> anyhow::Result<Outcome> {
    super::not_implemented("jolt", 5)
}

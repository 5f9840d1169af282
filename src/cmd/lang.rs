//! The rule-language commands: `lint`, `explain`, `match`, `test`.
use std::path::PathBuf;

use clap::Args;

use crate::cli::{Format, GlobalArgs};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Rule files or directories (default: the rules directory).
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Do not check that `${VAR}` references are set.
    #[arg(long)]
    pub no_env: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The event (a JSON file).
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct MatchArgs {}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Rule directories (default: the rules directory).
    pub dirs: Vec<PathBuf>,
}

pub fn lint(_global: &GlobalArgs, _args: LintArgs) -> anyhow::Result<Outcome> {
    super::not_implemented("lint", 3)
}

pub fn explain(_global: &GlobalArgs, _args: ExplainArgs) -> anyhow::Result<Outcome> {
    super::not_implemented("explain", 3)
}

pub fn match_lines(_global: &GlobalArgs, _args: MatchArgs) -> anyhow::Result<Outcome> {
    super::not_implemented("match", 3)
}

pub fn test(_global: &GlobalArgs, _args: TestArgs) -> anyhow::Result<Outcome> {
    super::not_implemented("test", 3)
}

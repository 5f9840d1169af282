//! The command line (clap derive). Every subcommand shares the global conventions below.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about = "A declarative event routing gateway")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Conventions shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration file (default: ./switchboard.yaml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for local state: local bus, outbox, embedded store, archive (default ./data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Rules directory (default ./rules).
    #[arg(long, global = true, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Transforms directory (default ./transforms).
    #[arg(long, global = true, value_name = "DIR")]
    pub transforms: Option<PathBuf>,
}

impl GlobalArgs {
    pub fn config_file(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            let default = PathBuf::from("switchboard.yaml");
            default.exists().then_some(default)
        })
    }
    /// The directories as `serve` would take them: the flag, else `SWITCHBOARD_*` and the
    /// configuration file (`--config`, or ./switchboard.yaml), else the default. So `lint`,
    /// `explain`, `test`, `match`, `topics` and `archive` look where `serve` does.
    /// (Only the file and the environment are read, without the validation `serve` does: a
    /// problem elsewhere in the file, an unset `${VAR}` of the auth token, does not change
    /// where these commands look. A file that does not parse leaves the defaults.)
    fn configured(&self) -> Option<crate::config::Config> {
        let mut config = match self.config_file() {
            Some(path) => crate::config::Config::from_file(&path).ok()?,
            None => crate::config::Config::default(),
        };
        let env: std::collections::BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")).collect();
        config.apply_env(&env).ok()?;
        Some(config)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.data.clone().or_else(|| self.configured().map(|c| c.data)).unwrap_or_else(|| PathBuf::from("data"))
    }
    pub fn rules_dir(&self) -> PathBuf {
        self.rules.clone().or_else(|| self.configured().map(|c| c.rules)).unwrap_or_else(|| PathBuf::from("rules"))
    }
    pub fn transforms_dir(&self) -> PathBuf {
        self.transforms.clone().or_else(|| self.configured().map(|c| c.transforms)).unwrap_or_else(|| PathBuf::from("transforms"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(cmd::serve::ServeArgs),
    /// Check rule files like a compiler.
    Lint(cmd::lang::LintArgs),
    /// Show why each rule did or did not match an event.
    Explain(cmd::lang::ExplainArgs),
    /// Match JSON lines from stdin, one JSON result line each.
    Match(cmd::lang::MatchArgs),
    /// Run the *.test.yaml rule tests of each rule directory.
    Test(cmd::lang::TestArgs),
    /// Apply a Jolt chain spec to a JSON document.
    Jolt(cmd::jolt::JoltArgs),
    /// Move old events to cold storage, list and restore archives.
    Archive(cmd::archive::ArchiveArgs),
    /// List and read the local bus topics.
    Topics(cmd::topics::TopicsArgs),
    /// List, show and replay dead letters.
    Dlq(cmd::dlq::DlqArgs),
}

/// Output format of the commands that have a machine-readable one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

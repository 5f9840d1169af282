//! The command line (clap derive). Every subcommand shares the global conventions below.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    pub fn data_dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| PathBuf::from("data"))
    }
    pub fn rules_dir(&self) -> PathBuf {
        self.rules.clone().unwrap_or_else(|| PathBuf::from("rules"))
    }
    pub fn transforms_dir(&self) -> PathBuf {
        self.transforms.clone().unwrap_or_else(|| PathBuf::from("transforms"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Check rule files like a compiler.
    Lint(LintArgs),
    /// Show why each rule did or did not match an event.
    Explain(ExplainArgs),
    /// Match JSON lines from stdin, one JSON result line each.
    Match(MatchArgs),
    /// Run the *.test.yaml rule tests of each rule directory.
    Test(TestArgs),
    /// Apply a Jolt chain spec to a JSON document.
    Jolt(JoltArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for HTTP (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

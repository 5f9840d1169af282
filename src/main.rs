//! The `switchboard` binary: a thin shell over the library crates.
//!
//! `main` parses the command line, runs one subcommand and maps its outcome to an exit code here
//! and nowhere else: 0 success, 1 a failure was found (lint errors, failed tests), 2 a usage or
//! load error.
use std::process::ExitCode;

mod bus;
mod cli;
mod cloudevents;
mod cmd;
mod config;
mod dedup;
mod dlq;
mod http;
mod http_store;
mod loader;
mod logging;
mod metrics;
mod pipeline;
mod reload;
mod sinks;
mod sources;
mod webhooks;

/// mimalloc instead of glibc's malloc: with a large rule set resident (100,000 rules are ~400,000
/// small allocations), glibc's free lists fragment and each event's short-lived allocations pay
/// for it (`unlink_chunk`, `malloc_consolidate`: a quarter of `switchboard match`'s time at
/// 100,000 rules). Through `switchboard_alloc`, which skips mimalloc's aligned entry points for
/// ordinary alignments (crates/alloc says why). See docs/performance.md.
#[global_allocator]
static GLOBAL: switchboard_alloc::MiMalloc = switchboard_alloc::MiMalloc;

/// What a subcommand found. Errors (`Err`) are usage or load errors and exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked: exit 0.
    Success,
    /// The command ran and found a failure (lint errors, failed tests, a transform error): exit 1.
    FailureFound,
}

fn main() -> ExitCode {
    let cli = <cli::Cli as clap::Parser>::parse();
    match cmd::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::FailureFound) => ExitCode::from(1),
        // The reader of our output went away (`| head`): what it wanted, it got. Like other
        // command-line tools, end quietly.
        Err(err) if broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

//! One module per subcommand; `run` dispatches.
use anyhow::bail;

use crate::cli::{Cli, Command};
use crate::Outcome;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let global = cli.global;
    match cli.command {
        Command::Serve(_args) => not_implemented("serve", 6),
        Command::Lint(_args) => not_implemented("lint", 3),
        Command::Explain(_args) => not_implemented("explain", 3),
        Command::Match(_args) => not_implemented("match", 3),
        Command::Test(_args) => not_implemented("test", 3),
        Command::Jolt(_args) => {
            let _ = &global;
            not_implemented("jolt", 5)
        }
    }
}

fn not_implemented(what: &str, issue: u32) -> anyhow::Result<Outcome> {
    bail!("`switchboard {what}` is not implemented yet (issue {issue})")
}

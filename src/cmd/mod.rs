//! One module per subcommand (each owns its clap arguments); `run` dispatches.
use crate::cli::{Cli, Command};
use crate::Outcome;

pub mod archive;
pub mod dlq;
pub mod jolt;
pub mod lang;
pub mod serve;
pub mod topics;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(&global, args),
        Command::Lint(args) => lang::lint(&global, args),
        Command::Explain(args) => lang::explain(&global, args),
        Command::Match(args) => lang::match_lines(&global, args),
        Command::Test(args) => lang::test(&global, args),
        Command::Jolt(args) => jolt::run(&global, args),
        Command::Archive(args) => archive::run(&global, args),
        Command::Topics(args) => topics::run(&global, args),
        Command::Dlq(args) => dlq::run(&global, args),
    }
}

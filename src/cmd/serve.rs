//! `switchboard serve`: the gateway.
use clap::Args;

use crate::cli::GlobalArgs;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for HTTP (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

pub fn run(_global: &GlobalArgs, _args: ServeArgs) -> anyhow::Result<Outcome> {
    super::not_implemented("serve", 6)
}

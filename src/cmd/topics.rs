//! `switchboard topics list` and `switchboard topics tail NAME [--follow]`: the local bus topics
//! under `--data DIR`.
use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::bus::LocalBus;
use crate::cli::GlobalArgs;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(subcommand)]
    pub command: TopicsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Every topic of the local bus with its message count.
    List,
    /// Print a topic's messages as JSON lines (value, key, headers, offset).
    Tail {
        name: String,
        /// Keep waiting for new messages.
        #[arg(long)]
        follow: bool,
        /// Start at this offset (default 0).
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

/// A message as one JSON object: the value as JSON when it parses, else as a string.
pub fn message_json(offset: u64, r: &crate::bus::Record) -> Value {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let value = serde_json::from_slice::<Value>(&r.value).unwrap_or_else(|_| Value::String(text(&r.value)));
    let headers: serde_json::Map<String, Value> = r.headers.iter().map(|(k, v)| (k.clone(), Value::String(text(v)))).collect();
    json!({"offset": offset, "key": r.key.as_deref().map(text), "headers": headers, "value": value})
}

pub fn run(global: &GlobalArgs, args: TopicsArgs) -> anyhow::Result<Outcome> {
    let data = global.data_dir();
    if !data.join("bus").exists() {
        anyhow::bail!("no local bus under {} (run `switchboard serve` first, or pass --data DIR)", data.display());
    }
    // Read-only: `serve` may be appending, and a reader must never repair (truncate) its files.
    let bus = LocalBus::open_read_only(&data)?;
    let stdout = std::io::stdout();
    match args.command {
        TopicsCommand::List => {
            let mut out = stdout.lock();
            for (name, count) in bus.topics() {
                writeln!(out, "{name}\t{count}")?;
            }
        }
        TopicsCommand::Tail { name, follow, from } => {
            let mut next = from;
            let mut bus = bus;
            if !follow && !bus.has_topic(&name) {
                anyhow::bail!("no topic {name:?} on the local bus under {} (`switchboard topics list` lists them)", data.display());
            }
            loop {
                let batch = bus.read(&name, next, 1000)?;
                let mut out = stdout.lock();
                for (offset, record) in &batch {
                    writeln!(out, "{}", message_json(*offset, record))?;
                    next = offset + 1;
                }
                out.flush()?;
                drop(out);
                if batch.is_empty() {
                    if !follow {
                        break;
                    }
                    // A plain thread sleep: this command runs outside any async runtime.
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    // Reopened only once what it indexed is read (opening indexes every log):
                    // to see what the gateway appended since (the bus index is per process).
                    bus = LocalBus::open_read_only(&data)?;
                }
            }
        }
    }
    Ok(Outcome::Success)
}

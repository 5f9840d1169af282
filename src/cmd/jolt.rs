//! `switchboard jolt SPEC [INPUT] [--context FILE]`: applies a Jolt chain spec to one document
//! and prints the result. A spec that fails to load exits 2 (an `Err` here); a transform that
//! fails on this input exits 1 with the message on stderr.
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use switchboard_jolt::{parse_spec_text, Chain};

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

pub fn run(_global: &GlobalArgs, args: JoltArgs) -> anyhow::Result<Outcome> {
    let chain = load_chain(&args.spec)?;
    let input_text = match &args.input {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading input {}", path.display()))?,
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading input from stdin")?;
            text
        }
    };
    let input_name = args.input.as_deref().map_or("stdin".into(), |p| p.display().to_string());
    let input: Value = serde_json::from_str(&input_text).with_context(|| format!("{input_name} is not JSON"))?;
    let context = match &args.context {
        Some(path) => read_json(path)?,
        None => Value::Null,
    };
    match chain.apply_owned(input, &context) {
        Ok(output) => {
            // Not println!, which panics when stdout is a closed pipe or a full disk.
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string_pretty(&output)?).and_then(|()| out.flush()).context("writing the output")?;
            Ok(Outcome::Success)
        }
        Err(err) => {
            eprintln!("error: transform failed on {input_name}: {err}");
            Ok(Outcome::FailureFound)
        }
    }
}

fn load_chain(path: &Path) -> anyhow::Result<Chain> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading spec {}", path.display()))?;
    let spec = parse_spec_text(&text).with_context(|| format!("spec {} is not valid JSON", path.display()))?;
    Chain::from_json(&spec).with_context(|| format!("spec {} does not compile", path.display()))
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

//! The rule-language commands: `lint`, `explain`, `match`, `test`.
//!
//! Each loads through [`crate::loader`] and prints what the core returns; the output formats
//! marked stable in the spec (`match` lines, `explain --format json`, `lint --format json`) are
//! built here from the core's data and nowhere else.
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde_json::{json, Value};
use switchboard_core::lang::{self, ruletest, Delivery, DeliveryKind, RuleSet, Severity, SourceFile};

use crate::cli::{Format, GlobalArgs};
use crate::loader::{self, LoadOptions};
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
pub struct MatchArgs {
    /// At the end, print on stderr one JSON line with the rule set's load time and the time the
    /// events took (reading, matching, writing): `{"load_s":..,"events":..,"events_s":..}`.
    #[arg(long)]
    pub timing: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Rule directories (default: the rules directory).
    pub dirs: Vec<PathBuf>,
}

/// Standard output that goes quiet once its reader has gone (`switchboard match | head -1`):
/// a closed pipe is not an error of the command, so every later write is dropped and
/// [`QuietPipe::closed`] tells a loop to stop.
pub(crate) struct QuietPipe<W: Write> {
    inner: W,
    closed: bool,
}

impl<W: Write> QuietPipe<W> {
    pub(crate) fn new(inner: W) -> QuietPipe<W> {
        QuietPipe { inner, closed: false }
    }

    pub(crate) fn closed(&self) -> bool {
        self.closed
    }
}

impl<W: Write> Write for QuietPipe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

fn stdout() -> QuietPipe<std::io::StdoutLock<'static>> {
    QuietPipe::new(std::io::stdout().lock())
}

pub fn lint(global: &GlobalArgs, args: LintArgs) -> anyhow::Result<Outcome> {
    let paths = if args.paths.is_empty() { vec![global.rules_dir()] } else { args.paths };
    let checked = loader::check(&paths, &global.transforms_dir(), &LoadOptions { resolve_env: !args.no_env })?;
    let diagnostics = &checked.compiled.diagnostics;
    let errors = diagnostics.iter().filter(|d| d.severity() == Severity::Error).count();
    let warnings = diagnostics.len() - errors;
    let mut out = stdout();
    match args.format {
        Format::Json => writeln!(out, "{}", lang::render_json(&checked.files, diagnostics))?,
        Format::Text if diagnostics.is_empty() => {
            writeln!(out, "ok: {} file(s), no problems found", checked.files.len())?;
        }
        Format::Text => write!(out, "{}", lang::render_text(&checked.files, diagnostics))?,
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        Ok(Outcome::FailureFound)
    } else {
        Ok(Outcome::Success)
    }
}

/// Loads the rule set of `dir` for `match`, `explain`, `test` (variables unresolved); a set
/// that does not load is an error (exit 2) showing the diagnostics.
fn load_set(dir: &Path, global: &GlobalArgs) -> anyhow::Result<RuleSet> {
    loader::load(dir, &global.transforms_dir(), &LoadOptions { resolve_env: false })
        .map_err(|f| {
            anyhow::anyhow!("the rule set in {} did not load ({} error(s)):\n{}", dir.display(), f.diagnostics.len(), f.rendered.trim_end())
        })
}

pub fn explain(global: &GlobalArgs, args: ExplainArgs) -> anyhow::Result<Outcome> {
    let set = load_set(&global.rules_dir(), global)?;
    let text = std::fs::read_to_string(&args.event).with_context(|| format!("reading {}", args.event.display()))?;
    let event: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.event.display()))?;
    if !event.is_object() {
        anyhow::bail!("{} is not a JSON object (an event is a JSON object, as for `match`)", args.event.display());
    }
    let explanation = set.explain(&event);
    let mut out = stdout();
    match args.format {
        Format::Json => {
            let rules: Vec<Value> = explanation
                .rules
                .iter()
                .map(|r| {
                    let mut v = json!({ "name": r.name, "matched": r.matched });
                    if let (Some(reason), Some(map)) = (&r.reason, v.as_object_mut()) {
                        map.insert("reason".into(), reason.clone().into());
                    }
                    v
                })
                .collect();
            let doc = json!({
                "matched": explanation.evaluation.matched,
                "deliveries": explanation.evaluation.deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
                "rules": rules,
            });
            writeln!(out, "{doc}")?;
        }
        Format::Text => {
            // Text from the event is escaped (control characters, ESC among them), as is every
            // reason and delivery below, which can quote it.
            let id = event.get("eventId").map_or_else(|| "-".to_string(), plain);
            let ty = event.get("eventType").map_or_else(|| "-".to_string(), plain);
            let (id, ty) = (super::printable(&id), super::printable(&ty));
            writeln!(out, "event {id} ({ty}) against {} rule(s)", set.rule_count())?;
            let matched = &explanation.evaluation.matched;
            writeln!(out, "matched: {}", if matched.is_empty() { "nothing".to_string() } else { matched.join(", ") })?;
            writeln!(out)?;
            let width = explanation.rules.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
            for r in &explanation.rules {
                match &r.reason {
                    None => writeln!(out, "  ✓ {}", r.name)?,
                    Some(reason) => writeln!(out, "  ✗ {:width$}  {}", r.name, super::printable(reason))?,
                }
            }
            writeln!(out)?;
            let deliveries = &explanation.evaluation.deliveries;
            if deliveries.is_empty() {
                writeln!(out, "no deliveries")?;
            } else {
                writeln!(out, "deliveries:")?;
                for d in deliveries {
                    writeln!(out, "  {}", super::printable(&delivery_text(d)))?;
                }
            }
        }
    }
    Ok(Outcome::Success)
}

/// A JSON value as plain text: strings without quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn delivery_json(d: &Delivery) -> Value {
    let (kind, target, key, reason) = match &d.kind {
        DeliveryKind::Topic { topic, key, .. } => ("topic", Some(topic.clone()), key.clone(), None),
        DeliveryKind::Webhook { target } => ("webhook", Some(target.url.shown().to_string()), None, None),
        DeliveryKind::Store { aggregate_id } => ("store", Some("store".to_string()), Some(aggregate_id.clone()), None),
        DeliveryKind::Dlq { reason } => ("dlq", None, None, Some(reason.clone())),
    };
    let mut v = json!({ "rule": d.rule, "kind": kind, "target": target, "key": key, "payload": d.payload.to_value() });
    if let (Some(reason), Some(map)) = (reason, v.as_object_mut()) {
        map.insert("reason".into(), reason.into());
    }
    v
}

fn delivery_text(d: &Delivery) -> String {
    let what = match &d.kind {
        DeliveryKind::Topic { topic, key, .. } => match key {
            Some(k) => format!("topic {topic} (key {k})"),
            None => format!("topic {topic} (no key)"),
        },
        DeliveryKind::Webhook { target } => format!("webhook {} {}", target.method.as_str(), target.url),
        DeliveryKind::Store { aggregate_id } => format!("store (aggregate {aggregate_id})"),
        DeliveryKind::Dlq { reason } => format!("DLQ: {reason}"),
    };
    format!("{what}  <- {}", d.rule)
}

pub fn match_lines(global: &GlobalArgs, args: MatchArgs) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let set = load_set(&global.rules_dir(), global)?;
    let loaded = std::time::Instant::now();
    let mut stdin = std::io::BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout());
    let mut line = Vec::new();
    let mut n = 0usize;
    // Non-blank lines: the events `--timing` counts.
    let mut events = 0usize;
    loop {
        line.clear();
        if stdin.read_until(b'\n', &mut line).context("reading stdin")? == 0 {
            break;
        }
        n += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let result = match std::str::from_utf8(&line) {
            Err(e) => Err(format!("not UTF-8: {e}")),
            Ok(text) if text.trim().is_empty() => continue,
            _ if out.get_ref().closed() => break,
            // Only the parts of the event the rules read are built (RuleSet::matched_rules_json).
            Ok(text) if text.trim_start().starts_with('{') => match set.matched_rules_json(text) {
                Ok(matched) => Ok(matched),
                // The message of a whole-document parse, which names the first error's position.
                Err(e) => Err(format!("not JSON: {}", serde_json::from_str::<Value>(text).err().unwrap_or(e))),
            },
            Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(e) => Err(format!("not JSON: {e}")),
                Ok(_) => Err("not a JSON object".to_string()),
            },
        };
        events += 1;
        let doc = match result {
            Ok(matched) => json!({ "line": n, "matched": matched }),
            Err(error) => json!({ "line": n, "error": error }),
        };
        writeln!(out, "{doc}")?;
        // Answer as soon as no further input is already waiting (interactive use), in batches
        // otherwise (a file or a pipe in bulk).
        if stdin.buffer().is_empty() {
            out.flush()?;
        }
    }
    out.flush()?;
    if args.timing {
        let done = std::time::Instant::now();
        eprintln!(
            "{}",
            json!({
                "load_s": (loaded - started).as_secs_f64(),
                "events": events,
                "events_s": (done - loaded).as_secs_f64(),
            })
        );
    }
    Ok(Outcome::Success)
}

pub fn test(global: &GlobalArgs, args: TestArgs) -> anyhow::Result<Outcome> {
    let dirs = if args.dirs.is_empty() { vec![global.rules_dir()] } else { args.dirs };
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut out = stdout();
    for dir in &dirs {
        let set = load_set(dir, global)?;
        let files = loader::test_files(dir)?;
        if files.is_empty() {
            writeln!(out, "{}: no *.test.yaml files", dir.display())?;
        }
        for path in files {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let source = [SourceFile { path: path.display().to_string(), text }];
            let cases = ruletest::parse_tests(0, &source[0].text).map_err(|ds| {
                anyhow::anyhow!("invalid test file:\n{}", lang::render_text(&source, &ds).trim_end())
            })?;
            for case in cases {
                let event = match &case.event {
                    ruletest::TestEvent::Inline(v) => v.clone(),
                    ruletest::TestEvent::File(f) => {
                        let p = path.parent().unwrap_or(Path::new(".")).join(f);
                        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
                        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))?
                    }
                };
                if !event.is_object() {
                    anyhow::bail!("{}: test `{}`: the event is not a JSON object (an event is a JSON object, as for `match`)", path.display(), case.name);
                }
                let mismatches = ruletest::compare(&case.expect, &set.evaluate(&event));
                if mismatches.is_empty() {
                    passed += 1;
                    writeln!(out, "ok   {}: {}", path.display(), case.name)?;
                } else {
                    failed += 1;
                    writeln!(out, "FAIL {}: {}", path.display(), case.name)?;
                    for m in mismatches {
                        writeln!(out, "     {}: (- expected, + actual)", m.field)?;
                        writeln!(out, "       - [{}]", m.expected.join(", "))?;
                        writeln!(out, "       + [{}]", m.actual.join(", "))?;
                    }
                }
            }
        }
    }
    writeln!(out, "\ntest result: {passed} passed; {failed} failed")?;
    Ok(if failed > 0 { Outcome::FailureFound } else { Outcome::Success })
}

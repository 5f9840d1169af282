//! Progress of long archive and restore runs: an indicatif bar when stderr is a terminal, plain
//! `tracing` log lines otherwise (serve, CI, a pipe), so logs never fill with bar redraws.
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A phase whose total is known (a restore) and one whose total is not (an archive run).
const BAR_TEMPLATE: &str = "{msg} [{bar:30}] {pos}/{len} events ({per_sec}, {elapsed})";
const SPINNER_TEMPLATE: &str = "{spinner} {msg} {pos} events ({per_sec}, {elapsed})";

/// How a run reports its progress. Cheap to clone; clones share one bar.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.bar.is_some() { "Progress::bar" } else { "Progress::log" })
    }
}

impl Default for Progress {
    /// Log lines only: the right choice inside `serve` and in tests.
    fn default() -> Self {
        Progress::log()
    }
}

impl Progress {
    /// A bar on a terminal, log lines otherwise.
    pub fn auto() -> Self {
        if std::io::stderr().is_terminal() {
            Progress::bar()
        } else {
            Progress::log()
        }
    }

    /// Always log lines.
    pub fn log() -> Self {
        Progress { bar: None }
    }

    /// Always a bar (drawn on stderr; hidden by indicatif itself when stderr is not a terminal).
    pub fn bar() -> Self {
        Progress { bar: Some(ProgressBar::no_length()) }
    }

    /// Starts a phase: `total` events when known (a restore knows, an archive run does not).
    pub(crate) fn start(&self, what: &'static str, total: Option<u64>) -> Phase {
        if let Some(bar) = &self.bar {
            bar.reset();
            let template = if total.is_some() { BAR_TEMPLATE } else { SPINNER_TEMPLATE };
            // The templates are constants, checked by the unit test below.
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what);
            bar.set_length(total.unwrap_or(0));
            if total.is_none() {
                bar.unset_length();
            }
        }
        Phase { bar: self.bar.clone(), what, started: Instant::now(), events: 0, bytes: 0 }
    }
}

/// One running phase (an archive run, a restore).
pub(crate) struct Phase {
    bar: Option<ProgressBar>,
    what: &'static str,
    started: Instant,
    events: u64,
    bytes: u64,
}

impl Phase {
    /// One object done: `events` events, `bytes` bytes of it, `key` its name.
    pub(crate) fn advance(&mut self, events: u64, bytes: u64, key: &str) {
        self.events += events;
        self.bytes += bytes;
        match &self.bar {
            Some(bar) => bar.inc(events),
            None => tracing::info!(
                target: "switchboard::archive",
                "{}: {} events, {} bytes in {key} ({} events so far)",
                self.what,
                events,
                bytes,
                self.events
            ),
        }
    }

    pub(crate) fn finish(self) {
        let secs = self.started.elapsed().as_secs_f64();
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => tracing::info!(
                target: "switchboard::archive",
                "{} done: {} events, {} bytes in {secs:.1}s",
                self.what,
                self.events,
                self.bytes
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_templates_parse() {
        for template in [BAR_TEMPLATE, SPINNER_TEMPLATE] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn a_phase_counts_what_it_was_told() {
        let mut phase = Progress::bar().start("archiving", Some(10));
        phase.advance(4, 100, "k1");
        phase.advance(6, 50, "k2");
        assert_eq!((phase.events, phase.bytes), (10, 150));
        phase.finish();
    }
}

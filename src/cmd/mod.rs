//! One module per subcommand (each owns its clap arguments); `run` dispatches.
use crate::cli::{Cli, Command};
use crate::Outcome;

pub mod archive;
pub mod dlq;
pub mod jolt;
pub mod lang;
pub mod serve;
pub mod topics;

/// Text for a terminal: control characters (tabs and newlines included, and ESC, which would let
/// an event's text drive the terminal) written as escapes, so that data from events can neither
/// break a line- or tab-separated listing nor change what the terminal shows.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn printable_escapes_every_control_character() {
        assert_eq!(super::printable("plain é"), "plain é");
        assert_eq!(super::printable("a\tb\nc\rd\u{1b}[31me\u{7f}\u{9b}"), "a\\tb\\nc\\rd\\u{1b}[31me\\u{7f}\\u{9b}");
    }
}

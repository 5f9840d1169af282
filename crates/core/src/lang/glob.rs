//! `like "GLOB"` and EventBridge `wildcard` without a regex: a glob is literal runs and `?`s
//! between stars, matched by a leftmost scan. A compiled `regex::Regex` costs 6–12 KB of heap
//! (its NFA, its strategy and a cache pool), a glob the bytes of its text, and a rule set with
//! a distinct glob per rule holds one per rule. The semantics are those of the anchored regex the
//! glob stands for (`(?s)\A...\z`, `*` = `.*`, `?` = `.`), which [`Glob::regex_source`] gives to
//! the matcher's multi-pattern automaton; a property test below checks the two agree.

/// One step of a segment (the part of a glob between two stars).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Text that must appear as is.
    Text(Box<str>),
    /// `?`: any one character.
    One,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    /// The segments between stars: `a*b?c*` is `[a] * [b ? c] * []`; one segment means no star.
    segments: Box<[Box<[Step]>]>,
}

impl Glob {
    /// `like`: `*` any run, `?` one character, a backslash makes the next character literal.
    pub(crate) fn like(text: &str) -> Result<Glob, String> {
        Glob::parse(text, true).ok_or_else(|| "the glob ends with a lone backslash (write `\\\\\\\\` for a literal one)".to_string())
    }

    /// EventBridge `wildcard`: `*` any run, `\*` a star, `\\` a backslash (a final lone
    /// backslash stands for nothing, as in the reference's pattern compiler).
    pub(crate) fn wildcard(text: &str) -> Glob {
        Glob::parse(text, false).expect("without `?`, a lone backslash is no error")
    }

    /// `None` for a trailing lone backslash in a `like` glob.
    fn parse(text: &str, with_question_mark: bool) -> Option<Glob> {
        let mut segments: Vec<Box<[Step]>> = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        let mut run = String::new();
        let flush = |run: &mut String, steps: &mut Vec<Step>| {
            if !run.is_empty() {
                steps.push(Step::Text(std::mem::take(run).into()));
            }
        };
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    flush(&mut run, &mut steps);
                    segments.push(std::mem::take(&mut steps).into());
                }
                '?' if with_question_mark => {
                    flush(&mut run, &mut steps);
                    steps.push(Step::One);
                }
                '\\' => match chars.next() {
                    Some(n) => run.push(n),
                    None if with_question_mark => return None,
                    None => {}
                },
                c => run.push(c),
            }
        }
        flush(&mut run, &mut steps);
        segments.push(steps.into());
        Some(Glob { segments: segments.into() })
    }

    /// The anchored regex this glob means, for the matcher's combined automaton.
    pub(crate) fn regex_source(&self) -> String {
        let mut re = String::from("(?s)\\A");
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                re.push_str(".*");
            }
            for step in segment.iter() {
                match step {
                    Step::Text(t) => re.push_str(&regex::escape(t)),
                    Step::One => re.push('.'),
                }
            }
        }
        re.push_str("\\z");
        re
    }

    pub(crate) fn is_match(&self, s: &str) -> bool {
        let Some((first, rest)) = self.segments.split_first() else {
            return s.is_empty();
        };
        let Some((last, middle)) = rest.split_last() else {
            return match_at(first, s, 0) == Some(s.len());
        };
        let Some(mut pos) = match_at(first, s, 0) else {
            return false;
        };
        // The last segment matches a fixed number of characters, ending at the end of `s`.
        let Some(last_start) = start_of_last(s, chars_of(last)) else {
            return false;
        };
        if last_start < pos || match_at(last, s, last_start) != Some(s.len()) {
            return false;
        }
        // Stars absorb anything, so the leftmost match of each middle segment is never worse.
        let bounded = &s[..last_start];
        for segment in middle {
            match find_from(segment, bounded, pos) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }
}

/// Where a segment matching at byte `at` ends.
fn match_at(segment: &[Step], s: &str, mut at: usize) -> Option<usize> {
    for step in segment {
        match step {
            Step::Text(t) => {
                if !s[at..].starts_with(&**t) {
                    return None;
                }
                at += t.len();
            }
            Step::One => at += s[at..].chars().next()?.len_utf8(),
        }
    }
    Some(at)
}

/// The end of the leftmost match of `segment` in `s` starting at or after byte `from`.
fn find_from(segment: &[Step], s: &str, from: usize) -> Option<usize> {
    let mut start = from;
    loop {
        // Jump to the next place the segment's leading text occurs.
        if let Some(Step::Text(t)) = segment.first() {
            start += s[start..].find(&**t)?;
        }
        if let Some(end) = match_at(segment, s, start) {
            return Some(end);
        }
        start += s[start..].chars().next()?.len_utf8();
    }
}

fn chars_of(segment: &[Step]) -> usize {
    segment
        .iter()
        .map(|step| match step {
            Step::Text(t) => t.chars().count(),
            Step::One => 1,
        })
        .sum()
}

/// The byte index `n` characters before the end of `s`.
fn start_of_last(s: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(s.len());
    }
    s.char_indices().rev().nth(n - 1).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let g = |p: &str| Glob::like(p).unwrap();
        assert!(g("*.granted").is_match("member.access.granted"));
        assert!(!g("*.granted").is_match("member.access.granted.x"));
        assert!(g("a*b*c").is_match("abc"));
        assert!(g("a*b*c").is_match("a-b-b-c"));
        assert!(!g("a*b*c").is_match("a-c-b"));
        assert!(g("??").is_match("é😀"));
        assert!(!g("??").is_match("é"));
        assert!(g("").is_match(""));
        assert!(!g("").is_match("x"));
        assert!(g("*").is_match("line\nbreak"));
        assert!(g("a\\*b").is_match("a*b"));
        assert!(!g("a\\*b").is_match("axb"));
        assert!(!g("ab*ba").is_match("aba"));
        assert!(g("ab*ba").is_match("abba"));
        assert!(Glob::like("a\\").is_err());
        assert!(Glob::wildcard("a\\*").is_match("a*"));
        assert!(Glob::wildcard("a?").is_match("a?"));
        assert!(!Glob::wildcard("a?").is_match("ab"));
    }

    fn glob_text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop_oneof![Just("*"), Just("?"), Just("a"), Just("b"), Just("ab"), Just("é"), Just("\\*"), Just(".")], 0..7)
            .prop_map(|parts| parts.concat())
    }

    fn subject() -> impl Strategy<Value = String> {
        prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("é"), Just("*"), Just("."), Just("\n")], 0..9)
            .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// The scan gives exactly the answer of the regex the glob stands for.
        #[test]
        fn agrees_with_the_regex(glob in glob_text(), s in subject()) {
            let g = Glob::like(&glob).unwrap();
            let re = regex::Regex::new(&g.regex_source()).unwrap();
            prop_assert_eq!(g.is_match(&s), re.is_match(&s), "glob {:?} on {:?}", glob, s);
            let w = Glob::wildcard(&glob);
            let re = regex::Regex::new(&w.regex_source()).unwrap();
            prop_assert_eq!(w.is_match(&s), re.is_match(&s), "wildcard {:?} on {:?}", glob, s);
        }
    }
}

//! Spec keys: the parsed form of every left-hand-side key and every right-hand-side output path
//! element of the reference's syntax (`*`, `tag-*-*`, `&(n,m)`, `$n`, `#literal`, `@(n,path)`,
//! `[&n]`, `[#n]`, `[]`, escapes). Shift, cardinality, remove, default and modify all share it, as
//! the reference's `PathElementBuilder` is shared, so one key means the same thing everywhere.
//!
//! Parsing happens once when a spec compiles; evaluation against a [`WalkedPath`] happens per input.
use std::borrow::Cow;

use serde_json::Value;
use smallvec::SmallVec;

use crate::walked::{Captures, Matched, View, WalkedPath};
use crate::TransformError;

/// `&(up, group)` / `$(up, group)`: how many levels up the walked path, and which capture of the
/// key matched there (0 = the whole key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ref {
    pub up: usize,
    pub group: usize,
}

impl Ref {
    /// Parses `&`, `&2`, `&(2)`, `&(2,1)` (and the same with `$` or `#`) as the reference does.
    pub fn parse(text: &str, token: char) -> Result<Ref, String> {
        if !text.starts_with(token) {
            return Err(format!("invalid reference `{text}`: it must start with `{token}`"));
        }
        let meat = &text[token.len_utf8()..];
        let bad = || format!("unable to parse `{token}` reference `{text}`");
        let (mut up, mut group) = (0, 0);
        if meat.len() >= 3 && meat.starts_with('(') && meat.ends_with(')') {
            let inner = &meat[1..meat.len() - 1];
            let mut parts: Vec<&str> = inner.split(',').collect();
            // Java's String.split drops trailing empty strings: "(1,)" is "(1)".
            while parts.len() > 1 && parts.last() == Some(&"") {
                parts.pop();
            }
            if parts.len() > 2 {
                return Err(format!("invalid reference `{text}`: at most two numbers"));
            }
            up = parse_java_int(parts[0]).ok_or_else(bad)?;
            if parts.len() == 2 {
                group = parse_java_int(parts[1]).ok_or_else(bad)?;
            }
        } else if !meat.is_empty() {
            up = parse_java_int(meat).ok_or_else(bad)?;
        }
        if up < 0 || group < 0 {
            return Err(format!("reference `{text}` can not have a negative value"));
        }
        // Both are proven non-negative just above.
        Ok(Ref { up: up as usize, group: group as usize })
    }

    /// The matched key (or one of its captures) this reference names.
    #[inline]
    pub fn resolve<'w>(&self, walked: &'w WalkedPath<'_>) -> Result<&'w str, TransformError> {
        // The whole key (`&`, `&1`: nearly every reference) without the capture machinery.
        if self.group == 0 {
            if let Some(matched) = walked.matched_up(self.up) {
                return Ok(matched.key());
            }
        }
        self.resolve_with(walked, |matched| matched.capture(self.group))
    }

    /// Like [`Ref::resolve`], for as long as the input lives (borrowed unless the key was made).
    #[inline]
    pub fn resolve_cow<'a>(&self, walked: &WalkedPath<'a>) -> Result<Cow<'a, str>, TransformError> {
        // The whole key (`&`, `&1`: nearly every reference) without the capture machinery.
        if self.group == 0 {
            if let Some(matched) = walked.matched_up(self.up) {
                return Ok(matched.key_cow());
            }
        }
        self.resolve_with(walked, |matched| matched.capture_cow(self.group))
    }

    /// Finds the match this reference looks at and takes `pick` of it, with the errors of both.
    fn resolve_with<'w, 'a, T>(
        &self,
        walked: &'w WalkedPath<'a>,
        pick: impl FnOnce(&'w Matched<'a>) -> Option<T>,
    ) -> Result<T, TransformError> {
        let matched = walked.matched_up(self.up).ok_or_else(|| {
            TransformError::new(format!("reference &({},{}) looks above the top of the input", self.up, self.group))
        })?;
        pick(matched).ok_or_else(|| {
            TransformError::new(format!(
                "reference &({},{}): the key `{}` has no capture {}",
                self.up,
                self.group,
                matched.key(),
                self.group
            ))
        })
    }

    fn canonical(&self, token: char) -> String {
        format!("{token}({},{})", self.up, self.group)
    }
}

/// `Integer.parseInt`: an optional sign and decimal digits, within i32.
pub fn parse_java_int(text: &str) -> Option<i64> {
    // The common case, an array index as a key ("0", "17"): up to 9 digits fit an i32.
    let bytes = text.as_bytes();
    if !bytes.is_empty() && bytes.len() <= 9 && bytes.iter().all(u8::is_ascii_digit) {
        return Some(bytes.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')));
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = text.parse().ok()?;
    (i32::MIN as i64..=i32::MAX as i64).contains(&value).then_some(value)
}

/// An array index as a key (`"3"`): the first thousand are made once and borrowed, so walking
/// an array allocates nothing per element.
pub fn index_key(i: usize) -> Cow<'static, str> {
    const MADE: usize = 1024;
    static KEYS: std::sync::OnceLock<Box<[String]>> = std::sync::OnceLock::new();
    if i < MADE {
        Cow::Borrowed(KEYS.get_or_init(|| (0..MADE).map(|n| n.to_string()).collect())[i].as_str())
    } else {
        Cow::Owned(i.to_string())
    }
}

/// A non-negative array index, as `ArrayPathElement.verifyStringIsNonNegativeInteger` accepts.
pub fn parse_index(text: &str) -> Option<usize> {
    parse_java_int(text).and_then(|n| usize::try_from(n).ok())
}

/// A key with `*` wildcards: each `*` matches one or more characters, reluctantly, anchored at
/// both ends (the reference's `^a(.+?)b(.+?)$`).
#[derive(Debug, Clone)]
pub struct Glob {
    /// The literal text between the stars: one more than the number of stars.
    segments: Vec<String>,
    /// The shortest key that can match: the literal text plus one character per star.
    min_len: usize,
}

impl Glob {
    /// A glob whose every `*` takes one character or more, in the order the stars come (the
    /// reference's `StarRegexPathElement`, `(.+?)` per star); what cardinality keys are.
    pub fn new(key: &str) -> Glob {
        let segments: Vec<String> = key.split('*').map(str::to_owned).collect();
        let min_len = segments.iter().map(String::len).sum::<usize>() + segments.len() - 1;
        Glob { segments, min_len }
    }

    /// A `*` key of shift, modify or remove, as the reference's `PathElementBuilder` makes it:
    /// the kind (one, two or more stars) is chosen by counting the stars of the key without
    /// its escaped characters (`inspect`), and built from the key with only the escapes
    /// removed (`key`). So a key whose escaped `\*` would make it a different kind, or a
    /// two-star key ending in `**`, fails to load there, and does here.
    pub fn reference(orig: &str, inspect: &str, key: &str) -> Result<Glob, String> {
        let (kind, stars) = (inspect.matches('*').count(), key.matches('*').count());
        if kind <= 2 && stars != kind {
            return Err(format!(
                "invalid key `{orig}`: with its escapes removed it has {stars} *s, but {kind} unescaped (an escaped \\* can not be in a key with one or two *s)"
            ));
        }
        if kind == 2 && key.ends_with("**") {
            return Err(format!("invalid key `{orig}`: a key with two *s can not end with `**`"));
        }
        let mut glob = Glob::new(key);
        // `StarDoublePathElement` finds the text between its stars in what lies between the
        // first character after the prefix and the last before the suffix: when that text is
        // empty (`a**b`), the two stars need three characters or more, not two.
        if let [first, mid, last] = glob.segments.as_slice() {
            if mid.is_empty() {
                glob.min_len = first.len() + last.len() + 3;
            }
        }
        Ok(glob)
    }

    pub fn stars(&self) -> usize {
        self.segments.len() - 1
    }

    /// The byte ranges of what each star captured, or `None` when the key does not match.
    pub fn captures(&self, key: &str) -> Option<Captures> {
        if !self.could_match(key) {
            return None;
        }
        let mut caps = Captures::new();
        if let [first, last] = self.segments.as_slice() {
            // One star: it takes everything between the literal prefix and suffix, which
            // `could_match` has checked (with at least one character between them).
            caps.push((first.len() as u32, (key.len() - last.len()) as u32));
            return Some(caps);
        }
        glob_match(&self.segments, key, 0, &mut caps).then_some(caps)
    }

    pub fn is_match(&self, key: &str) -> bool {
        self.could_match(key) && (self.segments.len() == 2 || glob_match(&self.segments, key, 0, &mut Captures::new()))
    }

    /// A cheap filter (prefix, suffix, length) before the backtracking match: most keys fail here.
    fn could_match(&self, key: &str) -> bool {
        let (first, last) = (self.segments[0].as_bytes(), self.segments[self.segments.len() - 1].as_bytes());
        let key = key.as_bytes();
        // `min_len` covers both segments, so the slices are in bounds.
        key.len() >= self.min_len
            && same_bytes(&key[..first.len()], first)
            && same_bytes(&key[key.len() - last.len()..], last)
    }
}

fn glob_match(segments: &[String], key: &str, offset: usize, caps: &mut Captures) -> bool {
    let Some(rest) = key[offset..].strip_prefix(segments[0].as_str()) else {
        return false;
    };
    let start = key.len() - rest.len();
    if segments.len() == 1 {
        return rest.is_empty();
    }
    // The star takes as few characters as it can (at least one) while the rest still matches:
    // it can only end where the next literal segment starts, so only those places are tried,
    // in order.
    let next = segments[1].as_str();
    let Some(first) = rest.chars().next() else {
        return false;
    };
    let mut from = first.len_utf8();
    while from <= rest.len() {
        let at = if next.is_empty() { from } else if let Some(i) = rest[from..].find(next) { from + i } else { return false };
        let end = start + at;
        caps.push((start as u32, end as u32));
        if glob_match(&segments[1..], key, end, caps) {
            return true;
        }
        caps.pop();
        from = at + rest[at..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// A key whose text is built from literal parts and `&` references (`photo-&(1,1)`).
#[derive(Debug, Clone)]
pub struct AmpTemplate {
    tokens: Vec<AmpToken>,
    canonical: String,
}

#[derive(Debug, Clone)]
enum AmpToken {
    Literal(String),
    Ref(Ref),
}

impl AmpTemplate {
    pub fn parse(key: &str) -> Result<AmpTemplate, String> {
        let mut tokens = Vec::new();
        let mut canonical = String::new();
        let mut literal = String::new();
        let mut chars = key.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '&' {
                if !literal.is_empty() {
                    canonical.push_str(&literal);
                    tokens.push(AmpToken::Literal(std::mem::take(&mut literal)));
                }
                let mut end = i + 1;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_digit() || d == '(' || d == ')' || d == ',' {
                        end = j + 1;
                        chars.next();
                    } else {
                        break;
                    }
                }
                let r = Ref::parse(&key[i..end], '&')?;
                canonical.push_str(&r.canonical('&'));
                tokens.push(AmpToken::Ref(r));
            } else {
                literal.push(c);
            }
        }
        if !literal.is_empty() {
            // The reference leaves a trailing literal out of the canonical form; keep it in so
            // that `a&` and `a&b` stay distinct.
            canonical.push_str(&literal);
            tokens.push(AmpToken::Literal(literal));
        }
        Ok(AmpTemplate { tokens, canonical })
    }

    /// The reference, when the template is one and nothing else (`&1`, `&(1,2)`).
    pub fn lone_ref(&self) -> Option<Ref> {
        match self.tokens.as_slice() {
            [AmpToken::Ref(r)] => Some(*r),
            _ => None,
        }
    }

    /// The key text; a lone reference borrows the matched key instead of copying it.
    pub fn evaluate<'a>(&'a self, walked: &WalkedPath<'a>) -> Result<Cow<'a, str>, TransformError> {
        match self.tokens.as_slice() {
            [AmpToken::Ref(r)] => return r.resolve_cow(walked),
            [AmpToken::Literal(s)] => return Ok(Cow::Borrowed(s)),
            _ => {}
        }
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                AmpToken::Literal(s) => out.push_str(s),
                AmpToken::Ref(r) => out.push_str(r.resolve(walked)?),
            }
        }
        Ok(Cow::Owned(out))
    }
}

/// Precedence of computed (non-literal) keys, the reference's `ComputedKeysComparator`: `&`
/// keys, then stars by how many they hold (3+, 2, 1, bare `*`), then longer keys first, then
/// alphabetically.
pub fn computed_rank(key: &PathElement) -> (u8, std::cmp::Reverse<usize>, String) {
    let class = match key {
        PathElement::Amp(_) | PathElement::Array(_) => 1,
        PathElement::Star(g) if g.stars() >= 3 => 2,
        PathElement::Star(g) if g.stars() == 2 => 3,
        PathElement::Star(_) => 4,
        _ => 5,
    };
    let canonical = key.canonical();
    (class, std::cmp::Reverse(canonical.len()), canonical)
}

/// The inside of `[...]` in a path: `[]`, `[3]`, `[&1]`, `[#2]`, `[@(1,index)]`.
#[derive(Debug, Clone)]
pub enum ArrayIndex {
    Append,
    Explicit(usize),
    Amp(Ref),
    /// `[#n]`: how many siblings n levels up have matched so far.
    Hash(usize),
    Transpose(Box<Transpose>),
}

impl ArrayIndex {
    fn parse(key: &str) -> Result<ArrayIndex, String> {
        if !key.starts_with('[') || !key.ends_with(']') || key.len() < 2 {
            return Err(format!("invalid array key `{key}`"));
        }
        let meat = &key[1..key.len() - 1];
        Ok(match meat.chars().next() {
            None => ArrayIndex::Append,
            Some('&') => ArrayIndex::Amp(Ref::parse(meat, '&')?),
            Some('#') => ArrayIndex::Hash(Ref::parse(meat, '#')?.up),
            Some('@') => ArrayIndex::Transpose(Box::new(Transpose::parse(meat)?)),
            Some(_) => ArrayIndex::Explicit(
                parse_index(meat).ok_or_else(|| format!("bad explicit array index `{meat}` in key `{key}`"))?,
            ),
        })
    }

    fn canonical(&self) -> String {
        match self {
            ArrayIndex::Append => "[]".into(),
            ArrayIndex::Explicit(n) => format!("[{n}]"),
            ArrayIndex::Amp(r) => format!("[{}]", r.canonical('&')),
            ArrayIndex::Hash(n) => format!("[#({n})]"),
            ArrayIndex::Transpose(t) => format!("[{}]", t.canonical),
        }
    }

    /// The concrete index, `Ok(None)` when the input gives no usable one (nothing is written).
    pub fn evaluate<'a>(&'a self, walked: &WalkedPath<'a>) -> Result<Option<usize>, TransformError> {
        Ok(match self {
            ArrayIndex::Append => None,
            ArrayIndex::Explicit(n) => Some(*n),
            ArrayIndex::Amp(r) => parse_index(r.resolve(walked)?),
            ArrayIndex::Hash(up) => walked.matched_up(*up).map(Matched::hash_count),
            ArrayIndex::Transpose(t) => t.evaluate(walked).and_then(|s| parse_index(&s)),
        })
    }
}

/// `@(up, sub.path)`: data found by going `up` levels up the input and then down `sub.path`.
#[derive(Debug, Clone)]
pub struct Transpose {
    up: usize,
    sub: Option<ReadPath>,
    canonical: String,
}

impl Transpose {
    /// Parses `@`, `@2`, `@(2)`, `@author`, `@(author)`, `@(2,a.&1.b)`.
    pub fn parse(key: &str) -> Result<Transpose, String> {
        if key.chars().count() < 2 {
            return Err(format!("transpose key `{key}` must say what to look up"));
        }
        let Some(meat) = key.strip_prefix('@') else {
            return Err(format!("transpose key `{key}` must start with `@`"));
        };
        if meat.contains('@') {
            return Err(format!("`{key}`: an @ path can not contain a nested @"));
        }
        if meat.contains('*') || meat.contains("[]") {
            return Err(format!("`{key}`: an @ path can not contain the wildcards * or []"));
        }
        let meat = if let Some(inner) = meat.strip_prefix('(') {
            inner
                .strip_suffix(')')
                .ok_or_else(|| format!("`{key}`: an @ path that opens with ( must close with )"))?
        } else {
            meat
        };
        let (up, sub) = if meat.starts_with(|c: char| c.is_ascii_digit()) {
            match meat.find(',') {
                Some(comma) => (&meat[..comma], &meat[comma + 1..]),
                None => (meat, ""),
            }
        } else {
            ("0", meat)
        };
        if !up.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{key}`: the level of an @ path must be a number"));
        }
        let up: usize = up.parse().map_err(|_| format!("`{key}`: the level of an @ path is too large"))?;
        let sub = if sub.is_empty() { None } else { Some(ReadPath::parse(sub)?) };
        let canonical = match &sub {
            None => format!("@({up},)"),
            Some(p) => format!("@({up},{})", p.canonical()),
        };
        Ok(Transpose { up, sub, canonical })
    }

    /// The data this lookup finds, `None` when there is none (a present `null` is `Some`).
    pub fn lookup<'a>(&'a self, walked: &WalkedPath<'a>) -> Result<Option<View<'a>>, TransformError> {
        let Some(step) = walked.up(self.up) else {
            return Ok(None);
        };
        match &self.sub {
            None => Ok(Some(step.tree)),
            Some(path) => path.read(step.tree, walked),
        }
    }

    /// As an output key: strings as they are, numbers truncated to an int, booleans as text.
    pub fn evaluate<'a>(&'a self, walked: &WalkedPath<'a>) -> Option<Cow<'a, str>> {
        match self.lookup(walked).ok()??.value()? {
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(n) => crate::number::Num::of(n).map(|n| Cow::Owned(n.int_value().to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }
}

/// Every kind of key the reference knows, before the caller checks it suits its side.
#[derive(Debug, Clone)]
pub enum PathElement {
    Literal(String),
    StarAll,
    Star(Glob),
    Amp(AmpTemplate),
    /// `@` alone: the data at this level.
    At,
    Transpose(Box<Transpose>),
    Dollar(Ref),
    /// `#literal`: the literal text as data.
    Hash(String),
    Array(ArrayIndex),
}

impl PathElement {
    /// `PathElementBuilder.parseSingleKeyLHS`: decides the kind by inspecting the key with its
    /// escaped characters removed, and builds it from the key with only the escapes removed.
    pub fn parse(orig: &str) -> Result<PathElement, String> {
        let (inspect, key): (Cow<str>, Cow<str>) = if orig.contains('\\') {
            (remove_escaped_values(orig).into(), remove_escape_chars(orig).into())
        } else {
            (orig.into(), orig.into())
        };
        let inspect = inspect.as_ref();
        let key = key.into_owned();
        if inspect == "@" {
            return Ok(PathElement::At);
        }
        if inspect == "*" {
            return Ok(PathElement::StarAll);
        }
        if inspect.starts_with('[') {
            if inspect.matches('[').count() != 1 || inspect.matches(']').count() != 1 {
                return Err(format!("invalid key `{orig}`: too many [] references"));
            }
            return Ok(PathElement::Array(ArrayIndex::parse(&key)?));
        }
        if inspect.starts_with('@') || inspect.contains("@(") {
            return Ok(PathElement::Transpose(Box::new(Transpose::parse(orig)?)));
        }
        if inspect.contains('@') {
            return Err(format!("invalid key `{orig}`: an @ may only come first"));
        }
        if inspect.contains('$') {
            return Ok(PathElement::Dollar(Ref::parse(&key, '$')?));
        }
        if inspect.contains('[') {
            if inspect.matches('[').count() != 1 || inspect.matches(']').count() != 1 {
                return Err(format!("invalid key `{orig}`: too many [] references"));
            }
            return Ok(PathElement::Array(ArrayIndex::parse(&key)?));
        }
        if inspect.contains('&') {
            if inspect.contains('*') {
                return Err(format!("invalid key `{orig}`: can not mix * with &"));
            }
            return Ok(PathElement::Amp(AmpTemplate::parse(&key)?));
        }
        if inspect.contains('*') {
            return Ok(PathElement::Star(Glob::reference(orig, inspect, &key)?));
        }
        if inspect.contains('#') {
            return Ok(PathElement::Hash(hash_literal(&key)?));
        }
        Ok(PathElement::Literal(key))
    }

    /// The reference's canonical form: two keys with the same one are duplicates.
    pub fn canonical(&self) -> String {
        match self {
            PathElement::Literal(s) => s.clone(),
            PathElement::StarAll => "*".into(),
            PathElement::Star(g) => g.segments.join("*"),
            PathElement::Amp(a) => a.canonical.clone(),
            PathElement::At => "@".into(),
            PathElement::Transpose(t) => t.canonical.clone(),
            PathElement::Dollar(r) => r.canonical('$'),
            // `#ab` and `#(ab)` are the same key.
            PathElement::Hash(s) => format!("#({s})"),
            PathElement::Array(a) => a.canonical(),
        }
    }

    /// Matches an input key against this (left-hand-side) key.
    pub fn matches<'a>(&'a self, key: &Cow<'a, str>, walked: &WalkedPath<'a>) -> Result<Option<Matched<'a>>, TransformError> {
        Ok(match self {
            PathElement::Literal(s) => (s == key.as_ref()).then(|| Matched::new(key.clone())),
            PathElement::StarAll => Some(Matched::new(key.clone())),
            PathElement::Star(g) => g.captures(key).map(|caps| Matched::with_captures(key.clone(), caps)),
            PathElement::Amp(a) => {
                let evaluated = a.evaluate(walked)?;
                (evaluated == key.as_ref()).then(|| Matched::new(evaluated))
            }
            PathElement::Array(a) => match a.evaluate(walked)? {
                Some(n) if index_key(n) == key.as_ref() => Some(Matched::new(key.clone())),
                _ => None,
            },
            PathElement::Dollar(r) => Some(Matched::new(r.resolve_cow(walked)?)),
            PathElement::Hash(s) => Some(Matched::new(Cow::Borrowed(s))),
            // `@` and `@(..)` keys stand for their parent's match, so `&0` and `&1` agree.
            PathElement::At | PathElement::Transpose(_) => Some(Matched::alias()),
        })
    }
}

/// The text of a `#literal` or `#(literal)` key (`HashPathElement`): the key must start with the
/// `#` and have something after it, and parentheses must close at its end.
fn hash_literal(key: &str) -> Result<String, String> {
    if key.trim().is_empty() {
        return Err("a # key can not be empty".into());
    }
    let Some(rest) = key.strip_prefix('#') else {
        return Err(format!("invalid key `{key}`: a # key must start with the #"));
    };
    if rest.is_empty() {
        return Err("`#` needs the literal it writes after it (`#yes`)".into());
    }
    match rest.strip_prefix('(') {
        Some(inner) => match inner.strip_suffix(')') {
            Some(literal) => Ok(literal.to_owned()),
            None => Err(format!("invalid key `{key}`: mismatched parentheses")),
        },
        None => Ok(rest.to_owned()),
    }
}

// given "\@pants" -> "pants", "rating-\&pants" -> "rating-pants", "rating\\pants" -> "ratingpants"
fn remove_escaped_values(orig: &str) -> String {
    let mut out = String::new();
    let mut prev_was_escape = false;
    for c in orig.chars() {
        if c == '\\' {
            prev_was_escape = !prev_was_escape;
        } else {
            if !prev_was_escape {
                out.push(c);
            }
            prev_was_escape = false;
        }
    }
    out
}

// given "\@pants" -> "@pants", "rating-\&pants" -> "rating-&pants", "rating\\pants" -> "rating\pants"
pub fn remove_escape_chars(orig: &str) -> String {
    let mut out = String::new();
    let mut prev_was_escape = false;
    for c in orig.chars() {
        if c == '\\' {
            if prev_was_escape {
                out.push(c);
                prev_was_escape = false;
            } else {
                prev_was_escape = true;
            }
        } else {
            out.push(c);
            prev_was_escape = false;
        }
    }
    out
}

/// `SpecStringParser.fixLeadingBracketSugar`: `data[2]` -> `data.[2]`.
fn fix_leading_bracket_sugar(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    let mut prev: Option<char> = None;
    for c in path.chars() {
        if let Some(p) = prev {
            if c == '[' && p != '\\' && p != '@' && p != '.' {
                out.push('.');
            }
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// `SpecStringParser.parseDotNotation`: splits an output path on unescaped dots, keeping `@(..)`
/// groups whole.
#[allow(clippy::while_let_on_iterator)]
pub fn split_dot_notation(path: &str) -> Result<Vec<String>, String> {
    let fixed = fix_leading_bracket_sugar(path);
    let mut out = Vec::new();
    let mut chars = fixed.chars().peekable();
    let mut sb = String::new();
    let mut prev_is_escape = false;
    while let Some(c) = chars.next() {
        // Not a `for`: parse_at_element below takes characters from the same iterator.
        let curr_is_escape = c == '\\' && !prev_is_escape;
        if prev_is_escape && c != '.' && c != '\\' {
            sb.push('\\');
            sb.push(c);
        } else if c == '@' {
            sb.push('@');
            sb.push_str(&parse_at_element(&mut chars, path)?);
            let part_of_array = sb.contains('[') && !sb.contains(']');
            if !part_of_array {
                out.push(std::mem::take(&mut sb));
            }
        } else if c == '.' {
            if prev_is_escape {
                sb.push('.');
            } else if !sb.is_empty() {
                out.push(std::mem::take(&mut sb));
            }
        } else if !curr_is_escape {
            sb.push(c);
        }
        prev_is_escape = curr_is_escape;
    }
    if !sb.is_empty() {
        out.push(sb);
    }
    Ok(out)
}

/// `SpecStringParser.parseAtPathElement`: after an `@`, takes `(..)` whole, or a bare name up to
/// the next dot (canonicalised to `(name)`).
fn parse_at_element(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, whole: &str) -> Result<String, String> {
    let Some(first) = chars.next() else {
        return Ok(String::new());
    };
    let mut sb = String::new();
    let parens = first == '(';
    if first == '.' {
        return Err(format!("unable to parse `{whole}`: invalid @ path"));
    }
    sb.push(first);
    let mut depth = usize::from(parens);
    for c in chars.by_ref() {
        sb.push(c);
        if parens {
            if c == '(' {
                return Err(format!("unable to parse `{whole}`: too many open parens"));
            } else if c == ')' {
                depth -= 1;
            }
            if depth == 0 {
                return Ok(sb);
            }
        } else if c == '.' {
            sb.pop();
            return Ok(format!("({sb})"));
        }
    }
    if parens && depth != 0 {
        return Err(format!("invalid @() path in `{whole}`"));
    }
    Ok(sb)
}

/// One step of an output or lookup path, and how it walks the tree.
#[derive(Debug, Clone)]
pub enum PathStep {
    /// A map key: literal, `&` template, `#literal` or an `@(..)` lookup.
    Key(KeyStep),
    Index(ArrayIndex),
}

#[derive(Debug, Clone)]
pub enum KeyStep {
    Literal(String),
    Amp(AmpTemplate),
    Transpose(Box<Transpose>),
}

/// A concrete step once evaluated against the walked path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'s> {
    Key(Cow<'s, str>),
    Index(usize),
    Append,
}

/// An evaluated path: the compiled steps themselves when none depends on the input, otherwise
/// made for this input, inline (no allocation) for paths of up to six steps (the hidden `root` is one).
pub enum Steps<'w> {
    Fixed(&'w [Step<'static>]),
    Made(SmallVec<[Step<'w>; 6]>),
}

impl<'w> std::ops::Deref for Steps<'w> {
    type Target = [Step<'w>];

    fn deref(&self) -> &[Step<'w>] {
        match self {
            Steps::Fixed(s) => s,
            Steps::Made(s) => s,
        }
    }
}

/// `map.get(key)`, comparing the keys of small maps instead of hashing them (the map's SipHash
/// costs more than comparing lengths, and rarely text, of up to ~32 keys).
pub fn map_get<'m>(map: &'m serde_json::Map<String, Value>, key: &str) -> Option<(&'m String, &'m Value)> {
    if map.len() <= 32 {
        map.iter().find(|(k, _)| same_key(k, key))
    } else {
        map.get_key_value(key)
    }
}

/// String equality for keys: the length, then (for keys of up to 16 bytes, nearly all of them)
/// two loads that together cover every byte, overlapping in the middle, instead of a call into
/// `memcmp`, which costs more than the comparison itself for short keys.
#[inline]
pub fn same_key(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same_key`] on bytes.
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        // Bytes 0, n/2 and n-1 are every byte of a 1-, 2- or 3-byte key.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        9..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// The `N` bytes of `s` from `at` (the caller proves `at + N <= s.len()`).
#[inline(always)]
fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
    let mut w = [0u8; N];
    w.copy_from_slice(&s[at..at + N]);
    w
}

/// A parsed dot-notation path (`a.&1.b[#2]`), evaluated per input into concrete [`Step`]s.
#[derive(Debug, Clone)]
pub struct ReadPath {
    steps: Vec<PathStep>,
    /// The concrete steps, when no step depends on the input (most paths): no work per write.
    fixed: Option<Vec<Step<'static>>>,
}

impl ReadPath {
    /// The compiled steps.
    pub fn steps(&self) -> &[PathStep] {
        &self.steps
    }

    /// Whether the path is the same for every input (it reads nothing of the walked path).
    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    /// Parses an output/lookup path; `*` and `$` are not allowed in one.
    pub fn parse(path: &str) -> Result<ReadPath, String> {
        if (path.contains('*') && !path.contains("\\*")) || (path.contains('$') && !path.contains("\\$")) {
            return Err(format!("the path `{path}` can not contain `*` or `$`"));
        }
        let mut steps = Vec::new();
        for piece in split_dot_notation(path)? {
            steps.push(match PathElement::parse(&piece)? {
                PathElement::Literal(s) => PathStep::Key(KeyStep::Literal(s)),
                // `#` writes a literal as data on the left; on the right only `[#n]` is valid.
                PathElement::Hash(_) => {
                    return Err(format!("`{piece}` is not valid in the path `{path}`: a # key is only valid on the left (on the right, use [#n])"))
                }
                PathElement::Amp(a) => PathStep::Key(KeyStep::Amp(a)),
                PathElement::Transpose(t) => PathStep::Key(KeyStep::Transpose(t)),
                PathElement::Array(a) => PathStep::Index(a),
                PathElement::At => return Err(format!("`.@.` is not valid in the path `{path}`")),
                other => {
                    return Err(format!("`{}` is not valid in the path `{path}`", other.canonical()))
                }
            });
        }
        let fixed = steps
            .iter()
            .map(|s| match s {
                PathStep::Key(KeyStep::Literal(l)) => Some(Step::Key(Cow::Owned(l.clone()))),
                PathStep::Index(ArrayIndex::Append) => Some(Step::Append),
                PathStep::Index(ArrayIndex::Explicit(n)) => Some(Step::Index(*n)),
                _ => None,
            })
            .collect();
        Ok(ReadPath { steps, fixed })
    }

    pub fn canonical(&self) -> String {
        let parts: Vec<String> = self
            .steps
            .iter()
            .map(|s| match s {
                PathStep::Key(KeyStep::Literal(l)) => l.clone(),
                PathStep::Key(KeyStep::Amp(a)) => a.canonical.clone(),
                PathStep::Key(KeyStep::Transpose(t)) => t.canonical.clone(),
                PathStep::Index(i) => i.canonical(),
            })
            .collect();
        parts.join(".")
    }

    /// Evaluates every step and hands them to `f`; `Ok(None)`, without calling it, when one has
    /// no value for this input (nothing happens). The steps are built where they are used, not
    /// returned: moving a few hundred bytes of inline steps cost more than evaluating them.
    pub fn with_steps<'a, R>(
        &'a self,
        walked: &WalkedPath<'a>,
        f: impl FnOnce(&Steps<'a>) -> R,
    ) -> Result<Option<R>, TransformError> {
        if let Some(fixed) = &self.fixed {
            return Ok(Some(f(&Steps::Fixed(fixed.as_slice()))));
        }
        // Built in place inside `Steps`, which is then only borrowed (not moved: it is 200 bytes).
        let mut made = Steps::Made(SmallVec::new());
        let Steps::Made(out) = &mut made else { unreachable!("just made") };
        for step in &self.steps {
            out.push(match step {
                PathStep::Key(KeyStep::Literal(s)) => Step::Key(Cow::Borrowed(s)),
                PathStep::Key(KeyStep::Amp(a)) => Step::Key(a.evaluate(walked)?),
                PathStep::Key(KeyStep::Transpose(t)) => match t.evaluate(walked) {
                    Some(s) => Step::Key(s),
                    None => return Ok(None),
                },
                PathStep::Index(ArrayIndex::Append) => Step::Append,
                PathStep::Index(i) => match i.evaluate(walked)? {
                    Some(n) => Step::Index(n),
                    None => return Ok(None),
                },
            });
        }
        Ok(Some(f(&made)))
    }

    /// Reads the data at this path below `tree`: `None` when something on the way is missing.
    pub fn read<'a, 'x>(&'x self, tree: View<'a>, walked: &WalkedPath<'x>) -> Result<Option<View<'a>>, TransformError> {
        if let Some(fixed) = &self.fixed {
            // The common `@(n,key.path)`: no steps to evaluate, walk the compiled ones.
            return Ok(read_steps(tree, fixed));
        }
        Ok(self.with_steps(walked, |steps| read_steps(tree, steps))?.flatten())
    }
}

/// Walks concrete steps down a tree (a read never creates anything).
pub fn read_steps<'a>(mut tree: View<'a>, steps: &[Step<'_>]) -> Option<View<'a>> {
    for step in steps {
        tree = match step {
            Step::Key(k) => tree.get(k)?,
            Step::Index(i) => tree.index(*i)?,
            Step::Append => return None,
        };
    }
    Some(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_compares_every_byte_of_every_length() {
        for n in 0..40usize {
            let a: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            assert!(same_key(&a, &a.clone()), "{n}");
            for at in 0..n {
                let mut b = a.clone().into_bytes();
                b[at] = b'#';
                assert!(!same_key(&a, std::str::from_utf8(&b).unwrap()), "{n} differing at {at}");
            }
            assert!(!same_key(&a, &format!("{a}x")));
        }
    }

    #[test]
    fn java_ints_parse_as_integer_parse_int_does() {
        for (text, expected) in [
            ("0", Some(0)), ("7", Some(7)), ("0123", Some(123)), ("999999999", Some(999_999_999)),
            ("2147483647", Some(2_147_483_647)), ("2147483648", None), ("-2147483648", Some(-2_147_483_648)),
            ("+5", Some(5)), ("-0", Some(0)), ("", None), ("-", None), ("1a", None), (" 1", None), ("١", None),
        ] {
            assert_eq!(parse_java_int(text), expected, "{text:?}");
        }
    }

    #[test]
    fn references_accept_every_sugar() {
        assert_eq!(Ref::parse("&", '&'), Ok(Ref { up: 0, group: 0 }));
        assert_eq!(Ref::parse("&2", '&'), Ok(Ref { up: 2, group: 0 }));
        assert_eq!(Ref::parse("&(2)", '&'), Ok(Ref { up: 2, group: 0 }));
        assert_eq!(Ref::parse("&(2,1)", '&'), Ok(Ref { up: 2, group: 1 }));
        assert!(Ref::parse("&(1,2,3)", '&').is_err());
        assert!(Ref::parse("&x", '&').is_err());
    }

    #[test]
    fn stars_capture_reluctantly_and_need_a_character() {
        let g = Glob::new("rating-*-*");
        let key = "rating-a-b-c";
        let caps = g.captures(key).unwrap();
        assert_eq!(&key[caps[0].0 as usize..caps[0].1 as usize], "a");
        assert_eq!(&key[caps[1].0 as usize..caps[1].1 as usize], "b-c");
        assert!(!Glob::new("tag-*").is_match("tag-"));
        assert!(Glob::new("*-x").is_match("a-x"));
        assert!(!Glob::new("*-x").is_match("-x"));
        let g = Glob::new("a*b*c");
        let key = "aXbYbZc";
        let caps = g.captures(key).unwrap();
        assert_eq!(&key[caps[0].0 as usize..caps[0].1 as usize], "X");
        assert_eq!(&key[caps[1].0 as usize..caps[1].1 as usize], "YbZ");
        assert!(g.captures("abbc").is_none(), "each star takes at least one character");
        assert!(Glob::new("é*ü").captures("éàü").is_some());
    }

    /// The reference matches a star key with the regex `^seg(.+?)seg(.+?)seg$`; the scan must
    /// find the same captures on every key, multi-byte characters included.
    #[test]
    fn star_captures_agree_with_the_reference_regex() {
        let alphabet = ['a', 'b', '-', 'é'];
        let patterns = ["*", "a*", "*a", "a*b", "*-*", "a*-*b", "**", "*a*a*", "é*-"];
        for pattern in patterns {
            let glob = Glob::new(pattern);
            let source: Vec<String> = pattern.split('*').map(regex::escape).collect();
            let re = regex::Regex::new(&format!("^{}$", source.join("(.+?)"))).unwrap();
            // Every key of up to five characters over the alphabet.
            let mut keys = vec![String::new()];
            for _ in 0..5 {
                let longer: Vec<String> = keys.iter().flat_map(|k| alphabet.iter().map(move |c| format!("{k}{c}"))).collect();
                keys.extend(longer);
            }
            keys.sort();
            keys.dedup();
            for key in &keys {
                let ours = glob.captures(key).map(|c| c.iter().map(|&(s, e)| key[s as usize..e as usize].to_owned()).collect::<Vec<_>>());
                let theirs = re.captures(key).map(|c| c.iter().skip(1).map(|m| m.map_or(String::new(), |m| m.as_str().to_owned())).collect::<Vec<_>>());
                assert_eq!(ours, theirs, "pattern {pattern:?} key {key:?}");
                assert_eq!(glob.is_match(key), theirs.is_some(), "pattern {pattern:?} key {key:?}");
            }
        }
    }

    #[test]
    fn dot_notation_keeps_at_groups_and_escapes() {
        assert_eq!(split_dot_notation("a.@(1,b.c).d").unwrap(), vec!["a", "@(1,b.c)", "d"]);
        assert_eq!(split_dot_notation("data[2].x").unwrap(), vec!["data", "[2]", "x"]);
        assert_eq!(split_dot_notation("a\\.b.c").unwrap(), vec!["a.b", "c"]);
        assert_eq!(split_dot_notation("@author.x").unwrap(), vec!["@(author)", "x"]);
    }

    #[test]
    fn keys_are_classified_like_the_reference() {
        assert!(matches!(PathElement::parse("@").unwrap(), PathElement::At));
        assert!(matches!(PathElement::parse("tag-*-*").unwrap(), PathElement::Star(_)));
        assert!(matches!(PathElement::parse("\\@foo").unwrap(), PathElement::Literal(s) if s == "@foo"));
        assert!(matches!(PathElement::parse("#yes").unwrap(), PathElement::Hash(s) if s == "yes"));
        assert!(PathElement::parse("a&*").is_err());
        assert!(ReadPath::parse("a.*.b").is_err());
    }
}

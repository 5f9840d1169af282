//! DSL text -> AST, with the pest grammar in `grammar/routing.pest`.
//!
//! pest stops at the first syntax error of a file; the error names what was expected there in
//! words a rule author knows ("a condition", "`}`"), not grammar rule names. Everything else
//! (unknown lets, bad regexes, ...) is left to the checker so one run reports all of it.
use pest::iterators::Pair;
use pest::Parser as _;
use serde_json::Number;

use super::ast::*;
use super::diag::{Code, Diagnostic};

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/routing.pest"]
struct RoutingParser;

/// Parses one DSL file. `file` is its index in the compiler's file list (it goes into every span).
pub fn parse_file(file: usize, text: &str) -> Result<File, Vec<Diagnostic>> {
    let mut pairs = RoutingParser::parse(Rule::file, text).map_err(|e| vec![syntax_error(file, text, &e)])?;
    let mut builder = Builder { file, diagnostics: Vec::new() };
    let mut items = Vec::new();
    if let Some(file_pair) = pairs.next() {
        for pair in kids(file_pair) {
            match pair.as_rule() {
                Rule::let_def => items.push(Item::Let(builder.let_def(pair))),
                Rule::rule_def => items.push(Item::Rule(builder.rule_def(pair))),
                Rule::default_def => {
                    let span = builder.span(&pair);
                    let actions = kids(pair).map(|p| builder.action(p)).collect();
                    items.push(Item::Default(DefaultBlock { actions, span }));
                }
                _ => {}
            }
        }
    }
    if builder.diagnostics.is_empty() {
        Ok(File { items })
    } else {
        Err(builder.diagnostics)
    }
}

/// Parses a path written on its own (the YAML form's `key:`), e.g. `subject.id` or `data."a b"[0]`.
pub fn parse_path(file: usize, offset: usize, text: &str) -> Option<Path> {
    let mut pairs = RoutingParser::parse(Rule::path, text).ok()?;
    let pair = pairs.next()?;
    if pair.as_str().len() != text.len() {
        return None;
    }
    let mut builder = Builder { file, diagnostics: Vec::new() };
    let mut path = builder.path(pair);
    path.span = Span::new(file, offset, offset + text.len());
    builder.diagnostics.is_empty().then_some(path)
}

fn syntax_error(file: usize, text: &str, error: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let end = text[pos..].chars().next().map_or(pos, |c| pos + c.len_utf8());
    let found = match text[pos..].chars().next() {
        None => "end of file".to_string(),
        Some(_) => {
            let word: String = text[pos..].chars().take_while(|c| !c.is_whitespace()).take(20).collect();
            format!("`{word}`")
        }
    };
    let message = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| expected_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            match names.len() {
                0 => format!("unexpected {found}"),
                1 => format!("expected {}, found {found}", names[0]),
                _ => {
                    let (last, rest) = names.split_last().map_or(("", &[][..]), |(l, r)| (*l, r));
                    format!("expected {} or {last}, found {found}", rest.join(", "))
                }
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    let hint = if found.trim_matches('`').chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && super::print::is_keyword(found.trim_matches('`'))
    {
        Some(format!("{found} is a keyword; quote it (`\"{}\"`) to use it as a path segment", found.trim_matches('`')))
    } else {
        Some("see docs/routing-language.md for the syntax".to_string())
    };
    Diagnostic::new(Code::E001, message, Span::new(file, pos, end)).with_hint_opt(hint)
}

/// The words a syntax error uses for a grammar rule (`None`: not worth naming).
fn expected_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::lbrack => "`[`",
        Rule::rbrack => "`]`",
        Rule::comma => "`,`",
        Rule::equals => "`=`",
        Rule::dotdot => "`..`",
        Rule::kw_rule => "`rule`",
        Rule::kw_let => "`let`",
        Rule::kw_when => "`when`",
        Rule::kw_to => "`to`",
        Rule::kw_topic => "`topic`",
        Rule::kw_webhook => "`webhook`",
        Rule::kw_store => "`store`",
        Rule::kw_default => "`default`",
        Rule::kw_priority => "`priority`",
        Rule::kw_description => "`description`",
        Rule::kw_key => "`key`",
        Rule::kw_transform => "`transform`",
        Rule::kw_header => "`header`",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_not => "`not`",
        Rule::kw_in => "`in`",
        Rule::kw_matches => "`matches`",
        Rule::kw_like => "`like`",
        Rule::kw_starts_with => "`starts_with`",
        Rule::kw_ends_with => "`ends_with`",
        Rule::kw_eq_ic => "`equals_ignore_case`",
        Rule::kw_contains => "`contains`",
        Rule::kw_any => "`any`",
        Rule::kw_all => "`all`",
        Rule::kw_exists => "`exists`",
        Rule::kw_between => "`between`",
        Rule::kw_in_cidr => "`in_cidr`",
        Rule::kw_method => "`method`",
        Rule::kw_timeout => "`timeout`",
        Rule::kw_retry => "`retry`",
        Rule::kw_backoff => "`backoff`",
        Rule::kw_sign => "`sign`",
        Rule::let_def => "`let`",
        Rule::rule_def => "`rule`",
        Rule::default_def => "`default`",
        Rule::rule_name => "a rule name",
        Rule::let_name => "a let name",
        Rule::description => "`description`",
        Rule::priority => "`priority`",
        Rule::condition | Rule::conjunction | Rule::negation | Rule::group => "a condition",
        Rule::not_op => "`not`",
        Rule::quantifier | Rule::quant_kind => "`any`/`all`",
        Rule::exists_pred => "`exists`",
        Rule::let_ref => "a let name",
        Rule::predicate | Rule::path | Rule::bare_segment => "a path",
        Rule::op_eq | Rule::op_ne | Rule::op_ord | Rule::ord_symbol | Rule::op_between | Rule::op_not_in
        | Rule::op_in | Rule::op_matches | Rule::op_like | Rule::op_starts_with | Rule::op_ends_with
        | Rule::op_eq_ic | Rule::op_contains_any | Rule::op_contains_all | Rule::op_contains
        | Rule::op_in_cidr => "an operator (==, !=, <, in, matches, like, contains, ...)",
        Rule::index => "`[`",
        Rule::topic_action | Rule::webhook_action | Rule::store_action => "an action (`to topic`, `to webhook`, `to store`)",
        Rule::drop_action => "`drop`",
        Rule::stop_action => "`stop`",
        Rule::key_option => "`key`",
        Rule::transform_option => "`transform`",
        Rule::header_option => "`header`",
        Rule::webhook_block => "`{` (webhook options)",
        Rule::method_option | Rule::timeout_option | Rule::retry_option | Rule::sign_option => {
            "a webhook option (method, header, timeout, retry, sign)"
        }
        Rule::http_method => "POST, PUT or PATCH",
        Rule::list => "a list `[...]`",
        Rule::string => "a string",
        Rule::number | Rule::integer | Rule::uint => "a number",
        Rule::true_lit | Rule::false_lit | Rule::null_lit => "a literal",
        Rule::duration => "a duration (250ms, 10s, 5m, 1h)",
        Rule::regex => "a regex `/.../`",
        _ => return None,
    })
}

/// Keywords are atomic tokens (so that `rule` followed by a space is not `rule` followed by a
/// name character); the builder reads past them.
fn is_keyword_rule(rule: Rule) -> bool {
    matches!(rule, Rule::kw_rule | Rule::kw_let | Rule::kw_when | Rule::kw_to | Rule::kw_topic | Rule::kw_webhook | Rule::kw_store | Rule::kw_default | Rule::kw_priority | Rule::kw_description | Rule::kw_key | Rule::kw_transform | Rule::kw_header | Rule::kw_and | Rule::kw_or | Rule::kw_not | Rule::kw_in | Rule::kw_matches | Rule::kw_like | Rule::kw_starts_with | Rule::kw_ends_with | Rule::kw_eq_ic | Rule::kw_contains | Rule::kw_any | Rule::kw_all | Rule::kw_exists | Rule::kw_between | Rule::kw_in_cidr | Rule::kw_method | Rule::kw_timeout | Rule::kw_retry | Rule::kw_backoff | Rule::kw_sign)
}

/// Punctuation rules: named only for syntax errors.
fn is_punctuation(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::lbrace | Rule::rbrace | Rule::lparen | Rule::rparen | Rule::lbrack | Rule::rbrack | Rule::comma | Rule::equals | Rule::dotdot
    )
}

fn kids(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword_rule(p.as_rule()) && !is_punctuation(p.as_rule()))
}

struct Builder {
    file: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Builder {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn let_def(&mut self, pair: Pair<Rule>) -> LetDef {
        let span = self.span(&pair);
        let mut inner = kids(pair);
        let name = inner.next().map(|p| Spanned::new(p.as_str().to_string(), self.span(&p)));
        let condition = inner.next().map(|p| self.condition(p));
        LetDef {
            name: name.unwrap_or_else(|| Spanned::new(String::new(), span)),
            condition: condition.unwrap_or_else(|| empty_condition(span)),
            span,
        }
    }

    fn rule_def(&mut self, pair: Pair<Rule>) -> Rule_ {
        let span = self.span(&pair);
        let mut name = Spanned::new(String::new(), span);
        let mut descriptions = Vec::new();
        let mut priorities = Vec::new();
        let mut condition = empty_condition(span);
        let mut actions = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::rule_name => name = Spanned::new(p.as_str().to_string(), self.span(&p)),
                Rule::description => {
                    if let Some(s) = kids(p).next() {
                        descriptions.push(self.string(s));
                    }
                }
                Rule::priority => {
                    if let Some(n) = kids(p).next() {
                        let nspan = self.span(&n);
                        if self.leading_zero(n.as_str(), nspan) {
                            continue;
                        }
                        match n.as_str().parse::<i64>() {
                            Ok(v) => priorities.push(Spanned::new(v, nspan)),
                            Err(_) => self.diagnostics.push(Diagnostic::new(
                                Code::E019,
                                format!("priority {} does not fit a 64-bit integer", n.as_str()),
                                nspan,
                            )),
                        }
                    }
                }
                Rule::condition => condition = self.condition(p),
                _ => actions.push(self.action(p)),
            }
        }
        Rule_ { name, descriptions, priorities, condition, actions, span }
    }

    fn condition(&mut self, pair: Pair<Rule>) -> Condition {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::condition | Rule::conjunction => {
                let or = pair.as_rule() == Rule::condition;
                let mut parts: Vec<Condition> = kids(pair).map(|p| self.condition(p)).collect();
                if parts.len() == 1 {
                    parts.pop().unwrap_or_else(|| empty_condition(span))
                } else if or {
                    Condition { kind: ConditionKind::Or(parts), span }
                } else {
                    Condition { kind: ConditionKind::And(parts), span }
                }
            }
            Rule::negation => {
                let mut inner = kids(pair);
                match inner.next() {
                    Some(first) if first.as_rule() == Rule::not_op => {
                        let rest = inner.next().map(|p| self.condition(p)).unwrap_or_else(|| empty_condition(span));
                        Condition { kind: ConditionKind::Not(Box::new(rest)), span }
                    }
                    Some(first) => self.condition(first),
                    None => empty_condition(span),
                }
            }
            Rule::group => {
                let inner = kids(pair).next().map(|p| self.condition(p)).unwrap_or_else(|| empty_condition(span));
                Condition { kind: ConditionKind::Group(Box::new(inner)), span }
            }
            Rule::quantifier => {
                let mut inner = kids(pair);
                let all = inner.next().is_some_and(|k| k.as_str() == "all");
                let path = inner.next().map(|p| self.path(p)).unwrap_or_else(|| empty_path(span));
                let cond = inner.next().map(|p| self.condition(p)).unwrap_or_else(|| empty_condition(span));
                Condition { kind: ConditionKind::Quantifier { all, path, condition: Box::new(cond) }, span }
            }
            Rule::exists_pred => {
                let path = kids(pair).next().map(|p| self.path(p)).unwrap_or_else(|| empty_path(span));
                Condition { kind: ConditionKind::Predicate(Predicate { path, op: Operator::Exists }), span }
            }
            Rule::let_ref => Condition { kind: ConditionKind::LetRef(pair.as_str().to_string()), span },
            Rule::predicate => {
                let mut inner = kids(pair);
                let path = inner.next().map(|p| self.path(p)).unwrap_or_else(|| empty_path(span));
                let op = inner.next().map(|p| self.operator(p)).unwrap_or(Operator::Exists);
                Condition { kind: ConditionKind::Predicate(Predicate { path, op }), span }
            }
            _ => empty_condition(span),
        }
    }

    fn operator(&mut self, pair: Pair<Rule>) -> Operator {
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        let mut next_lit = |b: &mut Builder| inner.next().map(|p| b.literal(p));
        match rule {
            Rule::op_eq => Operator::Eq(next_lit(self).unwrap_or_else(null_lit)),
            Rule::op_ne => Operator::Ne(next_lit(self).unwrap_or_else(null_lit)),
            Rule::op_ord => {
                let sym = inner.next().map(|p| p.as_str().to_string()).unwrap_or_default();
                let op = match sym.as_str() {
                    "<" => OrdOp::Lt,
                    "<=" => OrdOp::Le,
                    ">" => OrdOp::Gt,
                    _ => OrdOp::Ge,
                };
                let lit = inner.next().map(|p| self.literal(p)).unwrap_or_else(null_lit);
                Operator::Ord(op, lit)
            }
            Rule::op_between => {
                let a = next_lit(self).unwrap_or_else(null_lit);
                let b = next_lit(self).unwrap_or_else(null_lit);
                Operator::Between(a, b)
            }
            Rule::op_in | Rule::op_not_in | Rule::op_contains_any | Rule::op_contains_all => {
                let items = inner.next().map(|l| kids(l).map(|p| self.literal(p)).collect()).unwrap_or_default();
                match rule {
                    Rule::op_in => Operator::In(items),
                    Rule::op_not_in => Operator::NotIn(items),
                    Rule::op_contains_any => Operator::ContainsAny(items),
                    _ => Operator::ContainsAll(items),
                }
            }
            Rule::op_matches => {
                let mut pattern = Spanned::new(String::new(), Span::default());
                let mut flags = String::new();
                if let Some(re) = inner.next() {
                    for part in kids(re) {
                        match part.as_rule() {
                            Rule::regex_body => {
                                pattern = Spanned::new(unescape_regex(part.as_str()), self.span(&part));
                            }
                            Rule::regex_flags => flags = part.as_str().to_string(),
                            _ => {}
                        }
                    }
                }
                Operator::Matches { pattern, flags }
            }
            Rule::op_contains => Operator::Contains(next_lit(self).unwrap_or_else(null_lit)),
            _ => {
                let s = inner.next().map(|p| self.string(p)).unwrap_or_else(|| Spanned::new(String::new(), Span::default()));
                match rule {
                    Rule::op_like => Operator::Like(s),
                    Rule::op_starts_with => Operator::StartsWith(s),
                    Rule::op_ends_with => Operator::EndsWith(s),
                    Rule::op_eq_ic => Operator::EqualsIgnoreCase(s),
                    _ => Operator::InCidr(s),
                }
            }
        }
    }

    fn literal(&mut self, pair: Pair<Rule>) -> Spanned<Literal> {
        let span = self.span(&pair);
        let lit = match pair.as_rule() {
            Rule::string => Literal::String(self.string(pair).value),
            Rule::number => match serde_json::from_str::<Number>(pair.as_str()) {
                // With arbitrary precision, `1e400` parses; its value is not a finite f64.
                Ok(n) if !n.as_f64().is_some_and(f64::is_finite) => {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::E019,
                            format!("invalid literal: number {} is out of range", pair.as_str()),
                            span,
                        )
                        .with_hint("numbers are JSON numbers within the range of a 64-bit float (about ±1.8e308)"),
                    );
                    Literal::Null
                }
                Ok(n) => Literal::Number(n),
                Err(e) => {
                    self.diagnostics.push(Diagnostic::new(Code::E019, format!("invalid number: {e}"), span));
                    Literal::Null
                }
            },
            Rule::true_lit => Literal::Bool(true),
            Rule::false_lit => Literal::Bool(false),
            _ => Literal::Null,
        };
        Spanned::new(lit, span)
    }

    /// Decodes a string literal's JSON escapes. The grammar lets any backslash pair through so
    /// that a bad escape is reported here, at the escape, as an invalid literal.
    fn string(&mut self, pair: Pair<Rule>) -> Spanned<String> {
        let span = self.span(&pair);
        match decode_string(pair.as_str()) {
            Ok(s) => Spanned::new(s, span),
            Err((at, len, message)) => {
                let start = span.start + at;
                self.diagnostics.push(
                    Diagnostic::new(Code::E019, format!("invalid literal: {message}"), Span::new(self.file, start, start + len))
                        .with_hint("strings take JSON escapes: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"),
                );
                Spanned::new(String::new(), span)
            }
        }
    }

    /// Reports `007`: numbers are JSON numbers, without leading zeros. True when reported.
    fn leading_zero(&mut self, text: &str, span: Span) -> bool {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let bad = digits.len() > 1 && digits.starts_with('0') && digits.as_bytes()[1].is_ascii_digit();
        if bad {
            self.diagnostics.push(
                Diagnostic::new(Code::E019, format!("invalid literal: `{text}` has a leading zero"), span)
                    .with_hint("numbers are JSON numbers: write them without leading zeros"),
            );
        }
        bad
    }

    fn path(&mut self, pair: Pair<Rule>) -> Path {
        let span = self.span(&pair);
        let mut segments = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::bare_segment => segments.push(Segment::Field(p.as_str().to_string())),
                Rule::string => segments.push(Segment::Field(self.string(p).value)),
                Rule::index => {
                    let ispan = self.span(&p);
                    let text = kids(p).next().map(|d| d.as_str().to_string()).unwrap_or_default();
                    if self.leading_zero(&text, ispan) {
                        continue;
                    }
                    match text.parse::<usize>() {
                        Ok(i) => segments.push(Segment::Index(i)),
                        Err(_) => self.diagnostics.push(Diagnostic::new(
                            Code::E019,
                            format!("index {text} is too large"),
                            span,
                        )),
                    }
                }
                _ => {}
            }
        }
        Path { segments, span }
    }

    fn action(&mut self, pair: Pair<Rule>) -> Action {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::topic_action => {
                let mut inner = kids(pair);
                let name = inner.next().map(|p| self.string(p)).unwrap_or_else(|| Spanned::new(String::new(), span));
                let (mut keys, mut transforms, mut headers) = (Vec::new(), Vec::new(), Vec::new());
                for opt in inner {
                    match opt.as_rule() {
                        Rule::key_option => {
                            if let Some(p) = kids(opt).next() {
                                keys.push(self.path(p));
                            }
                        }
                        Rule::transform_option => {
                            if let Some(p) = kids(opt).next() {
                                transforms.push(self.string(p));
                            }
                        }
                        Rule::header_option => headers.push(self.header(opt)),
                        _ => {}
                    }
                }
                ActionKind::Topic { name, keys, transforms, headers }
            }
            Rule::webhook_action => {
                let mut inner = kids(pair);
                let url = inner.next().map(|p| self.string(p)).unwrap_or_else(|| Spanned::new(String::new(), span));
                let mut transform = None;
                let mut options = None;
                for part in inner {
                    match part.as_rule() {
                        Rule::transform_option => transform = kids(part).next().map(|p| self.string(p)),
                        Rule::webhook_block => {
                            options = Some(kids(part).map(|o| self.webhook_option(o)).collect());
                        }
                        _ => {}
                    }
                }
                ActionKind::Webhook { url, transform, options }
            }
            Rule::store_action => ActionKind::Store,
            Rule::drop_action => ActionKind::Drop,
            _ => ActionKind::Stop,
        };
        Action { kind, span }
    }

    fn header(&mut self, pair: Pair<Rule>) -> Header {
        let span = self.span(&pair);
        let mut inner = kids(pair);
        let name = inner.next().map(|p| self.string(p)).unwrap_or_else(|| Spanned::new(String::new(), span));
        let value = inner.next().map(|p| self.string(p)).unwrap_or_else(|| Spanned::new(String::new(), span));
        Header { name, value }
    }

    fn webhook_option(&mut self, pair: Pair<Rule>) -> WebhookOption {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::method_option => {
                let text = kids(pair).next().map(|p| p.as_str().to_string()).unwrap_or_default();
                let method = match text.as_str() {
                    "PUT" => HttpMethod::Put,
                    "PATCH" => HttpMethod::Patch,
                    _ => HttpMethod::Post,
                };
                WebhookOption::Method(Spanned::new(method, span))
            }
            Rule::header_option => WebhookOption::Header(self.header(pair)),
            Rule::timeout_option => {
                let d = kids(pair).next().map(|p| self.duration(p));
                WebhookOption::Timeout(d.unwrap_or_else(|| Spanned::new(zero_duration(), span)))
            }
            Rule::retry_option => {
                let mut inner = kids(pair);
                let attempts = inner.next().map(|p| {
                    let s = self.span(&p);
                    if self.leading_zero(p.as_str(), s) {
                        return Spanned::new(1, s);
                    }
                    match p.as_str().parse::<u64>() {
                        Ok(v) => Spanned::new(v, s),
                        Err(_) => {
                            self.diagnostics.push(Diagnostic::new(Code::E019, "retry count is too large", s));
                            Spanned::new(0, s)
                        }
                    }
                });
                let min = inner.next().map(|p| self.duration(p));
                let max = inner.next().map(|p| self.duration(p));
                WebhookOption::Retry {
                    attempts: attempts.unwrap_or_else(|| Spanned::new(0, span)),
                    backoff: min.zip(max),
                }
            }
            _ => {
                let s = kids(pair).next().map(|p| self.string(p));
                WebhookOption::Sign(s.unwrap_or_else(|| Spanned::new(String::new(), span)))
            }
        }
    }

    fn duration(&mut self, pair: Pair<Rule>) -> Spanned<Duration> {
        let span = self.span(&pair);
        match Duration::parse(pair.as_str()) {
            Some(d) => Spanned::new(d, span),
            None => {
                self.diagnostics.push(
                    Diagnostic::new(Code::E019, format!("invalid literal: duration {}", pair.as_str()), span)
                        .with_hint("a duration is an integer without leading zeros and ms, s, m or h: 250ms, 10s, 5m, 1h"),
                );
                Spanned::new(zero_duration(), span)
            }
        }
    }
}

/// The AST's rule type, renamed here because pest's derive names its enum `Rule` too.
type Rule_ = super::ast::Rule;

/// The value of a JSON string literal (quotes included in `text`), or the byte offset and
/// length in `text` of its first bad escape, with a message.
fn decode_string(text: &str) -> Result<String, (usize, usize, String)> {
    let body = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    let base = usize::from(text.starts_with('"'));
    let mut out = String::with_capacity(body.len());
    let mut iter = body.char_indices();
    // Four hex digits after `\u` at byte `i` of the body.
    let hex4 = |i: usize| -> Option<u32> {
        let digits = body.get(i + 2..i + 6)?;
        if digits.chars().all(|c| c.is_ascii_hexdigit()) {
            u32::from_str_radix(digits, 16).ok()
        } else {
            None
        }
    };
    while let Some((i, c)) = iter.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = iter.next() else {
            return Err((base + i, 1, "bad string escape `\\` at the end".to_string()));
        };
        let simple = match e {
            '"' => Some('"'),
            '\\' => Some('\\'),
            '/' => Some('/'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            continue;
        }
        if e != 'u' {
            return Err((base + i, 1 + e.len_utf8(), format!("bad string escape `\\{e}`")));
        }
        let shown = |len: usize| body.get(i..(i + len).min(body.len())).unwrap_or("").to_string();
        let Some(unit) = hex4(i) else {
            let len = 2 + body[i + 2..].chars().take(4).take_while(|c| c.is_ascii_hexdigit()).count();
            return Err((base + i, len, format!("bad string escape `{}` (\\u takes four hex digits)", shown(len))));
        };
        for _ in 0..4 {
            iter.next();
        }
        let ch = if (0xD800..0xDC00).contains(&unit) {
            match body.get(i + 6..i + 8) {
                Some("\\u") => match hex4(i + 6) {
                    Some(low) if (0xDC00..0xE000).contains(&low) => {
                        for _ in 0..6 {
                            iter.next();
                        }
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                    }
                    _ => None,
                },
                _ => None,
            }
        } else {
            char::from_u32(unit)
        };
        match ch {
            Some(ch) => out.push(ch),
            None => {
                return Err((base + i, 6, format!("bad string escape `{}`: a lone UTF-16 surrogate is not a character", shown(6))))
            }
        }
    }
    Ok(out)
}

/// `/.../` bodies: `\/` stands for `/`; every other backslash pair is kept for the regex engine.
fn unescape_regex(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('/') => out.push('/'),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

// Placeholders for parts the grammar guarantees (a `let_def` always has a name and a condition);
// they keep the builder total without unwrap, and never reach a successfully parsed AST.
fn empty_condition(span: Span) -> Condition {
    Condition { kind: ConditionKind::And(Vec::new()), span }
}

fn empty_path(span: Span) -> Path {
    Path { segments: Vec::new(), span }
}

fn null_lit() -> Spanned<Literal> {
    Spanned::new(Literal::Null, Span::default())
}

fn zero_duration() -> Duration {
    Duration { amount: 0, unit: DurationUnit::Seconds }
}

//! The checker: every lint of the language, over the whole set at once. It never stops at the
//! first problem: each check adds diagnostics and the next one runs, so one `lint` run reports
//! everything (only a file with a syntax error is left out, its rules unknown).
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::ast::*;
use super::compile::{self, CondCompiler};
use super::diag::{line_col, Code, Diagnostic, SourceFile};
use super::eval;
use super::ir::Transform;
use super::print;
use super::template::{self, Env, Piece};

pub(crate) struct Checked<'a> {
    pub diagnostics: Vec<Diagnostic>,
    pub lets: HashMap<String, &'a Condition>,
    /// Rules in evaluation order: priority (higher first), then file order.
    pub rules: Vec<&'a super::ast::Rule>,
    pub default: Option<&'a DefaultBlock>,
    pub transforms: HashMap<String, Arc<Transform>>,
}

pub(crate) struct Input<'a> {
    pub files: &'a [SourceFile],
    pub transforms: &'a [SourceFile],
    pub transforms_dir: &'a str,
    pub env: Env<'a>,
    /// False when some file did not parse: unknown lets may be defined there, so none is reported.
    pub complete: bool,
}

struct Checker<'a, 'i> {
    input: &'i Input<'i>,
    diagnostics: Vec<Diagnostic>,
    lets: HashMap<String, &'a LetDef>,
    /// First segments of root paths in every condition (for W003).
    root_segments: HashSet<String>,
    transforms: HashMap<String, Result<Arc<Transform>, (Code, String)>>,
}

pub(crate) fn check<'a>(input: &Input, parsed: &'a [File]) -> Checked<'a> {
    let mut c = Checker {
        input,
        diagnostics: Vec::new(),
        lets: HashMap::new(),
        root_segments: HashSet::new(),
        transforms: HashMap::new(),
    };
    let mut rules: Vec<&'a super::ast::Rule> = Vec::new();
    let mut names: HashMap<&str, Span> = HashMap::new();
    let mut default: Option<&'a DefaultBlock> = None;
    for file in parsed {
        for item in &file.items {
            match item {
                Item::Let(l) => {
                    if let Some(first) = c.lets.get(&l.name.value) {
                        let at = c.at(first.name.span);
                        c.push(
                            Diagnostic::new(Code::E017, format!("let `{}` is defined twice", l.name.value), l.name.span)
                                .with_hint(format!("the first definition is at {at}; rename one")),
                        );
                    } else {
                        c.lets.insert(l.name.value.clone(), l);
                    }
                }
                Item::Rule(r) => {
                    if let Some(first) = names.get(r.name.value.as_str()) {
                        let at = c.at(*first);
                        c.push(
                            Diagnostic::new(Code::E004, format!("rule `{}` is defined twice", r.name.value), r.name.span)
                                .with_hint(format!("rule names are unique across the set; the first is at {at}")),
                        );
                    } else {
                        names.insert(&r.name.value, r.name.span);
                        rules.push(r);
                    }
                }
                Item::Default(d) => match default {
                    Some(first) => {
                        let at = c.at(first.span);
                        c.push(
                            Diagnostic::new(Code::E005, "a second `default` block", d.span)
                                .with_hint(format!("a set has at most one default block; the first is at {at}")),
                        );
                    }
                    None => default = Some(d),
                },
            }
        }
    }
    // Stable: equal priorities keep file order.
    rules.sort_by_key(|r| std::cmp::Reverse(r.priorities.first().map_or(0, |p| p.value)));

    let mut let_names: Vec<&String> = c.lets.keys().collect();
    let_names.sort();
    let defs: Vec<&'a LetDef> = let_names.iter().filter_map(|n| c.lets.get(*n).copied()).collect();
    for l in &defs {
        c.condition(&l.condition, true);
    }
    for r in &rules {
        c.rule_header(r);
        c.condition(&r.condition, true);
        c.actions(&r.actions, Some(r), None);
    }
    if let Some(d) = default {
        c.actions(&d.actions, None, Some(d.span));
    }
    let lets_ok = c.let_graph(&defs, &rules);
    for l in &defs {
        if c.root_segments.contains(&l.name.value) {
            c.push(
                Diagnostic::new(
                    Code::W003,
                    format!("let `{}` has the name of a path's first segment", l.name.value),
                    l.name.span,
                )
                .with_hint(format!("`{0}` alone means the let; a path starting with `{0}.` means the field; rename the let", l.name.value)),
            );
        }
    }
    if lets_ok {
        let expanded: Vec<Condition> = rules.iter().map(|r| c.expand(&r.condition, 0, 0)).collect();
        for e in &expanded {
            c.contradictions(e);
        }
        c.unreachable(&rules, &expanded);
    }

    let lets = c.lets.iter().map(|(k, v)| (k.clone(), &v.condition)).collect();
    let transforms = c.transforms.iter().filter_map(|(k, v)| v.as_ref().ok().map(|t| (k.clone(), t.clone()))).collect();
    Checked { diagnostics: c.diagnostics, lets, rules, default, transforms }
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Strips groups: `((C))` is `C` for the analyses below.
fn ungroup(c: &Condition) -> &Condition {
    match &c.kind {
        ConditionKind::Group(inner) => ungroup(inner),
        ConditionKind::And(parts) if parts.len() == 1 => ungroup(&parts[0]),
        _ => c,
    }
}

/// The conjuncts of a condition (nested `and`s and groups flattened).
fn conjuncts<'c>(c: &'c Condition, out: &mut Vec<&'c Condition>) {
    let c = ungroup(c);
    match &c.kind {
        ConditionKind::And(parts) => {
            for p in parts {
                conjuncts(p, out);
            }
        }
        _ => out.push(c),
    }
}

fn as_f64(lit: &Literal) -> Option<f64> {
    match lit {
        Literal::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A numeric interval `lo..hi` with open/closed ends, narrowed by each predicate on one path.
#[derive(Clone, Copy)]
struct Interval {
    lo: (f64, bool),
    hi: (f64, bool),
}

impl Interval {
    fn any() -> Interval {
        Interval { lo: (f64::NEG_INFINITY, false), hi: (f64::INFINITY, false) }
    }
    fn above(&mut self, v: f64, strict: bool) {
        if v > self.lo.0 || (v == self.lo.0 && strict) {
            self.lo = (v, strict);
        }
    }
    fn below(&mut self, v: f64, strict: bool) {
        if v < self.hi.0 || (v == self.hi.0 && strict) {
            self.hi = (v, strict);
        }
    }
    fn is_empty(&self) -> bool {
        self.lo.0 > self.hi.0 || (self.lo.0 == self.hi.0 && (self.lo.1 || self.hi.1))
    }
}

impl<'a> Checker<'a, '_> {
    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// `file:line:col` of a span, for hints that point elsewhere.
    fn at(&self, span: Span) -> String {
        match self.input.files.get(span.file) {
            Some(f) => {
                let lc = line_col(&f.text, span.start);
                format!("{}:{}:{}", f.path, lc.line, lc.column)
            }
            None => "<unknown>".to_string(),
        }
    }

    fn rule_header(&mut self, r: &super::ast::Rule) {
        for d in r.descriptions.iter().skip(1) {
            self.push(Diagnostic::new(Code::E015, "a second `description`", d.span).with_hint("write one description per rule"));
        }
        for p in r.priorities.iter().skip(1) {
            self.push(Diagnostic::new(Code::E015, "a second `priority`", p.span).with_hint("write one priority per rule"));
        }
    }

    fn condition(&mut self, c: &Condition, root: bool) {
        match &c.kind {
            ConditionKind::Or(parts) | ConditionKind::And(parts) => {
                for p in parts {
                    self.condition(p, root);
                }
            }
            ConditionKind::Not(inner) | ConditionKind::Group(inner) => self.condition(inner, root),
            ConditionKind::LetRef(name) => {
                if !self.lets.contains_key(name) && self.input.complete {
                    let best = self.lets.keys().map(|k| (distance(k, name), k)).filter(|(d, _)| *d <= 2).min();
                    let hint = match best {
                        Some((_, k)) => format!("did you mean `{k}`?"),
                        None => format!("define it with `let {name} = CONDITION` in any file of the set, or write a predicate (`{name} == ...`)"),
                    };
                    self.push(Diagnostic::new(Code::E002, format!("unknown let `{name}`"), c.span).with_hint(hint));
                }
            }
            ConditionKind::Quantifier { path, condition, .. } => {
                if root {
                    self.note_path(path);
                }
                self.condition(condition, false);
            }
            ConditionKind::Predicate(p) => {
                if root {
                    self.note_path(&p.path);
                }
                self.predicate(p, c.span);
            }
            // Validated completely by its parser.
            ConditionKind::EventPattern(_) => {}
        }
    }

    fn note_path(&mut self, p: &Path) {
        if let Some(Segment::Field(first)) = p.segments.first() {
            self.root_segments.insert(first.clone());
        }
    }

    fn predicate(&mut self, p: &Predicate, span: Span) {
        let non_number = |l: &Spanned<Literal>| !matches!(l.value, Literal::Number(_));
        match &p.op {
            Operator::Ord(op, l) if non_number(l) => self.push(
                Diagnostic::new(
                    Code::E012,
                    format!("`{}` compares with {}, which is not a number", op.symbol(), print::literal(&l.value)),
                    l.span,
                )
                .with_hint("ordering comparisons take a number literal; strings are compared with ==, in, like or matches"),
            ),
            Operator::Between(a, b) => {
                for l in [a, b] {
                    if non_number(l) {
                        self.push(
                            Diagnostic::new(
                                Code::E012,
                                format!("`between` bound {} is not a number", print::literal(&l.value)),
                                l.span,
                            )
                            .with_hint("write `P between 1 and 10` with number bounds"),
                        );
                    }
                }
                if let (Some(x), Some(y)) = (as_f64(&a.value), as_f64(&b.value)) {
                    if x > y {
                        self.push(
                            Diagnostic::new(Code::W005, format!("`{}` can never hold: {x} > {y}", print::predicate(p)), span)
                                .with_hint("write the lower bound first"),
                        );
                    }
                }
            }
            Operator::In(items) | Operator::ContainsAny(items) if items.is_empty() => self.push(
                Diagnostic::new(Code::W002, format!("`{}` never holds: the list is empty", print::predicate(p)), span)
                    .with_hint("add values to the list, or remove the predicate"),
            ),
            Operator::Matches { pattern, flags } => {
                if let Err(e) = compile::matches_regex(&pattern.value, flags) {
                    // An unknown flag is pointed at: the flags follow the closing `/` of the body.
                    let flag_at = flags.char_indices().find(|(_, c)| !"imsx".contains(*c)).map(|(i, c)| {
                        let start = pattern.span.end + 1 + i;
                        Span::new(pattern.span.file, start, start + c.len_utf8())
                    });
                    let in_dsl = self
                        .input
                        .files
                        .get(pattern.span.file)
                        .and_then(|f| f.text.get(pattern.span.end..pattern.span.end + 1))
                        == Some("/");
                    let span = match flag_at {
                        Some(at) if in_dsl => at,
                        _ => pattern.span,
                    };
                    self.push(
                        Diagnostic::new(Code::E006, format!("invalid regex: {e}"), span)
                            .with_hint("the syntax is Rust's `regex` crate (no backreferences or lookaround)"),
                    );
                }
            }
            Operator::Like(g) => {
                if let Err(e) = super::glob::Glob::like(&g.value) {
                    self.push(Diagnostic::new(Code::E007, format!("invalid glob: {e}"), g.span).with_hint(
                        "in a glob, `*` is any run of characters, `?` one character, and `\\\\*` a literal star",
                    ));
                }
            }
            Operator::InCidr(s) => {
                if let Err(e) = super::ir::IpBlock::parse(&s.value) {
                    self.push(
                        Diagnostic::new(Code::E008, format!("invalid CIDR block `{}`: {e}", s.value), s.span)
                            .with_hint("write an address and a prefix length, e.g. \"10.0.0.0/8\" or \"2001:db8::/32\""),
                    );
                }
            }
            _ => {}
        }
    }

    /// Cycles (E003) and unused lets (W007). Returns whether lets can be expanded safely.
    fn let_graph(&mut self, defs: &[&'a LetDef], rules: &[&'a super::ast::Rule]) -> bool {
        fn refs(c: &Condition, out: &mut Vec<String>) {
            match &c.kind {
                ConditionKind::Or(p) | ConditionKind::And(p) => p.iter().for_each(|x| refs(x, out)),
                ConditionKind::Not(i) | ConditionKind::Group(i) => refs(i, out),
                ConditionKind::Quantifier { condition, .. } => refs(condition, out),
                ConditionKind::LetRef(n) => out.push(n.clone()),
                ConditionKind::Predicate(_) | ConditionKind::EventPattern(_) => {}
            }
        }
        let graph: HashMap<&str, Vec<String>> = defs
            .iter()
            .map(|l| {
                let mut out = Vec::new();
                refs(&l.condition, &mut out);
                (l.name.value.as_str(), out)
            })
            .collect();
        let mut ok = true;
        for l in defs {
            if let Some(cycle) = cycle_through(&graph, &l.name.value) {
                ok = false;
                self.push(
                    Diagnostic::new(Code::E003, format!("let `{}` is cyclic: {}", l.name.value, cycle.join(" -> ")), l.name.span)
                        .with_hint("a let cannot refer to itself, directly or through other lets"),
                );
            }
        }
        // Unused: not reachable from any rule.
        let mut used: HashSet<String> = HashSet::new();
        let mut todo: Vec<String> = Vec::new();
        for r in rules {
            refs(&r.condition, &mut todo);
        }
        while let Some(n) = todo.pop() {
            if used.insert(n.clone()) {
                if let Some(next) = graph.get(n.as_str()) {
                    todo.extend(next.iter().cloned());
                }
            }
        }
        for l in defs {
            if !used.contains(&l.name.value) {
                self.push(
                    Diagnostic::new(Code::W007, format!("let `{}` is never used", l.name.value), l.name.span)
                        .with_hint("use it in a rule's condition, or remove it"),
                );
            }
        }
        ok && self.input.complete && self.diagnostics.iter().all(|d| d.code != Code::E002)
    }

    /// The condition with every root-level let reference replaced by the let's condition.
    /// References inside a quantifier stay: their paths are from the root, not the element.
    fn expand(&self, c: &Condition, quantified: usize, depth: usize) -> Condition {
        let kind = match &c.kind {
            ConditionKind::Or(p) => ConditionKind::Or(p.iter().map(|x| self.expand(x, quantified, depth)).collect()),
            ConditionKind::And(p) => ConditionKind::And(p.iter().map(|x| self.expand(x, quantified, depth)).collect()),
            ConditionKind::Not(i) => ConditionKind::Not(Box::new(self.expand(i, quantified, depth))),
            ConditionKind::Group(i) => ConditionKind::Group(Box::new(self.expand(i, quantified, depth))),
            ConditionKind::Quantifier { all, path, condition } => ConditionKind::Quantifier {
                all: *all,
                path: path.clone(),
                condition: Box::new(self.expand(condition, quantified + 1, depth)),
            },
            ConditionKind::LetRef(n) if quantified == 0 && depth < 64 => match self.lets.get(n) {
                Some(l) => ConditionKind::Group(Box::new(self.expand(&l.condition, 0, depth + 1))),
                None => c.kind.clone(),
            },
            other => other.clone(),
        };
        Condition { kind, span: c.span }
    }

    /// W005: conjunctions whose predicates on one path cannot all hold.
    fn contradictions(&mut self, c: &Condition) {
        match &c.kind {
            ConditionKind::Or(p) => p.iter().for_each(|x| self.contradictions(x)),
            ConditionKind::Not(i) | ConditionKind::Group(i) => self.contradictions(i),
            ConditionKind::Quantifier { condition, .. } => self.contradictions(condition),
            ConditionKind::And(parts) if parts.len() > 1 => {
                let mut cs = Vec::new();
                conjuncts(c, &mut cs);
                if let Some((message, certain)) = contradiction(&cs) {
                    let mut d = Diagnostic::new(Code::W005, format!("this condition can never hold: {message}"), c.span);
                    if !certain {
                        d = d.with_hint(
                            "unless the path reaches several values (an array), each satisfying a different predicate; \
                             to test one element, quantify: `any P (...)`",
                        );
                    }
                    self.push(d);
                }
                for p in parts {
                    if !matches!(ungroup(p).kind, ConditionKind::And(_)) {
                        self.contradictions(p);
                    }
                }
            }
            ConditionKind::And(p) => p.iter().for_each(|x| self.contradictions(x)),
            _ => {}
        }
    }

    /// W006: a rule after a `stop`/`drop` rule that always fires for the events it matches.
    fn unreachable(&mut self, rules: &[&super::ast::Rule], expanded: &[Condition]) {
        let texts: Vec<String> = expanded.iter().map(print::condition).collect();
        // Only rules that end evaluation can hide later ones: the pairs checked are (each such
        // rule, each later rule), not all pairs, so 100,000 rules with a few `stop`s lint in
        // linear time.
        let ending: Vec<(usize, &'static str)> = rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.actions.iter().find_map(|a| match a.kind {
                    ActionKind::Drop => Some((i, "drop")),
                    ActionKind::Stop => Some((i, "stop")),
                    _ => None,
                })
            })
            .collect();
        for (j, later) in rules.iter().enumerate() {
            for &(i, how) in ending.iter().take_while(|(i, _)| *i < j) {
                let earlier = rules[i];
                let covered = texts[i] == texts[j] || covers_event_types(&expanded[i], &expanded[j]);
                if covered {
                    self.push(
                        Diagnostic::new(
                            Code::W006,
                            format!(
                                "rule `{}` can never fire: `{}` ({how}) fires first for every event it matches",
                                later.name.value, earlier.name.value
                            ),
                            later.name.span,
                        )
                        .with_hint(format!(
                            "give `{}` a higher priority than `{}`, or narrow `{}`",
                            later.name.value, earlier.name.value, earlier.name.value
                        )),
                    );
                    break;
                }
            }
        }
    }

    fn actions(&mut self, actions: &[Action], rule: Option<&super::ast::Rule>, default_span: Option<Span>) {
        let mut stop: Option<Span> = None;
        let mut drop: Option<Span> = None;
        for a in actions {
            match &a.kind {
                ActionKind::Stop | ActionKind::Drop => {
                    let (slot, word) = if a.kind == ActionKind::Stop { (&mut stop, "stop") } else { (&mut drop, "drop") };
                    if slot.is_some() {
                        self.push(Diagnostic::new(Code::E015, format!("`{word}` is written twice"), a.span).with_hint(format!("write `{word}` once")));
                    } else {
                        *slot = Some(a.span);
                    }
                    if rule.is_none() {
                        let d = if a.kind == ActionKind::Stop {
                            Diagnostic::new(Code::W008, "`stop` in the default block does nothing", a.span)
                                .with_hint("the default block applies last; remove it")
                        } else {
                            Diagnostic::new(Code::W008, "`drop` in the default block: the default block delivers nothing", a.span)
                                .with_hint("`drop` contributes no delivery, as in a rule; remove it to deliver the block's other actions")
                        };
                        self.push(d);
                    }
                }
                ActionKind::Store => {}
                ActionKind::Topic { name, keys, transforms, headers } => {
                    self.action_string(name, true);
                    if let Some(why) = topic_literal_problem(&name.value) {
                        self.push(
                            Diagnostic::new(Code::E016, format!("topic name `{}` {why}", name.value), name.span)
                                .with_hint("a Kafka topic name is 1 to 249 of [A-Za-z0-9._-], not `.` or `..`"),
                        );
                    }
                    for k in keys.iter().skip(1) {
                        self.push(Diagnostic::new(Code::E015, "a second `key` for one topic", k.span).with_hint("write one `key PATH`"));
                    }
                    for t in transforms.iter().skip(1) {
                        self.push(Diagnostic::new(Code::E015, "a second `transform` for one topic", t.span).with_hint("chain the operations in one Jolt spec instead"));
                    }
                    if let Some(t) = transforms.first() {
                        self.transform(t);
                    }
                    for h in headers {
                        self.action_string(&h.name, false);
                        self.action_string(&h.value, false);
                    }
                }
                ActionKind::Webhook { url, transform, options } => {
                    self.action_string(url, false);
                    if let Err(why) = check_webhook_url(&url.value) {
                        self.push(
                            Diagnostic::new(Code::E015, format!("webhook URL `{}` {why}", url.value), url.span)
                                .with_hint("write an absolute http:// or https:// URL"),
                        );
                    }
                    if let Some(t) = transform {
                        self.transform(t);
                    }
                    self.webhook_options(options.as_deref().unwrap_or(&[]));
                }
            }
        }
        if let (Some(s), Some(_)) = (stop, drop) {
            self.push(
                Diagnostic::new(Code::W004, "`stop` together with `drop`: drop wins", s)
                    .with_hint("`drop` already ends evaluation; remove `stop`"),
            );
        }
        // The grammar is `when CONDITION ACTION+` and `default { ACTION+ }`.
        if actions.is_empty() {
            let (message, span) = match rule {
                Some(r) => (format!("rule `{}` has no actions", r.name.value), r.name.span),
                None => ("the default block has no actions".to_string(), default_span.unwrap_or_default()),
            };
            self.push(
                Diagnostic::new(Code::E020, message, span)
                    .with_hint("add at least one action: `to topic ...`, `to webhook ...`, `to store`, `drop` or `stop`"),
            );
        }
    }

    fn webhook_options(&mut self, options: &[WebhookOption]) {
        let mut seen: HashSet<&str> = HashSet::new();
        for o in options {
            let (word, span) = match o {
                WebhookOption::Method(m) => ("method", m.span),
                WebhookOption::Timeout(d) => ("timeout", d.span),
                WebhookOption::Retry { attempts, .. } => ("retry", attempts.span),
                WebhookOption::Sign(s) => ("sign", s.span),
                WebhookOption::Header(h) => {
                    self.action_string(&h.name, false);
                    self.action_string(&h.value, false);
                    // Literal text must be sendable as HTTP (a `${VAR}` is checked when the rules
                    // are loaded with the environment: a reload that cannot build the endpoint is
                    // refused).
                    if !h.name.value.contains("${") && !is_http_token(&h.name.value) {
                        self.push(
                            Diagnostic::new(Code::E015, format!("`{}` is not an HTTP header name", h.name.value), h.name.span)
                                .with_hint("a header name is letters, digits and !#$%&'*+-.^_`|~, with no spaces"),
                        );
                    }
                    if !h.value.value.contains("${") && !h.value.value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
                        self.push(
                            Diagnostic::new(Code::E015, "this header value is not sendable over HTTP", h.value.span)
                                .with_hint("a header value is printable ASCII (spaces and tabs allowed): no line breaks, control characters or non-ASCII"),
                        );
                    }
                    continue;
                }
            };
            if !seen.insert(word) {
                self.push(Diagnostic::new(Code::E015, format!("`{word}` is written twice"), span).with_hint(format!("write `{word}` once")));
            }
            match o {
                WebhookOption::Timeout(d) if d.value.as_millis() == Some(0) || d.value.as_millis().is_none() => {
                    self.push(Diagnostic::new(Code::E015, "the timeout must be positive (and below u64 milliseconds)", d.span));
                }
                WebhookOption::Retry { attempts, backoff } => {
                    if attempts.value == 0 || attempts.value > u64::from(u32::MAX) {
                        self.push(
                            Diagnostic::new(Code::E015, format!("retry {} attempts", attempts.value), attempts.span)
                                .with_hint("`retry N` counts attempts in total, the first included: N is at least 1"),
                        );
                    }
                    if let Some((min, max)) = backoff {
                        match (min.value.as_millis(), max.value.as_millis()) {
                            (Some(a), Some(b)) if a <= b => {}
                            _ => self.push(
                                Diagnostic::new(Code::E015, "the backoff minimum is above its maximum", min.span)
                                    .with_hint("write `backoff MIN..MAX`, e.g. 1s..10m"),
                            ),
                        }
                    }
                }
                WebhookOption::Sign(s) => {
                    self.action_string(s, false);
                    if !s.value.contains("${") {
                        if let Some(why) = signing_secret_problem(&s.value) {
                            // The message never quotes the secret.
                            self.push(Diagnostic::new(Code::E015, format!("the signing secret {why}"), s.span).with_hint(
                                "write `sign \"whsec_<base64>\"` (Standard Webhooks), a raw secret, or better `sign \"${VAR}\"`",
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// `${VAR}` (and, for topic names, `{path}`) inside an action string.
    fn action_string(&mut self, s: &Spanned<String>, topic: bool) {
        let pieces = match template::parse(&s.value, topic) {
            Ok(p) => p,
            Err(e) => {
                let code = if topic && !e.contains("${") { Code::E016 } else { Code::E011 };
                self.push(Diagnostic::new(code, format!("invalid template: {e}"), s.span).with_hint(
                    "`${NAME}` or `${NAME:-fallback}` reads the environment; in a topic, `{path}` inserts an event field",
                ));
                return;
            }
        };
        for p in &pieces {
            if let Piece::Field(text) = p {
                if super::parse::parse_path(s.span.file, s.span.start, text.trim()).is_none() {
                    self.push(
                        Diagnostic::new(Code::E016, format!("`{{{text}}}` in a topic name is not a path"), s.span)
                            .with_hint("write `{eventType}` or `{data.\"a b\"}`: a path of the event"),
                    );
                }
            }
        }
        if let Some(env) = self.input.env {
            for name in template::unset_vars(&pieces, env) {
                self.push(
                    Diagnostic::new(Code::E011, format!("environment variable `{name}` is not set (or empty)"), s.span).with_hint(format!(
                        "set {name}, or write `${{{name}:-fallback}}`; `lint --no-env` skips this check"
                    )),
                );
            }
        }
    }

    fn transform(&mut self, t: &Spanned<String>) {
        let before = self.diagnostics.len();
        self.action_string(t, false);
        if self.diagnostics[before..].iter().any(|d| d.severity() == super::diag::Severity::Error) {
            // A malformed or unset `${...}`: which file it names is unknown.
            return;
        }
        let Ok(file) = compile::transform_reference(&t.value, self.input.env) else { return };
        if !self.transforms.contains_key(&file) {
            let result = match self.input.transforms.iter().find(|f| f.path == file) {
                None => Err((
                    Code::E009,
                    format!("transform file `{}/{file}` not found", self.input.transforms_dir.trim_end_matches('/')),
                )),
                Some(src) => switchboard_jolt::parse_spec_text(&src.text)
                    .and_then(|spec| switchboard_jolt::Chain::from_json(&spec))
                    .map(|chain| Arc::new(Transform { name: file.clone(), chain }))
                    .map_err(|e| (Code::E010, format!("transform `{file}` does not compile: {e}"))),
            };
            self.transforms.insert(file.clone(), result);
        }
        if let Some(Err((code, message))) = self.transforms.get(&file) {
            let hint = if *code == Code::E009 {
                "a transform is a Jolt spec in the transforms directory (--transforms DIR); the reference names its file"
            } else {
                "fix the spec; `switchboard jolt SPEC.json INPUT.json` tries it on an input"
            };
            let d = Diagnostic::new(*code, message.clone(), t.span).with_hint(hint);
            self.push(d);
        }
    }
}

/// E015's check of a webhook URL: an absolute http(s) URL (scheme in any case) with a
/// non-empty, valid host and a valid port, as the `url` crate (WHATWG URL) parses it. A URL with
/// `${VAR}` in it is resolved only by `serve`: then only its scheme is checked, when written.
fn check_webhook_url(text: &str) -> Result<(), String> {
    let scheme_ok = |s: &str| {
        let lower = s.trim_start().to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    };
    if text.contains("${") {
        return if text.trim_start().starts_with("${") || scheme_ok(text) { Ok(()) } else { Err("is not http(s)".to_string()) };
    }
    if !scheme_ok(text) {
        return Err("is not http(s)".to_string());
    }
    match url::Url::parse(text.trim()) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err("has no host".to_string()),
        Err(url::ParseError::EmptyHost) => Err("has no host".to_string()),
        Err(e) => Err(format!("is not a valid URL: {e}")),
    }
}

/// A fact one conjunct states about one path.
enum Fact<'c> {
    Pos(&'c Predicate),
    Absent(&'c Path),
}

fn fact(c: &Condition) -> Option<Fact<'_>> {
    match &ungroup(c).kind {
        ConditionKind::Predicate(p) => Some(Fact::Pos(p)),
        ConditionKind::Not(inner) => match &ungroup(inner).kind {
            ConditionKind::Predicate(Predicate { path, op: Operator::Exists }) => Some(Fact::Absent(path)),
            _ => None,
        },
        _ => None,
    }
}

fn lit_eq(a: &Literal, b: &Literal) -> bool {
    eval::json_eq(&compile::literal_value(a), &compile::literal_value(b))
}

/// Why a conjunction can never hold, and whether that is certain (`false`: an array could
/// satisfy each predicate with a different element).
fn contradiction(cs: &[&Condition]) -> Option<(String, bool)> {
    let facts: Vec<Fact> = cs.iter().filter_map(|c| fact(c)).collect();
    let mut paths: Vec<&Vec<Segment>> = Vec::new();
    for f in &facts {
        let p = match f {
            Fact::Pos(p) => &p.path.segments,
            Fact::Absent(p) => &p.segments,
        };
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    for path in paths {
        let shown = print::segments(path);
        let pos: Vec<&Predicate> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Pos(p) if &p.path.segments == path => Some(*p),
                _ => None,
            })
            .collect();
        let absent = facts.iter().any(|f| matches!(f, Fact::Absent(p) if &p.segments == path));
        if absent {
            if let Some(p) = pos.first() {
                return Some((format!("`{}` needs `{shown}` present, `not exists {shown}` needs it absent", print::predicate(p)), true));
            }
        }
        // Numbers.
        let mut iv = Interval::any();
        let mut numeric = Vec::new();
        for p in &pos {
            match &p.op {
                Operator::Ord(op, l) => {
                    if let Some(v) = as_f64(&l.value) {
                        match op {
                            OrdOp::Gt => iv.above(v, true),
                            OrdOp::Ge => iv.above(v, false),
                            OrdOp::Lt => iv.below(v, true),
                            OrdOp::Le => iv.below(v, false),
                        }
                        numeric.push(*p);
                    }
                }
                Operator::Between(a, b) => {
                    if let (Some(x), Some(y)) = (as_f64(&a.value), as_f64(&b.value)) {
                        iv.above(x, false);
                        iv.below(y, false);
                        numeric.push(*p);
                    }
                }
                Operator::Eq(l) => {
                    if let Some(v) = as_f64(&l.value) {
                        iv.above(v, false);
                        iv.below(v, false);
                        numeric.push(*p);
                    }
                }
                _ => {}
            }
        }
        if numeric.len() > 1 && iv.is_empty() {
            let shown: Vec<String> = numeric.iter().map(|p| format!("`{}`", print::predicate(p))).collect();
            return Some((shown.join(" and "), false));
        }
        // Equalities.
        for (i, a) in pos.iter().enumerate() {
            for b in &pos[i + 1..] {
                let clash = match (&a.op, &b.op) {
                    (Operator::Eq(x), Operator::Eq(y)) => (!lit_eq(&x.value, &y.value)).then_some(false),
                    (Operator::Eq(x), Operator::In(ys)) | (Operator::In(ys), Operator::Eq(x)) => {
                        (!ys.iter().any(|y| lit_eq(&x.value, &y.value))).then_some(false)
                    }
                    (Operator::In(xs), Operator::In(ys)) => {
                        (!xs.iter().any(|x| ys.iter().any(|y| lit_eq(&x.value, &y.value)))).then_some(false)
                    }
                    (Operator::Eq(x), Operator::Ne(y)) | (Operator::Ne(y), Operator::Eq(x)) => {
                        lit_eq(&x.value, &y.value).then_some(true)
                    }
                    (Operator::Eq(x), Operator::NotIn(ys)) | (Operator::NotIn(ys), Operator::Eq(x)) => {
                        ys.iter().any(|y| lit_eq(&x.value, &y.value)).then_some(true)
                    }
                    _ => None,
                };
                if let Some(certain) = clash {
                    return Some((format!("`{}` and `{}`", print::predicate(a), print::predicate(b)), certain));
                }
            }
        }
    }
    None
}

/// Whether `earlier` tests only `eventType` and holds for every `eventType` value that `later`
/// requires (`later` has `eventType == "x"` or `eventType in [...]` among its conjuncts).
fn covers_event_types(earlier: &Condition, later: &Condition) -> bool {
    fn only_event_type(c: &Condition) -> bool {
        match &c.kind {
            ConditionKind::Or(p) | ConditionKind::And(p) => p.iter().all(only_event_type),
            ConditionKind::Not(i) | ConditionKind::Group(i) => only_event_type(i),
            ConditionKind::Predicate(p) => p.path.segments == [Segment::Field("eventType".to_string())],
            _ => false,
        }
    }
    if !only_event_type(earlier) {
        return false;
    }
    let mut cs = Vec::new();
    conjuncts(later, &mut cs);
    let required: Option<Vec<String>> = cs.iter().find_map(|c| match &c.kind {
        ConditionKind::Predicate(p) if p.path.segments == [Segment::Field("eventType".to_string())] => match &p.op {
            Operator::Eq(Spanned { value: Literal::String(s), .. }) => Some(vec![s.clone()]),
            Operator::In(items) if !items.is_empty() => items
                .iter()
                .map(|l| match &l.value {
                    Literal::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        _ => None,
    });
    let Some(required) = required else { return false };
    let no_lets = HashMap::new();
    let Ok(cond) = CondCompiler::new(&no_lets).condition(earlier) else { return false };
    required.iter().all(|t| {
        let event = serde_json::json!({ "eventType": t });
        eval::eval(&cond, &eval::Ctx { root: &event, explain: false, slots: &[], memo: eval::Memo::NONE }, &event).is_ok()
    })
}

/// A path of let references from `start` back to itself (`a -> b -> a`), if there is one.
fn cycle_through(graph: &HashMap<&str, Vec<String>>, start: &str) -> Option<Vec<String>> {
    let mut path = vec![start.to_string()];
    let mut visited: HashSet<String> = HashSet::new();
    fn dfs(graph: &HashMap<&str, Vec<String>>, start: &str, path: &mut Vec<String>, visited: &mut HashSet<String>) -> bool {
        let Some(current) = path.last().cloned() else { return false };
        for next in graph.get(current.as_str()).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if graph.contains_key(next.as_str()) && visited.insert(next.clone()) {
                path.push(next.clone());
                if dfs(graph, start, path, visited) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    dfs(graph, start, &mut path, &mut visited).then_some(path)
}

/// An HTTP header name (RFC 9110 `token`).
fn is_http_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Why a literal `sign` secret cannot sign: empty, or `whsec_` not followed by base64 (the
/// Standard Webhooks form, as switchboard-webhook decodes it).
pub(crate) fn signing_secret_problem(secret: &str) -> Option<&'static str> {
    use base64::Engine as _;
    match secret.strip_prefix("whsec_") {
        Some(encoded) => match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
            Ok(key) if key.is_empty() => Some("is empty after `whsec_`"),
            Ok(_) => None,
            Err(_) => Some("starts with `whsec_` but the rest is not valid base64"),
        },
        None if secret.is_empty() => Some("is empty"),
        None => None,
    }
}

/// Why the literal text of a topic name (outside its `{path}` and `${VAR}` pieces, which are
/// checked when they are filled in) can never be a Kafka topic name.
fn topic_literal_problem(name: &str) -> Option<String> {
    let mut literal = String::new();
    let mut templated = false;
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '{' => {
                depth += 1;
                templated = true;
            }
            '}' if depth > 0 => depth -= 1,
            '$' if depth == 0 => {}
            c if depth == 0 => literal.push(c),
            _ => {}
        }
    }
    if let Some(bad) = literal.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c))) {
        return Some(format!("has {bad:?}, outside [A-Za-z0-9._-]"));
    }
    if !templated {
        if literal.len() > 249 {
            return Some(format!("is {} characters, more than Kafka's 249", literal.len()));
        }
        if literal == "." || literal == ".." {
            return Some("is not allowed by Kafka".to_string());
        }
    }
    None
}

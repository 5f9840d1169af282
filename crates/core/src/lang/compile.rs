//! Checked AST -> [`RuleSet`]. The checker has already reported everything that can be wrong, so
//! the failures here (`Err`) are unreachable for a set that passed it; they are still returned,
//! not unwrapped, and the entry point turns them into a diagnostic.
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::ast::*;
use super::diag::{Code, Diagnostic};
use super::ir::*;
use super::print;
use super::ruleset::RuleSet;
use super::template::{self, Env, Piece};

/// The anchored regex of `P matches /pattern/flags` (`\A(?:RE)\z`).
pub(crate) fn matches_regex(pattern: &str, flags: &str) -> Result<regex::Regex, String> {
    if let Some(bad) = flags.chars().find(|c| !"imsx".contains(*c)) {
        return Err(format!("unknown regex flag `{bad}` (flags are i, m, s, x)"));
    }
    // With `x`, a `#` comment in the pattern runs to the end of the line: end it before `)\z`.
    let newline = if flags.contains('x') { "\n" } else { "" };
    let group = if flags.is_empty() { "?:".to_string() } else { format!("?{flags}:") };
    regex::Regex::new(&format!("\\A({group}{pattern}{newline})\\z")).map_err(|e| regex_message(&e))
}

/// The regex crate's message without its rendering of the (wrapped) pattern: the diagnostic
/// already points at the pattern in the rule file.
fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().rev().find_map(|l| l.strip_prefix("error: ")) {
        Some(last) => last.to_string(),
        None => text,
    }
}

/// `equals_ignore_case "S"` is exactly `matches /(?i)S/` with S escaped.
pub(crate) fn ignore_case_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("(?i)\\A{}\\z", regex::escape(s))).map_err(|e| e.to_string())
}

pub(crate) fn literal_value(lit: &Literal) -> Value {
    match lit {
        Literal::String(s) => Value::String(s.clone()),
        Literal::Number(n) => Value::Number(n.clone()),
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Null => Value::Null,
    }
}

fn number(lit: &Spanned<Literal>) -> Result<serde_json::Number, String> {
    match &lit.value {
        Literal::Number(n) => Ok(n.clone()),
        other => Err(format!("{} is not a number", print::literal(other))),
    }
}

/// Compiles conditions, each `let` once (shared by every reference through an `Arc`).
pub(crate) struct CondCompiler<'a> {
    pub lets: &'a HashMap<String, &'a Condition>,
    compiled: HashMap<String, Arc<Cond>>,
    /// Let names being compiled, to refuse a cycle instead of recursing forever.
    active: Vec<String>,
}

impl<'a> CondCompiler<'a> {
    pub(crate) fn new(lets: &'a HashMap<String, &'a Condition>) -> CondCompiler<'a> {
        CondCompiler { lets, compiled: HashMap::new(), active: Vec::new() }
    }

    pub(crate) fn condition(&mut self, c: &Condition) -> Result<Cond, String> {
        Ok(match &c.kind {
            ConditionKind::Or(parts) => Cond::Or(parts.iter().map(|p| self.condition(p)).collect::<Result<_, _>>()?),
            ConditionKind::And(parts) => {
                Cond::And(parts.iter().map(|p| self.condition(p)).collect::<Result<_, _>>()?)
            }
            ConditionKind::Not(inner) => {
                Cond::Not { cond: Box::new(self.condition(inner)?), text: print::condition(inner).into() }
            }
            ConditionKind::Group(inner) => self.condition(inner)?,
            ConditionKind::LetRef(name) => {
                if let Some(done) = self.compiled.get(name) {
                    return Ok(Cond::Let { name: name.as_str().into(), cond: done.clone() });
                }
                if self.active.contains(name) {
                    return Err(format!("let `{name}` refers to itself"));
                }
                let def = *self.lets.get(name).ok_or_else(|| format!("unknown let `{name}`"))?;
                self.active.push(name.clone());
                let compiled = self.condition(def);
                self.active.pop();
                let compiled = Arc::new(compiled?);
                self.compiled.insert(name.clone(), compiled.clone());
                Cond::Let { name: name.as_str().into(), cond: compiled }
            }
            ConditionKind::Quantifier { all, path, condition } => Cond::Quant(Box::new(Quant {
                all: *all,
                path: path.segments.clone(),
                path_text: print::path(path),
                cond: self.condition(condition)?,
                text: print::condition(condition),
            })),
            ConditionKind::Predicate(p) => Cond::Pred(Arc::new(predicate(p)?), NO_PRED),
            ConditionKind::EventPattern(p) => super::eventpattern::compile(p)?,
        })
    }
}

fn predicate(p: &Predicate) -> Result<Pred, String> {
    let list = |items: &[Spanned<Literal>]| items.iter().map(|l| literal_value(&l.value)).collect::<Vec<_>>();
    let test = match &p.op {
        Operator::Eq(l) => Test::Eq(literal_value(&l.value)),
        Operator::Ne(l) => Test::Ne(literal_value(&l.value)),
        Operator::Ord(op, l) => Test::Ord(*op, number(l)?),
        Operator::Between(a, b) => Test::Between(number(a)?, number(b)?),
        Operator::In(items) => Test::In(list(items)),
        Operator::NotIn(items) => Test::NotIn(list(items)),
        Operator::Matches { pattern, flags } => Test::Regex(matches_regex(&pattern.value, flags)?),
        Operator::Like(g) => Test::Glob(super::glob::Glob::like(&g.value)?),
        Operator::EqualsIgnoreCase(s) => Test::Regex(ignore_case_regex(&s.value)?),
        Operator::StartsWith(s) => Test::StartsWith(s.value.clone()),
        Operator::EndsWith(s) => Test::EndsWith(s.value.clone()),
        Operator::Contains(l) => Test::Contains(literal_value(&l.value)),
        Operator::ContainsAny(items) => Test::ContainsAny(list(items)),
        Operator::ContainsAll(items) => Test::ContainsAll(list(items)),
        Operator::InCidr(s) => Test::Cidr(IpBlock::parse(&s.value)?),
        Operator::Exists => Test::Exists,
    };
    Ok(Pred {
        path: p.path.segments.as_slice().into(),
        path_text: print::path(&p.path).into(),
        op_text: print::operator(&p.op).into(),
        test,
        slot: super::eval::NO_SLOT,
    })
}

/// The transforms directory file a reference names: its last path segment, `.json` added when
/// missing (`member_to_crm`, `member_to_crm.json`, `transforms/member_to_crm.json`).
pub fn transform_file_name(reference: &str) -> String {
    let last = reference.rsplit(['/', '\\']).next().unwrap_or(reference);
    if last.ends_with(".json") {
        last.to_string()
    } else {
        format!("{last}.json")
    }
}

pub(crate) struct Build<'a> {
    pub lets: &'a HashMap<String, &'a Condition>,
    /// Rules in evaluation order.
    pub rules: Vec<&'a super::ast::Rule>,
    pub default: Option<&'a DefaultBlock>,
    pub transforms: &'a HashMap<String, Arc<Transform>>,
    pub env: Env<'a>,
    pub version: String,
}

pub(crate) fn build(b: Build) -> Result<RuleSet, Diagnostic> {
    let mut conds = CondCompiler::new(b.lets);
    let mut rules = Vec::new();
    for r in &b.rules {
        let fail = |e: String| Diagnostic::new(Code::E015, format!("internal: rule `{}` did not compile: {e}", r.name.value), r.span);
        let cond = conds.condition(&r.condition).map_err(fail)?;
        let actions = actions(&r.actions, b.transforms, b.env).map_err(fail)?;
        rules.push(CompiledRule {
            name: r.name.value.clone(),
            cond,
            actions: actions.into(),
            drop: r.actions.iter().any(|a| a.kind == ActionKind::Drop),
            stop: r.actions.iter().any(|a| a.kind == ActionKind::Stop),
        });
    }
    let default = match b.default {
        // `drop` contributes no delivery, in the default block as in a rule.
        Some(d) if d.actions.iter().any(|a| a.kind == ActionKind::Drop) => Some(Vec::new()),
        Some(d) => Some(
            actions(&d.actions, b.transforms, b.env)
                .map_err(|e| Diagnostic::new(Code::E015, format!("internal: the default block did not compile: {e}"), d.span))?,
        ),
        None => None,
    };
    rules.shrink_to_fit();
    let (slot_count, preds) = super::eval::intern_predicates(&mut rules);
    let conjunctions = rules.iter().map(|r| super::eval::conjunction(&r.cond)).collect();
    let matcher = super::matcher::Matcher::build(&rules);
    let projection = super::matcher::Projection::build(&rules);
    Ok(RuleSet { rules, default, version: b.version, matcher, projection, slot_count, preds, conjunctions })
}

fn resolve(s: &str, env: Env) -> Result<Secret, String> {
    Ok(template::resolve(&template::parse(s, false)?, env))
}

fn headers(hs: &[&Header], env: Env) -> Result<Vec<(String, Secret)>, String> {
    hs.iter().map(|h| Ok((resolve(&h.name.value, env)?.expose().to_string(), resolve(&h.value.value, env)?))).collect()
}

/// The transforms directory file a `transform "T"` names, `${VAR}` resolved (without an
/// environment, a fallback is used and a variable without one stays `${NAME}`).
pub(crate) fn transform_reference(t: &str, env: Env) -> Result<String, String> {
    Ok(transform_file_name(resolve(t, env)?.expose()))
}

fn transform(
    t: Option<&Spanned<String>>,
    transforms: &HashMap<String, Arc<Transform>>,
    env: Env,
) -> Result<Option<Arc<Transform>>, String> {
    match t {
        None => Ok(None),
        Some(t) => {
            let file = transform_reference(&t.value, env)?;
            transforms.get(&file).cloned().map(Some).ok_or_else(|| format!("transform {file} is not loaded"))
        }
    }
}

fn millis(d: &Spanned<super::ast::Duration>) -> Result<std::time::Duration, String> {
    d.value.as_millis().map(std::time::Duration::from_millis).ok_or_else(|| "duration overflows".to_string())
}

fn actions(list: &[Action], transforms: &HashMap<String, Arc<Transform>>, env: Env) -> Result<Vec<CompiledAction>, String> {
    let mut out = Vec::new();
    for a in list {
        match &a.kind {
            ActionKind::Topic { name, keys, transforms: ts, headers: hs } => {
                let mut pieces = Vec::new();
                for piece in template::parse(&name.value, true)? {
                    match piece {
                        Piece::Field(text) => {
                            let path = super::parse::parse_path(name.span.file, name.span.start, text.trim())
                                .ok_or_else(|| format!("`{text}` is not a path"))?;
                            pieces.push(TopicPiece::Field(Box::new(FieldRef {
                                path: path.segments,
                                text: text.trim().to_string(),
                            })));
                        }
                        other => pieces.push(TopicPiece::Text(template::resolve(&[other], env).expose().into())),
                    }
                }
                let key = match keys.first() {
                    Some(p) => KeySource::Path(Box::new(FieldRef { path: p.segments.clone(), text: print::path(p) })),
                    None => KeySource::Default,
                };
                let hs: Vec<&Header> = hs.iter().collect();
                out.push(CompiledAction::Topic {
                    pieces: pieces.into(),
                    key,
                    transform: transform(ts.first(), transforms, env)?,
                    headers: headers(&hs, env)?.into(),
                });
            }
            ActionKind::Webhook { url, transform: t, options } => {
                let options = options.as_deref().unwrap_or(&[]);
                let mut target = WebhookTarget {
                    url: resolve(&url.value, env)?,
                    method: WebhookMethod::Post,
                    headers: Vec::new(),
                    timeout: std::time::Duration::from_secs(10),
                    attempts: 8,
                    backoff_min: std::time::Duration::from_secs(1),
                    backoff_max: std::time::Duration::from_secs(600),
                    sign: None,
                };
                let mut hs = Vec::new();
                for o in options {
                    match o {
                        WebhookOption::Method(m) => {
                            target.method = match m.value {
                                HttpMethod::Post => WebhookMethod::Post,
                                HttpMethod::Put => WebhookMethod::Put,
                                HttpMethod::Patch => WebhookMethod::Patch,
                            }
                        }
                        WebhookOption::Header(h) => hs.push(h),
                        WebhookOption::Timeout(d) => target.timeout = millis(d)?,
                        WebhookOption::Retry { attempts, backoff } => {
                            target.attempts = u32::try_from(attempts.value).map_err(|_| "retry count too large".to_string())?;
                            if let Some((min, max)) = backoff {
                                target.backoff_min = millis(min)?;
                                target.backoff_max = millis(max)?;
                            }
                        }
                        WebhookOption::Sign(s) => target.sign = Some(resolve(&s.value, env)?),
                    }
                }
                target.headers = headers(&hs, env)?;
                out.push(CompiledAction::Webhook { target: Arc::new(target), transform: transform(t.as_ref(), transforms, env)? });
            }
            ActionKind::Store => out.push(CompiledAction::Store),
            ActionKind::Drop | ActionKind::Stop => {}
        }
    }
    Ok(out)
}

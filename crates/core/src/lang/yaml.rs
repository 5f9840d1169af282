//! The YAML form (the seed's `routing_rules:` document) -> the same AST as the DSL.
//!
//! YAML is read with `saphyr`: a maintained YAML 1.2 library (so `yes` is a string, as the spec
//! requires) whose marked nodes carry the line and column of every key and value, which the
//! diagnostics need. (`serde_yaml` is deprecated; its serde forks only give positions for syntax
//! errors, not for a valid document with a misspelt operator.)
//!
//! Every structural error is collected, not only the first, and points at its node.
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Number, Value};

use super::ast::*;
use super::diag::{Code, Diagnostic};

/// Operator names of a condition leaf (`any_of` may also appear among fields).
const OPERATORS: &[&str] = &[
    "pattern", "equals", "not_equals", "in", "not_in", "prefix", "suffix", "like", "equals_ignore_case",
    "contains", "contains_any", "gt", "gte", "lt", "lte", "between", "cidr", "exists",
];

/// Maps a saphyr position (a character index) to a byte offset of the source text.
pub(crate) struct Positions {
    file: usize,
    char_to_byte: Vec<usize>,
}

impl Positions {
    pub(crate) fn new(file: usize, text: &str) -> Positions {
        let mut char_to_byte: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        char_to_byte.push(text.len());
        Positions { file, char_to_byte }
    }

    fn byte(&self, char_index: usize) -> usize {
        self.char_to_byte.get(char_index).copied().unwrap_or_else(|| self.char_to_byte.last().copied().unwrap_or(0))
    }

    pub(crate) fn span(&self, node: &MarkedYaml) -> Span {
        let start = self.byte(node.span.start.index());
        let end = self.byte(node.span.end.index()).max(start);
        Span::new(self.file, start, end)
    }
}

/// Loads the single document of a YAML file (`Ok(None)` for an empty file).
pub(crate) fn load<'a>(file: usize, text: &'a str) -> Result<Option<MarkedYaml<'a>>, Diagnostic> {
    let pos = Positions::new(file, text);
    match MarkedYaml::load_from_str(text) {
        Ok(mut docs) => {
            if docs.len() > 1 {
                let span = pos.span(&docs[1]);
                return Err(Diagnostic::new(Code::E013, "a rule file holds one YAML document, found several", span));
            }
            Ok(docs.pop())
        }
        Err(e) => {
            let start = pos.byte(e.marker().index());
            Err(Diagnostic::new(Code::E013, format!("invalid YAML: {}", e.info()), Span::new(file, start, start + 1)))
        }
    }
}

/// Parses one YAML rule file.
pub fn parse_file(file: usize, text: &str) -> Result<File, Vec<Diagnostic>> {
    match parse_file_partial(file, text) {
        (Some(f), ds) if ds.is_empty() => Ok(f),
        (_, ds) => Err(ds),
    }
}

/// [`parse_file`], keeping what parsed: with a structural error (E014, E019) in one rule, the
/// file's other rules (`None` only when the YAML itself is invalid, E013) so that the checker
/// reports their problems too. A rule or default block with an error is left out.
pub fn parse_file_partial(file: usize, text: &str) -> (Option<File>, Vec<Diagnostic>) {
    let doc = match load(file, text) {
        Ok(doc) => doc,
        Err(d) => return (None, vec![d]),
    };
    let mut b = Builder { pos: Positions::new(file, text), diagnostics: Vec::new() };
    let mut items = Vec::new();
    if let Some(doc) = doc {
        b.document(&doc, &mut items);
    }
    (Some(File { items }), b.diagnostics)
}

/// Converts a YAML node to JSON (events and expectations of rule test files).
pub(crate) fn to_json(pos: &Positions, node: &MarkedYaml) -> Result<Value, Diagnostic> {
    Ok(match &node.data {
        YamlData::Value(s) => scalar_json(s),
        YamlData::Sequence(items) => Value::Array(items.iter().map(|i| to_json(pos, i)).collect::<Result<_, _>>()?),
        YamlData::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(other) => scalar_json(other).to_string(),
                    _ => return Err(Diagnostic::new(Code::E018, "mapping keys must be scalars", pos.span(k))),
                };
                out.insert(key, to_json(pos, v)?);
            }
            Value::Object(out)
        }
        YamlData::Tagged(_, inner) => to_json(pos, inner)?,
        _ => return Err(Diagnostic::new(Code::E018, "YAML aliases and tags are not supported here", pos.span(node))),
    })
}

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

/// The string of a mapping key, if it is a string.
pub(crate) fn key_str<'a>(node: &'a MarkedYaml) -> Option<&'a str> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.as_ref()),
        _ => None,
    }
}

pub(crate) fn as_mapping<'a, 'b>(node: &'a MarkedYaml<'b>) -> Option<Vec<(&'a MarkedYaml<'b>, &'a MarkedYaml<'b>)>> {
    match &node.data {
        YamlData::Mapping(map) => Some(map.iter().collect()),
        _ => None,
    }
}

struct Builder {
    pos: Positions,
    diagnostics: Vec<Diagnostic>,
}

impl Builder {
    fn error(&mut self, node: &MarkedYaml, message: impl Into<String>) {
        let span = self.pos.span(node);
        self.diagnostics.push(Diagnostic::new(Code::E014, message, span));
    }

    fn error_hint(&mut self, node: &MarkedYaml, message: impl Into<String>, hint: impl Into<String>) {
        let span = self.pos.span(node);
        self.diagnostics.push(Diagnostic::new(Code::E014, message, span).with_hint(hint));
    }

    /// The entries of a mapping with string keys (reports other keys).
    fn entries<'a, 'b>(&mut self, node: &'a MarkedYaml<'b>, what: &str) -> Option<Vec<(String, &'a MarkedYaml<'b>, &'a MarkedYaml<'b>)>> {
        let Some(map) = as_mapping(node) else {
            self.error(node, format!("{what} must be a mapping"));
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in map {
            match key_str(k) {
                Some(s) => out.push((s.to_string(), k, v)),
                None => self.error(k, format!("keys of {what} must be strings")),
            }
        }
        Some(out)
    }

    fn document(&mut self, doc: &MarkedYaml, items: &mut Vec<Item>) {
        if matches!(doc.data, YamlData::Value(Scalar::Null)) {
            return;
        }
        let Some(entries) = self.entries(doc, "a YAML rule file") else { return };
        for (key, k, v) in entries {
            match key.as_str() {
                "routing_rules" => match &v.data {
                    YamlData::Sequence(rules) => {
                        for r in rules {
                            let before = self.diagnostics.len();
                            if let Some(rule) = self.rule(r) {
                                // A rule with an error is left out (only its error is reported).
                                if self.diagnostics.len() == before {
                                    items.push(Item::Rule(rule));
                                }
                            }
                        }
                    }
                    YamlData::Value(Scalar::Null) => {}
                    _ => self.error(v, "`routing_rules` must be a list of rules"),
                },
                "default" => {
                    // Diagnostics about the block (a second one, no actions) point at `default:`.
                    let span = self.pos.span(k);
                    let before = self.diagnostics.len();
                    let mut actions = Vec::new();
                    if let Some(entries) = self.entries(v, "`default`") {
                        for (key, k, v) in entries {
                            if key == "targets" {
                                actions = self.targets(v);
                            } else {
                                self.error(k, format!("unknown key `{key}` in `default` (expected `targets`)"));
                            }
                        }
                    }
                    if self.diagnostics.len() == before {
                        items.push(Item::Default(DefaultBlock { actions, span }));
                    }
                }
                _ => self.error_hint(
                    k,
                    format!("unknown top-level key `{key}`"),
                    "a YAML rule file has `routing_rules:` and optionally `default:`",
                ),
            }
        }
    }

    fn string(&mut self, node: &MarkedYaml, what: &str) -> Option<Spanned<String>> {
        match &node.data {
            YamlData::Value(Scalar::String(s)) => Some(Spanned::new(s.to_string(), self.pos.span(node))),
            _ => {
                self.error(node, format!("{what} must be a string"));
                None
            }
        }
    }

    fn rule(&mut self, node: &MarkedYaml) -> Option<super::ast::Rule> {
        let span = self.pos.span(node);
        let entries = self.entries(node, "a rule")?;
        let mut name = None;
        let mut condition = None;
        let mut actions = Vec::new();
        let mut descriptions = Vec::new();
        let mut priorities = Vec::new();
        let mut stop = None;
        let mut condition_key = None;
        let diagnostics_before = self.diagnostics.len();
        for (key, k, v) in entries {
            match key.as_str() {
                "name" => name = self.string(v, "`name`"),
                "condition" | "event_pattern" if condition_key.is_some() => {
                    self.error_hint(k, format!("a second condition (`{key}`)"), "a rule has one `condition:` or one `event_pattern:`");
                }
                "condition" => {
                    condition_key = Some(());
                    condition = self.condition(&[], v);
                }
                "event_pattern" => {
                    condition_key = Some(());
                    condition = self.event_pattern(v);
                }
                "targets" => actions.extend(self.targets(v)),
                "description" => descriptions.extend(self.string(v, "`description`")),
                "priority" => match &v.data {
                    YamlData::Value(Scalar::Integer(i)) => priorities.push(Spanned::new(*i, self.pos.span(v))),
                    _ => self.error(v, "`priority` must be an integer"),
                },
                "stop" => match &v.data {
                    YamlData::Value(Scalar::Boolean(b)) => stop = Some((*b, self.pos.span(v))),
                    _ => self.error(v, "`stop` must be true or false"),
                },
                _ => self.error_hint(
                    k,
                    format!("unknown rule key `{key}`"),
                    "a rule has `name`, `condition` (or `event_pattern`), `targets` and optionally `priority`, `stop`, `description`",
                ),
            }
        }
        if let Some((true, s)) = stop {
            actions.push(Action { kind: ActionKind::Stop, span: s });
        }
        let Some(name) = name else {
            self.error(node, "a rule needs a `name`");
            return None;
        };
        if !is_rule_name(&name.value) {
            self.diagnostics.push(
                Diagnostic::new(Code::E014, format!("`{}` is not a valid rule name", name.value), name.span)
                    .with_hint("a rule name is [A-Za-z_][A-Za-z0-9_.-]* and not a keyword"),
            );
        }
        let Some(condition) = condition else {
            if self.diagnostics.len() == diagnostics_before {
                self.error(node, format!("rule `{}` needs a `condition`", name.value));
            }
            return None;
        };
        Some(super::ast::Rule { name, descriptions, priorities, condition, actions, span })
    }

    /// A condition node at `prefix` (the path of the enclosing field mappings).
    fn condition(&mut self, prefix: &[Segment], node: &MarkedYaml) -> Option<Condition> {
        let span = self.pos.span(node);
        match &node.data {
            YamlData::Mapping(_) => {
                let entries = self.entries(node, "a condition")?;
                if entries.is_empty() {
                    self.error(node, "an empty condition: name at least one field to test");
                    return None;
                }
                let ops: Vec<&str> =
                    entries.iter().map(|(k, _, _)| k.as_str()).filter(|k| OPERATORS.contains(k)).collect();
                let fields: Vec<&str> = entries
                    .iter()
                    .map(|(k, _, _)| k.as_str())
                    .filter(|k| !OPERATORS.contains(k) && *k != "any_of")
                    .collect();
                if !ops.is_empty() && !fields.is_empty() {
                    let message = format!(
                        "this mapping mixes operators ({}) with fields ({})",
                        ops.join(", "),
                        fields.join(", ")
                    );
                    self.error_hint(
                        node,
                        message,
                        format!("a misspelt operator? operators are: {}; a field named like an operator needs the DSL", OPERATORS.join(", ")),
                    );
                    return None;
                }
                let leaf = !ops.is_empty();
                if leaf && prefix.is_empty() {
                    self.error(node, "an operator needs a field to test (e.g. `eventType: { pattern: ... }`)");
                    return None;
                }
                let mut parts = Vec::new();
                for (key, k, v) in entries {
                    if key == "any_of" {
                        parts.extend(self.any_of(prefix, v));
                    } else if leaf {
                        parts.extend(self.operator(prefix, &key, k, v));
                    } else {
                        let segs: Vec<&str> = key.split('.').collect();
                        if segs.iter().any(|s| s.is_empty()) {
                            self.error(k, format!("`{key}` has an empty path segment"));
                            continue;
                        }
                        let mut path = prefix.to_vec();
                        path.extend(segs.into_iter().map(|s| Segment::Field(s.to_string())));
                        parts.extend(self.condition(&path, v));
                    }
                }
                conjunction(parts, span)
            }
            YamlData::Sequence(_) => {
                self.error_hint(node, "a list here needs an operator", "write `in: [...]`, `contains: [...]` or `any_of: [...]`");
                None
            }
            YamlData::Value(s) => {
                if prefix.is_empty() {
                    self.error(node, "a condition must be a mapping of fields");
                    return None;
                }
                let lit = scalar_literal(s);
                Some(predicate(prefix, span, Operator::Eq(Spanned::new(lit, span))))
            }
            _ => {
                self.error(node, "YAML aliases and tags are not supported in conditions");
                None
            }
        }
    }

    /// `event_pattern:` an EventBridge pattern, as a mapping or as a string of JSON.
    fn event_pattern(&mut self, node: &MarkedYaml) -> Option<Condition> {
        let span = self.pos.span(node);
        let value = match &node.data {
            YamlData::Value(Scalar::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v) => v,
                Err(e) => {
                    self.error(node, format!("`event_pattern` is not JSON: {e}"));
                    return None;
                }
            },
            _ => match to_json(&self.pos, node) {
                Ok(v) => v,
                Err(d) => {
                    self.diagnostics.push(d);
                    return None;
                }
            },
        };
        match super::eventpattern::parse(&value) {
            Ok(p) => Some(Condition { kind: ConditionKind::EventPattern(Box::new(p)), span }),
            Err(e) => {
                self.error_hint(node, format!("invalid event pattern: {e}"), "see docs/routing-language.md, \"EventBridge patterns\"");
                None
            }
        }
    }

    fn any_of(&mut self, prefix: &[Segment], node: &MarkedYaml) -> Option<Condition> {
        let span = self.pos.span(node);
        let YamlData::Sequence(items) = &node.data else {
            self.error(node, "`any_of` must be a list of conditions");
            return None;
        };
        if items.is_empty() {
            self.error(node, "`any_of: []` never holds");
            return None;
        }
        let mut parts: Vec<Condition> = Vec::new();
        for item in items {
            parts.extend(self.condition(prefix, item));
        }
        if parts.len() != items.len() {
            return None;
        }
        if parts.len() == 1 {
            return parts.pop();
        }
        Some(Condition { kind: ConditionKind::Or(parts), span })
    }

    fn literal(&mut self, node: &MarkedYaml) -> Option<Spanned<Literal>> {
        match &node.data {
            YamlData::Value(s) => Some(Spanned::new(scalar_literal(s), self.pos.span(node))),
            _ => {
                self.error(node, "expected a scalar (string, number, true, false or null)");
                None
            }
        }
    }

    fn literal_list(&mut self, node: &MarkedYaml, op: &str) -> Option<Vec<Spanned<Literal>>> {
        let YamlData::Sequence(items) = &node.data else {
            self.error(node, format!("`{op}` takes a list"));
            return None;
        };
        let lits: Vec<_> = items.iter().filter_map(|i| self.literal(i)).collect();
        (lits.len() == items.len()).then_some(lits)
    }

    fn operator(&mut self, prefix: &[Segment], op: &str, key: &MarkedYaml, v: &MarkedYaml) -> Option<Condition> {
        let span = self.pos.span(key);
        let span = Span::new(span.file, span.start, self.pos.span(v).end.max(span.end));
        let operator = match op {
            "pattern" => Operator::Matches { pattern: self.string(v, "`pattern`")?, flags: String::new() },
            "equals" => Operator::Eq(self.literal(v)?),
            "not_equals" => Operator::Ne(self.literal(v)?),
            "in" => Operator::In(self.literal_list(v, op)?),
            "not_in" => Operator::NotIn(self.literal_list(v, op)?),
            "prefix" => Operator::StartsWith(self.string(v, "`prefix`")?),
            "suffix" => Operator::EndsWith(self.string(v, "`suffix`")?),
            "like" => Operator::Like(self.string(v, "`like`")?),
            "equals_ignore_case" => Operator::EqualsIgnoreCase(self.string(v, "`equals_ignore_case`")?),
            "contains" => match &v.data {
                YamlData::Sequence(_) => Operator::ContainsAll(self.literal_list(v, op)?),
                _ => Operator::Contains(self.literal(v)?),
            },
            "contains_any" => Operator::ContainsAny(self.literal_list(v, op)?),
            "gt" => Operator::Ord(OrdOp::Gt, self.literal(v)?),
            "gte" => Operator::Ord(OrdOp::Ge, self.literal(v)?),
            "lt" => Operator::Ord(OrdOp::Lt, self.literal(v)?),
            "lte" => Operator::Ord(OrdOp::Le, self.literal(v)?),
            "between" => {
                let items = self.literal_list(v, op)?;
                let [a, b] = <[Spanned<Literal>; 2]>::try_from(items).ok().or_else(|| {
                    self.error(v, "`between` takes a list of two numbers: [A, B]");
                    None
                })?;
                Operator::Between(a, b)
            }
            "cidr" => Operator::InCidr(self.string(v, "`cidr`")?),
            "exists" => match &v.data {
                YamlData::Value(Scalar::Boolean(true)) => Operator::Exists,
                YamlData::Value(Scalar::Boolean(false)) => {
                    let inner = predicate(prefix, span, Operator::Exists);
                    return Some(Condition { kind: ConditionKind::Not(Box::new(inner)), span });
                }
                _ => {
                    self.error(v, "`exists` takes true or false");
                    return None;
                }
            },
            _ => return None,
        };
        Some(predicate(prefix, span, operator))
    }

    fn targets(&mut self, node: &MarkedYaml) -> Vec<Action> {
        let YamlData::Sequence(items) = &node.data else {
            if !matches!(node.data, YamlData::Value(Scalar::Null)) {
                self.error(node, "`targets` must be a list");
            }
            return Vec::new();
        };
        items.iter().filter_map(|t| self.target(t)).collect()
    }

    fn transform(&mut self, node: &MarkedYaml) -> Option<Spanned<String>> {
        match &node.data {
            YamlData::Value(Scalar::String(_)) => self.string(node, "`transform`"),
            YamlData::Mapping(_) => {
                let mut spec = None;
                for (key, k, v) in self.entries(node, "`transform`")? {
                    match key.as_str() {
                        "type" => {
                            if let Some(t) = self.string(v, "`type`") {
                                if t.value != "jolt" {
                                    self.error(v, format!("unknown transform type `{}` (only `jolt`)", t.value));
                                }
                            }
                        }
                        "spec" => spec = self.string(v, "`spec`"),
                        _ => self.error(k, format!("unknown key `{key}` in `transform` (expected `type`, `spec`)")),
                    }
                }
                if spec.is_none() {
                    self.error(node, "`transform` needs a `spec` (the transform file)");
                }
                spec
            }
            _ => {
                self.error(node, "`transform` must be a file name or `{type: jolt, spec: FILE}`");
                None
            }
        }
    }

    fn headers(&mut self, node: &MarkedYaml) -> Vec<Header> {
        let Some(entries) = self.entries(node, "`headers`") else { return Vec::new() };
        let mut out = Vec::new();
        for (key, k, v) in entries {
            if let Some(value) = self.string(v, "a header value") {
                out.push(Header { name: Spanned::new(key, self.pos.span(k)), value });
            }
        }
        out
    }

    fn duration(&mut self, node: &MarkedYaml) -> Option<Spanned<Duration>> {
        let s = self.string(node, "a duration")?;
        match Duration::parse(&s.value) {
            Some(d) => Some(Spanned::new(d, s.span)),
            None => {
                self.diagnostics.push(Diagnostic::new(
                    Code::E019,
                    format!("invalid duration `{}` (write 250ms, 10s, 5m or 1h)", s.value),
                    s.span,
                ));
                None
            }
        }
    }

    fn target(&mut self, node: &MarkedYaml) -> Option<Action> {
        let span = self.pos.span(node);
        let entries = self.entries(node, "a target")?;
        let kinds: Vec<&str> =
            entries.iter().map(|(k, _, _)| k.as_str()).filter(|k| ["topic", "http", "store", "drop"].contains(k)).collect();
        if kinds.len() != 1 {
            self.error_hint(
                node,
                if kinds.is_empty() { "a target needs one of `topic`, `http`, `store`, `drop`".to_string() } else { format!("a target has one kind, found {}", kinds.join(", ")) },
                "write one list entry per target",
            );
            return None;
        }
        let kind = kinds[0].to_string();
        let mut transform = None;
        let mut keys = Vec::new();
        let mut headers = Vec::new();
        let mut result = None;
        for (key, k, v) in &entries {
            match (kind.as_str(), key.as_str()) {
                (_, "transform") if kind == "topic" || kind == "http" => transform = self.transform(v),
                ("topic", "topic") => {
                    result = self.string(v, "`topic`").map(|name| (name, None));
                }
                ("topic", "key") => {
                    if let Some(text) = self.string(v, "`key`") {
                        match super::parse::parse_path(text.span.file, text.span.start, &text.value) {
                            Some(p) => keys.push(Path { segments: p.segments, span: text.span }),
                            None => self.error(v, format!("`{}` is not a path", text.value)),
                        }
                    }
                }
                ("topic", "headers") => headers = self.headers(v),
                ("http", "http") => {
                    result = self.http(v).map(|(url, options)| (url, Some(options)));
                }
                ("store" | "drop", _) if key == &kind => match &v.data {
                    YamlData::Value(Scalar::Boolean(true)) => {
                        let kind = if kind == "store" { ActionKind::Store } else { ActionKind::Drop };
                        return Some(Action { kind, span });
                    }
                    _ => self.error(v, format!("`{kind}` takes `true` (remove the target otherwise)")),
                },
                _ => self.error(k, format!("unknown key `{key}` in a `{kind}` target")),
            }
        }
        let (name, options) = result?;
        let kind = match options {
            None => ActionKind::Topic { name, keys, transforms: transform.into_iter().collect(), headers },
            Some(options) => ActionKind::Webhook { url: name, transform, options: Some(options) },
        };
        Some(Action { kind, span })
    }

    fn http(&mut self, node: &MarkedYaml) -> Option<(Spanned<String>, Vec<WebhookOption>)> {
        let mut url = None;
        let mut options = Vec::new();
        for (key, k, v) in self.entries(node, "`http`")? {
            match key.as_str() {
                "url" => url = self.string(v, "`url`"),
                "method" => {
                    if let Some(m) = self.string(v, "`method`") {
                        let method = match m.value.to_ascii_uppercase().as_str() {
                            "POST" => HttpMethod::Post,
                            "PUT" => HttpMethod::Put,
                            "PATCH" => HttpMethod::Patch,
                            _ => {
                                self.error(v, format!("unsupported method `{}` (POST, PUT or PATCH)", m.value));
                                continue;
                            }
                        };
                        options.push(WebhookOption::Method(Spanned::new(method, m.span)));
                    }
                }
                "headers" => options.extend(self.headers(v).into_iter().map(WebhookOption::Header)),
                "timeout" => options.extend(self.duration(v).map(WebhookOption::Timeout)),
                "retry" => {
                    let mut attempts = None;
                    let mut backoff = None;
                    for (rk, rkn, rv) in self.entries(v, "`retry`").unwrap_or_default() {
                        match rk.as_str() {
                            "attempts" => match &rv.data {
                                YamlData::Value(Scalar::Integer(i)) if *i >= 0 => {
                                    attempts = Some(Spanned::new(*i as u64, self.pos.span(rv)));
                                }
                                _ => self.error(rv, "`attempts` must be a non-negative integer"),
                            },
                            "backoff" => {
                                if let Some(text) = self.string(rv, "`backoff`") {
                                    let parsed = text.value.split_once("..").and_then(|(a, b)| {
                                        Some((Duration::parse(a.trim())?, Duration::parse(b.trim())?))
                                    });
                                    match parsed {
                                        Some((a, b)) => {
                                            backoff = Some((Spanned::new(a, text.span), Spanned::new(b, text.span)));
                                        }
                                        None => self.error(rv, "`backoff` is MIN..MAX, e.g. 1s..10m"),
                                    }
                                }
                            }
                            _ => self.error(rkn, format!("unknown key `{rk}` in `retry` (expected `attempts`, `backoff`)")),
                        }
                    }
                    let attempts = attempts.unwrap_or_else(|| Spanned::new(8, self.pos.span(v)));
                    options.push(WebhookOption::Retry { attempts, backoff });
                }
                "sign" => options.extend(self.string(v, "`sign`").map(WebhookOption::Sign)),
                _ => self.error(k, format!("unknown key `{key}` in `http`")),
            }
        }
        match url {
            Some(url) => Some((url, options)),
            None => {
                self.error(node, "`http` needs a `url`");
                None
            }
        }
    }
}

fn scalar_literal(s: &Scalar) -> Literal {
    match s {
        Scalar::Null => Literal::Null,
        Scalar::Boolean(b) => Literal::Bool(*b),
        Scalar::Integer(i) => Literal::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner()).map_or(Literal::Null, Literal::Number),
        Scalar::String(s) => Literal::String(s.to_string()),
    }
}

fn predicate(prefix: &[Segment], span: Span, op: Operator) -> Condition {
    let path = Path { segments: prefix.to_vec(), span };
    Condition { kind: ConditionKind::Predicate(Predicate { path, op }), span }
}

fn conjunction(mut parts: Vec<Condition>, span: Span) -> Option<Condition> {
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Condition { kind: ConditionKind::And(parts), span }),
    }
}

/// `[A-Za-z_][A-Za-z0-9_.-]*` and not a keyword: the DSL's rule names.
fn is_rule_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !super::print::is_keyword(name)
}

//! A Jolt (JSON-to-JSON transformation) engine with the semantics of the reference Java
//! implementation (bazaarvoice/jolt).
//!
//! The API the rest of switchboard codes against:
//! - [`Chain::from_json`] compiles a chain spec (a JSON array of `{"operation", "spec"}`, or one
//!   such object) once; an invalid spec fails here, naming the JSON path inside the spec.
//! - [`Chain::apply`] / [`Chain::apply_with_context`] run it; a compiled chain is immutable and
//!   `Send + Sync`, shared read-only across threads.
//! - [`Chain::transform`] runs it without copying what the output shares with the input: its
//!   [`Output`] borrows the input's values (as the reference's output holds the input's own
//!   objects) and serializes as JSON directly; [`Output::into_value`] makes an owned copy.
//!   [`Chain::transform_with`] hands the output to a closure instead, which lets a shift refer to
//!   what an earlier operation built rather than copy it (what the gateway uses).
//! - [`parse_spec_text`] reads spec file text, accepting `//` and `/* */` comments as the reference does.
//!
//! One module per operation (`shift`, `default`, `remove`, `sort`, `cardinality`, `modify`), the
//! modify function library in `functions`; `keys` parses the key syntax they share, `walked` is the
//! walk's stack of matches (and `View`, what it stands on) and `output` is the chain's document.
use serde_json::Value;

use crate::output::Out;

mod cardinality;
mod default;
mod functions;
mod keys;
mod modify;
mod number;
mod output;
mod remove;
mod shift;
mod sort;
mod spec_text;
mod walked;

/// A spec that does not compile. `path` is the JSON path inside the spec (`$[1].spec.rating.*`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecError {
    pub path: String,
    pub message: String,
}

impl SpecError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> SpecError {
        SpecError { path: path.to_owned(), message: message.into() }
    }
}

/// What [`Chain::transform`] made: JSON that may borrow values of the input and keys of the spec.
/// It serializes as JSON ([`serde::Serialize`]); [`Output::into_value`] copies it into a `Value`.
#[derive(Debug)]
pub struct Output<'a>(Out<'a>);

impl Output<'_> {
    pub fn into_value(self) -> Value {
        self.0.into_value()
    }

    /// The output as JSON text.
    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing a JSON tree into memory can not fail: keys are strings, numbers are JSON's.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl serde::Serialize for Output<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A failure while applying a compiled spec to an input. The message is boxed so that the
/// walk's `Result`s stay one or two words wide and come back in registers (a bare `String` made
/// every `Result<bool, _>` of the walk a 32-byte value returned through memory).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(pub Box<String>);

impl TransformError {
    pub fn new(message: String) -> TransformError {
        TransformError(Box::new(message))
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

/// The JSON path of a child key, as spec errors name it: `$.a.b`, or `$["a.b"]` when the key
/// would not read back as one segment.
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| !matches!(c, '.' | '[' | ']' | '"' | ' ' | '\\'));
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

/// The operations a chain entry can name (short names, and the reference's class names).
/// Sizes differ, but there is one per chain entry, built once: boxing would buy nothing.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Operation {
    Shift(shift::Shift),
    Default(default::Default),
    Remove(remove::Remove),
    Sort,
    Cardinality(cardinality::Cardinality),
    Modify(modify::Modify),
}

impl Operation {
    fn compile(name: &str, spec: Option<&Value>, path: &str) -> Result<Operation, SpecError> {
        let spec_path = format!("{path}.spec");
        let need_spec = || {
            spec.ok_or_else(|| SpecError::new(path, format!("operation `{name}` needs a \"spec\"")))
        };
        Ok(match name {
            "shift" | "com.bazaarvoice.jolt.Shiftr" => Operation::Shift(shift::Shift::compile(need_spec()?, &spec_path)?),
            "default" | "com.bazaarvoice.jolt.Defaultr" => {
                Operation::Default(default::Default::compile(need_spec()?, &spec_path)?)
            }
            "remove" | "com.bazaarvoice.jolt.Removr" => Operation::Remove(remove::Remove::compile(need_spec()?, &spec_path)?),
            "sort" | "com.bazaarvoice.jolt.Sortr" => Operation::Sort,
            "cardinality" | "com.bazaarvoice.jolt.CardinalityTransform" => {
                Operation::Cardinality(cardinality::Cardinality::compile(need_spec()?, &spec_path)?)
            }
            "modify-overwrite-beta" | "com.bazaarvoice.jolt.Modifier$Overwritr" => {
                Operation::Modify(modify::Modify::compile(need_spec()?, modify::Mode::Overwrite, &spec_path)?)
            }
            "modify-default-beta" | "com.bazaarvoice.jolt.Modifier$Defaultr" => {
                Operation::Modify(modify::Modify::compile(need_spec()?, modify::Mode::Default, &spec_path)?)
            }
            "modify-define-beta" | "com.bazaarvoice.jolt.Modifier$Definr" => {
                Operation::Modify(modify::Modify::compile(need_spec()?, modify::Mode::Define, &spec_path)?)
            }
            other => {
                return Err(SpecError::new(
                    &format!("{path}.operation"),
                    format!(
                        "unknown operation `{other}`; expected shift, default, remove, sort, cardinality, \
                         modify-overwrite-beta, modify-default-beta or modify-define-beta"
                    ),
                ))
            }
        })
    }

    /// Runs one operation on the chain's document. Shift, default, modify, remove and sort work on
    /// the document as it is (sharing the input's values); cardinality works on an owned copy.
    fn apply<'a>(&'a self, doc: Out<'a>, context: &Value) -> Result<Out<'a>, TransformError> {
        let owned = |v: Value| Out::Owned(Box::new(v));
        Ok(match self {
            Operation::Shift(s) => match doc {
                Out::Data(input) => s.apply_tree(input)?,
                // A document an earlier operation built: shift walks JSON values, so it gets one.
                other => owned(s.apply(&other.into_value())?),
            },
            Operation::Default(d) => d.apply(doc)?,
            Operation::Modify(m) => m.apply(doc, context)?,
            Operation::Remove(r) => r.apply_out(doc),
            Operation::Sort => sort::apply_out(doc),
            Operation::Cardinality(c) => owned(c.apply(doc.into_value())?),
        })
    }
}

/// A compiled chain of operations.
#[derive(Debug)]
pub struct Chain {
    operations: Vec<Operation>,
}

impl Chain {
    /// Compiles a chain spec: a JSON array of `{"operation": NAME, "spec": SPEC}`, or one such object.
    pub fn from_json(spec: &Value) -> Result<Chain, SpecError> {
        let entries: Vec<(&Value, String)> = match spec {
            Value::Array(list) => list.iter().enumerate().map(|(i, e)| (e, format!("$[{i}]"))).collect(),
            Value::Object(_) => vec![(spec, "$".to_owned())],
            _ => return Err(SpecError::new("$", "a chain spec must be a list of {\"operation\", \"spec\"} objects")),
        };
        if entries.is_empty() {
            return Err(SpecError::new("$", "a chain spec must hold at least one operation"));
        }
        let mut operations = Vec::with_capacity(entries.len());
        for (entry, path) in entries {
            let Value::Object(map) = entry else {
                return Err(SpecError::new(&path, "a chain entry must be an object with \"operation\" and \"spec\""));
            };
            let name = match map.get("operation") {
                Some(Value::String(name)) => name,
                Some(_) => return Err(SpecError::new(&format!("{path}.operation"), "\"operation\" must be a string")),
                None => return Err(SpecError::new(&path, "a chain entry needs an \"operation\"")),
            };
            operations.push(Operation::compile(name, map.get("spec"), &path)?);
        }
        Ok(Chain { operations })
    }

    pub fn apply(&self, input: &Value) -> Result<Value, TransformError> {
        self.apply_with_context(input, &Value::Null)
    }

    /// Runs the chain; `context` is the document modify's `^` lookups read. The output is an
    /// owned copy: [`Chain::transform`] is the same without it.
    pub fn apply_with_context(&self, input: &Value, context: &Value) -> Result<Value, TransformError> {
        Ok(self.transform(input, context)?.into_value())
    }

    /// Runs the chain, sharing with the input whatever the output holds of it. The document
    /// starts as the input itself: shift builds a new one that refers to the input's values,
    /// default and modify take apart only the maps and lists they write into (the rest stays
    /// shared), remove takes apart only what it deletes from and sort only the maps whose order
    /// changes, and cardinality works on an owned copy.
    pub fn transform<'a>(&'a self, input: &'a Value, context: &Value) -> Result<Output<'a>, TransformError> {
        let mut doc = Out::Data(input);
        for op in &self.operations {
            doc = op.apply(doc, context)?;
        }
        Ok(Output(doc))
    }

    /// Like [`Chain::transform`], handing the output to `f` instead of returning it: then an
    /// operation may refer to what the one before it built (a shift after a shift, or after a
    /// default or modify), because every document of the chain lives until `f` returns; nothing
    /// is copied for any chain except cardinality's own copy.
    pub fn transform_with<R>(
        &self,
        input: &Value,
        context: &Value,
        f: impl for<'x> FnOnce(Output<'x>) -> R,
    ) -> Result<R, TransformError> {
        run_keeping(&self.operations, Out::Data(input), context, f)
    }

    /// Like [`Chain::apply_with_context`], taking the input by value.
    pub fn apply_owned(&self, input: Value, context: &Value) -> Result<Value, TransformError> {
        self.apply_with_context(&input, context)
    }
}

/// Runs `ops` over `doc`; a shift over a document an earlier operation built walks it where it is
/// and refers to it, so that document stays in this frame while the rest of the chain runs.
fn run_keeping<'a, R>(
    ops: &'a [Operation],
    doc: Out<'a>,
    context: &Value,
    f: impl for<'x> FnOnce(Output<'x>) -> R,
) -> Result<R, TransformError> {
    match ops.split_first() {
        None => Ok(f(Output(doc))),
        Some((Operation::Shift(shift), rest)) if !matches!(doc, Out::Data(_)) => {
            let next = shift.apply_view(walked::View::of(&doc))?;
            run_keeping(rest, next, context, f)
        }
        Some((op, rest)) => run_keeping(rest, op.apply(doc, context)?, context, f),
    }
}

/// Parses spec file text (JSON with `//` and `/* */` comments).
pub fn parse_spec_text(text: &str) -> Result<Value, SpecError> {
    spec_text::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn a_chain_is_send_and_sync() {
        assert_send_sync::<Chain>();
        let chain = Chain::from_json(&json!([{"operation": "shift", "spec": {"a": "b"}}])).unwrap();
        assert_eq!(chain.apply(&json!({"a": 1})).unwrap(), json!({"b": 1}));
    }

    #[test]
    fn a_transformed_output_serializes_like_its_value() {
        let chain = Chain::from_json(&json!([{"operation": "shift", "spec": {"a": {"*": "x.&", "@": "whole"}}}])).unwrap();
        let input = json!({"a": {"p": [1, {"q": "r"}], "s": "t"}});
        let out = chain.transform(&input, &Value::Null).unwrap();
        let text = out.to_vec();
        let value = out.into_value();
        assert_eq!(value, json!({"x": {"p": [1, {"q": "r"}], "s": "t"}, "whole": {"p": [1, {"q": "r"}], "s": "t"}}));
        assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), value);
        assert_eq!(value, chain.apply(&input).unwrap());
    }

    #[test]
    fn a_shift_over_a_built_document_refers_to_it_and_later_writes_do_not_leak_into_it() {
        // shift -> modify -> shift -> default: the second shift walks the first's document (and
        // the modify's write into it), the default writes into a map the second shift shares.
        let chain = Chain::from_json(&json!([
            {"operation": "shift", "spec": {"a": "m.a", "b": "m.b", "list": "l"}},
            {"operation": "modify-overwrite-beta", "spec": {"m": {"b": "=toUpper"}}},
            {"operation": "shift", "spec": {"m": "copy", "l": {"*": "items[]"}, "@": "whole"}},
            {"operation": "default", "spec": {"copy": {"c": 3}, "whole": {"m": {"d": 4}}}}
        ]))
        .unwrap();
        let input = json!({"a": 1, "b": "x", "list": [{"k": 1}, {"k": 2}]});
        let expected = json!({
            "copy": {"a": 1, "b": "X", "c": 3},
            "items": [{"k": 1}, {"k": 2}],
            "whole": {"m": {"a": 1, "b": "X", "d": 4}, "l": [{"k": 1}, {"k": 2}]}
        });
        let (text, value) = chain.transform_with(&input, &Value::Null, |out| (out.to_vec(), out.into_value())).unwrap();
        assert_eq!(value, expected);
        assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), expected);
        assert_eq!(chain.apply(&input).unwrap(), expected);
        assert_eq!(input, json!({"a": 1, "b": "x", "list": [{"k": 1}, {"k": 2}]}), "the input is not changed");
    }

    #[test]
    fn writes_reach_input_values_below_a_shared_node() {
        // The second shift shares the first one's `x` map, whose `a` is the input's own object;
        // default and modify then write below it, into that object (taken apart, not changed).
        let chain = Chain::from_json(&json!([
            {"operation": "shift", "spec": {"a": "x.a", "l": "x.l"}},
            {"operation": "shift", "spec": {"x": "y"}},
            {"operation": "default", "spec": {"y": {"a": {"q": 2}}}},
            {"operation": "modify-overwrite-beta", "spec": {"y": {"l": {"[0]": "=toUpper"}}}}
        ]))
        .unwrap();
        let input = json!({"a": {"p": 1}, "l": ["s", "t"]});
        let expected = json!({"y": {"a": {"p": 1, "q": 2}, "l": ["S", "t"]}});
        let value = chain.transform_with(&input, &Value::Null, |out| out.into_value()).unwrap();
        assert_eq!(value, expected);
        assert_eq!(chain.apply(&input).unwrap(), expected);
        assert_eq!(input, json!({"a": {"p": 1}, "l": ["s", "t"]}));
    }

    #[test]
    fn unknown_operations_name_their_path() {
        let err = Chain::from_json(&json!([{"operation": "shift", "spec": {"a": "b"}}, {"operation": "nope"}])).unwrap_err();
        assert_eq!(err.path, "$[1].operation");
        assert!(Chain::from_json(&json!([])).is_err());
    }

    #[test]
    fn the_member_to_crm_transform_compiles_and_maps_a_member_event() {
        let text = include_str!("../../../transforms/member_to_crm.json");
        let chain = Chain::from_json(&parse_spec_text(text).unwrap()).unwrap();
        let event = json!({
            "eventId": "evt_1", "eventType": "member.profile.updated", "eventTime": "2024-01-20T15:30:45.123Z",
            "subject": {"type": "member", "id": "mem_12345", "alternateIds": {"legacyId": "L98765", "crmId": "C54321"}},
            "data": {"firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Example.ORG",
                     "changes": {"email": {"old": "a@x", "new": "Ada@Example.ORG"}}},
            "metadata": {"correlationId": "corr_1", "tags": ["sync_to_crm"]}
        });
        let out = chain.apply(&event).unwrap();
        assert_eq!(
            out,
            json!({
                "sourceEvent": {"id": "evt_1", "type": "member.profile.updated", "time": "2024-01-20T15:30:45.123Z",
                                "correlationId": "corr_1"},
                "externalId": "mem_12345", "recordType": "member", "crmId": "C54321", "legacyId": "L98765",
                "contact": {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.org"},
                "changedFields": ["email"], "tags": ["sync_to_crm"],
                "source": "switchboard", "fullName": "Ada Lovelace"
            })
        );
    }
}

//! A Jolt (JSON-to-JSON transformation) engine with the semantics of the reference Java
//! implementation (bazaarvoice/jolt).
//!
//! The API the rest of switchboard codes against (the Jolt issue fills in the engine):
//! - [`Chain::from_json`] compiles a chain spec (a JSON array of `{"operation", "spec"}`, or one
//!   such object) once; an invalid spec fails here, naming the JSON path inside the spec.
//! - [`Chain::apply`] / [`Chain::apply_with_context`] run it; a compiled chain is immutable and
//!   `Send + Sync`, shared read-only across threads.
//! - [`parse_spec_text`] reads spec file text, accepting `//` and `/* */` comments as the reference does.
use serde_json::Value;

/// A spec that does not compile. `path` is the JSON path inside the spec (`$[1].spec.rating.*`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecError {
    pub path: String,
    pub message: String,
}

/// A failure while applying a compiled spec to an input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(pub String);

/// A compiled chain of operations.
#[derive(Debug, Clone)]
pub struct Chain {
    _private: (),
}

impl Chain {
    pub fn from_json(spec: &Value) -> Result<Chain, SpecError> {
        let _ = spec;
        Err(SpecError { path: "$".into(), message: "the Jolt engine is not implemented yet (issue 5)".into() })
    }

    pub fn apply(&self, input: &Value) -> Result<Value, TransformError> {
        self.apply_with_context(input, &Value::Null)
    }

    pub fn apply_with_context(&self, input: &Value, context: &Value) -> Result<Value, TransformError> {
        let _ = (input, context);
        Err(TransformError("the Jolt engine is not implemented yet (issue 5)".into()))
    }
}

/// Parses spec file text (JSON with `//` and `/* */` comments).
pub fn parse_spec_text(text: &str) -> Result<Value, SpecError> {
    serde_json::from_str(text).map_err(|e| SpecError { path: "$".into(), message: e.to_string() })
}

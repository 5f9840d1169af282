//! The CloudEvents HTTP binding (v1.0), binary and structured mode, mapped onto the envelope.
//!
//! Mapping (a choice; documented in docs/configuration.md):
//! `id`→`eventId`, `type`→`eventType`, `time`→`eventTime` (the receive time when absent, since the
//! envelope requires one), `source`→`producer.service`, `subject`→`subject.id`,
//! `datacontenttype`→`dataContentType`, `dataschema`→`dataVersion`'s sibling `dataSchema`,
//! `data`/`data_base64`→`data`, every extension attribute→`metadata.<name>` (so `traceparent`
//! becomes `metadata.traceparent`, which the pipeline carries on), `specversion` is checked.
use serde_json::{json, Map, Value};

use switchboard_core::event::EnvelopeError;

fn err(field: &str, message: impl Into<String>) -> EnvelopeError {
    EnvelopeError { field: field.to_string(), message: message.into() }
}

const CORE: &[&str] = &["id", "type", "source", "specversion", "time", "subject", "datacontenttype", "dataschema", "data", "data_base64"];

/// Builds an envelope from CloudEvents attributes and data.
fn envelope(attrs: &Map<String, Value>, data: Option<Value>) -> Result<Value, EnvelopeError> {
    match attrs.get("specversion").and_then(Value::as_str) {
        Some("1.0") => {}
        Some(other) => return Err(err("specversion", format!("unsupported CloudEvents version {other:?} (1.0 is)"))),
        None => return Err(err("specversion", "is required")),
    }
    let s = |k: &str| attrs.get(k).and_then(Value::as_str).map(String::from);
    let id = s("id").ok_or_else(|| err("id", "is required"))?;
    let kind = s("type").ok_or_else(|| err("type", "is required"))?;
    let source = s("source").ok_or_else(|| err("source", "is required"))?;
    let time = s("time").unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut env = json!({"eventId": id, "eventType": kind, "eventTime": time, "producer": {"service": source}});
    let obj = env.as_object_mut().ok_or_else(|| err("$", "internal"))?;
    if let Some(subject) = s("subject") {
        obj.insert("subject".into(), json!({"id": subject}));
    }
    if let Some(ct) = s("datacontenttype") {
        obj.insert("dataContentType".into(), Value::String(ct));
    }
    if let Some(schema) = s("dataschema") {
        obj.insert("dataSchema".into(), Value::String(schema));
    }
    if let Some(d) = data {
        obj.insert("data".into(), d);
    }
    let mut metadata = Map::new();
    for (k, v) in attrs {
        if !CORE.contains(&k.as_str()) {
            metadata.insert(k.clone(), v.clone());
        }
    }
    if !metadata.is_empty() {
        obj.insert("metadata".into(), Value::Object(metadata));
    }
    Ok(env)
}

/// Structured mode: a `application/cloudevents+json` body (one event).
pub fn from_structured(body: &Value) -> Result<Value, EnvelopeError> {
    let Value::Object(attrs) = body else { return Err(err("$", "a CloudEvent must be a JSON object")) };
    let data = match (attrs.get("data"), attrs.get("data_base64")) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(Value::String(b64))) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| err("data_base64", format!("is not base64: {e}")))?;
            Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
        }
        _ => None,
    };
    envelope(attrs, data)
}

/// Binary mode: attributes in `ce-*` headers, the body is the data.
pub fn from_binary(headers: &http::HeaderMap, body: &[u8]) -> Result<Value, EnvelopeError> {
    let mut attrs = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if let Some(attr) = name.strip_prefix("ce-") {
            let v = value.to_str().map_err(|_| err(name, "is not visible ASCII"))?;
            let decoded = percent_decode(v);
            attrs.insert(attr.to_string(), Value::String(decoded));
        }
    }
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
    if let Some(ct) = &content_type {
        attrs.insert("datacontenttype".into(), Value::String(ct.clone()));
    }
    let data = if body.is_empty() {
        None
    } else if content_type.as_deref().is_none_or(|ct| ct.contains("json")) {
        Some(serde_json::from_slice(body).map_err(|e| err("data", format!("the body is not valid JSON: {e}")))?)
    } else {
        Some(Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    envelope(&attrs, data)
}

/// CloudEvents header values are percent-encoded where needed.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_mode_maps_to_the_envelope() {
        let ce = json!({"specversion": "1.0", "id": "c1", "type": "member.created", "source": "/crm",
                        "time": "2024-01-20T15:30:45Z", "subject": "mem_1", "traceparent": "00-abc", "data": {"a": 1}});
        let env = from_structured(&ce).unwrap();
        assert_eq!(env["eventId"], "c1");
        assert_eq!(env["eventType"], "member.created");
        assert_eq!(env["producer"]["service"], "/crm");
        assert_eq!(env["subject"]["id"], "mem_1");
        assert_eq!(env["data"]["a"], 1);
        assert_eq!(env["metadata"]["traceparent"], "00-abc");
    }

    #[test]
    fn binary_mode_reads_headers() {
        let mut h = http::HeaderMap::new();
        h.insert("ce-specversion", "1.0".parse().unwrap());
        h.insert("ce-id", "b1".parse().unwrap());
        h.insert("ce-type", "payment.captured".parse().unwrap());
        h.insert("ce-source", "urn:pay%20svc".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let env = from_binary(&h, br#"{"amount": 5}"#).unwrap();
        assert_eq!(env["eventId"], "b1");
        assert_eq!(env["producer"]["service"], "urn:pay svc");
        assert_eq!(env["data"]["amount"], 5);
        assert!(env["eventTime"].is_string());
    }

    #[test]
    fn missing_attributes_are_named() {
        assert_eq!(from_structured(&json!({"specversion": "1.0", "type": "a", "source": "s"})).unwrap_err().field, "id");
        assert_eq!(from_structured(&json!({"id": "1", "type": "a", "source": "s"})).unwrap_err().field, "specversion");
        assert_eq!(from_structured(&json!({"specversion": "0.3", "id": "1", "type": "a", "source": "s"})).unwrap_err().field, "specversion");
    }
}

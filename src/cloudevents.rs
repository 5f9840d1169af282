//! The CloudEvents HTTP binding (v1.0), binary and structured mode, mapped onto the envelope.
//!
//! Mapping (a choice; documented in docs/configuration.md):
//! `id`→`eventId`, `type`→`eventType`, `time`→`eventTime` (the receive time when absent, since the
//! envelope requires one), `source`→`producer.service`, `subject`→`subject.id`,
//! `datacontenttype`→`dataContentType`, `dataschema`→`dataVersion`'s sibling `dataSchema`,
//! every extension attribute→`metadata.<name>` (so `traceparent` becomes `metadata.traceparent`,
//! which the pipeline carries on), `specversion` is checked.
//!
//! Data is kept losslessly: JSON data (a JSON content type, or none) → `data` as JSON; other
//! bytes that are UTF-8 → `data` as a string; other bytes → `data_base64` (standard base64, as in
//! the CloudEvents JSON format), with `dataContentType` kept. Structured `data_base64` is decoded
//! and mapped the same way (JSON only when the content type is JSON and the bytes parse).
//!
//! Every problem of an event is reported, each naming the CloudEvents attribute the client sent.
use serde_json::{json, Map, Value};

use switchboard_core::event::EnvelopeError;

fn err(field: &str, message: impl Into<String>) -> EnvelopeError {
    EnvelopeError { field: field.to_string(), message: message.into() }
}

const CORE: &[&str] = &["id", "type", "source", "specversion", "time", "subject", "datacontenttype", "dataschema", "data", "data_base64"];

/// The media type of a Content-Type value: before any parameter, trimmed, lower case (RFC 7231:
/// type and subtype are case-insensitive).
pub fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// A JSON media type: `application/json`, `text/json` or any `+json` suffix.
pub fn is_json(content_type: &str) -> bool {
    let m = media_type(content_type);
    m == "application/json" || m == "text/json" || m.ends_with("+json")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The data of an event from its bytes, losslessly: `("data", JSON)` for JSON, `("data", text)`
/// for UTF-8, `("data_base64", base64)` otherwise.
fn data_from_bytes(content_type: Option<&str>, bytes: &[u8]) -> (&'static str, Value) {
    if content_type.is_none_or(is_json) {
        if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
            return ("data", v);
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => ("data", Value::String(text.to_string())),
        Err(_) => {
            use base64::Engine;
            ("data_base64", Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
        }
    }
}

/// Builds an envelope from CloudEvents attributes and data, reporting every problem.
fn envelope(attrs: &Map<String, Value>, data: Option<(&'static str, Value)>, mut errors: Vec<EnvelopeError>) -> Result<Value, Vec<EnvelopeError>> {
    match attrs.get("specversion") {
        Some(Value::String(v)) if v == "1.0" => {}
        Some(Value::String(other)) => errors.push(err("specversion", format!("unsupported CloudEvents version {other:?} (1.0 is)"))),
        Some(other) => errors.push(err("specversion", format!("must be the string \"1.0\", found {}", type_name(other)))),
        None => errors.push(err("specversion", "is required")),
    }
    // A string attribute: None when absent (or null), an error when of another type.
    let mut s = |k: &str, required: bool, non_empty: bool| -> Option<String> {
        match attrs.get(k) {
            None | Some(Value::Null) => {
                if required {
                    errors.push(err(k, "is required"));
                }
                None
            }
            Some(Value::String(v)) if non_empty && v.is_empty() => {
                errors.push(err(k, "must be a non-empty string"));
                None
            }
            Some(Value::String(v)) => Some(v.clone()),
            Some(other) => {
                errors.push(err(k, format!("must be a string, found {}", type_name(other))));
                None
            }
        }
    };
    let id = s("id", true, true);
    let kind = s("type", true, true);
    let source = s("source", true, true);
    let time = s("time", false, false);
    let subject = s("subject", false, true);
    let content_type = s("datacontenttype", false, true);
    let schema = s("dataschema", false, true);
    if let Some(t) = &time {
        if let Err(e) = chrono::DateTime::parse_from_rfc3339(t) {
            errors.push(err("time", format!("{t:?} is not an RFC 3339 timestamp ({e})")));
        }
    }
    for (k, v) in attrs.iter().filter(|(k, _)| !CORE.contains(&k.as_str())) {
        errors.extend(extension_problem(k, v));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(id), Some(kind), Some(source)) = (id, kind, source) else { return Err(vec![err("$", "internal")]) };
    let time = time.unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut env = Map::new();
    env.insert("eventId".into(), Value::String(id));
    env.insert("eventType".into(), Value::String(kind));
    env.insert("eventTime".into(), Value::String(time));
    env.insert("producer".into(), json!({"service": source}));
    if let Some(subject) = subject {
        env.insert("subject".into(), json!({"id": subject}));
    }
    if let Some(ct) = content_type {
        env.insert("dataContentType".into(), Value::String(ct));
    }
    if let Some(schema) = schema {
        env.insert("dataSchema".into(), Value::String(schema));
    }
    if let Some((key, d)) = data {
        env.insert(key.into(), d);
    }
    let mut metadata = Map::new();
    for (k, v) in attrs {
        if !CORE.contains(&k.as_str()) && !v.is_null() {
            metadata.insert(k.clone(), v.clone());
        }
    }
    if !metadata.is_empty() {
        env.insert("metadata".into(), Value::Object(metadata));
    }
    Ok(Value::Object(env))
}

/// What is wrong with an extension attribute, if anything. Its name must be lower-case ASCII
/// letters and digits (CloudEvents 1.0 §"Attribute Naming Convention"; the recommended limit of
/// 20 characters is a SHOULD and is not enforced). Its value must be of a CloudEvents type as
/// the JSON format writes them: a string (String, URI, URI-reference, Timestamp, Binary), a
/// boolean, or an integer within 32 bits (Integer); `null` means absent.
fn extension_problem(name: &str, value: &Value) -> Option<EnvelopeError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Some(err(name, "is not a valid CloudEvents attribute name (only lower-case letters a-z and digits 0-9)"));
    }
    match value {
        Value::Null | Value::String(_) | Value::Bool(_) => None,
        Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => None,
        Value::Number(n) => Some(err(name, format!("{n} is not a CloudEvents Integer (a whole number within 32 bits)"))),
        other => Some(err(name, format!("an extension attribute must be a string, a boolean or an integer, found {}", type_name(other)))),
    }
}

/// Structured mode: a `application/cloudevents+json` body (one event).
pub fn from_structured(body: &Value) -> Result<Value, Vec<EnvelopeError>> {
    let Value::Object(attrs) = body else { return Err(vec![err("$", "a CloudEvent must be a JSON object")]) };
    let mut errors = Vec::new();
    let content_type = attrs.get("datacontenttype").and_then(Value::as_str);
    let data = match (attrs.get("data"), attrs.get("data_base64")) {
        (Some(_), Some(_)) => {
            errors.push(err("data_base64", "must not be given together with data"));
            None
        }
        (Some(d), None) => Some(("data", d.clone())),
        (None, Some(Value::String(b64))) => {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(bytes) => {
                    // JSON only when the content type says so; text stays text; otherwise the
                    // base64 is kept as sent (it decoded, so it is the same bytes).
                    match data_from_bytes(Some(content_type.unwrap_or("application/octet-stream")), &bytes) {
                        ("data_base64", _) => Some(("data_base64", Value::String(b64.clone()))),
                        other => Some(other),
                    }
                }
                Err(e) => {
                    errors.push(err("data_base64", format!("is not base64: {e}")));
                    None
                }
            }
        }
        (None, Some(other)) => {
            errors.push(err("data_base64", format!("must be a string, found {}", type_name(other))));
            None
        }
        (None, None) => None,
    };
    envelope(attrs, data, errors)
}

/// Binary mode: attributes in `ce-*` headers (percent-decoded, §3.1.3.2), the body is the data.
pub fn from_binary(headers: &http::HeaderMap, body: &[u8]) -> Result<Value, Vec<EnvelopeError>> {
    let mut attrs = Map::new();
    let mut errors = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        if let Some(attr) = name.strip_prefix("ce-") {
            let decoded = value.to_str().map_err(|_| "is not visible ASCII".to_string()).and_then(percent_decode);
            match decoded {
                Ok(v) => {
                    attrs.insert(attr.to_string(), Value::String(v));
                }
                Err(m) => errors.push(err(attr, m)),
            }
        }
    }
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
    if let Some(ct) = &content_type {
        attrs.insert("datacontenttype".into(), Value::String(ct.clone()));
    }
    let data = if body.is_empty() {
        None
    } else if content_type.as_deref().is_none_or(is_json) {
        match serde_json::from_slice(body) {
            Ok(v) => Some(("data", v)),
            Err(e) => {
                errors.push(err("data", format!("the body is not valid JSON: {e}")));
                None
            }
        }
    } else {
        Some(data_from_bytes(content_type.as_deref(), body))
    };
    envelope(&attrs, data, errors)
}

/// CloudEvents header values are percent-encoded where needed (§3.1.3.2): `%XX` sequences are
/// decoded as bytes, and the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} percent-decodes to invalid UTF-8"))
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
        assert_eq!(from_structured(&json!({"specversion": "1.0", "type": "a", "source": "s"})).unwrap_err()[0].field, "id");
        assert_eq!(from_structured(&json!({"id": "1", "type": "a", "source": "s"})).unwrap_err()[0].field, "specversion");
        assert_eq!(from_structured(&json!({"specversion": "0.3", "id": "1", "type": "a", "source": "s"})).unwrap_err()[0].field, "specversion");
    }

    #[test]
    fn media_types_are_case_insensitive_with_parameters() {
        assert_eq!(media_type("Application/CloudEvents+JSON; charset=UTF-8"), "application/cloudevents+json");
        assert!(is_json("Application/JSON;charset=utf-8"));
        assert!(is_json("application/vnd.x+json"));
        assert!(!is_json("text/plain"));
    }

    #[test]
    fn binary_data_is_kept_losslessly() {
        let mut h = http::HeaderMap::new();
        for (k, v) in [("ce-specversion", "1.0"), ("ce-id", "b1"), ("ce-type", "t"), ("ce-source", "s"), ("content-type", "application/octet-stream")] {
            h.insert(k, v.parse().unwrap());
        }
        let raw = [0xffu8, 0x00, 0xc3, 0x28];
        let env = from_binary(&h, &raw).unwrap();
        assert_eq!(env["data_base64"], "/wDDKA==");
        assert!(env.get("data").is_none());
        assert_eq!(env["dataContentType"], "application/octet-stream");
        h.insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
        let env = from_binary(&h, "héllo".as_bytes()).unwrap();
        assert_eq!(env["data"], "héllo");
        // Structured data_base64: text stays text, binary stays the same base64.
        let ce = json!({"specversion": "1.0", "id": "1", "type": "t", "source": "s", "datacontenttype": "image/png", "data_base64": "/wDDKA=="});
        assert_eq!(from_structured(&ce).unwrap()["data_base64"], "/wDDKA==");
        let ce = json!({"specversion": "1.0", "id": "1", "type": "t", "source": "s", "datacontenttype": "application/json", "data_base64": "eyJhIjoxfQ=="});
        assert_eq!(from_structured(&ce).unwrap()["data"]["a"], 1);
    }

    #[test]
    fn header_values_are_percent_decoded_and_must_be_utf8() {
        assert_eq!(percent_decode("a%20b%C3%A9").unwrap(), "a b\u{e9}");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("%+1").unwrap(), "%+1");
        assert!(percent_decode("%C0%A0").is_err());
        let mut h = http::HeaderMap::new();
        for (k, v) in [("ce-specversion", "1.0"), ("ce-id", "b1"), ("ce-type", "t"), ("ce-source", "bad%C0%A0")] {
            h.insert(k, v.parse().unwrap());
        }
        let errors = from_binary(&h, b"").unwrap_err();
        assert_eq!(errors[0].field, "source");
    }

    #[test]
    fn extension_names_and_values_follow_the_cloudevents_type_system() {
        let base = json!({"specversion": "1.0", "id": "1", "type": "t", "source": "s"});
        let with = |k: &str, v: Value| {
            let mut e = base.clone();
            e[k] = v;
            from_structured(&e)
        };
        let ok = with("partitionkey", json!("k1")).unwrap();
        assert_eq!(ok["metadata"]["partitionkey"], "k1");
        assert_eq!(with("sampled", json!(true)).unwrap()["metadata"]["sampled"], true);
        assert_eq!(with("sequence2", json!(-2147483648i64)).unwrap()["metadata"]["sequence2"], -2147483648i64);
        assert!(with("gone", Value::Null).unwrap().get("metadata").is_none(), "null is absent");
        for (name, value, field) in [
            ("Bad_Name", json!("x"), "Bad_Name"),
            ("with-dash", json!("x"), "with-dash"),
            ("big", json!(2147483648i64), "big"),
            ("ratio", json!(0.5), "ratio"),
            ("nested", json!({"a": 1}), "nested"),
            ("list", json!([1]), "list"),
        ] {
            let errors = with(name, value).unwrap_err();
            assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), [field], "{errors:?}");
        }
        // Binary mode: header names are case-insensitive (HTTP lower-cases them); other characters are refused.
        let mut headers = http::HeaderMap::new();
        for (k, v) in [("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-type", "t"), ("ce-source", "s"), ("ce-Trace_Id", "x")] {
            headers.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let errors = from_binary(&headers, b"").unwrap_err();
        assert_eq!(errors[0].field, "trace_id", "{errors:?}");
    }

    #[test]
    fn every_wrongly_typed_attribute_is_named() {
        let ce = json!({"specversion": "1.0", "id": 7, "type": "Microsoft.Storage.BlobCreated", "source": "",
                        "time": "yesterday", "subject": 3, "data": {}, "data_base64": "AA=="});
        let fields: Vec<String> = from_structured(&ce).unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["data_base64", "id", "source", "subject", "time"]);
        let errors = from_structured(&json!({"specversion": "1.0", "id": 7, "type": "t", "source": "s"})).unwrap_err();
        assert_eq!(errors[0].message, "must be a string, found a number");
        let ce = json!({"specversion": "1.0", "id": "1", "type": "t", "source": "s", "data_base64": 5});
        assert_eq!(from_structured(&ce).unwrap_err()[0].field, "data_base64");
        let ce = json!({"specversion": "1.0", "id": "1", "type": "t", "source": "s", "data_base64": "%%%"});
        assert_eq!(from_structured(&ce).unwrap_err()[0].field, "data_base64");
        let ce = json!({"specversion": 1.0, "id": "1", "type": "t", "source": "s"});
        assert_eq!(from_structured(&ce).unwrap_err()[0].field, "specversion");
        // Any non-empty type is a CloudEvents type.
        let ce = json!({"specversion": "1.0", "id": "1", "type": "Microsoft.Storage.BlobCreated", "source": "s"});
        assert_eq!(from_structured(&ce).unwrap()["eventType"], "Microsoft.Storage.BlobCreated");
    }
}

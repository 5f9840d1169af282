//! The event envelope of the seed (`eventId`, `eventType`, ... `dataContentType`).
//!
//! Decoding is lossless: every struct keeps the fields it does not know in an `extra` map that is
//! flattened back on encoding, so an envelope round-trips byte-for-byte modulo whitespace (key
//! order is preserved: serde_json is built with `preserve_order`).
//!
//! Decoding and validation are separate steps: `match`, `explain` and `test` evaluate any JSON
//! object, while ingestion in `serve` calls [`Envelope::validate`] and sends failures to the DLQ
//! with the field named.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Unknown fields of an object, kept in their original order.
pub type Extra = Map<String, Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<Producer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_content_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Producer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_ids: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Why an envelope was refused. `field` is the JSON path of the offending field
/// (`eventTime`, `producer.service`, or `$` for the document itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EnvelopeError {
    pub field: String,
    pub message: String,
}

impl EnvelopeError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        EnvelopeError { field: field.into(), message: message.into() }
    }
}

impl Envelope {
    /// Decodes a JSON document into an envelope, naming the field on a type error.
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| EnvelopeError::new("$", format!("not valid JSON: {e}")))?;
        Envelope::from_value(value)
    }

    /// Decodes a parsed JSON value. Type errors name the field (serde's own messages do not).
    pub fn from_value(value: Value) -> Result<Envelope, EnvelopeError> {
        check_object(&value)?;
        serde_json::from_value(value).map_err(|e| EnvelopeError::new("$", e.to_string()))
    }

    /// [`Envelope::from_value`] without taking the value: copies only what the envelope holds.
    pub fn from_value_ref(value: &Value) -> Result<Envelope, EnvelopeError> {
        check_object(value)?;
        Envelope::deserialize(value).map_err(|e| EnvelopeError::new("$", e.to_string()))
    }

    /// The fields ingestion reads, borrowed from a parsed event: the same type checks as
    /// [`Envelope::from_value_ref`] (the same errors, naming the field) without copying the
    /// event into an `Envelope` (serde's `flatten` buffers every field, and `data` is cloned
    /// whole). What the pipeline and HTTP ingestion use on every event.
    pub fn view(value: &Value) -> Result<EnvelopeView<'_>, EnvelopeError> {
        check_object(value)?;
        fn str_at(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str)
        }
        Ok(EnvelopeView {
            event_id: str_at(value.get("eventId")),
            event_type: str_at(value.get("eventType")),
            event_time: str_at(value.get("eventTime")),
            producer_service: str_at(value.get("producer").and_then(|p| p.get("service"))),
            subject_id: str_at(value.get("subject").and_then(|s| s.get("id"))),
        })
    }

    pub fn to_value(&self) -> Value {
        // Serializing plain data with string keys cannot fail (proven invariant of serde_json).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Checks the envelope's required fields and formats. Reports every problem, not just the first.
    pub fn validate(&self) -> Result<(), Vec<EnvelopeError>> {
        validate_fields(self.event_id.as_deref(), self.event_type.as_deref(), self.event_time.as_deref())
    }

    /// `eventTime` as a UTC timestamp, when present and valid.
    pub fn event_time_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        event_time_utc(self.event_time.as_deref())
    }
}

/// An event's envelope fields borrowed from its parsed value ([`Envelope::view`]): the ones the
/// gateway needs on every event (validation, the dedup key, the `eventType` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeView<'a> {
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub event_time: Option<&'a str>,
    /// `producer.service` (a CloudEvent's `source`).
    pub producer_service: Option<&'a str>,
    /// `subject.id` (HTTP ingestion's message key).
    pub subject_id: Option<&'a str>,
}

impl EnvelopeView<'_> {
    /// [`Envelope::validate`] of the same event: the same checks, the same errors.
    pub fn validate(&self) -> Result<(), Vec<EnvelopeError>> {
        validate_fields(self.event_id, self.event_type, self.event_time)
    }

    /// `eventTime` as a UTC timestamp, when present and valid.
    pub fn event_time_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        event_time_utc(self.event_time)
    }
}

fn event_time_utc(event_time: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(event_time?).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// The envelope's required fields and formats. Reports every problem, not just the first.
fn validate_fields(event_id: Option<&str>, event_type: Option<&str>, event_time: Option<&str>) -> Result<(), Vec<EnvelopeError>> {
    let mut errors = Vec::new();
    match event_id {
        None => errors.push(EnvelopeError::new("eventId", "is required")),
        Some(id) if id.trim().is_empty() => errors.push(EnvelopeError::new("eventId", "must not be empty")),
        Some(_) => {}
    }
    match event_type {
        None => errors.push(EnvelopeError::new("eventType", "is required")),
        Some(t) if !is_dotted_lower_case(t) => errors.push(EnvelopeError::new(
            "eventType",
            format!("{t:?} is not dotted lower case (like \"member.profile.updated\")"),
        )),
        Some(_) => {}
    }
    match event_time {
        None => errors.push(EnvelopeError::new("eventTime", "is required")),
        Some(t) => {
            if let Err(e) = chrono::DateTime::parse_from_rfc3339(t) {
                errors.push(EnvelopeError::new("eventTime", format!("{t:?} is not an RFC 3339 timestamp ({e})")));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `member.profile.updated`: segments of `[a-z0-9_]`, starting with a letter, joined by single dots.
pub fn is_dotted_lower_case(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|seg| {
            let mut chars = seg.chars();
            matches!(chars.next(), Some('a'..='z'))
                && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        })
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

/// Walks the known fields and names the first one whose JSON type is wrong, so that the error
/// says `producer.service: expected a string, found a number` instead of serde's positionless text.
/// The event is an object and its known fields have their types (errors name the field).
fn check_object(value: &Value) -> Result<(), EnvelopeError> {
    let Value::Object(map) = value else {
        return Err(EnvelopeError::new("$", format!("an event must be a JSON object, found {}", type_name(value))));
    };
    check_shape(map)
}

fn check_shape(map: &Map<String, Value>) -> Result<(), EnvelopeError> {
    fn want_str(map: &Map<String, Value>, prefix: &str, keys: &[&str]) -> Result<(), EnvelopeError> {
        for k in keys {
            match map.get(*k) {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(other) => {
                    return Err(EnvelopeError::new(
                        format!("{prefix}{k}"),
                        format!("expected a string, found {}", type_name(other)),
                    ))
                }
            }
        }
        Ok(())
    }
    fn want_obj<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Map<String, Value>>, EnvelopeError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(EnvelopeError::new(key, format!("expected an object, found {}", type_name(other)))),
        }
    }
    want_str(map, "", &["eventId", "eventType", "eventVersion", "eventTime", "dataVersion", "dataContentType"])?;
    if let Some(p) = want_obj(map, "producer")? {
        want_str(p, "producer.", &["service", "instance", "version"])?;
    }
    if let Some(s) = want_obj(map, "subject")? {
        want_str(s, "subject.", &["type", "id"])?;
        match s.get("alternateIds") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => {
                return Err(EnvelopeError::new(
                    "subject.alternateIds",
                    format!("expected an object, found {}", type_name(other)),
                ))
            }
        }
    }
    if let Some(m) = want_obj(map, "metadata")? {
        want_str(m, "metadata.", &["correlationId", "causationId", "userId", "sessionId", "traceId"])?;
        match m.get("tags") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if let Some((i, bad)) = items.iter().enumerate().find(|(_, v)| !v.is_string()) {
                    return Err(EnvelopeError::new(
                        format!("metadata.tags[{i}]"),
                        format!("expected a string, found {}", type_name(bad)),
                    ));
                }
            }
            Some(other) => {
                return Err(EnvelopeError::new("metadata.tags", format!("expected an array, found {}", type_name(other))))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_event() -> Value {
        json!({
          "eventId": "evt_550e8400-e29b-41d4-a716-446655440000",
          "eventType": "member.profile.updated",
          "eventVersion": "2.0",
          "eventTime": "2024-01-20T15:30:45.123Z",
          "producer": {"service": "member-service", "instance": "member-service-pod-7d8c5b", "version": "3.2.1"},
          "subject": {"type": "member", "id": "mem_12345", "alternateIds": {"legacyId": "L98765", "crmId": "C54321"}},
          "data": {"changes": {"email": "a@b.org"}},
          "metadata": {"correlationId": "corr_abc123", "causationId": "evt_parent123", "userId": "usr_789",
                       "sessionId": "sess_xyz", "traceId": "trace_123", "tags": ["profile", "update", "manual"]},
          "dataVersion": "1.0",
          "dataContentType": "application/json"
        })
    }

    fn errors_of(v: Value) -> Vec<EnvelopeError> {
        Envelope::from_value(v).unwrap().validate().unwrap_err()
    }

    #[test]
    fn seed_envelope_is_valid_and_round_trips() {
        let v = seed_event();
        let env = Envelope::from_value(v.clone()).unwrap();
        env.validate().unwrap();
        assert_eq!(env.to_value(), v);
        assert_eq!(env.subject.as_ref().unwrap().id.as_deref(), Some("mem_12345"));
    }

    #[test]
    fn unknown_fields_round_trip_at_every_level() {
        let mut v = seed_event();
        v["x-top"] = json!({"nested": [1, 2]});
        v["producer"]["region"] = json!("eu-west-1");
        v["subject"]["tenant"] = json!("t1");
        v["metadata"]["organizationId"] = json!("org_1");
        let env = Envelope::from_value(v.clone()).unwrap();
        assert_eq!(env.extra.get("x-top"), Some(&json!({"nested": [1, 2]})));
        let back = serde_json::to_string(&env).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&back).unwrap(), v);
        // key order is kept too
        assert_eq!(back, serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn missing_event_id_is_named() {
        let mut v = seed_event();
        v.as_object_mut().unwrap().remove("eventId");
        assert_eq!(errors_of(v), vec![EnvelopeError::new("eventId", "is required")]);
    }

    #[test]
    fn empty_event_id_is_named() {
        let mut v = seed_event();
        v["eventId"] = json!("  ");
        assert_eq!(errors_of(v)[0].field, "eventId");
    }

    #[test]
    fn missing_event_type_is_named() {
        let mut v = seed_event();
        v.as_object_mut().unwrap().remove("eventType");
        assert_eq!(errors_of(v), vec![EnvelopeError::new("eventType", "is required")]);
    }

    #[test]
    fn event_type_must_be_dotted_lower_case() {
        for bad in ["Member.Profile", "member..updated", ".member", "member.", "member profile", "1member", ""] {
            let mut v = seed_event();
            v["eventType"] = json!(bad);
            let errs = errors_of(v);
            assert_eq!(errs.len(), 1, "{bad}");
            assert_eq!(errs[0].field, "eventType", "{bad}");
        }
        for good in ["member", "member.profile.updated", "payment.subscription_v2.created"] {
            assert!(is_dotted_lower_case(good), "{good}");
        }
    }

    #[test]
    fn missing_event_time_is_named() {
        let mut v = seed_event();
        v.as_object_mut().unwrap().remove("eventTime");
        assert_eq!(errors_of(v), vec![EnvelopeError::new("eventTime", "is required")]);
    }

    #[test]
    fn event_time_must_be_rfc3339() {
        for bad in ["2024-01-20 15:30:45", "2024-01-20T15:30:45", "yesterday", "2024-13-01T00:00:00Z"] {
            let mut v = seed_event();
            v["eventTime"] = json!(bad);
            let errs = errors_of(v);
            assert_eq!(errs[0].field, "eventTime", "{bad}");
            assert!(errs[0].message.contains("RFC 3339"), "{}", errs[0].message);
        }
        let mut v = seed_event();
        v["eventTime"] = json!("2024-01-20T15:30:45+02:00");
        Envelope::from_value(v).unwrap().validate().unwrap();
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let errs = errors_of(json!({"data": {}}));
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["eventId", "eventType", "eventTime"]);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let cases = [
            (json!({"eventId": 5}), "eventId"),
            (json!({"producer": "svc"}), "producer"),
            (json!({"producer": {"service": 1}}), "producer.service"),
            (json!({"subject": {"id": 12}}), "subject.id"),
            (json!({"subject": {"alternateIds": []}}), "subject.alternateIds"),
            (json!({"metadata": {"tags": "vip"}}), "metadata.tags"),
            (json!({"metadata": {"tags": ["a", 3]}}), "metadata.tags[1]"),
        ];
        for (v, field) in cases {
            let err = Envelope::from_value(v).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    /// The borrowed view the pipeline uses decides exactly as the owned envelope: the same
    /// fields, the same type errors, the same validation errors, on valid and broken events.
    #[test]
    fn the_view_agrees_with_the_envelope() {
        let cases = [
            seed_event(),
            json!({"data": {}}),
            json!([1]),
            json!("text"),
            json!({"eventId": null, "eventType": null, "eventTime": null, "producer": null}),
            json!({"eventId": "e", "eventType": "Bad Type", "eventTime": "yesterday", "producer": {"service": "svc"}}),
            json!({"eventId": "  ", "eventType": "a.b", "eventTime": "2024-01-20T15:30:45Z", "producer": {}, "subject": {"id": null}}),
            json!({"eventId": 5}),
            json!({"producer": "svc"}),
            json!({"producer": {"service": 1}}),
            json!({"subject": {"id": 12}}),
            json!({"subject": {"alternateIds": []}}),
            json!({"metadata": {"tags": "vip"}}),
            json!({"metadata": {"tags": ["a", 3]}}),
            json!({"eventVersion": 2}),
        ];
        for v in cases {
            match (Envelope::from_value_ref(&v), Envelope::view(&v)) {
                (Ok(env), Ok(view)) => {
                    assert_eq!(view.event_id, env.event_id.as_deref(), "{v}");
                    assert_eq!(view.event_type, env.event_type.as_deref(), "{v}");
                    assert_eq!(view.event_time, env.event_time.as_deref(), "{v}");
                    assert_eq!(view.producer_service, env.producer.as_ref().and_then(|p| p.service.as_deref()), "{v}");
                    assert_eq!(view.subject_id, env.subject.as_ref().and_then(|s| s.id.as_deref()), "{v}");
                    assert_eq!(view.validate(), env.validate(), "{v}");
                    assert_eq!(view.event_time_utc(), env.event_time_utc(), "{v}");
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{v}"),
                (a, b) => panic!("{v}: the envelope says {a:?}, the view {b:?}"),
            }
        }
    }

    #[test]
    fn non_object_and_invalid_json_are_refused() {
        assert_eq!(Envelope::from_slice(b"[1]").unwrap_err().field, "$");
        let err = Envelope::from_slice(b"{\"eventId\":").unwrap_err();
        assert!(err.message.contains("not valid JSON"), "{err}");
    }
}

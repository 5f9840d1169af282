//! Conversions both backends share between stored columns and the store's types.
use chrono::{DateTime, Utc};

use crate::{Result, StoreError};

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn from_micros(what: &str, v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::Backend(format!("stored {what} {v} is out of range")))
}

pub(crate) fn json_text(v: &serde_json::Value) -> Result<String> {
    serde_json::to_string(v).map_err(backend)
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Backend(format!("stored {what} is not valid JSON: {e}")))
}

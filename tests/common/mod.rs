//! The shared harness of the end-to-end tests: where the real services are.
//!
//! The services are started by `scripts/services up` (which `scripts/test` runs first). A test
//! that needs a service fails, never skips, when the service is unreachable.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

/// The Kafka bootstrap address (`SWITCHBOARD_TEST_KAFKA`, default 127.0.0.1:9092).
pub fn kafka_bootstrap() -> String {
    std::env::var("SWITCHBOARD_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// A name no other test run has used: `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

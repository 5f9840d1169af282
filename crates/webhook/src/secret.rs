//! `Secret`: a string whose value never reaches a log line, an error message or a metric.
//!
//! Header values such as `Authorization: Bearer ${TOKEN}` and signing secrets are resolved from
//! the environment when the rule set loads; from then on they travel inside this newtype, whose
//! `Debug` and `Display` print a fixed placeholder. The only way to read the value is
//! [`Secret::expose`], which is called at the two places that need it: building the HTTP request
//! and computing the HMAC key.

use std::fmt;

/// A secret value. `Debug`/`Display` print `***`; compare or read it only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must never be logged.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call this only where the value leaves the process on purpose (an HTTP
    /// header, the HMAC key), never to format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }
}

//! Standard Webhooks v1 signatures.
//!
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>` where the key is
//! the base64-decoded part after `whsec_`, or the secret's raw bytes when it has no such prefix
//! (the routing language accepts both). The key is decoded once, when the endpoint is built, so
//! a malformed `whsec_` secret is a configuration error and never an attempt-time failure.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ConfigError;
use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC key of an endpoint, decoded from its `sign` secret. Debug never shows the bytes.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Decodes a `sign` secret: `whsec_<base64>` gives the decoded bytes, anything else its raw
    /// UTF-8 bytes.
    pub fn from_secret(secret: &Secret) -> Result<Self, ConfigError> {
        let value = secret.expose();
        let key = match value.strip_prefix("whsec_") {
            Some(encoded) => BASE64.decode(encoded.trim()).map_err(|_| {
                ConfigError::SigningSecret("the part after whsec_ is not valid base64")
            })?,
            None => value.as_bytes().to_vec(),
        };
        if key.is_empty() {
            return Err(ConfigError::SigningSecret("the signing secret is empty"));
        }
        Ok(SigningKey(key))
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        // new_from_slice accepts keys of any length for HMAC; the error arm is unreachable, but we
        // degrade to an empty MAC input rather than panic.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::from("v1,"),
        };
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification's reference test suite.
    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        let key = SigningKey::from_secret(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
            .unwrap();
        let sig = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn raw_secrets_are_used_as_bytes_and_bad_base64_is_a_config_error() {
        let raw = SigningKey::from_secret(&Secret::new("plain-secret")).unwrap();
        assert!(raw.sign("id", 1, b"x").starts_with("v1,"));
        assert!(SigningKey::from_secret(&Secret::new("whsec_!!!")).is_err());
        assert!(SigningKey::from_secret(&Secret::new("")).is_err());
        assert_eq!(format!("{raw:?}"), "SigningKey(***)");
    }
}

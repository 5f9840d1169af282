//! `Endpoint`: one webhook target as the dispatcher runs it.
//!
//! The rule language produces webhook targets; the gateway converts each into an `Endpoint`
//! with a stable `key` (the outbox stores deliveries by key, so a key must survive restarts).
//! Everything is validated here, once: URL scheme, header names and values, signing key. An
//! attempt never fails because of its configuration.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::error::ConfigError;
use crate::secret::Secret;
use crate::sign::SigningKey;

/// HTTP method of a webhook (the routing language allows these three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Post,
    Put,
    Patch,
}

impl Method {
    pub(crate) fn to_http(self) -> http::Method {
        match self {
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Patch => http::Method::PATCH,
        }
    }
}

/// Exponential backoff with full jitter: before retry `n` (1-based) the delay is uniform in
/// `[min, min(max, min * 2^(n-1))]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// The routing language's default: `backoff 1s..10m`.
    fn default() -> Self {
        Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(600),
        }
    }
}

/// Token bucket: `per_second` sustained, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// Circuit breaker: opens after `failure_threshold` consecutive retryable failures, lets one
/// probe through after `cool_down`. A threshold of 0 disables the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    pub failure_threshold: u32,
    pub cool_down: Duration,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            failure_threshold: 10,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The plain description of an endpoint, as the gateway's configuration gives it. Turn it into an
/// [`Endpoint`] with [`Endpoint::new`], which validates it.
#[derive(Clone)]
pub struct EndpointConfig {
    /// Stable name under which deliveries are stored (for example `rule_name#target_index`).
    pub key: String,
    /// The URL. It may carry a secret in its query; only scheme, host and path are ever logged.
    pub url: Secret,
    pub method: Method,
    /// Headers; values may hold secrets (resolved `${VAR}`s) and are never logged.
    pub headers: Vec<(String, Secret)>,
    pub timeout: Duration,
    /// Attempts in total, the first one included (`retry N`).
    pub attempts: u32,
    pub backoff: Backoff,
    /// `sign "SECRET"`: `whsec_<base64>` or a raw secret.
    pub signing_secret: Option<Secret>,
    /// Attempts in flight at once for this endpoint.
    pub concurrency: usize,
    pub rate_limit: Option<RateLimit>,
    pub circuit_breaker: CircuitBreaker,
    /// How the endpoint is named in logs, metric labels and dead-letter records. `None`:
    /// scheme://host[:port]/path of the URL. Set it when the URL's path may hold a secret (a
    /// chat webhook's token): the gateway gives the URL as written, `${VAR}` placeholders kept.
    pub label: Option<String>,
}

impl EndpointConfig {
    /// An endpoint with the routing language's defaults: POST, 10s timeout, 8 attempts,
    /// backoff 1s..10m, no signature, 16 attempts in flight, no rate limit, breaker 10 / 30s.
    pub fn new(key: impl Into<String>, url: impl Into<Secret>) -> Self {
        EndpointConfig {
            key: key.into(),
            url: url.into(),
            method: Method::Post,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            attempts: 8,
            backoff: Backoff::default(),
            signing_secret: None,
            concurrency: 16,
            rate_limit: None,
            circuit_breaker: CircuitBreaker::default(),
            label: None,
        }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("key", &self.key)
            .field("url", &"***")
            .field("method", &self.method)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("signed", &self.signing_secret.is_some())
            .field("concurrency", &self.concurrency)
            .field("rate_limit", &self.rate_limit)
            .field("circuit_breaker", &self.circuit_breaker)
            .finish()
    }
}

/// A validated endpoint, ready to deliver to.
#[derive(Clone)]
pub struct Endpoint {
    pub(crate) key: String,
    /// The URL as requested: without the user info (sent as basic auth instead) and fragment.
    pub(crate) uri: http::Uri,
    pub(crate) label: String,
    pub(crate) method: Method,
    /// Every value marked sensitive, so even `http`'s own Debug output hides it.
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Duration,
    pub(crate) attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) signing_key: Option<SigningKey>,
    pub(crate) concurrency: usize,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) circuit_breaker: CircuitBreaker,
}

impl Endpoint {
    /// Validates a configuration. Errors never quote the URL's query or any header value.
    pub fn new(config: EndpointConfig) -> Result<Self, ConfigError> {
        let mut url = url::Url::parse(config.url.expose())
            .map_err(|e| ConfigError::Url(e.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ConfigError::Scheme(url.scheme().to_owned()));
        }
        if config.key.is_empty() {
            return Err(ConfigError::Invalid("endpoint key must not be empty"));
        }
        if config.attempts == 0 {
            return Err(ConfigError::Invalid(
                "attempts counts the first attempt, so it must be at least 1",
            ));
        }
        if config.backoff.min > config.backoff.max {
            return Err(ConfigError::Invalid("backoff MIN must not exceed MAX"));
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::Invalid("timeout must be positive"));
        }
        if config.concurrency == 0 {
            return Err(ConfigError::Invalid("concurrency must be at least 1"));
        }
        if let Some(limit) = config.rate_limit {
            if limit.per_second.is_nan() || limit.per_second <= 0.0 || limit.burst == 0 {
                return Err(ConfigError::Invalid(
                    "rate limit needs a positive rate and a burst of at least 1",
                ));
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::Header { name: name.clone() })?;
            let mut header_value = HeaderValue::from_str(value.expose())
                .map_err(|_| ConfigError::Header { name: name.clone() })?;
            header_value.set_sensitive(true);
            headers.append(header_name, header_value);
        }
        // Credentials in the URL are sent as basic auth, unless an Authorization header is
        // configured (as reqwest did): `https://user:pass@host/` works as partners document it.
        if !url.username().is_empty() || url.password().is_some() {
            if !headers.contains_key(AUTHORIZATION) {
                let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
                let pair = format!("{}:{}", decode(url.username()), decode(url.password().unwrap_or("")));
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| ConfigError::Url("the URL's credentials are not valid in a header".into()))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            // Neither can fail on an http(s) URL, which has a host.
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        url.set_fragment(None);
        let uri: http::Uri = url
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| ConfigError::Url(e.to_string()))?;
        let signing_key = config
            .signing_secret
            .as_ref()
            .map(SigningKey::from_secret)
            .transpose()?;
        Ok(Endpoint {
            label: config.label.clone().unwrap_or_else(|| endpoint_label(&url)),
            key: config.key,
            uri,
            method: config.method,
            headers,
            timeout: config.timeout,
            attempts: config.attempts,
            backoff: config.backoff,
            signing_key,
            concurrency: config.concurrency,
            rate_limit: config.rate_limit,
            circuit_breaker: config.circuit_breaker,
        })
    }

    /// The key deliveries are stored under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// [`EndpointConfig::label`], or scheme://host[:port]/path of the URL: the only form of the
    /// URL that is logged, used as a metric label or written into a dead-letter record.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("key", &self.key)
            .field("url", &self.label)
            .field("method", &self.method)
            .field(
                "headers",
                &self.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("signed", &self.signing_key.is_some())
            .field("concurrency", &self.concurrency)
            .field("rate_limit", &self.rate_limit)
            .field("circuit_breaker", &self.circuit_breaker)
            .finish()
    }
}

/// scheme://host[:port]/path: no user info, no query, no fragment — those may carry secrets.
fn endpoint_label(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{}:{}{}", url.scheme(), host, port, url.path()),
        None => format!("{}://{}{}", url.scheme(), host, url.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_drops_credentials_query_and_fragment() {
        let mut config =
            EndpointConfig::new("k", "https://user:pw@partner.example:8443/hook?token=abc#x");
        config
            .headers
            .push(("Authorization".into(), Secret::new("Bearer s3cr3t")));
        config.signing_secret = Some(Secret::new("whsec_c2VjcmV0"));
        let endpoint = Endpoint::new(config.clone()).unwrap();
        assert_eq!(endpoint.label(), "https://partner.example:8443/hook");
        for debug in [format!("{endpoint:?}"), format!("{config:?}")] {
            assert!(
                !debug.contains("s3cr3t")
                    && !debug.contains("token=abc")
                    && !debug.contains("c2VjcmV0"),
                "{debug}"
            );
        }
    }

    #[test]
    fn invalid_configurations_are_refused() {
        assert!(Endpoint::new(EndpointConfig::new("k", "ftp://x/")).is_err());
        assert!(Endpoint::new(EndpointConfig::new("k", "not a url")).is_err());
        let mut c = EndpointConfig::new("k", "http://x/");
        c.attempts = 0;
        assert!(Endpoint::new(c).is_err());
        let mut c = EndpointConfig::new("k", "http://x/");
        c.headers.push(("bad header".into(), Secret::new("v")));
        assert!(Endpoint::new(c).is_err());
    }
}

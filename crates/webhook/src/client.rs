//! The HTTP client deliveries go out on: hyper-util's pooled keep-alive client (the connection
//! pool reqwest itself is built on) over rustls with the ring provider and the webpki roots, plus
//! any CA certificates the configuration adds.
//!
//! Why not reqwest, which the design card names: reqwest 0.12 (and 0.13) wraps every request in
//! tower-http's redirect layer even with redirects off, which turns the URI into a string and
//! parses it as a URL twice per request, and adds layers of its own. On the webhook benchmark
//! (`crates/webhook/bench/run.sh`) a bare reqwest client sent 61–89% of the requests per second
//! of a bare client like this one on the same sink, and the dispatcher's own profile had 7% of its
//! time in URL parsing alone. None of what reqwest adds is used here: no redirects (a signed
//! delivery must not be forwarded), no cookies, no proxies, no decompression. What reqwest did for us and this
//! module does too: the `user-agent` and `accept: */*` headers, credentials in the URL sent as
//! basic auth (see `Endpoint::new`), one timeout for the whole exchange, errors without the URL,
//! its TCP keepalive settings. What it does not: `HTTP(S)_PROXY` (logged as ignored at start).
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::time::Instant;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// How a failed exchange is recorded: never with the URL (its query may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// No complete response within the endpoint's timeout.
    Timeout,
    /// Connecting, sending or reading failed: the error and its causes.
    Failed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Timeout => f.write_str("timeout"),
            SendError::Failed(text) => f.write_str(text),
        }
    }
}

/// A response: its status, what the caller decided from its head, and the start of its body.
#[derive(Debug)]
pub(crate) struct Answer<T> {
    pub status: StatusCode,
    pub decision: T,
    /// The first bytes of the body (as many as the decision kept), as lossy UTF-8.
    pub body: String,
}

pub(crate) struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    user_agent: HeaderValue,
}

impl HttpClient {
    /// `extra_roots`: PEM text of CA certificates trusted besides the webpki roots.
    pub fn new(
        user_agent: &str,
        pool_max_idle_per_host: usize,
        extra_roots: &[u8],
    ) -> Result<HttpClient, String> {
        let user_agent = HeaderValue::from_str(user_agent)
            .map_err(|_| "the user agent is not a valid header value".to_owned())?;
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if !extra_roots.is_empty() {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(extra_roots) {
                let cert = cert.map_err(|e| format!("cannot read a CA certificate: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("cannot use a CA certificate: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err("the CA file holds no PEM certificate".to_owned());
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        // reqwest's TCP defaults: keepalive probes keep pooled connections alive through
        // NAT and firewall idle timeouts (and find dead ones before a delivery is written into
        // them), and unacknowledged data fails the connection after 30 s.
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(pool_max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(HttpClient { client, user_agent })
    }

    /// `headers` with what reqwest sent by default, unless they hold their own: `user-agent`
    /// (the configured one) and `accept: */*`. Made once per endpoint, not per request.
    pub fn base_headers(&self, headers: &HeaderMap) -> HeaderMap {
        let mut headers = headers.clone();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        headers
    }

    /// One exchange, all of it (connecting, sending, the response head and reading the body)
    /// within `timeout`; `headers` come from [`HttpClient::base_headers`].
    /// `decide(status, retry_after)` runs on the response head and says how many bytes of the
    /// body to keep; the rest, up to `limit`, is read and dropped so the connection goes back to
    /// the pool.
    #[allow(clippy::too_many_arguments)]
    pub async fn send<T>(
        &self,
        method: Method,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
        decide: impl FnOnce(StatusCode, Option<&str>) -> (T, usize),
        limit: usize,
    ) -> Result<Answer<T>, SendError> {
        let deadline = Instant::now() + timeout;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await
        {
            Err(_) => return Err(SendError::Timeout),
            Ok(Err(error)) => return Err(SendError::Failed(describe(&error))),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        let (decision, keep) = decide(status, retry_after);
        let body = read_bounded(response, keep, limit, deadline).await;
        Ok(Answer {
            status,
            decision,
            body,
        })
    }
}

/// Reads the body until `deadline`: keeps its first `keep` bytes (as lossy UTF-8), drops the rest
/// up to `limit`. A body that fails or runs out of time mid-way keeps what was read.
async fn read_bounded(
    response: Response<Incoming>,
    keep: usize,
    limit: usize,
    deadline: Instant,
) -> String {
    let mut body = response.into_body();
    let mut kept = Vec::new();
    let mut read = 0usize;
    while read < limit {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    read += chunk.len();
                    if kept.len() < keep {
                        let take = (keep - kept.len()).min(chunk.len());
                        kept.extend_from_slice(&chunk[..take]);
                    }
                }
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The error and its causes, as text (hyper's errors never hold the URL).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        assert!(HttpClient::new("ua", 4, b"not a certificate").is_err());
        assert!(HttpClient::new("ua", 4, b"").is_ok());
        assert!(HttpClient::new("bad\nagent", 4, b"").is_err());
    }
}

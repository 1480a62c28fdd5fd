//! One signed API call with retries: build the request, sign the exact bytes sent, read a bounded body,
//! classify the answer into a page or a typed error. Paging across calls is the poller's business.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use super::error::{ApiError, clip, normalized_code};
use super::model::{self, PageRequest};
use super::page::{self, Page, Read};
pub use super::proxy::{Proxy, is_loopback};
use super::sign::{self, SignInput};
use crate::secret::Secret;

/// The `Content-Type` sent and signed.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Largest response body read. A page of 1000 statuses is about 70 kB and one of 1000 full instance records
/// about 2 MB; anything near this bound is not an answer the API gives, and reading on would only cost memory.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Longest wait between attempts. A `Retry-After` longer than this fails the call at once: waiting that long
/// inside one poll would only delay the next one, which starts afresh anyway.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Told about every attempt of every call of one product's service: how the exporter's self-metrics see the API
/// without the client knowing any metric type.
pub trait CallObserver: Send + Sync + 'static {
    /// One attempt of `action` took `elapsed` and failed with `failure`, or succeeded when `None`.
    fn attempted(&self, action: &'static str, elapsed: Duration, failure: Option<&ApiError>);
}

/// How the exporter proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// An access key pair: every request is signed with ZC2-HMAC-SHA256.
    Signature {
        access_key_id: String,
        secret: Secret,
    },
    /// A personal access token sent as `Authorization: Bearer`.
    Bearer { token: Secret },
}

/// The HTTP client (connection pool, TLS configuration and its trust roots) calls go through with `proxy` and
/// `connect_timeout`: one per distinct pair in the process, shared by every [`Client`] that needs it. A thousand
/// accounts would otherwise hold a thousand copies of the platform's root certificates (about 100 kB each) and a
/// thousand idle connections with their buffers; sharing costs no isolation, since HTTP/1.1 connections carry one
/// request at a time and the pool opens another whenever none is idle.
fn shared_http(
    proxy: Option<&Proxy>,
    connect_timeout: Duration,
) -> Result<reqwest::Client, BuildError> {
    type Key = (Option<(String, Option<String>)>, Duration);
    static TRANSPORTS: std::sync::Mutex<Option<std::collections::HashMap<Key, reqwest::Client>>> =
        std::sync::Mutex::new(None);
    let key: Key = (
        proxy.map(|p| (p.url.to_string(), p.no_proxy.clone())),
        connect_timeout,
    );
    let mut transports = TRANSPORTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(http) = transports.get_or_insert_with(Default::default).get(&key) {
        return Ok(http.clone());
    }
    let mut http = reqwest::Client::builder()
        .user_agent(concat!("zenlayer-exporter/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        // Enough for a poll's pages in flight (PAGE_CONCURRENCY is at most 64); connections beyond it, opened
        // when many accounts call at once (up to TOTAL_CONCURRENCY), close when done rather than idle with
        // their buffers.
        .pool_max_idle_per_host(64)
        .redirect(reqwest::redirect::Policy::none())
        // The proxy is the configuration's decision, never the environment's behind its back.
        .no_proxy();
    if let Some(proxy) = proxy {
        let no_proxy = proxy
            .no_proxy
            .as_deref()
            .and_then(reqwest::NoProxy::from_string);
        http = http.proxy(
            reqwest::Proxy::all(proxy.url.as_str())
                .map_err(|e| BuildError::Http(error_chain(&e)))?
                .no_proxy(no_proxy),
        );
    }
    let http = http
        .build()
        .map_err(|e| BuildError::Http(error_chain(&e)))?;
    transports
        .get_or_insert_with(Default::default)
        .insert(key, http.clone());
    Ok(http)
}

/// Nanoseconds attempts have waited for a place in the process's gate, summed ([`gate_waited`]).
static GATE_WAITED_NANOS: AtomicU64 = AtomicU64::new(0);

/// How long attempts have waited for a place in the process's gate of calls in flight, summed over attempts since
/// start: what tells an operator the gate, not an account's budget or the API, holds calls back.
pub fn gate_waited() -> Duration {
    Duration::from_nanos(GATE_WAITED_NANOS.load(Ordering::Relaxed))
}

/// The gate of `total` attempts in flight that every client of the process passes. Without it a thousand accounts
/// starting together open a connection per call (thousands at once, each with its buffers and a handshake on both
/// sides) where a few hundred, reused, carry the same calls sooner. One per size, so tests that build clients with
/// other settings get their own.
fn shared_gate(total: usize) -> Arc<Semaphore> {
    static GATES: std::sync::Mutex<Vec<(usize, Arc<Semaphore>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, gate)) = gates.iter().find(|(size, _)| *size == total) {
        return gate.clone();
    }
    let gate = Arc::new(Semaphore::new(total.max(1)));
    gates.push((total, gate.clone()));
    gate
}

impl Auth {
    /// The secret: the access key's, or the token.
    pub fn secret(&self) -> &Secret {
        match self {
            Auth::Signature { secret, .. } => secret,
            Auth::Bearer { token } => token,
        }
    }
}

/// Where and as whom one account calls the API: the one carrier of an account's identity, from the accounts file
/// (or the environment) to the client, moved whole, never copied field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The API base URL, e.g. `https://console.zenlayer.com`; each product's path is appended.
    pub base_url: Url,
    pub auth: Auth,
    /// The proxy to reach the API through; ignored when the API is on loopback.
    pub proxy: Option<Proxy>,
}

/// How every call is made, the same for every account and product; built by `config` (or a test), checked there.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// Bound on one attempt, from sending until the body is read.
    pub request_timeout: Duration,
    /// Attempts after the first, for retryable failures only.
    pub max_retries: u32,
    /// First backoff; each later one doubles, up to [`MAX_BACKOFF`], with jitter.
    pub backoff_base: Duration,
    /// Attempts in flight across every client of the process, at most (each account's own bound is its
    /// budget's, taken first).
    pub total_concurrency: usize,
}

/// One account's client of the API, shared by every page fetch of every poll of each of its products: one set
/// of credentials, one host, the products told apart by the [`Service`] each call names.
pub struct Client {
    http: reqwest::Client,
    /// The process's gate of [`CallSettings::total_concurrency`] attempts in flight, shared by every client.
    in_flight: Arc<Semaphore>,
    /// The credentials in use: swapped whole when a rotated secret is re-read, never torn mid-request.
    auth: arc_swap::ArcSwap<Auth>,
    base_url: Url,
    proxy: Option<Proxy>,
    host: String,
    settings: CallSettings,
}

/// One product's service as an account's client calls it: its URL, `x-zc-service`, `X-ZC-Version`, and who is
/// told of every attempt (that product's metrics). The signature covers none of these (its canonical URI is
/// always `/`), so every product is signed alike.
pub struct Service {
    url: Url,
    name: HeaderValue,
    version: HeaderValue,
    observer: Box<dyn CallObserver>,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("API URL {0} has no host")]
    NoHost(String),
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

/// The `Host` value the HTTP client sends for `url`: `host` for the scheme's default port, else `host:port`.
/// It is set explicitly on every request so that what is signed is what is sent.
pub fn host_header(url: &Url) -> Option<String> {
    let host = match url.host()? {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        other => other.to_string(),
    };
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// The URL of `service` under a base URL (`/api/v2/<service>`), keeping any path prefix the base has (a
/// proxy's, say).
pub fn service_url(base: &Url, service: &str) -> Url {
    let mut endpoint = base.clone();
    let prefix = base.path().trim_end_matches('/');
    endpoint.set_path(&format!("{prefix}/api/v2/{service}"));
    endpoint.set_query(None);
    endpoint.set_fragment(None);
    endpoint
}

impl Client {
    /// Builds a client of `endpoint`. The credentials are held once, in the slot [`Client::replace_auth`] swaps.
    pub fn new(endpoint: Endpoint, settings: CallSettings) -> Result<Self, BuildError> {
        // reqwest is built without a default crypto provider so the crate builds with ring alone; installing it
        // twice (tests build many clients) is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let Endpoint {
            base_url,
            auth,
            proxy,
        } = endpoint;
        let host =
            host_header(&base_url).ok_or_else(|| BuildError::NoHost(base_url.to_string()))?;
        let used = proxy.as_ref().filter(|_| !is_loopback(&base_url));
        let http = shared_http(used, settings.request_timeout)?;
        Ok(Client {
            auth: arc_swap::ArcSwap::from_pointee(auth),
            http,
            in_flight: shared_gate(settings.total_concurrency),
            base_url,
            proxy,
            host,
            settings,
        })
    }

    /// The service `name` (`vm`, `zec`, ...) at `version`, whose every attempt `observer` is told of. A name or
    /// version that is no header value is refused (configuration checks both first).
    pub fn service(
        &self,
        name: &str,
        version: &str,
        observer: impl CallObserver,
    ) -> Result<Service, BuildError> {
        let header = |what: &str, value: &str| {
            HeaderValue::from_str(value)
                .map_err(|_| BuildError::Http(format!("{what} {value:?} is not a header value")))
        };
        Ok(Service {
            url: service_url(&self.base_url, name),
            name: header("service", name)?,
            version: header("API version", version)?,
            observer: Box::new(observer),
        })
    }

    /// Where and as whom it calls now: as built, with the credentials in use since.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            base_url: self.base_url.clone(),
            auth: Auth::clone(&self.auth.load()),
            proxy: self.proxy.clone(),
        }
    }

    /// Puts new credentials in use (a rotated secret, another key or a token); the next request is signed with
    /// them.
    pub fn replace_auth(&self, auth: Auth) {
        self.auth.store(std::sync::Arc::new(auth));
    }

    /// Puts a new secret in use (a rotated access key secret or token), with the same key id; whether it
    /// differs from the one in use (if not, nothing changes).
    pub fn replace_secret(&self, secret: Secret) -> bool {
        let current = self.auth.load();
        if *current.secret() == secret {
            return false;
        }
        let next = match current.as_ref() {
            Auth::Signature { access_key_id, .. } => Auth::Signature {
                access_key_id: access_key_id.clone(),
                secret,
            },
            Auth::Bearer { .. } => Auth::Bearer { token: secret },
        };
        self.auth.store(std::sync::Arc::new(next));
        true
    }

    /// Calls a describe action of `service`, its answer read by `decode`, retrying throttling, server errors and
    /// network failures with capped, jittered exponential backoff (or the server's `Retry-After`). Each attempt
    /// is signed afresh, since the timestamp is part of the signature, and holds what `gate` gives (a slot of the
    /// account's budget), then one of the process's calls in flight, while it is in flight, never while it waits
    /// to retry: a call backing off or throttled leaves both to other calls meanwhile.
    pub async fn describe_page<T, G, F: Future<Output = G>>(
        &self,
        service: &Service,
        action: &'static str,
        request: &PageRequest,
        decode: &dyn Read<T>,
        gate: impl Fn() -> F,
    ) -> Result<Page<T>, ApiError> {
        let body = Bytes::from(serde_json::to_vec(request).map_err(|e| ApiError::Decode {
            status: 0,
            detail: format!("cannot encode request: {e}"),
            request_id: None,
        })?);
        let mut attempt = 0u32;
        loop {
            let held = gate().await;
            // Taken after the account's slot, so an account waiting on its own budget holds none of the process's.
            // The gate is never closed; were it, the call would go ungated rather than fail.
            let in_flight = match self.in_flight.try_acquire() {
                Ok(place) => Some(place),
                Err(_) => {
                    let waiting = Instant::now();
                    let place = self.in_flight.acquire().await.ok();
                    let waited = u64::try_from(waiting.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    GATE_WAITED_NANOS.fetch_add(waited, Ordering::Relaxed);
                    place
                }
            };
            let started = Instant::now();
            let result = self.attempt(service, action, &body, decode).await;
            drop((in_flight, held));
            service
                .observer
                .attempted(action, started.elapsed(), result.as_ref().err());
            let error = match result {
                Ok(page) => return Ok(page),
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= self.settings.max_retries {
                return Err(error);
            }
            let delay = match error.retry_after() {
                Some(wait) if wait > MAX_BACKOFF => return Err(error),
                Some(wait) => wait,
                None => backoff(self.settings.backoff_base, attempt),
            };
            tracing::debug!(
                action,
                service = service.name.to_str().unwrap_or(""),
                page = request.page_num,
                attempt = attempt + 1,
                kind = error.kind().as_str(),
                status = error.status(),
                request_id = error.request_id(),
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "retrying API call"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt<T>(
        &self,
        service: &Service,
        action: &'static str,
        body: &Bytes,
        decode: &dyn Read<T>,
    ) -> Result<Page<T>, ApiError> {
        let headers = self.headers(service, action, body);
        let request = self
            .http
            .post(service.url.clone())
            .headers(headers)
            .body(body.clone());
        let exchange = async {
            let mut response = request.send().await.map_err(transport)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            if response
                .content_length()
                .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
            {
                return Err(too_large(status));
            }
            let mut bytes = Vec::with_capacity(
                response
                    .content_length()
                    .map_or(8 * 1024, |len| len as usize),
            );
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(too_large(status));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, headers, bytes))
        };
        let (status, headers, bytes) =
            tokio::time::timeout(self.settings.request_timeout, exchange)
                .await
                .map_err(|_| ApiError::Timeout {
                    after: self.settings.request_timeout,
                })??;
        classify_with(status, &headers, &bytes, decode)
    }

    fn headers(&self, service: &Service, action: &'static str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
        headers.insert(HOST, value(&self.host));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
        headers.insert("x-zc-action", HeaderValue::from_static(action));
        headers.insert("x-zc-version", service.version.clone());
        headers.insert("x-zc-service", service.name.clone());
        let auth = self.auth.load();
        let mut authorization = match auth.as_ref() {
            Auth::Signature {
                access_key_id,
                secret,
            } => {
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                headers.insert("x-zc-timestamp", value(&timestamp.to_string()));
                headers.insert(
                    "x-zc-signature-method",
                    HeaderValue::from_static(sign::ALGORITHM),
                );
                let input = SignInput {
                    content_type: CONTENT_TYPE_JSON,
                    host: &self.host,
                    body,
                    timestamp,
                };
                value(&sign::authorization(access_key_id, secret.expose(), &input))
            }
            Auth::Bearer { token } => value(&format!("Bearer {}", token.expose())),
        };
        // Keeps the credential out of any header dump a library might log.
        authorization.set_sensitive(true);
        headers.insert(AUTHORIZATION, authorization);
        headers
    }
}

/// Capped exponential backoff with "equal jitter": half the step is fixed, half random, so retries from
/// concurrent page fetches spread out without ever waiting less than half the step.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let step = base
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF);
    let half = step / 2;
    half + half.mul_f64(fastrand::f64())
}

fn transport(error: reqwest::Error) -> ApiError {
    ApiError::Transport {
        detail: error_chain(&error),
    }
}

fn too_large(status: u16) -> ApiError {
    ApiError::Decode {
        status,
        detail: format!("body larger than {MAX_RESPONSE_BYTES} bytes"),
        request_id: None,
    }
}

/// An error and its causes on one line: reqwest's own message alone ("error sending request") says too little.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Transient server codes that the vendor's Terraform provider retries, whatever HTTP status carries them.
const TRANSIENT_CODES: [&str; 3] = [
    "INTERNAL_SERVER_ERROR",
    "SERVICE_TEMPORARY_UNAVAILABLE",
    "REQUEST_TIMED_OUT",
];

/// Turns a complete answer into a page of `T` or a typed error.
pub fn classify<T: DeserializeOwned>(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Page<T>, ApiError> {
    classify_with(status, headers, body, &|body: &[u8]| {
        page::decode_page::<T>(body)
    })
}

/// Turns a complete answer into a page read by `decode` or a typed error. Branches on the HTTP status and `code`
/// only: the API's `message` wording is not stable.
pub fn classify_with<T>(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    decode: &dyn Read<T>,
) -> Result<Page<T>, ApiError> {
    if status == 200 {
        match decode(body) {
            Ok(page) => return Ok(page),
            Err(decode) => {
                // A 200 carrying an error envelope is an error, not a malformed page.
                if model::decode_error(body).is_none() {
                    return Err(ApiError::Decode {
                        status,
                        detail: decode.detail,
                        request_id: decode.request_id,
                    });
                }
            }
        }
    }
    let (code, message, request_id) = match model::decode_error(body) {
        Some(e) => (e.code, e.message, e.request_id),
        None => (None, Some(describe_foreign_body(headers, body)), None),
    };
    // Compared as the vendor's SDKs compare them: `Auth.Failure.X` is `AUTH_FAILURE_X`.
    let normalized = code.as_deref().map(normalized_code);
    let code_is = |wanted: &str| normalized.as_deref() == Some(wanted);
    // A security policy first, so no throttling code or server status in the same answer gets it retried: neither
    // waiting nor retrying gets past a policy.
    let challenged = headers
        .get("cf-mitigated")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"challenge"));
    if status == 451 || code_is("REQUEST_BLOCKED") || (status == 403 && challenged) {
        return Err(ApiError::Blocked {
            status,
            code,
            message,
            request_id,
        });
    }
    if status == 429 || code_is("REQUEST_LIMIT_EXCEEDED") {
        return Err(ApiError::Throttled {
            status,
            code,
            message,
            request_id,
            retry_after: headers.get(RETRY_AFTER).and_then(parse_retry_after),
        });
    }
    if status >= 500 || TRANSIENT_CODES.iter().any(|c| code_is(c)) {
        return Err(ApiError::Server {
            status,
            code,
            message,
            request_id,
        });
    }
    let auth_code = normalized
        .as_deref()
        .is_some_and(|c| c.starts_with("AUTHFAILURE") || c.starts_with("AUTH_FAILURE"));
    // An error envelope in a 200 counts as its code says, as throttling and blocking do.
    let refused = status == 200 || (400..500).contains(&status);
    if status == 401 || status == 403 || (refused && auth_code) {
        return Err(ApiError::Auth {
            status,
            code,
            message,
            request_id,
        });
    }
    Err(ApiError::Client {
        status,
        code,
        message,
        request_id,
    })
}

/// A short description of a body that is not the API's JSON: a CDN challenge, a proxy's HTML page, nothing.
fn describe_foreign_body(headers: &HeaderMap, body: &[u8]) -> String {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let mut out = format!(
        "not an API error envelope ({} bytes, content-type {})",
        body.len(),
        clip(content_type)
    );
    if let Some(challenge) = headers.get("cf-mitigated").and_then(|v| v.to_str().ok()) {
        out.push_str(", CDN cf-mitigated: ");
        out.push_str(&clip(challenge));
    }
    out
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenlayer::model::InstanceStatus;

    fn err(status: u16, headers: &[(&str, &str)], body: &str) -> ApiError {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        classify::<InstanceStatus>(status, &map, body.as_bytes()).unwrap_err()
    }

    #[test]
    fn classifies_by_status_and_code() {
        let e = err(
            429,
            &[("retry-after", "3")],
            r#"{"requestId":"T9","code":"REQUEST_LIMIT_EXCEEDED","message":"m"}"#,
        );
        assert_eq!(e.kind().as_str(), "throttled");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.request_id(), Some("T9"));
        assert_eq!(
            err(400, &[], r#"{"code":"REQUEST_LIMIT_EXCEEDED"}"#)
                .kind()
                .as_str(),
            "throttled"
        );
        assert_eq!(
            err(500, &[], r#"{"code":"INTERNAL_SERVER_ERROR"}"#)
                .kind()
                .as_str(),
            "server_error"
        );
        assert_eq!(
            err(400, &[], r#"{"code":"REQUEST_TIMED_OUT"}"#)
                .kind()
                .as_str(),
            "server_error"
        );
        assert_eq!(
            err(502, &[], "<html>bad gateway</html>").kind().as_str(),
            "server_error"
        );
        assert_eq!(
            err(401, &[], r#"{"code":"AUTH_FAILED"}"#).kind().as_str(),
            "auth"
        );
        assert_eq!(
            err(404, &[], r#"{"code":"INVALID_INSTANCE_NOT_FOUND"}"#)
                .kind()
                .as_str(),
            "client_error"
        );
        assert_eq!(
            err(200, &[], r#"{"code":"INVALID_PARAMETER"}"#)
                .kind()
                .as_str(),
            "client_error"
        );
        assert_eq!(err(200, &[], "{not json").kind().as_str(), "decode");
    }

    #[test]
    fn codes_are_compared_as_the_sdks_do() {
        // Any 4xx with an AUTHFAILURE code is the credentials, whatever its status.
        for code in [
            "AUTHFAILURE_SIGNATURE_FAILURE",
            "AuthFailure.SecretId.NotFound",
            "authfailure",
        ] {
            let body = format!(r#"{{"code":"{code}"}}"#);
            assert_eq!(err(400, &[], &body).kind().as_str(), "auth", "{code}");
        }
        // The bare-metal API's dotted spelling is the same code.
        assert_eq!(
            err(400, &[], r#"{"code":"Request.Limit.Exceeded"}"#)
                .kind()
                .as_str(),
            "throttled"
        );
        for code in [
            "INVALID_INSTANCE_NOT_FOUND",
            "Invalid.Instance.Not.Found",
            "OPERATION_FAILED_RESOURCE_NOT_FOUND",
        ] {
            let body = format!(r#"{{"code":"{code}"}}"#);
            assert!(err(404, &[], &body).is_not_found(), "{code}");
        }
        assert!(!err(400, &[], r#"{"code":"INVALID_PARAMETER"}"#).is_not_found());
        assert!(!err(500, &[], r#"{"code":"INVALID_INSTANCE_NOT_FOUND"}"#).is_not_found());
    }

    #[test]
    fn a_security_policy_is_blocked_not_auth() {
        assert_eq!(err(451, &[], "").kind().as_str(), "blocked");
        assert_eq!(
            err(403, &[], r#"{"code":"REQUEST_BLOCKED"}"#)
                .kind()
                .as_str(),
            "blocked"
        );
        // A 403 without the challenge is the credentials' permissions.
        assert_eq!(
            err(
                403,
                &[("content-type", "text/html")],
                "<html>Forbidden</html>"
            )
            .kind()
            .as_str(),
            "auth"
        );
        assert!(
            !err(451, &[], "").is_retryable(),
            "a policy does not change in a second"
        );
    }

    #[test]
    fn cdn_challenge_is_blocked_and_says_so() {
        let e = err(
            403,
            &[("content-type", "text/html"), ("cf-mitigated", "challenge")],
            "<html>Just a moment...</html>",
        );
        assert_eq!(e.kind().as_str(), "blocked");
        let text = e.to_string();
        assert!(text.contains("cf-mitigated: challenge"), "{text}");
        assert!(text.contains("text/html"), "{text}");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("7")),
            Some(Duration::from_secs(7))
        );
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        for attempt in 0..40 {
            let step = (base * 2u32.pow(attempt.min(16))).min(MAX_BACKOFF);
            let d = backoff(base, attempt);
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn host_header_matches_what_is_sent() {
        let h = |u: &str| host_header(&Url::parse(u).unwrap()).unwrap();
        assert_eq!(h("https://console.zenlayer.com"), "console.zenlayer.com");
        assert_eq!(
            h("https://console.zenlayer.com:443/x"),
            "console.zenlayer.com"
        );
        assert_eq!(h("http://127.0.0.1:18089"), "127.0.0.1:18089");
        assert_eq!(h("http://[::1]:8080"), "[::1]:8080");
    }

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let e = |u: &str| service_url(&Url::parse(u).unwrap(), "vm").to_string();
        assert_eq!(
            e("https://console.zenlayer.com"),
            "https://console.zenlayer.com/api/v2/vm"
        );
        assert_eq!(
            e("http://proxy:8080/zen/"),
            "http://proxy:8080/zen/api/v2/vm"
        );
    }
}

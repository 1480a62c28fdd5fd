//! One signed API call with retries: build the request, sign the exact bytes sent, read a bounded body, have
//! `answer` classify it into a page or a typed error. What every client of the process shares (the HTTP
//! transports, the gate of calls in flight) is `transport`'s; paging across calls is the poller's business.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Semaphore;
use url::Url;

use super::answer::classify_with;
use super::error::ApiError;
use super::model::PageRequest;
use super::page::{Page, Read};
pub use super::proxy::{Proxy, is_loopback};
use super::sign::{self, SignInput};
use super::transport::{self, error_chain};
use crate::secret::Secret;

/// The `Content-Type` sent and signed.
pub const CONTENT_TYPE_JSON: &str = "application/json";

// The API's own headers, named once: a name given as a string is parsed and copied on every insert, and a thousand
// accounts make some three thousand calls every poll interval.
const X_ZC_ACTION: HeaderName = HeaderName::from_static("x-zc-action");
const X_ZC_VERSION: HeaderName = HeaderName::from_static("x-zc-version");
const X_ZC_SERVICE: HeaderName = HeaderName::from_static("x-zc-service");
const X_ZC_TIMESTAMP: HeaderName = HeaderName::from_static("x-zc-timestamp");
const X_ZC_SIGNATURE_METHOD: HeaderName = HeaderName::from_static("x-zc-signature-method");

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
    /// `host` as the header sent with every call, checked once.
    host_value: HeaderValue,
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
        let host_value = HeaderValue::from_str(&host)
            .map_err(|_| BuildError::Http(format!("host {host:?} is not a header value")))?;
        let used = proxy.as_ref().filter(|_| !is_loopback(&base_url));
        let http =
            transport::shared_http(used, settings.request_timeout).map_err(BuildError::Http)?;
        Ok(Client {
            auth: arc_swap::ArcSwap::from_pointee(auth),
            http,
            in_flight: transport::shared_gate(settings.total_concurrency),
            base_url,
            proxy,
            host,
            host_value,
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
            let in_flight = transport::enter(&self.in_flight).await;
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
            let mut response = request.send().await.map_err(transport_failure)?;
            let status = response.status().as_u16();
            // Taken, not cloned: the response is read to its end from here on, never by its headers again.
            let headers = std::mem::take(response.headers_mut());
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
            while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
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
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(HOST, self.host_value.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
        headers.insert(X_ZC_ACTION, HeaderValue::from_static(action));
        headers.insert(X_ZC_VERSION, service.version.clone());
        headers.insert(X_ZC_SERVICE, service.name.clone());
        let auth = self.auth.load();
        let authorization = match auth.as_ref() {
            Auth::Signature {
                access_key_id,
                secret,
            } => {
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                headers.insert(X_ZC_TIMESTAMP, HeaderValue::from(timestamp));
                headers.insert(
                    X_ZC_SIGNATURE_METHOD,
                    HeaderValue::from_static(sign::ALGORITHM),
                );
                let input = SignInput {
                    content_type: CONTENT_TYPE_JSON,
                    host: &self.host,
                    body,
                    timestamp,
                };
                sign::authorization(access_key_id, secret.expose(), &input)
            }
            Auth::Bearer { token } => format!("Bearer {}", token.expose()),
        };
        // Taken as it is, not copied; a credential that is no header value is sent empty and refused by the API.
        let mut authorization = HeaderValue::from_maybe_shared(Bytes::from(authorization))
            .unwrap_or(HeaderValue::from_static(""));
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

fn transport_failure(error: reqwest::Error) -> ApiError {
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

#[cfg(test)]
mod tests {
    use super::*;

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

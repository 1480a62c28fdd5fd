//! The HTTP side: hyper 1 server, routes (`/metrics`, `/`, `/healthz`, `/readyz`), TLS and basic authentication
//! as the web configuration asks, header-read timeout, connection cap and graceful shutdown. It serves what the
//! store holds; it never calls the API.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::Encoder as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::exposition::render::{self, Rendered};
use crate::http::stall::StallGuard;
use crate::http::web::{self, WebConfig};
use crate::status::poll::PollReport;
use crate::status::snapshot::Store;
use crate::telemetry::{Metrics, REVISION, VERSION};

/// Largest request head read (hyper's buffer); a larger one is answered 431.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Server limits, each with the reason for its default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A client must send its request headers within this; a slow or idle one is dropped rather than holding
    /// a connection slot (Prometheus sends its headers at once).
    pub header_read_timeout: Duration,
    /// Connections served at once; further ones wait in the kernel's backlog. A handful of Prometheus servers
    /// and people need a few dozen at most, so this only bounds a misbehaving client's cost.
    pub max_connections: usize,
    /// How long in-flight scrapes may take to finish after a shutdown signal (Kubernetes allows 30 s).
    pub shutdown_grace: Duration,
    /// A response write that makes no progress for this long closes the connection: a client that asks and
    /// never reads must not keep its slot. Any progress restarts the clock, so slow links are fine.
    pub write_stall_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(10),
            write_stall_timeout: Duration::from_secs(30),
        }
    }
}

/// What the routes read: the latest rendered snapshot, the latest poll report and the self-metrics.
pub struct AppState {
    pub rendered: Arc<Store<Rendered>>,
    pub reports: Arc<Store<PollReport>>,
    pub metrics: Metrics,
    pub poll_interval: Duration,
    /// Between metadata polls; `None` when they are off.
    pub metadata_interval: Option<Duration>,
    /// TLS, users and headers; swapped whole when the web configuration file changes. TLS settings apply to
    /// connections accepted after a swap, users and headers to every request after it.
    pub web: Arc<ArcSwap<WebConfig>>,
}

/// Serves until `shutdown` completes, then stops accepting and lets in-flight requests finish within the
/// grace period.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // Request heads beyond 64 KiB are refused (431): a scrape's head is a few hundred bytes.
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let guarded = StallGuard::new(stream, config.write_stall_timeout);
        let (tls, allowed_sans) = {
            let web = state.web.load();
            (web.tls.clone(), web.client_allowed_sans.clone())
        };
        let state = state.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = config.header_read_timeout;
        tokio::spawn(async move {
            match tls {
                None => serve_connection(guarded, peer, state, None, &http, watcher).await,
                Some(tls) => {
                    // Bounded like the request head: a client that opens a socket and never finishes its
                    // handshake must not keep a slot.
                    let accept = tokio_rustls::TlsAcceptor::from(tls.clone()).accept(guarded);
                    let accepted = match tokio::time::timeout(handshake_timeout, accept).await {
                        Ok(Ok(stream)) => match &allowed_sans {
                            Some(allowed)
                                if !stream.get_ref().1.peer_certificates().is_some_and(
                                    |chain| {
                                        chain.first().is_some_and(|leaf| {
                                            web::client_san_allowed(leaf, allowed)
                                        })
                                    },
                                ) =>
                            {
                                Err("the client certificate names none of client_allowed_sans"
                                    .into())
                            }
                            _ => Ok(stream),
                        },
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err(format!(
                            "not finished within {} s",
                            handshake_timeout.as_secs_f64()
                        )),
                    };
                    match accepted {
                        Ok(stream) => {
                            serve_connection(stream, peer, state, Some(tls), &http, watcher).await
                        }
                        Err(reason) => {
                            reject(&state, "tls_handshake");
                            tracing::debug!(%peer, %reason, "TLS handshake failed");
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections closed"),
        _ = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!(grace_s = config.shutdown_grace.as_secs_f64(), "connections still open after the grace period; closing them");
        }
    }
}

async fn serve_connection<I>(
    io: I,
    peer: std::net::SocketAddr,
    state: Arc<AppState>,
    tls: Option<Arc<rustls::ServerConfig>>,
    http: &hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let state = state.clone();
        let tls = tls.clone();
        async move { Ok::<_, Infallible>(handle(req, &state, tls.as_ref()).await) }
    });
    if let Err(e) = watcher
        .watch(http.serve_connection(TokioIo::new(io), service))
        .await
    {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Authenticates (when the web configuration has users), routes, and adds the configured headers. `tls` is the
/// TLS configuration the connection was accepted with.
async fn handle<B>(
    req: Request<B>,
    state: &AppState,
    tls: Option<&Arc<rustls::ServerConfig>>,
) -> Response<ChunkBody> {
    let web = state.web.load_full();
    let mut response = match &web.users {
        Some(users) => {
            let users = Arc::clone(users);
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            let head = req.method() == Method::HEAD;
            match users.check(given).await {
                web::Login::Allowed => route(&req, state),
                web::Login::Denied => {
                    reject(state, "unauthorized");
                    let mut denied = plain(StatusCode::UNAUTHORIZED, "unauthorized\n", head);
                    denied.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(
                            "Basic realm=\"zenlayer-exporter\", charset=\"UTF-8\"",
                        ),
                    );
                    denied
                }
                web::Login::Busy => {
                    // Answered at once: queueing would only let a flood delay every new login further.
                    reject(state, "auth_busy");
                    let mut busy = plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many password checks in progress; retry\n",
                        head,
                    );
                    busy.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    busy
                }
            }
        }
        None => route(&req, state),
    };
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    let same_tls = match (tls, &web.tls) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    };
    if !same_tls {
        // The TLS settings changed since this connection's handshake (a renewed certificate, a client CA no
        // longer trusted): close it after this answer, so a kept-alive scraper reconnects under the new ones.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn reject(state: &AppState, reason: &str) {
    state
        .metrics
        .http_rejected
        .with_label_values(&[reason])
        .inc();
}

/// Dispatches one request. Synchronous: every answer is ready in memory.
pub fn route<B>(req: &Request<B>, state: &AppState) -> Response<ChunkBody> {
    let path = req.uri().path();
    let head = req.method() == Method::HEAD;
    if !matches!(path, "/metrics" | "/" | "/healthz" | "/readyz") {
        return plain(StatusCode::NOT_FOUND, "not found: try /metrics\n", head);
    }
    if req.method() != Method::GET && !head {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD\n",
            false,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/metrics" => metrics(req.headers(), state, head),
        "/healthz" => plain(StatusCode::OK, "ok\n", head),
        "/readyz" => {
            if state.rendered.load().is_some() {
                plain(StatusCode::OK, "ready\n", head)
            } else {
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: no successful poll yet\n",
                    head,
                )
            }
        }
        _ => index(state, head),
    }
}

fn metrics(headers: &HeaderMap, state: &AppState, head: bool) -> Response<ChunkBody> {
    let mut tail = Vec::with_capacity(8 * 1024);
    if let Err(e) =
        prometheus::TextEncoder::new().encode(&state.metrics.registry.gather(), &mut tail)
    {
        tracing::error!(error = %e, "encoding the self-metrics failed");
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode metrics\n",
            head,
        );
    }
    let rendered = state.rendered.load();
    let body = render::assemble(rendered.as_deref(), tail, accepts_gzip(headers));
    let (length, gzip) = (body.len(), body.gzip);
    let mut response = Response::new(ChunkBody::new(if head { Vec::new() } else { body.chunks }));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(render::CONTENT_TYPE),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` admits gzip (present, and not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

fn index(state: &AppState, head: bool) -> Response<ChunkBody> {
    let now = SystemTime::now();
    let age = |t: SystemTime| now.duration_since(t).map_or(0, |d| d.as_secs());
    let snapshot = match state.rendered.load() {
        Some(r) => format!(
            "{} instances, from a poll {} s ago",
            r.instances,
            age(r.taken_at)
        ),
        None => "none yet".to_owned(),
    };
    let metadata = match (
        state.metadata_interval,
        state.rendered.load().and_then(|r| r.named),
    ) {
        (None, _) => "off (ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0)".to_owned(),
        (Some(_), Some((named, taken_at))) => format!(
            "{named} instances named, from a metadata poll {} s ago",
            age(taken_at)
        ),
        (Some(every), None) => format!("none yet (polled every {} s)", every.as_secs_f64()),
    };
    let last = match state.reports.load() {
        None => "no poll has finished yet".to_owned(),
        Some(report) => match &report.error {
            None => format!(
                "succeeded {} s ago in {:.2} s",
                age(report.finished_at),
                report.duration.as_secs_f64()
            ),
            Some(error) => format!(
                "FAILED {} s ago: {}",
                age(report.finished_at),
                html_escape(error)
            ),
        },
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Zenlayer exporter</title></head><body>\n\
         <h1>Zenlayer exporter</h1>\n<p>Version {VERSION} (revision {REVISION}); polling every {} s.</p>\n\
         <p>Last poll: {last}.</p>\n<p>Snapshot served: {snapshot}.</p>\n<p>Metadata: {metadata}.</p>\n\
         <ul><li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/healthz\">/healthz</a></li>\
         <li><a href=\"/readyz\">/readyz</a></li></ul>\n</body></html>\n",
        state.poll_interval.as_secs_f64()
    );
    let mut response = plain(StatusCode::OK, "", head);
    let len = page.len();
    if !head {
        *response.body_mut() = ChunkBody::new(vec![Bytes::from(page)]);
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn plain(status: StatusCode, text: &'static str, head: bool) -> Response<ChunkBody> {
    let chunks = if head {
        Vec::new()
    } else {
        vec![Bytes::from_static(text.as_bytes())]
    };
    let mut response = Response::new(ChunkBody::new(chunks));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    response
}

/// A body made of ready chunks, sent one after the other: the shared rendered bytes go out without a copy.
pub struct ChunkBody {
    chunks: VecDeque<Bytes>,
}

impl ChunkBody {
    pub fn new(chunks: Vec<Bytes>) -> Self {
        ChunkBody {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
        }
    }
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.chunks.pop_front().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ae(value: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        accepts_gzip(&h)
    }

    #[test]
    fn gzip_negotiation() {
        assert!(ae("gzip"));
        assert!(ae("deflate, GZIP;q=0.5"));
        assert!(ae("*"));
        assert!(!ae("gzip;q=0"));
        assert!(!ae("identity"));
        assert!(!ae("gzipx"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}

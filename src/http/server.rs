//! The server: the accept loop (graceful shutdown, the connection cap of `slots`) and each connection (TLS and
//! basic authentication as the web configuration asks, header-read timeout, the configured headers) handing
//! requests to `routes`. It serves what the store holds; it never calls the API.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::AppState;
use super::routes::{ChunkBody, busy, plain, route};
use crate::http::slots::{Slot, Slots};
use crate::http::stall::StallGuard;
use crate::telemetry::Rejected;
use crate::web;

/// Largest request head read (hyper's buffer); a larger one is answered 431.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Server limits, each with the reason for its default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A client must send its request headers within this; a slow or idle one is dropped rather than holding
    /// a connection slot (Prometheus sends its headers at once).
    pub header_read_timeout: Duration,
    /// Connections served at once (`slots::connections_for` sizes it from the descriptor limit). At the cap, the
    /// oldest connection that has not sent a request is closed for each new one; when every connection has, new
    /// ones wait in the kernel's backlog. A handful of Prometheus servers and people need a few dozen at most,
    /// so this only bounds a misbehaving client's cost.
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
    let slots = Slots::new(config.max_connections);
    tokio::pin!(shutdown);
    loop {
        // Accepted before a slot is free: at the cap, the newcomer is what makes an idle connection give way.
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
        let (slot, shed) = tokio::select! {
            _ = &mut shutdown => break,
            admitted = slots.admit() => admitted,
        };
        if shed {
            state.metrics.reject(Rejected::Shed);
        }
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            peer,
            state: state.clone(),
            http: http.clone(),
            watcher: graceful.watcher(),
            handshake_timeout: config.header_read_timeout,
            slot: Arc::new(slot),
        };
        let stall = config.write_stall_timeout;
        tokio::spawn(async move {
            let slot = connection.slot.clone();
            tokio::select! {
                _ = connection.serve(stream, stall) => {}
                _ = slot.shed() => tracing::debug!(%peer, "closed without a request, to make room at the connection cap"),
            }
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

/// One accepted connection: the TLS handshake when the web configuration asks for it, then HTTP until the
/// client or a shutdown closes it (mini-redis' `Handler`, beside the accept loop's `Listener`).
struct Connection {
    peer: std::net::SocketAddr,
    state: Arc<AppState>,
    http: hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    /// Bound on the handshake, like the request head's: a client that opens a socket and never finishes its
    /// handshake must not keep a slot.
    handshake_timeout: Duration,
    slot: Arc<Slot>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, write_stall_timeout: Duration) {
        // Nothing is set up for a connection until its client sends something: ten thousand idle sockets then
        // cost a task each, not a TLS session or hyper's buffers each. One that stays silent for as long as a
        // request head may take is closed, as hyper would. A peek, not a readiness wait: readiness can be
        // reported before any byte has arrived.
        match tokio::time::timeout(self.handshake_timeout, stream.peek(&mut [0u8; 1])).await {
            Ok(Ok(1..)) => {}
            _ => return,
        }
        // Boxed, so the task of a connection still waiting holds only this much: the handshake's and hyper's
        // state machines are several kilobytes, ten thousand idle sockets' worth of them over a hundred megabytes.
        Box::pin(self.serve_ready(stream, write_stall_timeout)).await;
    }

    async fn serve_ready(self, stream: TcpStream, write_stall_timeout: Duration) {
        let io = StallGuard::new(stream, write_stall_timeout);
        let (tls, allowed_sans) = {
            let web = self.state.web.load();
            (web.tls.clone(), web.client_allowed_sans.clone())
        };
        let Some(tls) = tls else {
            return self.http(io, None).await;
        };
        match self.handshake(io, &tls, allowed_sans.as_deref()).await {
            Ok(stream) => self.http(stream, Some(tls)).await,
            Err(reason) => {
                self.state.metrics.reject(Rejected::TlsHandshake);
                tracing::debug!(peer = %self.peer, %reason, "TLS handshake failed");
            }
        }
    }

    /// The handshake within its bound, and the client certificate's names against `allowed_sans` when set.
    async fn handshake(
        &self,
        io: StallGuard<TcpStream>,
        tls: &Arc<rustls::ServerConfig>,
        allowed_sans: Option<&[String]>,
    ) -> Result<tokio_rustls::server::TlsStream<StallGuard<TcpStream>>, String> {
        let accept = tokio_rustls::TlsAcceptor::from(tls.clone()).accept(io);
        let stream = match tokio::time::timeout(self.handshake_timeout, accept).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {
                return Err(format!(
                    "not finished within {} s",
                    self.handshake_timeout.as_secs_f64()
                ));
            }
        };
        if let Some(allowed) = allowed_sans {
            let leaf = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first());
            if !leaf.is_some_and(|leaf| web::client_san_allowed(leaf, allowed)) {
                return Err("the client certificate names none of client_allowed_sans".into());
            }
        }
        Ok(stream)
    }

    /// HTTP/1.1 on the connection; `tls` is the TLS configuration it was accepted with.
    async fn http<I>(self, io: I, tls: Option<Arc<rustls::ServerConfig>>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = self.state;
        let slot = self.slot;
        let service = service_fn(move |req| {
            slot.served();
            let state = state.clone();
            let tls = tls.clone();
            async move { Ok::<_, Infallible>(handle(req, &state, tls.as_ref()).await) }
        });
        if let Err(e) = self
            .watcher
            .watch(self.http.serve_connection(TokioIo::new(io), service))
            .await
        {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
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
                web::Login::Allowed => route(&req, state).await,
                web::Login::Denied => {
                    state.metrics.reject(Rejected::Unauthorized);
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
                    state.metrics.reject(Rejected::AuthBusy);
                    busy("too many password checks in progress; retry\n", "1", head)
                }
            }
        }
        None => route(&req, state).await,
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

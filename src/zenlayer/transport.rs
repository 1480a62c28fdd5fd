//! What every [`Client`](super::Client) of the process shares, which costs an account no isolation: the HTTP
//! transports (connection pools, TLS roots), one per proxy and connect timeout, and the gate of calls in flight,
//! with how long calls have waited for it. A client's own work (signing, retries, reading an answer) is
//! `client`'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::proxy::Proxy;

/// The HTTP client (connection pool, TLS configuration and its trust roots) calls go through with `proxy` and
/// `connect_timeout`: one per distinct pair in the process, shared by every [`Client`](super::Client) that needs
/// it. A thousand accounts would otherwise hold a thousand copies of the platform's root certificates (about 100 kB
/// each) and a thousand idle connections with their buffers; sharing costs no isolation, since HTTP/1.1
/// connections carry one request at a time and the pool opens another whenever none is idle. Public for the fleet
/// benchmark, which measures a call through it.
pub fn shared_http(
    proxy: Option<&Proxy>,
    connect_timeout: Duration,
) -> Result<reqwest::Client, String> {
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
                .map_err(|e| error_chain(&e))?
                .no_proxy(no_proxy),
        );
    }
    let http = http.build().map_err(|e| error_chain(&e))?;
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
pub(super) fn shared_gate(total: usize) -> Arc<Semaphore> {
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

/// A place in `gate` for one attempt, the wait for it counted in [`gate_waited`]. The gate is never closed; were
/// it, the attempt would go ungated rather than fail.
pub(super) async fn enter(gate: &Semaphore) -> Option<SemaphorePermit<'_>> {
    match gate.try_acquire() {
        Ok(place) => Some(place),
        Err(_) => {
            let waiting = Instant::now();
            let place = gate.acquire().await.ok();
            let waited = u64::try_from(waiting.elapsed().as_nanos()).unwrap_or(u64::MAX);
            GATE_WAITED_NANOS.fetch_add(waited, Ordering::Relaxed);
            place
        }
    }
}

/// An error and its causes on one line: reqwest's own message alone ("error sending request") says too little.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

//! A simulator of the Zenlayer VM API on a real loopback HTTP server, for `--demo`, tests and benchmarks.
//! `fleet` holds the instances and pages them; `api` answers one request; this file runs the server and offers
//! the handle tests use to change the fleet and inject faults.

pub mod api;
pub mod fleet;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use url::Url;

pub use api::{Fault, FleetChange, SimCredentials, SimState};
pub use fleet::{Fleet, SimInstance};

use crate::secret::Secret;
use crate::zenlayer::Auth;

/// Largest request body the simulator reads; real requests are a few hundred bytes.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How a simulator starts.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub addr: SocketAddr,
    pub instances: usize,
    pub seed: u64,
    pub credentials: SimCredentials,
    /// Added before every answer.
    pub latency: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            instances: 0,
            seed: 1,
            credentials: SimCredentials {
                access_key_id: "SIMAKID0000000000001".into(),
                access_key_secret: "sim-secret-0000000000000001".into(),
                token: Some("sim-token-0000000000000001".into()),
            },
            latency: Duration::ZERO,
        }
    }
}

struct Shared {
    state: Mutex<SimState>,
    /// Requests received, counted on arrival (before any latency), so a test can see a call in flight.
    received: AtomicU64,
    in_flight: AtomicU64,
    /// The most requests ever being answered at once.
    max_in_flight: AtomicU64,
    latency: Mutex<Duration>,
}

/// A running simulator. Dropping it stops the server and closes its connections.
pub struct Simulator {
    addr: SocketAddr,
    url: Url,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Simulator {
    /// Binds and starts serving in the background.
    pub async fn start(options: SimOptions) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let url = Url::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState {
                fleet: Fleet::generate(options.instances, options.seed),
                credentials: options.credentials,
                faults: Default::default(),
                flat_envelope: false,
                max_skew: Duration::from_secs(300),
                calls: 0,
                pages_served: Vec::new(),
                scheduled_changes: Vec::new(),
                faults_on_call: Default::default(),
                fleet_total_override: None,
            }),
            latency: Mutex::new(options.latency),
            received: Default::default(),
            in_flight: Default::default(),
            max_in_flight: Default::default(),
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(Simulator {
            addr,
            url,
            shared,
            stop: Some(stop),
        })
    }

    /// The fleet `--demo` shows: a few dozen instances, some stopped, some in transition.
    pub async fn start_demo() -> std::io::Result<Simulator> {
        Simulator::start(SimOptions {
            instances: 36,
            seed: 2026,
            ..SimOptions::default()
        })
        .await
    }

    /// The base URL to point a client at.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Signing credentials the simulator accepts.
    pub fn auth(&self) -> Auth {
        let state = self.state();
        Auth::Signature {
            access_key_id: state.credentials.access_key_id.clone(),
            secret: Secret::new(state.credentials.access_key_secret.clone()),
        }
    }

    /// The bearer token the simulator accepts, if any.
    pub fn bearer_auth(&self) -> Option<Auth> {
        self.state()
            .credentials
            .token
            .clone()
            .map(|t| Auth::Bearer {
                token: Secret::new(t),
            })
    }

    /// Locks the state for inspection or change.
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock can only come from a bug in a test; the state is still usable.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Instances in the fleet now.
    pub fn fleet_len(&self) -> usize {
        self.state().fleet.len()
    }

    /// The ground truth: every instance id and status, sorted by id.
    pub fn ground_truth(&self) -> Vec<(String, String)> {
        let mut truth: Vec<_> = self
            .state()
            .fleet
            .instances()
            .iter()
            .map(|i| (i.id.clone(), i.status.clone()))
            .collect();
        truth.sort();
        truth
    }

    /// Requests received so far, counted on arrival: a slow answer in progress is already counted.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Relaxed)
    }

    /// The most requests the simulator was ever answering at once.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.max_in_flight.load(Relaxed)
    }

    /// Serves `fault` to the next `times` calls.
    pub fn inject(&self, fault: Fault, times: usize) {
        let mut state = self.state();
        for _ in 0..times {
            state.faults.push_back(fault.clone());
        }
    }

    /// Adds this delay before every answer.
    pub fn set_latency(&self, latency: Duration) {
        *self
            .shared
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = latency;
    }

    /// Changes the accepted credentials, so the exporter's start failing as with a revoked key.
    pub fn set_credentials(&self, credentials: SimCredentials) {
        self.state().credentials = credentials;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    // Connections live in the set, so stopping the simulator aborts them too.
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let shared = shared.clone();
        let service = service_fn(move |req| serve(req, shared.clone()));
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Counts a request in flight for as long as it lives, even if the client goes away mid-answer.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.received.fetch_add(1, Relaxed);
        let now = shared.in_flight.fetch_add(1, Relaxed) + 1;
        shared.max_in_flight.fetch_max(now, Relaxed);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

fn reply(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn serve(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let _in_flight = InFlight::new(&shared);
    if req.uri().path() != "/api/v2/vm" {
        return Ok(reply(
            404,
            br#"{"code":"NOT_FOUND","message":"no such path"}"#.to_vec(),
        ));
    }
    if req.method() != http::Method::POST {
        return Ok(reply(
            405,
            br#"{"code":"METHOD_NOT_ALLOWED","message":"only POST"}"#.to_vec(),
        ));
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(reply(
                413,
                br#"{"code":"INVALID_PARAMETER","message":"body too large"}"#.to_vec(),
            ));
        }
    };
    let latency = *shared.latency.lock().unwrap_or_else(|e| e.into_inner());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = shared
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .handle(&parts.headers, &body);
    let mut response = reply(answer.status, answer.body);
    for (name, value) in answer.headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}

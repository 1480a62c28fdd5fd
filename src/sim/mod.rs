//! A simulator of the Zenlayer API's compute products (VM, ZEC, bare metal) on a real loopback HTTP server, for
//! `--demo`, the `zenlayer-sim` binary, tests and benchmarks. Each account has a fleet per product, each served
//! at its product's path. `fleet` holds and pages the instances, `metadata` makes their rows, `api` answers one
//! call, `faults` decides what goes wrong, `control` is the JSON endpoint that drives it; this file runs the
//! server and the churn.

pub mod api;
pub mod control;
pub mod faults;
pub mod fleet;
pub mod metadata;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use url::Url;

pub use api::{Answer, FleetChange, SimCredentials, SimResponse, SimState};
pub use faults::{Fault, FaultPlan, FaultRule};
pub use fleet::{Fleet, SimInstance};

use crate::secret::Secret;
use crate::zenlayer::Auth;
use crate::zenlayer::declaration;
use crate::zenlayer::product::Product;

/// Largest request body the simulator reads; real requests are a few hundred bytes.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How often churn steps run; the configured rate is spread over the steps.
const CHURN_STEP: Duration = Duration::from_millis(500);

/// How a simulator starts. Everything here can be changed later through the handle or the control endpoint.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub addr: SocketAddr,
    /// VM instances, unless `products` says otherwise.
    pub instances: usize,
    /// Instances of each product listed; a product not listed has none (VM: `instances`).
    pub products: Vec<(Product, usize)>,
    pub seed: u64,
    pub credentials: SimCredentials,
    /// Added before every answer.
    pub latency: Duration,
    /// Up to this much more, drawn afresh for every answer.
    pub jitter: Duration,
    /// Lifecycle events started per second (0: a still fleet).
    pub churn_per_second: f64,
    pub flat_envelope: bool,
    pub faults: Vec<FaultRule>,
    /// Accounts served, each its own credentials and its own fleets (seeded `seed + i`): account 0 has
    /// `credentials`, account `i` those of [`SimCredentials::account`]. The faults apply to account 0's VM.
    pub accounts: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            instances: 0,
            products: Vec::new(),
            seed: 1,
            credentials: SimCredentials {
                access_key_id: "SIMAKID0000000000001".into(),
                access_key_secret: "sim-secret-0000000000000001".into(),
                token: Some("sim-token-0000000000000001".into()),
            },
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            churn_per_second: 0.0,
            flat_envelope: false,
            faults: Vec::new(),
            accounts: 1,
        }
    }
}

/// Settings read on every call outside the state lock.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub latency: Duration,
    pub jitter: Duration,
    pub churn_per_second: f64,
}

struct Shared {
    /// Every account; a request goes to the account its credentials name, at the product its path names.
    accounts: Vec<SimAccount>,
    timing: Mutex<Timing>,
    /// Requests received, counted on arrival (before any latency), so a test can see a call in flight.
    received: AtomicU64,
    in_flight: AtomicU64,
    /// The most requests ever being answered at once.
    max_in_flight: AtomicU64,
}

/// One simulated account: its credentials, the same for every product, and one state per product (in the order
/// of [`Product::ALL`]).
struct SimAccount {
    credentials: Mutex<SimCredentials>,
    products: Vec<Mutex<SimState>>,
}

impl SimAccount {
    fn credentials(&self) -> MutexGuard<'_, SimCredentials> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, SimState> {
        self.product(0, Product::Vm)
    }

    fn product(&self, index: usize, product: Product) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock can only come from a bug in a test; the state is still usable.
        self.accounts[index].products[product.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The account whose access key id or token the request's `Authorization` carries; account 0 (which then
    /// refuses it) when none matches, as the real API has one endpoint for every account.
    fn account_for(&self, headers: &http::HeaderMap) -> &SimAccount {
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let matches = |c: &SimCredentials| match authorization.strip_prefix("Bearer ") {
            Some(token) => c.token.as_deref() == Some(token),
            None => crate::zenlayer::sign::parse_authorization(authorization)
                .is_some_and(|parsed| parsed.credential == c.access_key_id),
        };
        self.accounts
            .iter()
            .skip(1)
            .find(|a| matches(&a.credentials()))
            .unwrap_or(&self.accounts[0])
    }

    fn timing(&self) -> Timing {
        *self.timing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_timing(&self, change: impl FnOnce(&mut Timing)) {
        change(&mut self.timing.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A running simulator. Dropping it stops the server, its connections and its churn.
pub struct Simulator {
    addr: SocketAddr,
    url: Url,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Simulator {
    /// Binds and starts serving (and churning, if asked) in the background.
    pub async fn start(options: SimOptions) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let url = Url::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut faults = Some(options.faults);
        let size = |product: Product| match options.products.iter().find(|(p, _)| *p == product) {
            Some((_, n)) => *n,
            None if product == Product::Vm => options.instances,
            None => 0,
        };
        let accounts = (0..options.accounts.max(1))
            .map(|i| SimAccount {
                credentials: Mutex::new(match i {
                    0 => options.credentials.clone(),
                    i => SimCredentials::account(i),
                }),
                products: Product::ALL
                    .iter()
                    .map(|&product| {
                        // Each product's fleet its own seed, so their ids differ.
                        let seed = options.seed + i as u64 + (product.index() as u64) * 1_000_003;
                        Mutex::new(SimState {
                            fleet: Fleet::generate(product, size(product), seed),
                            plan: FaultPlan {
                                rules: match product {
                                    Product::Vm => faults.take().unwrap_or_default(),
                                    _ => Vec::new(),
                                },
                            },
                            flat_envelope: options.flat_envelope,
                            max_skew: Duration::from_secs(300),
                            calls: 0,
                            calls_by_action: Default::default(),
                            pages_served: Vec::new(),
                            faults_on_call: Default::default(),
                            scheduled_changes: Vec::new(),
                            epoch,
                            metadata_overrides: Default::default(),
                            row_cache: Default::default(),
                        })
                    })
                    .collect(),
            })
            .collect();
        let shared = Arc::new(Shared {
            accounts,
            timing: Mutex::new(Timing {
                latency: options.latency,
                jitter: options.jitter,
                churn_per_second: options.churn_per_second,
            }),
            received: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(listener, shared.clone(), stopped));
        Ok(Simulator {
            addr,
            url,
            shared,
            stop: Some(stop),
        })
    }

    /// The fleet `--demo` shows: a few dozen instances of each product, some stopped, some in transition, changing
    /// as it runs.
    pub async fn start_demo() -> std::io::Result<Simulator> {
        Simulator::start(SimOptions {
            instances: 36,
            products: vec![(Product::Zec, 24), (Product::Bmc, 12)],
            seed: 2026,
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
            churn_per_second: 0.2,
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
        let credentials = self.credentials(0);
        Auth::Signature {
            access_key_id: credentials.access_key_id,
            secret: Secret::new(credentials.access_key_secret),
        }
    }

    /// The credentials account `index` accepts, for every product.
    pub fn credentials(&self, index: usize) -> SimCredentials {
        self.shared.accounts[index].credentials().clone()
    }

    /// Changes the credentials account `index` accepts, for every product: its calls then fail as with a revoked
    /// key, or succeed with the rotated one.
    pub fn set_account_credentials(&self, index: usize, credentials: SimCredentials) {
        *self.shared.accounts[index].credentials() = credentials;
    }

    /// The bearer token the simulator accepts, if any.
    pub fn bearer_auth(&self) -> Option<Auth> {
        self.credentials(0).token.map(|t| Auth::Bearer {
            token: Secret::new(t),
        })
    }

    /// Locks the state (of account 0's VM) for inspection or change.
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.shared.state()
    }

    /// Locks account `index`'s VM state for inspection or change: its fleet and faults (the credentials are the
    /// account's: [`Simulator::set_account_credentials`]).
    pub fn account(&self, index: usize) -> MutexGuard<'_, SimState> {
        self.shared.product(index, Product::Vm)
    }

    /// Locks account `index`'s state of `product`: its fleet and faults.
    pub fn product(&self, index: usize, product: Product) -> MutexGuard<'_, SimState> {
        self.shared.product(index, product)
    }

    /// Accounts served.
    pub fn accounts_len(&self) -> usize {
        self.shared.accounts.len()
    }

    /// The name [`Simulator::accounts_file`] gives account `index`.
    pub fn account_name(index: usize) -> String {
        format!("sim-{index}")
    }

    /// An accounts file (YAML) for every account, each named `sim-N`, with its key pair inline (simulated
    /// credentials, not secrets) and this simulator's URL.
    pub fn accounts_file(&self) -> String {
        let mut out = String::from("accounts:\n");
        for i in 0..self.accounts_len() {
            let c = &self.credentials(i);
            out.push_str(&format!(
                "  - name: {}\n    access_key_id: {}\n    access_key_password: {}\n    api_url: {}\n",
                Simulator::account_name(i),
                c.access_key_id,
                c.access_key_secret,
                self.url
            ));
        }
        out
    }

    /// Instances in the fleet now (account 0's VMs).
    pub fn fleet_len(&self) -> usize {
        self.state().fleet.len()
    }

    /// Instances of every product of account 0 now.
    pub fn instances(&self) -> usize {
        Product::ALL
            .iter()
            .map(|p| self.product(0, *p).fleet.len())
            .sum()
    }

    /// The ground truth: every instance id and status, sorted by id.
    pub fn ground_truth(&self) -> Vec<(String, String)> {
        self.state().ground_truth()
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
    pub fn inject(&self, fault: Fault, times: u64) {
        self.state().plan.rules.push(FaultRule::times(fault, times));
    }

    /// Adds a fault rule.
    pub fn add_rule(&self, rule: FaultRule) {
        self.state().plan.rules.push(rule);
    }

    /// Removes every fault rule: the API behaves again.
    pub fn clear_faults(&self) {
        let mut state = self.state();
        state.plan.rules.clear();
        state.faults_on_call.clear();
    }

    /// Adds this delay before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_timing(|t| t.latency = latency);
    }

    /// Starts this many lifecycle events per second (0 stops churn).
    pub fn set_churn(&self, per_second: f64) {
        self.shared.set_timing(|t| t.churn_per_second = per_second);
    }

    /// Changes account 0's accepted credentials (see [`Simulator::set_account_credentials`]).
    pub fn set_credentials(&self, credentials: SimCredentials) {
        self.set_account_credentials(0, credentials);
    }
}

impl SimState {
    /// The `DescribeInstances` row of one instance, overrides applied.
    pub fn metadata_row(&self, instance: &fleet::SimInstance) -> serde_json::Value {
        metadata::row(
            self.fleet.product(),
            &instance.id,
            &instance.status,
            self.epoch,
            self.metadata_overrides.get(&instance.id),
        )
    }

    /// [`SimState::metadata_row`] as JSON text, from the cache when the instance's status is the one it was made
    /// with and no override applies.
    pub fn metadata_text(&mut self, instance: &fleet::SimInstance) -> std::sync::Arc<str> {
        if self.metadata_overrides.contains_key(&instance.id) {
            return self.metadata_row(instance).to_string().into();
        }
        if let Some((status, text)) = self.row_cache.get(&instance.id) {
            if *status == instance.status {
                return text.clone();
            }
        }
        let text: std::sync::Arc<str> = self.metadata_row(instance).to_string().into();
        // Released instances leave their rows behind: dropped whenever they would double the cache.
        if self.row_cache.len() > 2 * self.fleet.len() + 1000 {
            let live: std::collections::HashSet<&str> = self
                .fleet
                .instances()
                .iter()
                .map(|i| i.id.as_str())
                .collect();
            self.row_cache.retain(|id, _| live.contains(id.as_str()));
        }
        self.row_cache
            .insert(instance.id.clone(), (instance.status.clone(), text.clone()));
        text
    }

    /// The `DescribeInstances` row of every instance, sorted by id: the metadata ground truth.
    pub fn metadata_truth(&self) -> Vec<serde_json::Value> {
        let mut rows: Vec<_> = self
            .fleet
            .instances()
            .iter()
            .map(|i| self.metadata_row(i))
            .collect();
        rows.sort_by(|a, b| a["instanceId"].as_str().cmp(&b["instanceId"].as_str()));
        rows
    }

    /// Every instance id and status, sorted by id.
    pub fn ground_truth(&self) -> Vec<(String, String)> {
        let mut truth: Vec<_> = self
            .fleet
            .instances()
            .iter()
            .map(|i| (i.id.clone(), i.status.clone()))
            .collect();
        truth.sort();
        truth
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn run(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    // Connections and the churn task live in the set, so stopping the simulator aborts them too.
    let mut tasks = JoinSet::new();
    tasks.spawn(churn(shared.clone()));
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
            Some(_) = tasks.join_next(), if tasks.len() > 1 => continue,
        };
        let shared = shared.clone();
        let service = service_fn(move |req| serve(req, shared.clone()));
        tasks.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn churn(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(CHURN_STEP);
    let mut owed = 0.0f64;
    loop {
        ticker.tick().await;
        let rate = shared.timing().churn_per_second;
        if rate <= 0.0 {
            owed = 0.0;
            continue;
        }
        owed += rate * CHURN_STEP.as_secs_f64();
        let events = owed.floor();
        owed -= events;
        for state in shared.accounts.iter().flat_map(|a| &a.products) {
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .fleet
                .churn_step(events as usize);
        }
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

/// Pause between the bytes of a trickled answer.
const TRICKLE_EVERY: Duration = Duration::from_millis(50);

/// A response body: whole; a first part followed by silence (`Hang`); filler without end in sight (`HugeBody`);
/// or one byte at a time (`Trickle`).
pub enum SimBody {
    Whole(Option<Bytes>),
    Stalled(Option<Bytes>),
    Filler(usize),
    Trickle(Bytes, Pin<Box<tokio::time::Sleep>>),
}

impl http_body::Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            SimBody::Filler(remaining) => {
                const CHUNK: usize = 64 * 1024;
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(CHUNK);
                *remaining -= n;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n])))))
            }
            SimBody::Trickle(rest, sleep) => {
                if rest.is_empty() {
                    return Poll::Ready(None);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                sleep
                    .as_mut()
                    .reset(tokio::time::Instant::now() + TRICKLE_EVERY);
                Poll::Ready(Some(Ok(Frame::data(rest.split_to(1)))))
            }
            SimBody::Whole(chunk) => Poll::Ready(chunk.take().map(|c| Ok(Frame::data(c)))),
            SimBody::Stalled(chunk) => match chunk.take() {
                Some(c) => Poll::Ready(Some(Ok(Frame::data(c)))),
                // Never woken: the connection stays open until the client gives up.
                None => Poll::Pending,
            },
        }
    }
}

/// How a response's body goes out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Whole,
    Stalled,
    Trickled,
}

fn respond(answer: SimResponse, delivery: Delivery) -> Response<SimBody> {
    let length = answer.body.len();
    let mut body = Bytes::from(answer.body);
    let body = match delivery {
        Delivery::Whole => SimBody::Whole(Some(body)),
        Delivery::Stalled => SimBody::Stalled(Some(body.split_to(length.min(16)))),
        Delivery::Trickled => SimBody::Trickle(body, Box::pin(tokio::time::sleep(TRICKLE_EVERY))),
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    for (name, value) in answer.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// A JSON response of the simulator's own (control endpoint, routing errors).
pub(crate) fn json_response(status: u16, body: serde_json::Value) -> SimResponse {
    SimResponse {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

async fn serve(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<SimBody>, std::io::Error> {
    let _in_flight = InFlight::new(&shared);
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let e = serde_json::json!({"code": "INVALID_PARAMETER", "message": "body too large"});
            return Ok(respond(json_response(413, e), Delivery::Whole));
        }
    };
    if let Some(rest) = path.strip_prefix("/_sim/") {
        // `/_sim/zec/instances` is account 0's ZEC; without a product, its VM. The credentials are the account's,
        // every product's.
        let (first, after) = rest.split_once('/').unwrap_or((rest, ""));
        let (product, rest) = match Product::named(first) {
            Some(product) => (product, after),
            None => (Product::Vm, rest),
        };
        let mut state = shared.product(0, product);
        let credentials = &shared.accounts[0].credentials;
        let answer = control::handle(
            &mut state,
            credentials,
            &shared.timing,
            &method,
            rest,
            &body,
        );
        return Ok(respond(answer, Delivery::Whole));
    }
    // The declared services: overriding one (`ZENLAYER_EXPORTER_API_SERVICES`) is for the real API.
    let served = path.strip_prefix("/api/v2/").and_then(|service| {
        Product::ALL
            .iter()
            .copied()
            .find(|p| declaration::of(*p).service == service)
    });
    let Some(product) = served else {
        let e = serde_json::json!({"code": "NOT_FOUND", "message": "no such path"});
        return Ok(respond(json_response(404, e), Delivery::Whole));
    };
    if method != http::Method::POST {
        let e = serde_json::json!({"code": "METHOD_NOT_ALLOWED", "message": "only POST"});
        return Ok(respond(json_response(405, e), Delivery::Whole));
    }
    let timing = shared.timing();
    let delay = timing.latency + timing.jitter.mul_f64(fastrand::f64());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let account = shared.account_for(&parts.headers);
    let credentials = account.credentials().clone();
    let answer = account.products[product.index()]
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .handle(&parts.headers, &body, &credentials);
    match answer {
        Answer::Respond(response) => Ok(respond(response, Delivery::Whole)),
        Answer::Hang(response) => Ok(respond(response, Delivery::Stalled)),
        Answer::Trickle(response) => Ok(respond(response, Delivery::Trickled)),
        Answer::Stream(bytes) => {
            let mut response = Response::new(SimBody::Filler(bytes));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        // An error from the service makes hyper drop the connection without a response.
        Answer::Reset => Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection reset",
        )),
    }
}

//! The simulator's loopback HTTP server: accepting connections, routing each request to its account (by the
//! credentials it carries) and product (by its path), answering with the configured latency, a stalled or
//! trickled body when a fault says so, and the churn that moves the fleets while it runs. What an answer says is
//! `api`'s; the handle that starts and drives it is `mod.rs`'s.

use std::convert::Infallible;
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

use super::api::{Answer, SimResponse, SimState, Timing, json_response};
use super::auth::SimCredentials;
use super::control;
use crate::zenlayer::declaration;
use crate::zenlayer::operations::MAINTENANCE_SERVICE;
use crate::zenlayer::product::Product;

/// Largest request body the simulator reads; real requests are a few hundred bytes.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How often churn steps run; the configured rate is spread over the steps.
const CHURN_STEP: Duration = Duration::from_millis(500);

pub(super) struct Shared {
    /// Every account; a request goes to the account its credentials name, at the product its path names.
    pub(super) accounts: Vec<SimAccount>,
    pub(super) timing: Mutex<Timing>,
    /// Requests received, counted on arrival (before any latency), so a test can see a call in flight.
    pub(super) received: AtomicU64,
    pub(super) in_flight: AtomicU64,
    /// The most requests ever being answered at once.
    pub(super) max_in_flight: AtomicU64,
}

/// One simulated account: its credentials, the same for every service, one state per product (in the order of
/// [`Product::ALL`]) and its maintenance service's.
pub(super) struct SimAccount {
    pub(super) credentials: Mutex<SimCredentials>,
    pub(super) products: Vec<Mutex<SimState>>,
    pub(super) maintenance: Mutex<SimState>,
}

impl SimAccount {
    pub(super) fn credentials(&self) -> MutexGuard<'_, SimCredentials> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state(&self, service: Service) -> &Mutex<SimState> {
        match service {
            Service::Product(product) => &self.products[product.index()],
            Service::Maintenance => &self.maintenance,
        }
    }
}

/// One of the services every account has.
#[derive(Debug, Clone, Copy)]
enum Service {
    Product(Product),
    Maintenance,
}

impl Service {
    /// The service `name` (its path `/api/v2/NAME`): a product's, as declared (overriding one with
    /// `ZENLAYER_EXPORTER_API_SERVICES` is for the real API), or the maintenance service.
    fn named(name: &str) -> Option<Service> {
        match Product::ALL
            .iter()
            .find(|p| declaration::of(**p).service == name)
        {
            Some(product) => Some(Service::Product(*product)),
            None => (name == MAINTENANCE_SERVICE).then_some(Service::Maintenance),
        }
    }
}

/// Locks a state: a panic while holding the lock can only come from a bug in a test; the state is still usable.
fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, SimState> {
        self.product(0, Product::Vm)
    }

    pub(super) fn product(&self, index: usize, product: Product) -> MutexGuard<'_, SimState> {
        lock(&self.accounts[index].products[product.index()])
    }

    pub(super) fn maintenance(&self, index: usize) -> MutexGuard<'_, SimState> {
        lock(&self.accounts[index].maintenance)
    }

    /// The account whose access key id or token the request's `Authorization` carries; account 0 (which then
    /// refuses it) when none matches, as the real API has one endpoint for every account.
    pub(super) fn account_for(&self, headers: &http::HeaderMap) -> &SimAccount {
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

    pub(super) fn timing(&self) -> Timing {
        *self.timing.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_timing(&self, change: impl FnOnce(&mut Timing)) {
        change(&mut self.timing.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

pub(super) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
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
            lock(state).fleet.churn_step(events as usize);
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
        // `/_sim/zec/instances` is account 0's ZEC, `/_sim/maintenance/alerts` its maintenance service; without a
        // service, its VM. The credentials are the account's, every service's.
        let (first, after) = rest.split_once('/').unwrap_or((rest, ""));
        let (service, rest) = match Service::named(first) {
            Some(service) => (service, after),
            None => (Service::Product(Product::Vm), rest),
        };
        let mut state = lock(shared.accounts[0].state(service));
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
    let Some(service) = path.strip_prefix("/api/v2/").and_then(Service::named) else {
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
    let answer = lock(account.state(service)).handle(&parts.headers, &body, &credentials);
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

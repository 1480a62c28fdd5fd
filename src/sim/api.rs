//! The simulated API's answer to one request to one service, a product's or the maintenance service: its
//! authentication (`auth`), header and parameter checks (the versions and actions the product's declaration
//! names), injected faults, and the paged answer in the API's envelopes (the bare-metal operations' answers are
//! `operations`'); and the timing every answer is given (latency, jitter, churn), which the server and the
//! control endpoint both read.

use std::time::Duration;

use http::HeaderMap;
use serde_json::{Value, json};

use super::auth::{SimCredentials, authenticate, header};
use super::faults::{Fault, FaultPlan};
use super::fleet::Fleet;
use super::maintenance::MaintenanceLists;
use super::metadata::MetadataOverride;
use crate::zenlayer::declaration;
use crate::zenlayer::model::{MAX_INSTANCE_IDS, MAX_PAGE_SIZE, PageRequest};
use crate::zenlayer::operations::{
    DESCRIBE_MAINTENANCE_ALERTS, MAINTENANCE_SERVICE, MAINTENANCE_VERSION,
};

/// Settings read on every call outside the state lock.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub latency: Duration,
    pub jitter: Duration,
    pub churn_per_second: f64,
}

/// A JSON response of the simulator's own (control endpoint, routing errors).
pub(crate) fn json_response(status: u16, body: serde_json::Value) -> SimResponse {
    SimResponse {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// A change to the fleet, scheduled to happen right after a given call is answered: the way a test makes
/// instances appear or vanish while the exporter is between pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetChange {
    Add { id: String, status: String },
    Remove { id: String },
    SetStatus { id: String, status: String },
}

/// What the server does with a call.
#[derive(Debug)]
pub enum Answer {
    /// Send this response.
    Respond(SimResponse),
    /// Close the connection without a response.
    Reset,
    /// Send the headers and these first body bytes of a longer body, then stall forever.
    Hang(SimResponse),
    /// Send this response one byte at a time, slowly.
    Trickle(SimResponse),
    /// Send HTTP 200 and this many bytes of filler, without a Content-Length.
    Stream(usize),
}

/// A complete response.
#[derive(Debug)]
pub struct SimResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Mutable state of one account's product (its fleet says which), or of its maintenance service, behind one lock.
#[derive(Debug)]
pub struct SimState {
    pub fleet: Fleet,
    /// Faults served by rule: every k-th call, the next n calls, or always.
    pub plan: FaultPlan,
    /// Answer in the flat envelope (the action's reference page) instead of the wrapped one.
    pub flat_envelope: bool,
    /// Largest allowed difference between `X-ZC-Timestamp` and the simulator's clock.
    pub max_skew: Duration,
    /// Calls answered, any outcome.
    pub calls: u64,
    /// Calls answered, by `X-ZC-Action`.
    pub calls_by_action: std::collections::HashMap<String, u64>,
    /// `pageNum` of every successful call, in order, for paging tests.
    pub pages_served: Vec<u32>,
    /// Faults served to one given call (1-based, counting every call), before any rule.
    pub faults_on_call: std::collections::HashMap<u64, Fault>,
    /// Fleet changes applied once the call with that number (1-based, counting every call) is answered.
    pub scheduled_changes: Vec<(u64, FleetChange)>,
    /// Unix time the simulator started: generated creation and expiry times are relative to it.
    pub epoch: u64,
    /// Per-instance changes to the generated `DescribeInstances` row.
    pub metadata_overrides: std::collections::HashMap<String, MetadataOverride>,
    /// Each instance's row as JSON text and the status it was made with: a row follows from its id, status and
    /// the epoch, so it is made once per status (an overridden row is made afresh every time).
    pub row_cache: std::collections::HashMap<String, (String, std::sync::Arc<str>)>,
    /// Per-server changes to the generated hardware health row (`health`).
    pub health_overrides: std::collections::HashMap<String, MetadataOverride>,
    /// How many ids each call of the product's health action named, in order (refused calls too).
    pub health_ids: Vec<usize>,
    /// `Some` on an account's maintenance service (its fleet empty and unused): its lists by product.
    pub maintenance: Option<MaintenanceLists>,
}

/// What a call asks of a state's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// A page of statuses (`DescribeInstancesStatus`).
    Status,
    /// A page of full rows (`DescribeInstances`).
    Metadata,
    /// Hardware health of up to ten servers.
    Health,
    /// A product's planned maintenance.
    Maintenance,
}

/// The API's error envelope.
pub(super) fn error(status: u16, request_id: &str, code: &str, message: &str) -> SimResponse {
    SimResponse {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: json!({"requestId": request_id, "code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

impl SimState {
    /// Answers one request made with the account's `credentials`. `path` and `method` are checked by the
    /// caller's router; this sees the calls to this state's product.
    pub fn handle(
        &mut self,
        headers: &HeaderMap,
        body: &[u8],
        credentials: &SimCredentials,
    ) -> Answer {
        self.calls += 1;
        let call = self.calls;
        let action = header(headers, "x-zc-action").unwrap_or("");
        *self.calls_by_action.entry(action.to_owned()).or_default() += 1;
        if declaration::of(self.fleet.product()).health_action == Some(action) {
            self.note_health_call(body);
        }
        let mut firing = self.plan.on_call(action);
        if let Some(fault) = self.faults_on_call.remove(&call) {
            if fault.replaces_answer() {
                firing.instead = Some(fault);
            } else {
                firing.alter.push(fault);
            }
        }
        let request_id = format!("T{:08X}-51A0-4000-8000-{:012X}", call as u32, call);
        let answer = match firing.instead {
            Some(fault) => self.fault_answer(&fault, &request_id, headers, body, credentials),
            None => {
                Answer::Respond(self.answer(&request_id, headers, body, &firing.alter, credentials))
            }
        };
        // Fleet changes between pages, the way a real creation or release shifts offset paging.
        if firing.alter.contains(&Fault::ShiftAfterPage) {
            if let Some(first) = self.fleet.instances().first().map(|i| i.id.clone()) {
                self.fleet.remove(&first);
            }
        }
        if firing.alter.contains(&Fault::DuplicateRows) {
            let id = self.fleet.new_id();
            self.fleet.insert_front(id, "PENDING".into());
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled_changes)
            .into_iter()
            .partition(|(after, _)| *after <= call);
        self.scheduled_changes = later;
        for (_, change) in due {
            self.apply(change);
        }
        answer
    }

    /// Applies one change to the fleet now.
    pub fn apply(&mut self, change: FleetChange) {
        match change {
            FleetChange::Add { id, status } => self.fleet.insert(id, status),
            FleetChange::Remove { id } => {
                self.fleet.remove(&id);
            }
            FleetChange::SetStatus { id, status } => {
                self.fleet.set_status(&id, &status);
            }
        }
    }

    /// The normal answer to a call, with any altering faults applied.
    fn answer(
        &mut self,
        request_id: &str,
        headers: &HeaderMap,
        body: &[u8],
        alter: &[Fault],
        credentials: &SimCredentials,
    ) -> SimResponse {
        if let Err((code, message)) = authenticate(credentials, self.max_skew, headers, body) {
            return error(401, request_id, code, message);
        }
        let action = header(headers, "x-zc-action");
        let (service, versions, served) = self.served(action);
        // Unconfirmed whether the API requires it; every SDK sends it, and a wrong one is a wrong service.
        if header(headers, "x-zc-service").is_some_and(|s| s != service) {
            return error(
                400,
                request_id,
                "INVALID_SERVICE",
                "x-zc-service does not name this path's service",
            );
        }
        match header(headers, "x-zc-version") {
            Some(v) if versions.contains(&v) => {}
            _ => {
                return error(
                    400,
                    request_id,
                    "INVALID_VERSION",
                    "X-ZC-Version is missing or not supported",
                );
            }
        }
        if !header(headers, "content-type").is_some_and(|v| v.starts_with("application/json")) {
            return error(
                400,
                request_id,
                "INVALID_CONTENT_TYPE",
                "Content-Type must be application/json",
            );
        }
        let Some(served) = served else {
            return error(
                400,
                request_id,
                "INVALID_ACTION",
                "the action is missing or not served here",
            );
        };
        let request: PageRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(_) => {
                return error(
                    400,
                    request_id,
                    "INVALID_PARAMETER",
                    "the body is not a valid request",
                );
            }
        };
        match served {
            Served::Health => return self.health_answer(request_id, &request),
            Served::Maintenance => return self.maintenance_answer(request_id, &request),
            Served::Status | Served::Metadata => {}
        }
        let metadata = served == Served::Metadata;
        let page_size = request.page_size.unwrap_or(20);
        let page_num = request.page_num.unwrap_or(1);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return error(
                400,
                request_id,
                "INVALID_PARAMETER",
                "pageSize must be from 1 to 1000",
            );
        }
        if page_num < 1 {
            return error(
                400,
                request_id,
                "INVALID_PARAMETER",
                "pageNum must be at least 1",
            );
        }
        if request.instance_ids.len() > MAX_INSTANCE_IDS {
            return error(
                400,
                request_id,
                "INVALID_PARAMETER",
                "instanceIds holds at most 100 ids",
            );
        }
        let paged = if alter.contains(&Fault::IgnorePageNum) {
            1
        } else {
            page_num
        };
        let (mut total, rows) =
            self.fleet
                .page(&request.instance_ids, page_size as usize, paged as usize);
        for fault in alter {
            if let Fault::WrongTotal { total_count } = fault {
                total = *total_count;
            }
        }
        // Bounded, so a demo running for weeks does not grow without end.
        if self.pages_served.len() >= 100_000 {
            self.pages_served.drain(..50_000);
        }
        self.pages_served.push(page_num);
        // Written as text, each row's from the cache: a page of full rows (bare metal's status poll reads them) built
        // as JSON values would cost the simulator a hundred times the call's own work.
        let mut data_set = String::with_capacity(rows.len() * if metadata { 1800 } else { 64 });
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                data_set.push(',');
            }
            match metadata {
                true => data_set.push_str(&self.metadata_text(row)),
                false => data_set.push_str(
                    &json!({"instanceId": row.id, "instanceStatus": row.status}).to_string(),
                ),
            }
        }
        self.success(
            request_id,
            &format!(r#""totalCount":{total},"dataSet":[{data_set}]"#),
        )
    }

    /// A successful answer whose payload is `requestId` and `fields` (JSON members, as text), in the wrapped
    /// envelope (`response`) or the flat one.
    pub(super) fn success(&self, request_id: &str, fields: &str) -> SimResponse {
        let id = Value::from(request_id).to_string();
        let payload = format!(r#"{{"requestId":{id},{fields}}}"#);
        let body = match self.flat_envelope {
            true => payload,
            false => format!(r#"{{"requestId":{id},"response":{payload}}}"#),
        };
        SimResponse {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: body.into_bytes(),
        }
    }

    /// This state's service: its name, the versions it serves, and what `action` asks of it (`None`: an action
    /// not served here).
    fn served(
        &self,
        action: Option<&str>,
    ) -> (&'static str, &'static [&'static str], Option<Served>) {
        const MAINTENANCE_VERSIONS: &[&str] = &[MAINTENANCE_VERSION];
        if self.maintenance.is_some() {
            let served =
                (action == Some(DESCRIBE_MAINTENANCE_ALERTS)).then_some(Served::Maintenance);
            return (MAINTENANCE_SERVICE, MAINTENANCE_VERSIONS, served);
        }
        let declared = declaration::of(self.fleet.product());
        let served = match action {
            Some(a) if a == declared.metadata_action => Some(Served::Metadata),
            Some(a) if a == declared.status_action() => Some(Served::Status),
            Some(a) if declared.health_action == Some(a) => Some(Served::Health),
            _ => None,
        };
        (declared.service, declared.versions, served)
    }

    /// A fault served instead of the answer. Faults that corrupt a body corrupt the real one.
    fn fault_answer(
        &mut self,
        fault: &Fault,
        request_id: &str,
        headers: &HeaderMap,
        body: &[u8],
        credentials: &SimCredentials,
    ) -> Answer {
        let answer = |state: &mut SimState, alter: &[Fault]| {
            state.answer(request_id, headers, body, alter, credentials)
        };
        match fault {
            Fault::Throttle { retry_after } => {
                let mut response = error(
                    429,
                    request_id,
                    "REQUEST_LIMIT_EXCEEDED",
                    "request limit exceeded",
                );
                if let Some(seconds) = retry_after {
                    response.headers.push(("retry-after", seconds.to_string()));
                }
                Answer::Respond(response)
            }
            Fault::ServerError { status, code } => {
                Answer::Respond(error(*status, request_id, code, "simulated server error"))
            }
            Fault::HtmlError { status } => Answer::Respond(SimResponse {
                status: *status,
                headers: vec![("content-type", "text/html".into())],
                body: format!(
                    "<html><body><h1>{status}</h1>upstream trouble (simulated)</body></html>"
                )
                .into_bytes(),
            }),
            Fault::Unauthorized => Answer::Respond(error(
                401,
                request_id,
                "INVALID_ACCESS_KEY",
                "the access key was revoked (simulated)",
            )),
            Fault::Forbidden => Answer::Respond(error(
                403,
                request_id,
                "AuthFailure.UnauthorizedOperation",
                "the access key may not use this product (simulated)",
            )),
            Fault::Challenge => Answer::Respond(SimResponse {
                status: 403,
                headers: vec![
                    ("content-type", "text/html".into()),
                    ("cf-mitigated", "challenge".into()),
                ],
                body: b"<html><body>Just a moment... (simulated challenge)</body></html>".to_vec(),
            }),
            Fault::NotFound => Answer::Respond(error(
                404,
                request_id,
                "INVALID_INSTANCE_NOT_FOUND",
                "the instances were not found (simulated)",
            )),
            Fault::Reset => Answer::Reset,
            Fault::Hang => {
                let mut response = answer(self, &[]);
                response.status = 200;
                Answer::Hang(response)
            }
            Fault::Truncated => {
                let mut response = answer(self, &[]);
                response.body.truncate(response.body.len() / 2);
                response.status = 200;
                Answer::Respond(response)
            }
            Fault::InvalidJson => Answer::Respond(SimResponse {
                status: 200,
                headers: vec![("content-type", "application/json".into())],
                body: format!(
                    r#"{{"requestId":"{request_id}","response":{{"totalCount":3,"dataSet":[}}"#
                )
                .into_bytes(),
            }),
            Fault::InvalidUtf8 => {
                let mut response = answer(self, &[]);
                // Corrupt the first digit of the first instance id: still inside a JSON string.
                let at = response
                    .body
                    .windows(14)
                    .position(|w| w == b"\"instanceId\":\"")
                    .map(|p| p + 14);
                if let Some(at) = at {
                    response.body[at] = 0xff;
                }
                Answer::Respond(response)
            }
            Fault::NullFields => {
                let response = answer(self, &[]);
                let text = String::from_utf8_lossy(&response.body)
                    .replacen(
                        "\"instanceStatus\":\"",
                        "\"instanceStatus\":null,\"was\":\"",
                        1,
                    )
                    .replacen("\"instanceId\":", "\"instanceIdentifier\":", 2);
                Answer::Respond(SimResponse {
                    body: text.into_bytes(),
                    ..response
                })
            }
            Fault::NegativeTotal => {
                let response = answer(self, &[]);
                let text = String::from_utf8_lossy(&response.body).replacen(
                    "\"totalCount\":",
                    "\"totalCount\":-",
                    1,
                );
                Answer::Respond(SimResponse {
                    body: text.into_bytes(),
                    ..response
                })
            }
            Fault::DeepNesting { depth } => {
                let mut nested = String::with_capacity(depth * 2 + 64);
                nested.push_str(r#"{"response":{"totalCount":1,"dataSet":"#);
                nested.extend(std::iter::repeat_n('[', *depth));
                nested.extend(std::iter::repeat_n(']', *depth));
                nested.push_str("}}");
                Answer::Respond(SimResponse {
                    status: 200,
                    headers: vec![("content-type", "application/json".into())],
                    body: nested.into_bytes(),
                })
            }
            Fault::HugeBody { megabytes } => Answer::Stream(megabytes * 1024 * 1024),
            Fault::Trickle => Answer::Trickle(answer(self, &[])),
            // Altering faults never come here; answer normally if one does.
            Fault::WrongTotal { .. }
            | Fault::DuplicateRows
            | Fault::ShiftAfterPage
            | Fault::IgnorePageNum => Answer::Respond(answer(self, std::slice::from_ref(fault))),
        }
    }
}

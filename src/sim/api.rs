//! The simulated API's answer to one request: authentication exactly as documented (ZC2-HMAC-SHA256 or a
//! bearer token), header and parameter checks, injected faults, and the paged answer in the API's envelopes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde_json::json;

use super::fleet::Fleet;
use crate::zenlayer::model::{
    DESCRIBE_INSTANCES_STATUS, MAX_INSTANCE_IDS, MAX_PAGE_SIZE, PageRequest,
};
use crate::zenlayer::sign::{self, SignInput};

/// API versions the simulator serves, as the real API does.
pub const VERSIONS: [&str; 2] = ["2023-03-13", "2026-04-01"];

/// Credentials the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub token: Option<String>,
}

/// A fault served instead of the normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 `REQUEST_LIMIT_EXCEEDED`, with `Retry-After: n` when given.
    Throttle { retry_after: Option<u64> },
    /// A 5xx error envelope with one of the transient codes.
    ServerError { status: u16, code: &'static str },
    /// A proxy's HTML page with this status, no JSON at all.
    HtmlError { status: u16 },
}

/// A change to the fleet, scheduled to happen right after a given call is answered: the way a test makes
/// instances appear or vanish while the exporter is between pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetChange {
    Add { id: String, status: String },
    Remove { id: String },
    SetStatus { id: String, status: String },
}

/// What the handler answers.
#[derive(Debug)]
pub struct SimResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Mutable simulator state, behind one lock.
#[derive(Debug)]
pub struct SimState {
    pub fleet: Fleet,
    pub credentials: SimCredentials,
    /// Faults served to the next calls, one each, in order.
    pub faults: std::collections::VecDeque<Fault>,
    /// Answer in the flat envelope (the action's reference page) instead of the wrapped one.
    pub flat_envelope: bool,
    /// Largest allowed difference between `X-ZC-Timestamp` and the simulator's clock.
    pub max_skew: Duration,
    /// Calls answered, any outcome.
    pub calls: u64,
    /// `pageNum` of every successful call, in order, for paging tests.
    pub pages_served: Vec<u32>,
    /// A `totalCount` to report instead of the true one: a lying or absurd count.
    pub fleet_total_override: Option<u64>,
    /// Faults served to one given call (1-based, counting every call), before any queued fault.
    pub faults_on_call: std::collections::HashMap<u64, Fault>,
    /// Fleet changes applied once the call with that number (1-based, counting every call) is answered.
    pub scheduled_changes: Vec<(u64, FleetChange)>,
}

fn error(status: u16, request_id: &str, code: &str, message: &str) -> SimResponse {
    SimResponse {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: json!({"requestId": request_id, "code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl SimState {
    /// Answers one request. `path` and `method` are checked by the caller's router; this sees VM API calls.
    pub fn handle(&mut self, headers: &HeaderMap, body: &[u8]) -> SimResponse {
        self.calls += 1;
        let response = self.answer(headers, body);
        let call = self.calls;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled_changes)
            .into_iter()
            .partition(|(after, _)| *after <= call);
        self.scheduled_changes = later;
        for (_, change) in due {
            self.apply(change);
        }
        response
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

    fn answer(&mut self, headers: &HeaderMap, body: &[u8]) -> SimResponse {
        let request_id = format!(
            "T{:08X}-SIM0-4000-8000-{:012X}",
            self.calls as u32, self.calls
        );
        if let Some(fault) = self
            .faults_on_call
            .remove(&self.calls)
            .or_else(|| self.faults.pop_front())
        {
            return fault_response(&fault, &request_id);
        }
        if let Err((code, message)) = self.authenticate(headers, body) {
            return error(401, &request_id, code, message);
        }
        match header(headers, "x-zc-version") {
            Some(v) if VERSIONS.contains(&v) => {}
            _ => {
                return error(
                    400,
                    &request_id,
                    "INVALID_VERSION",
                    "X-ZC-Version is missing or not supported",
                );
            }
        }
        if !header(headers, "content-type").is_some_and(|v| v.starts_with("application/json")) {
            return error(
                400,
                &request_id,
                "INVALID_CONTENT_TYPE",
                "Content-Type must be application/json",
            );
        }
        if header(headers, "x-zc-action") != Some(DESCRIBE_INSTANCES_STATUS) {
            return error(
                400,
                &request_id,
                "INVALID_ACTION",
                "the action is missing or not served here",
            );
        }
        let request: PageRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(_) => {
                return error(
                    400,
                    &request_id,
                    "INVALID_PARAMETER",
                    "the body is not a valid request",
                );
            }
        };
        let page_size = request.page_size.unwrap_or(20);
        let page_num = request.page_num.unwrap_or(1);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return error(
                400,
                &request_id,
                "INVALID_PARAMETER",
                "pageSize must be from 1 to 1000",
            );
        }
        if page_num < 1 {
            return error(
                400,
                &request_id,
                "INVALID_PARAMETER",
                "pageNum must be at least 1",
            );
        }
        if request.instance_ids.len() > MAX_INSTANCE_IDS {
            return error(
                400,
                &request_id,
                "INVALID_PARAMETER",
                "instanceIds holds at most 100 ids",
            );
        }
        let (total, rows) =
            self.fleet
                .page(&request.instance_ids, page_size as usize, page_num as usize);
        let total = self.fleet_total_override.unwrap_or(total);
        // Bounded, so a demo running for weeks does not grow without end.
        if self.pages_served.len() >= 100_000 {
            self.pages_served.drain(..50_000);
        }
        self.pages_served.push(page_num);
        let data_set: Vec<_> = rows
            .iter()
            .map(|i| json!({"instanceId": i.id, "instanceStatus": i.status}))
            .collect();
        let payload = json!({"requestId": request_id, "totalCount": total, "dataSet": data_set});
        let body = if self.flat_envelope {
            payload
        } else {
            json!({"requestId": request_id, "response": payload})
        };
        SimResponse {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// Checks the signature exactly as the API documents it, over the `Content-Type` and `Host` received and
    /// the body bytes received; or the bearer token.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), (&'static str, &'static str)> {
        let authorization =
            header(headers, "authorization").ok_or(("AUTH_MISSING", "no Authorization header"))?;
        if let Some(token) = authorization.strip_prefix("Bearer ") {
            return match &self.credentials.token {
                Some(expected) if sign::signatures_equal(token, expected) => Ok(()),
                _ => Err(("INVALID_TOKEN", "the access token is not valid")),
            };
        }
        let parsed = sign::parse_authorization(authorization)
            .ok_or(("INVALID_AUTHORIZATION", "malformed Authorization header"))?;
        if header(headers, "x-zc-signature-method") != Some(sign::ALGORITHM) {
            return Err((
                "INVALID_SIGNATURE_METHOD",
                "X-ZC-Signature-Method must be ZC2-HMAC-SHA256",
            ));
        }
        if parsed.signed_headers != sign::SIGNED_HEADERS {
            return Err((
                "INVALID_AUTHORIZATION",
                "SignedHeaders must be content-type;host",
            ));
        }
        if parsed.credential != self.credentials.access_key_id {
            return Err(("INVALID_ACCESS_KEY", "the access key does not exist"));
        }
        let timestamp: u64 = header(headers, "x-zc-timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or((
                "INVALID_TIMESTAMP",
                "X-ZC-Timestamp is missing or not a number",
            ))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now.abs_diff(timestamp) > self.max_skew.as_secs() {
            return Err((
                "TIMESTAMP_EXPIRED",
                "X-ZC-Timestamp is too far from the server's clock",
            ));
        }
        let input = SignInput {
            content_type: header(headers, "content-type").unwrap_or(""),
            host: header(headers, "host").unwrap_or(""),
            body,
            timestamp,
        };
        let expected = sign::signature(&self.credentials.access_key_secret, &input);
        if !sign::signatures_equal(parsed.signature, &expected) {
            return Err(("SIGNATURE_MISMATCH", "the signature does not match"));
        }
        Ok(())
    }
}

fn fault_response(fault: &Fault, request_id: &str) -> SimResponse {
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
            response
        }
        Fault::ServerError { status, code } => {
            error(*status, request_id, code, "simulated server error")
        }
        Fault::HtmlError { status } => SimResponse {
            status: *status,
            headers: vec![("content-type", "text/html".into())],
            body: format!("<html><body><h1>{status}</h1>upstream trouble</body></html>")
                .into_bytes(),
        },
    }
}

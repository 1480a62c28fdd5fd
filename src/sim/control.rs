//! The simulator's control endpoint, under `/_sim/` on the same server: read the ground truth (statuses,
//! metadata, hardware health, maintenance), change the fleet, instances' metadata and health, the maintenance
//! lists, set latency, churn and fault rules, change the accepted credentials. JSON in, JSON out.
//! It has no authentication: the simulator is a test and demo tool, bound to loopback by default.

use std::sync::Mutex;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{SimResponse, SimState, Timing, json_response};
use super::auth::SimCredentials;
use super::faults::FaultRule;
use super::maintenance::MaintenanceWindow;
use super::metadata::MetadataOverride;
use crate::zenlayer::declaration;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewInstance {
    instance_id: Option<String>,
    #[serde(default = "pending")]
    instance_status: String,
}

fn pending() -> String {
    "PENDING".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusChange {
    instance_status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    rules: Option<Vec<FaultRule>>,
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    churn_per_second: Option<f64>,
    flat_envelope: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    access_key_id: String,
    access_key_secret: String,
    token: Option<String>,
}

fn bad(message: impl Into<String>) -> SimResponse {
    json_response(400, json!({"error": message.into()}))
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, SimResponse> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

fn settings(state: &SimState, timing: &Timing) -> Value {
    json!({
        "rules": state.plan.rules,
        "latencyMs": timing.latency.as_millis() as u64,
        "jitterMs": timing.jitter.as_millis() as u64,
        "churnPerSecond": timing.churn_per_second,
        "flatEnvelope": state.flat_envelope,
    })
}

/// Every server's hardware health row, or 404 where the product has no health action.
fn health_truth(state: &SimState) -> Result<Vec<Value>, SimResponse> {
    match declaration::of(state.fleet.product()).health_action {
        Some(_) if state.maintenance.is_none() => Ok(state.health_truth()),
        _ => Err(json_response(
            404,
            json!({"error": "this product reports no hardware health (/_sim/bmc/health does)"}),
        )),
    }
}

fn not_maintenance() -> SimResponse {
    json_response(
        404,
        json!({"error": "maintenance is listed by /_sim/maintenance/alerts"}),
    )
}

/// Answers one control request; `path` is what follows `/_sim/`.
pub fn handle(
    state: &mut SimState,
    credentials: &Mutex<SimCredentials>,
    timing: &Mutex<Timing>,
    method: &Method,
    path: &str,
    body: &[u8],
) -> SimResponse {
    match control(state, credentials, timing, method, path, body) {
        Ok(response) | Err(response) => response,
    }
}

fn control(
    state: &mut SimState,
    credentials: &Mutex<SimCredentials>,
    timing: &Mutex<Timing>,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<SimResponse, SimResponse> {
    let mut timing = timing.lock().unwrap_or_else(|e| e.into_inner());
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    Ok(match (method.as_str(), segments.as_slice()) {
        ("GET", ["instances"]) => {
            let instances: Vec<Value> = state
                .fleet
                .instances()
                .iter()
                .map(|i| json!({"instanceId": i.id, "instanceStatus": i.status}))
                .collect();
            json_response(
                200,
                json!({"totalCount": instances.len(), "instances": instances}),
            )
        }
        ("POST", ["instances"]) => {
            let new: NewInstance = parse(body)?;
            let id = match new.instance_id {
                Some(id) if state.fleet.status(&id).is_some() => {
                    return Err(json_response(409, json!({"error": "instance exists"})));
                }
                Some(id) if !id.is_empty() => id,
                _ => state.fleet.new_id(),
            };
            state.fleet.insert(id.clone(), new.instance_status.clone());
            json_response(
                201,
                json!({"instanceId": id, "instanceStatus": new.instance_status}),
            )
        }
        ("PUT", ["instances", id]) => {
            let change: StatusChange = parse(body)?;
            if !state.fleet.set_status(id, &change.instance_status) {
                return Err(json_response(404, json!({"error": "no such instance"})));
            }
            json_response(
                200,
                json!({"instanceId": id, "instanceStatus": change.instance_status}),
            )
        }
        ("DELETE", ["instances", id]) => {
            if !state.fleet.remove(id) {
                return Err(json_response(404, json!({"error": "no such instance"})));
            }
            json_response(200, json!({"instanceId": id}))
        }
        ("GET", ["metadata"]) => {
            let rows = state.metadata_truth();
            json_response(200, json!({"totalCount": rows.len(), "instances": rows}))
        }
        ("PUT", ["instances", id, "metadata"]) => {
            let change: MetadataOverride = parse(body)?;
            if state.fleet.status(id).is_none() {
                return Err(json_response(404, json!({"error": "no such instance"})));
            }
            state.metadata_overrides.insert((*id).to_owned(), change);
            let row = state
                .metadata_truth()
                .into_iter()
                .find(|r| r["instanceId"] == *id);
            json_response(200, row.unwrap_or(Value::Null))
        }
        ("DELETE", ["instances", id, "metadata"]) => {
            state.metadata_overrides.remove(*id);
            json_response(200, json!({"instanceId": id}))
        }
        ("GET", ["health"]) => {
            let rows = health_truth(state)?;
            json_response(200, json!({"totalCount": rows.len(), "instances": rows}))
        }
        ("DELETE", ["health"]) => {
            health_truth(state)?;
            state.clear_health(None);
            json_response(200, json!({}))
        }
        ("PUT", ["instances", id, "health"]) => {
            let change: MetadataOverride = parse(body)?;
            health_truth(state)?;
            let Some(status) = state.fleet.status(id).map(str::to_owned) else {
                return Err(json_response(404, json!({"error": "no such instance"})));
            };
            state.override_health(id, change);
            json_response(200, state.health_row(id, &status))
        }
        ("DELETE", ["instances", id, "health"]) => {
            state.clear_health(Some(id));
            json_response(200, json!({"instanceId": id}))
        }
        ("GET", ["alerts"]) => match &state.maintenance {
            Some(lists) => json_response(200, json!(lists)),
            None => return Err(not_maintenance()),
        },
        ("PUT", ["alerts", product]) => {
            let windows: Vec<MaintenanceWindow> = parse(body)?;
            if state.maintenance.is_none() {
                return Err(not_maintenance());
            }
            state.set_maintenance(product, windows).map_err(bad)?;
            json_response(200, json!(state.maintenance_windows(product)))
        }
        ("GET", ["faults"]) => json_response(200, settings(state, &timing)),
        ("POST", ["faults"]) => {
            let rule: FaultRule = parse(body)?;
            state.plan.rules.push(rule);
            json_response(201, settings(state, &timing))
        }
        ("PUT", ["faults"]) => {
            let new: Settings = parse(body)?;
            if let Some(rules) = new.rules {
                state.plan.rules = rules;
            }
            if let Some(ms) = new.latency_ms {
                timing.latency = Duration::from_millis(ms);
            }
            if let Some(ms) = new.jitter_ms {
                timing.jitter = Duration::from_millis(ms);
            }
            if let Some(rate) = new.churn_per_second {
                if !(rate.is_finite() && rate >= 0.0) {
                    return Err(bad("churnPerSecond must be a number from 0"));
                }
                timing.churn_per_second = rate;
            }
            if let Some(flat) = new.flat_envelope {
                state.flat_envelope = flat;
            }
            json_response(200, settings(state, &timing))
        }
        ("DELETE", ["faults"]) => {
            state.plan.rules.clear();
            state.faults_on_call.clear();
            timing.latency = Duration::ZERO;
            timing.jitter = Duration::ZERO;
            json_response(200, settings(state, &timing))
        }
        ("PUT", ["credentials"]) => {
            let new: Credentials = parse(body)?;
            let mut credentials = credentials.lock().unwrap_or_else(|e| e.into_inner());
            *credentials = SimCredentials {
                access_key_id: new.access_key_id,
                access_key_secret: new.access_key_secret,
                token: new.token,
            };
            json_response(200, json!({"accessKeyId": credentials.access_key_id}))
        }
        ("GET", ["stats"]) => json_response(
            200,
            json!({"calls": state.calls, "instances": state.fleet.len(), "rules": state.plan.rules.len()}),
        ),
        (
            _,
            [
                "instances" | "faults" | "credentials" | "stats" | "metadata" | "health" | "alerts",
                ..,
            ],
        ) => json_response(405, json!({"error": "method not allowed"})),
        _ => json_response(
            404,
            json!({"error": "unknown control path; see docs/simulator.md"}),
        ),
    })
}

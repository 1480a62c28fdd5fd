//! The simulator's bare-metal operations, over real HTTP: `DescribeInstancesMonitorHealth` (one to ten servers, in
//! the order asked, in either envelope, overrides and stopped servers), the maintenance service's
//! `DescribeMaintenanceAlerts` (per product, its refusals, its version), faults aimed at either alone, what
//! `--demo` shows, and the vendor's official Python SDK reading both.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use zenlayer_exporter::sim::{Fault, FaultRule, MaintenanceWindow, SimOptions, Simulator};
use zenlayer_exporter::status::Known;
use zenlayer_exporter::zenlayer::declaration;
use zenlayer_exporter::zenlayer::model::DESCRIBE_INSTANCES;
use zenlayer_exporter::zenlayer::operations::{
    COMPONENTS, DESCRIBE_INSTANCES_MONITOR_HEALTH, DESCRIBE_MAINTENANCE_ALERTS, Health,
    MAINTENANCE_SERVICE, MAINTENANCE_VERSION, MAX_HEALTH_IDS, SENSORS,
};
use zenlayer_exporter::zenlayer::product::Product;

use crate::common;

const BMC: Product = Product::Bmc;

async fn servers(count: usize) -> Simulator {
    Simulator::start(SimOptions {
        products: vec![(BMC, count)],
        seed: 3,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

/// POSTs `body` to `/api/v2/SERVICE` as `action` at `version`, signed with the bearer token as the SDKs send it:
/// (status, JSON body).
async fn call(
    sim: &Simulator,
    (service, version): (&str, &str),
    action: &str,
    body: &Value,
) -> (u16, Value) {
    let token = sim.credentials(0).token.expect("a token");
    let request = common::client()
        .post(format!("{}api/v2/{service}", sim.url()))
        .header("content-type", "application/json")
        .header("x-zc-action", action)
        .header("x-zc-version", version)
        .header("x-zc-service", service)
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_string());
    send(request).await
}

/// Sends `request`: (status, the body as JSON, null if it is not).
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

fn bare_metal() -> (&'static str, &'static str) {
    let declared = declaration::of(BMC);
    (declared.service, declared.version)
}

const MAINTENANCE: (&str, &str) = (MAINTENANCE_SERVICE, MAINTENANCE_VERSION);

async fn health(sim: &Simulator, ids: &[String]) -> (u16, Value) {
    let body = json!({ "instanceIds": ids });
    call(sim, bare_metal(), DESCRIBE_INSTANCES_MONITOR_HEALTH, &body).await
}

async fn alerts(sim: &Simulator, body: Value) -> (u16, Value) {
    call(sim, MAINTENANCE, DESCRIBE_MAINTENANCE_ALERTS, &body).await
}

/// An answer's payload, from either envelope.
fn payload(body: &Value) -> &Value {
    body.get("response").unwrap_or(body)
}

fn rows<'a>(body: &'a Value, list: &str) -> &'a [Value] {
    payload(body)[list].as_array().expect("a list")
}

/// A control request, `"METHOD PATH"` (`PATH` under `/_sim/`): (status, JSON body).
async fn control(sim: &Simulator, request: &str, body: Option<Value>) -> (u16, Value) {
    let (method, path) = request.split_once(' ').expect("METHOD PATH");
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    let request = common::client().request(method, format!("{}_sim/{path}", sim.url()));
    send(match body {
        Some(body) => request.body(body.to_string()),
        None => request,
    })
    .await
}

/// Asserts an answer is the API's error envelope with `status` and `code`.
#[track_caller]
fn refused((status, body): (u16, Value), expected: u16, code: &str) {
    assert_eq!(
        (status, body["code"].as_str()),
        (expected, Some(code)),
        "{body}"
    );
    assert!(
        body["requestId"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn health_answers_ten_servers_in_the_order_asked_in_either_envelope() {
    let sim = servers(40).await;
    // The last ten listed, backwards: the answer keeps the order asked, not the fleet's.
    let mut ids = sim.product(0, BMC).fleet.ids();
    ids.reverse();
    ids.truncate(MAX_HEALTH_IDS);
    let (status, body) = health(&sim, &ids).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requestId"], payload(&body)["requestId"], "{body}");
    let served = rows(&body, "monitorHealthList");
    let got: Vec<&str> = served
        .iter()
        .map(|r| r["instanceId"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids);
    let full: BTreeSet<&str> = ["instanceId", "serverBrand", "serverModel", "tempUnit"]
        .into_iter()
        .chain(COMPONENTS.iter().map(|c| c.field))
        .chain(SENSORS.iter().map(|s| s.field))
        .collect();
    let truth: Vec<Value> = {
        let state = sim.product(0, BMC);
        ids.iter()
            .map(|id| state.health_row(id, state.fleet.status(id).unwrap()))
            .collect()
    };
    assert_eq!(served, truth, "the simulator's own rows");
    for row in served {
        let keys: BTreeSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(keys.is_subset(&full), "{row}");
        // Only a component's field is ever missing, one at most (an older collector).
        let missing: Vec<_> = full.difference(&keys).collect();
        assert!(
            missing.len() <= 1
                && missing
                    .iter()
                    .all(|f| COMPONENTS.iter().any(|c| c.field == **f)),
            "{row}"
        );
        assert_eq!(row["tempUnit"], "Celsius");
        assert!(
            row["serverBrand"].is_string() && row["serverModel"].is_string(),
            "{row}"
        );
        for component in &COMPONENTS {
            let value = &row[component.field];
            let documented = component.values.iter().any(|h| value == h.as_str());
            assert!(value.is_null() || documented, "{row}");
        }
        for sensor in &SENSORS {
            assert!(
                row[sensor.field].is_null() || row[sensor.field].is_u64(),
                "{row}"
            );
        }
    }

    sim.product(0, BMC).flat_envelope = true;
    let (status, flat) = health(&sim, &ids[..2]).await;
    assert_eq!(status, 200);
    assert!(flat.get("response").is_none(), "{flat}");
    assert_eq!(
        flat["monitorHealthList"].as_array().unwrap().len(),
        2,
        "{flat}"
    );
    assert!(flat["requestId"].is_string());
    assert_eq!(
        sim.product(0, BMC).calls_by_action[DESCRIBE_INSTANCES_MONITOR_HEALTH],
        2
    );
}

#[tokio::test]
async fn health_refuses_more_than_ten_ids_or_none_and_leaves_unknown_ones_out() {
    let sim = servers(20).await;
    let ids = sim.product(0, BMC).fleet.ids();
    refused(
        health(&sim, &ids[..MAX_HEALTH_IDS + 1]).await,
        400,
        "INVALID_PARAMETER_VALUE",
    );
    refused(health(&sim, &[]).await, 400, "MISSING_PARAMETER");
    refused(
        call(
            &sim,
            bare_metal(),
            DESCRIBE_INSTANCES_MONITOR_HEALTH,
            &json!({}),
        )
        .await,
        400,
        "MISSING_PARAMETER",
    );
    // Unknown ids are left out, not refused; an id asked twice is answered once.
    let asked = [
        "1234567654321".to_owned(),
        ids[3].clone(),
        ids[3].clone(),
        ids[1].clone(),
    ];
    let (status, body) = health(&sim, &asked).await;
    assert_eq!(status, 200, "{body}");
    let got: Vec<&Value> = rows(&body, "monitorHealthList")
        .iter()
        .map(|r| &r["instanceId"])
        .collect();
    assert_eq!(got, [&ids[3], &ids[1]]);
    let (_, body) = health(&sim, &["0".to_owned()]).await;
    assert!(rows(&body, "monitorHealthList").is_empty());
    // Every call's id count is kept, the refused ones too: what a test holds a client's batches to.
    assert_eq!(sim.product(0, BMC).health_ids, [11, 0, 0, 4, 1]);
    // A product without the action refuses it as any other action it does not serve.
    let zec = declaration::of(Product::Zec);
    refused(
        call(
            &sim,
            (zec.service, zec.version),
            DESCRIBE_INSTANCES_MONITOR_HEALTH,
            &json!({"instanceIds": ["1"]}),
        )
        .await,
        400,
        "INVALID_ACTION",
    );
}

#[tokio::test]
async fn overrides_show_and_servers_not_running_report_nothing() {
    let sim = servers(30).await;
    let running = Known::Running.as_str();
    let (a, b) = {
        let mut state = sim.product(0, BMC);
        let ids = state.fleet.ids();
        for id in &ids[..2] {
            state.fleet.set_status(id, running);
        }
        (ids[0].clone(), ids[1].clone())
    };
    let (cpu, psu) = (&COMPONENTS[0], &COMPONENTS[3]);
    let (socket, inlet) = (&SENSORS[1], &SENSORS[4]);
    {
        let mut state = sim.product(0, BMC);
        // Any text, documented or not.
        state.set_component(&a, cpu, "DEGRADED");
        state.set_sensor(&a, socket, Some(91.0));
        state.set_sensor(&a, inlet, None);
        state.omit_health_field(&a, psu.field);
    }
    let (_, body) = health(&sim, std::slice::from_ref(&a)).await;
    let row = &rows(&body, "monitorHealthList")[0];
    assert_eq!(row[cpu.field], "DEGRADED");
    assert_eq!(row[socket.field], 91);
    assert_eq!(row[inlet.field], Value::Null);
    assert!(row.get(psu.field).is_none(), "{row}");

    // Through the control endpoint: the same overrides, the ground truth, and a stopped server.
    let (status, row) = control(
        &sim,
        &format!("PUT bmc/instances/{b}/health"),
        Some(json!({"set": {psu.field: "WARNING", inlet.field: 44}, "remove": [cpu.field]})),
    )
    .await;
    assert_eq!(
        (status, &row[psu.field], &row[inlet.field]),
        (200, &json!("WARNING"), &json!(44)),
        "{row}"
    );
    let (status, truth) = control(&sim, "GET bmc/health", None).await;
    assert_eq!(status, 200);
    let truth = truth["instances"].as_array().unwrap();
    assert_eq!(truth.len(), 30);
    assert!(truth.contains(&row));
    assert_eq!(
        control(&sim, "PUT bmc/instances/nope/health", Some(json!({})))
            .await
            .0,
        404
    );
    assert_eq!(control(&sim, "GET zec/health", None).await.0, 404);

    let (status, _) = control(
        &sim,
        &format!("PUT bmc/instances/{a}"),
        Some(json!({"instanceStatus": "STOPPED"})),
    )
    .await;
    assert_eq!(status, 200);
    sim.product(0, BMC).clear_health(Some(&a));
    let (status, _) = control(&sim, &format!("DELETE bmc/instances/{b}/health"), None).await;
    assert_eq!(status, 200);
    let (_, body) = health(&sim, &[a.clone(), b.clone()]).await;
    let [stopped, generated] = rows(&body, "monitorHealthList") else {
        panic!("{body}");
    };
    for component in &COMPONENTS {
        assert_eq!(
            stopped[component.field],
            Health::Unknown.as_str(),
            "{stopped}"
        );
    }
    for sensor in &SENSORS {
        assert_eq!(stopped[sensor.field], Value::Null, "{stopped}");
    }
    assert_eq!(*generated, sim.product(0, BMC).health_row(&b, running));
    assert!(generated.get(cpu.field).is_some(), "the override is gone");
}

#[tokio::test]
async fn maintenance_lists_each_product_and_refuses_what_the_api_would() {
    let sim = servers(5).await;
    for product in ["BMC", "SDN"] {
        let (status, body) = alerts(&sim, json!({ "product": product })).await;
        assert_eq!(status, 200, "{body}");
        assert!(rows(&body, "dataList").is_empty(), "empty unless set");
    }
    let server = sim.product(0, BMC).fleet.ids()[0].clone();
    let start = 1_785_254_400; // 2026-07-28T16:00:00Z
    sim.set_maintenance(
        0,
        "BMC",
        vec![MaintenanceWindow::new(
            &server,
            "SEL-A",
            "switch upgrade",
            start,
            start + 7200,
            "in progress",
        )],
    );
    let (_, body) = alerts(&sim, json!({"product": "BMC"})).await;
    assert_eq!(
        rows(&body, "dataList"),
        [
            json!({"instanceId": server, "location": "SEL-A", "impact": "switch upgrade",
            "startTime": "2026-07-28T16:00:00Z", "endTime": "2026-07-28T18:00:00Z", "status": "in progress"})
        ]
    );
    // Through the control endpoint: Unix seconds or text as is (an unparseable time), any status, fields left out.
    let (status, set) = control(&sim, "PUT maintenance/alerts/SDN",
        Some(json!([{"instanceId": "node-1", "startTime": start, "endTime": "next Tuesday", "status": "postponed"}])),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    sim.maintenance(0).flat_envelope = true;
    let (_, body) = alerts(&sim, json!({"product": "SDN"})).await;
    assert!(body.get("response").is_none(), "{body}");
    assert_eq!(
        body["dataList"],
        json!([{"instanceId": "node-1", "startTime": "2026-07-28T16:00:00Z", "endTime": "next Tuesday", "status": "postponed"}])
    );
    let (status, lists) = control(&sim, "GET maintenance/alerts", None).await;
    assert_eq!(
        (status, lists["SDN"].clone()),
        (200, body["dataList"].clone())
    );
    assert_eq!(
        control(&sim, "PUT maintenance/alerts/ZEC", Some(json!([])))
            .await
            .0,
        400
    );
    assert_eq!(
        control(&sim, "PUT bmc/alerts/BMC", Some(json!([]))).await.0,
        404
    );

    // The API's refusals: no product, an undocumented one (case included), another version, action or service.
    for (body, code) in [
        (json!({}), "MISSING_PARAMETER"),
        (json!({"product": "ZEC"}), "INVALID_PARAMETER_VALUE"),
        (json!({"product": "bmc"}), "INVALID_PARAMETER_VALUE"),
    ] {
        refused(alerts(&sim, body).await, 400, code);
    }
    refused(
        call(
            &sim,
            (MAINTENANCE_SERVICE, "2024-01-01"),
            DESCRIBE_MAINTENANCE_ALERTS,
            &json!({"product": "BMC"}),
        )
        .await,
        400,
        "INVALID_VERSION",
    );
    refused(
        call(&sim, MAINTENANCE, DESCRIBE_INSTANCES, &json!({})).await,
        400,
        "INVALID_ACTION",
    );
    refused(
        call(
            &sim,
            bare_metal(),
            DESCRIBE_MAINTENANCE_ALERTS,
            &json!({"product": "BMC"}),
        )
        .await,
        400,
        "INVALID_ACTION",
    );
    // Authenticated as every service is.
    let response = common::client()
        .post(format!("{}api/v2/{MAINTENANCE_SERVICE}", sim.url()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        sim.maintenance(0).calls_by_action[DESCRIBE_MAINTENANCE_ALERTS],
        8
    );
}

#[tokio::test]
async fn faults_aimed_at_health_or_maintenance_leave_the_rest_answering() {
    let sim = servers(12).await;
    let ids = sim.product(0, BMC).fleet.ids();
    sim.product(0, BMC).plan.rules.push(
        FaultRule::always(Fault::ServerError {
            status: 503,
            code: "SERVICE_TEMPORARY_UNAVAILABLE".into(),
        })
        .on_action(DESCRIBE_INSTANCES_MONITOR_HEALTH),
    );
    refused(
        health(&sim, &ids[..3]).await,
        503,
        "SERVICE_TEMPORARY_UNAVAILABLE",
    );
    let (status, body) = call(
        &sim,
        bare_metal(),
        DESCRIBE_INSTANCES,
        &json!({"pageSize": 100}),
    )
    .await;
    assert_eq!(
        (status, payload(&body)["totalCount"].as_u64()),
        (200, Some(12)),
        "{body}"
    );
    // The control endpoint's form: a malformed body on the health action alone, once.
    sim.product(0, BMC).plan.rules.clear();
    let (status, _) = control(
        &sim,
        "POST bmc/faults",
        Some(
            json!({"fault": "truncated", "times": 1, "action": DESCRIBE_INSTANCES_MONITOR_HEALTH}),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = health(&sim, &ids[..3]).await;
    assert_eq!((status, body), (200, Value::Null), "half a body is no JSON");
    assert_eq!(health(&sim, &ids[..3]).await.0, 200);
    assert_eq!(sim.product(0, BMC).health_ids, [3, 3, 3]);

    // The maintenance service's own rules: the product services answer on.
    sim.maintenance(0).plan.rules.push(FaultRule::times(
        Fault::Throttle {
            retry_after: Some(2),
        },
        1,
    ));
    refused(
        alerts(&sim, json!({"product": "BMC"})).await,
        429,
        "REQUEST_LIMIT_EXCEEDED",
    );
    assert_eq!(health(&sim, &ids[..1]).await.0, 200);
    assert_eq!(alerts(&sim, json!({"product": "BMC"})).await.0, 200);
    let (status, _) = control(
        &sim,
        "POST maintenance/faults",
        Some(json!({"fault": "unauthorized"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(alerts(&sim, json!({"product": "SDN"})).await.0, 401);
    assert_eq!(health(&sim, &ids[..1]).await.0, 200);
    assert_eq!(
        control(&sim, "DELETE maintenance/faults", None).await.0,
        200
    );
    assert_eq!(alerts(&sim, json!({"product": "SDN"})).await.0, 200);
}

#[tokio::test]
async fn the_demo_shows_hardware_trouble_and_maintenance() {
    let sim = Simulator::start_demo().await.expect("demo starts");
    // Still, so the servers named stay as they were.
    sim.set_churn(0.0);
    let ids = sim.product(0, BMC).fleet.ids();
    assert_eq!(ids.len(), 12);
    let mut served = Vec::new();
    for batch in ids.chunks(MAX_HEALTH_IDS) {
        let (status, body) = health(&sim, batch).await;
        assert_eq!(status, 200, "{body}");
        served.extend(rows(&body, "monitorHealthList").iter().cloned());
    }
    assert_eq!(served.len(), 12);
    let running = |id: &Value| {
        sim.product(0, BMC).fleet.status(id.as_str().unwrap()) == Some(Known::Running.as_str())
    };
    let ok = Health::Ok.as_str();
    let troubled = served
        .iter()
        .filter(|r| running(&r["instanceId"]) && COMPONENTS.iter().any(|c| r[c.field] != ok))
        .count();
    assert!(troubled >= 2, "{served:#?}");
    assert!(
        served.iter().any(|r| r[SENSORS[1].field] == 91),
        "a CPU at 91 °C"
    );

    let epoch = sim.product(0, BMC).epoch as i64;
    let at = |text: &Value| {
        time::OffsetDateTime::parse(
            text.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp()
            - epoch
    };
    let (_, body) = alerts(&sim, json!({"product": "BMC"})).await;
    let windows = rows(&body, "dataList");
    let spans: Vec<(i64, i64, &str)> = windows
        .iter()
        .map(|w| {
            (
                at(&w["startTime"]),
                at(&w["endTime"]),
                w["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            (6 * 3600, 8 * 3600, "scheduled"),
            (-1800, 5400, "in progress")
        ]
    );
    let truth = sim.product(0, BMC).metadata_truth();
    for window in windows {
        let server = truth
            .iter()
            .find(|r| r["instanceId"] == window["instanceId"])
            .expect("a server of the fleet");
        assert_eq!(window["location"], server["zoneId"]);
        assert_eq!(server["instanceStatus"], Known::Running.as_str());
        assert!(window["impact"].as_str().is_some_and(|i| i.len() > 20));
    }
    assert_ne!(windows[0]["instanceId"], windows[1]["instanceId"]);
    let (_, body) = alerts(&sim, json!({"product": "SDN"})).await;
    let sdn = rows(&body, "dataList");
    assert_eq!((sdn.len(), &sdn[0]["status"]), (1, &json!("scheduled")));
    assert!(sdn[0]["instanceId"].as_str().unwrap().starts_with("node-"));
}

/// The vendor's Python SDK (PyPI's `zenlayercloud-sdk-python`): its BmcClient (2026-02-01) and maintenance client
/// (2025-03-10), signing as a customer's script does, read each row's every field from the simulator, and raise
/// the API's error for eleven ids.
const SDK_SCRIPT: &str = r#"
import json, sys
from zenlayercloud.bmc.v20260201 import bmc_client, models as bmc
from zenlayercloud.common.config import Config
from zenlayercloud.common.credential import Credential
from zenlayercloud.common.excpetion.zenlayer_cloud_sdk_exception import ZenlayerCloudSdkException
from zenlayercloud.maintenance.v20250310 import maintenance_client, models as maintenance

host, key_id, secret, fields, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(","), sys.argv[5].split(",")
credential = Credential(key_id, secret)
config = Config(scheme="http", domain=host, rate_limit_max_retries=0)
out = {}
api = bmc_client.BmcClient(credential, config)
request = bmc.DescribeInstancesMonitorHealthRequest()
request.instanceIds = ids[:10]
out["health"] = [{f: getattr(row, f) for f in fields} for row in api.DescribeInstancesMonitorHealth(request).monitorHealthList]
request.instanceIds = ids
try:
    api.DescribeInstancesMonitorHealth(request)
    out["eleven"] = None
except ZenlayerCloudSdkException as e:
    out["eleven"] = e.code
alerts = maintenance_client.AlarmClient(credential, config)
for product in ["BMC", "SDN"]:
    request = maintenance.DescribeMaintenanceAlertsRequest()
    request.product = product
    out[product] = [vars(row) for row in alerts.DescribeMaintenanceAlerts(request).dataList]
json.dump(out, sys.stdout)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendors_python_sdk_reads_health_and_maintenance() {
    let sim = servers(11).await;
    let ids = sim.product(0, BMC).fleet.ids();
    let start = 1_785_254_400;
    sim.set_maintenance(
        0,
        "BMC",
        vec![MaintenanceWindow::new(
            &ids[0],
            "FRA-A",
            "PSU swap",
            start,
            start + 60,
            "scheduled",
        )],
    );
    sim.set_maintenance(
        0,
        "SDN",
        vec![MaintenanceWindow::new(
            "node-1afmdaxzad23",
            "area-shanghai-1",
            "upgrade",
            start,
            start + 60,
            "in progress",
        )],
    );
    let fields: Vec<&str> = ["instanceId", "serverBrand", "serverModel", "tempUnit"]
        .into_iter()
        .chain(COMPONENTS.iter().map(|c| c.field))
        .chain(SENSORS.iter().map(|s| s.field))
        .collect();
    let credentials = sim.credentials(0);
    let args = [
        "-c".to_owned(),
        SDK_SCRIPT.to_owned(),
        sim.addr().to_string(),
        credentials.access_key_id,
        credentials.access_key_secret,
        fields.join(","),
        ids.join(","),
    ];
    let read = common::python_json(args.to_vec()).await;
    let state = sim.product(0, BMC);
    let expected: Vec<Value> = ids[..10]
        .iter()
        .map(|id| {
            let row = state.health_row(id, state.fleet.status(id).unwrap());
            // The SDK's model reads every field, a missing one as None.
            fields
                .iter()
                .map(|f| (f.to_string(), row.get(*f).cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .collect();
    assert_eq!(read["health"].as_array().unwrap(), &expected);
    assert_eq!(read["eleven"], "INVALID_PARAMETER_VALUE");
    drop(state);
    let maintenance = sim.maintenance(0);
    for product in ["BMC", "SDN"] {
        assert_eq!(
            read[product],
            serde_json::to_value(maintenance.maintenance_windows(product)).unwrap(),
            "{product}"
        );
    }
}

//! The simulator itself: it accepts exactly what the vendor's SDK signs (the signing vectors) and nothing
//! altered, its control endpoint drives the fleet and the faults over HTTP, and `zenlayer-sim` runs standalone.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use zenlayer_exporter::sim::{Answer, SimCredentials};

use crate::common;
use common::client;

fn status_of(answer: Answer) -> (u16, Value) {
    match answer {
        Answer::Respond(r) => (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn accepts_every_sdk_signed_request_and_rejects_any_alteration() {
    let vectors = common::sign_vectors();
    let sim = common::sim(3).await;
    for v in &vectors {
        let mut state = sim.state();
        let credentials = SimCredentials {
            access_key_id: v.access_key_id.clone(),
            access_key_secret: v.access_key_secret.clone(),
            token: None,
        };
        // The vectors carry fixed past timestamps; the skew check is tested separately below.
        state.max_skew = Duration::from_secs(u64::MAX / 4);
        let headers = |authorization: &str, timestamp: &str| {
            let mut h = HeaderMap::new();
            let mut put = |k: &'static str, v: &str| {
                h.insert(k, HeaderValue::from_str(v).unwrap());
            };
            put("host", &v.host);
            put("content-type", &v.content_type);
            put("x-zc-action", &v.action);
            put("x-zc-version", &v.version);
            put("x-zc-timestamp", timestamp);
            put("x-zc-signature-method", "ZC2-HMAC-SHA256");
            put("authorization", authorization);
            h
        };
        let (status, body) = status_of(state.handle(
            &headers(&v.authorization, &v.timestamp),
            v.body.as_bytes(),
            &credentials,
        ));
        assert_ne!(
            status, 401,
            "{}: the SDK's signature is accepted ({body})",
            v.name
        );
        if v.action == "DescribeInstancesStatus" && v.version != "2022-11-20" {
            assert_eq!(status, 200, "{}: {body}", v.name);
        }
        let altered_body = format!("{} ", v.body);
        let (status, body) = status_of(state.handle(
            &headers(&v.authorization, &v.timestamp),
            altered_body.as_bytes(),
            &credentials,
        ));
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("SIGNATURE_MISMATCH")),
            "{}: altered body",
            v.name
        );
        let later = (v.timestamp.parse::<u64>().unwrap() + 1).to_string();
        let (status, _) = status_of(state.handle(
            &headers(&v.authorization, &later),
            v.body.as_bytes(),
            &credentials,
        ));
        assert_eq!(status, 401, "{}: altered timestamp", v.name);
        state.max_skew = Duration::from_secs(300);
        let (status, body) = status_of(state.handle(
            &headers(&v.authorization, &v.timestamp),
            v.body.as_bytes(),
            &credentials,
        ));
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("TIMESTAMP_EXPIRED")),
            "{}: stale timestamp",
            v.name
        );
    }
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn control_endpoint_drives_fleet_faults_and_credentials() {
    use reqwest::Method;
    let sim = common::sim(5).await;
    let base = format!("{}_sim", sim.url());
    let (status, body) = call(Method::GET, format!("{base}/instances"), None).await;
    assert_eq!((status, body["totalCount"].as_u64()), (200, Some(5)));
    let first = body["instances"][0]["instanceId"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = call(
        Method::POST,
        format!("{base}/instances"),
        Some(json!({"instanceStatus": "DEPLOYING"})),
    )
    .await;
    assert_eq!(status, 201);
    let created = body["instanceId"].as_str().unwrap().to_owned();
    let (status, _) = call(
        Method::POST,
        format!("{base}/instances"),
        Some(json!({"instanceId": created})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        call(
            Method::PUT,
            format!("{base}/instances/{first}"),
            Some(json!({"instanceStatus": "STOPPED"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            Method::PUT,
            format!("{base}/instances/nope"),
            Some(json!({"instanceStatus": "STOPPED"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(Method::DELETE, format!("{base}/instances/{created}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(Method::DELETE, format!("{base}/instances/{created}"), None)
            .await
            .0,
        404
    );
    assert_eq!(sim.state().fleet.status(&first), Some("STOPPED"));
    assert_eq!(sim.fleet_len(), 5);

    let (status, body) = call(
        Method::POST,
        format!("{base}/faults"),
        Some(json!({"fault": "throttle", "retry_after": 3, "every": 2})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["rules"][0],
        json!({"fault": "throttle", "retry_after": 3, "every": 2})
    );
    let (status, body) = call(
        Method::PUT,
        format!("{base}/faults"),
        Some(json!({"latencyMs": 5, "jitterMs": 1, "churnPerSecond": 0.5, "flatEnvelope": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["latencyMs"].as_u64(), body["flatEnvelope"].as_bool()),
        (Some(5), Some(true))
    );
    assert_eq!(
        call(
            Method::PUT,
            format!("{base}/faults"),
            Some(json!({"bogus": 1}))
        )
        .await
        .0,
        400
    );
    let (status, body) = call(Method::DELETE, format!("{base}/faults"), None).await;
    assert_eq!(
        (
            status,
            body["rules"].as_array().map(Vec::len),
            body["latencyMs"].as_u64()
        ),
        (200, Some(0), Some(0))
    );

    let (status, _) = call(
        Method::PUT,
        format!("{base}/credentials"),
        Some(json!({"accessKeyId": "K2", "accessKeySecret": "S2"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sim.credentials(0).access_key_id, "K2");
    let (status, body) = call(Method::GET, format!("{base}/stats"), None).await;
    assert_eq!((status, body["instances"].as_u64()), (200, Some(5)));
    assert_eq!(call(Method::GET, format!("{base}/nope"), None).await.0, 404);
    assert_eq!(
        call(Method::PATCH, format!("{base}/instances"), None)
            .await
            .0,
        405
    );
}

#[tokio::test]
async fn the_api_checks_what_it_receives() {
    let sim = common::sim(2).await;
    let url = format!("{}api/v2/vm", sim.url());
    let (status, body) = call(reqwest::Method::POST, url.clone(), Some(json!({}))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("AUTH_MISSING")));
    assert!(
        body["requestId"]
            .as_str()
            .is_some_and(|id| id.starts_with('T'))
    );
    assert_eq!(call(reqwest::Method::GET, url, None).await.0, 405);
    assert_eq!(
        call(reqwest::Method::POST, format!("{}other", sim.url()), None)
            .await
            .0,
        404
    );
}

#[test]
fn zenlayer_sim_runs_standalone_and_stops_on_sigterm() {
    let bin = env!("CARGO_BIN_EXE_zenlayer-sim");
    let bad = Command::new(bin)
        .args(["--fault", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown fault"));

    let mut child = Command::new(bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--instances",
            "25",
            "--churn",
            "2",
            "--fault",
            "throttle@times=1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let rest: Vec<String> = lines.by_ref().take(4).map(Result::unwrap).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("ZENLAYERCLOUD_ACCESS_KEY_ID=")),
        "{rest:?}"
    );
    let stats = blocking_get_json(&format!("{url}/_sim/stats"));
    assert_eq!(
        stats["instances"].as_u64().map(|n| n > 10),
        Some(true),
        "{stats}"
    );
    assert_eq!(stats["rules"], 1);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(
            Instant::now() < until,
            "zenlayer-sim did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A GET from a plain thread, on a runtime of its own.
fn blocking_get_json(url: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(common::get_json(url))
}

//! The whole exporter (`run`) against the simulator over real HTTP: readiness, endpoints, gzip and HEAD,
//! retries, failures that keep the last snapshot, fleet changes, the flat envelope and graceful shutdown.

use std::io::Read;
use std::time::{Duration, Instant};

use zenlayer_exporter::http::server::ServerConfig;
use zenlayer_exporter::sim::{Fault, SimCredentials};

use crate::common;
use common::{Exporter, client, config_for, eventually, get, instance_statuses, sample};

const UP: &str = "zenlayer_up";

fn failures(body: &str, reason: &str) -> f64 {
    sample(
        body,
        &format!("zenlayer_exporter_api_request_failures_total{{action=\"DescribeInstancesStatus\",reason=\"{reason}\"}}"),
    )
    .unwrap_or(-1.0)
}

fn poll_failures(body: &str, reason: &str) -> f64 {
    sample(
        body,
        &format!("zenlayer_exporter_poll_failures_total{{action=\"DescribeInstancesStatus\",reason=\"{reason}\"}}"),
    )
    .unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_only_after_the_first_poll_then_serves_ground_truth() {
    let sim = common::sim(42).await;
    sim.set_latency(Duration::from_millis(500));
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    let (status, body) = get(&exporter.url("/readyz")).await;
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            "not ready: waiting for every product's first poll, and one to succeed\n"
        )
    );
    let before = exporter.metrics().await;
    assert_eq!(sample(&before, UP), Some(0.0));
    assert!(
        instance_statuses(&before).is_empty(),
        "no instance series before the first poll"
    );
    assert!(
        !before.contains("zenlayer_instances{"),
        "no counts invented before the first poll"
    );

    eventually("readyz 200", || async {
        (get(&exporter.url("/readyz")).await.0 == 200).then_some(())
    })
    .await;
    let body = exporter.metrics().await;
    assert_eq!(sample(&body, UP), Some(1.0));
    assert_eq!(instance_statuses(&body), sim.ground_truth());
    let running = sim
        .ground_truth()
        .iter()
        .filter(|(_, s)| s == "RUNNING")
        .count();
    assert_eq!(
        sample(&body, "zenlayer_instances{status=\"RUNNING\"}"),
        Some(running as f64)
    );
    assert!(
        sample(
            &body,
            "zenlayer_exporter_last_poll_success_timestamp_seconds{action=\"DescribeInstancesStatus\"}"
        )
        .unwrap()
            > 1.7e9
    );
    assert_eq!(
        get(&exporter.url("/healthz")).await,
        (200, "ok\n".to_owned())
    );
}

#[tokio::test]
async fn endpoints_methods_head_and_gzip() {
    let sim = common::sim(10).await;
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    exporter
        .metrics_until("first poll", |b| sample(b, UP) == Some(1.0))
        .await;
    let http = client();

    let plain = http.get(exporter.url("/metrics")).send().await.unwrap();
    assert_eq!(
        plain.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_text = plain.text().await.unwrap();

    let gz = http
        .get(exporter.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept, Accept-Encoding");
    let length: usize = gz.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = gz.bytes().await.unwrap();
    assert_eq!(bytes.len(), length);
    let mut text = String::new();
    // One gzip member, readable by the single-member decoder every HTTP client uses.
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(instance_statuses(&text), instance_statuses(&plain_text));
    assert!(text.contains("zenlayer_exporter_build_info{"));

    let head = http.head(exporter.url("/metrics")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let head_length: usize = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        head_length > 1000,
        "HEAD announces the body's length: {head_length}"
    );
    assert!(head.bytes().await.unwrap().is_empty());

    let post = http.post(exporter.url("/metrics")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert_eq!(
        http.get(exporter.url("/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let index = http.get(exporter.url("/")).send().await.unwrap();
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        index.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"),
        "the landing page may run, load and send nothing"
    );
    let html = index.text().await.unwrap();
    assert!(
        html.contains("10 instances") && html.contains("href=\"/metrics\""),
        "{html}"
    );
    assert!(
        html.contains("<td>VM (legacy) (vm)</td>")
            && html.contains("off (ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0)"),
        "{html}"
    );
    // The status poll's row, and the instances by status (the landing page's own tests are tests/it/landing.rs).
    assert!(
        html.contains("<span class=\"ok\">succeeded</span>: 10 instances")
            && html.contains("<tr><th>By status</th>"),
        "{html}"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_within_the_poll() {
    let sim = common::sim(25).await;
    sim.inject(Fault::Throttle { retry_after: None }, 2);
    sim.inject(
        Fault::ServerError {
            status: 503,
            code: "SERVICE_TEMPORARY_UNAVAILABLE".into(),
        },
        1,
    );
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    // A scrape reads each counter as it is then: the calls' failures are waited for with `up`.
    let body = exporter
        .metrics_until("a successful poll after two throttles and a 503", |b| {
            sample(b, UP) == Some(1.0)
                && failures(b, "throttled") == 2.0
                && failures(b, "server_error") == 1.0
        })
        .await;
    assert_eq!(
        poll_failures(&body, "throttled"),
        0.0,
        "retries hid the faults from the poll"
    );
    assert_eq!(instance_statuses(&body), sim.ground_truth());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sim = common::sim(3).await;
    sim.inject(
        Fault::Throttle {
            retry_after: Some(1),
        },
        1,
    );
    let started = Instant::now();
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    exporter
        .metrics_until("a successful poll", |b| sample(b, UP) == Some(1.0))
        .await;
    // A lower bound only: the server asked for a second, the backoff base alone is 5 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn exhausted_retries_fail_the_poll_and_keep_serving() {
    let sim = common::sim(5).await;
    let exporter =
        Exporter::start(config_for(&sim, &[("ZENLAYER_EXPORTER_MAX_RETRIES", "2")])).await;
    let good = exporter
        .metrics_until("first poll", |b| sample(b, UP) == Some(1.0))
        .await;
    sim.inject(
        Fault::ServerError {
            status: 500,
            code: "INTERNAL_SERVER_ERROR".into(),
        },
        3,
    );
    // A scrape reads each counter as it is then: what is asserted of one is waited for with the others.
    let body = exporter
        .metrics_until("the failed poll: one try and two retries, up 0", |b| {
            poll_failures(b, "server_error") >= 1.0
                && failures(b, "server_error") == 3.0
                && sample(b, UP) == Some(0.0)
        })
        .await;
    assert_eq!(
        instance_statuses(&body),
        instance_statuses(&good),
        "the last snapshot is still served"
    );
    exporter
        .metrics_until("recovery", |b| sample(b, UP) == Some(1.0))
        .await;
}

#[tokio::test]
async fn revoked_credentials_fail_without_retry_and_keep_the_last_snapshot() {
    let sim = common::sim(12).await;
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    let good = exporter
        .metrics_until("first poll", |b| sample(b, UP) == Some(1.0))
        .await;
    let stamp = sample(
        &good,
        "zenlayer_exporter_last_poll_success_timestamp_seconds{action=\"DescribeInstancesStatus\"}",
    )
    .unwrap();
    sim.set_credentials(SimCredentials {
        access_key_id: "ANOTHERKEY".into(),
        access_key_secret: "another-secret".into(),
        token: None,
    });
    // Auth is never retried: a call per poll, and one more while a poll is between its call and its count.
    // A scrape reads each counter as it is then, so that is waited for with the rest.
    let once = |b: &str| {
        let (polls_failed, calls_failed) = (poll_failures(b, "auth"), failures(b, "auth"));
        calls_failed == polls_failed || calls_failed == polls_failed + 1.0
    };
    let body = exporter
        .metrics_until("an auth failure, not retried, up 0", |b| {
            poll_failures(b, "auth") >= 2.0 && once(b) && sample(b, UP) == Some(0.0)
        })
        .await;
    assert_eq!(
        instance_statuses(&body),
        sim.ground_truth(),
        "last good snapshot still served"
    );
    assert!(
        sample(
            &body,
            "zenlayer_exporter_last_poll_success_timestamp_seconds{action=\"DescribeInstancesStatus\"}"
        )
        .unwrap()
            <= stamp + 1.0
    );
    // The page says why, and the error as logged: the request id to quote to support.
    let html = get(&exporter.url("/")).await.1;
    assert!(
        html.contains("FAILED</span>: <b>auth</b>")
            && html.contains(" request_id=")
            && html.contains("kind=auth status=401 error=page 1 failed: "),
        "{html}"
    );
}

#[tokio::test]
async fn fleet_changes_show_at_the_next_poll() {
    let sim = common::sim(20).await;
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    exporter
        .metrics_until("first poll", |b| sample(b, UP) == Some(1.0))
        .await;
    let (gone, changed) = {
        let mut state = sim.state();
        let gone = state.fleet.instances()[0].id.clone();
        let changed = state.fleet.instances()[1].id.clone();
        state.fleet.remove(&gone);
        state.fleet.set_status(&changed, "STOPPED");
        state
            .fleet
            .insert("111111111111111111".into(), "DEPLOYING".into());
        (gone, changed)
    };
    let truth = sim.ground_truth();
    let body = exporter
        .metrics_until("the changes", |b| instance_statuses(b) == truth)
        .await;
    assert!(
        !body.contains(&gone),
        "a vanished instance leaves every series"
    );
    assert!(body.contains(&format!(
        "zenlayer_instance_running{{product=\"vm\",instance_id=\"{changed}\"}} 0"
    )));
    assert!(body.contains(
        "zenlayer_instance_status{product=\"vm\",instance_id=\"111111111111111111\",status=\"DEPLOYING\"} 1"
    ));
}

#[tokio::test]
async fn flat_envelope_and_bearer_token_work() {
    let sim = common::sim(7).await;
    sim.state().flat_envelope = true;
    let mut config = config_for(&sim, &[]);
    config.auth = sim.bearer_auth();
    let exporter = Exporter::start(config).await;
    let body = exporter
        .metrics_until("a poll", |b| sample(b, UP) == Some(1.0))
        .await;
    assert_eq!(instance_statuses(&body), sim.ground_truth());
}

#[tokio::test]
async fn state_set_mode_exports_every_known_status() {
    let sim = common::sim(4).await;
    let exporter = Exporter::start(config_for(
        &sim,
        &[("ZENLAYER_EXPORTER_STATUS_SERIES", "all")],
    ))
    .await;
    let body = exporter
        .metrics_until("a poll", |b| sample(b, UP) == Some(1.0))
        .await;
    let status_lines = body
        .lines()
        .filter(|l| l.starts_with("zenlayer_instance_status{"))
        .count();
    // The state set is the VM's vocabulary, not every product's.
    let vm =
        zenlayer_exporter::status::Known::of(zenlayer_exporter::zenlayer::product::Product::Vm);
    assert_eq!(status_lines, 4 * vm.count());
    assert_eq!(instance_statuses(&body), sim.ground_truth());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_a_slow_poll_within_the_grace_period() {
    let sim = common::sim(5).await;
    sim.set_latency(Duration::from_secs(60));
    let mut config = config_for(&sim, &[]);
    config.request_timeout = Duration::from_secs(120);
    config.poll_timeout = Duration::from_secs(300);
    let server = ServerConfig {
        shutdown_grace: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let exporter = Exporter::start_with(config, server).await;
    eventually("the slow poll to be in flight", || async {
        (sim.received() == 1).then_some(())
    })
    .await;
    assert_eq!(get(&exporter.url("/readyz")).await.0, 503);
    // An idle keep-alive connection must not hold shutdown up past the grace period either.
    let idle = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    exporter
        .stop_within(Duration::from_secs(10))
        .await
        .expect("run returned within its bound");
    drop(idle);
}

#[tokio::test]
async fn an_unreachable_api_counts_connect_failures() {
    let sim = common::sim(1).await;
    let mut config = config_for(&sim, &[("ZENLAYER_EXPORTER_MAX_RETRIES", "1")]);
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    config.api_url = format!("http://{closed}").parse().unwrap();
    let exporter = Exporter::start(config).await;
    // The network error is retried once. A scrape reads each counter as it is then: all are waited for.
    exporter
        .metrics_until("a failed poll, retried once, up 0", |b| {
            poll_failures(b, "connect") >= 1.0
                && failures(b, "connect") >= 2.0
                && sample(b, UP) == Some(0.0)
        })
        .await;
}

#[tokio::test]
async fn a_slow_api_counts_timeouts() {
    let sim = common::sim(1).await;
    sim.set_latency(Duration::from_secs(5));
    let mut config = config_for(&sim, &[("ZENLAYER_EXPORTER_MAX_RETRIES", "0")]);
    config.request_timeout = Duration::from_millis(200);
    let exporter = Exporter::start(config).await;
    // Not retried: as many calls timed out as polls, once a scrape reads both between two polls.
    exporter
        .metrics_until("a timed-out poll, its call counted once", |b| {
            poll_failures(b, "timeout") >= 1.0
                && failures(b, "timeout") == poll_failures(b, "timeout")
        })
        .await;
}

#[tokio::test]
async fn both_api_versions_are_served_and_an_unknown_one_is_a_client_error() {
    for (version, ok) in [
        ("2023-03-13", true),
        ("2026-04-01", true),
        ("1999-01-01", false),
    ] {
        let sim = common::sim(2).await;
        let exporter = Exporter::start(config_for(
            &sim,
            &[("ZENLAYER_EXPORTER_API_VERSIONS", &format!("vm={version}"))],
        ))
        .await;
        if ok {
            let body = exporter
                .metrics_until("success", |b| sample(b, UP) == Some(1.0))
                .await;
            assert_eq!(instance_statuses(&body), sim.ground_truth(), "{version}");
        } else {
            // Not retried: as many calls refused as polls, once a scrape reads both between two polls.
            exporter
                .metrics_until("refusal, not retried", |b| {
                    poll_failures(b, "client_error") >= 1.0
                        && failures(b, "client_error") == poll_failures(b, "client_error")
                })
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_never_overlap_when_slower_than_the_interval() {
    let sim = common::sim(30).await;
    sim.set_latency(Duration::from_millis(100));
    // Three pages of 100 ms each, one at a time, every 100 ms: each poll overruns the interval twice over.
    let mut config = config_for(
        &sim,
        &[
            ("ZENLAYER_EXPORTER_PAGE_SIZE", "10"),
            ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "1"),
        ],
    );
    config.poll_interval = Duration::from_millis(100);
    let exporter = Exporter::start(config).await;
    exporter
        .metrics_until("four polls", |b| {
            sample(
                b,
                "zenlayer_exporter_polls_total{action=\"DescribeInstancesStatus\"}",
            )
            .unwrap_or(0.0)
                >= 4.0
        })
        .await;
    assert_eq!(
        sim.max_in_flight(),
        1,
        "one call at a time: no poll started while another ran"
    );
    let body = exporter.metrics().await;
    assert_eq!(poll_failures(&body, "deadline"), 0.0);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = common::sim(1).await;
    let server = ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let exporter = Exporter::start_with(config_for(&sim, &[]), server).await;
    let mut slow = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The server closes the connection (possibly with a 408) instead of waiting for the rest forever.
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "connection still open after the header-read timeout"
    );
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    // Others are served meanwhile.
    assert_eq!(get(&exporter.url("/healthz")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_file_is_taken_up_without_a_restart() {
    let sim = common::sim(6).await;
    let dir = std::env::temp_dir().join(format!("zenlayer-exporter-rotate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("access-key-password");
    let key_id = sim.credentials(0).access_key_id;
    std::fs::write(&file, format!("{}\n", sim.credentials(0).access_key_secret)).unwrap();
    let vars = [
        ("ZENLAYER_EXPORTER_API_URL", sim.url().to_string()),
        ("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0".to_owned()),
        ("ZENLAYERCLOUD_ACCESS_KEY_ID", key_id.clone()),
        (
            "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE",
            file.display().to_string(),
        ),
    ];
    let mut config = zenlayer_exporter::Config::from_vars(
        vars.iter().map(|(k, v)| (k.to_string(), v.clone())),
        false,
    )
    .unwrap();
    assert_eq!(config.secret_file.as_deref(), Some(file.as_path()));
    config.poll_interval = Duration::from_millis(200);
    config.retry_backoff_base = Duration::from_millis(5);
    config.secret_reload_interval = Duration::from_millis(100);
    let exporter = Exporter::start(config).await;
    exporter
        .metrics_until("first poll", |b| sample(b, UP) == Some(1.0))
        .await;

    // The key is rotated at the API: polls fail until the file holds the new secret.
    sim.set_credentials(SimCredentials {
        access_key_id: key_id,
        access_key_secret: "rotated-secret-0002".into(),
        token: None,
    });
    exporter
        .metrics_until("polls refused", |b| sample(b, UP) == Some(0.0))
        .await;
    std::fs::write(&file, "rotated-secret-0002\n").unwrap();
    let body = exporter
        .metrics_until("polls with the new secret", |b| sample(b, UP) == Some(1.0))
        .await;
    assert_eq!(instance_statuses(&body), sim.ground_truth());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A proxy on loopback that answers every request itself with an empty page, recording each request head.
async fn recording_proxy() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let heads = recorded.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while buffer.len() < end + 4 + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buffer.drain(..end + 4 + length);
                    heads.lock().unwrap().push(head);
                    let body = r#"{"requestId":"P1","totalCount":0,"dataSet":[]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, heads)
}

/// The standard proxy variables are honoured for the API (an operator behind a corporate proxy needs them), with
/// the proxy's credentials sent to it, and never for an API on loopback: the simulator and the demo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_variables_carry_api_calls_except_to_loopback() {
    let (proxy, heads) = recording_proxy().await;
    let proxy_url = format!("http://scraper:proxy-pass@{proxy}");
    let vars = |api: &str| {
        [
            ("ZENLAYERCLOUD_ACCESS_TOKEN", "t0ken"),
            ("ZENLAYER_EXPORTER_API_URL", api),
            ("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0"),
            ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "0"),
            ("ZENLAYER_EXPORTER_PRODUCTS", "vm"),
            ("http_proxy", proxy_url.as_str()),
            ("HTTPS_PROXY", "http://unused.invalid:1"),
            ("NO_PROXY", "example.com"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    };

    // An API elsewhere: every call goes to the proxy, in absolute form, with its credentials; nothing is
    // resolved or sent to the API's own name.
    let config = zenlayer_exporter::Config::from_vars(vars("http://api.zenlayer.test"), false)
        .expect("valid");
    assert!(
        format!("{config:?}").contains("proxy: Some(http://…@127.0.0.1"),
        "{config:?}"
    );
    assert!(!format!("{config:?}").contains("proxy-pass"));
    let exporter = Exporter::start(config).await;
    exporter
        .metrics_until("a poll through the proxy", |b| sample(b, UP) == Some(1.0))
        .await;
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("POST http://api.zenlayer.test/api/v2/vm HTTP/1.1"),
        "{head}"
    );
    use base64::Engine as _;
    let credentials = base64::engine::general_purpose::STANDARD.encode("scraper:proxy-pass");
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "proxy-authorization: basic {}",
            credentials.to_ascii_lowercase()
        )),
        "{head}"
    );
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();

    // The simulator on loopback: the same variables, and the proxy sees nothing.
    let sim = common::sim(3).await;
    let before = heads.lock().unwrap().len();
    let mut config =
        zenlayer_exporter::Config::from_vars(vars(sim.url().as_str()), false).expect("valid");
    config.auth = Some(sim.auth());
    let exporter = Exporter::start(config).await;
    let body = exporter
        .metrics_until("a poll of the simulator", |b| sample(b, UP) == Some(1.0))
        .await;
    assert_eq!(instance_statuses(&body).len(), 3);
    assert_eq!(
        heads.lock().unwrap().len(),
        before,
        "loopback went through the proxy"
    );
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

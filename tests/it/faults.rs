//! Every fault the simulator can serve, through the whole exporter: the process stays up, `/metrics` keeps
//! answering with the last good snapshot, `zenlayer_up` and the failure counters name what happened, and once
//! the fault clears the next poll's series equal the simulator's ground truth exactly.

use std::time::Duration;

use zenlayer_exporter::sim::{Fault, FaultRule, Simulator};

use crate::common;
use common::{Exporter, config_for, get, instance_statuses, sample};

const UP: &str = "zenlayer_up";

fn counter(body: &str, series: &str) -> f64 {
    sample(body, series).unwrap_or(-1.0)
}

fn poll_failures(body: &str, reason: &str) -> f64 {
    counter(
        body,
        &format!(
            "zenlayer_exporter_poll_failures_total{{action=\"DescribeInstancesStatus\",reason=\"{reason}\"}}"
        ),
    )
}

fn call_failures(body: &str, reason: &str) -> f64 {
    counter(
        body,
        &format!(
            "zenlayer_exporter_api_request_failures_total{{action=\"DescribeInstancesStatus\",reason=\"{reason}\"}}"
        ),
    )
}

fn polls(body: &str) -> f64 {
    counter(
        body,
        "zenlayer_exporter_polls_total{action=\"DescribeInstancesStatus\"}",
    )
}

/// 35 instances in pages of 10, one retry, short timeouts: a fault on any page is seen within a poll or two.
async fn setup() -> (Simulator, Exporter, String) {
    setup_with(&[]).await
}

async fn setup_with(extra: &[(&str, &str)]) -> (Simulator, Exporter, String) {
    setup_fleet(35, extra).await
}

async fn setup_fleet(instances: usize, extra: &[(&str, &str)]) -> (Simulator, Exporter, String) {
    let sim = common::sim(instances).await;
    let mut vars = vec![
        ("ZENLAYER_EXPORTER_PAGE_SIZE", "10"),
        ("ZENLAYER_EXPORTER_MAX_RETRIES", "1"),
    ];
    vars.extend_from_slice(extra);
    let mut config = config_for(&sim, &vars);
    config.request_timeout = Duration::from_millis(500);
    let exporter = Exporter::start(config).await;
    let good = exporter
        .metrics_until("first poll", |b| sample(b, UP) == Some(1.0))
        .await;
    assert_eq!(instance_statuses(&good), sim.ground_truth());
    (sim, exporter, good)
}

/// Serves `fault` on every call until a poll fails with `reason`, checks what is served meanwhile, clears
/// the fault and checks the recovery against ground truth.
async fn fails_with(fault: Fault, reason: &str) {
    fails_with_fleet(35, fault, reason).await;
}

/// [`fails_with`] on a fleet of `instances`.
async fn fails_with_fleet(instances: usize, fault: Fault, reason: &str) {
    let (sim, exporter, good) = setup_fleet(instances, &[]).await;
    sim.add_rule(FaultRule::always(fault.clone()));
    // A scrape reads each counter as it is then (the calls' before the polls', `up` last): what is asserted of
    // one is waited for with the others.
    let during = exporter
        .metrics_until(
            &format!("{fault:?} to fail a poll, its calls counted, up 0"),
            |b| {
                poll_failures(b, reason) >= 1.0
                    && sample(b, UP) == Some(0.0)
                    && (call_failures(b, reason) >= 1.0 || reason == "pagination")
            },
        )
        .await;
    assert_eq!(
        instance_statuses(&during),
        instance_statuses(&good),
        "{fault:?}: the last good snapshot is served"
    );
    assert_eq!(get(&exporter.url("/healthz")).await.0, 200);
    assert_eq!(
        get(&exporter.url("/readyz")).await.0,
        200,
        "still ready: a snapshot is served"
    );

    sim.clear_faults();
    let polls_at_clear = polls(&exporter.metrics().await);
    let after = exporter
        .metrics_until(&format!("recovery from {fault:?}"), |b| {
            sample(b, UP) == Some(1.0) && polls(b) > polls_at_clear
        })
        .await;
    assert_eq!(
        instance_statuses(&after),
        sim.ground_truth(),
        "{fault:?}: nothing lost, nothing invented"
    );
}

#[tokio::test]
async fn throttling_beyond_the_retries() {
    fails_with(Fault::Throttle { retry_after: None }, "throttled").await;
}

#[tokio::test]
async fn throttling_with_retry_after() {
    fails_with(
        Fault::Throttle {
            retry_after: Some(0),
        },
        "throttled",
    )
    .await;
}

#[tokio::test]
async fn throttling_every_other_call_is_absorbed_by_retries() {
    // One page at a time, so every throttled call's retry is the next, unthrottled, call.
    let (sim, exporter, _) = setup_with(&[("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "1")]).await;
    sim.add_rule(FaultRule::every(Fault::Throttle { retry_after: None }, 2));
    let before = polls(&exporter.metrics().await);
    // A scrape reads each counter as it is then: the throttled calls and `up` are waited for with the polls.
    let body = exporter
        .metrics_until("two more polls, throttled calls retried", |b| {
            polls(b) >= before + 2.0
                && call_failures(b, "throttled") >= 2.0
                && sample(b, UP) == Some(1.0)
        })
        .await;
    assert_eq!(poll_failures(&body, "throttled"), 0.0);
    assert_eq!(instance_statuses(&body), sim.ground_truth());
}

#[tokio::test]
async fn internal_server_error() {
    fails_with(
        Fault::ServerError {
            status: 500,
            code: "INTERNAL_SERVER_ERROR".into(),
        },
        "server_error",
    )
    .await;
}

#[tokio::test]
async fn service_temporarily_unavailable() {
    fails_with(
        Fault::ServerError {
            status: 503,
            code: "SERVICE_TEMPORARY_UNAVAILABLE".into(),
        },
        "server_error",
    )
    .await;
}

#[tokio::test]
async fn request_timed_out_code() {
    fails_with(
        Fault::ServerError {
            status: 504,
            code: "REQUEST_TIMED_OUT".into(),
        },
        "server_error",
    )
    .await;
}

#[tokio::test]
async fn proxy_html_page() {
    fails_with(Fault::HtmlError { status: 502 }, "server_error").await;
}

#[tokio::test]
async fn cdn_challenge_page() {
    fails_with(Fault::HtmlError { status: 403 }, "auth").await;
}

/// A CDN challenge or HTTP 451 is a security policy in front of the API, not the credentials: `blocked`, as the
/// vendor's SDKs report it, so nobody rotates a good key over it.
#[tokio::test]
async fn cdn_challenge_is_blocked() {
    fails_with(Fault::Challenge, "blocked").await;
}

#[tokio::test]
async fn unavailable_for_legal_reasons_is_blocked() {
    fails_with(Fault::HtmlError { status: 451 }, "blocked").await;
}

#[tokio::test]
async fn revoked_credentials() {
    fails_with(Fault::Unauthorized, "auth").await;
}

#[tokio::test]
async fn connection_reset() {
    fails_with(Fault::Reset, "connect").await;
}

#[tokio::test]
async fn answer_that_never_finishes() {
    fails_with(Fault::Hang, "timeout").await;
}

#[tokio::test]
async fn truncated_json() {
    fails_with(Fault::Truncated, "decode").await;
}

#[tokio::test]
async fn invalid_json() {
    fails_with(Fault::InvalidJson, "decode").await;
}

#[tokio::test]
async fn absurd_total_count() {
    fails_with(
        Fault::WrongTotal {
            total_count: u64::MAX,
        },
        "pagination",
    )
    .await;
}

#[tokio::test]
async fn total_count_smaller_than_the_rows() {
    fails_with(Fault::WrongTotal { total_count: 3 }, "pagination").await;
}

/// An API that ignores `pageNum` answers page 1 to every page: 30 instances in pages of 10 would be served as
/// 10 with `zenlayer_up 1` (three full pages agree with a count of 30), were the walk not to see that its pages
/// repeat.
#[tokio::test]
async fn pages_that_ignore_page_num() {
    fails_with_fleet(30, Fault::IgnorePageNum, "pagination").await;
}

#[tokio::test]
async fn total_count_larger_than_the_rows() {
    fails_with(Fault::WrongTotal { total_count: 80 }, "pagination").await;
}

/// Faults that change the fleet between pages: polls succeed, nothing is lost while they happen, and the
/// series equal ground truth once they stop.
async fn survives_shifts(fault: Fault) {
    let (sim, exporter, _) = setup().await;
    sim.add_rule(FaultRule::times(fault.clone(), 6));
    let before = polls(&exporter.metrics().await);
    exporter
        .metrics_until(&format!("{fault:?} to be used up"), |_| {
            sim.state().plan.rules.is_empty()
        })
        .await;
    let body = exporter
        .metrics_until("two more polls", |b| polls(b) >= before + 3.0)
        .await;
    assert_eq!(
        sample(&body, UP),
        Some(1.0),
        "{fault:?}: {}",
        body.lines()
            .filter(|l| l.contains("failures_total") && !l.ends_with(" 0"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let failed: f64 = ["pagination", "decode"]
        .iter()
        .map(|r| poll_failures(&body, r))
        .sum();
    assert_eq!(
        failed, 0.0,
        "{fault:?}: a real change between pages is not an error"
    );
    let truth = sim.ground_truth();
    let after = exporter
        .metrics_until("ground truth", |b| instance_statuses(b) == truth)
        .await;
    assert_eq!(instance_statuses(&after), truth);
}

#[tokio::test]
async fn instances_created_between_pages() {
    survives_shifts(Fault::DuplicateRows).await;
}

#[tokio::test]
async fn instances_released_between_pages() {
    survives_shifts(Fault::ShiftAfterPage).await;
}

#[tokio::test]
async fn latency_and_jitter_slow_polls_but_lose_nothing() {
    let (sim, exporter, _) = setup().await;
    sim.set_latency(Duration::from_millis(40));
    let before = polls(&exporter.metrics().await);
    let body = exporter
        .metrics_until("two more polls", |b| polls(b) >= before + 2.0)
        .await;
    assert_eq!(sample(&body, UP), Some(1.0));
    assert_eq!(instance_statuses(&body), sim.ground_truth());
    sim.set_latency(Duration::from_secs(3));
    exporter
        .metrics_until("a timeout", |b| poll_failures(b, "timeout") >= 1.0)
        .await;
}

#[tokio::test]
async fn churn_is_followed_exactly_once_it_settles() {
    let (sim, exporter, _) = setup().await;
    sim.set_churn(20.0);
    let before = polls(&exporter.metrics().await);
    exporter
        .metrics_until("polls during churn", |b| polls(b) >= before + 5.0)
        .await;
    sim.set_churn(0.0);
    let truth = sim.ground_truth();
    let body = exporter
        .metrics_until("ground truth after churn", |b| {
            instance_statuses(b) == truth
        })
        .await;
    assert_eq!(sample(&body, UP), Some(1.0));
}

// Hostile answers: each fails the poll with a clear reason, bounded in time and memory, and the last good
// snapshot stays.

#[tokio::test]
async fn invalid_utf8_in_an_id() {
    fails_with(Fault::InvalidUtf8, "decode").await;
}

#[tokio::test]
async fn null_and_missing_fields() {
    fails_with(Fault::NullFields, "decode").await;
}

#[tokio::test]
async fn negative_total_count() {
    fails_with(Fault::NegativeTotal, "decode").await;
}

#[tokio::test]
async fn deeply_nested_json() {
    fails_with(Fault::DeepNesting { depth: 100_000 }, "decode").await;
}

#[tokio::test]
async fn a_fifty_megabyte_body_is_cut_off_at_the_cap() {
    fails_with(Fault::HugeBody { megabytes: 50 }, "decode").await;
}

#[tokio::test]
async fn a_body_that_trickles_byte_by_byte_times_out() {
    fails_with(Fault::Trickle, "timeout").await;
}

/// An instance id of 4 KiB (a page of them held hundreds of megabytes): the page fails as `decode`, the last good
/// snapshot is served, and once the instance is gone the next poll is the ground truth.
#[tokio::test]
async fn an_overlong_instance_id_fails_the_page() {
    let (sim, exporter, good) = setup().await;
    let long = "7".repeat(4096);
    sim.state().fleet.insert(long.clone(), "RUNNING".into());
    let during = exporter
        .metrics_until("the long id to fail a poll, up 0", |b| {
            poll_failures(b, "decode") >= 1.0 && sample(b, UP) == Some(0.0)
        })
        .await;
    assert_eq!(instance_statuses(&during), instance_statuses(&good));
    assert!(!during.contains(&long[..200]));
    assert!(sim.state().fleet.remove(&long));
    let after = exporter
        .metrics_until("recovery", |b| sample(b, UP) == Some(1.0))
        .await;
    assert_eq!(instance_statuses(&after), sim.ground_truth());
}

//! Soak: thousands of polls against a churning fleet with faults firing throughout, with the metadata poll off
//! and then on. Checked at every calm checkpoint: the series equal ground truth exactly (with metadata, every
//! instance has its info series, equal to the simulator's row, and no other instance has one); polls never
//! overlapped (never more calls in flight than the page concurrency, per poll); memory and file descriptors stay
//! flat. Each turbulent phase lasts a number of polls, so the totals do not depend on the machine's speed; about
//! 20 s each, part of the default suite.

use std::time::{Duration, Instant};

use zenlayer_exporter::sim::{Fault, FaultRule};

#[path = "it/common/mod.rs"]
mod common;
use common::{Exporter, config_for, instance_statuses, sample};

fn resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix(" kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn polls(body: &str) -> f64 {
    sample(
        body,
        "zenlayer_exporter_polls_total{action=\"DescribeInstancesStatus\"}",
    )
    .unwrap_or(0.0)
}

fn metadata_polls(body: &str) -> f64 {
    sample(
        body,
        "zenlayer_exporter_polls_total{action=\"DescribeInstances\"}",
    )
    .unwrap_or(0.0)
}

/// The info series of `body` as (instance id, instance_name, zone_id, tag_env), sorted.
fn names(body: &str) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = common::series(body, "zenlayer_instance_info")
        .into_iter()
        .map(|(l, _)| {
            (
                l["instance_id"].clone(),
                l["instance_name"].clone(),
                l["zone_id"].clone(),
                l["tag_env"].clone(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_polls_through_churn_and_faults() {
    soak(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_polls_with_metadata_through_churn_and_faults() {
    soak(true).await;
}

/// The two soaks take turns: each wants the machine's two cores to itself.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn soak(metadata: bool) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let sim = common::sim(300).await;
    let mut config = config_for(
        &sim,
        &[
            ("ZENLAYER_EXPORTER_PAGE_SIZE", "50"),
            ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "4"),
            ("ZENLAYER_EXPORTER_MAX_RETRIES", "1"),
            ("ZENLAYER_EXPORTER_TAG_LABELS", "env"),
        ],
    );
    // A full metadata walk every 100 ms besides the status polls: hundreds of them, sharing the API and the CPU.
    config.metadata_interval = metadata.then_some(Duration::from_millis(100));
    config.poll_interval = Duration::from_millis(10);
    config.retry_backoff_base = Duration::from_millis(1);
    config.request_timeout = Duration::from_secs(2);
    let exporter = Exporter::start(config).await;
    exporter
        .metrics_until("first poll", |b| sample(b, "zenlayer_up") == Some(1.0))
        .await;

    let faults = [
        FaultRule::every(Fault::Throttle { retry_after: None }, 7),
        FaultRule::every(
            Fault::ServerError {
                status: 503,
                code: "SERVICE_TEMPORARY_UNAVAILABLE".into(),
            },
            11,
        ),
        FaultRule::every(Fault::Reset, 13),
        FaultRule::every(Fault::Truncated, 17),
        FaultRule::every(Fault::HtmlError { status: 502 }, 19),
        FaultRule::every(Fault::DuplicateRows, 23),
        FaultRule::every(Fault::ShiftAfterPage, 29),
    ];
    // Status and metadata polls per turbulent phase; twelve rounds make the floors asserted at the end.
    let per_round = if metadata { (34.0, 9.0) } else { (84.0, 0.0) };
    let started = Instant::now();
    let first_polls = polls(&exporter.metrics().await);
    let mut memory = Vec::new();
    let mut descriptors = Vec::new();
    for round in 0..12 {
        // Turbulence: churn and every fault at once.
        for rule in &faults {
            sim.add_rule(rule.clone());
        }
        sim.set_churn(300.0);
        // A number of polls, not a time: how many fit in a second depends on the machine, and a floor on a
        // timed count failed on a slower one. A poll that stops coming fails the bounded wait instead.
        let (status_from, metadata_from) = {
            let body = exporter.metrics().await;
            (polls(&body), metadata_polls(&body))
        };
        exporter
            .metrics_until(&format!("turbulent polls in round {round}"), |b| {
                polls(b) >= status_from + per_round.0
                    && metadata_polls(b) >= metadata_from + per_round.1
            })
            .await;
        // Calm: no churn, no faults; two clean polls later the series must equal the ground truth exactly.
        sim.set_churn(0.0);
        sim.clear_faults();
        let truth = sim.ground_truth();
        let named: Vec<(String, String, String, String)> = {
            let mut rows: Vec<_> = sim
                .state()
                .metadata_truth()
                .iter()
                .map(|r| {
                    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
                    let env = r["tags"]["tags"]
                        .as_array()
                        .and_then(|t| t.iter().find(|t| t["key"] == "env"))
                        .map_or(String::new(), |t| text(&t["value"]));
                    (
                        text(&r["instanceId"]),
                        text(&r["instanceName"]),
                        text(&r["zoneId"]),
                        env,
                    )
                })
                .collect();
            rows.sort();
            rows
        };
        exporter
            .metrics_until(&format!("ground truth after round {round}"), |b| {
                // A poll that began while faults were still served may fail after the calm began: wait for
                // a successful one.
                sample(b, "zenlayer_up") == Some(1.0)
                    && instance_statuses(b) == truth
                    && (!metadata || names(b) == named)
            })
            .await;
        memory.push(resident_kb());
        descriptors.push(open_fds());
    }
    let body = exporter.metrics().await;
    let done = polls(&body) - first_polls;
    let failed: f64 = body
        .lines()
        .filter(|l| l.starts_with("zenlayer_exporter_poll_failures_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    let metadata_polls = metadata_polls(&body);
    eprintln!(
        "soak (metadata {metadata}): {done} status polls, {metadata_polls} metadata polls ({failed} failed) in {:.1} s; RSS {} -> {} kB; fds {} -> {}",
        started.elapsed().as_secs_f64(),
        memory[1],
        memory[memory.len() - 1],
        descriptors[1],
        descriptors[descriptors.len() - 1]
    );
    // With metadata, the simulator also writes and the exporter decodes a 300-row metadata walk ten times a
    // second, on the same two cores: each round asks for fewer status polls.
    let (status_floor, metadata_floor) = if metadata {
        (400.0, 100.0)
    } else {
        (1000.0, 0.0)
    };
    assert!(done >= status_floor, "status polls: {done}");
    assert!(
        metadata_polls >= metadata_floor,
        "metadata polls: {metadata_polls}"
    );
    assert!(failed > 0.0, "the faults did fail polls");
    // At most 4 calls in flight, the page concurrency, across both polls when metadata is on.
    let bound = 4;
    assert!(
        sim.max_in_flight() <= bound,
        "polls overlapped: {} calls at once",
        sim.max_in_flight()
    );
    // Flat after warm-up: the second checkpoint against the last.
    let growth = memory[memory.len() - 1] as i64 - memory[1] as i64;
    assert!(growth < 16 * 1024, "resident memory grew by {growth} kB");
    let fd_growth = descriptors[descriptors.len() - 1] as i64 - descriptors[1] as i64;
    assert!(fd_growth <= 8, "file descriptors grew by {fd_growth}");
}

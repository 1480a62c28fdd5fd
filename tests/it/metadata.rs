//! Instance metadata from `DescribeInstances`, end to end against the simulator: the info series and numeric
//! facts equal the simulator's ground truth; allow-listed, odd, null, empty and absent tags and fields; new
//! instances named within one status poll (not one metadata interval) and removed ones gone at once; metadata
//! failures that leave the status metrics untouched, and the reverse.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use zenlayer_exporter::metadata::label_name;
use zenlayer_exporter::sim::Simulator;
use zenlayer_exporter::sim::faults::{Fault, FaultRule};
use zenlayer_exporter::sim::metadata::MetadataOverride;
use zenlayer_exporter::zenlayer::model::unix_time;

use crate::common;
use common::{Exporter, config_for, sample, series};

const TAGS: &str = "env,team,cost-center";

fn with_metadata(sim: &Simulator, interval: &str) -> zenlayer_exporter::Config {
    config_for(
        sim,
        &[
            ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", interval),
            ("ZENLAYER_EXPORTER_TAG_LABELS", TAGS),
        ],
    )
}

/// The labels of each instance's info series, by instance id.
fn info(body: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    series(body, "zenlayer_instance_info")
        .into_iter()
        .map(|(labels, value)| {
            assert_eq!(value, 1.0);
            (labels["instance_id"].clone(), labels)
        })
        .collect()
}

/// The value of `metric` for each instance id.
fn per_instance(body: &str, metric: &str) -> BTreeMap<String, f64> {
    series(body, metric)
        .into_iter()
        .map(|(labels, value)| (labels["instance_id"].clone(), value))
        .collect()
}

/// What the info labels of a `DescribeInstances` row must be, worked out from the row independently of the
/// exporter's code: absent and null are both empty; a tag without a value is empty; the smallest value of a
/// repeated key wins.
fn expected_labels(row: &Value) -> BTreeMap<String, String> {
    let text = |key: &str| row[key].as_str().unwrap_or("").to_owned();
    let mut labels: BTreeMap<String, String> = [
        ("product", "vm".to_owned()),
        ("instance_id", text("instanceId")),
        ("instance_name", text("instanceName")),
        ("zone_id", text("zoneId")),
        ("instance_type", text("instanceType")),
        ("image_name", text("imageName")),
        ("charge_type", text("instanceChargeType")),
        ("resource_group", text("resourceGroupName")),
        ("resource_group_id", text("resourceGroupId")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let tags: Vec<&Value> = match &row["tags"] {
        Value::Array(list) => list.iter().collect(),
        Value::Object(o) => o
            .get("tags")
            .and_then(Value::as_array)
            .map(|l| l.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    for key in TAGS.split(',') {
        let value = tags
            .iter()
            .filter(|t| t["key"] == key)
            .map(|t| t["value"].as_str().unwrap_or(""))
            .min()
            .unwrap_or("");
        labels.insert(label_name(key), value.to_owned());
    }
    labels
}

async fn both_polls_done(exporter: &Exporter, instances: usize) -> String {
    exporter
        .metrics_until("status and metadata polled", |b| {
            sample(b, "zenlayer_up") == Some(1.0) && info(b).len() == instances
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_series_equal_the_ground_truth() {
    let sim = common::sim(300).await;
    let exporter = Exporter::start(with_metadata(&sim, "300")).await;
    let body = both_polls_done(&exporter, 300).await;
    let truth = sim.state().metadata_truth();
    let got = info(&body);
    let (cpus, memory, created, expiry, renew) = (
        per_instance(&body, "zenlayer_instance_cpus"),
        per_instance(&body, "zenlayer_instance_memory_bytes"),
        per_instance(&body, "zenlayer_instance_created_timestamp_seconds"),
        per_instance(&body, "zenlayer_instance_expiry_timestamp_seconds"),
        per_instance(&body, "zenlayer_instance_auto_renew"),
    );
    let mut prepaid = 0;
    for row in &truth {
        let id = row["instanceId"].as_str().unwrap();
        assert_eq!(got[id], expected_labels(row), "{id}");
        assert_eq!(cpus[id], row["cpuCount"].as_f64().unwrap());
        assert_eq!(memory[id], row["memory"].as_f64().unwrap() * 1073741824.0);
        assert_eq!(
            created[id],
            unix_time(row["createTime"].as_str().unwrap()).unwrap()
        );
        if row["instanceChargeType"] == "PREPAID" {
            prepaid += 1;
            assert_eq!(
                expiry[id],
                unix_time(row["expiredTime"].as_str().unwrap()).unwrap()
            );
            assert_eq!(renew[id], f64::from(u8::from(row["autoRenew"] == true)));
        } else {
            assert!(!expiry.contains_key(id) && !renew.contains_key(id), "{id}");
        }
    }
    assert_eq!(got.len(), truth.len());
    assert!(
        prepaid > 50,
        "the simulated fleet mixes billing: {prepaid} prepaid"
    );
    assert_eq!((expiry.len(), renew.len()), (prepaid, prepaid));
    let (_, page) = common::get(&exporter.url("/")).await;
    assert!(page.contains("<td>300 instances named"), "{page}");
    // 300 instances at the default 1000 per page: one full metadata call, and no lookups after it.
    assert_eq!(sim.state().calls_by_action["DescribeInstances"], 1);
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_tags_nulls_empty_lists_and_absent_fields_are_accepted() {
    let sim = common::sim(8).await;
    let ids: Vec<String> = sim.ground_truth().into_iter().map(|(id, _)| id).collect();
    let overrides: Vec<(Value, Vec<&str>)> = vec![
        (json!({"tags": null, "instanceName": null}), vec!["zoneId"]),
        (
            json!({"tags": {}}),
            vec!["cpuCount", "memory", "createTime"],
        ),
        (json!({"tags": []}), vec!["tags", "imageName"]),
        (
            json!({"tags": {"tags": []}, "createTime": "not a date"}),
            vec![],
        ),
        (
            json!({"tags": [{"key": "env", "value": "prod"}, {"key": "team"}]}),
            vec![],
        ),
        (
            json!({"tags": {"tags": [
                {"key": "cost-center", "value": "a \"quoted\\ value\nover two lines, ünïcødé"},
                {"key": "env", "value": "zeta"}, {"key": "env", "value": "alpha"},
                {"value": "no key"}, {"key": "Env", "value": "case differs"},
                {"key": "unlisted", "value": "never a label"}]}}),
            vec![],
        ),
        (
            json!({"instanceChargeType": "PREPAID", "expiredTime": null, "autoRenew": null}),
            vec![],
        ),
        (
            json!({"instanceChargeType": "POSTPAID", "expiredTime": "2030-01-01T00:00:00Z", "autoRenew": true}),
            vec![],
        ),
    ];
    {
        let mut state = sim.state();
        for (id, (set, remove)) in ids.iter().zip(&overrides) {
            state.metadata_overrides.insert(
                id.clone(),
                MetadataOverride {
                    set: set.as_object().unwrap().clone(),
                    remove: remove.iter().map(|s| s.to_string()).collect(),
                },
            );
        }
    }
    let exporter = Exporter::start(with_metadata(&sim, "300")).await;
    let body = both_polls_done(&exporter, 8).await;
    let got = info(&body);
    for row in sim.state().metadata_truth() {
        let id = row["instanceId"].as_str().unwrap();
        assert_eq!(got[id], expected_labels(&row), "{id}");
    }
    let odd = &got[&ids[5]];
    assert_eq!(
        odd["tag_cost_center"],
        "a \"quoted\\ value\nover two lines, ünïcødé"
    );
    assert_eq!(odd["tag_env"], "alpha", "the smallest of a repeated key");
    assert!(!odd.contains_key("tag_unlisted") && !odd.contains_key("tag_Env"));
    assert_eq!(got[&ids[4]]["tag_team"], "", "a tag without a value");
    assert_eq!(got[&ids[0]]["zone_id"], "");
    let cpus = per_instance(&body, "zenlayer_instance_cpus");
    let created = per_instance(&body, "zenlayer_instance_created_timestamp_seconds");
    assert!(!cpus.contains_key(&ids[1]) && !created.contains_key(&ids[1]));
    assert!(
        !created.contains_key(&ids[3]),
        "an unparseable date drops that series only"
    );
    let expiry = per_instance(&body, "zenlayer_instance_expiry_timestamp_seconds");
    let renew = per_instance(&body, "zenlayer_instance_auto_renew");
    assert!(!expiry.contains_key(&ids[6]) && !renew.contains_key(&ids[6]));
    assert!(
        !expiry.contains_key(&ids[7]) && !renew.contains_key(&ids[7]),
        "postpaid instances have no expiry, whatever the row says"
    );
    assert_eq!(
        sample(
            &body,
            "zenlayer_exporter_poll_failures_total{action=\"DescribeInstances\",reason=\"decode\"}"
        ),
        Some(0.0)
    );
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_instances_are_named_within_a_status_poll_and_removed_ones_vanish_at_once() {
    let sim = common::sim(20).await;
    // The metadata interval is far longer than the test: only the first full poll and lookups happen.
    let exporter = Exporter::start(with_metadata(&sim, "3600")).await;
    both_polls_done(&exporter, 20).await;
    let (gone, _) = sim.ground_truth()[3].clone();
    {
        let mut state = sim.state();
        assert!(state.fleet.remove(&gone));
        state
            .fleet
            .insert("777000000000000001".into(), "PENDING".into());
        state
            .fleet
            .insert("777000000000000002".into(), "RUNNING".into());
    }
    let body = exporter
        .metrics_until("the new instances named, the removed one gone", |b| {
            let got = info(b);
            got.contains_key("777000000000000001")
                && got.contains_key("777000000000000002")
                && !got.contains_key(&gone)
        })
        .await;
    // Never an instance series without its status series, nor the reverse for long.
    let statuses: Vec<String> = common::instance_statuses(&body)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let named: Vec<String> = info(&body).into_keys().collect();
    assert_eq!(named, statuses);
    let truth = sim.state().metadata_truth();
    let new_row = truth
        .iter()
        .find(|r| r["instanceId"] == "777000000000000001")
        .unwrap();
    assert_eq!(info(&body)["777000000000000001"], expected_labels(new_row));
    // One full poll, then one lookup of both new ids: not one call per status poll.
    for _ in 0..5 {
        exporter.metrics().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sim.state().calls_by_action["DescribeInstances"], 2);
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

/// A look-up by ids answered "no such instances" (404 `INVALID_INSTANCE_NOT_FOUND`: deleted between the status
/// poll that saw them and the look-up) is an answer about those ids, not a failure: nothing counted, and the
/// status series stay; the ids are asked about again after the next status poll, so a live one
/// refused with a deleted one in the same batch is named without waiting for the next full poll.
#[tokio::test]
async fn a_look_up_of_instances_gone_since_is_no_failure() {
    let sim = common::sim(20).await;
    let exporter = Exporter::start(with_metadata(&sim, "3600")).await;
    both_polls_done(&exporter, 20).await;
    sim.add_rule(FaultRule::times(Fault::NotFound, 1).on_action("DescribeInstances"));
    sim.state()
        .fleet
        .insert("777000000000000009".into(), "PENDING".into());
    let body = exporter
        .metrics_until("the new instance's status and the look-up's answer", |b| {
            common::instance_statuses(b)
                .iter()
                .any(|(id, _)| id == "777000000000000009")
                && sim.state().calls_by_action["DescribeInstances"] >= 2
        })
        .await;
    let failures = |b: &str| {
        common::sample(
            b,
            "zenlayer_exporter_api_request_failures_total{action=\"DescribeInstances\",reason=\"client_error\"}",
        )
    };
    assert_eq!(failures(&body), Some(0.0), "not counted as a failed call");
    // The metadata interval is an hour: only a second look-up can name it.
    exporter
        .metrics_until("the instance named by the next look-up", |b| {
            info(b).contains_key("777000000000000009")
        })
        .await;
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_failures_leave_the_status_metrics_untouched_and_the_reverse() {
    let sim = common::sim(10).await;
    let mut config = with_metadata(&sim, "1");
    config.max_retries = 0;
    let exporter = Exporter::start(config).await;
    let before = both_polls_done(&exporter, 10).await;
    let names_before = info(&before);

    // Every DescribeInstances call fails, one way after another; statuses keep changing meanwhile.
    let faults = [
        Fault::ServerError {
            status: 503,
            code: "SERVICE_TEMPORARY_UNAVAILABLE".into(),
        },
        Fault::InvalidJson,
        Fault::Truncated,
        Fault::NullFields,
        Fault::Unauthorized,
    ];
    for fault in &faults {
        sim.add_rule(FaultRule::always(fault.clone()).on_action("DescribeInstances"));
    }
    let (changed, _) = sim.ground_truth()[0].clone();
    sim.state().fleet.set_status(&changed, "STOPPED");
    sim.state().metadata_overrides.insert(
        changed.clone(),
        MetadataOverride {
            set: json!({"instanceName": "renamed"})
                .as_object()
                .unwrap()
                .clone(),
            remove: vec![],
        },
    );
    let failed = |b: &str, reason: &str| {
        sample(
            b,
            &format!(
                "zenlayer_exporter_poll_failures_total{{action=\"DescribeInstances\",reason=\"{reason}\"}}"
            ),
        )
        .unwrap_or(0.0)
    };
    // The calls' failures are asked for with the polls', not after them: a scrape reads each counter as it is
    // then, so one taken while a poll fails may see the poll's failure counted and not yet its call's.
    let calls_failed = |b: &str| {
        sample(
            b,
            "zenlayer_exporter_api_request_failures_total{action=\"DescribeInstances\",reason=\"server_error\"}",
        )
        .unwrap_or(0.0)
    };
    let body = exporter
        .metrics_until("metadata polls and calls failing, statuses current", |b| {
            failed(b, "server_error") >= 2.0
                && calls_failed(b) >= 2.0
                && common::instance_statuses(b).contains(&(changed.clone(), "STOPPED".into()))
        })
        .await;
    assert_eq!(sample(&body, "zenlayer_up"), Some(1.0));
    assert_eq!(
        info(&body),
        names_before,
        "the last good metadata is kept, nothing renamed"
    );
    for reason in ["server_error", "decode", "auth", "pagination", "deadline"] {
        assert_eq!(
            sample(
                &body,
                &format!(
                    "zenlayer_exporter_poll_failures_total{{action=\"DescribeInstancesStatus\",reason=\"{reason}\"}}"
                )
            ),
            Some(0.0),
            "{reason}"
        );
    }

    // The first rule serves instead of the others while it lasts: take them off one by one, and each
    // failure is counted under its own reason.
    for (fault, reason) in faults
        .iter()
        .zip(["server_error", "decode", "decode", "decode", "auth"])
    {
        let counted = failed(&exporter.metrics().await, reason);
        {
            let mut state = sim.state();
            let at = state
                .plan
                .rules
                .iter()
                .position(|r| r.fault == *fault)
                .unwrap();
            if at > 0 {
                state.plan.rules.swap(0, at);
            }
        }
        exporter
            .metrics_until(&format!("a metadata poll failing with {reason}"), |b| {
                failed(b, reason) > counted
            })
            .await;
        sim.state().plan.rules.retain(|r| r.fault != *fault);
    }
    let body = exporter
        .metrics_until("metadata recovered", |b| {
            info(b).get(&changed).map(|l| l["instance_name"].as_str()) == Some("renamed")
        })
        .await;
    assert_eq!(sample(&body, "zenlayer_up"), Some(1.0));

    // The reverse: the status poll fails, the metadata keeps being refreshed and served.
    sim.add_rule(FaultRule::always(Fault::Unauthorized).on_action("DescribeInstancesStatus"));
    sim.state().metadata_overrides.insert(
        changed.clone(),
        MetadataOverride {
            set: json!({"instanceName": "renamed again"})
                .as_object()
                .unwrap()
                .clone(),
            remove: vec![],
        },
    );
    let body = exporter
        .metrics_until("status failing, metadata current", |b| {
            sample(b, "zenlayer_up") == Some(0.0)
                && info(b).get(&changed).map(|l| l["instance_name"].as_str())
                    == Some("renamed again")
        })
        .await;
    assert_eq!(info(&body).len(), 10);
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn metadata_off_means_no_calls_and_no_series() {
    let sim = common::sim(5).await;
    let exporter = Exporter::start(config_for(
        &sim,
        &[("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "0")],
    ))
    .await;
    let body = exporter
        .metrics_until("a few polls", |b| {
            sample(
                b,
                "zenlayer_exporter_polls_total{action=\"DescribeInstancesStatus\"}",
            )
            .is_some_and(|n| n >= 3.0)
        })
        .await;
    assert!(!body.contains("zenlayer_instance_info"));
    assert!(!body.contains("action=\"DescribeInstances\""));
    assert!(
        !sim.state()
            .calls_by_action
            .contains_key("DescribeInstances")
    );
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

/// Both polls of an account call the API through one budget: never more than `PAGE_CONCURRENCY` calls in flight
/// between them (Zenlayer rate-limits per account), and the first metadata walk waits for the first status poll,
/// so start-up to ready is the status walk alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_polls_share_one_budget_and_the_status_poll_goes_first() {
    let sim = common::sim(200).await;
    // The first status call hangs: the first status poll lasts until its deadline.
    sim.add_rule(FaultRule::times(Fault::Hang, 1).on_action("DescribeInstancesStatus"));
    sim.set_latency(Duration::from_millis(20));
    let mut config = config_for(
        &sim,
        &[
            ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "1"),
            ("ZENLAYER_EXPORTER_PAGE_SIZE", "10"),
            ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "2"),
        ],
    );
    config.poll_interval = Duration::from_millis(500);
    config.poll_timeout = Duration::from_secs(2);
    let exporter = Exporter::start(config).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !sim.state()
            .calls_by_action
            .contains_key("DescribeInstances"),
        "no metadata call while the first status poll runs"
    );
    // Then both walk side by side, 20 pages each, every 500 ms and every second.
    exporter
        .metrics_until("three metadata polls after the first status poll", |b| {
            sample(
                b,
                "zenlayer_exporter_polls_total{action=\"DescribeInstances\"}",
            )
            .is_some_and(|n| n >= 3.0)
        })
        .await;
    assert!(
        sim.max_in_flight() <= 2,
        "{} calls in flight at once, across both polls",
        sim.max_in_flight()
    );
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

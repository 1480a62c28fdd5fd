//! `/sd`, Prometheus HTTP service discovery of the VMs, against the simulator's ground truth: the targets and
//! labels of every named instance in the asked statuses, following releases, creations and stops; validators,
//! HEAD, bad parameters with one line each, 503 until there is metadata, several accounts; and a real Prometheus whose `http_sd_configs` job,
//! with the relabeling the docs show, lists exactly the expected targets and follows the fleet.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use zenlayer_exporter::sim::Simulator;
use zenlayer_exporter::sim::metadata::MetadataOverride;

use crate::common;
use common::prometheus::{Prometheus, TempDir};
use common::{Exporter, config_for, eventually, sample};

/// Metadata on, so instances are named; a long interval, so new instances come from the lookups between polls.
const METADATA: (&str, &str) = ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300");

/// The target groups `/sd` should answer for one account's metadata truth: the first address of `field`
/// joined to `port`, for the instances in `statuses` that have one, as (target, labels).
fn expected(
    rows: &[Value],
    field: &str,
    port: u16,
    statuses: &[&str],
    account: Option<&str>,
) -> BTreeSet<(String, BTreeMap<String, String>)> {
    rows.iter()
        .filter(|row| statuses.contains(&row["instanceStatus"].as_str().unwrap()))
        .filter_map(|row| {
            let first = |f: &str| row[f][0].as_str().unwrap_or("").to_owned();
            let address = first(field);
            if address.is_empty() {
                return None;
            }
            let mut labels: BTreeMap<String, String> = [
                ("instance_id", "instanceId"),
                ("instance_name", "instanceName"),
                ("zone_id", "zoneId"),
                ("instance_type", "instanceType"),
                ("image_name", "imageName"),
                ("charge_type", "instanceChargeType"),
                ("resource_group", "resourceGroupName"),
                ("resource_group_id", "resourceGroupId"),
                ("instance_status", "instanceStatus"),
            ]
            .into_iter()
            .map(|(label, f)| {
                let value = row[f].as_str().unwrap_or("").to_owned();
                (format!("__meta_zenlayer_{label}"), value)
            })
            .collect();
            labels.insert(
                "__meta_zenlayer_private_ip".into(),
                first("privateIpAddresses"),
            );
            labels.insert(
                "__meta_zenlayer_public_ip".into(),
                first("publicIpAddresses"),
            );
            for tag in row["tags"]["tags"].as_array().unwrap() {
                let key = tag["key"].as_str().unwrap().replace(['-', '.'], "_");
                labels.insert(
                    format!("__meta_zenlayer_tag_{key}"),
                    tag["value"].as_str().unwrap().to_owned(),
                );
            }
            if let Some(account) = account {
                labels.insert("__meta_zenlayer_account".into(), account.to_owned());
            }
            labels.insert("__meta_zenlayer_product".into(), "vm".to_owned());
            Some((format!("{address}:{port}"), labels))
        })
        .collect()
}

/// The answer's target groups as (target, labels), checking each group has exactly one target.
fn groups(answer: &Value) -> BTreeSet<(String, BTreeMap<String, String>)> {
    answer
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|group| {
            let targets = group["targets"].as_array().unwrap();
            assert_eq!(targets.len(), 1, "{group}");
            let labels = serde_json::from_value(group["labels"].clone()).unwrap();
            (targets[0].as_str().unwrap().to_owned(), labels)
        })
        .collect()
}

async fn sd(exporter: &Exporter, query: &str) -> reqwest::Response {
    common::client()
        .get(exporter.url(&format!("/sd?{query}")))
        .send()
        .await
        .unwrap()
}

/// Waits until `/sd?query` answers `want`.
async fn until_answer(
    exporter: &Exporter,
    query: &str,
    want: impl Fn() -> BTreeSet<(String, BTreeMap<String, String>)>,
) {
    eventually(&format!("/sd?{query} to match the fleet"), || async {
        let response = sd(exporter, query).await;
        if response.status() != 200 {
            return None;
        }
        let got = groups(&serde_json::from_slice(&response.bytes().await.ok()?).ok()?);
        (got == want()).then_some(())
    })
    .await;
}

fn truth(sim: &Simulator) -> Vec<Value> {
    sim.state().metadata_truth()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sd_lists_every_named_instance_and_follows_the_fleet() {
    let sim = common::sim(40).await;
    // One RUNNING instance without a private address: left out of private targets, counted.
    let unaddressed = {
        let mut state = sim.state();
        let id = state
            .fleet
            .instances()
            .iter()
            .find(|i| i.status == "RUNNING")
            .unwrap()
            .id
            .clone();
        state.metadata_overrides.insert(
            id.clone(),
            MetadataOverride {
                set: [("privateIpAddresses".to_owned(), json!([]))]
                    .into_iter()
                    .collect(),
                remove: Vec::new(),
            },
        );
        id
    };
    let exporter = Exporter::start(config_for(&sim, &[METADATA])).await;
    let running = || expected(&truth(&sim), "privateIpAddresses", 9100, &["RUNNING"], None);
    until_answer(&exporter, "port=9100", running).await;
    assert!(!running().is_empty());
    assert!(
        running()
            .iter()
            .all(|(_, l)| l["__meta_zenlayer_instance_id"] != unaddressed)
    );

    let response = sd(&exporter, "port=9100").await;
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    // Prometheus asks again every refresh interval: an unchanged answer is confirmed without a body.
    let again = common::client()
        .get(exporter.url("/sd?port=9100"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let head = common::client()
        .head(exporter.url("/sd?port=9100"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);

    // Public addresses of the stopped instances, asked either way.
    for query in [
        "port=22&address=public&status=STOPPED",
        "status=stopped&address=public&port=22",
    ] {
        until_answer(&exporter, query, || {
            expected(&truth(&sim), "publicIpAddresses", 22, &["STOPPED"], None)
        })
        .await;
    }
    let every = [
        "RUNNING", "STOPPED", "PENDING", "BOOTING", "STOPPING", "REBOOT",
    ];
    until_answer(
        &exporter,
        "port=1&status=RUNNING,STOPPED,PENDING,BOOTING,STOPPING&status=REBOOT",
        || expected(&truth(&sim), "privateIpAddresses", 1, &every, None),
    )
    .await;

    // The fleet changes: one released, one created, one stopped. The targets follow.
    let (released, stopped) = {
        let mut state = sim.state();
        let running: Vec<String> = state
            .fleet
            .instances()
            .iter()
            .filter(|i| i.status == "RUNNING" && i.id != unaddressed)
            .map(|i| i.id.clone())
            .collect();
        assert!(state.fleet.remove(&running[0]));
        assert!(state.fleet.set_status(&running[1], "STOPPED"));
        state
            .fleet
            .insert("900000000000000001".into(), "RUNNING".into());
        (running[0].clone(), running[1].clone())
    };
    until_answer(&exporter, "port=9100", running).await;
    let ids: BTreeSet<String> = running()
        .into_iter()
        .map(|(_, l)| l["__meta_zenlayer_instance_id"].clone())
        .collect();
    assert!(ids.contains("900000000000000001"));
    assert!(!ids.contains(&released) && !ids.contains(&stopped));
    let changed = sd(&exporter, "port=9100").await;
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

    // Bad parameters: 400, one line saying which and why.
    for (query, why) in [
        ("", "missing parameter"),
        ("port=0", "port \"0\""),
        ("port=9100&address=ipv6", "private or public"),
        ("port=9100&status=", "not a status"),
        ("port=9100&account=sim-1", "accounts file"),
        ("port=9100&job=node", "unknown parameter \"job\""),
    ] {
        let response = sd(&exporter, query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body = response.text().await.unwrap();
        assert!(body.contains(why), "{query}: {body}");
        assert_eq!(body.lines().count(), 1, "{body}");
    }
    let post = common::client()
        .post(exporter.url("/sd?port=9100"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    let body = exporter.metrics().await;
    let count = |code: &str| {
        sample(
            &body,
            &format!("zenlayer_exporter_sd_requests_total{{code=\"{code}\"}}"),
        )
        .unwrap()
    };
    assert_eq!(count("304"), 1.0, "{body}");
    assert_eq!(count("400"), 6.0, "{body}");
    assert!(count("200") >= 6.0, "{body}");
    assert_eq!(
        sample(
            &body,
            "zenlayer_exporter_sd_instances_without_address{address=\"private\"}"
        ),
        Some(1.0),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sd_is_unavailable_rather_than_empty_without_metadata() {
    // Before the first metadata poll: 503, so Prometheus keeps the targets it had before a restart.
    let sim = common::sim(5).await;
    sim.set_latency(std::time::Duration::from_millis(1500));
    let exporter = Exporter::start(config_for(&sim, &[METADATA])).await;
    let early = sd(&exporter, "port=9100").await;
    assert_eq!(early.status(), 503);
    assert!(
        early
            .text()
            .await
            .unwrap()
            .contains("no metadata poll has finished yet")
    );
    sim.set_latency(std::time::Duration::ZERO);
    until_answer(&exporter, "port=9100", || {
        expected(&truth(&sim), "privateIpAddresses", 9100, &["RUNNING"], None)
    })
    .await;
    // With the metadata poll off there will never be addresses: 503, saying why.
    let off = Exporter::start(config_for(&sim, &[])).await;
    common::eventually("the first status poll", || async {
        (common::get(&off.url("/readyz")).await.0 == 200).then_some(())
    })
    .await;
    let answer = sd(&off, "port=9100").await;
    assert_eq!(answer.status(), 503);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("METADATA_INTERVAL_SECONDS=0")
    );
    let body = off.metrics().await;
    assert_eq!(
        sample(&body, "zenlayer_exporter_sd_requests_total{code=\"503\"}"),
        Some(1.0),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sd_serves_every_account_labeled_or_one_on_request() {
    let sim = common::accounts_sim(3, 4).await;
    let dir = common::scratch("sd-accounts");
    std::fs::write(dir.join("accounts.yml"), sim.accounts_file()).unwrap();
    let exporter = Exporter::start(common::accounts_config(
        &dir.join("accounts.yml"),
        &[METADATA],
    ))
    .await;
    let every = [
        "RUNNING", "STOPPED", "PENDING", "BOOTING", "STOPPING", "REBOOT",
    ];
    let of = |index: usize| {
        let name = Simulator::account_name(index);
        let rows = sim.account(index).metadata_truth();
        expected(&rows, "publicIpAddresses", 8080, &every, Some(&name))
    };
    let query = "port=8080&address=public&status=RUNNING,STOPPED,PENDING,BOOTING,STOPPING,REBOOT";
    until_answer(&exporter, query, || {
        (0..sim.accounts_len()).flat_map(of).collect()
    })
    .await;
    let one = Simulator::account_name(1);
    until_answer(&exporter, &format!("{query}&account={one}"), || of(1)).await;
    let unknown = sd(&exporter, "port=1&account=nope").await;
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("unknown account nope")
    );
}

/// The binary under floods of `/sd` queries, each needing a render of its own before (0.14 s of CPU at 50,000
/// instances): 256 at once that differ only in their port, then 100 with distinct statuses whose clients hang up
/// after 10 ms. Renders are bounded (one at a time, eight started or waiting, the rest refused with 503 and
/// `Retry-After`, counted as `sd_busy`), so threads and memory stay flat; a port is a rewrite of an answer
/// already made; and a render nobody waits for any more is given up, so hang-ups cost little CPU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_distinct_queries_are_bounded_and_abandoned_renders_stop() {
    use crate::common::process::Process;
    let sim = common::sim(10_000).await;
    let auth = sim.credentials(0);
    let exporter = Process::start(&[
        ("ZENLAYER_EXPORTER_API_URL", sim.url().to_string()),
        ("ZENLAYERCLOUD_ACCESS_KEY_ID", auth.access_key_id),
        ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", auth.access_key_secret),
        ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "60".into()),
        (METADATA.0, METADATA.1.into()),
    ]);
    // One client for the whole flood, built before it: a client built per request reads the platform's trust
    // roots each time, and 256 of those in a row, while the first connections wait for their request to be sent,
    // outlast the server's 10 s wait for a request on a loaded machine (it then closes them, rightly). Nothing is
    // pooled, so every request is still a connection of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let sd = |query: String| {
        let url = exporter.url(&format!("/sd?{query}"));
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").is_some();
            let body = response.bytes().await.unwrap();
            (status, retry_after, body)
        }
    };
    let first = eventually("metadata, so /sd answers", || async {
        let answer = sd("port=9100".into()).await;
        (answer.0 == 200).then_some(answer.2)
    })
    .await;
    let targets = serde_json::from_slice::<Value>(&first)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert!(targets > 1000, "{targets}");
    let (rss, threads_before) = (exporter.peak_rss_mb(), exporter.status_field("Threads"));

    let threads = exporter.watch_threads();
    let answers =
        futures_util::future::join_all((0..256).map(|i| sd(format!("port={}", 10_000 + i)))).await;
    let most = threads.most();
    drop(threads);
    let ok: Vec<_> = answers.iter().filter(|a| a.0 == 200).collect();
    let busy = answers.iter().filter(|a| a.0 == 503 && a.1).count();
    let peak = exporter.peak_rss_mb();
    eprintln!(
        "256 ports at once: {} answered, {busy} refused; threads {threads_before} before, {most} at most; \
         peak resident memory {rss:.1} MB before, {peak:.1} MB after",
        ok.len()
    );
    assert_eq!(ok.len() + busy, 256);
    assert!(
        !ok.is_empty() && busy > 0,
        "{} answered, {busy} refused",
        ok.len()
    );
    for (status, _, body) in &ok {
        let groups: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(groups.as_array().unwrap().len(), targets, "{status}");
    }
    let body = common::get(&exporter.url("/metrics")).await.1;
    assert_eq!(
        sample(
            &body,
            "zenlayer_exporter_http_requests_rejected_total{reason=\"sd_busy\"}"
        ),
        Some(busy as f64)
    );
    assert!(
        most <= threads_before + 4,
        "threads: {threads_before} before, {most} during"
    );
    assert!(
        peak < rss + 64.0,
        "peak resident memory {rss:.1} MB before, {peak:.1} MB after"
    );

    // What one render costs, then a hundred whose clients hang up: given up, they cost far less than a hundred.
    let cpu = exporter.cpu_seconds();
    assert_eq!(sd("port=1&status=RUNNING,STOPPED".into()).await.0, 200);
    let one = exporter.cpu_seconds() - cpu;
    let cpu = exporter.cpu_seconds();
    let hang_ups = (0..100).map(|i| {
        tokio::time::timeout(
            std::time::Duration::from_millis(10),
            sd(format!("port=1&status=RUNNING,GONE{i}")),
        )
    });
    let _ = futures_util::future::join_all(hang_ups).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let hundred = exporter.cpu_seconds() - cpu;
    eprintln!("one render: {one:.2} s of CPU; 100 renders hung up on: {hundred:.2} s");
    assert!(
        hundred < 5.0 * one.max(0.05),
        "one render {one:.2} s, 100 hung up on {hundred:.2} s"
    );
    // The cache still answers.
    assert_eq!(sd("port=9100".into()).await.0, 200);
}

/// A shard that owns no account of the file has no targets, and never will until the file changes: `[]`, not the
/// 503 that tells Prometheus to wait for a metadata poll that has nothing to poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_shard_answers_an_empty_list() {
    let sim = common::accounts_sim(2, 4).await;
    let dir = common::scratch("sd-empty-shard");
    std::fs::write(dir.join("accounts.yml"), sim.accounts_file()).unwrap();
    let total = 8;
    let owners: Vec<u32> = (0..2)
        .map(|i| {
            zenlayer_exporter::names::AccountName::new(&Simulator::account_name(i))
                .unwrap()
                .shard(total)
        })
        .collect();
    let empty = (0..total)
        .find(|s| !owners.contains(s))
        .unwrap()
        .to_string();
    let exporter = Exporter::start(common::accounts_config(
        &dir.join("accounts.yml"),
        &[
            METADATA,
            ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "8"),
            ("ZENLAYER_EXPORTER_SHARD", &empty),
        ],
    ))
    .await;
    common::eventually("serving", || async {
        (common::get(&exporter.url("/healthz")).await.0 == 200).then_some(())
    })
    .await;
    let answer = sd(&exporter, "port=9100").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap().trim(), "[]");
}

/// A real Prometheus discovers node_exporter-style targets from `/sd`, relabeled as the docs show: the instance
/// name becomes `instance`, and only instances tagged `env=prod` are kept. Every address is on loopback (the
/// simulator's metadata is overridden), so Prometheus' scrapes of them stay on this machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_discovers_the_fleet_from_sd_and_follows_it() {
    let sim = common::sim(12).await;
    let loopback = |n: usize, env: &str| MetadataOverride {
        set: [
            (
                "privateIpAddresses".to_owned(),
                json!([format!("127.0.0.{}", 10 + n)]),
            ),
            (
                "tags".to_owned(),
                json!({"tags": [{"key": "env", "value": env}]}),
            ),
        ]
        .into_iter()
        .collect(),
        remove: Vec::new(),
    };
    {
        let mut state = sim.state();
        let ids = state.fleet.ids();
        for (n, id) in ids.iter().enumerate() {
            let env = if n % 3 == 0 { "staging" } else { "prod" };
            state
                .metadata_overrides
                .insert(id.clone(), loopback(n, env));
            state
                .fleet
                .set_status(id, if n == 1 { "STOPPED" } else { "RUNNING" });
        }
        state
            .metadata_overrides
            .insert("900000000000000002".into(), loopback(99, "prod"));
    }
    let exporter = Exporter::start(config_for(&sim, &[METADATA])).await;
    // Nothing listens there: each scrape is refused at once, on loopback.
    let port = common::free_port();
    let dir = TempDir::new("prometheus-sd");
    let prometheus = Prometheus::start(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
             scrape_configs:\n  - job_name: node\n    http_sd_configs:\n      - url: http://{}/sd?port={port}\n        refresh_interval: 1s\n\
             \x20   relabel_configs:\n      - source_labels: [__meta_zenlayer_tag_env]\n        regex: prod\n        action: keep\n\
             \x20     - source_labels: [__meta_zenlayer_instance_name]\n        target_label: instance\n\
             \x20     - source_labels: [__meta_zenlayer_zone_id]\n        target_label: zone\n",
            exporter.addr
        ),
    )
    .await;
    // What Prometheus should list: RUNNING, tagged prod, as (address, instance, zone).
    let want = || -> BTreeSet<[String; 3]> {
        expected(&truth(&sim), "privateIpAddresses", port, &["RUNNING"], None)
            .into_iter()
            .filter(|(_, l)| l["__meta_zenlayer_tag_env"] == "prod")
            .map(|(target, l)| {
                [
                    target,
                    l["__meta_zenlayer_instance_name"].clone(),
                    l["__meta_zenlayer_zone_id"].clone(),
                ]
            })
            .collect()
    };
    let listed = || async {
        let answer = prometheus
            .api("/api/v1/targets", &[("state", "active")])
            .await;
        let targets = answer["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        targets
            .iter()
            .map(|t| {
                let label = |k: &str| t["labels"][k].as_str().unwrap_or("").to_owned();
                assert_eq!(label("job"), "node");
                [
                    t["discoveredLabels"]["__address__"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    label("instance"),
                    label("zone"),
                ]
            })
            .collect::<BTreeSet<_>>()
    };
    let before = want();
    assert_eq!(before.len(), 7, "11 RUNNING of 12, 4 of them staging");
    eventually("Prometheus to list the prod fleet", || async {
        (listed().await == before).then_some(())
    })
    .await;

    // Released, created, stopped: Prometheus follows within its refresh.
    {
        let mut state = sim.state();
        let prod_running: Vec<String> = state
            .fleet
            .instances()
            .iter()
            .filter(|i| {
                i.status == "RUNNING" && state.metadata_row(i)["tags"]["tags"][0]["value"] == "prod"
            })
            .map(|i| i.id.clone())
            .collect();
        state.fleet.remove(&prod_running[0]);
        state.fleet.set_status(&prod_running[1], "STOPPED");
        state
            .fleet
            .insert("900000000000000002".into(), "RUNNING".into());
    }
    let after = want();
    assert_eq!(
        after.len(),
        6,
        "one prod target released, one stopped, one created"
    );
    assert_ne!(after, before);
    assert!(after.iter().any(|t| t[0] == format!("127.0.0.109:{port}")));
    let changed = std::time::Instant::now();
    let running_prod: BTreeSet<String> = after.iter().map(|t| t[0].clone()).collect();
    eventually("/sd to follow the fleet", || async {
        let answer = sd(&exporter, &format!("port={port}")).await;
        let groups = groups(&serde_json::from_slice(&answer.bytes().await.ok()?).ok()?);
        let prod: BTreeSet<String> = groups
            .into_iter()
            .filter(|(_, l)| l["__meta_zenlayer_tag_env"] == "prod")
            .map(|(t, _)| t)
            .collect();
        (prod == running_prod).then_some(())
    })
    .await;
    eprintln!(
        "/sd answered the changed fleet after {:?}",
        changed.elapsed()
    );
    eventually("Prometheus to follow the fleet", || async {
        (listed().await == after).then_some(())
    })
    .await;
    eprintln!(
        "Prometheus listed the changed fleet after {:?}",
        changed.elapsed()
    );
}

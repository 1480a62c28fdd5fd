//! Several accounts in one exporter, against a simulator serving several accounts over real HTTP: each account's
//! series are its own fleet exactly; a failing or hanging account is visible on its own series while the others
//! keep updating; `/probe` serves one account from the cache; the accounts file is reloaded (an account added,
//! removed, its credentials rotated, a broken file kept out); shards split the accounts exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::time::Duration;

use zenlayer_exporter::sim::{Fault, FaultRule, FleetChange, SimCredentials, Simulator};

use crate::common;
use common::{Exporter, accounts_config, eventually, get, sample, scratch, series};

/// `(account, id, status)` of every `zenlayer_instance_status` series valued 1, sorted.
fn statuses_by_account(body: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (mut labels, value) in series(body, "zenlayer_instance_status") {
        if value == 1.0 {
            out.entry(labels.remove("account").expect("account label"))
                .or_default()
                .push((labels["instance_id"].clone(), labels["status"].clone()));
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

fn truth(sim: &Simulator) -> BTreeMap<String, Vec<(String, String)>> {
    (0..sim.accounts_len())
        .map(|i| (Simulator::account_name(i), sim.account(i).ground_truth()))
        .collect()
}

fn up(body: &str, account: &str) -> Option<f64> {
    sample(body, &format!("zenlayer_up{{account=\"{account}\"}}"))
}

async fn start(sim: &Simulator, name: &str) -> (Exporter, std::path::PathBuf) {
    let dir = scratch(name);
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    (Exporter::start(accounts_config(&file, &[])).await, file)
}

#[tokio::test]
async fn every_account_is_its_own_fleet_exactly() {
    let sim = common::accounts_sim(3, 40).await;
    let (exporter, _) = start(&sim, "accounts-truth").await;
    let body = exporter
        .metrics_until("every account polled", |b| {
            (0..3).all(|i| up(b, &Simulator::account_name(i)) == Some(1.0))
        })
        .await;
    let served = statuses_by_account(&body);
    assert_eq!(served, truth(&sim));
    // Three different fleets, not one served three times.
    let ids: BTreeSet<&String> = served.values().flatten().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 120);
    // Every series of an account carries its label, the poll and API self-metrics included.
    for name in [
        "zenlayer_instances",
        "zenlayer_exporter_polls_total",
        "zenlayer_exporter_api_requests_total",
        "zenlayer_exporter_last_poll_success_timestamp_seconds",
        "zenlayer_exporter_poll_duration_seconds_count",
    ] {
        let found = series(&body, name);
        assert!(!found.is_empty(), "{name} served");
        assert!(
            found.iter().all(|(l, _)| l.contains_key("account")),
            "{name}"
        );
    }
    // Each family once, under one HELP and TYPE, as promtool checks it.
    assert_eq!(body.matches("# TYPE zenlayer_up gauge").count(), 1);
    assert_eq!(
        body.matches("# TYPE zenlayer_instance_status gauge")
            .count(),
        1
    );
    let owned: BTreeSet<String> = series(&body, "zenlayer_exporter_account_owned")
        .into_iter()
        .map(|(l, _)| l["account"].clone())
        .collect();
    assert_eq!(owned, truth(&sim).into_keys().collect());
    assert_eq!(
        sample(&body, "zenlayer_exporter_config_last_reload_successful"),
        Some(1.0)
    );

    // The landing page lists the accounts with their last poll; readiness waits for none now.
    let (status, page) = get(&exporter.url("/")).await;
    assert_eq!(status, 200);
    for i in 0..3 {
        assert!(page.contains(&format!("/probe?account=sim-{i}")), "{page}");
    }
    assert!(page.contains("succeeded"), "{page}");
    assert_eq!(get(&exporter.url("/readyz")).await.0, 200);
}

/// Every account's calls pass one gate of `TOTAL_CONCURRENCY` in flight, each account's own budget first: a thousand
/// accounts starting together share a few hundred connections rather than open one per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calls_of_every_account_together_stay_within_the_total() {
    let sim = common::accounts_sim(6, 100).await;
    sim.set_latency(Duration::from_millis(20));
    let file = scratch("accounts-total").join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    let config = accounts_config(
        &file,
        &[
            ("ZENLAYER_EXPORTER_PAGE_SIZE", "10"),
            ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "4"),
            ("ZENLAYER_EXPORTER_TOTAL_CONCURRENCY", "3"),
        ],
    );
    let exporter = Exporter::start(config).await;
    let body = exporter
        .metrics_until("every account polled", |b| {
            (0..6).all(|i| up(b, &Simulator::account_name(i)) == Some(1.0))
        })
        .await;
    assert_eq!(statuses_by_account(&body), truth(&sim));
    // Six accounts of ten pages each, four calls in flight apiece, would have had 24 at once: the gate let 3 through,
    // and no account's walk was starved of them.
    assert_eq!(sim.max_in_flight(), 3);
    // The time calls waited for the gate is served, for operators to see when it holds calls back.
    let waited = sample(&body, "zenlayer_exporter_api_gate_wait_seconds_total");
    assert!(waited.is_some_and(|s| s > 0.0), "{waited:?}");
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

/// A hanging account holds no more of the process's gate than its own budget: it takes its account's slot before a
/// place in the gate, so its other calls wait on its budget, not in the gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_account_holds_no_more_of_the_total_than_its_budget() {
    let sim = common::accounts_sim(3, 20).await;
    let file = scratch("accounts-total-hang").join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    // A budget of one call an account, two for the process. Each account has a status poll and a metadata poll
    // that both want calls.
    let mut config = accounts_config(
        &file,
        &[
            ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "1"),
            ("ZENLAYER_EXPORTER_TOTAL_CONCURRENCY", "2"),
            ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "1"),
        ],
    );
    config.poll_interval = Duration::from_millis(300);
    // Far past the wait for the others below: were sim-2 to hold the whole gate, they would wait this long.
    config.request_timeout = Duration::from_secs(120);
    config.poll_timeout = Duration::from_secs(300);
    let exporter = Exporter::start(config).await;
    let status_polls = |body: &str, account: &str| -> f64 {
        series(body, "zenlayer_exporter_polls_total")
            .into_iter()
            .filter(|(l, _)| {
                l.get("account").map(String::as_str) == Some(account)
                    && l.get("action").map(String::as_str) == Some("DescribeInstancesStatus")
            })
            .map(|(_, n)| n)
            .sum()
    };
    let body = exporter
        .metrics_until("every account polled", |b| {
            (0..3).all(|i| up(b, &Simulator::account_name(i)) == Some(1.0))
        })
        .await;
    // From now on every call of sim-2 hangs: its status call holds its one slot, and its metadata call waits for it.
    sim.account(2)
        .plan
        .rules
        .push(FaultRule::always(Fault::Hang));
    let before = [status_polls(&body, "sim-0"), status_polls(&body, "sim-1")];
    // sim-2 holds 1 of the 2; the others' calls go through the other, poll after poll, for longer than the metadata
    // interval (past sim-2's next metadata poll).
    exporter
        .metrics_until("sim-0 and sim-1 keep polling while sim-2 hangs", |b| {
            status_polls(b, "sim-0") >= before[0] + 8.0
                && status_polls(b, "sim-1") >= before[1] + 8.0
        })
        .await;
    assert!(sim.max_in_flight() <= 2, "{}", sim.max_in_flight());
    sim.account(2).plan.rules.clear();
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn a_failing_or_hanging_account_never_holds_the_others_back() {
    let sim = common::accounts_sim(3, 20).await;
    let (exporter, _) = start(&sim, "accounts-isolation").await;
    exporter
        .metrics_until("every account polled", |b| {
            (0..3).all(|i| up(b, &Simulator::account_name(i)) == Some(1.0))
        })
        .await;
    // sim-1's key is revoked; sim-2's API hangs on every call (each call waits out the 5 s request timeout).
    sim.set_account_credentials(1, SimCredentials::account(99));
    sim.account(2)
        .plan
        .rules
        .push(FaultRule::always(Fault::Hang));
    // A scrape reads each counter as it is then: the failure is waited for with `up`.
    exporter
        .metrics_until("sim-1 down, refused", |b| {
            up(b, "sim-1") == Some(0.0)
                && sample(
                    b,
                    "zenlayer_exporter_poll_failures_total{account=\"sim-1\",action=\"DescribeInstancesStatus\",reason=\"auth\"}",
                )
                .is_some_and(|n| n >= 1.0)
        })
        .await;
    // Meanwhile sim-0 keeps following its fleet, poll after poll.
    for round in 0..3 {
        let id = sim.account(0).ground_truth()[round].0.clone();
        sim.account(0).apply(FleetChange::SetStatus {
            id: id.clone(),
            status: "STOPPED".into(),
        });
        let body = exporter
            .metrics_until("sim-0 follows its fleet", |b| {
                statuses_by_account(b).get("sim-0") == Some(&sim.account(0).ground_truth())
            })
            .await;
        assert_eq!(up(&body, "sim-0"), Some(1.0));
        // The failing account keeps its last good snapshot.
        assert_eq!(
            statuses_by_account(&body)["sim-1"],
            sim.account(1).ground_truth()
        );
    }
    sim.account(2).plan.rules.clear();
}

#[tokio::test]
async fn probe_serves_one_account_without_its_label() {
    let sim = common::accounts_sim(2, 15).await;
    let (exporter, _) = start(&sim, "accounts-probe").await;
    exporter
        .metrics_until("every account polled", |b| {
            up(b, "sim-0") == Some(1.0) && up(b, "sim-1") == Some(1.0)
        })
        .await;
    let (status, body) = get(&exporter.url("/probe?account=sim-1")).await;
    assert_eq!(status, 200);
    assert!(!body.contains("account="), "no account label");
    assert!(!body.contains("process_") && !body.contains("zenlayer_exporter_build_info"));
    assert_eq!(sample(&body, "zenlayer_up"), Some(1.0));
    // Without its account, but with its product, on its own series and the instances'.
    assert_eq!(sample(&body, "zenlayer_up{product=\"vm\"}"), Some(1.0));
    assert!(
        body.contains("zenlayer_instance_status{product=\"vm\",instance_id="),
        "{body}"
    );
    assert_eq!(
        common::instance_statuses(&body),
        sim.account(1).ground_truth()
    );
    assert!(
        sample(
            &body,
            "zenlayer_exporter_polls_total{action=\"DescribeInstancesStatus\"}"
        )
        .unwrap()
            >= 1.0
    );
    // promtool accepts it as it accepts /metrics.
    let (ok, findings) = crate::exposition::promtool_check(&body);
    assert!(ok, "{findings}");
    let (ok, findings) = crate::exposition::promtool_check(&exporter.metrics().await);
    assert!(ok, "{findings}");

    // Gzip: the same bytes, one member.
    let response = common::client()
        .get(exporter.url("/probe?account=sim-1"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut plain)
        .unwrap();
    let again = get(&exporter.url("/probe?account=sim-1")).await.1;
    assert_eq!(
        common::instance_statuses(&plain),
        common::instance_statuses(&again)
    );

    for (query, code, says) in [
        ("", 400, "missing parameter"),
        ("?account=", 400, "bad account"),
        ("?account=Bad.Name", 400, "bad account"),
        ("?account=sim-0&account=sim-1", 400, "more than once"),
        ("?account=nobody", 404, "unknown account nobody"),
    ] {
        let (status, text) = get(&exporter.url(&format!("/probe{query}"))).await;
        assert_eq!((status, text.lines().count()), (code, 1), "{query}: {text}");
        assert!(text.contains(says), "{query}: {text}");
    }
}

/// The first `/probe` of a rendering renders the account's whole fleet without its label: on a blocking thread,
/// so the runtime goes on answering. The exporter runs on a runtime of one thread of its own: were the render
/// on it, `/healthz` could not be answered before the render ends and the probe's answer is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_probe_of_a_large_account_renders_off_the_runtime() {
    let sim = common::accounts_sim(1, 50_000).await;
    let dir = scratch("accounts-probe-blocking");
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    let mut config = accounts_config(&file, &[]);
    config.poll_interval = Duration::from_secs(60);
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let exporter = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let _ = addr_tx.send(listener.local_addr().unwrap());
            zenlayer_exporter::run(config, listener, Default::default(), async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.await.unwrap();
    let url = |path: &str| format!("http://{addr}{path}");
    eventually("polled", || async {
        (get(&url("/readyz")).await.0 == 200).then_some(())
    })
    .await;
    let probe = tokio::spawn({
        let url = url("/probe?account=sim-0");
        async move {
            let response = common::client().get(url).send().await.unwrap();
            let answered = std::time::Instant::now();
            let body = response.text().await.unwrap();
            (answered, body)
        }
    });
    // Long enough for the request to arrive; far shorter than rendering 50,000 instances.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _) = get(&url("/healthz")).await;
    let healthy = std::time::Instant::now();
    let (answered, body) = probe.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body.matches("zenlayer_instance_status{").count(), 50_000);
    assert!(
        healthy < answered,
        "/healthz waited for the /probe render ({:?} after it)",
        healthy - answered
    );
    let _ = stop_tx.send(());
    exporter.join().unwrap();
}

#[tokio::test]
async fn probe_is_not_found_without_an_accounts_file() {
    let sim = common::sim(5).await;
    let exporter = Exporter::start(common::config_for(&sim, &[])).await;
    let (status, text) = get(&exporter.url("/probe?account=prod")).await;
    assert_eq!(status, 404);
    assert!(text.contains("no accounts file"), "{text}");
}

#[tokio::test]
async fn the_accounts_file_is_reloaded_without_a_restart() {
    let sim = common::accounts_sim(3, 10).await;
    let dir = scratch("accounts-reload");
    let file = dir.join("accounts.yml");
    let full = sim.accounts_file();
    // Start with sim-0 and sim-1 only; sim-1's secret in a file beside it, named relative to it.
    let entries: Vec<&str> = full.split("  - name: ").skip(1).collect();
    let secret = SimCredentials::account(1).access_key_secret;
    std::fs::write(dir.join("sim-1.secret"), format!("{secret}\n")).unwrap();
    let sim1 = entries[1].replace(
        &format!("access_key_password: {secret}"),
        "access_key_password_file: sim-1.secret",
    );
    std::fs::write(
        &file,
        format!("accounts:\n  - name: {}  - name: {sim1}", entries[0]),
    )
    .unwrap();
    let exporter = Exporter::start(accounts_config(&file, &[])).await;
    exporter
        .metrics_until("two accounts", |b| {
            up(b, "sim-0") == Some(1.0) && up(b, "sim-1") == Some(1.0)
        })
        .await;
    assert_eq!(up(&exporter.metrics().await, "sim-2"), None);

    // Added: sim-2 starts polling.
    std::fs::write(&file, &full).unwrap();
    let body = exporter
        .metrics_until("sim-2 added", |b| up(b, "sim-2") == Some(1.0))
        .await;
    assert_eq!(
        statuses_by_account(&body)["sim-2"],
        sim.account(2).ground_truth()
    );

    // Broken: the accounts in use keep polling, the gauge says so.
    std::fs::write(&file, "accounts:\n  - name: Not Valid\n    colour: blue\n").unwrap();
    let body = exporter
        .metrics_until("reload failure shown", |b| {
            sample(b, "zenlayer_exporter_config_last_reload_successful") == Some(0.0)
        })
        .await;
    assert_eq!(statuses_by_account(&body).len(), 3);

    // Removed: sim-0 goes, and every series of it.
    std::fs::write(
        &file,
        format!("accounts:\n  - name: {sim1}  - name: {}", entries[2]),
    )
    .unwrap();
    let body = exporter
        .metrics_until("sim-0 removed", |b| {
            !b.contains("account=\"sim-0\"")
                && sample(b, "zenlayer_exporter_config_last_reload_successful") == Some(1.0)
        })
        .await;
    assert_eq!(
        statuses_by_account(&body).into_keys().collect::<Vec<_>>(),
        ["sim-1", "sim-2"]
    );
    assert_eq!(get(&exporter.url("/probe?account=sim-0")).await.0, 404);

    // Rotated: the API takes a new secret for sim-1; until the file has it, sim-1 fails, then recovers.
    let rotated = SimCredentials {
        access_key_secret: "sim-secret-rotated".into(),
        ..SimCredentials::account(1)
    };
    sim.set_account_credentials(1, rotated);
    exporter
        .metrics_until("sim-1 refused", |b| up(b, "sim-1") == Some(0.0))
        .await;
    std::fs::write(dir.join("sim-1.secret"), "sim-secret-rotated\n").unwrap();
    exporter
        .metrics_until("sim-1 back with the rotated secret", |b| {
            up(b, "sim-1") == Some(1.0)
        })
        .await;
}

/// Changing one account of a file of several (its products, here) restarts that account alone: every other one
/// keeps its polls going (its counters carry on, never back to zero, which a restarted account's would be) and
/// keeps serving its fleet throughout, and an unchanged file costs nothing to re-read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_account_restarts_that_account_alone() {
    const ACCOUNTS: usize = 6;
    let sim = common::accounts_sim(ACCOUNTS, 20).await;
    let dir = scratch("accounts-one-change");
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    let exporter = Exporter::start(accounts_config(&file, &[])).await;
    let polls = |b: &str, i: usize| {
        sample(
            b,
            &format!(
                "zenlayer_exporter_polls_total{{account=\"{}\",action=\"DescribeInstancesStatus\",product=\"vm\"}}",
                Simulator::account_name(i)
            ),
        )
        .unwrap_or(0.0)
    };
    let before = exporter
        .metrics_until("every account polled a few times", |b| {
            (0..ACCOUNTS).all(|i| polls(b, i) >= 5.0)
        })
        .await;
    // sim-3 reads ZEC too: its polls start afresh.
    let changed = sim.accounts_file().replacen(
        "\n  - name: sim-4",
        "\n    products: [vm, zec]\n  - name: sim-4",
        1,
    );
    assert_ne!(changed, sim.accounts_file());
    std::fs::write(&file, changed).unwrap();
    let after = exporter
        .metrics_until("sim-3 restarted with ZEC", |b| {
            b.contains("zenlayer_up{account=\"sim-3\",product=\"zec\"} 1")
        })
        .await;
    assert!(
        polls(&after, 3) < polls(&before, 3),
        "sim-3 started afresh: {} polls after, {} before",
        polls(&after, 3),
        polls(&before, 3)
    );
    for i in (0..ACCOUNTS).filter(|i| *i != 3) {
        assert!(
            polls(&after, i) > polls(&before, i),
            "{} kept polling: {} polls after, {} before",
            Simulator::account_name(i),
            polls(&after, i),
            polls(&before, i)
        );
    }
    // The others' fleets are served as they are, at the moment sim-3 has only just started again (its first VM
    // poll may not have finished yet).
    let others = |mut by_account: BTreeMap<String, Vec<(String, String)>>| {
        by_account.remove("sim-3");
        by_account
    };
    assert_eq!(others(statuses_by_account(&after)), others(truth(&sim)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn shards_poll_every_account_exactly_once() {
    let sim = common::accounts_sim(12, 3).await;
    let dir = scratch("accounts-shards");
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    let mut owned_by_shard = Vec::new();
    // The third shard is named as a StatefulSet's pod is.
    for shard in ["0", "1", "zenlayer-exporter-2"] {
        let exporter = Exporter::start(accounts_config(
            &file,
            &[
                ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "3"),
                ("ZENLAYER_EXPORTER_SHARD", shard),
            ],
        ))
        .await;
        let body = exporter
            .metrics_until("the shard's accounts polled", |b| {
                let owned = series(b, "zenlayer_exporter_account_owned");
                owned.iter().all(|(l, _)| up(b, &l["account"]) == Some(1.0))
            })
            .await;
        let owned: BTreeSet<String> = series(&body, "zenlayer_exporter_account_owned")
            .into_iter()
            .map(|(l, _)| {
                assert_eq!(l["total_shards"], "3");
                l["account"].clone()
            })
            .collect();
        let polled: BTreeSet<String> = statuses_by_account(&body).into_keys().collect();
        assert_eq!(owned, polled, "a shard serves exactly what it owns");
        owned_by_shard.push(owned);
    }
    let mut union = BTreeSet::new();
    for owned in &owned_by_shard {
        assert!(
            union.is_disjoint(owned),
            "an account on two shards: {owned_by_shard:?}"
        );
        union.extend(owned.iter().cloned());
    }
    assert_eq!(union, truth(&sim).into_keys().collect());
    assert!(
        owned_by_shard.iter().all(|o| !o.is_empty()),
        "12 accounts over 3 shards leave none empty: {owned_by_shard:?}"
    );
}

#[tokio::test]
async fn a_hanging_account_does_not_delay_readiness_of_the_others_forever() {
    // An account whose first poll never ends keeps /readyz at 503 naming it, until its poll times out.
    let sim = common::accounts_sim(2, 5).await;
    sim.account(1)
        .plan
        .rules
        .push(FaultRule::always(Fault::Hang));
    let dir = scratch("accounts-ready");
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    let mut config = accounts_config(&file, &[]);
    config.request_timeout = Duration::from_millis(300);
    config.poll_timeout = Duration::from_secs(1);
    config.max_retries = 0;
    let exporter = Exporter::start(config).await;
    let (status, text) = get(&exporter.url("/readyz")).await;
    assert_eq!(status, 503);
    assert!(text.contains("sim-1"), "{text}");
    eventually("ready once sim-1's first poll has failed", || async {
        (get(&exporter.url("/readyz")).await.0 == 200).then_some(())
    })
    .await;
    let body = exporter.metrics().await;
    assert_eq!(up(&body, "sim-1"), Some(0.0));
    assert_eq!(up(&body, "sim-0"), Some(1.0));
}

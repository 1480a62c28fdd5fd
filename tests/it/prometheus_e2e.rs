//! The deployment files against a real Prometheus server (Debian's `prometheus` package), started by the test
//! and scraping the exporter, which polls the simulator: every dashboard query and every rule parses and returns
//! data, the STOPPED alert goes pending then firing for exactly the stopped instances and resolves when they
//! boot, bare metal's hardware and maintenance alerts fire for their servers, naming them, and the blind-exporter alerts fire (with STOPPED alerts kept) when the API refuses the credentials and
//! when the exporter goes away. Every wait polls Prometheus' API under a deadline.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use std::collections::BTreeMap;

use serde_json::Value;
use zenlayer_exporter::sim::SimCredentials;
use zenlayer_exporter::sim::metadata::{MetadataOverride, iso8601};

use crate::bare_metal::Trouble;
use crate::common;
use common::prometheus::{Prometheus, TempDir};
use common::tools::render_mixin;
use common::{Exporter, eventually};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `for:` is shortened so the test sees pending and firing in seconds; expressions are the real ones.
const TEST_FOR: &str = "for: 4s";

/// The alert rules in `file` with every `for:` shortened.
fn test_rules(file: &Path) -> String {
    let rules = std::fs::read_to_string(file).unwrap();
    rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}{TEST_FOR}", &l[..l.len() - l.trim_start().len()]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn start_prometheus(target: std::net::SocketAddr) -> Prometheus {
    let dir = TempDir::new("prometheus");
    let rules = test_rules(&Path::new(ROOT).join("deploy/prometheus/alerts.yml"));
    std::fs::write(dir.0.join("alerts.yml"), rules).unwrap();
    Prometheus::start(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             rule_files: [alerts.yml]\n\
             scrape_configs:\n  - job_name: zenlayer-exporter\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .await
}

/// Substitutes the dashboard's variables the way Grafana would with "All" selected.
fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$__interval", "15s")
        .replace("$job", ".*")
        .replace("$account", ".*")
        .replace("$product", ".*")
        .replace("$status", ".*")
        .replace("$instance_id", ".*")
        .replace("$instance", ".*")
        .replace("$zone", ".*")
}

/// The PromQL examples of docs/metadata.md.
fn documented_metadata_queries() -> Vec<String> {
    let section = std::fs::read_to_string(Path::new(ROOT).join("docs/metadata.md")).unwrap();
    let block = section
        .split("```promql\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a promql block");
    let mut queries = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            if !current.trim().is_empty() {
                queries.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        queries.push(current);
    }
    queries
}

fn dashboard_queries() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("grafana/dashboards/zenlayer-fleet.json"))
            .unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                panel["title"].as_str().unwrap().to_owned(),
                target["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            // label_values(SELECTOR, LABEL) is Grafana's; its series part is plain PromQL.
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap();
            let (selector, _label) = inner.rsplit_once(',').unwrap();
            out.push((format!("variable {}", var["name"]), selector.to_owned()));
        }
    }
    out
}

/// The expression of every rule in the real rules file, and every metric name it reads.
fn rule_expressions() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/alerts.yml")).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    let mut name = String::new();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if let Some(n) = t.strip_prefix("- alert: ").or(t.strip_prefix("- record: ")) {
            name = n.to_owned();
        } else if let Some(expr) = t.strip_prefix("expr: ") {
            let indent = line.len() - t.len();
            let mut body = if expr == "|" {
                String::new()
            } else {
                expr.to_owned()
            };
            while let Some(next) = lines.peek() {
                let nt = next.trim_start();
                if expr != "|" || (!next.trim().is_empty() && next.len() - nt.len() <= indent) {
                    break;
                }
                body.push_str(nt);
                body.push('\n');
                lines.next();
            }
            out.push((name.clone(), body));
        }
    }
    out
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if expr[i..].starts_with("zenlayer_")
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b':'))
        {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |e| i + e);
            names.insert(expr[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_dashboard_against_a_real_prometheus() {
    // Sixteen VM instances, and six bare-metal servers for the hardware and maintenance alerts.
    let sim = common::vm_and_bare_metal(16, 6).await;
    let trouble = Trouble::arrange(&sim);
    let stopped: BTreeSet<String> = {
        let mut state = sim.state();
        let ids = state.fleet.ids();
        for (i, id) in ids.iter().enumerate() {
            let status = match i {
                0 | 1 => "STOPPED",
                2 => "CREATE_FAILED",
                3 => "BOOTING",
                _ => "RUNNING",
            };
            state.fleet.set_status(id, status);
        }
        // Names and billing under control: the first STOPPED instance is the API reference's example; one
        // prepaid instance expires in three days without auto-renewal, two others must not warn.
        let epoch = state.epoch;
        let set = |fields: serde_json::Value| MetadataOverride {
            set: fields.as_object().unwrap().clone(),
            remove: Vec::new(),
        };
        for id in &ids {
            state.metadata_overrides.insert(
                id.clone(),
                set(serde_json::json!({"instanceChargeType": "POSTPAID", "expiredTime": null})),
            );
        }
        state.metadata_overrides.insert(
            ids[0].clone(),
            set(serde_json::json!({"instanceName": "web-fra-01", "zoneId": "FRA-A", "instanceChargeType": "POSTPAID"})),
        );
        for (i, days, renew) in [(5, 3, false), (6, 3, true), (7, 60, false)] {
            state.metadata_overrides.insert(
                ids[i].clone(),
                set(serde_json::json!({
                    "instanceChargeType": "PREPAID",
                    "expiredTime": iso8601(epoch + days * 86_400),
                    "autoRenew": renew,
                })),
            );
        }
        ids[..2].iter().cloned().collect()
    };
    let truth: BTreeMap<String, Value> = sim
        .state()
        .metadata_truth()
        .into_iter()
        .map(|r| (r["instanceId"].as_str().unwrap().to_owned(), r))
        .collect();
    let expiring: BTreeSet<String> = [sim.state().fleet.instances()[5].id.clone()].into();
    let mut config = common::every_poll(
        &sim,
        "vm,bmc",
        Duration::from_secs(1),
        &[("ZENLAYER_EXPORTER_TAG_LABELS", "env,team")],
    );
    // The metadata once, at start: its alert tests change no name.
    config.metadata_interval = Some(Duration::from_secs(300));
    config.poll_interval = Duration::from_millis(500);
    let exporter = Exporter::start(config).await;
    let prometheus = start_prometheus(exporter.addr).await;

    // The STOPPED alert: pending first, then firing, for exactly the stopped instances.
    let pending = eventually("STOPPED alerts pending", || async {
        let p = prometheus
            .alerts("ZenlayerInstanceStopped", "pending")
            .await;
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert!(pending.is_subset(&stopped), "{pending:?} vs {stopped:?}");
    eventually("STOPPED alerts firing", || async {
        (prometheus.alerts("ZenlayerInstanceStopped", "firing").await == stopped).then_some(())
    })
    .await;
    // Each names its instance and zone.
    let summaries = prometheus
        .summaries("ZenlayerInstanceStopped", "firing")
        .await;
    for id in &stopped {
        let expected = format!(
            "Zenlayer vm instance {} in {} is STOPPED",
            truth[id]["instanceName"].as_str().unwrap(),
            truth[id]["zoneId"].as_str().unwrap()
        );
        assert_eq!(summaries[id], expected);
    }
    let example = sim.state().fleet.instances()[0].id.clone();
    eprintln!(
        "STOPPED alert, as Alertmanager receives it: {}",
        summaries[&example]
    );
    assert_eq!(
        summaries[&example],
        "Zenlayer vm instance web-fra-01 in FRA-A is STOPPED"
    );
    // Bare metal's hardware and maintenance alerts name their servers and windows.
    trouble.assert_alerts(&prometheus).await;
    // The prepaid instance expiring without auto-renewal warns; the renewing and far-off ones do not.
    eventually("the expiry alert firing", || async {
        (prometheus
            .alerts("ZenlayerPrepaidInstanceExpiring", "firing")
            .await
            == expiring)
            .then_some(())
    })
    .await;
    let expiry_summary = prometheus
        .summaries("ZenlayerPrepaidInstanceExpiring", "firing")
        .await;
    let prepaid = expiring.iter().next().unwrap();
    assert!(
        expiry_summary[prepaid].starts_with(&format!(
            "Prepaid Zenlayer vm instance {} in {} expires in 2d 23h",
            truth[prepaid]["instanceName"].as_str().unwrap(),
            truth[prepaid]["zoneId"].as_str().unwrap()
        )),
        "{expiry_summary:?}"
    );
    // The documented joins return the names: the STOPPED instances with their names and zones first.
    let queries = documented_metadata_queries();
    assert_eq!(queries.len(), 3, "{queries:?}");
    let joined = prometheus.query(&queries[0]).await.unwrap();
    let named: BTreeMap<String, (String, String)> = joined
        .iter()
        .map(|s| {
            let m = &s["metric"];
            (
                m["instance_id"].as_str().unwrap().to_owned(),
                (
                    m["instance_name"].as_str().unwrap().to_owned(),
                    m["zone_id"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (String, String)> = stopped
        .iter()
        .map(|id| {
            let row = &truth[id];
            (
                id.clone(),
                (
                    row["instanceName"].as_str().unwrap().to_owned(),
                    row["zoneId"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(named, expected, "{}", queries[0]);
    for query in &queries[1..] {
        let result = prometheus.query(query).await.unwrap();
        assert!(!result.is_empty(), "{query}");
    }
    let expiring_now = prometheus.query(&queries[2]).await.unwrap();
    assert_eq!(expiring_now.len(), 1, "{expiring_now:?}");
    assert_eq!(expiring_now[0]["metric"]["instance_id"], prepaid.as_str());

    eventually("CREATE_FAILED alert firing", || async {
        (prometheus
            .alerts("ZenlayerInstanceFailed", "firing")
            .await
            .len()
            == 1)
            .then_some(())
    })
    .await;

    // Every dashboard query parses and returns data.
    for (panel, expr) in dashboard_queries() {
        let promql = grafana_to_promql(&expr);
        eventually(
            &format!("dashboard panel {panel:?} returning data"),
            || async {
                match prometheus.query(&promql).await {
                    Ok(result) => (!result.is_empty()).then_some(()),
                    Err(e) => panic!("panel {panel:?}: {e}"),
                }
            },
        )
        .await;
    }
    // Every rule parses and runs, and every metric it reads is served (a misspelt name would never match); the
    // accounts file's own metrics are checked by the test that has one.
    for (rule, expr) in rule_expressions() {
        prometheus
            .query(&expr)
            .await
            .unwrap_or_else(|e| panic!("rule {rule}: {e}"));
        for name in metric_names(&expr) {
            if ACCOUNTS_FILE_ONLY.contains(&name.as_str()) {
                continue;
            }
            assert_served(&prometheus, &rule, &name).await;
        }
    }

    // Booting the stopped instances resolves their alerts.
    for id in &stopped {
        sim.state().fleet.set_status(id, "RUNNING");
    }
    eventually("STOPPED alerts resolved", || async {
        let firing = prometheus.alerts("ZenlayerInstanceStopped", "firing").await;
        let pending = prometheus
            .alerts("ZenlayerInstanceStopped", "pending")
            .await;
        (firing.is_empty() && pending.is_empty()).then_some(())
    })
    .await;

    // One instance stops again; then the API refuses the credentials: polls fail, the alert stays.
    let again = stopped.iter().next().unwrap().clone();
    sim.state().fleet.set_status(&again, "STOPPED");
    let only_again: BTreeSet<String> = [again.clone()].into();
    eventually("the new STOPPED alert firing", || async {
        (prometheus.alerts("ZenlayerInstanceStopped", "firing").await == only_again).then_some(())
    })
    .await;
    sim.set_credentials(SimCredentials {
        access_key_id: "REVOKED".into(),
        access_key_secret: "revoked".into(),
        token: None,
    });
    prometheus.until_firing("ZenlayerPollsFailing").await;
    assert_eq!(
        prometheus.alerts("ZenlayerInstanceStopped", "firing").await,
        only_again,
        "kept while polls fail"
    );

    // The exporter goes away entirely: ExporterDown fires, and the STOPPED alert still does not resolve.
    exporter
        .stop_within(Duration::from_secs(20))
        .await
        .expect("exporter stops");
    prometheus.until_firing("ZenlayerExporterDown").await;
    // ExporterDown firing means the target has been down for its whole `for:`, many evaluations: the last
    // known STOPPED must still be firing.
    assert_eq!(
        prometheus.alerts("ZenlayerInstanceStopped", "firing").await,
        only_again,
        "kept while the target is down"
    );
}

/// The documented YAML of several accounts: the accounts file (the README's "Several accounts"), then the two
/// scrape configurations (docs/accounts.md, "Scraping").
fn documented_accounts_blocks() -> Vec<String> {
    let yaml_blocks = |file: &str, heading: &str| -> Vec<String> {
        let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        let section = text
            .split(&format!("\n## {heading}\n"))
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_else(|| panic!("a {heading} section in {file}"));
        section
            .split("```yaml\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap().to_owned())
            .collect()
    };
    let mut blocks = yaml_blocks("README.md", "Several accounts");
    blocks.extend(yaml_blocks("docs/accounts.md", "Scraping"));
    blocks
}

/// Fails unless Prometheus has a series of `name`, which `rule` reads (a misspelt name would never match).
async fn assert_served(prometheus: &Prometheus, rule: &str, name: &str) {
    let count = prometheus
        .query(&format!("count({{__name__=\"{name}\"}})"))
        .await
        .unwrap();
    assert!(
        !count.is_empty(),
        "rule {rule} reads {name}, which nothing serves"
    );
}

/// The metrics served only with an accounts file, which the rules about reloads and shards read.
const ACCOUNTS_FILE_ONLY: [&str; 3] = [
    "zenlayer_exporter_config_last_reload_successful",
    "zenlayer_exporter_account_owned",
    "zenlayer_exporter_accounts_file_accounts",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_accounts_against_a_real_prometheus() {
    let sim = common::accounts_sim(2, 6).await;
    let mut stopped = BTreeSet::new();
    for account in 0..2 {
        let mut state = sim.account(account);
        let ids = state.fleet.ids();
        for (i, id) in ids.iter().enumerate() {
            state
                .fleet
                .set_status(id, if i == 0 { "STOPPED" } else { "RUNNING" });
        }
        stopped.insert((format!("sim-{account}"), ids[0].clone()));
    }
    let dir = common::scratch("e2e-accounts");
    std::fs::write(dir.join("accounts.yml"), sim.accounts_file()).unwrap();
    let mut config = common::accounts_config(&dir.join("accounts.yml"), &[]);
    config.poll_interval = Duration::from_millis(500);
    let exporter = Exporter::start(config).await;

    // The two scrape configurations, as documented, pointed at this exporter and these accounts.
    let blocks = documented_accounts_blocks();
    assert_eq!(
        blocks.len(),
        3,
        "the accounts file and two scrape configurations"
    );
    let address = exporter.addr.to_string();
    let metrics_job = blocks[1].replace("zenlayer-exporter:9612", &address);
    let probe_job = blocks[2]
        .replace("job_name: zenlayer-exporter", "job_name: zenlayer-probe")
        .replace("[prod, staging]", "[sim-0, sim-1]")
        .replace("zenlayer-exporter:9612", &address);
    let jobs: String = [metrics_job, probe_job]
        .iter()
        .map(|b| {
            b.strip_prefix("scrape_configs:\n")
                .expect("a scrape_configs block")
        })
        .collect();
    // The mixin fitted to the two jobs by its selector, as an operator with both jobs would.
    let mixin = render_mixin(
        "e2e-accounts",
        &[(
            "config",
            r#"{selector: 'job=~"zenlayer-exporter|zenlayer-probe"'}"#,
        )],
    );
    let dir = TempDir::new("prometheus-accounts");
    std::fs::write(
        dir.0.join("alerts.yml"),
        test_rules(&mixin.join("alerts.yml")),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&mixin);
    let prometheus = Prometheus::start(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             rule_files: [alerts.yml]\nscrape_configs:\n{jobs}"
        ),
    )
    .await;

    // Both scrape configurations give the same STOPPED alerts, each with its account.
    let expected = |accounts: &[&str]| -> BTreeSet<[String; 3]> {
        ["zenlayer-exporter", "zenlayer-probe"]
            .iter()
            .flat_map(|job| {
                stopped
                    .iter()
                    .filter(|(a, _)| accounts.contains(&a.as_str()))
                    .map(|(a, id)| [job.to_string(), a.clone(), id.clone()])
            })
            .collect()
    };
    eventually(
        "STOPPED alerts firing for both accounts, in both jobs",
        || async {
            (prometheus
                .alerts_by_account("ZenlayerInstanceStopped", "firing")
                .await
                == expected(&["sim-0", "sim-1"]))
            .then_some(())
        },
    )
    .await;
    let summaries = prometheus
        .summaries("ZenlayerInstanceStopped", "firing")
        .await;
    for (account, id) in &stopped {
        assert!(
            summaries[id].contains(&format!("(account {account})")),
            "{summaries:?}"
        );
    }
    // The probe targets are up, one per account.
    let up = prometheus
        .query("up{job=\"zenlayer-probe\"}")
        .await
        .unwrap();
    assert_eq!(up.len(), 2, "{up:?}");

    // sim-1 goes blind (its key revoked); sim-0's STOPPED instance boots meanwhile.
    sim.set_account_credentials(1, SimCredentials::account(77));
    let booted = stopped
        .iter()
        .find(|(a, _)| a == "sim-0")
        .unwrap()
        .1
        .clone();
    sim.account(0).fleet.set_status(&booted, "RUNNING");
    let failing: BTreeSet<[String; 3]> = ["zenlayer-exporter", "zenlayer-probe"]
        .iter()
        .map(|job| [job.to_string(), "sim-1".to_owned(), String::new()])
        .collect();
    eventually("PollsFailing for sim-1 alone, in both jobs", || async {
        (prometheus
            .alerts_by_account("ZenlayerPollsFailing", "firing")
            .await
            == failing)
            .then_some(())
    })
    .await;
    // sim-0's alert resolved from live data; sim-1's kept from its last known status while it is blind.
    eventually("only the blind account's STOPPED alert left", || async {
        (prometheus
            .alerts_by_account("ZenlayerInstanceStopped", "firing")
            .await
            == expected(&["sim-1"]))
        .then_some(())
    })
    .await;

    // Every dashboard query parses with the Account variable at All.
    for (panel, expr) in dashboard_queries() {
        let promql = grafana_to_promql(&expr);
        prometheus
            .query(&promql)
            .await
            .unwrap_or_else(|e| panic!("panel {panel}: {e}"));
    }
    // The rules about reloads and shards read what an accounts file serves; with the file applied and one
    // shard owning both accounts, none of them fires.
    let mut read = BTreeSet::new();
    for (rule, expr) in rule_expressions() {
        for name in metric_names(&expr) {
            if !ACCOUNTS_FILE_ONLY.contains(&name.as_str()) {
                continue;
            }
            read.insert(name.clone());
            assert_served(&prometheus, &rule, &name).await;
            prometheus
                .query(&expr)
                .await
                .unwrap_or_else(|e| panic!("rule {rule}: {e}"));
        }
    }
    assert_eq!(read.len(), ACCOUNTS_FILE_ONLY.len(), "{read:?}");
    for alert in [
        "ZenlayerAccountsFileReloadFailed",
        "ZenlayerAccountUnowned",
        "ZenlayerAccountOwnedTwice",
        "ZenlayerShardsDisagree",
    ] {
        assert!(
            prometheus.alerts(alert, "pending").await.is_empty(),
            "{alert}"
        );
        assert!(
            prometheus.alerts(alert, "firing").await.is_empty(),
            "{alert}"
        );
    }
}

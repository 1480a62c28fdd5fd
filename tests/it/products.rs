//! Every product at once, as the default reads them: VM, ZEC and bare-metal fleets of one simulated account,
//! each polled, served under one `product` label and exactly its ground truth; bare metal's statuses and metadata
//! from one walk; a product the account may not read failing alone; an account's own `products` list; `/sd`
//! targets of every product; and the vendor's official Python SDK paging the simulated ZEC and bare-metal APIs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use zenlayer_exporter::sim::{Fault, FaultRule, SimOptions, Simulator};
use zenlayer_exporter::status::Known;
use zenlayer_exporter::zenlayer::product::Product;

use crate::common;
use common::{Exporter, config_for, get, sample, series};

const EVERY: (&str, &str) = ("ZENLAYER_EXPORTER_PRODUCTS", "vm,zec,bmc");
const METADATA: (&str, &str) = ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300");

/// One account with a fleet of each product.
async fn fleets(accounts: usize) -> Simulator {
    Simulator::start(SimOptions {
        instances: 40,
        products: vec![(Product::Zec, 30), (Product::Bmc, 20)],
        accounts,
        seed: 5,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

/// The (id, status) pairs a scrape serves for `product` (of `account`, when named), sorted.
fn statuses(body: &str, product: Product, account: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = series(body, "zenlayer_instance_status")
        .into_iter()
        .filter(|(labels, value)| {
            *value == 1.0
                && labels["product"] == product.as_str()
                && labels.get("account").map(String::as_str) == account
        })
        .map(|(labels, _)| (labels["instance_id"].clone(), labels["status"].clone()))
        .collect();
    out.sort();
    out
}

/// What the simulator's rows of `product` say an instance's CPUs are, as each product names them.
fn cpus(product: Product, row: &Value) -> f64 {
    match product {
        Product::Vm => row["cpuCount"].as_f64(),
        Product::Zec => row["cpu"].as_f64(),
        Product::Bmc => row["instanceType"]["cpuCores"].as_f64(),
    }
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_product_is_polled_and_served_under_one_label() {
    let sim = fleets(1).await;
    let exporter = Exporter::start(config_for(&sim, &[EVERY, METADATA])).await;
    let truth = |p: Product| sim.product(0, p).ground_truth();
    // Bare metal's targets come with its statuses, the others' after their metadata polls: `/sd`'s first answer
    // waits for every product, rather than leave some out (Prometheus would drop them until the next).
    let first = common::eventually("/sd answers", || async {
        let response = common::client()
            .get(exporter.url("/sd?port=9100"))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => Some(serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).unwrap()),
            _ => None,
        }
    })
    .await;
    let products: BTreeSet<&str> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["labels"]["__meta_zenlayer_product"].as_str().unwrap())
        .collect();
    assert_eq!(products, BTreeSet::from(["bmc", "vm", "zec"]));
    let body = exporter
        .metrics_until("every product's statuses, names and numbers", |b| {
            Product::ALL.iter().all(|p| {
                statuses(b, *p, None) == truth(*p)
                    && series(b, "zenlayer_instance_info")
                        .iter()
                        .filter(|(l, _)| l["product"] == p.as_str())
                        .count()
                        == truth(*p).len()
            })
        })
        .await;
    for product in Product::ALL {
        let p = product.as_str();
        assert_eq!(
            sample(&body, &format!("zenlayer_up{{product=\"{p}\"}}")),
            Some(1.0)
        );
        // Every status of the product's vocabulary is counted, and no other product's (none is seen here).
        let counted: BTreeSet<String> = series(&body, "zenlayer_instances")
            .into_iter()
            .filter(|(l, _)| l["product"] == p)
            .map(|(mut l, _)| l.remove("status").unwrap())
            .collect();
        let seen: BTreeSet<String> = truth(*product).into_iter().map(|(_, s)| s).collect();
        let vocabulary: BTreeSet<String> =
            Known::of(*product).map(|k| k.as_str().to_owned()).collect();
        assert!(seen.is_subset(&vocabulary), "{p}: {seen:?}");
        assert_eq!(counted, vocabulary, "{p}");
        // Names, zones, types and CPUs read from each product's own row shape.
        let info: BTreeMap<String, BTreeMap<String, String>> =
            series(&body, "zenlayer_instance_info")
                .into_iter()
                .filter(|(l, _)| l["product"] == p)
                .map(|(l, _)| (l["instance_id"].clone(), l))
                .collect();
        let cpu: BTreeMap<String, f64> = series(&body, "zenlayer_instance_cpus")
            .into_iter()
            .filter(|(l, _)| l["product"] == p)
            .map(|(l, v)| (l["instance_id"].clone(), v))
            .collect();
        for row in sim.product(0, *product).metadata_truth() {
            let id = row["instanceId"].as_str().unwrap();
            let labels = &info[id];
            assert_eq!(
                labels["instance_name"],
                row["instanceName"].as_str().unwrap(),
                "{p}"
            );
            assert_eq!(labels["zone_id"], row["zoneId"].as_str().unwrap(), "{p}");
            let model = match product {
                Product::Bmc => row["instanceTypeId"].as_str(),
                _ => row["instanceType"].as_str(),
            };
            assert_eq!(labels["instance_type"], model.unwrap_or(""), "{p} {id}");
            assert_eq!(cpu[id], cpus(*product, &row), "{p} {id}");
        }
    }
    // The VM's and ZEC's status-only action; bare metal's statuses and metadata from one walk of DescribeInstances.
    let bmc = |action: &str| {
        sample(
            &body,
            &format!("zenlayer_exporter_polls_total{{action=\"{action}\",product=\"bmc\"}}"),
        )
    };
    assert!(bmc("DescribeInstances").unwrap() >= 1.0);
    assert_eq!(bmc("DescribeInstancesStatus"), None);
    let polls = bmc("DescribeInstances").unwrap() as u64;
    let calls = sim.product(0, Product::Bmc).calls_by_action.clone();
    assert_eq!(calls.get("DescribeInstancesStatus"), None, "{calls:?}");
    // One page per poll at 20 instances: as many calls as polls, give or take the one in flight.
    assert!(
        calls["DescribeInstances"].abs_diff(polls) <= 1,
        "{calls:?} for {polls} polls"
    );
    // A sum over products is the whole fleet.
    let total: f64 = series(&body, "zenlayer_instances")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 90.0);

    // Service discovery: targets of every product, each labelled with it, or of one product.
    let running = |p: Product| {
        sim.product(0, p)
            .metadata_truth()
            .iter()
            .filter(|r| {
                let status = r.get("instanceStatus").or_else(|| r.get("status"));
                status.and_then(Value::as_str) == Some("RUNNING")
            })
            .count()
    };
    let groups = common::get_json(exporter.url("/sd?port=9100")).await;
    let mut by_product: BTreeMap<String, usize> = BTreeMap::new();
    for group in groups.as_array().unwrap() {
        let product = group["labels"]["__meta_zenlayer_product"].as_str().unwrap();
        *by_product.entry(product.to_owned()).or_default() += 1;
    }
    for product in Product::ALL {
        assert_eq!(
            by_product[product.as_str()],
            running(*product),
            "{product}: {by_product:?}"
        );
    }
    let zec = common::get_json(exporter.url("/sd?port=9100&product=zec")).await;
    let zec = zec.as_array().unwrap();
    assert_eq!(zec.len(), running(Product::Zec));
    assert!(
        zec.iter()
            .all(|g| g["labels"]["__meta_zenlayer_product"] == "zec")
    );

    let (_, page) = get(&exporter.url("/")).await;
    for title in [
        "VM (legacy) (vm)",
        "Zenlayer Elastic Compute (zec)",
        "Bare Metal Cloud (bmc)",
    ] {
        assert!(page.contains(title), "{page}");
    }
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_the_account_may_not_read_fails_alone() {
    let sim = fleets(1).await;
    sim.product(0, Product::Zec).plan.rules = vec![FaultRule::always(Fault::Forbidden)];
    let exporter = Exporter::start(config_for(&sim, &[EVERY])).await;
    let up = |b: &str, p: &str| sample(b, &format!("zenlayer_up{{product=\"{p}\"}}"));
    let refused = |b: &str| {
        sample(
            b,
            "zenlayer_exporter_poll_failures_total{action=\"DescribeInstancesStatus\",reason=\"auth\",product=\"zec\"}",
        )
        .unwrap_or(0.0)
    };
    // Refused, not retried: one call per poll, once a scrape reads both between two polls (it reads each counter
    // as it is then).
    let calls = |b: &str| {
        sample(
            b,
            "zenlayer_exporter_api_request_failures_total{action=\"DescribeInstancesStatus\",reason=\"auth\",product=\"zec\"}",
        )
    };
    let body = exporter
        .metrics_until(
            "ZEC refused and not retried, VM and bare metal served",
            |b| {
                up(b, "zec") == Some(0.0)
                    && up(b, "vm") == Some(1.0)
                    && up(b, "bmc") == Some(1.0)
                    && refused(b) >= 2.0
                    && calls(b) == Some(refused(b))
            },
        )
        .await;
    assert_eq!(statuses(&body, Product::Vm, None), sim.ground_truth());
    assert_eq!(
        statuses(&body, Product::Bmc, None),
        sim.product(0, Product::Bmc).ground_truth()
    );
    assert!(
        statuses(&body, Product::Zec, None).is_empty(),
        "nothing invented for ZEC"
    );
    // Ready all the same: the refused product has said so, and the others are served.
    assert_eq!(get(&exporter.url("/readyz")).await.0, 200);
    let (_, page) = get(&exporter.url("/")).await;
    assert!(page.contains("FAILED"), "{page}");

    sim.product(0, Product::Zec).plan.rules.clear();
    exporter
        .metrics_until("ZEC served once allowed", |b| {
            up(b, "zec") == Some(1.0)
                && statuses(b, Product::Zec, None) == sim.product(0, Product::Zec).ground_truth()
        })
        .await;
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_products_list_overrides_the_default_and_a_change_restarts_it() {
    let sim = fleets(2).await;
    let dir = common::scratch("products-accounts");
    let file = dir.join("accounts.yml");
    let with_products = |first: &str| {
        // sim-0 names its products; sim-1 takes ZENLAYER_EXPORTER_PRODUCTS.
        sim.accounts_file().replacen(
            "\n  - name: sim-1",
            &format!("\n    products: [{first}]\n  - name: sim-1"),
            1,
        )
    };
    std::fs::write(&file, with_products("zec")).unwrap();
    let exporter = Exporter::start(common::accounts_config(
        &file,
        &[("ZENLAYER_EXPORTER_PRODUCTS", "vm,bmc")],
    ))
    .await;
    let served = |b: &str| -> BTreeSet<(String, String)> {
        series(b, "zenlayer_up")
            .into_iter()
            .map(|(l, _)| (l["account"].clone(), l["product"].clone()))
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        list.iter()
            .map(|(a, p)| (a.to_string(), p.to_string()))
            .collect()
    };
    let body = exporter
        .metrics_until("each account's products", |b| {
            served(b) == pairs(&[("sim-0", "zec"), ("sim-1", "bmc"), ("sim-1", "vm")])
                && statuses(b, Product::Zec, Some("sim-0"))
                    == sim.product(0, Product::Zec).ground_truth()
        })
        .await;
    assert_eq!(
        statuses(&body, Product::Bmc, Some("sim-1")),
        sim.product(1, Product::Bmc).ground_truth()
    );
    std::fs::write(&file, with_products("vm, zec")).unwrap();
    exporter
        .metrics_until("sim-0 reads its VMs too", |b| {
            served(b).contains(&("sim-0".to_owned(), "vm".to_owned()))
                && statuses(b, Product::Vm, Some("sim-0")) == sim.ground_truth()
        })
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

/// The vendor's official Python SDK (PyPI's `zenlayercloud-sdk-python`), its ZEC and BMC clients as a customer
/// uses them, signs its calls, pages the simulator to the end and reads every row the simulator holds, in the
/// shapes the SDK's models expect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendors_python_sdk_pages_zec_and_bare_metal_exactly() {
    let sim = Simulator::start(SimOptions {
        products: vec![(Product::Zec, 2345), (Product::Bmc, 1234)],
        seed: 9,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    let credentials = sim.credentials(0);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/page_products.py");
    let host = sim.addr().to_string();
    let read = common::python_json(
        [
            script,
            &host,
            &credentials.access_key_id,
            &credentials.access_key_secret,
            "100",
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    let rows = |key: &str| -> Vec<Vec<Value>> {
        let mut rows: Vec<Vec<Value>> = read[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().clone())
            .collect();
        rows.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
        rows
    };
    let zec_truth: Vec<Vec<Value>> = sim
        .product(0, Product::Zec)
        .ground_truth()
        .into_iter()
        .map(|(id, status)| vec![id.into(), status.into()])
        .collect();
    assert_eq!(rows("zec_status"), zec_truth);
    let expected = |product: Product, fields: &dyn Fn(&Value) -> Vec<Value>| -> Vec<Vec<Value>> {
        sim.product(0, product)
            .metadata_truth()
            .iter()
            .map(fields)
            .collect()
    };
    assert_eq!(
        rows("zec_instances"),
        expected(Product::Zec, &|r| vec![
            r["instanceId"].clone(),
            r["status"].clone(),
            r["instanceName"].clone(),
            r["cpu"].clone(),
            r["nics"][0]["primaryIpv4"].clone(),
        ])
    );
    assert_eq!(
        rows("bmc_instances"),
        expected(Product::Bmc, &|r| vec![
            r["instanceId"].clone(),
            r["instanceStatus"].clone(),
            r["instanceName"].clone(),
            r["instanceType"]["cpuCores"].clone(),
            r["primaryPublicIpAddress"].clone(),
        ])
    );
    // Every page once: ceil(2345 / 100) of each ZEC action, ceil(1234 / 100) of bare metal's.
    assert_eq!(
        sim.product(0, Product::Zec).calls_by_action["DescribeInstancesStatus"],
        24
    );
    assert_eq!(
        sim.product(0, Product::Zec).calls_by_action["DescribeInstances"],
        24
    );
    assert_eq!(
        sim.product(0, Product::Bmc).calls_by_action["DescribeInstances"],
        13
    );
}

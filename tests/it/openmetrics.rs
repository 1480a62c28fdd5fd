//! OpenMetrics against a real Prometheus (Debian's `prometheus`): it scrapes the exporter with its default
//! `Accept`, which prefers OpenMetrics, is answered in OpenMetrics, and stores exactly the series the text format
//! serves, every family of a VM and bare-metal fleet included (info families typed `info`, counters named without
//! `_total`); and `/probe` negotiates as `/metrics` does.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::bare_metal::Trouble;
use crate::common;
use crate::exposition::{PROMETHEUS_ACCEPT, openmetrics_check, scrape_as};
use common::prometheus::{Prometheus, TempDir};
use common::{Exporter, eventually, sample, series};

/// Every series of a text body, as Prometheus labels it when it scrapes `target` as job `job`.
fn text_series(body: &str, job: &str, target: &str) -> BTreeSet<BTreeMap<String, String>> {
    let names: BTreeSet<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| &l[..l.find(['{', ' ']).unwrap_or(l.len())])
        .collect();
    names
        .into_iter()
        .flat_map(|name| {
            series(body, name).into_iter().map(move |(mut labels, _)| {
                // Prometheus stores a label with an empty value as no label at all.
                labels.retain(|_, value| !value.is_empty());
                labels.insert("__name__".into(), name.to_owned());
                labels.insert("job".into(), job.to_owned());
                labels.insert("instance".into(), target.to_owned());
                labels
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_from_openmetrics_exactly_the_series_of_the_text_format() {
    let sim = common::vm_and_bare_metal(8, 4).await;
    Trouble::arrange(&sim);
    let config = common::every_poll(
        &sim,
        "vm,bmc",
        Duration::from_secs(1),
        &[("ZENLAYER_EXPORTER_TAG_LABELS", "env,team")],
    );
    let exporter = Exporter::start(config).await;
    let text = common::every_family(&exporter).await;
    let (content_type, openmetrics) = scrape_as(&exporter, "/metrics", PROMETHEUS_ACCEPT).await;
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"));
    openmetrics_check(&openmetrics);
    assert!(text.contains("# TYPE zenlayer_instance_info gauge"));
    assert!(openmetrics.contains("# TYPE zenlayer_instance info"));

    let target = exporter.addr.to_string();
    let prometheus = Prometheus::start(
        TempDir::new("openmetrics"),
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
             scrape_configs:\n  - job_name: zenlayer-exporter\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .await;
    // The series of both, once Prometheus has scraped since every poll kind has published: the fleet is still,
    // so the set stops changing. Prometheus' own series about the scrape (`up`, `scrape_*`) are not the
    // exporter's.
    let (stored, served) = eventually("Prometheus stores what the text format serves", || async {
        let stored: BTreeSet<BTreeMap<String, String>> = prometheus
            .query("{job=\"zenlayer-exporter\"}")
            .await
            .ok()?
            .into_iter()
            .map(|s| serde_json::from_value(s["metric"].clone()).unwrap())
            .filter(|l: &BTreeMap<String, String>| {
                l["__name__"] != "up" && !l["__name__"].starts_with("scrape_")
            })
            .collect();
        let served = text_series(&exporter.metrics().await, "zenlayer-exporter", &target);
        (stored == served).then_some((stored, served))
    })
    .await;
    assert!(stored.len() > 200, "{} series", stored.len());
    assert_eq!(stored, served);
    // Prometheus asked for OpenMetrics and was answered so.
    let body = exporter.metrics().await;
    assert!(
        sample(
            &body,
            "zenlayer_exporter_scrapes_total{format=\"openmetrics\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "{:?}",
        sample(
            &body,
            "zenlayer_exporter_scrapes_total{format=\"openmetrics\"}"
        )
    );
    // Info families are stored under their sample names, as with text.
    assert!(
        !prometheus
            .query("zenlayer_maintenance_info")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn probe_negotiates_as_metrics_does() {
    let sim = common::accounts_sim(1, 3).await;
    let dir = common::scratch("openmetrics-probe");
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    let exporter = Exporter::start(common::accounts_config(&file, &[])).await;
    exporter
        .metrics_until("sim-0 polled", |b| {
            sample(b, "zenlayer_up{account=\"sim-0\",product=\"vm\"}") == Some(1.0)
        })
        .await;
    let (content_type, body) =
        scrape_as(&exporter, "/probe?account=sim-0", PROMETHEUS_ACCEPT).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(body.ends_with("# EOF\n"));
    openmetrics_check(&body);
    let (content_type, body) = scrape_as(&exporter, "/probe?account=sim-0", "text/plain").await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(!body.contains("# EOF"));
    let response = common::client()
        .head(exporter.url("/probe?account=sim-0"))
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["vary"],
        "Accept, Accept-Encoding",
        "a cache must key on both"
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
}

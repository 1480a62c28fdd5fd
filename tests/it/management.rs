//! Prometheus' management conventions: `POST /-/reload` does what SIGHUP does and answers with each file's
//! outcome (200 when every file's content is in use, 500 with the reason when one keeps what was in use),
//! `/-/healthy` and `/-/ready` answer as `/healthz` and `/readyz`, and a reload is never a GET.

use std::time::Duration;

use crate::common;
use common::{Exporter, accounts_config, config_for, sample, scratch};

fn up(body: &str, account: &str) -> Option<f64> {
    sample(
        body,
        &format!("zenlayer_up{{account=\"{account}\",product=\"vm\"}}"),
    )
}

async fn post_reload(exporter: &Exporter) -> (u16, String) {
    let response = common::client()
        .post(exporter.url("/-/reload"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_reload_asked_over_http_applies_the_accounts_file_and_says_how_it_went() {
    let sim = common::accounts_sim(2, 5).await;
    let dir = scratch("http-reload");
    let file = dir.join("accounts.yml");
    let full = sim.accounts_file();
    let first = full.split("  - name: ").nth(1).unwrap();
    std::fs::write(&file, format!("accounts:\n  - name: {first}")).unwrap();
    let mut config = accounts_config(&file, &[]);
    // Only the asked reload reads the file: no timer gets there first.
    config.secret_reload_interval = Duration::from_secs(3600);
    let exporter = Exporter::start(config).await;
    exporter
        .metrics_until("sim-0 polled", |b| up(b, "sim-0") == Some(1.0))
        .await;

    std::fs::write(&file, &full).unwrap();
    let (status, body) = post_reload(&exporter).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!("accounts file {}: in use\n", file.display()),
        "{body}"
    );
    exporter
        .metrics_until("sim-1 added by the reload", |b| up(b, "sim-1") == Some(1.0))
        .await;

    // A file that does not load: 500 with the reason, the gauge at 0, both accounts still polled.
    std::fs::write(&file, "accounts:\n  - name: Not Valid\n").unwrap();
    let (status, body) = post_reload(&exporter).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with(&format!(
            "accounts file {}: NOT reloaded, the previous one stays: ",
            file.display()
        )) && body.contains("Not Valid"),
        "{body}"
    );
    let metrics = exporter.metrics().await;
    assert_eq!(
        sample(&metrics, "zenlayer_exporter_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(up(&metrics, "sim-0"), Some(1.0));
    assert_eq!(up(&metrics, "sim-1"), Some(1.0));

    // A reload is asked with POST or PUT; a GET changes nothing.
    let response = common::client()
        .get(exporter.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST, PUT");
    let put = common::client()
        .put(exporter.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 500, "the file is still broken");
}

#[tokio::test]
async fn health_aliases_answer_as_healthz_and_readyz_and_a_reload_with_no_file_says_so() {
    let sim = common::sim(3).await;
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    exporter
        .metrics_until("first poll", |b| sample(b, "zenlayer_up") == Some(1.0))
        .await;
    for (alias, path) in [("/-/healthy", "/healthz"), ("/-/ready", "/readyz")] {
        let alias = common::get(&exporter.url(alias)).await;
        assert_eq!(alias, common::get(&exporter.url(path)).await);
        assert_eq!(alias.0, 200);
    }
    let (status, body) = post_reload(&exporter).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            "nothing to reload: no accounts file, web configuration file or secret file is configured\n"
        )
    );
}

//! A recognisable secret run through every failure path must appear in no log line (even at trace level), no
//! metric, no error message and no page. Covers the key pair and the bearer token.

use std::io::Read;
use std::process::{Command, Stdio};

use zenlayer_exporter::sim::{Fault, FaultRule, SimCredentials};

use crate::common;
use common::{eventually, get, sample};

const SECRET: &str = "SeCrEt-zl-7f3a9c2e5b1d";
const TOKEN: &str = "ToKeN-zl-4e8b6a0f2c9d";
const BIN: &str = env!("CARGO_BIN_EXE_zenlayer-exporter");

fn assert_clean(what: &str, text: &str) {
    for secret in [SECRET, TOKEN] {
        assert!(!text.contains(secret), "{what} contains a secret");
    }
}

/// Runs the exporter binary against the simulator through a series of faults; returns everything it showed.
async fn exposed(bearer: bool) -> String {
    let sim = common::sim(25).await;
    sim.set_credentials(SimCredentials {
        access_key_id: "AKIDSECRETTEST".into(),
        access_key_secret: SECRET.into(),
        token: Some(TOKEN.into()),
    });
    let port = common::free_port();
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("ZENLAYER_EXPORTER_API_URL", sim.url().as_str())
        .env(
            "ZENLAYER_EXPORTER_LISTEN_ADDRESS",
            format!("127.0.0.1:{port}"),
        )
        .env("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "1")
        .env("ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS", "0.5")
        .env("ZENLAYER_EXPORTER_MAX_RETRIES", "1")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if bearer {
        cmd.env("ZENLAYERCLOUD_ACCESS_TOKEN", TOKEN);
    } else {
        cmd.env("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKIDSECRETTEST")
            .env("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", SECRET);
    }
    let mut child = cmd.spawn().expect("exporter starts");
    let base = format!("http://127.0.0.1:{port}");
    let mut shown = String::new();
    let polls = |body: &str| {
        sample(
            body,
            "zenlayer_exporter_polls_total{action=\"DescribeInstancesStatus\"}",
        )
        .unwrap_or(0.0)
    };
    eventually("first poll", || async {
        let body = get(&format!("{base}/metrics")).await.1;
        (sample(&body, "zenlayer_up") == Some(1.0)).then_some(())
    })
    .await;
    let faults = [
        Fault::Throttle { retry_after: None },
        Fault::ServerError {
            status: 500,
            code: "INTERNAL_SERVER_ERROR".into(),
        },
        Fault::HtmlError { status: 403 },
        Fault::Unauthorized,
        Fault::Reset,
        Fault::Hang,
        Fault::Truncated,
        Fault::InvalidJson,
        Fault::WrongTotal { total_count: 1 },
    ];
    for fault in faults {
        sim.clear_faults();
        sim.add_rule(FaultRule::always(fault.clone()));
        let before = polls(&get(&format!("{base}/metrics")).await.1);
        eventually(&format!("a poll under {fault:?}"), || async {
            let body = get(&format!("{base}/metrics")).await.1;
            (polls(&body) >= before + 1.0).then_some(())
        })
        .await;
        shown.push_str(&get(&format!("{base}/metrics")).await.1);
        shown.push_str(&get(&format!("{base}/")).await.1);
    }
    // Credentials the API refuses: the path where a leak would be most tempting.
    sim.clear_faults();
    sim.set_credentials(SimCredentials {
        access_key_id: "OTHER".into(),
        access_key_secret: "other".into(),
        token: None,
    });
    let before = polls(&get(&format!("{base}/metrics")).await.1);
    eventually("a refused poll", || async {
        (polls(&get(&format!("{base}/metrics")).await.1) >= before + 1.0).then_some(())
    })
    .await;
    shown.push_str(&get(&format!("{base}/")).await.1);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let _ = child.wait();
    assert!(logs.contains("poll failed"), "the failures were logged");
    assert!(
        logs.contains("starting") && logs.contains("redacted)"),
        "the start-up configuration was logged, redacted"
    );
    assert!(logs.lines().count() > 100, "trace logging was on");
    shown.push_str(&logs);
    shown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_key_secret_never_shows() {
    assert_clean("logs, metrics and pages (key pair)", &exposed(false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_never_shows() {
    assert_clean(
        "logs, metrics and pages (bearer token)",
        &exposed(true).await,
    );
}

#[test]
fn configuration_errors_and_check_config_never_show_secrets() {
    let run = |args: &[&str], extra: (&str, &str)| {
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKIDSECRETTEST")
            .env("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", SECRET)
            .env(extra.0, extra.1)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let checked = run(&["--check-config"], ("RUST_LOG", "info"));
    assert!(checked.contains("configuration is valid"));
    assert_clean("--check-config", &checked);
    let refused = run(&[], ("ZENLAYERCLOUD_ACCESS_TOKEN", TOKEN));
    assert!(refused.contains("not both"));
    assert_clean("a configuration error", &refused);
}

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

/// The exporter binary on a free port, polling every second with short timeouts and logging everything (trace),
/// its output captured; the caller adds what it polls.
fn exporter() -> (Command, u16) {
    let port = common::free_port();
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
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
    (cmd, port)
}

/// The exporter started from `cmd`, its output read as it comes: at `trace` it writes more than a pipe holds, and
/// a full pipe would stall it.
struct Logged {
    child: std::process::Child,
    readers: Vec<std::thread::JoinHandle<String>>,
}

fn spawn(cmd: &mut Command) -> Logged {
    let mut child = cmd.spawn().expect("exporter starts");
    let streams: Vec<Box<dyn Read + Send>> = [
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    let readers = streams
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stream.read_to_string(&mut text);
                text
            })
        })
        .collect();
    Logged { child, readers }
}

/// Waits until the exporter on `port` accepts connections: it binds once it has read its configuration, a
/// moment after the process starts (longer on a loaded machine), and a request before that is refused.
async fn listening(port: u16) {
    eventually("the exporter listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
}

/// Stops the exporter with SIGTERM and returns everything it wrote.
fn stop(mut logged: Logged) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &logged.child.id().to_string()])
        .status();
    let logs = logged
        .readers
        .drain(..)
        .map(|reader| reader.join().unwrap())
        .collect();
    let _ = logged.child.wait();
    logs
}

/// Runs the exporter binary against the simulator through a series of faults; returns everything it showed.
async fn exposed(bearer: bool) -> String {
    let sim = common::sim(25).await;
    sim.set_credentials(SimCredentials {
        access_key_id: "AKIDSECRETTEST".into(),
        access_key_secret: SECRET.into(),
        token: Some(TOKEN.into()),
    });
    let (mut cmd, port) = exporter();
    cmd.env("ZENLAYER_EXPORTER_API_URL", sim.url().as_str());
    if bearer {
        cmd.env("ZENLAYERCLOUD_ACCESS_TOKEN", TOKEN);
    } else {
        cmd.env("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKIDSECRETTEST")
            .env("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", SECRET);
    }
    let child = spawn(&mut cmd);
    listening(port).await;
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
    let logs = stop(child);
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

/// Runs the exporter binary on an accounts file of two accounts, one key pair (its secret in a file beside it)
/// and one token, through faults, refused credentials and a broken reload; returns everything it showed.
async fn exposed_with_accounts() -> String {
    let sim = common::accounts_sim(2, 10).await;
    sim.set_account_credentials(
        0,
        SimCredentials {
            access_key_id: "AKIDSECRETTEST".into(),
            access_key_secret: SECRET.into(),
            token: None,
        },
    );
    sim.set_account_credentials(
        1,
        SimCredentials {
            access_key_id: "UNUSED".into(),
            access_key_secret: "unused".into(),
            token: Some(TOKEN.into()),
        },
    );
    let dir = common::scratch("secrets-accounts");
    std::fs::write(dir.join("a.secret"), format!("{SECRET}\n")).unwrap();
    let file = dir.join("accounts.yml");
    let good = format!(
        "accounts:\n  - name: keyed\n    access_key_id: AKIDSECRETTEST\n    access_key_password_file: a.secret\n    api_url: {url}\n  \
         - name: tokened\n    access_token: {TOKEN}\n    api_url: {url}\n",
        url = sim.url()
    );
    std::fs::write(&file, &good).unwrap();
    let (mut cmd, port) = exporter();
    let child = spawn(cmd.env("ZENLAYER_EXPORTER_ACCOUNTS_FILE", &file));
    listening(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let both_up = |body: &str| {
        ["keyed", "tokened"]
            .iter()
            .all(|a| sample(body, &format!("zenlayer_up{{account=\"{a}\"}}")) == Some(1.0))
    };
    eventually("first polls", || async {
        both_up(&get(&format!("{base}/metrics")).await.1).then_some(())
    })
    .await;
    let mut shown = String::new();
    let show = async |shown: &mut String| {
        for path in [
            "/metrics",
            "/",
            "/probe?account=keyed",
            "/probe?account=tokened",
        ] {
            shown.push_str(&get(&format!("{base}{path}")).await.1);
        }
    };
    for fault in [
        Fault::Unauthorized,
        Fault::Throttle { retry_after: None },
        Fault::Truncated,
    ] {
        for i in 0..2 {
            sim.account(i).plan.rules = vec![FaultRule::always(fault.clone())];
        }
        eventually(&format!("both accounts down under {fault:?}"), || async {
            let body = get(&format!("{base}/metrics")).await.1;
            (body.contains("zenlayer_up{account=\"keyed\",product=\"vm\"} 0")
                && body.contains("zenlayer_up{account=\"tokened\",product=\"vm\"} 0"))
            .then_some(())
        })
        .await;
        show(&mut shown).await;
    }
    for i in 0..2 {
        sim.account(i).plan.rules.clear();
    }
    // A reload that does not load, with the secrets in the file, then the good file again.
    std::fs::write(&file, good.replace("name: tokened", "name: Tokened")).unwrap();
    eventually("the broken reload is seen", || async {
        let body = get(&format!("{base}/metrics")).await.1;
        body.contains("zenlayer_exporter_config_last_reload_successful 0")
            .then_some(())
    })
    .await;
    show(&mut shown).await;
    std::fs::write(&file, &good).unwrap();
    eventually("both accounts back", || async {
        both_up(&get(&format!("{base}/metrics")).await.1).then_some(())
    })
    .await;
    let logs = stop(child);
    assert!(
        logs.contains("poll failed") && logs.contains("tokened"),
        "failures logged with the account"
    );
    assert!(
        logs.contains("accounts file not reloaded"),
        "the broken reload was logged"
    );
    assert!(logs.lines().count() > 100, "trace logging was on");
    shown.push_str(&logs);
    shown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_account_secret_ever_shows() {
    assert_clean(
        "logs, metrics and pages (accounts file)",
        &exposed_with_accounts().await,
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

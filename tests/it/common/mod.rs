//! Helpers shared by the integration tests: a simulator and an exporter on loopback ports, an HTTP client,
//! and bounded waits (every wait has a deadline, so a missing event fails fast instead of hanging).
#![allow(dead_code)]

pub mod process;
pub mod prometheus;
pub mod tools;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zenlayer_exporter::Config;
use zenlayer_exporter::http::server::ServerConfig;
use zenlayer_exporter::sim::{SimOptions, Simulator};

/// Generous bound for anything a test waits for: far above normal, so only a real hang trips it.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub async fn sim(instances: usize) -> Simulator {
    Simulator::start(SimOptions {
        instances,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

/// A simulator of `instances` VM instances and `servers` bare-metal servers.
pub async fn vm_and_bare_metal(instances: usize, servers: usize) -> Simulator {
    Simulator::start(SimOptions {
        instances,
        products: vec![(zenlayer_exporter::zenlayer::product::Product::Bmc, servers)],
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

/// Runs python3 with `args` (a script and its arguments) on a blocking thread, as the tests that drive the
/// vendor's Python SDK (PyPI's `zenlayercloud-sdk-python`, which .ci/test installs) do, and returns the JSON it
/// prints; fails the test with its standard error if it fails.
pub async fn python_json(args: Vec<String>) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(args)
            .output()
            .expect("python3 runs (the SDK is PyPI's zenlayercloud-sdk-python, which .ci/test installs)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the script")
}

/// A simulator serving `accounts` accounts of `instances` each.
pub async fn accounts_sim(accounts: usize, instances: usize) -> Simulator {
    Simulator::start(SimOptions {
        instances,
        accounts,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

/// A scratch directory of this test's own, emptied first.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zenlayer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A configuration reading the accounts file at `file` (written by the caller), with the short intervals tests
/// want, and the file re-read every 100 ms.
pub fn accounts_config(file: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        (
            "ZENLAYER_EXPORTER_ACCOUNTS_FILE".into(),
            file.display().to_string(),
        ),
        (
            "ZENLAYER_EXPORTER_LISTEN_ADDRESS".into(),
            "127.0.0.1:0".into(),
        ),
        (
            "ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS".into(),
            "0".into(),
        ),
    ];
    vm_only_unless_asked(&mut vars, extra);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut config = Config::from_vars(vars, false).expect("valid test configuration");
    config.poll_interval = Duration::from_millis(200);
    config.retry_backoff_base = Duration::from_millis(5);
    config.request_timeout = Duration::from_secs(5);
    config.secret_reload_interval = Duration::from_millis(100);
    config
}

/// Tests of one product's polls count their calls and read their series: the VM alone is polled unless a test
/// asks for products (`tests/it/products.rs` polls every product, as the default does).
fn vm_only_unless_asked(vars: &mut Vec<(String, String)>, extra: &[(&str, &str)]) {
    if !extra
        .iter()
        .any(|(k, _)| *k == "ZENLAYER_EXPORTER_PRODUCTS")
    {
        vars.push(("ZENLAYER_EXPORTER_PRODUCTS".into(), "vm".into()));
    }
}

/// A configuration of `sim` with every poll on (metadata, bare metal's hardware health and maintenance) and
/// `products` read, each poll every `every`: what a test of every family, or of the landing page, wants.
pub fn every_poll(
    sim: &Simulator,
    products: &str,
    every: Duration,
    extra: &[(&str, &str)],
) -> Config {
    let mut vars = vec![
        ("ZENLAYER_EXPORTER_PRODUCTS", products),
        ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300"),
        ("ZENLAYER_EXPORTER_HEALTH_INTERVAL_SECONDS", "60"),
        ("ZENLAYER_EXPORTER_MAINTENANCE_INTERVAL_SECONDS", "60"),
    ];
    vars.extend_from_slice(extra);
    let mut config = config_for(sim, &vars);
    config.metadata_interval = Some(every);
    config.health_interval = Some(every);
    config.maintenance_interval = Some(every);
    config
}

/// The body of `exporter`'s first scrape that serves every family: statuses, metadata, hardware and maintenance.
pub async fn every_family(exporter: &Exporter) -> String {
    exporter
        .metrics_until("statuses, metadata, hardware and maintenance", |b| {
            b.contains("zenlayer_instance_info{")
                && b.contains("zenlayer_instance_temperature_celsius{")
                && b.contains("zenlayer_maintenance_info{")
        })
        .await
}

/// A configuration pointing at `sim`, with the short intervals tests want.
pub fn config_for(sim: &Simulator, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("ZENLAYER_EXPORTER_API_URL".into(), sim.url().to_string()),
        (
            "ZENLAYER_EXPORTER_LISTEN_ADDRESS".into(),
            "127.0.0.1:0".into(),
        ),
        ("ZENLAYERCLOUD_ACCESS_KEY_ID".into(), "placeholder".into()),
        (
            "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD".into(),
            "placeholder".into(),
        ),
    ];
    // Tests of the status poll count its calls and aim faults at them: the metadata, hardware health and
    // maintenance polls stay off unless asked for.
    for variable in [
        "ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS",
        "ZENLAYER_EXPORTER_HEALTH_INTERVAL_SECONDS",
        "ZENLAYER_EXPORTER_MAINTENANCE_INTERVAL_SECONDS",
    ] {
        if !extra.iter().any(|(k, _)| *k == variable) {
            vars.push((variable.into(), "0".into()));
        }
    }
    vm_only_unless_asked(&mut vars, extra);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut config = Config::from_vars(vars, false).expect("valid test configuration");
    config.auth = Some(sim.auth());
    config.poll_interval = Duration::from_millis(200);
    config.retry_backoff_base = Duration::from_millis(5);
    config.request_timeout = Duration::from_secs(5);
    config
}

/// A running exporter: its address, and the means to stop it and wait for it.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Exporter {
    pub async fn start(config: Config) -> Exporter {
        Exporter::start_with(config, ServerConfig::default()).await
    }

    pub async fn start_with(config: Config, server: ServerConfig) -> Exporter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            zenlayer_exporter::run(config, listener, server, async {
                let _ = stopped.await;
            })
            .await
            .expect("exporter runs");
        });
        Exporter {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Signals shutdown and waits for `run` to return, within `bound`.
    pub async fn stop_within(mut self, bound: Duration) -> Result<(), tokio::time::error::Elapsed> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("task");
        tokio::time::timeout(bound, task)
            .await
            .map(|r| r.expect("exporter task did not panic"))
    }

    /// The body of `/metrics`, uncompressed.
    pub async fn metrics(&self) -> String {
        get(&self.url("/metrics")).await.1
    }

    /// Waits until `/metrics` satisfies `pred`; returns that body.
    pub async fn metrics_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        eventually(what, || async {
            let body = self.metrics().await;
            pred(&body).then_some(body)
        })
        .await
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A plain client: no gzip, no proxy (tests talk to loopback only).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// GET → (status, body as text).
pub async fn get(url: &str) -> (u16, String) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// A loopback port that was free a moment ago, for a server the test starts as another process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// GET → the body parsed as JSON.
pub async fn get_json(url: impl reqwest::IntoUrl) -> serde_json::Value {
    let bytes = client()
        .get(url)
        .send()
        .await
        .expect("request")
        .bytes()
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("a JSON body")
}

/// One signing test vector, computed by the vendor's official SDK (`tests/fixtures/sign-vectors.json`).
#[derive(serde::Deserialize)]
pub struct SignVector {
    pub name: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub timestamp: String,
    pub action: String,
    pub version: String,
    pub host: String,
    pub content_type: String,
    pub body: String,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

/// Every signing vector of the fixture.
pub fn sign_vectors() -> Vec<SignVector> {
    #[derive(serde::Deserialize)]
    struct Fixture {
        vectors: Vec<SignVector>,
    }
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sign-vectors.json"
    ))
    .expect("fixture present");
    serde_json::from_str::<Fixture>(&text)
        .expect("fixture parses")
        .vectors
}

/// Calls `probe` every 20 ms until it returns `Some`, or panics naming `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the series whose text form (name and labels, as rendered) is `series`, if present. The
/// exporter reads one product today, so a series that does not name its `product` matches the one whose only
/// other label is `product="vm"`: the same series, in the order the exporter writes its labels.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    let exact =
        |line: &str| -> Option<f64> { line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok() };
    if let Some(value) = body.lines().find_map(exact) {
        return Some(value);
    }
    if series.contains("product=") {
        return None;
    }
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => (name, labels.trim_end_matches('}')),
        None => (series, ""),
    };
    body.lines().find_map(|line| {
        let (head, value) = line.rsplit_once(' ')?;
        let rest = head
            .strip_prefix(name)?
            .strip_prefix('{')?
            .strip_suffix('}')?;
        let all = split_labels(rest);
        let without: Vec<&str> = all
            .iter()
            .copied()
            .filter(|l| *l != "product=\"vm\"")
            .collect();
        (all.len() == without.len() + 1 && without.join(",") == labels)
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// The `name="value"` pairs of a label set's text, split at the commas between them (not those inside values).
fn split_labels(text: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Every `zenlayer_instance_status` series as (id, status), sorted, for comparison with ground truth.
pub fn instance_statuses(body: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = series(body, "zenlayer_instance_status")
        .into_iter()
        .filter(|(_, value)| *value == 1.0)
        .map(|(mut labels, _)| {
            (
                labels.remove("instance_id").unwrap_or_default(),
                labels.remove("status").unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Every series of `metric` in an exposition: its labels (unescaped) and value.
pub fn series(body: &str, metric: &str) -> Vec<(std::collections::BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => {
                let mut labels = std::collections::BTreeMap::new();
                let mut chars = rest.chars();
                loop {
                    let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut value = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => value.push(match chars.next() {
                                Some('n') => '\n',
                                Some(other) => other,
                                None => break,
                            }),
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.insert(name, value);
                    match chars.next() {
                        Some(',') => continue,
                        Some('}') => break,
                        other => panic!("{line}: unexpected {other:?}"),
                    }
                }
                (labels, chars.collect::<String>())
            }
            None if rest.starts_with(' ') => (Default::default(), rest.to_owned()),
            None => continue,
        };
        out.push((labels, value.trim().parse().expect("a number")));
    }
    out
}

//! A real Prometheus server (Debian's `prometheus` package) started by a test in its own temporary directory,
//! with its HTTP API for queries and alerts. Stopped and cleaned up on drop.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{client, eventually, free_port};

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("zenlayer-exporter-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Prometheus {
    child: Child,
    pub url: String,
    pub dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus with `config` as `prometheus.yml` in `dir` (where the files it names are), and waits
    /// until it is ready.
    pub async fn start(dir: TempDir, config: &str) -> Prometheus {
        let found = Command::new("prometheus")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            found.is_ok_and(|s| s.success()),
            "the prometheus server is missing: install Debian's `prometheus` package (apt-get install prometheus)"
        );
        std::fs::write(dir.0.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.0.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.0.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        eventually("prometheus ready", || async {
            let r = client()
                .get(format!("{}/-/ready", prometheus.url))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        prometheus
    }

    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let mut url = url::Url::parse(&format!("{}{path}", self.url)).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        super::get_json(url).await
    }

    /// An instant query: `Err` with Prometheus' message if it does not parse or fails.
    pub async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let answer = self.api("/api/v1/query", &[("query", promql)]).await;
        match answer["status"].as_str() {
            Some("success") => Ok(answer["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()),
            _ => Err(format!("{promql}: {}", answer["error"])),
        }
    }

    /// The alerts named `name` in `state` ("pending" or "firing"), as the API gives them.
    async fn alerts_in(&self, name: &str, state: &str) -> Vec<Value> {
        let answer = self.api("/api/v1/alerts", &[]).await;
        answer["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == name && a["state"] == state)
            .cloned()
            .collect()
    }

    /// Alerts named `name` in `state`, as their instance_id labels (or job labels).
    pub async fn alerts(&self, name: &str, state: &str) -> BTreeSet<String> {
        self.alerts_in(name, state)
            .await
            .iter()
            .map(|a| {
                a["labels"]["instance_id"]
                    .as_str()
                    .or(a["labels"]["job"].as_str())
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    /// Alerts named `name` in `state`, as (job, account, instance_id) labels, absent ones empty.
    pub async fn alerts_by_account(&self, name: &str, state: &str) -> BTreeSet<[String; 3]> {
        self.alerts_in(name, state)
            .await
            .iter()
            .map(|a| {
                ["job", "account", "instance_id"]
                    .map(|l| a["labels"][l].as_str().unwrap_or("").to_owned())
            })
            .collect()
    }

    /// The summaries of the alerts named `name` in `state`, by instance_id.
    pub async fn summaries(
        &self,
        name: &str,
        state: &str,
    ) -> std::collections::BTreeMap<String, String> {
        self.alerts_in(name, state)
            .await
            .iter()
            .map(|a| {
                (
                    a["labels"]["instance_id"].as_str().unwrap_or("").to_owned(),
                    a["annotations"]["summary"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                )
            })
            .collect()
    }

    /// Waits until at least one alert named `name` is firing.
    pub async fn until_firing(&self, name: &str) {
        eventually(&format!("{name} firing"), || async {
            (!self.alerts(name, "firing").await.is_empty()).then_some(())
        })
        .await;
    }
}

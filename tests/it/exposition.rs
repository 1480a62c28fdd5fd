//! The exposition is a tested contract: a golden file of `/metrics` for a fixed fleet (`UPDATE_GOLDEN=1`
//! rewrites it, to be reviewed as a diff), and the real `promtool check metrics` over live output, hostile
//! status strings included.

use std::io::Write;
use std::process::{Command, Stdio};

use zenlayer_exporter::sim::maintenance::MaintenanceWindow;
use zenlayer_exporter::sim::metadata::MetadataOverride;
use zenlayer_exporter::sim::{SimOptions, Simulator};
use zenlayer_exporter::zenlayer::operations::{COMPONENTS, SENSORS};
use zenlayer_exporter::zenlayer::product::Product;

use crate::common;
use common::{Exporter, config_for, sample};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics.golden.txt"
);

/// The same exposition as OpenMetrics, for a scraper that prefers it.
const GOLDEN_OPENMETRICS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics.golden.om.txt"
);

/// Prometheus 2.x's `Accept`, which prefers OpenMetrics.
pub const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The fleet the golden file shows: every kind of line the renderer writes, an unknown status among them, and
/// metadata with fixed dates: prepaid and postpaid, odd tags, missing fields; two bare-metal servers with their
/// hardware (an alarm, a value the API added, temperatures) and a maintenance window with quotes in its words.
async fn golden_sim() -> Simulator {
    let sim = Simulator::start(SimOptions {
        products: vec![(Product::Bmc, 2)],
        seed: 3,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    {
        let mut bmc = sim.product(0, Product::Bmc);
        for (i, id) in bmc.fleet.ids().into_iter().enumerate() {
            bmc.fleet.set_status(&id, "RUNNING");
            let set = serde_json::json!({
                "createTime": "2025-11-02T03:04:05Z",
                "expiredTime": null,
                "instanceChargeType": "POSTPAID",
                "tags": {"tags": []},
            });
            bmc.metadata_overrides.insert(
                id.clone(),
                MetadataOverride {
                    set: set.as_object().unwrap().clone(),
                    remove: Vec::new(),
                },
            );
            for component in &COMPONENTS {
                bmc.set_component(&id, component, "OK");
            }
            for sensor in &SENSORS {
                bmc.set_sensor(&id, sensor, None);
            }
            bmc.set_sensor(&id, &SENSORS[1], Some(40.0 + i as f64));
            if i == 0 {
                bmc.set_component(&id, &COMPONENTS[3], "WARNING");
                bmc.set_component(&id, &COMPONENTS[7], "FLAPPING");
                bmc.set_sensor(&id, &SENSORS[4], Some(23.5));
            }
        }
        let id = bmc.fleet.ids()[0].clone();
        drop(bmc);
        sim.set_maintenance(
            0,
            "BMC",
            vec![MaintenanceWindow::new(
                &id,
                "SEL-A",
                "Switch \"firmware\" upgrade\\ public network down up to 10 minutes",
                1_785_254_400,
                1_785_261_600,
                "in progress",
            )],
        );
    }
    {
        let mut state = sim.state();
        for (id, status, created, expiry) in [
            (
                "932237369560662463",
                "RUNNING",
                "2026-01-15T08:30:00Z",
                Some("2026-08-15T08:30:00Z"),
            ),
            (
                "926368879272403391",
                "STOPPED",
                "2026-03-02T14:05:12Z",
                None,
            ),
            (
                "900000000000000001",
                "BOOTING",
                "2025-11-30T23:59:59Z",
                None,
            ),
            (
                "900000000000000002",
                "CREATE_FAILED",
                "2026-11-20T10:00:00Z",
                Some("2026-12-20T10:00:00Z"),
            ),
            (
                "900000000000000003",
                "HIBERNATING",
                "2024-02-29T12:00:00Z",
                None,
            ),
        ] {
            state.fleet.insert(id.into(), status.into());
            let mut set = serde_json::Map::new();
            set.insert("createTime".into(), created.into());
            set.insert(
                "instanceChargeType".into(),
                if expiry.is_some() {
                    "PREPAID"
                } else {
                    "POSTPAID"
                }
                .into(),
            );
            set.insert("expiredTime".into(), expiry.into());
            state.metadata_overrides.insert(
                id.into(),
                MetadataOverride {
                    set,
                    remove: Vec::new(),
                },
            );
        }
        let odd = state
            .metadata_overrides
            .get_mut("900000000000000003")
            .unwrap();
        odd.set.insert(
            "tags".into(),
            serde_json::json!({"tags": [{"key": "env", "value": "a \"quoted\\ value\nwith a newline"},
                                        {"key": "cost-center"}, {"key": "unlisted", "value": "x"}]}),
        );
        odd.set
            .insert("instanceName".into(), serde_json::Value::Null);
        odd.remove = vec!["zoneId".into(), "cpuCount".into(), "memory".into()];
    }
    sim
}

/// The golden configuration: VM and bare metal, metadata, hardware health and maintenance on, three tags
/// allow-listed.
fn golden_config(sim: &Simulator) -> zenlayer_exporter::Config {
    let tags = ("ZENLAYER_EXPORTER_TAG_LABELS", "env,team,cost-center");
    common::every_poll(sim, "vm,bmc", std::time::Duration::from_secs(1), &[tags])
}

/// Fails unless the strict OpenMetrics parser of the Python `prometheus_client` (PyPI's `prometheus-client`,
/// which .ci/test installs) accepts `body` whole, `# EOF` included.
pub fn openmetrics_check(body: &str) {
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
                  print(len(list(parse(sys.stdin.read()))))";
    let out = fed(Command::new("python3").args(["-c", script]), body);
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the body (PyPI's prometheus-client, which .ci/test installs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/metrics` (or `path`) as a scraper sending `accept` gets it, with its content type.
pub async fn scrape_as(exporter: &Exporter, path: &str, accept: &str) -> (String, String) {
    let response = common::client()
        .get(exporter.url(path))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

/// Replaces what changes from run to run (self-metric values, the revision) so the rest can be compared.
fn normalize(body: &str) -> String {
    let mut out = String::new();
    for line in body.lines() {
        let volatile = line.starts_with("process_") || line.starts_with("zenlayer_exporter_");
        if !line.starts_with('#') && volatile {
            let cut = line.rfind(' ').unwrap_or(line.len());
            let mut series = line[..cut].to_owned();
            if let Some(start) = series.find("revision=\"") {
                let end = series[start + 10..]
                    .find('"')
                    .map_or(series.len(), |e| start + 10 + e);
                series.replace_range(start + 10..end, "<revision>");
            }
            out.push_str(&series);
            out.push_str(" <value>\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Path of `promtool`, or a failure that names the package to install. Never a silent skip.
pub fn promtool() -> String {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match found {
        Ok(status) if status.success() => "promtool".to_owned(),
        _ => panic!(
            "promtool not found: install Debian's `prometheus` package (apt-get install prometheus)"
        ),
    }
}

pub fn promtool_check(body: &str) -> (bool, String) {
    let out = fed(Command::new(promtool()).args(["check", "metrics"]), body);
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), findings)
}

/// What `command` answers with `body` on its standard input.
fn fed(command: &mut Command, body: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the checker runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn golden_file() {
    let sim = golden_sim().await;
    let exporter = Exporter::start(golden_config(&sim)).await;
    let text = common::every_family(&exporter).await;
    let (ok, findings) = promtool_check(&text);
    assert!(ok, "promtool check metrics: {findings}");
    let (content_type, openmetrics) = scrape_as(&exporter, "/metrics", PROMETHEUS_ACCEPT).await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    openmetrics_check(&openmetrics);
    for (golden, body) in [(GOLDEN, &text), (GOLDEN_OPENMETRICS, &openmetrics)] {
        compare_golden(golden, &normalize(body));
    }
}

/// Compares `actual` with the golden file `golden`, or (with `UPDATE_GOLDEN` set) rewrites it.
fn compare_golden(golden: &str, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(golden).expect("golden file present (UPDATE_GOLDEN=1 writes it)");
    if actual != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(e, a)| e != a)
            .take(10)
            .map(|(e, a)| format!("- {e}\n+ {a}"))
            .collect();
        panic!(
            "/metrics differs from {golden} ({} vs {} lines); review, then rerun with UPDATE_GOLDEN=1:\n{}",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// The two goldens are the same series: OpenMetrics differs only in its metadata lines and its `# EOF`.
#[test]
fn the_openmetrics_golden_is_the_text_golden_but_for_its_metadata() {
    let samples = |file: &str| -> Vec<String> {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(samples(GOLDEN), samples(GOLDEN_OPENMETRICS));
    let openmetrics = std::fs::read_to_string(GOLDEN_OPENMETRICS).unwrap();
    assert!(openmetrics.ends_with("\n# EOF\n"));
    // Bucket bounds in their canonical form (OpenMetrics forbids `le="1"`), in both formats alike.
    for golden in [&openmetrics, &std::fs::read_to_string(GOLDEN).unwrap()] {
        for bound in golden.split("le=\"").skip(1) {
            let bound = &bound[..bound.find('"').unwrap()];
            assert!(bound == "+Inf" || bound.contains('.'), "le=\"{bound}\"");
        }
    }
    for line in [
        "# TYPE zenlayer_instance info",
        "# TYPE zenlayer_maintenance info",
        "# TYPE zenlayer_exporter_build info",
        "# TYPE zenlayer_exporter_polls counter",
        "# TYPE zenlayer_instance_status gauge",
        "# TYPE zenlayer_exporter_poll_duration_seconds histogram",
    ] {
        assert!(openmetrics.lines().any(|l| l == line), "{line}");
    }
    let name = |line: &str| line.split(['{', ' ']).next().unwrap_or("").to_owned();
    assert!(
        !openmetrics
            .lines()
            .any(|l| !l.starts_with('#') && name(l).ends_with("_created")),
        "no _created series unless asked"
    );
}

/// Every label value from a fixed set is declared once, as an enum; the golden file shows each family with
/// exactly its enum's values, so an added value shows up in the reviewed exposition and a dropped one fails here.
#[test]
fn each_label_enum_is_the_golden_files_values() {
    use std::collections::BTreeSet;
    use zenlayer_exporter::exposition::sd::Address;
    use zenlayer_exporter::status::Known;
    use zenlayer_exporter::telemetry::{PollFailure, Rejected, Skipped};
    use zenlayer_exporter::text::Format;
    use zenlayer_exporter::zenlayer::error::ErrorKind;

    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    let values = |family: &str, label: &str| -> BTreeSet<String> {
        let open = format!("{family}{{");
        let key = format!("{label}=\"");
        golden
            .lines()
            .filter_map(|line| line.strip_prefix(&open))
            .filter_map(|rest| {
                let at = rest.find(&key)? + key.len();
                Some(rest[at..].split('"').next()?.to_owned())
            })
            .collect()
    };
    let of = |words: &mut dyn Iterator<Item = &'static str>| -> BTreeSet<String> {
        words.map(str::to_owned).collect()
    };
    let checks = [
        (
            "zenlayer_exporter_http_requests_rejected_total",
            "reason",
            of(&mut Rejected::ALL.iter().map(|r| r.as_str())),
        ),
        (
            "zenlayer_exporter_poll_failures_total",
            "reason",
            of(&mut PollFailure::all().map(PollFailure::as_str)),
        ),
        (
            "zenlayer_exporter_api_request_failures_total",
            "reason",
            of(&mut ErrorKind::ALL.iter().map(|k| k.as_str())),
        ),
        (
            "zenlayer_exporter_rows_skipped_total",
            "reason",
            of(&mut Skipped::ALL.iter().map(|r| r.as_str())),
        ),
        (
            "zenlayer_exporter_scrapes_total",
            "format",
            of(&mut Format::ALL.iter().map(|f| f.as_str())),
        ),
        (
            "zenlayer_exporter_sd_instances_without_address",
            "address",
            of(&mut Address::ALL.iter().map(|a| a.as_str())),
        ),
    ];
    for (family, label, declared) in checks {
        assert_eq!(values(family, label), declared, "{family}{{{label}}}");
    }
    // Every known status is always present; the golden fleet adds one the exporter does not know.
    let statuses = values("zenlayer_instances", "status");
    let known = of(&mut Known::ALL.iter().map(|k| k.as_str()));
    assert_eq!(
        statuses.difference(&known).collect::<Vec<_>>(),
        ["HIBERNATING"],
        "{statuses:?}"
    );
}

#[tokio::test]
async fn promtool_accepts_live_output_with_hostile_statuses() {
    for mode in ["current", "all"] {
        let sim = golden_sim().await;
        {
            let mut state = sim.state();
            for (i, status) in [
                "quo\"te",
                "back\\slash",
                "new\nline",
                "{}=,",
                "ünïcødé ✓",
                // The longest a status may be; a longer one fails the page (model::MAX_TEXT_BYTES).
                &"L".repeat(zenlayer_exporter::zenlayer::model::MAX_TEXT_BYTES),
                "",
            ]
            .iter()
            .enumerate()
            {
                state
                    .fleet
                    .insert(format!("hostile-{i}-\"\\\n"), status.to_string());
            }
        }
        let exporter = Exporter::start(config_for(
            &sim,
            &[
                ("ZENLAYER_EXPORTER_STATUS_SERIES", mode),
                ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300"),
                ("ZENLAYER_EXPORTER_TAG_LABELS", "env,team,cost-center"),
            ],
        ))
        .await;
        let body = exporter
            .metrics_until("first status and metadata polls", |b| {
                sample(b, "zenlayer_up") == Some(1.0)
                    && b.contains("zenlayer_instance_info{product=\"vm\",instance_id=\"hostile-6")
            })
            .await;
        assert!(
            body.contains(r#"status="quo\"te""#) && body.contains(r#"status="new\nline""#),
            "escaped, not dropped"
        );
        let (ok, findings) = promtool_check(&body);
        assert!(
            ok && findings.trim().is_empty(),
            "promtool check metrics ({mode}):\n{findings}"
        );
    }
}

#[tokio::test]
async fn promtool_accepts_output_before_the_first_poll() {
    let sim = common::sim(1).await;
    sim.set_latency(std::time::Duration::from_secs(30));
    let exporter = Exporter::start(config_for(&sim, &[])).await;
    let body = exporter.metrics().await;
    assert_eq!(sample(&body, "zenlayer_up"), Some(0.0));
    let (ok, findings) = promtool_check(&body);
    assert!(
        ok && findings.trim().is_empty(),
        "promtool check metrics:\n{findings}"
    );
}

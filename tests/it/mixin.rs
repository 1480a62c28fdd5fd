//! The monitoring mixin (`mixin/`) with the real tools: the committed rules, unit tests, PrometheusRule and
//! dashboard are what jsonnet renders from it today; a rendering for another `_config` (a custom selector and
//! a `cluster` label) passes its own unit tests with promtool, and one without the exclusion fails them, so the
//! exclusion is what keeps parked instances quiet; and the dashboard passes the rules of Grafana's
//! dashboard-linter, with each exception listed and reasoned in `mixin/dashboard-lint-exceptions.json`.

use std::collections::BTreeSet;
use std::time::Duration;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

use crate::common::tools::{assert_clean, path, promtool_rules, render_mixin as render, run};
use zenlayer_exporter::status::{Kind, Known};
use zenlayer_exporter::zenlayer::declaration;
use zenlayer_exporter::zenlayer::operations::{
    COMPONENTS, DESCRIBE_MAINTENANCE_ALERTS, Health, SENSORS,
};
use zenlayer_exporter::zenlayer::product::Product;

/// Where each file the mixin renders is committed.
const RENDERED: [(&str, &str); 6] = [
    ("alerts.yml", "deploy/prometheus/alerts.yml"),
    (
        "alerts.yml",
        "deploy/helm/zenlayer-exporter/files/prometheus-rules.yaml",
    ),
    (
        "zenlayer-fleet.json",
        "deploy/helm/zenlayer-exporter/files/zenlayer-fleet.json",
    ),
    ("alerts_test.yml", "deploy/prometheus/alerts_test.yml"),
    (
        "prometheusrule.yaml",
        "deploy/kubernetes/prometheusrule.yaml",
    ),
    (
        "zenlayer-fleet.json",
        "grafana/dashboards/zenlayer-fleet.json",
    ),
];

#[test]
fn committed_files_are_what_the_mixin_renders() {
    let dir = render("default", &[]);
    for (rendered, committed) in RENDERED {
        let want = std::fs::read_to_string(dir.join(rendered)).unwrap();
        let have = std::fs::read_to_string(path(committed)).unwrap_or_default();
        assert!(
            want == have,
            "{committed} differs from what mixin/ renders: run tools/regenerate"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The mixin reads the vocabulary from the exporter's source text: what it reads is each product's statuses, and
/// the transitional and failed sets, as the exporter knows them.
#[test]
fn the_mixin_reads_every_products_vocabulary_as_the_exporter_declares_it() {
    let read = evaluate("statuses.libsonnet");
    let declared = |keep: &dyn Fn(Known) -> bool| -> Vec<String> {
        Known::ALL
            .into_iter()
            .filter(|k| keep(*k))
            .map(|k| k.as_str().to_owned())
            .collect()
    };
    assert_eq!(names(&read["known"]), declared(&|_| true));
    assert_eq!(
        names(&read["transitional"]),
        declared(&|k| k.kind() == Kind::Transitional)
    );
    assert_eq!(
        names(&read["failed"]),
        declared(&|k| k.kind() == Kind::Failed)
    );
    for product in Product::ALL {
        assert_eq!(
            names(&read["products"][product.as_str()]),
            declared(&|k| k.is_of(*product)),
            "{product}"
        );
    }
}

/// What the mixin library `mixin/lib/NAME` evaluates to.
fn evaluate(name: &str) -> Value {
    let script = format!("import _gojsonnet; print(_gojsonnet.evaluate_file('mixin/lib/{name}'))");
    let out = run(
        "python3",
        "PyPI's `gojsonnet` (go-jsonnet)",
        &["-c", &script],
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    assert_clean(name, &out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The strings of a JSON list.
fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// The hardware alerts read the components, their documented values and the sensors from the exporter's source
/// text, and the poll alerts each product's health and maintenance actions from its declaration.
#[test]
fn the_mixin_reads_the_hardware_vocabulary_and_the_actions_as_declared() {
    let hardware = evaluate("hardware.libsonnet");
    assert_eq!(
        hardware["components"].as_array().unwrap().len(),
        COMPONENTS.len()
    );
    for (read, declared) in hardware["components"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&COMPONENTS)
    {
        assert_eq!(read["name"], declared.name);
        assert_eq!(
            names(&read["values"]),
            declared
                .values
                .iter()
                .map(|h| h.as_str())
                .collect::<Vec<_>>()
        );
    }
    let words = |list: &[Health]| list.iter().map(|h| h.as_str()).collect::<Vec<_>>();
    assert_eq!(names(&hardware["health"]), words(Health::ALL));
    assert_eq!(
        names(&hardware["quiet"]),
        words(&[Health::Ok, Health::Unknown])
    );
    assert_eq!(
        names(&hardware["sensors"]),
        SENSORS.iter().map(|s| s.name).collect::<Vec<_>>()
    );
    let products = evaluate("products.libsonnet");
    for (i, product) in Product::ALL.iter().enumerate() {
        let declared = declaration::of(*product);
        let read = &products["all"][i];
        assert_eq!(read["status"], declared.status_action(), "{product}");
        assert_eq!(read["health"].as_str(), declared.health_action, "{product}");
        assert_eq!(
            read["maintenance"].as_str(),
            declared.maintenance.map(|_| DESCRIBE_MAINTENANCE_ALERTS),
            "{product}"
        );
    }
}

#[test]
fn a_custom_selector_passes_the_unit_tests_rewritten_for_it() {
    let dir = render(
        "custom",
        &[
            (
                "config",
                r#"{selector: 'job="zl", cluster!=""', groupLabels: ['cluster', 'account', 'product']}"#,
            ),
            ("target", r#"{job: 'zl', cluster: 'eu-1'}"#),
            ("absent", r#"{job: 'zl'}"#),
        ],
    );
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    assert!(
        !rules.contains("zenlayer-exporter\\\""),
        "the default job is gone"
    );
    assert!(
        rules.contains("by (job, instance, cluster, account"),
        "cluster is kept in aggregations"
    );
    let dashboard = std::fs::read_to_string(dir.join("zenlayer-fleet.json")).unwrap();
    assert!(dashboard.contains(r#"cluster=~\"$cluster\""#));
    let out = promtool_rules(&dir);
    assert_clean("promtool test rules (custom selector)", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_the_exclusion_parked_instances_page() {
    // The same tests against rules rendered with no exclusion: the parked instances fire, so the test of the
    // exclusion fails, and it fails for them alone.
    let dir = render("no-exclusion", &[("config", "{excludeSelector: ''}")]);
    let out = promtool_rules(&dir);
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("ZenlayerInstanceStopped"), "{report}");
    assert!(report.contains("instance_id=\"i-1\""), "{report}");
    let failed = report.matches("alertname:").count();
    assert_eq!(
        failed, 8,
        "the STOPPED check twice, stuck and create-failed once each, and the parked bare-metal server's hardware, \
         temperature, upcoming and in-progress maintenance checks:\n{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One exception to a lint rule: which rule, which panel, and why.
#[derive(serde::Deserialize)]
struct Exception {
    rule: String,
    panel: String,
    reason: String,
}

/// Durations the dashboard's interval variables stand for while an expression is parsed: unusual values, so the
/// parsed ranges tell which variable each one was.
const RATE_INTERVAL: Duration = Duration::from_secs(1234);
const SUBSTITUTIONS: [(&str, &str); 3] = [
    ("$__rate_interval", "1234s"),
    ("$__range", "1235s"),
    ("$__interval", "1236s"),
];

/// What the linter looks at in one parsed expression.
#[derive(Default)]
struct Seen {
    /// Each vector selector's matchers, as `name op value`.
    selectors: Vec<BTreeSet<String>>,
    /// The range of each rate-like function's argument.
    rate_ranges: Vec<(String, Duration)>,
}

impl ExprVisitor for Seen {
    type Error = ();

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        let matchers = |vs: &promql_parser::parser::VectorSelector| {
            vs.matchers
                .matchers
                .iter()
                .map(|m| {
                    let op = match &m.op {
                        MatchOp::Equal => "=",
                        MatchOp::NotEqual => "!=",
                        MatchOp::Re(_) => "=~",
                        MatchOp::NotRe(_) => "!~",
                    };
                    format!("{}{op}{:?}", m.name, m.value)
                })
                .collect()
        };
        match expr {
            Expr::VectorSelector(vs) => self.selectors.push(matchers(vs)),
            Expr::MatrixSelector(ms) => self.selectors.push(matchers(&ms.vs)),
            Expr::Call(call)
                if ["rate", "irate", "increase", "delta", "idelta"].contains(&call.func.name) =>
            {
                for arg in &call.args.args {
                    if let Expr::MatrixSelector(ms) = &**arg {
                        self.rate_ranges.push((call.func.name.to_owned(), ms.range));
                    }
                }
            }
            _ => {}
        }
        Ok(true)
    }
}

#[test]
fn the_dashboard_passes_the_dashboard_linter_rules() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(path("grafana/dashboards/zenlayer-fleet.json")).unwrap(),
    )
    .unwrap();
    let exceptions: Vec<Exception> = serde_json::from_str(
        &std::fs::read_to_string(path("mixin/dashboard-lint-exceptions.json")).unwrap(),
    )
    .expect("mixin/dashboard-lint-exceptions.json: a list of {rule, panel, reason}");
    let mut used = vec![false; exceptions.len()];
    let mut problems = Vec::new();
    let mut check = |rule: &str, panel: &str, ok: bool, what: String| {
        if ok {
            return;
        }
        match exceptions
            .iter()
            .position(|e| e.rule == rule && e.panel == panel)
        {
            Some(i) => used[i] = true,
            None => problems.push(format!("{rule}: panel {panel:?}: {what}")),
        }
    };

    // template-datasource-rule, template-job-rule, template-instance-rule.
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
    check(
        "template-datasource",
        "(dashboard)",
        variable("datasource")
            .is_some_and(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
        "a `datasource` variable of type datasource, for Prometheus".into(),
    );
    for name in ["job", "instance"] {
        check(
            &format!("template-{name}"),
            "(dashboard)",
            variable(name).is_some_and(|v| {
                v["datasource"]["uid"] == "${datasource}"
                    && v["includeAll"] == true
                    && v["multi"] == true
                    && v["allValue"] == ".*"
            }),
            format!("a `{name}` variable on the templated data source, multi-valued with All = .*"),
        );
    }

    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap_or("");
        check(
            "panel-title-description",
            title,
            !title.is_empty() && panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "a title and a description".into(),
        );
        check(
            "panel-units",
            title,
            panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .is_some_and(|u| !u.is_empty()),
            "fieldConfig.defaults.unit".into(),
        );
        check(
            "panel-datasource",
            title,
            panel["datasource"]["uid"] == "${datasource}",
            "the `${datasource}` variable as data source".into(),
        );
        for target in panel["targets"].as_array().unwrap() {
            check(
                "panel-datasource",
                title,
                target["datasource"]["uid"] == "${datasource}",
                "each target on `${datasource}`".into(),
            );
            let expr = target["expr"].as_str().unwrap();
            let substituted = SUBSTITUTIONS
                .iter()
                .fold(expr.to_owned(), |e, (var, value)| e.replace(var, value));
            let parsed = match parser::parse(&substituted) {
                Ok(parsed) => parsed,
                Err(e) => {
                    check("target-promql", title, false, format!("{e}: {expr}"));
                    continue;
                }
            };
            let mut seen = Seen::default();
            walk_expr(&mut seen, &parsed).unwrap();
            for matchers in &seen.selectors {
                for (rule, wanted) in [
                    ("target-job", r#"job=~"$job""#),
                    ("target-instance", r#"instance=~"$instance""#),
                ] {
                    check(
                        rule,
                        title,
                        matchers.contains(wanted),
                        format!("{wanted} in every selector: {matchers:?} in {expr}"),
                    );
                }
            }
            for (function, range) in &seen.rate_ranges {
                check(
                    "target-rate-interval",
                    title,
                    *range == RATE_INTERVAL,
                    format!("{function}() over $__rate_interval: {expr}"),
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the dashboard breaks lint rules:\n{}",
        problems.join("\n")
    );
    for (exception, used) in exceptions.iter().zip(used) {
        assert!(
            used,
            "stale exception in mixin/dashboard-lint-exceptions.json: {} on {:?} ({}): the panel passes now",
            exception.rule, exception.panel, exception.reason
        );
        assert!(exception.reason.len() > 20, "say why: {}", exception.panel);
    }
}

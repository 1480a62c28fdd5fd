# Generates deploy/prometheus/alerts_test.yml: expected annotations rendered from alerts.yml's templates, so the
# tests check the real text. The output is committed and reviewed:
#   python3 tools/gen_alert_tests.py deploy/prometheus/alerts.yml > deploy/prometheus/alerts_test.yml
# Needs PyYAML. Instance annotations start with the lookup of the instance's name and zone (PRELUDE below, which
# must match alerts.yml exactly); `info` says what that lookup finds in a test.
import re, sys, yaml

rules = {r["alert"]: r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r}
J = 'job="zenlayer-exporter"'
E = 'instance="exp:9612"'

def series(name, labels, values):
    toks = []
    for part in values.split():
        m = re.fullmatch(r"(.+)\*(\d+)", part)  # token*N: repeat N times
        toks += [m.group(1)] * int(m.group(2)) if m else [part]
    return {"series": f"{name}{{{labels}}}", "values": " ".join(toks)}

PRELUDE = ('{{ $name := $labels.instance_id }}{{ $where := "" }}'
           '{{ with printf "last_over_time(zenlayer_vm_instance_info{job=%q,instance=%q,account=%q,instance_id=%q}[1h])" $labels.job $labels.instance $labels.account $labels.instance_id | query }}'
           '{{ with first . }}{{ with .Labels.instance_name }}{{ $name = . }}{{ end }}{{ with .Labels.zone_id }}{{ $where = printf " in %s" . }}{{ end }}{{ end }}{{ end }}')

def render(text, labels, value, info):
    name, where = labels.get("instance_id", ""), ""
    if text.startswith(PRELUDE):
        text = text[len(PRELUDE):]
        if info:
            name = info.get("instance_name") or name
            where = f" in {info['zone_id']}" if info.get("zone_id") else ""
    else:
        assert "query" not in text, text
    text = " ".join(text.split()) if "\n" in text else text
    # `{{ with $labels.account }}...{{ . }}...{{ end }}`: the text with the account, or nothing without one.
    text = re.sub(r"\{\{ with \$labels\.account \}\}(.*?)\{\{ end \}\}",
                  lambda m: m.group(1).replace("{{ . }}", labels["account"]) if labels.get("account") else "", text)
    def sub(m):
        expr = m.group(1).strip()
        if expr.startswith("$labels."):
            return labels[expr[len("$labels."):]]
        if expr.startswith("$value"):
            return value
        if expr == "$name":
            return name
        if expr == "$where":
            return where
        raise ValueError(expr)
    return re.sub(r"\{\{(.*?)\}\}", sub, text)

def alert(name, labels, value="", info=None):
    r = rules[name]
    all_labels = dict(labels, **r.get("labels", {}))
    ann = {k: render(v, all_labels, value, info) for k, v in r["annotations"].items()}
    return {"exp_labels": all_labels, "exp_annotations": ann}

def check(t, name, *alerts):
    return {"eval_time": t, "alertname": name, "exp_alerts": list(alerts)}

base = {"job": "zenlayer-exporter", "instance": "exp:9612"}
def inst(i, status): return dict(base, instance_id=i, status=status)
def st(i, status, values): return series("zenlayer_vm_instance_status", f'{J},{E},instance_id="{i}",status="{status}"', values)
def info(i, name, zone, values):
    return series("zenlayer_vm_instance_info", f'{J},{E},instance_id="{i}",instance_name="{name}",zone_id="{zone}",instance_type="c.4c8g",'
                  'image_name="Ubuntu",charge_type="PREPAID",resource_group="Default Resource Group"', values)
def per(metric, i, values): return series(metric, f'{J},{E},instance_id="{i}"', values)
DAY = 86400

# Two accounts on one exporter target: `sim-a` blind (its polls fail), `sim-b` healthy.
A = 'account="prod"'
B = 'account="staging"'
def sta(acc, i, status, values): return series("zenlayer_vm_instance_status", f'{J},{E},{acc},instance_id="{i}",status="{status}"', values)
def acct(acc, labels): return dict(labels, account=acc)

tests = [
  {"name": "two accounts, one blind: its last known STOPPED keeps firing, named with its account; the healthy one's released instance drops out",
   "input_series": [series("zenlayer_up", f"{J},{E},{A}", "1*8 0*18"), series("zenlayer_up", f"{J},{E},{B}", "1*26"),
                    sta(A, "i-1", "STOPPED", "1*8 stale"), sta(B, "i-2", "STOPPED", "1*8 stale"),
                    series("zenlayer_vm_instance_info", f'{J},{E},{A},instance_id="i-1",instance_name="web-prod",zone_id="FRA-A"', "1*26")],
   "alert_rule_test": [check("4m", "ZenlayerInstanceStopped"),
                       check("7m", "ZenlayerInstanceStopped",
                             alert("ZenlayerInstanceStopped", acct("prod", inst("i-1", "STOPPED")), info={"instance_name": "web-prod", "zone_id": "FRA-A"}),
                             alert("ZenlayerInstanceStopped", acct("staging", inst("i-2", "STOPPED")))),
                       check("20m", "ZenlayerInstanceStopped",
                             alert("ZenlayerInstanceStopped", acct("prod", inst("i-1", "STOPPED")), info={"instance_name": "web-prod", "zone_id": "FRA-A"})),
                       check("15m", "ZenlayerPollsFailing", alert("ZenlayerPollsFailing", dict(base, account="prod")))]},
  {"name": "two accounts: the RUNNING count is per account, so one account's drop pages for it alone",
   "input_series": [series("zenlayer_vm_instances", f'{J},{E},{A},status="RUNNING"', "100*6 80*10"),
                    series("zenlayer_vm_instances", f'{J},{E},{B},status="RUNNING"', "50*6 70*10")],
   "alert_rule_test": [check("9m", "ZenlayerRunningInstancesDropped",
                             alert("ZenlayerRunningInstancesDropped", dict(base, account="prod"), "20"))]},

  {"name": "a STOPPED instance pages after 5 minutes; a RUNNING one and one that recovered do not",
   "input_series": [series("zenlayer_up", f"{J},{E}", "1*31"), st("i-1", "STOPPED", "1*31"), st("i-2", "RUNNING", "1*31"),
                    st("i-3", "STOPPED", "1*4 stale"), st("i-3", "RUNNING", "_*4 1*27")],
   "alert_rule_test": [check("4m", "ZenlayerInstanceStopped"),
                       check("6m", "ZenlayerInstanceStopped", alert("ZenlayerInstanceStopped", inst("i-1", "STOPPED")))]},
  {"name": "a STOPPED alert names the instance and its zone from the info series, kept through an hour without metadata",
   "input_series": [series("zenlayer_up", f"{J},{E}", "1*31"), st("i-1", "STOPPED", "1*31"), st("i-2", "STOPPED", "1*31"),
                    st("i-3", "STOPPED", "1*31"),
                    info("i-1", "web-fra-01", "FRA-A", "1*3 stale"), info("i-2", "db-01", "", "1*31")],
   "alert_rule_test": [check("6m", "ZenlayerInstanceStopped",
                             alert("ZenlayerInstanceStopped", inst("i-1", "STOPPED"), info={"instance_name": "web-fra-01", "zone_id": "FRA-A"}),
                             alert("ZenlayerInstanceStopped", inst("i-2", "STOPPED"), info={"instance_name": "db-01", "zone_id": ""}),
                             alert("ZenlayerInstanceStopped", inst("i-3", "STOPPED")))]},
  {"name": "a prepaid instance expiring within 7 days without auto-renewal warns; renewing, far-off or postpaid ones do not",
   "input_series": [info("i-1", "web-fra-01", "FRA-A", "1*31"),
                    per("zenlayer_vm_instance_expiry_timestamp_seconds", "i-1", f"{3 * DAY}*31"),
                    per("zenlayer_vm_instance_auto_renew", "i-1", "0*31"),
                    per("zenlayer_vm_instance_expiry_timestamp_seconds", "i-2", f"{3 * DAY}*31"),
                    per("zenlayer_vm_instance_auto_renew", "i-2", "1*31"),
                    per("zenlayer_vm_instance_expiry_timestamp_seconds", "i-3", f"{30 * DAY}*31"),
                    per("zenlayer_vm_instance_auto_renew", "i-3", "0*31"),
                    per("zenlayer_vm_instance_expiry_timestamp_seconds", "i-4", f"{3 * DAY}*31"),
                    per("zenlayer_vm_instance_auto_renew", "i-4", "0*10 1*21")],
   "alert_rule_test": [check("14m", "ZenlayerPrepaidInstanceExpiring"),
                       check("20m", "ZenlayerPrepaidInstanceExpiring",
                             alert("ZenlayerPrepaidInstanceExpiring", dict(base, instance_id="i-1"), "2d 23h 40m 0s",
                                   info={"instance_name": "web-fra-01", "zone_id": "FRA-A"}))]},
  {"name": "metadata stale: no successful DescribeInstances poll for over an hour; the status poll is not concerned",
   "input_series": [series("zenlayer_exporter_last_poll_success_timestamp_seconds", f'{J},instance="a:9612",action="DescribeInstances"', "60*90"),
                    series("zenlayer_exporter_last_poll_success_timestamp_seconds", f'{J},instance="a:9612",action="DescribeInstancesStatus"', "0+60x89"),
                    series("zenlayer_exporter_last_poll_success_timestamp_seconds", f'{J},instance="b:9612",action="DescribeInstances"', "0+300x17 5100+60x71")],
   "alert_rule_test": [check("70m", "ZenlayerMetadataStale"),
                       check("80m", "ZenlayerMetadataStale",
                             alert("ZenlayerMetadataStale", {"job": "zenlayer-exporter", "instance": "a:9612", "action": "DescribeInstances"}, "1h 19m 0s")),
                       check("14m", "ZenlayerDataStale")]},
  {"name": "target down: the last known STOPPED keeps firing, a change seen before the outage is kept, ExporterDown fires",
   "input_series": [series("up", f"{J},{E}", "1*11 0*20"), series("zenlayer_up", f"{J},{E}", "1*11 stale"),
                    st("i-1", "STOPPED", "1*11 stale"), st("i-2", "STOPPED", "1*6 stale"), st("i-2", "RUNNING", "_*6 1*5 stale")],
   "alert_rule_test": [check("25m", "ZenlayerInstanceStopped", alert("ZenlayerInstanceStopped", inst("i-1", "STOPPED"))),
                       check("14m", "ZenlayerExporterDown"),
                       check("25m", "ZenlayerExporterDown", alert("ZenlayerExporterDown", base))]},
  {"name": "polls failing: the last snapshot is served, STOPPED keeps firing, PollsFailing fires",
   "input_series": [series("zenlayer_up", f"{J},{E}", "1*6 0*20"), st("i-1", "STOPPED", "1*26")],
   "alert_rule_test": [check("12m", "ZenlayerInstanceStopped", alert("ZenlayerInstanceStopped", inst("i-1", "STOPPED"))),
                       check("10m", "ZenlayerPollsFailing"),
                       check("12m", "ZenlayerPollsFailing", alert("ZenlayerPollsFailing", base))]},
  {"name": "restarted while the API is down: no snapshot yet, the last known STOPPED persists",
   "input_series": [series("zenlayer_up", f"{J},{E}", "1*6 0*20"), st("i-1", "STOPPED", "1*6 stale")],
   "alert_rule_test": [check("20m", "ZenlayerInstanceStopped", alert("ZenlayerInstanceStopped", inst("i-1", "STOPPED")))]},
  {"name": "healthy again after an outage: an instance released meanwhile drops out",
   "input_series": [series("up", f"{J},{E}", "1*6 0*3 1*12"), series("zenlayer_up", f"{J},{E}", "1*6 stale _*2 1*12"),
                    st("i-1", "STOPPED", "1*6 stale"), st("i-2", "RUNNING", "1*6 stale _*2 1*12")],
   "alert_rule_test": [check("8m", "ZenlayerInstanceStopped", alert("ZenlayerInstanceStopped", inst("i-1", "STOPPED"))),
                       check("12m", "ZenlayerInstanceStopped")]},
  {"name": "stuck in a transition for 30 minutes; a transition that completes is fine",
   "input_series": [series("zenlayer_up", f"{J},{E}", "1*41"), st("i-1", "BOOTING", "1*41"),
                    st("i-2", "BOOTING", "1*10 stale"), st("i-2", "RUNNING", "_*10 1*31")],
   "alert_rule_test": [check("29m", "ZenlayerInstanceStuckInTransition"),
                       check("31m", "ZenlayerInstanceStuckInTransition", alert("ZenlayerInstanceStuckInTransition", inst("i-1", "BOOTING")))]},
  {"name": "a failed creation",
   "input_series": [series("zenlayer_up", f"{J},{E}", "1*5"), st("i-1", "CREATE_FAILED", "1*5"), st("i-2", "RUNNING", "1*5")],
   "alert_rule_test": [check("0m", "ZenlayerInstanceCreateFailed"),
                       check("2m", "ZenlayerInstanceCreateFailed", alert("ZenlayerInstanceCreateFailed", inst("i-1", "CREATE_FAILED")))]},
  {"name": "a fleet-wide drop of RUNNING instances pages once; a single instance stopping does not",
   "input_series": [series("zenlayer_vm_instances", f'{J},instance="a:9612",status="RUNNING"', "100*6 80*10"),
                    series("zenlayer_vm_instances", f'{J},instance="b:9612",status="RUNNING"', "100*6 99*10")],
   "alert_rule_test": [check("6m", "ZenlayerRunningInstancesDropped"),
                       check("9m", "ZenlayerRunningInstancesDropped",
                             alert("ZenlayerRunningInstancesDropped", {"job": "zenlayer-exporter", "instance": "a:9612"}, "20"))]},
  {"name": "data stale: no successful poll for over 10 minutes; a poll that keeps succeeding or never did is not stale",
   "input_series": [series("zenlayer_exporter_last_poll_success_timestamp_seconds", f'{J},instance="a:9612",action="DescribeInstancesStatus"', "60*20"),
                    series("zenlayer_exporter_last_poll_success_timestamp_seconds", f'{J},instance="b:9612",action="DescribeInstancesStatus"', "0+60x19"),
                    series("zenlayer_exporter_last_poll_success_timestamp_seconds", f'{J},instance="c:9612",action="DescribeInstancesStatus"', "0*20"),
                    series("zenlayer_exporter_last_poll_success_timestamp_seconds", f'{J},instance="d:9612",action="DescribeInstances"', "60*20")],
   "alert_rule_test": [check("11m", "ZenlayerDataStale"),
                       check("14m", "ZenlayerDataStale",
                             alert("ZenlayerDataStale", {"job": "zenlayer-exporter", "instance": "a:9612", "action": "DescribeInstancesStatus"}, "13m 0s"))]},
  {"name": "sustained throttling above 20% of calls; 5% is not",
   "input_series": [series("zenlayer_exporter_api_requests_total", f'{J},instance="a:9612",action="DescribeInstancesStatus"', "0+100x40"),
                    series("zenlayer_exporter_api_request_failures_total", f'{J},instance="a:9612",action="DescribeInstancesStatus",reason="throttled"', "0+30x40"),
                    series("zenlayer_exporter_api_requests_total", f'{J},instance="b:9612",action="DescribeInstancesStatus"', "0+100x40"),
                    series("zenlayer_exporter_api_request_failures_total", f'{J},instance="b:9612",action="DescribeInstancesStatus",reason="throttled"', "0+5x40")],
   "alert_rule_test": [check("10m", "ZenlayerApiThrottled"),
                       check("20m", "ZenlayerApiThrottled",
                             alert("ZenlayerApiThrottled", {"job": "zenlayer-exporter", "instance": "a:9612"}, "30%"))]},
  {"name": "no target at all in the job",
   "input_series": [series("up", 'job="something-else",instance="x:1"', "1*15")],
   "alert_rule_test": [check("5m", "ZenlayerExporterAbsent"),
                       check("12m", "ZenlayerExporterAbsent", alert("ZenlayerExporterAbsent", {"job": "zenlayer-exporter"}))]},
  {"name": "when an instance entered its status: kept while it lasts, renewed when it comes back",
   "input_series": [series("zenlayer_up", f"{J},{E}", "1*31"),
                    st("i-1", "STOPPED", "_*3 1*9 stale _*7 1*11"), st("i-1", "RUNNING", "_*13 1*7 stale")],
   "promql_expr_test": [
       {"expr": 'zenlayer:vm_instance_status:first_seen_timestamp{instance_id="i-1"}', "eval_time": "10m",
        "exp_samples": [{"labels": 'zenlayer:vm_instance_status:first_seen_timestamp{job="zenlayer-exporter",instance="exp:9612",instance_id="i-1",status="STOPPED"}', "value": 180}]},
       {"expr": 'zenlayer:vm_instance_status:first_seen_timestamp{instance_id="i-1"}', "eval_time": "15m",
        "exp_samples": [{"labels": 'zenlayer:vm_instance_status:first_seen_timestamp{job="zenlayer-exporter",instance="exp:9612",instance_id="i-1",status="RUNNING"}', "value": 780}]},
       {"expr": 'zenlayer:vm_instance_status:first_seen_timestamp{instance_id="i-1"}', "eval_time": "25m",
        "exp_samples": [{"labels": 'zenlayer:vm_instance_status:first_seen_timestamp{job="zenlayer-exporter",instance="exp:9612",instance_id="i-1",status="STOPPED"}', "value": 1200}]}]},
]
for t in tests:
    t["interval"] = "1m"
doc = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}
header = ("# promtool test rules deploy/prometheus/alerts_test.yml: every alert, firing and not firing, including\n"
          "# the carry-forward of instance alerts while the exporter is blind. Series are one sample a minute.\n")
print(header + yaml.safe_dump(doc, sort_keys=False, width=200), end="")

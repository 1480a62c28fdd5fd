# Generates grafana/dashboards/zenlayer-fleet.json (committed; regenerate and review the diff):
#   python3 tools/gen_dashboard.py > grafana/dashboards/zenlayer-fleet.json
import json
import pathlib
import re

DS = {"type": "prometheus", "uid": "${datasource}"}
# The status vocabulary is declared once, in src/status/vocabulary.rs (`Variant = "SPELLING", kind;`).
VOCABULARY = (pathlib.Path(__file__).parent.parent / "src/status/vocabulary.rs").read_text()
DECLARED = re.findall(r'^\s+[A-Za-z]+ = "([A-Z_]+)", (transitional|steady);$', VOCABULARY, re.M)
KNOWN = [name for name, _ in DECLARED]
TRANSITIONAL = "|".join(name for name, kind in DECLARED if kind == "transitional")
COLORS = {"RUNNING": "green", "STOPPED": "red", "CREATE_FAILED": "dark-red", "RECYCLE": "purple",
          "RELEASING": "purple", "RECYCLING": "purple"}
panels = []
next_id = [1]

def pid():
    next_id[0] += 1
    return next_id[0]

def target(expr, legend="", instant=False, fmt="time_series", ref="A"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend, "range": not instant, "instant": instant}
    if fmt != "time_series":
        t["format"] = fmt
    return t

def row(title, y):
    panels.append({"type": "row", "title": title, "id": pid(), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})

def panel(kind, title, desc, targets, x, y, w, h, **extra):
    p = {"type": kind, "title": title, "description": desc, "id": pid(), "datasource": DS,
         "gridPos": {"h": h, "w": w, "x": x, "y": y}, "targets": targets}
    p.update(extra)
    panels.append(p)

def stat(title, desc, expr, x, y, steps, unit="none", mappings=None):
    panel("stat", title, desc, [target(expr, instant=True)], x, y, 4, 4,
          fieldConfig={"defaults": {"unit": unit, "mappings": mappings or [],
                                    "thresholds": {"mode": "absolute", "steps": steps}}, "overrides": []},
          options={"colorMode": "background", "graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "textMode": "value", "justifyMode": "center", "orientation": "auto"})

green = [{"color": "green", "value": None}]
red_if_any = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
amber_if_any = [{"color": "green", "value": None}, {"color": "orange", "value": 1}]
# `account` exists with an accounts file only; `=~".*"` (All) also matches series without it, so the dashboard
# serves both modes, and every aggregation keeps `account` where it exists.
sel = 'job=~"$job",account=~"$account"'
KEY = "job, instance, account, instance_id"
INFO = f'zenlayer_vm_instance_info{{{sel},zone_id=~"$zone"}}'

def named(expr):
    """`expr` (per instance) with each instance's name and zone, filtered by the zone variable; instances the
    metadata does not know (metadata off, or created since the last metadata poll) are kept, unnamed."""
    return (f"({expr}) * on ({KEY}) group_left (instance_name, zone_id) {INFO}\n"
            f"or on ({KEY}) (({expr}) unless on ({KEY}) zenlayer_vm_instance_info{{{sel}}})")

NAME_LEGEND = "{{instance_name}} {{zone_id}} {{instance_id}}"

row("Fleet", 0)
stat("Instances", "Every instance the API lists.", f"sum(zenlayer_vm_instances{{{sel}}})", 0, 1, [{"color": "blue", "value": None}])
stat("RUNNING", "Instances whose status is RUNNING.", f'sum(zenlayer_vm_instances{{{sel},status="RUNNING"}})', 4, 1, green)
stat("STOPPED", "Instances whose status is STOPPED: each one pages after 5 minutes (ZenlayerInstanceStopped).",
     f'sum(zenlayer_vm_instances{{{sel},status="STOPPED"}})', 8, 1, red_if_any)
stat("In transition", f"Instances in a transitional status ({TRANSITIONAL.replace('|', ', ')}).",
     f'sum(zenlayer_vm_instances{{{sel},status=~"{TRANSITIONAL}"}})', 12, 1, amber_if_any)
stat("CREATE_FAILED", "Instances whose creation failed: they never start by themselves.",
     f'sum(zenlayer_vm_instances{{{sel},status="CREATE_FAILED"}})', 16, 1, red_if_any)
stat("Other statuses", "Instances in a status this exporter does not know: the API added one. They are exported as sent.",
     f'sum(zenlayer_vm_instances{{{sel},status!~"{"|".join(KNOWN)}"}}) or vector(0)', 20, 1, amber_if_any)
panel("timeseries", "Fleet by status", "How many instances are in each status over time (filtered by the status variable).",
      [target(f'sum by (status) (zenlayer_vm_instances{{{sel},status=~"$status"}})', "{{status}}")], 0, 5, 24, 8,
      fieldConfig={"defaults": {"custom": {"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30, "lineWidth": 1},
                                "unit": "none", "min": 0},
                   "overrides": [{"matcher": {"id": "byName", "options": s},
                                  "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}]} for s, c in COLORS.items()]},
      options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]}, "tooltip": {"mode": "multi", "sort": "desc"}})

row("Instances", 13)
panel("table", "STOPPED and failed instances", "Instances now STOPPED or CREATE_FAILED, and how long they have been so "
      "(since Prometheus saw them enter that status; needs the recording rules of deploy/prometheus/alerts.yml).",
      [target(named(f'time() - zenlayer:vm_instance_status:first_seen_timestamp{{{sel},status=~"STOPPED|CREATE_FAILED",instance_id=~"$instance"}}'),
              instant=True, fmt="table")], 0, 14, 12, 9,
      fieldConfig={"defaults": {"unit": "s"}, "overrides": [
          {"matcher": {"id": "byName", "options": "Value"}, "properties": [{"id": "displayName", "value": "In status for"}]}]},
      transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
                                                      "renameByName": {"instance_name": "Name", "zone_id": "Zone", "instance_id": "Instance", "status": "Status"},
                                                      "indexByName": {"instance_name": 0, "zone_id": 1, "instance_id": 2, "status": 3, "Value": 4}}},
                       {"id": "sortBy", "options": {"sort": [{"field": "In status for", "desc": True}]}}],
      options={"showHeader": True})
panel("bargauge", "Uptime ratio per instance", "Share of the dashboard's time range each instance was RUNNING, worst first.",
      [target("sort(" + named(f'avg_over_time(zenlayer_vm_instance_running{{{sel},instance_id=~"$instance"}}[$__range])') + ")", NAME_LEGEND, instant=True)],
      12, 14, 12, 9,
      fieldConfig={"defaults": {"unit": "percentunit", "min": 0, "max": 1,
                                "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "orange", "value": 0.95}, {"color": "green", "value": 0.999}]}},
                   "overrides": []},
      options={"displayMode": "gradient", "orientation": "horizontal", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "showUnfilled": True})
codes = {s: i + 1 for i, s in enumerate(KNOWN)}
code_expr = f"max by ({KEY}) (\n" + "\n  or ".join(
    f'zenlayer_vm_instance_status{{{sel},instance_id=~"$instance",status="{s}"}} * {c}' for s, c in codes.items()) + \
    f'\n  or zenlayer_vm_instance_status{{{sel},instance_id=~"$instance",status!~"{"|".join(KNOWN)}"}} * 99\n)'
panel("state-timeline", "Status timeline", "Each instance's status over time (use the instance variable to focus on a few).",
      [target(named(code_expr), NAME_LEGEND)], 0, 23, 24, 12,
      fieldConfig={"defaults": {"custom": {"fillOpacity": 80, "lineWidth": 0},
                                "mappings": [{"type": "value", "options": {str(c): {"text": s, "color": COLORS.get(s, "orange"), "index": c}
                                                                           for s, c in list(codes.items()) + [("OTHER", 99)]}}],
                                "thresholds": {"mode": "absolute", "steps": [{"color": "orange", "value": None}]},
                                "color": {"mode": "thresholds"}},
                   "overrides": []},
      options={"showValue": "never", "mergeValues": True, "rowHeight": 0.9, "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"}})

row("Zones and billing", 35)
panel("timeseries", "RUNNING instances by zone", "RUNNING instances in each zone over time (zone from the metadata poll; filtered by the zone variable).",
      [target(f"sum by (zone_id) (zenlayer_vm_instance_running{{{sel}}} * on ({KEY}) group_left (zone_id) {INFO})", "{{zone_id}}")],
      0, 36, 12, 8, fieldConfig={"defaults": {"custom": {"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30, "lineWidth": 1},
                                              "unit": "none", "min": 0}, "overrides": []},
      options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]}, "tooltip": {"mode": "multi", "sort": "desc"}})
panel("table", "Instances by zone and status", "How many instances each zone has in each status now.",
      [target(f"sum by (zone_id, status) ((zenlayer_vm_instance_status{{{sel}}} == 1) * on ({KEY}) group_left (zone_id) {INFO})",
              instant=True, fmt="table")], 12, 36, 12, 8,
      transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True},
                                                      "renameByName": {"zone_id": "Zone", "status": "Status", "Value": "Instances"}}},
                       {"id": "sortBy", "options": {"sort": [{"field": "Instances", "desc": True}]}}],
      options={"showHeader": True})
panel("table", "Prepaid instances expiring within 30 days without auto-renewal",
      "Prepaid instances that will not renew themselves, and the time left: under 7 days, ZenlayerPrepaidInstanceExpiring warns.",
      [target(f"(\n  (zenlayer_vm_instance_expiry_timestamp_seconds{{{sel}}} - time() < 30 * 86400)\n"
              f"  and on ({KEY}) (zenlayer_vm_instance_auto_renew{{{sel}}} == 0)\n"
              f") * on ({KEY}) group_left (instance_name, zone_id) {INFO}", instant=True, fmt="table")], 0, 44, 24, 8,
      fieldConfig={"defaults": {"unit": "s", "thresholds": {"mode": "absolute", "steps": [
                       {"color": "red", "value": None}, {"color": "orange", "value": 7 * 86400}, {"color": "green", "value": 14 * 86400}]},
                                "custom": {"cellOptions": {"type": "color-text"}}},
                   "overrides": [{"matcher": {"id": "byName", "options": "Value"}, "properties": [{"id": "displayName", "value": "Expires in"}]}]},
      transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
                                                      "renameByName": {"instance_name": "Name", "zone_id": "Zone", "instance_id": "Instance"},
                                                      "indexByName": {"instance_name": 0, "zone_id": 1, "instance_id": 2, "Value": 3}}},
                       {"id": "sortBy", "options": {"sort": [{"field": "Expires in", "desc": False}]}}],
      options={"showHeader": True})

H = 52
row("Exporter health", H)
stat("Last poll", "Whether the exporter's last poll of the Zenlayer API succeeded (zenlayer_up).", f"min(zenlayer_up{{{sel}}})", 0, H + 1,
     [{"color": "red", "value": None}, {"color": "green", "value": 1}],
     mappings=[{"type": "value", "options": {"0": {"text": "FAILING", "index": 0}, "1": {"text": "OK", "index": 1}}}])
stat("Data age", "Time since the last successful status poll: the staleness alert fires past 10 minutes.",
     f'max(time() - zenlayer_exporter_last_poll_success_timestamp_seconds{{{sel},action="DescribeInstancesStatus"}})', 4, H + 1,
     [{"color": "green", "value": None}, {"color": "orange", "value": 120}, {"color": "red", "value": 600}], unit="s")
stat("Throttled calls", "Share of API calls throttled over the last 15 minutes (ZenlayerApiThrottled past 20%).",
     f'sum(rate(zenlayer_exporter_api_request_failures_total{{{sel},reason="throttled"}}[15m])) / sum(rate(zenlayer_exporter_api_requests_total{{{sel}}}[15m]))',
     8, H + 1, [{"color": "green", "value": None}, {"color": "orange", "value": 0.05}, {"color": "red", "value": 0.2}], unit="percentunit")
stat("Metadata age", "Time since the last successful metadata poll (DescribeInstances): names, zones, tags and expiry dates are this old. "
     "ZenlayerMetadataStale warns past an hour.",
     f'max(time() - zenlayer_exporter_last_poll_success_timestamp_seconds{{{sel},action="DescribeInstances"}})', 0, H + 5,
     [{"color": "green", "value": None}, {"color": "orange", "value": 900}, {"color": "red", "value": 3600}], unit="s")
panel("timeseries", "Poll duration", "How long whole polls take (every page), by action: p50 and p99.",
      [target(f"histogram_quantile(0.5, sum by (le, action) (rate(zenlayer_exporter_poll_duration_seconds_bucket{{{sel}}}[$__rate_interval])))", "p50 {{action}}"),
       target(f"histogram_quantile(0.99, sum by (le, action) (rate(zenlayer_exporter_poll_duration_seconds_bucket{{{sel}}}[$__rate_interval])))", "p99 {{action}}", ref="B")],
      12, H + 1, 12, 8, fieldConfig={"defaults": {"unit": "s", "min": 0}, "overrides": []})
panel("timeseries", "API calls and failures", "API calls per second by action, and failed calls by reason (each retry counts).",
      [target(f"sum by (action) (rate(zenlayer_exporter_api_requests_total{{{sel}}}[$__rate_interval]))", "calls {{action}}"),
       target(f"sum by (reason) (rate(zenlayer_exporter_api_request_failures_total{{{sel}}}[$__rate_interval]))", "failed: {{reason}}", ref="B")],
      0, H + 9, 12, 8, fieldConfig={"defaults": {"unit": "reqps", "min": 0}, "overrides": []})
panel("timeseries", "Failed polls by reason", "Polls that published nothing, by action and reason: the last good snapshot was served meanwhile.",
      [target(f"sum by (action, reason) (increase(zenlayer_exporter_poll_failures_total{{{sel}}}[$__rate_interval]))", "{{action}} {{reason}}")],
      12, H + 9, 12, 8, fieldConfig={"defaults": {"unit": "none", "min": 0}, "overrides": []})
panel("timeseries", "API latency", "Latency of single API calls, body included: p50 and p99.",
      [target(f"histogram_quantile(0.5, sum by (le) (rate(zenlayer_exporter_api_request_duration_seconds_bucket{{{sel}}}[$__rate_interval])))", "p50"),
       target(f"histogram_quantile(0.99, sum by (le) (rate(zenlayer_exporter_api_request_duration_seconds_bucket{{{sel}}}[$__rate_interval])))", "p99", ref="B")],
      0, H + 17, 12, 8, fieldConfig={"defaults": {"unit": "s", "min": 0}, "overrides": []})

def var_query(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-var"}, "definition": query, "refresh": 2, "sort": 1,
            "multi": multi, "includeAll": True, "allValue": ".*", "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0, "options": [], "regex": ""}

dashboard = {
    "title": "Zenlayer fleet",
    "uid": "zenlayer-fleet",
    "description": "Zenlayer Cloud VM instances by status, zone and billing, from zenlayer-exporter, and the exporter's own health.",
    "tags": ["zenlayer", "zenlayer-exporter"],
    "timezone": "",
    "editable": True,
    "graphTooltip": 1,
    "refresh": "30s",
    "schemaVersion": 39,
    "version": 1,
    "time": {"from": "now-6h", "to": "now"},
    "panels": panels,
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {},
         "hide": 0, "options": [], "refresh": 1, "regex": "", "includeAll": False, "multi": False},
        var_query("job", "Exporter job", "label_values(zenlayer_up, job)"),
        var_query("account", "Account", 'label_values(zenlayer_up{job=~"$job"}, account)'),
        var_query("status", "Status", f'label_values(zenlayer_vm_instances{{{sel}}}, status)'),
        var_query("zone", "Zone", f'label_values(zenlayer_vm_instance_info{{{sel}}}, zone_id)'),
        var_query("instance", "Instance", f'label_values(zenlayer_vm_instance_running{{{sel}}}, instance_id)'),
    ]},
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
                              "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
    "links": [],
}
print(json.dumps(dashboard, indent=2))

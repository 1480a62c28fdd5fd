// The zenlayer-exporter monitoring mixin: recording rules, alerts and the Grafana dashboard, fitted to any
// Prometheus through `_config` (config.libsonnet). Standard library only.
//   prometheusRules:   the recording rules the alerts and the dashboard read
//   prometheusAlerts:  the alerts (runbook: docs/alerts.md)
//   grafanaDashboards: { 'zenlayer-fleet.json': ... }
(import 'config.libsonnet')
+ (import 'alerts.libsonnet')
+ (import 'dashboards/fleet.libsonnet')

// What an operator changes to fit the mixin to their Prometheus: override any field of `_config`, e.g.
//   (import 'mixin.libsonnet') + { _config+:: { selector: 'job="zl", cluster!=""', groupLabels: ['cluster', 'account', 'product'] } }
{
  _config+:: {
    // Selects the exporter's series: every series the rules and the dashboard read carries it.
    selector: 'job="zenlayer-exporter"',
    // Labels that tell exporters apart besides job and instance, kept by every aggregation and join: `account`
    // (set with an accounts file; absent otherwise, which matches as empty on both sides) and `product` (vm, zec,
    // bmc: on every instance series and an account's own metrics; keep both, the alerts name them). Add `cluster`
    // when one Prometheus watches several clusters.
    groupLabels: ['account', 'product'],
    // Labels the shard alerts keep besides job when they count accounts over the replicas (shards) of one job:
    // groupLabels less `account`, which they count, and `product`, which the shard series do not carry. Every
    // replica of one job must share them, so leave out any label that differs between replicas (like `instance`,
    // `pod`).
    shardLabels: [l for l in self.groupLabels if l != 'account' && l != 'product'],
    // Instances kept out of the STOPPED, stuck and create-failed alerts: those whose info series matches this
    // (labels of zenlayer_instance_info). The default needs `monitoring` in ZENLAYER_EXPORTER_TAG_LABELS; tag
    // an instance monitoring=off to park it. '' keeps every instance in.
    excludeSelector: 'tag_monitoring="off"',
    // Where each alert's runbook is: the anchor is the alert's name in lower case.
    // The default names the section of the runbook shipped with the exporter; point it at where you host it.
    runbookURL: 'zenlayer-exporter docs/alerts.md#%s',

    // How long each condition lasts before its alert fires.
    stoppedFor: '5m',
    stuckFor: '30m',
    failedFor: '1m',
    expiringFor: '15m',
    droppedFor: '2m',
    exporterDownFor: '5m',
    exporterAbsentFor: '10m',
    pollsFailingFor: '5m',
    dataStaleFor: '1m',
    metadataStaleFor: '15m',
    throttledFor: '15m',
    accountsReloadFailedFor: '5m',
    webConfigReloadFailedFor: '5m',
    accountUnownedFor: '15m',
    accountOwnedTwiceFor: '15m',
    shardsDisagreeFor: '15m',

    // Thresholds.
    expiringWithinDays: 7,
    droppedShare: 0.1,  // of the RUNNING instances 10 minutes ago ...
    droppedAtLeast: 3,  // ... and at least this many
    dataStaleSeconds: 600,
    metadataStaleSeconds: 3600,
    throttledShare: 0.2,

    // The Grafana dashboard.
    dashboardUID: 'zenlayer-fleet',
    dashboardTags: ['zenlayer', 'zenlayer-exporter'],
  },
}

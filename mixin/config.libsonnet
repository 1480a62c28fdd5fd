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
    // Instances kept out of the STOPPED, stuck and create-failed alerts, and the bare-metal hardware,
    // temperature and maintenance ones: those whose info series matches this (labels of zenlayer_instance_info). The default needs `monitoring` in ZENLAYER_EXPORTER_TAG_LABELS; tag
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
    hardwareUnhealthyFor: '5m',
    temperatureHighFor: '5m',
    maintenanceUpcomingFor: '5m',
    maintenanceInProgressFor: '1m',
    hardwareHealthStaleFor: '5m',
    maintenanceStaleFor: '15m',
    // How long the hardware, temperature and maintenance alerts keep firing once their condition is gone. They
    // read the live series, which vanish while the exporter cannot be scraped or has restarted and not polled
    // yet: an exporter rollout would resolve and re-fire every one of them (and lift the inhibition a
    // maintenance in progress puts on its server's STOPPED page). The price: a fixed component, or a window's
    // end, resolves this much later.
    keepFiringFor: '10m',

    // Thresholds.
    expiringWithinDays: 7,
    droppedShare: 0.1,  // of the RUNNING instances 10 minutes ago ...
    droppedAtLeast: 3,  // ... and at least this many
    dataStaleSeconds: 600,
    metadataStaleSeconds: 3600,
    throttledShare: 0.2,
    // A planned maintenance warns this long before it starts (a Prometheus duration).
    maintenanceLeadTime: '24h',
    // How long past a window's end ZenlayerMaintenanceInProgress goes on firing (with window="overrun") while the
    // API still says the window is `in progress` (a Prometheus duration). Such a window overruns, and the grace
    // covers it for a working shift; past it, the status is more likely one the API never updated, or the last
    // snapshot still served while the maintenance poll fails (ZenlayerMaintenanceStale), so the alert stops, and
    // with it the hold it puts on its server's stuck, hardware and temperature alerts. An overrun never holds
    // back the server's STOPPED page: that takes a current window (deploy/alertmanager/alertmanager.yml).
    maintenanceOverrunGrace: '6h',
    // Degrees Celsius (the API's scale is 0 to 100) over which a sensor warns: every sensor but those named in
    // ...BySensor. The inlet sensor reads the intake air, the room's: 40 °C is the top of ASHRAE's A3 allowable
    // class, beyond what most servers are rated for, where 85 °C would never come before the servers fail.
    temperatureHighCelsius: 85,
    temperatureHighCelsiusBySensor: { inlet: 40 },
    // No successful hardware health poll (every minute by default) / maintenance poll (every 5 minutes) for
    // this long. Maintenance is announced days ahead, so an hour of it missing costs nothing yet.
    hardwareHealthStaleSeconds: 900,
    maintenanceStaleSeconds: 3600,

    // The Grafana dashboard.
    dashboardUID: 'zenlayer-fleet',
    dashboardTags: ['zenlayer', 'zenlayer-exporter'],
  },
}

// The recording rules and alerts. An alert's annotations are a function of a "voice": `templates` gives the
// Go templates Prometheus renders, and the unit tests (tests.libsonnet) pass a voice that says the same
// sentences with a test's values, so the expected annotations are the real text, not a copy of it.
local duration = import 'lib/duration.libsonnet';
local hardware = import 'lib/hardware.libsonnet';
local products = import 'lib/products.libsonnet';
local statuses = import 'lib/statuses.libsonnet';

{
  local c = $._config,
  local by = std.join(', ', ['job', 'instance'] + c.groupLabels),
  local byInstance = by + ', instance_id',
  local sel(extra='') = '{' + std.join(',', [s for s in [c.selector, extra] if s != '']) + '}',
  // `body` run on the latest sample within the hour of `metric` whose `labels` are the alert's (nothing when
  // there is none): a lookup when the alert is evaluated, rather than a join into its labels.
  local lookup(metric, labels, body) =
    local matchers = std.join(',', ['%s=%%q' % l for l in labels]);
    local args = std.join(' ', ['$labels.' + l for l in labels]);
    '{{ with printf "last_over_time(%s{%s}[1h])" %s | query }}{{ with first . }}%s{{ end }}{{ end }}' % [metric, matchers, args, body],
  local instanceLabels = ['job', 'instance'] + c.groupLabels + ['instance_id'],
  local infoLookup =
    // The instance's name and zone, looked up rather than joined: an alert keeps its identity (and its `for:`
    // clock) when metadata arrives, changes or is switched off.
    '{{ $name := $labels.instance_id }}{{ $where := "" }}'
    + lookup('zenlayer_instance_info', instanceLabels, '{{ with .Labels.instance_name }}{{ $name = . }}{{ end }}{{ with .Labels.zone_id }}{{ $where = printf " in %s" . }}{{ end }}'),
  local maintenanceLookup =
    // A maintenance window's start and end (in UTC, to the minute), location and impact (the API's text).
    local window = instanceLabels + ['status'];
    local time(variable) = '{{ $%s = (toTime .Value).UTC.Format "2006-01-02 15:04 UTC" }}' % variable;
    '{{ $start := "unknown" }}{{ $end := "unknown" }}{{ $location := "" }}{{ $impact := "" }}'
    + lookup('zenlayer_maintenance_start_timestamp_seconds', window, time('start'))
    + lookup('zenlayer_maintenance_end_timestamp_seconds', window, time('end'))
    + lookup('zenlayer_maintenance_info', window, '{{ $location = .Labels.location }}{{ $impact = .Labels.impact }}'),

  // The shard alerts count accounts over the replicas of a job: by job and the labels every replica shares.
  local shardBy = std.join(', ', ['job'] + c.shardLabels),
  local shardByAccount = shardBy + ', account',
  // The replicas that own accounts of the alert's job (and account, when the alert has one), as "instance (shard
  // N of M)", looked up when the alert is evaluated.
  local ownersLookup(labels) =
    local matchers = std.join(',', ['%s=%%q' % l for l in labels]);
    local args = std.join(' ', ['$labels.' + l for l in labels]);
    '{{ range $i, $s := printf "count by (instance, shard, total_shards) (zenlayer_exporter_account_owned{%s})" %s | query | sortByLabel "instance" }}{{ if $i }}, {{ end }}{{ $s.Labels.instance }} (shard {{ $s.Labels.shard }} of {{ $s.Labels.total_shards }}){{ else }}none{{ end }}' % [matchers, args],

  // What the annotations say, as Prometheus' templates.
  templates:: {
    name: '{{ $name }}',
    where: '{{ $where }}',
    label(l): '{{ $labels.%s }}' % l,
    value(format=''): if format == '' then '{{ $value }}' else '{{ $value | %s }}' % format,
    // `text` (with `%s` for the account) when the series has an account, else nothing.
    account(text): '{{ with $labels.account }}' + (text % '{{ . }}') + '{{ end }}',
    // `text` (with `%s` for the product) when the series has a product (vm, zec, bmc), else nothing.
    product(text): '{{ with $labels.product }}' + (text % '{{ . }}') + '{{ end }}',
    instanceLookup: infoLookup,
    // A maintenance window's start and end, "2026-03-01 02:00 UTC" ("unknown" when not served).
    start: '{{ $start }}',
    end: '{{ $end }}',
    // `text` (with `%s` for the window's location or impact, as the API words it) when it has one, else nothing.
    location(text): '{{ with $location }}' + (text % '{{ . }}') + '{{ end }}',
    impact(text): '{{ with $impact }}' + (text % '{{ . }}') + '{{ end }}',
    // `cases[v]` where the label `l` is v, else `otherwise`.
    choose(l, cases, otherwise):
      if cases == {} then otherwise
      else '{{ ' + std.join('{{ else ', [
        'if eq $labels.%s %s }}%s' % [l, std.escapeStringJson(k), cases[k]]
        for k in std.objectFields(cases)
      ]) + '{{ else }}%s{{ end }}' % otherwise,
    // The replicas owning accounts whose series match the alert's `labels`: "a:9612 (shard 0 of 2), ...".
    owners(labels): ownersLookup(labels),
  },

  // The instances an operator parked, to leave out of an expression per instance: `expr + parked`.
  local parked = '\nunless on (%s)\n  last_over_time(zenlayer_instance_info%s[1h])\n' % [byInstance, sel(c.excludeSelector)],
  // The instance alerts read the carried-forward status, less the parked instances.
  local lastKnown(status) =
    local known = 'zenlayer:instance_status:last_known%s' % sel(status);
    if c.excludeSelector == '' then known else known + parked,
  // Any other expression per instance, less the parked instances.
  local unlessParked(expr) =
    if c.excludeSelector == '' then expr
    else '(\n%s\n)%s' % [std.join('\n', ['  ' + l for l in std.split(std.rstripChars(expr, '\n'), '\n')]), parked],

  // An alert over series that carry `product` (the instance families, an account's own poll and API metrics):
  // it fires per product and names it.
  local perProduct = { perProduct:: true },
  local instanceAlert(alert) = alert {
    instance:: true,
  } + perProduct,
  // A bare-metal server's hardware or maintenance alert: an instance alert over the live series, less the
  // parked servers, kept firing for keepFiringFor once its condition is gone (config.libsonnet says why).
  local serverAlert(alert) = instanceAlert(alert {
    expr: unlessParked(super.expr),
    keep_firing_for: c.keepFiringFor,
  }),
  // ... naming its window's times, location and impact too.
  local maintenanceAlert(alert) = serverAlert(alert) { maintenance:: true },
  // A window the API says is in progress: `in progress` is the documented spelling; other casings and an
  // underscore or hyphen are the same words.
  local inProgress = '(?i)in[ _-]?progress',
  // Each sensor over its threshold: its own, or the common one.
  local temperatureHigh =
    local metric = 'zenlayer_instance_temperature_celsius';
    local own = c.temperatureHighCelsiusBySensor;
    local unknown = [s for s in std.objectFields(own) if !std.member(hardware.sensors, s)];
    assert unknown == [] : 'temperatureHighCelsiusBySensor: no sensor %s (there are %s)' % [unknown, hardware.sensors];
    std.join('\nor ', [
      '%s%s > %s' % [metric, sel(if own == {} then '' else 'sensor!~"%s"' % std.join('|', std.objectFields(own))), c.temperatureHighCelsius],
    ] + [
      '%s%s > %s' % [metric, sel('sensor="%s"' % s), own[s]]
      for s in std.objectFields(own)
    ]) + '\n',
  // No successful poll of `polls` (products.libsonnet) for `seconds`, never-succeeded included: a key that may
  // not call the action is the first thing this finds.
  local pollStale(alert, what, polls, seconds, forDuration, description) = {
    alert: alert,
    perProduct:: true,
    expr: std.join('\nor\n', [
      'time() - zenlayer_exporter_last_poll_success_timestamp_seconds%s > %d' % [sel(products.selector(poll)), seconds]
      for poll in polls
    ]),
    'for': forDuration,
    labels: { severity: 'warning' },
    annotations(v):: {
      summary: 'zenlayer-exporter %s has had no successful %s%s poll for over %d minutes%s' % [v.label('instance'), v.product('%s '), what, seconds / 60, v.account(' (account %s)')],
      description: description(v),
    },
  },

  alertList:: [
    instanceAlert({
      alert: 'ZenlayerInstanceStopped',
      expr: lastKnown('status="STOPPED"'),
      'for': c.stoppedFor,
      labels: { severity: 'critical' },
      annotations(v):: {
        summary: 'Zenlayer %sinstance %s%s%s is STOPPED' % [v.product('%s '), v.name, v.where, v.account(' (account %s)')],
        description: 'Instance %s%s (id %s%s) has been STOPPED for more than %s, as last seen by the exporter %s. If a ZenlayerExporter* or ZenlayerPollsFailing alert is firing too, this is the last status the exporter saw before it went blind.' % [v.name, v.where, v.label('instance_id'), v.account(', account %s'), c.stoppedFor, v.label('instance')],
      },
    }),
    instanceAlert({
      alert: 'ZenlayerInstanceStuckInTransition',
      expr: lastKnown('status=~"%s"' % std.join('|', statuses.transitional)),
      'for': c.stuckFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'Zenlayer %sinstance %s%s%s is stuck in %s' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.label('status')],
        description: 'Instance %s%s (id %s%s) has been %s for more than %s; these transitions normally take a few minutes.' % [v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.label('status'), c.stuckFor],
      },
    }),
    instanceAlert({
      // Every product's failure states (VM CREATE_FAILED; ZEC also REINSTALL_FAILED; bare metal also
      // INSTALL_FAILED), from the vocabulary.
      alert: 'ZenlayerInstanceFailed',
      expr: lastKnown('status=~"%s"' % std.join('|', statuses.failed)),
      'for': c.failedFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'Zenlayer %sinstance %s%s%s is %s' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.label('status')],
        description: 'Instance %s%s (id %s%s) is %s: creating it or installing its system failed. It will not recover by itself; reinstall or release it (it may still be billed until released).' % [v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.label('status')],
      },
    }),
    instanceAlert({
      alert: 'ZenlayerPrepaidInstanceExpiring',
      expr: |||
        zenlayer_instance_expiry_timestamp_seconds%s - time() < %d * 86400
        and on (%s) (zenlayer_instance_auto_renew%s == 0)
      ||| % [sel(), c.expiringWithinDays, byInstance, sel()],
      'for': c.expiringFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'Prepaid Zenlayer %sinstance %s%s%s expires in %s without auto-renewal' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.value('humanizeDuration')],
        description: 'Instance %s%s (id %s%s) is prepaid, does not renew automatically, and expires in %s. Renew it or turn auto-renewal on, or it will be stopped and released.' % [v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.value('humanizeDuration')],
      },
    }),
    serverAlert({
      // A documented alarm (WARNING; CRITICAL for ipmi_ping) or a value the API added; not UNKNOWN, which is
      // "not collected", nor the zeros of a state set.
      alert: 'ZenlayerHardwareUnhealthy',
      expr: 'zenlayer_instance_component_health%s == 1' % sel('health!~"%s"' % std.join('|', hardware.quiet)),
      'for': c.hardwareUnhealthyFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'Zenlayer %sserver %s%s%s reports %s %s' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.label('component'), v.label('health')],
        description: "Zenlayer's hardware monitoring has reported the %s of server %s%s (id %s%s) as %s for more than %s. Open a ticket with Zenlayer support quoting the server id and the component; if the part is not redundant, move the server's work off it first." % [v.label('component'), v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.label('health'), c.hardwareUnhealthyFor],
      },
    }),
    serverAlert({
      alert: 'ZenlayerTemperatureHigh',
      expr: temperatureHigh,
      'for': c.temperatureHighFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'Zenlayer %sserver %s%s%s: %s temperature %s °C' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.label('sensor'), v.value()],
        description: 'The %s sensor of server %s%s (id %s%s) has read over %s °C for more than %s (%s °C now). A fan alarm beside it (ZenlayerHardwareUnhealthy) is the cause to report; a hot inlet is the room: ask Zenlayer support. Otherwise look at what loads the server.' % [v.label('sensor'), v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.choose('sensor', c.temperatureHighCelsiusBySensor, c.temperatureHighCelsius), c.temperatureHighFor, v.value()],
      },
    }),
    maintenanceAlert({
      // A window not yet in progress that starts within the lead time; the value is the time left.
      alert: 'ZenlayerMaintenanceUpcoming',
      expr: 'zenlayer_maintenance_start_timestamp_seconds%s - time() > 0 <= %d' % [sel('status!~"%s"' % inProgress), duration(c.maintenanceLeadTime)],
      'for': c.maintenanceUpcomingFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'Planned maintenance of Zenlayer %sserver %s%s%s starts %s (in %s)' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.start, v.value('humanizeDuration')],
        description: 'Zenlayer plans maintenance of server %s%s (id %s%s) from %s to %s (status %s%s), within the next %s. Move its work elsewhere or plan around the window before it starts.%s' % [v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.start, v.end, v.label('status'), v.location('; location %s'), c.maintenanceLeadTime, v.impact(' Impact: %s')],
      },
    }),
    maintenanceAlert({
      // A window the server is in: window="current" from its start (or from when the API says it is in
      // progress, if earlier) to its end; window="overrun" past its end while the API still says it is in
      // progress, for maintenanceOverrunGrace at most (config.libsonnet says why). Alertmanager holds back the
      // server's STOPPED page for a current window alone.
      alert: 'ZenlayerMaintenanceInProgress',
      expr: |||
        label_replace(
          (
            zenlayer_maintenance_start_timestamp_seconds%(sel)s <= time()
            or zenlayer_maintenance_start_timestamp_seconds%(inProgress)s
          )
          unless on (%(key)s, status) zenlayer_maintenance_end_timestamp_seconds%(sel)s <= time(),
          "window", "current", "", ""
        )
        or
        label_replace(
          zenlayer_maintenance_start_timestamp_seconds%(inProgress)s
          and on (%(key)s, status) (time() - zenlayer_maintenance_end_timestamp_seconds%(sel)s >= 0 < %(grace)d),
          "window", "overrun", "", ""
        )
      ||| % { sel: sel(), key: byInstance, inProgress: sel('status=~"%s"' % inProgress), grace: duration(c.maintenanceOverrunGrace) },
      'for': c.maintenanceInProgressFor,
      labels: { severity: 'info' },
      annotations(v):: {
        summary: v.choose('window', {
          overrun: 'Zenlayer %sserver %s%s%s is still in planned maintenance, past its end at %s' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.end],
        }, 'Zenlayer %sserver %s%s%s is in planned maintenance until %s' % [v.product('%s '), v.name, v.where, v.account(' (account %s)'), v.end]),
        description: v.choose('window', {
          overrun: "Zenlayer's planned maintenance of server %s%s (id %s%s) was to run from %s to %s, but Zenlayer still gives its status as %s%s. Its STOPPED alert is no longer held back; its stuck, hardware and temperature alerts stay held back while this fires, %s past the end at most. Ask Zenlayer support, quoting the server id and the window, when it ends; if ZenlayerMaintenanceStale fires too, the status is old rather than the window late.%s" % [v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.start, v.end, v.label('status'), v.location(' (location %s)'), c.maintenanceOverrunGrace, v.impact(' Impact: %s')],
        }, "Zenlayer's planned maintenance of server %s%s (id %s%s) runs from %s to %s (status %s%s): expect the server down or degraded until it ends. If it is not back after, its STOPPED alert says so (its hardware alerts too, unless Zenlayer still says the window is in progress).%s" % [v.name, v.where, v.label('instance_id'), v.account(', account %s'), v.start, v.end, v.label('status'), v.location('; location %s'), v.impact(' Impact: %s')]),
      },
    }),
    {
      alert: 'ZenlayerRunningInstancesDropped',
      perProduct:: true,
      expr: |||
        (
          max_over_time(zenlayer:instances_running:sum%(sel)s[10m]) - zenlayer:instances_running:sum%(sel)s
        )
        >= clamp_min(%(share)s * max_over_time(zenlayer:instances_running:sum%(sel)s[10m]), %(least)d)
      ||| % { sel: sel(), share: c.droppedShare, least: c.droppedAtLeast },
      'for': c.droppedFor,
      labels: { severity: 'critical' },
      annotations(v):: {
        summary: '%s fewer Zenlayer %sinstances RUNNING than in the last 10 minutes%s' % [v.value(), v.product('%s '), v.account(' in account %s')],
        description: 'The number of RUNNING instances seen by %s dropped by %s (at least %d%% of the fleet, and at least %d) within 10 minutes: a fleet-wide event, not one instance.' % [v.label('instance'), v.value(), c.droppedShare * 100, c.droppedAtLeast],
      },
    },
    {
      alert: 'ZenlayerExporterDown',
      expr: 'up%s == 0' % sel(),
      'for': c.exporterDownFor,
      labels: { severity: 'critical' },
      annotations(v):: {
        summary: 'zenlayer-exporter %s cannot be scraped' % v.label('instance'),
        description: 'Prometheus has failed to scrape %s for %s. Instance alerts keep their last known state meanwhile; nothing new about the fleet is known.' % [v.label('instance'), c.exporterDownFor],
      },
    },
    {
      alert: 'ZenlayerExporterAbsent',
      expr: 'absent(up%s)' % sel(),
      'for': c.exporterAbsentFor,
      labels: { severity: 'critical' },
      annotations(v):: {
        summary: 'No zenlayer-exporter target is being scraped',
        description: 'Prometheus has no target matching %s: the scrape configuration or service discovery lost it.' % c.selector,
      },
    },
    {
      alert: 'ZenlayerPollsFailing',
      perProduct:: true,
      expr: 'zenlayer_up%s == 0' % sel(),
      'for': c.pollsFailingFor,
      labels: { severity: 'critical' },
      annotations(v):: {
        summary: 'zenlayer-exporter %s cannot read the Zenlayer %sAPI%s' % [v.label('instance'), v.product('%s '), v.account(' for account %s')],
        description: 'Every poll of the Zenlayer API has failed for %s; the exporter serves its last good snapshot. zenlayer_exporter_poll_failures_total (of the status action of the product: DescribeInstancesStatus, or DescribeInstances for bare metal) says why (auth, throttled, server_error, timeout, ...); a product the account may not read is auth: leave it out of ZENLAYER_EXPORTER_PRODUCTS or from the products of the account.' % c.pollsFailingFor,
      },
    },
    {
      alert: 'ZenlayerDataStale',
      perProduct:: true,
      // Each product's own status poll (bare metal's is DescribeInstances), from the declarations.
      expr: std.join('or\n', [
        |||
          (
            time() - zenlayer_exporter_last_poll_success_timestamp_seconds%(sel)s > %(seconds)d
            and zenlayer_exporter_last_poll_success_timestamp_seconds%(sel)s > 0
          )
        ||| % { sel: sel(products.selector(poll)), seconds: c.dataStaleSeconds }
        for poll in products.statusPolls
      ]),
      'for': c.dataStaleFor,
      labels: { severity: 'critical' },
      annotations(v):: {
        summary: 'zenlayer-exporter %s has had no successful %spoll for over %d minutes%s' % [v.label('instance'), v.product('%s '), c.dataStaleSeconds / 60, v.account(' (account %s)')],
        description: 'The data served by %s is %s old: polls fail or hang.' % [v.label('instance'), v.value('humanizeDuration')],
      },
    },
    // The products whose metadata has a poll of its own: bare metal's comes with its statuses.
    pollStale('ZenlayerMetadataStale', 'metadata', products.metadataPolls, c.metadataStaleSeconds, c.metadataStaleFor, function(v)
      'DescribeInstances polls from %s fail (or never succeeded): statuses are current, but names, zones, tags and expiry dates are %s old, and instances created meanwhile have no names. zenlayer_exporter_poll_failures_total{action="DescribeInstances"} says why.' % [v.label('instance'), v.value('humanizeDuration')]),
    // Neither is in zenlayer_up, which is the status poll's: the status alerts are right while these fail.
    pollStale('ZenlayerHardwareHealthStale', 'hardware health', products.healthPolls, c.hardwareHealthStaleSeconds, c.hardwareHealthStaleFor, function(v)
      'Polls of %s from %s fail (or never succeeded): the hardware health and temperatures served, if any, are %s old, so ZenlayerHardwareUnhealthy and ZenlayerTemperatureHigh judge an old state and servers added meanwhile are not watched. zenlayer_exporter_poll_failures_total{action="%s"} says why.' % [v.label('action'), v.label('instance'), v.value('humanizeDuration'), v.label('action')]),
    pollStale('ZenlayerMaintenanceStale', 'maintenance', products.maintenancePolls, c.maintenanceStaleSeconds, c.maintenanceStaleFor, function(v)
      'Polls of %s from %s fail (or never succeeded): the planned maintenance served, if any, is %s old, so a window announced meanwhile does not warn. zenlayer_exporter_poll_failures_total{action="%s"} says why (auth: the key may not read the maintenance service).' % [v.label('action'), v.label('instance'), v.value('humanizeDuration'), v.label('action')]),
    {
      alert: 'ZenlayerApiThrottled',
      perProduct:: true,
      expr: |||
        sum by (%(by)s) (rate(zenlayer_exporter_api_request_failures_total%(throttled)s[15m]))
        /
        sum by (%(by)s) (rate(zenlayer_exporter_api_requests_total%(sel)s[15m]))
        > %(share)s
      ||| % { by: by, throttled: sel('reason="throttled"'), sel: sel(), share: c.throttledShare },
      'for': c.throttledFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: "The Zenlayer %sAPI throttles %s of the exporter's calls%s" % [v.product('%s '), v.value('humanizePercentage'), v.account(' for account %s')],
        description: 'More than %d%% of API calls from %s have been throttled for %s. Polls may start failing; lengthen the poll interval or lower the page concurrency.' % [c.throttledShare * 100, v.label('instance'), c.throttledFor],
      },
    },
    {
      alert: 'ZenlayerAccountsFileReloadFailed',
      expr: 'zenlayer_exporter_config_last_reload_successful%s == 0' % sel(),
      'for': c.accountsReloadFailedFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'zenlayer-exporter %s has not applied its accounts file' % v.label('instance'),
        description: 'The accounts file of %s (or a secret file it names) has not loaded, or its reload was refused, for %s: the accounts in use before keep polling, but the last change to the file (an account added or removed, new credentials) is not in effect. The log line "accounts file not reloaded" says why.' % [v.label('instance'), c.accountsReloadFailedFor],
      },
    },
    {
      alert: 'ZenlayerWebConfigReloadFailed',
      expr: 'zenlayer_exporter_web_config_last_reload_successful%s == 0' % sel(),
      'for': c.webConfigReloadFailedFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'zenlayer-exporter %s has not applied its web configuration' % v.label('instance'),
        description: 'The web configuration file of %s (TLS, client certificates, basic authentication) or a file it names has not loaded, or would lower protection, for %s: the configuration in use before stays, so a renewed certificate or a changed user is not in effect. The log line "web configuration not reloaded" says why.' % [v.label('instance'), c.webConfigReloadFailedFor],
      },
    },
    {
      // Accounts of the file that no replica polls: the file's count (every shard reports the whole file's)
      // less the distinct accounts owned over the replicas, 0 when none owns any.
      alert: 'ZenlayerAccountUnowned',
      expr: |||
        max by (%(by)s) (zenlayer_exporter_accounts_file_accounts%(sel)s)
        - (
          count by (%(by)s) (count by (%(byAccount)s) (zenlayer_exporter_account_owned%(sel)s))
          or
          0 * max by (%(by)s) (zenlayer_exporter_accounts_file_accounts%(sel)s)
        )
        > 0
      ||| % { by: shardBy, byAccount: shardByAccount, sel: sel() },
      'for': c.accountUnownedFor,
      labels: { severity: 'critical' },
      annotations(v):: {
        summary: 'Zenlayer accounts polled by no shard of %s: %s' % [v.label('job'), v.value()],
        description: '%s of the accounts in the accounts file of job %s are polled by no replica: nothing about their instances is known, and none of their alerts (STOPPED, polls failing, data stale) can fire. The replicas that own accounts: %s. A shard is missing (a replica down or never started), or the replicas disagree on ZENLAYER_EXPORTER_TOTAL_SHARDS or ZENLAYER_EXPORTER_SHARD.' % [v.value(), v.label('job'), v.owners(['job'] + c.shardLabels)],
      },
    },
    {
      alert: 'ZenlayerAccountOwnedTwice',
      expr: 'count by (%s) (zenlayer_exporter_account_owned%s) > 1' % [shardByAccount, sel()],
      'for': c.accountOwnedTwiceFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'Zenlayer account %s is polled by %s shards of %s' % [v.label('account'), v.value(), v.label('job')],
        description: 'Account %s is polled by %s replicas of job %s: %s. Each of them calls the API for it (against the same rate limit) and exports its series, so its instance series and alerts are duplicated. Two replicas have the same ZENLAYER_EXPORTER_SHARD, or they disagree on ZENLAYER_EXPORTER_TOTAL_SHARDS.' % [v.label('account'), v.value(), v.label('job'), v.owners(['job'] + c.shardLabels + ['account'])],
      },
    },
    {
      alert: 'ZenlayerShardsDisagree',
      expr: 'count by (%s) (count by (%s, total_shards) (zenlayer_exporter_account_owned%s)) > 1' % [shardBy, shardBy, sel()],
      'for': c.shardsDisagreeFor,
      labels: { severity: 'warning' },
      annotations(v):: {
        summary: 'The shards of %s disagree on ZENLAYER_EXPORTER_TOTAL_SHARDS' % v.label('job'),
        description: 'The replicas of job %s split the accounts file over %s different numbers of shards: %s. Accounts are then polled twice or by nobody, now or when the file changes. Give every replica the same ZENLAYER_EXPORTER_TOTAL_SHARDS.' % [v.label('job'), v.value(), v.owners(['job'] + c.shardLabels)],
      },
    },
  ],

  // An alert as Prometheus loads it: the annotations in templates, the instance ones after the name lookup.
  local rendered(alert) = {
    [k]: alert[k]
    for k in std.objectFields(alert)
  } + {
    annotations: {
      local prelude = (if std.objectHasAll(alert, 'instance') then infoLookup else '')
                      + (if std.objectHasAll(alert, 'maintenance') then maintenanceLookup else ''),
      [k]: prelude + alert.annotations($.templates)[k]
      for k in std.objectFields(alert.annotations($.templates))
    } + { runbook_url: c.runbookURL % std.asciiLower(alert.alert) },
  },

  prometheusRules+:: {
    groups+: [{
      name: 'zenlayer-exporter.rules',
      rules: [
        {
          // When each instance was last seen in each status. While the exporter is healthy (zenlayer_up == 1)
          // this is the live data only, so instances that vanish or change status drop out at once. While it is
          // blind (target down, or restarted and not yet polled), the rule carries its own previous values
          // forward. That assumes a rule evaluation interval of one minute or less.
          record: 'zenlayer:instance_status:last_seen_timestamp',
          expr: |||
            max by (%(key)s, status) (timestamp(zenlayer_instance_status%(sel)s == 1))
            or
            (
              last_over_time(zenlayer:instance_status:last_seen_timestamp%(sel)s[2m])
              unless on (%(by)s) (zenlayer_up%(sel)s == 1)
            )
          ||| % { key: byInstance, by: by, sel: sel() },
        },
        {
          // Each instance's most recently seen status: live while the exporter is healthy, last known while blind.
          record: 'zenlayer:instance_status:last_known',
          expr: |||
            zenlayer:instance_status:last_seen_timestamp%(sel)s
            == on (%(key)s) group_left ()
            max by (%(key)s) (zenlayer:instance_status:last_seen_timestamp%(sel)s)
          ||| % { key: byInstance, sel: sel() },
        },
        {
          // When each instance entered its most recent status, as far as Prometheus saw it (a lower bound for
          // statuses older than these rules). Feeds the dashboard's "In status for" column.
          record: 'zenlayer:instance_status:first_seen_timestamp',
          expr: |||
            (
              last_over_time(zenlayer:instance_status:first_seen_timestamp%(sel)s[2m])
              and on (%(key)s, status) zenlayer:instance_status:last_known%(sel)s
            )
            or
            (0 * zenlayer:instance_status:last_known%(sel)s + time())
          ||| % { key: byInstance, sel: sel() },
        },
        {
          record: 'zenlayer:instances_running:sum',
          expr: 'sum by (%s) (zenlayer_instances%s)' % [by, sel('status="RUNNING"')],
        },
      ],
    }],
  },

  prometheusAlerts+:: {
    groups+: [{
      name: 'zenlayer-exporter.alerts',
      rules: [rendered(a) for a in $.alertList],
    }],
  },
}
